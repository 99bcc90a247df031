// SPDX-License-Identifier: BSD-3-Clause
/*
 * The message layer against a scripted server: truncated and oversized
 * messages, EOF, timeouts, replies that do not match, server commands on
 * the main socket, error replies with payloads, and what is left of a
 * connection after each. Also connecting by path and by fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "test_common.h"

#define TIMEOUT_MS 200

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A raw reply header for @req with a chosen msg_size, then @body bytes. */
static int send_partial(struct fsrv *s, const struct vu_msg *req,
			uint32_t msg_size, uint32_t flags, size_t body)
{
	uint8_t buf[16 + 64] = { 0 };
	struct vfio_user_header *hdr = (void *)buf;

	hdr->msg_id = req->hdr.msg_id;
	hdr->cmd = req->hdr.cmd;
	hdr->msg_size = msg_size;
	hdr->flags = flags;
	return fsrv_send_raw(s, buf, sizeof(*hdr) + body, NULL, 0);
}

/* What a scripted handler does; chosen per test through s->priv. */
enum misbehaviour {
	EOF_MID_MESSAGE,	/* header says 100 bytes, 10 come, then EOF */
	SHORT_BODY,		/* header says 100 bytes, 10 come, silence */
	SILENCE,		/* no reply at all */
	CLOSE,			/* EOF instead of a reply */
	HUGE_SIZE,		/* msg_size 4 GiB - 1 */
	TINY_SIZE,		/* msg_size 8 */
	BAD_TYPE,		/* flags type 3 */
	WRONG_ID,		/* reply with msg_id + 1 */
	ERROR_WITH_PAYLOAD,	/* EIO with 64 bytes of payload */
	ERROR_NO_5000,		/* error_no out of range */
	ERROR_WITH_FD,		/* EIO with an fd attached */
	DMA_FIRST,		/* DMA_READ and DMA_WRITE before the reply */
	DMA_ONLY,		/* a DMA_READ instead of the reply */
	SERVER_RESET_CMD,	/* a DEVICE_RESET command from the server */
};

/* Misbehave once (on s->step == 0), then act normally. */
static int misbehave(struct fsrv *s, struct vu_msg *m)
{
	enum misbehaviour how = *(enum misbehaviour *)s->priv;
	int ret = 0;

	if (s->step++)
		return fsrv_default(s, m);
	switch (how) {
	case EOF_MID_MESSAGE:
		send_partial(s, m, 100, VFIO_USER_F_TYPE_REPLY, 10);
		return FSRV_STOP;
	case SHORT_BODY:
		send_partial(s, m, 100, VFIO_USER_F_TYPE_REPLY, 10);
		fsrv_sleep_ms(3 * TIMEOUT_MS);
		return FSRV_CONTINUE;
	case SILENCE:
		fsrv_sleep_ms(3 * TIMEOUT_MS);
		return FSRV_CONTINUE;
	case CLOSE:
		return FSRV_STOP;
	case HUGE_SIZE:
		send_partial(s, m, 0xffffffff, VFIO_USER_F_TYPE_REPLY, 64);
		return FSRV_CONTINUE;
	case TINY_SIZE:
		send_partial(s, m, 8, VFIO_USER_F_TYPE_REPLY, 0);
		return FSRV_CONTINUE;
	case BAD_TYPE:
		send_partial(s, m, 16, 3, 0);
		return FSRV_CONTINUE;
	case WRONG_ID:
		ret = fsrv_send(s, m->hdr.msg_id + 1, m->hdr.cmd,
				VFIO_USER_F_TYPE_REPLY, 0, NULL, 0, NULL, 0);
		break;
	case ERROR_WITH_PAYLOAD: {
		uint8_t junk[64];

		memset(junk, 0xee, sizeof(junk));
		ret = fsrv_reply_error(s, m, EIO, junk, sizeof(junk));
		break;
	}
	case ERROR_NO_5000:
		ret = fsrv_reply_error(s, m, 5000, NULL, 0);
		break;
	case ERROR_WITH_FD: {
		int fd = make_eventfd();

		ret = fsrv_send(s, m->hdr.msg_id, m->hdr.cmd,
				VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, EIO,
				NULL, 0, &fd, 1);
		close(fd);
		break;
	}
	case DMA_ONLY: {
		struct vfio_user_dma_region_access dma = {
			.addr = 0x1000, .count = 8,
		};

		ret = fsrv_send(s, 1, VFIO_USER_DMA_READ,
				VFIO_USER_F_TYPE_COMMAND, 0, &dma,
				sizeof(dma), NULL, 0);
		break;
	}
	case DMA_FIRST: {
		struct {
			struct vfio_user_dma_region_access a;
			uint8_t data[8];
		} __attribute__((packed)) dma = {
			.a = { .addr = 0x1000, .count = 8 },
		};
		struct vu_msg ans;

		ret = fsrv_send(s, 0x4242, VFIO_USER_DMA_READ,
				VFIO_USER_F_TYPE_COMMAND, 0, &dma.a,
				sizeof(dma.a), NULL, 0);
		if (!ret)
			ret = fsrv_recv(s, &ans, 2000);
		if (ret) {
			fsrv_fail(s, "no answer to DMA_READ: %d", ret);
			return FSRV_STOP;
		}
		if (ans.hdr.msg_id != 0x4242 ||
		    ans.hdr.cmd != VFIO_USER_DMA_READ ||
		    ans.hdr.flags != (VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR) ||
		    ans.hdr.error_no != EFAULT || ans.hdr.msg_size != 16)
			fsrv_fail(s, "DMA_READ answered with id 0x%x cmd %u flags 0x%x errno %u size %u",
				  ans.hdr.msg_id, ans.hdr.cmd, ans.hdr.flags,
				  ans.hdr.error_no, ans.hdr.msg_size);
		vu_msg_release(&ans);
		/* No reply wanted: the client must stay silent. */
		ret = fsrv_send(s, 0x4243, VFIO_USER_DMA_WRITE,
				VFIO_USER_F_TYPE_COMMAND | VFIO_USER_F_NO_REPLY,
				0, &dma, sizeof(dma), NULL, 0);
		return ret ? FSRV_STOP : fsrv_default(s, m);
	}
	case SERVER_RESET_CMD:
		ret = fsrv_send(s, 7, VFIO_USER_DEVICE_RESET,
				VFIO_USER_F_TYPE_COMMAND, 0, NULL, 0, NULL, 0);
		break;
	}
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

/* REPLY_WITH_FD needs the fd in the reply itself: a handler of its own. */
static int read_reply_with_fd(struct fsrv *s, struct vu_msg *m)
{
	struct vfio_user_region_access acc;
	uint8_t buf[16 + 4] = { 0 };
	int fd, ret;

	if (s->step++)
		return fsrv_default(s, m);
	memcpy(&acc, m->payload, sizeof(acc));
	memcpy(buf, &acc, sizeof(acc));
	fd = make_eventfd();
	ret = fsrv_reply(s, m, buf, sizeof(acc) + acc.count, &fd, 1);
	close(fd);
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

FIXTURE(wire) {
	struct fsrv *s;
	struct vuc_device *dev;
	struct vuc_options opts;
	enum misbehaviour how;
	int fds_before;
};

FIXTURE_SETUP(wire)
{
	self->fds_before = count_open_fds();
	self->s = fsrv_new();
	ASSERT_NE(NULL, self->s);
	self->opts.timeout_ms = TIMEOUT_MS;
}

FIXTURE_TEARDOWN(wire)
{
	CHECK_CLEAN(self);
}

/* Connect with @cmd misbehaving as @how the first time. */
static int connect_misbehaving(FIXTURE_DATA(wire) *self, uint16_t cmd,
			       enum misbehaviour how)
{
	self->how = how;
	self->s->priv = &self->how;
	self->s->handler[cmd] = misbehave;
	return fsrv_connect(self->s, &self->opts, &self->dev);
}

/* Connected; the next REGION_READ misbehaves as @how. */
static int connect_then(FIXTURE_DATA(wire) *self, enum misbehaviour how)
{
	return connect_misbehaving(self, VFIO_USER_REGION_READ, how);
}

static ssize_t read4(FIXTURE_DATA(wire) *self, uint32_t *val)
{
	return vuc_region_read(self->dev, 0, 0, val, sizeof(*val));
}

TEST_F(wire, eof_mid_message)
{
	int64_t t0 = now_ms();

	EXPECT_EQ(-EPIPE, connect_misbehaving(self, VFIO_USER_VERSION,
					      EOF_MID_MESSAGE));
	ASSERT_MSG(self->dev, "closed the connection in the middle of a message (msg_size 100)");
	EXPECT_GT(TIMEOUT_MS, now_ms() - t0);
}

TEST_F(wire, short_body_times_out)
{
	int64_t t0 = now_ms(), dt;

	EXPECT_EQ(-ETIMEDOUT, connect_misbehaving(self, VFIO_USER_VERSION,
						  SHORT_BODY));
	dt = now_ms() - t0;
	ASSERT_MSG(self->dev, "no complete reply to VERSION within 200 ms");
	EXPECT_LE(TIMEOUT_MS - 10, dt);
	EXPECT_GT(2 * TIMEOUT_MS, dt);
}

TEST_F(wire, no_reply_times_out)
{
	int64_t t0 = now_ms();

	EXPECT_EQ(-ETIMEDOUT, connect_misbehaving(self, VFIO_USER_DEVICE_GET_INFO,
						  SILENCE));
	ASSERT_MSG(self->dev, "no complete reply to DEVICE_GET_INFO within 200 ms");
	EXPECT_GT(2 * TIMEOUT_MS, now_ms() - t0);
}

TEST_F(wire, eof_instead_of_reply)
{
	EXPECT_EQ(-ECONNRESET, connect_misbehaving(self, VFIO_USER_VERSION,
						   CLOSE));
	ASSERT_MSG(self->dev, "server closed the connection while we waited for the reply to VERSION");
}

TEST_F(wire, msg_size_beyond_limit)
{
	EXPECT_EQ(-EMSGSIZE, connect_misbehaving(self, VFIO_USER_VERSION,
						 HUGE_SIZE));
	ASSERT_MSG(self->dev, "message of 4294967295 bytes");
}

TEST_F(wire, msg_size_below_header)
{
	EXPECT_EQ(-EPROTO, connect_misbehaving(self, VFIO_USER_VERSION,
					       TINY_SIZE));
	ASSERT_MSG(self->dev, "msg_size 8");
}

TEST_F(wire, bad_message_type)
{
	EXPECT_EQ(-EPROTO, connect_misbehaving(self, VFIO_USER_VERSION,
					       BAD_TYPE));
	ASSERT_MSG(self->dev, "message of type 3");
}

/* A mismatched reply breaks the connection for good. */
TEST_F(wire, wrong_msg_id_breaks_connection)
{
	uint32_t v;

	ASSERT_EQ(0, connect_then(self, WRONG_ID)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(-EPROTO, read4(self, &v));
	ASSERT_MSG(self->dev, "server replied with msg_id");
	EXPECT_EQ(-1, vuc_socket_fd(self->dev));
	EXPECT_EQ(-ENOTCONN, read4(self, &v));
	ASSERT_MSG(self->dev, "connection unusable since an earlier error: server replied with msg_id");
	EXPECT_EQ(-ENOTCONN, vuc_reset(self->dev));
	EXPECT_EQ(1, self->s->nr_msgs[VFIO_USER_REGION_READ]);
}

TEST_F(wire, server_command_breaks_connection)
{
	uint32_t v;

	ASSERT_EQ(0, connect_then(self, SERVER_RESET_CMD));
	EXPECT_EQ(-EPROTO, read4(self, &v));
	ASSERT_MSG(self->dev, "server sent command 13 (DEVICE_RESET) while we waited for the reply to REGION_READ");
	EXPECT_EQ(-ENOTCONN, read4(self, &v));
}

/* Fds where none belong fail the call; the stream is still in step. */
TEST_F(wire, reply_with_fd_fails_call_only)
{
	uint32_t v = 0x12345678;

	self->s->handler[VFIO_USER_REGION_READ] = read_reply_with_fd;
	ASSERT_EQ(0, fsrv_connect(self->s, &self->opts, &self->dev));
	EXPECT_EQ(-EPROTO, read4(self, &v));
	ASSERT_MSG(self->dev, "1 fds with its REGION_READ reply; it carries none");
	self->s->regions[0].mem[0] = 0x5a;
	EXPECT_EQ(4, read4(self, &v));
	EXPECT_EQ(0x5a, v);
}

/* The payload of an error reply is read and dropped; the next reply parses. */
TEST_F(wire, error_reply_with_payload)
{
	uint32_t v = 0;

	ASSERT_EQ(0, connect_then(self, ERROR_WITH_PAYLOAD));
	EXPECT_EQ(-EIO, read4(self, &v));
	ASSERT_MSG(self->dev, "server failed REGION_READ: Input/output error (EIO)");
	EXPECT_LE(0, vuc_socket_fd(self->dev));
	self->s->regions[0].mem[0] = 0x77;
	EXPECT_EQ(4, read4(self, &v));
	EXPECT_EQ(0x77, v);
}

TEST_F(wire, error_no_out_of_range)
{
	uint32_t v;

	ASSERT_EQ(0, connect_then(self, ERROR_NO_5000));
	EXPECT_EQ(-EIO, read4(self, &v));
	ASSERT_MSG(self->dev, "without a valid errno (error_no 5000)");
}

TEST_F(wire, error_reply_with_fd)
{
	uint32_t v;

	ASSERT_EQ(0, connect_then(self, ERROR_WITH_FD));
	EXPECT_EQ(-EPROTO, read4(self, &v));
	ASSERT_MSG(self->dev, "1 fds with its error reply to REGION_READ; an error reply carries none");
	EXPECT_EQ(4, read4(self, &v));
}

/*
 * Without a twin socket, DMA requests arrive on the main socket and the
 * receive thread serves them: nothing is mapped, so with EFAULT.
 */
TEST_F(wire, dma_request_during_wait)
{
	uint32_t v = 0;

	self->opts.flags = VUC_OPT_NO_TWIN_SOCKET;
	ASSERT_EQ(0, connect_then(self, DMA_FIRST));
	self->s->regions[0].mem[0] = 0x33;
	EXPECT_EQ(4, read4(self, &v)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(0x33, v);
	/* The server would flag any stray reply to the NO_REPLY DMA_WRITE. */
	EXPECT_EQ(4, read4(self, &v));
}

TEST_F(wire, dma_request_on_main_socket_with_twin)
{
	uint32_t v;

	self->s->give_twin = true;
	ASSERT_EQ(0, connect_then(self, DMA_ONLY));
	ASSERT_LE(0, vuc_twin_socket_fd(self->dev));
	EXPECT_EQ(-EPROTO, read4(self, &v));
	ASSERT_MSG(self->dev, "server sent DMA_READ on the main socket although it gave us a twin socket");
}

/* Connecting ----------------------------------------------------------------- */

TEST_F(wire, connect_by_path)
{
	char dir[] = "/tmp/vuc-test-XXXXXX", path[64];

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	ASSERT_EQ(0, fsrv_listen(self->s, path));
	ASSERT_EQ(0, fsrv_start(self->s));
	self->dev = vuc_device_new(&self->opts);
	ASSERT_NE(NULL, self->dev);
	EXPECT_EQ(0, vuc_connect(self->dev, path)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(9, vuc_get_device_info(self->dev)->num_regions);
	unlink(path);
	rmdir(dir);
}

TEST_F(wire, connect_missing_path)
{
	self->dev = vuc_device_new(&self->opts);
	ASSERT_NE(NULL, self->dev);
	EXPECT_EQ(-ENOENT, vuc_connect(self->dev, "/nonexistent/vuc.sock"));
	ASSERT_MSG(self->dev, "connecting to /nonexistent/vuc.sock: No such file");
	EXPECT_EQ(-EISCONN, vuc_connect(self->dev, "/nonexistent/vuc.sock"));
}

TEST_F(wire, connect_path_too_long)
{
	char path[200];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	self->dev = vuc_device_new(&self->opts);
	ASSERT_NE(NULL, self->dev);
	EXPECT_EQ(-ENAMETOOLONG, vuc_connect(self->dev, path));
	ASSERT_MSG(self->dev, "socket path too long");
}

/* The handle owns the fd it is given, even when the call fails. */
TEST_F(wire, connect_twice)
{
	int sv[2];

	ASSERT_EQ(0, fsrv_connect(self->s, &self->opts, &self->dev));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	EXPECT_EQ(-EISCONN, vuc_connect_fd(self->dev, sv[0]));
	ASSERT_MSG(self->dev, "already used");
	EXPECT_EQ(-1, fcntl(sv[0], F_GETFD));
	close(sv[1]);
	EXPECT_LE(0, vuc_socket_fd(self->dev));
}

TEST_F(wire, connect_fd_not_a_socket)
{
	int p[2];

	ASSERT_EQ(0, pipe(p));
	self->dev = vuc_device_new(NULL);
	ASSERT_NE(NULL, self->dev);
	EXPECT_EQ(-ENOTSOCK, vuc_connect_fd(self->dev, p[0]));
	ASSERT_MSG(self->dev, "is not a socket");
	EXPECT_EQ(-1, fcntl(p[0], F_GETFD));
	close(p[1]);
}

TEST_F(wire, connect_fd_datagram)
{
	int sv[2];

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv));
	self->dev = vuc_device_new(NULL);
	ASSERT_NE(NULL, self->dev);
	EXPECT_EQ(-EPROTOTYPE, vuc_connect_fd(self->dev, sv[0]));
	ASSERT_MSG(self->dev, "not a stream socket");
	close(sv[1]);
}

TEST_F(wire, calls_before_connect)
{
	uint32_t v;

	self->dev = vuc_device_new(NULL);
	ASSERT_NE(NULL, self->dev);
	EXPECT_STREQ("no error", vuc_strerror(self->dev));
	EXPECT_EQ(-ENOTCONN, vuc_region_read(self->dev, 0, 0, &v, 4));
	ASSERT_MSG(self->dev, "not connected");
	EXPECT_EQ(-ENOTCONN, vuc_reset(self->dev));
	EXPECT_EQ(-ENOTCONN, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, 0,
					  NULL));
	EXPECT_EQ(NULL, vuc_get_caps(self->dev));
	EXPECT_EQ(NULL, vuc_get_device_info(self->dev));
	EXPECT_EQ(NULL, vuc_get_region(self->dev, 0));
	EXPECT_EQ(-1, vuc_socket_fd(self->dev));
	EXPECT_EQ(-1, vuc_twin_socket_fd(self->dev));
	EXPECT_STREQ("no device handle", vuc_strerror(NULL));
	EXPECT_EQ(-EINVAL, vuc_reset(NULL));
	vuc_device_free(NULL);
}

TEST_HARNESS_MAIN
