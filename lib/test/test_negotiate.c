// SPDX-License-Identifier: BSD-3-Clause
/*
 * VERSION negotiation against a scripted server: what we offer, what we
 * accept, and every way a server's answer can be wrong.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>
#include "kselftest_harness.h"
#include "test_common.h"

/* What the server answers VERSION with, set per test. */
struct version_script {
	uint16_t major, minor;
	const char *json;		/* NULL: no JSON */
	const void *raw;		/* payload as is, instead of the above */
	size_t raw_len;
	unsigned int nr_fds;		/* socket fds to attach */
	uint32_t error_no;		/* error reply with this errno */
	uint32_t reply_flags;		/* 0: a normal reply */
	int16_t id_delta;		/* added to the msg_id */
	uint16_t cmd;			/* 0: echo the command */
};

static int scripted_version(struct fsrv *s, struct vu_msg *m)
{
	const struct version_script *v = s->priv;
	int fds[4] = { -1, -1, -1, -1 }, sv[2];
	struct vfio_user_version *ver;
	unsigned int i;
	size_t len;
	int ret;

	for (i = 0; i < v->nr_fds && i < 4; i += 2) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return FSRV_STOP;
		fds[i] = sv[0];
		fds[i + 1] = sv[1];
	}
	if (v->raw) {
		ver = malloc(v->raw_len);
		memcpy(ver, v->raw, v->raw_len);
		len = v->raw_len;
	} else {
		len = sizeof(*ver) + (v->json ? strlen(v->json) + 1 : 0);
		ver = calloc(1, len);
		ver->major = v->major;
		ver->minor = v->minor;
		if (v->json)
			strcpy(ver->data, v->json);
	}
	if (v->error_no)
		ret = fsrv_reply_error(s, m, v->error_no, ver, len);
	else
		ret = fsrv_send(s, m->hdr.msg_id + v->id_delta,
				v->cmd ? v->cmd : m->hdr.cmd,
				v->reply_flags ? v->reply_flags :
				VFIO_USER_F_TYPE_REPLY, 0, ver, len, fds,
				v->nr_fds);
	free(ver);
	for (i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

FIXTURE(neg) {
	struct fsrv *s;
	struct vuc_device *dev;
	struct vuc_options opts;
	struct version_script v;
	int fds_before;
};

FIXTURE_SETUP(neg)
{
	self->fds_before = count_open_fds();
	self->s = fsrv_new();
	ASSERT_NE(NULL, self->s);
	self->opts.timeout_ms = 1000;
	self->v.minor = 2;
}

FIXTURE_TEARDOWN(neg)
{
	CHECK_CLEAN(self);
}

/* Connect with VERSION answered by self->v. */
static int connect_scripted(FIXTURE_DATA(neg) *self)
{
	self->s->priv = &self->v;
	self->s->handler[VFIO_USER_VERSION] = scripted_version;
	return fsrv_connect(self->s, &self->opts, &self->dev);
}

/* The offer: minor 2, json-c-parsable, every capability the issue lists. */
TEST_F(neg, offer)
{
	json_object *root, *caps, *val, *twin, *mig;
	long page = sysconf(_SC_PAGESIZE);

	ASSERT_EQ(0, fsrv_connect(self->s, &self->opts, &self->dev))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(0, self->s->client_major);
	EXPECT_EQ(2, self->s->client_minor);
	root = json_tokener_parse(self->s->client_json);
	ASSERT_NE(NULL, root);
	ASSERT_TRUE(json_object_object_get_ex(root, "capabilities", &caps));
	ASSERT_TRUE(json_object_object_get_ex(caps, "max_msg_fds", &val));
	EXPECT_EQ(VU_WIRE_MAX_FDS, json_object_get_int64(val));
	ASSERT_TRUE(json_object_object_get_ex(caps, "max_data_xfer_size", &val));
	EXPECT_EQ(1048576, json_object_get_int64(val));
	ASSERT_TRUE(json_object_object_get_ex(caps, "max_dma_maps", &val));
	EXPECT_LE(1, json_object_get_int64(val));
	ASSERT_TRUE(json_object_object_get_ex(caps, "pgsizes", &val));
	EXPECT_EQ(4096 | page, json_object_get_int64(val));
	ASSERT_TRUE(json_object_object_get_ex(caps, "twin_socket", &twin));
	ASSERT_TRUE(json_object_object_get_ex(twin, "supported", &val));
	EXPECT_TRUE(json_object_get_boolean(val));
	ASSERT_TRUE(json_object_object_get_ex(caps, "migration", &mig));
	ASSERT_TRUE(json_object_object_get_ex(mig, "pgsize", &val));
	EXPECT_EQ(page, json_object_get_int64(val));
	EXPECT_FALSE(json_object_object_get_ex(caps, "write_multiple", &val));
	json_object_put(root);
}

TEST_F(neg, offer_honours_options)
{
	json_object *root, *caps, *val;

	self->opts.flags = VUC_OPT_NO_TWIN_SOCKET;
	self->opts.max_data_xfer_size = 8192;
	ASSERT_EQ(0, fsrv_connect(self->s, &self->opts, &self->dev));
	root = json_tokener_parse(self->s->client_json);
	ASSERT_NE(NULL, root);
	ASSERT_TRUE(json_object_object_get_ex(root, "capabilities", &caps));
	EXPECT_FALSE(json_object_object_get_ex(caps, "twin_socket", &val));
	ASSERT_TRUE(json_object_object_get_ex(caps, "max_data_xfer_size", &val));
	EXPECT_EQ(8192, json_object_get_int64(val));
	json_object_put(root);
	EXPECT_FALSE(vuc_get_caps(self->dev)->twin_socket);
	EXPECT_EQ(-1, vuc_twin_socket_fd(self->dev));
}

/* JSON is optional: without it every capability has the spec's default. */
TEST_F(neg, defaults_without_json)
{
	const struct vuc_caps *c;

	ASSERT_EQ(0, connect_scripted(self)) TH_LOG("%s", vuc_strerror(self->dev));
	c = vuc_get_caps(self->dev);
	ASSERT_NE(NULL, c);
	EXPECT_EQ(0, c->major);
	EXPECT_EQ(2, c->minor);
	EXPECT_EQ(1, c->max_msg_fds);
	EXPECT_EQ(1048576, c->max_data_xfer_size);
	EXPECT_EQ(65535, c->max_dma_maps);
	EXPECT_EQ(4096, c->pgsizes);
	EXPECT_EQ(0, c->migration_pgsize);
	EXPECT_FALSE(c->twin_socket);
	EXPECT_FALSE(c->write_multiple);
	EXPECT_EQ(-1, vuc_twin_socket_fd(self->dev));
	EXPECT_LE(0, vuc_socket_fd(self->dev));
}

TEST_F(neg, empty_capabilities)
{
	self->v.json = "{}";
	ASSERT_EQ(0, connect_scripted(self)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(1, vuc_get_caps(self->dev)->max_msg_fds);
}

TEST_F(neg, trailing_whitespace)
{
	self->v.json = " {\"capabilities\":{\"max_msg_fds\":3}}\n ";
	ASSERT_EQ(0, connect_scripted(self)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(3, vuc_get_caps(self->dev)->max_msg_fds);
}

TEST_F(neg, values_parsed)
{
	const struct vuc_caps *c;

	self->v.minor = 1;
	self->v.json = "{\"capabilities\":{\"max_msg_fds\":16,"
		"\"max_data_xfer_size\":4096,\"max_dma_maps\":10,"
		"\"pgsizes\":2101248,\"write_multiple\":true,"
		"\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1024},"
		"\"twin_socket\":{\"supported\":false},"
		"\"future_key\":[1,{\"x\":null}]},\"other\":\"ignored\"}";
	ASSERT_EQ(0, connect_scripted(self)) TH_LOG("%s", vuc_strerror(self->dev));
	c = vuc_get_caps(self->dev);
	EXPECT_EQ(1, c->minor);
	EXPECT_EQ(16, c->max_msg_fds);
	EXPECT_EQ(4096, c->max_data_xfer_size);
	EXPECT_EQ(10, c->max_dma_maps);
	EXPECT_EQ(0x201000, c->pgsizes);
	EXPECT_EQ(4096, c->migration_pgsize);
	EXPECT_TRUE(c->write_multiple);
	EXPECT_FALSE(c->twin_socket);
}

TEST_F(neg, limits_clamped)
{
	self->v.json = "{\"capabilities\":{\"max_data_xfer_size\":67108864,"
		"\"max_dma_maps\":99999999999,\"pgsizes\":18446744073709547520}}";
	ASSERT_EQ(0, connect_scripted(self)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(1048576, vuc_get_caps(self->dev)->max_data_xfer_size);
	EXPECT_EQ(UINT32_MAX, vuc_get_caps(self->dev)->max_dma_maps);
	EXPECT_EQ(0xfffffffffffff000ULL, vuc_get_caps(self->dev)->pgsizes);
}

/* The server hands us a working second socket. */
TEST_F(neg, twin_socket_accepted)
{
	char buf[8] = { 0 };
	int twin;

	self->s->give_twin = true;
	ASSERT_EQ(0, fsrv_connect(self->s, &self->opts, &self->dev))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_TRUE(vuc_get_caps(self->dev)->twin_socket);
	twin = vuc_twin_socket_fd(self->dev);
	ASSERT_LE(0, twin);
	EXPECT_NE(twin, vuc_socket_fd(self->dev));
	ASSERT_EQ(4, write(self->s->twin_peer, "ping", 4));
	ASSERT_EQ(4, read(twin, buf, sizeof(buf)));
	EXPECT_STREQ("ping", buf);
	ASSERT_EQ(4, write(twin, "pong", 4));
	ASSERT_EQ(4, read(self->s->twin_peer, buf, sizeof(buf)));
	EXPECT_STREQ("pong", buf);
}

TEST_F(neg, twin_socket_declined_by_option)
{
	self->opts.flags = VUC_OPT_NO_TWIN_SOCKET;
	self->v.json = "{\"capabilities\":{\"max_msg_fds\":8}}";
	ASSERT_EQ(0, connect_scripted(self)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_FALSE(vuc_get_caps(self->dev)->twin_socket);
	EXPECT_EQ(-1, vuc_twin_socket_fd(self->dev));
}

/* Connection refused: report the server's errno. */
TEST_F(neg, error_reply)
{
	self->v.json = "{\"capabilities\":{}}";	/* payload on an error reply */
	self->v.error_no = EPERM;
	EXPECT_EQ(-EPERM, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "server failed VERSION"))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "EPERM"));
	EXPECT_EQ(-1, vuc_socket_fd(self->dev));
	EXPECT_EQ(NULL, vuc_get_caps(self->dev));
}

TEST_F(neg, error_reply_without_errno)
{
	self->v.error_no = 0;
	self->v.reply_flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR;
	EXPECT_EQ(-EIO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "without a valid errno"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, wrong_major)
{
	self->v.major = 1;
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "major 1"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, minor_too_high)
{
	self->v.minor = 3;
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "minor 3"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, payload_too_short)
{
	static const uint8_t raw[2];

	self->v.raw = raw;
	self->v.raw_len = sizeof(raw);
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "at least 4"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, json_without_nul)
{
	static const char raw[] = "\0\0\2\0{}";

	self->v.raw = raw;
	self->v.raw_len = sizeof(raw) - 1;	/* drop the NUL */
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "not NUL-terminated"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, json_with_inner_nul)
{
	static const char raw[] = "\0\0\2\0{}\0{\"a\":1}";

	self->v.raw = raw;
	self->v.raw_len = sizeof(raw);
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "NUL inside"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, reply_with_wrong_cmd)
{
	self->v.cmd = VFIO_USER_DEVICE_GET_INFO;
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "cmd 4 (DEVICE_GET_INFO)"))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(-1, vuc_socket_fd(self->dev));
}

TEST_F(neg, reply_with_wrong_msg_id)
{
	self->v.id_delta = 5;
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "replied with msg_id"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

/* Fds with VERSION belong only to a negotiated twin socket. */
TEST_F(neg, fd_without_twin_offer)
{
	self->opts.flags = VUC_OPT_NO_TWIN_SOCKET;
	self->v.json = "{\"capabilities\":{}}";
	self->v.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev),
			"1 fds with its VERSION reply; it carries none"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, fd_without_twin_accept)
{
	self->v.json = "{\"capabilities\":{}}";
	self->v.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev),
			"no twin socket was negotiated"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, too_many_fds)
{
	self->v.json = "{\"capabilities\":{\"twin_socket\":"
		"{\"supported\":true,\"fd_index\":0}}}";
	self->v.nr_fds = 2;
	EXPECT_EQ(-EPROTO, connect_scripted(self));
	EXPECT_TRUE(has(vuc_strerror(self->dev), "at most 1"))
		TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(neg, bad_options)
{
	struct vuc_options o = { .flags = 1u << 7 };

	errno = 0;
	EXPECT_EQ(NULL, vuc_device_new(&o));
	EXPECT_EQ(EINVAL, errno);
	o.flags = 0;
	o.max_data_xfer_size = 100;
	EXPECT_EQ(NULL, vuc_device_new(&o));
	o.max_data_xfer_size = 2 * 1024 * 1024;
	EXPECT_EQ(NULL, vuc_device_new(&o));
}

/* Capability values the server got wrong, one variant each. */
FIXTURE(badcaps) {
	struct fsrv *s;
	struct vuc_device *dev;
	struct version_script v;
	int fds_before;
};

FIXTURE_VARIANT(badcaps) {
	const char *json;
	unsigned int nr_fds;
	unsigned int opt_flags;
	const char *expect;
};

FIXTURE_SETUP(badcaps)
{
	self->fds_before = count_open_fds();
	self->s = fsrv_new();
	ASSERT_NE(NULL, self->s);
}

FIXTURE_TEARDOWN(badcaps)
{
	CHECK_CLEAN(self);
}

#define BAD(name, j, fds, flags, msg)					\
	FIXTURE_VARIANT_ADD(badcaps, name) {				\
		.json = j, .nr_fds = fds, .opt_flags = flags,		\
		.expect = msg,						\
	}
#define CAPS(x) "{\"capabilities\":{" x "}}"
#define TWIN(x) CAPS("\"twin_socket\":" x)

BAD(bad_json, "{\"capabilities\":", 0, 0, "bad JSON");
BAD(trailing_junk, "{\"capabilities\":{}} x", 0, 0, "bad JSON");
BAD(not_an_object, "[1,2]", 0, 0, "are an array; must be an object");
BAD(caps_not_object, "{\"capabilities\":3}", 0, 0,
    "\"capabilities\" is an integer; must be an object");
BAD(max_msg_fds_string, CAPS("\"max_msg_fds\":\"8\""), 0, 0,
    "\"max_msg_fds\" is a string");
BAD(max_msg_fds_negative, CAPS("\"max_msg_fds\":-3"), 0, 0,
    "server advertised max_msg_fds=-3 in VERSION reply; must be 0..1024");
BAD(max_msg_fds_too_big, CAPS("\"max_msg_fds\":1025"), 0, 0,
    "max_msg_fds=1025");
BAD(max_msg_fds_huge, CAPS("\"max_msg_fds\":99999999999999999999"), 0, 0,
    "max_msg_fds=");
BAD(xfer_double, CAPS("\"max_data_xfer_size\":1.5"), 0, 0,
    "\"max_data_xfer_size\" is a number with a fraction; must be an integer");
BAD(xfer_too_small, CAPS("\"max_data_xfer_size\":100"), 0, 0,
    "max_data_xfer_size=100 in VERSION reply; must be at least 512");
BAD(xfer_negative, CAPS("\"max_data_xfer_size\":-1048576"), 0, 0,
    "max_data_xfer_size=-1048576");
BAD(dma_maps_zero, CAPS("\"max_dma_maps\":0"), 0, 0, "max_dma_maps=0");
BAD(pgsizes_low_bits, CAPS("\"pgsizes\":4097"), 0, 0, "pgsizes=4097");
BAD(pgsizes_zero, CAPS("\"pgsizes\":0"), 0, 0, "pgsizes=0");
BAD(pgsizes_negative, CAPS("\"pgsizes\":-4096"), 0, 0, "pgsizes=-4096");
BAD(pgsizes_bool, CAPS("\"pgsizes\":true"), 0, 0, "\"pgsizes\" is a boolean");
BAD(write_multiple_int, CAPS("\"write_multiple\":1"), 0, 0,
    "\"write_multiple\" is an integer");
BAD(migration_not_object, CAPS("\"migration\":4096"), 0, 0,
    "\"migration\" is an integer");
BAD(migration_pgsize_odd, CAPS("\"migration\":{\"pgsize\":4095}"), 0, 0,
    "migration.pgsize=4095");
BAD(migration_pgsize_string, CAPS("\"migration\":{\"pgsize\":\"4k\"}"), 0, 0,
    "\"migration.pgsize\" is a string");
BAD(twin_not_object, TWIN("true"), 0, 0, "\"twin_socket\" is a boolean");
BAD(twin_supported_string, TWIN("{\"supported\":\"yes\"}"), 0, 0,
    "\"twin_socket.supported\" is a string");
BAD(twin_without_fd_index, TWIN("{\"supported\":true}"), 1, 0,
    "supported=true without fd_index");
BAD(twin_fd_index_string, TWIN("{\"supported\":true,\"fd_index\":\"0\"}"), 1, 0,
    "\"twin_socket.fd_index\" is a string");
BAD(twin_fd_index_out_of_range, TWIN("{\"supported\":true,\"fd_index\":1}"), 1, 0,
    "fd_index=1 with 1 fds");
BAD(twin_fd_index_negative, TWIN("{\"supported\":true,\"fd_index\":-1}"), 1, 0,
    "fd_index=-1 with 1 fds");
BAD(twin_fd_missing, TWIN("{\"supported\":true,\"fd_index\":0}"), 0, 0,
    "fd_index=0 with 0 fds");
BAD(twin_fd_index_alone, TWIN("{\"fd_index\":0}"), 0, 0,
    "fd_index without twin_socket.supported=true");
BAD(twin_not_offered, TWIN("{\"supported\":true,\"fd_index\":0}"), 0,
    VUC_OPT_NO_TWIN_SOCKET, "we did not offer a twin socket");

TEST_F(badcaps, refused)
{
	struct vuc_options o = { .timeout_ms = 1000 };

	o.flags = variant->opt_flags;
	self->v.minor = 2;
	self->v.json = variant->json;
	self->v.nr_fds = variant->nr_fds;
	self->s->priv = &self->v;
	self->s->handler[VFIO_USER_VERSION] = scripted_version;
	EXPECT_EQ(-EPROTO, fsrv_connect(self->s, &o, &self->dev));
	EXPECT_TRUE(has(vuc_strerror(self->dev), variant->expect))
		TH_LOG("got \"%s\", want \"%s\"", vuc_strerror(self->dev),
		       variant->expect);
	EXPECT_EQ(-1, vuc_socket_fd(self->dev));
	EXPECT_EQ(-1, vuc_twin_socket_fd(self->dev));
}

TEST_HARNESS_MAIN
