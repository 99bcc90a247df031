// SPDX-License-Identifier: BSD-3-Clause
/*
 * VERSION: offer our protocol version and capabilities as JSON, check the
 * server's answer and take the twin socket if it gave us one.
 *
 * The reply is untrusted input: every known key is type-checked and
 * range-checked, unknown keys are ignored, and anything inconsistent about
 * the twin socket aborts the connection (the spec says so).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "internal.h"

static uint64_t host_page_size(void)
{
	long sz = sysconf(_SC_PAGESIZE);

	return sz > 0 ? (uint64_t)sz : 4096;
}

/* Add @val under @key, taking it even on failure; false on failure. */
static bool add(json_object *obj, const char *key, json_object *val)
{
	if (!val)
		return false;
	if (json_object_object_add(obj, key, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}

/*
 * Our offer. max_msg_fds is what our receive path takes; pgsizes and the
 * migration pgsize are the host page size (a libvfio-user server with
 * migration refuses any other pgsize, PROTOCOL-NOTES §8 item 3).
 * write_multiple is the server's to offer: with it, the kernel backend
 * coalesces posted writes into REGION_WRITE_MULTI.
 */
static json_object *build_caps(const struct vuc_device *dev)
{
	uint64_t page = host_page_size();
	json_object *root, *caps, *mig, *twin;
	bool ok;

	/* Each container joins its parent first, so root owns everything. */
	root = json_object_new_object();
	if (!root)
		return NULL;
	caps = json_object_new_object();
	ok = add(root, VFIO_USER_CAP_CAPABILITIES, caps);
	ok = ok && add(caps, VFIO_USER_CAP_MAX_MSG_FDS,
		       json_object_new_int(VU_WIRE_MAX_FDS));
	ok = ok && add(caps, VFIO_USER_CAP_MAX_DATA_XFER_SIZE,
		       json_object_new_int64(dev->max_data_xfer_size));
	ok = ok && add(caps, VFIO_USER_CAP_MAX_DMA_MAPS,
		       json_object_new_int64(VFIO_USER_DEFAULT_MAX_DMA_MAPS));
	ok = ok && add(caps, VFIO_USER_CAP_PGSIZES,
		       json_object_new_int64((int64_t)(4096 | page)));
	if (ok && !(dev->flags & VUC_OPT_NO_TWIN_SOCKET)) {
		twin = json_object_new_object();
		ok = add(caps, VFIO_USER_CAP_TWIN_SOCKET, twin) &&
		     add(twin, VFIO_USER_CAP_SUPPORTED,
			 json_object_new_boolean(1));
	}
	if (ok) {
		mig = json_object_new_object();
		ok = add(caps, VFIO_USER_CAP_MIGRATION, mig) &&
		     add(mig, VFIO_USER_CAP_PGSIZE,
			 json_object_new_int64((int64_t)page));
	}
	if (!ok) {
		json_object_put(root);
		return NULL;
	}
	return root;
}

/* "an integer", for messages. */
static const char *type_name(json_type type)
{
	switch (type) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a number with a fraction";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "of unknown type";
}

/*
 * Fetch @key from @obj if present and of type @type. Returns 1 if found,
 * 0 if absent, or a vuc_fail()ed -EPROTO for a wrong type.
 */
static int get_typed(struct vuc_device *dev, json_object *obj,
		     const char *where, const char *key, json_type type,
		     json_object **val)
{
	if (!json_object_object_get_ex(obj, key, val))
		return 0;
	if (json_object_is_type(*val, type))
		return 1;
	return vuc_fail(dev, -EPROTO,
			"server's VERSION reply: \"%s%s\" is %s; must be %s",
			where, key, type_name(json_object_get_type(*val)),
			type_name(type));
}

/* An integer key within [min, max]; *out untouched if the key is absent. */
static int get_int(struct vuc_device *dev, json_object *obj, const char *where,
		   const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_object *val;
	int64_t v;
	int ret;

	ret = get_typed(dev, obj, where, key, json_type_int, &val);
	if (ret <= 0)
		return ret;
	v = json_object_get_int64(val);
	if (v < min || v > max) {
		if (max == INT64_MAX)
			return vuc_fail(
				dev, -EPROTO,
				"server advertised %s%s=%s in VERSION reply; must be at least %lld",
				where, key, json_object_to_json_string(val),
				(long long)min);
		return vuc_fail(
			dev, -EPROTO,
			"server advertised %s%s=%s in VERSION reply; must be %lld..%lld",
			where, key, json_object_to_json_string(val),
			(long long)min, (long long)max);
	}
	*out = v;
	return 0;
}

static int parse_limits(struct vuc_device *dev, json_object *caps)
{
	int64_t v;
	int ret;

	v = VFIO_USER_DEFAULT_MAX_MSG_FDS;
	ret = get_int(dev, caps, "", VFIO_USER_CAP_MAX_MSG_FDS, 0,
		      VUC_MAX_MSG_FDS_LIMIT, &v);
	if (ret)
		return ret;
	dev->caps.max_msg_fds = v;

	/* Above our cap is fine: we just never send more than the cap. */
	v = VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE;
	ret = get_int(dev, caps, "", VFIO_USER_CAP_MAX_DATA_XFER_SIZE,
		      VUC_MIN_XFER, INT64_MAX, &v);
	if (ret)
		return ret;
	dev->caps.max_data_xfer_size = v > VUC_MAX_XFER ? VUC_MAX_XFER : v;

	v = VFIO_USER_DEFAULT_MAX_DMA_MAPS;
	ret = get_int(dev, caps, "", VFIO_USER_CAP_MAX_DMA_MAPS, 1, INT64_MAX,
		      &v);
	if (ret)
		return ret;
	dev->caps.max_dma_maps = v > UINT32_MAX ? UINT32_MAX : v;
	return 0;
}

/* pgsizes: a u64 mask; page sizes below 4 KiB make no sense for DMA. */
static int parse_pgsizes(struct vuc_device *dev, json_object *caps)
{
	json_object *val;
	uint64_t v;
	int ret;

	dev->caps.pgsizes = VFIO_USER_DEFAULT_PGSIZES;
	ret = get_typed(dev, caps, "", VFIO_USER_CAP_PGSIZES, json_type_int,
			&val);
	if (ret <= 0)
		return ret;
	v = json_object_get_int64(val) < 0 ? 0 : json_object_get_uint64(val);
	if (v == 0 || (v & 0xfff))
		return vuc_fail(
			dev, -EPROTO,
			"server advertised pgsizes=%s in VERSION reply; must be a non-zero mask of page sizes of 4096 and up",
			json_object_to_json_string(val));
	dev->caps.pgsizes = v;
	return 0;
}

static int parse_misc(struct vuc_device *dev, json_object *caps)
{
	json_object *mig, *val;
	int64_t v = 0;
	int ret;

	ret = get_typed(dev, caps, "", VFIO_USER_CAP_WRITE_MULTIPLE,
			json_type_boolean, &val);
	if (ret < 0)
		return ret;
	dev->caps.write_multiple = ret && json_object_get_boolean(val);

	ret = get_typed(dev, caps, "", VFIO_USER_CAP_MIGRATION,
			json_type_object, &mig);
	if (ret <= 0)
		return ret;
	ret = get_int(dev, mig, "migration.", VFIO_USER_CAP_PGSIZE, 0,
		      INT64_MAX, &v);
	if (ret)
		return ret;
	/* 0 or a power of two of at least 4 KiB. */
	if (v && (v < 4096 || (v & (v - 1))))
		return vuc_fail(
			dev, -EPROTO,
			"server advertised migration.pgsize=%lld in VERSION reply; must be 0 or a power of two >= 4096",
			(long long)v);
	dev->caps.migration_pgsize = v;
	return get_typed(dev, mig, "migration.", VFIO_USER_CAP_MAX_BITMAP_SIZE,
			 json_type_int, &val) < 0 ?
		       -EPROTO :
		       0;
}

/*
 * twin_socket (spec §VERSION, PROTOCOL-NOTES §3.5): missing or
 * supported:false means no twin; supported:true needs a valid fd_index
 * naming the one fd of the reply; anything else is inconsistent.
 * Sets *want_fd to the fd index to take, or -1.
 */
static int parse_twin(struct vuc_device *dev, json_object *caps,
		      unsigned int nr_fds, int *want_fd)
{
	json_object *twin, *sup, *idx;
	bool supported = false;
	int64_t index;
	int ret;

	*want_fd = -1;
	ret = get_typed(dev, caps, "", VFIO_USER_CAP_TWIN_SOCKET,
			json_type_object, &twin);
	if (ret <= 0)
		return ret;
	ret = get_typed(dev, twin, "twin_socket.", VFIO_USER_CAP_SUPPORTED,
			json_type_boolean, &sup);
	if (ret < 0)
		return ret;
	supported = ret && json_object_get_boolean(sup);
	ret = get_typed(dev, twin, "twin_socket.", VFIO_USER_CAP_FD_INDEX,
			json_type_int, &idx);
	if (ret < 0)
		return ret;

	if (!supported) {
		if (ret)
			return vuc_fail(
				dev, -EPROTO,
				"server's VERSION reply has twin_socket.fd_index without twin_socket.supported=true; inconsistent twin socket");
		return 0;
	}
	if (dev->flags & VUC_OPT_NO_TWIN_SOCKET)
		return vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply has twin_socket.supported=true, but we did not offer a twin socket");
	if (!ret)
		return vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply has twin_socket.supported=true without fd_index; inconsistent twin socket");
	index = json_object_get_int64(idx);
	if (nr_fds != 1 || index != 0)
		return vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply has twin_socket.fd_index=%lld with %u fds attached; expected index 0 and exactly 1 fd",
			(long long)index, nr_fds);
	*want_fd = 0;
	return 0;
}

/* Parse the NUL-terminated JSON at @data (@len bytes with the NUL). */
static int parse_json(struct vuc_device *dev, const char *data, size_t len,
		      json_object **root)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	size_t slen = len - 1, end;

	if (data[len - 1] != '\0')
		return vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply: JSON capabilities not NUL-terminated");
	if (strlen(data) != slen)
		return vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply: NUL inside the JSON capabilities at byte %zu of %zu",
			strlen(data), slen);
	tok = json_tokener_new();
	if (!tok)
		return vuc_fail(dev, -ENOMEM, "out of memory parsing JSON");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*root = json_tokener_parse_ex(tok, data, (int)slen);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!*root || jerr != json_tokener_success) {
		json_object_put(*root);
		*root = NULL;
		return vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply: bad JSON capabilities (%s)",
			jerr != json_tokener_success ?
				json_tokener_error_desc(jerr) :
				"incomplete");
	}
	while (end < slen && strchr(" \t\r\n", data[end]))
		end++;
	if (end < slen) {
		json_object_put(*root);
		*root = NULL;
		return vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply: junk after the JSON capabilities at byte %zu",
			end);
	}
	return 0;
}

static void set_default_caps(struct vuc_device *dev)
{
	dev->caps.max_msg_fds = VFIO_USER_DEFAULT_MAX_MSG_FDS;
	dev->caps.max_data_xfer_size = VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE;
	dev->caps.max_dma_maps = VFIO_USER_DEFAULT_MAX_DMA_MAPS;
	dev->caps.pgsizes = VFIO_USER_DEFAULT_PGSIZES;
	dev->caps.migration_pgsize = 0;
	dev->caps.twin_socket = false;
	dev->caps.write_multiple = false;
}

/* The JSON part of the reply; *want_fd is the twin fd index or -1. */
static int parse_reply_caps(struct vuc_device *dev, const char *data,
			    size_t len, unsigned int nr_fds, int *want_fd)
{
	json_object *root = NULL, *caps;
	int ret;

	*want_fd = -1;
	/* No JSON, or an empty string: every capability at its default. */
	if (len == 0 || (len == 1 && data[0] == '\0'))
		return 0;
	ret = parse_json(dev, data, len, &root);
	if (ret)
		return ret;
	if (!json_object_is_type(root, json_type_object)) {
		ret = vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply: JSON capabilities are %s; must be an object",
			type_name(json_object_get_type(root)));
		goto out;
	}
	ret = get_typed(dev, root, "", VFIO_USER_CAP_CAPABILITIES,
			json_type_object, &caps);
	if (ret <= 0)
		goto out;
	ret = parse_limits(dev, caps);
	if (!ret)
		ret = parse_pgsizes(dev, caps);
	if (!ret)
		ret = parse_misc(dev, caps);
	if (!ret)
		ret = parse_twin(dev, caps, nr_fds, want_fd);
out:
	json_object_put(root);
	return ret;
}

/* The twin must be a stream socket, or DMA serving would go wrong later. */
static int check_twin_fd(struct vuc_device *dev, int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return vuc_fail(
			dev, -EPROTO,
			"server's twin socket fd is not a stream socket");
	return 0;
}

static int check_reply(struct vuc_device *dev, struct vu_msg *msg)
{
	struct vfio_user_version ver;
	int want_fd, ret;

	if (msg->len < sizeof(ver))
		return vuc_fail(
			dev, -EPROTO,
			"server's VERSION reply payload is %zu bytes; needs at least %zu",
			msg->len, sizeof(ver));
	memcpy(&ver, msg->payload, sizeof(ver));
	if (ver.major != VFIO_USER_VERSION_MAJOR)
		return vuc_fail(
			dev, -EPROTO,
			"server answered VERSION with major %u; we speak %u",
			ver.major, VFIO_USER_VERSION_MAJOR);
	if (ver.minor > VFIO_USER_VERSION_MINOR)
		return vuc_fail(
			dev, -EPROTO,
			"server answered VERSION with minor %u; we offered %u, so it may answer at most that",
			ver.minor, VFIO_USER_VERSION_MINOR);
	dev->caps.major = ver.major;
	dev->caps.minor = ver.minor;

	ret = parse_reply_caps(dev, (const char *)msg->payload + sizeof(ver),
			       msg->len - sizeof(ver), msg->nr_fds, &want_fd);
	if (ret)
		return ret;
	if (want_fd < 0 && msg->nr_fds)
		return vuc_fail(
			dev, -EPROTO,
			"server sent %u fds with its VERSION reply, but no twin socket was negotiated",
			msg->nr_fds);
	if (want_fd >= 0) {
		ret = check_twin_fd(dev, msg->fds[want_fd]);
		if (ret)
			return ret;
		dev->twin = vu_msg_take_fd(msg, want_fd);
		dev->caps.twin_socket = true;
	}
	return 0;
}

int vuc_negotiate(struct vuc_device *dev)
{
	json_object *root;
	const char *json;
	struct vfio_user_version *ver;
	struct vu_msg reply;
	size_t jlen, len;
	int ret;

	root = build_caps(dev);
	if (!root)
		return vuc_fail(dev, -ENOMEM, "out of memory building JSON");
	json = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!json) {
		json_object_put(root);
		return vuc_fail(dev, -ENOMEM, "out of memory building JSON");
	}
	jlen = strlen(json) + 1;
	len = sizeof(*ver) + jlen;
	ver = calloc(1, len);
	if (!ver) {
		json_object_put(root);
		return vuc_fail(dev, -ENOMEM, "out of memory");
	}
	ver->major = VFIO_USER_VERSION_MAJOR;
	ver->minor = VFIO_USER_VERSION_MINOR;
	memcpy(ver->data, json, jlen);
	json_object_put(root);

	/* At most the twin socket's fd, and only if we offered it. */
	ret = vuc_call(dev, VFIO_USER_VERSION, ver, len, NULL, 0,
		       dev->flags & VUC_OPT_NO_TWIN_SOCKET ? 0 : 1,
		       VUC_MAX_VERSION_REPLY, &reply);
	free(ver);
	if (ret)
		return ret;
	set_default_caps(dev);
	ret = check_reply(dev, &reply);
	vu_msg_release(&reply);
	if (ret)
		memset(&dev->caps, 0, sizeof(dev->caps));
	return ret;
}
