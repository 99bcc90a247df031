// SPDX-License-Identifier: BSD-3-Clause
/*
 * VFIO_USER_VERSION: the first message of every connection.
 *
 * The client's JSON capabilities are parsed with json-c and type-checked
 * key by key (unknown keys are ignored, as libvfio-user does); the reply's
 * are built with json-c too. Any failure is answered with an error and
 * ends the connection, as the specification asks.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <json-c/json.h>

#include "server.h"

/* The server's minor version: 2 added the twin socket. */
#define SERVER_VERSION_MINOR 2

struct client_caps {
	int64_t max_msg_fds;
	int64_t max_data_xfer_size;
	bool twin_socket;
};

/* A member of @obj that must have @type if present. */
static int member(struct json_object *obj, const char *key, enum json_type type,
		  struct json_object **val)
{
	*val = NULL;
	if (!json_object_object_get_ex(obj, key, val))
		return 0;
	return json_object_is_type(*val, type) ? 0 : -EINVAL;
}

/* An optional integer member within [min, max]. */
static int int_member(struct json_object *obj, const char *key, int64_t min,
		      int64_t max, int64_t *out)
{
	struct json_object *val;
	int64_t v;
	int ret;

	ret = member(obj, key, json_type_int, &val);
	if (ret || !val)
		return ret;
	v = json_object_get_int64(val);
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_twin_socket(struct json_object *caps, bool *twin)
{
	struct json_object *obj, *supported;
	int ret;

	ret = member(caps, VFIO_USER_CAP_TWIN_SOCKET, json_type_object, &obj);
	if (ret || !obj)
		return ret;
	ret = member(obj, VFIO_USER_CAP_SUPPORTED, json_type_boolean,
		     &supported);
	if (ret)
		return ret;
	*twin = supported && json_object_get_boolean(supported);
	return 0;
}

/* Type-check everything we know of in "capabilities"; keep what we use. */
static int parse_capabilities(struct json_object *caps, struct client_caps *cc)
{
	struct json_object *unused;
	int64_t ignored;
	int ret;

	ret = int_member(caps, VFIO_USER_CAP_MAX_MSG_FDS, 0,
			 VFIO_USER_LIBVFIO_USER_MAX_MSG_FDS, &cc->max_msg_fds);
	if (!ret)
		ret = int_member(caps, VFIO_USER_CAP_MAX_DATA_XFER_SIZE, 1,
				 INT64_MAX, &cc->max_data_xfer_size);
	if (!ret)
		ret = int_member(caps, VFIO_USER_CAP_MAX_DMA_MAPS, 0, INT64_MAX,
				 &ignored);
	if (!ret)
		ret = int_member(caps, VFIO_USER_CAP_PGSIZES, 0, INT64_MAX,
				 &ignored);
	if (!ret)
		ret = member(caps, VFIO_USER_CAP_WRITE_MULTIPLE,
			     json_type_boolean, &unused);
	if (!ret)
		ret = member(caps, VFIO_USER_CAP_MIGRATION, json_type_object,
			     &unused);
	if (!ret)
		ret = parse_twin_socket(caps, &cc->twin_socket);
	return ret;
}

/*
 * @json is the payload after major/minor: NUL-terminated, no NUL before
 * the end, one JSON object and nothing after it but white space.
 */
static int parse_json(const char *json, size_t len, struct client_caps *cc)
{
	struct json_tokener *tok;
	struct json_object *root, *caps;
	size_t end;
	int ret = -EINVAL;

	if (!len || json[len - 1] != '\0' || strlen(json) != len - 1)
		return -EINVAL;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)(len - 1));
	if (!root || json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	for (end = json_tokener_get_parse_end(tok); end < len - 1; end++)
		if (!isspace((unsigned char)json[end]))
			goto out;
	if (!json_object_is_type(root, json_type_object))
		goto out;
	ret = member(root, VFIO_USER_CAP_CAPABILITIES, json_type_object, &caps);
	if (!ret && caps)
		ret = parse_capabilities(caps, cc);
out:
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}

static int add(struct json_object *obj, const char *key,
	       struct json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add(obj, key, val)) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

/* {"supported": true, "fd_index": 0}: the fd comes first in the reply. */
static struct json_object *twin_socket_caps(void)
{
	struct json_object *ts = json_object_new_object();

	if (ts &&
	    (add(ts, VFIO_USER_CAP_SUPPORTED, json_object_new_boolean(1)) ||
	     add(ts, VFIO_USER_CAP_FD_INDEX, json_object_new_int(0)))) {
		json_object_put(ts);
		return NULL;
	}
	return ts;
}

static struct json_object *server_caps(const struct options *opts, bool twin)
{
	struct json_object *root = json_object_new_object();
	struct json_object *caps = json_object_new_object();
	int ret = root && caps ? 0 : -ENOMEM;

	if (!ret)
		ret = add(caps, VFIO_USER_CAP_MAX_MSG_FDS,
			  json_object_new_int((int)opts->max_msg_fds));
	if (!ret)
		ret = add(caps, VFIO_USER_CAP_MAX_DATA_XFER_SIZE,
			  json_object_new_int64(opts->max_data_xfer));
	if (!ret)
		ret = add(caps, VFIO_USER_CAP_PGSIZES,
			  json_object_new_int64(SERVER_PGSIZES));
	if (!ret)
		ret = add(caps, VFIO_USER_CAP_MAX_DMA_MAPS,
			  json_object_new_int(SERVER_MAX_DMA_MAPS));
	if (!ret && !opts->no_write_multiple)
		ret = add(caps, VFIO_USER_CAP_WRITE_MULTIPLE,
			  json_object_new_boolean(1));
	if (!ret && twin)
		ret = add(caps, VFIO_USER_CAP_TWIN_SOCKET, twin_socket_caps());
	if (!ret) {
		ret = add(root, VFIO_USER_CAP_CAPABILITIES, caps);
		caps = NULL; /* root's now, or freed by add() */
	}
	json_object_put(caps);
	if (ret) {
		json_object_put(root);
		return NULL;
	}
	return root;
}

static int build_reply(const struct options *opts,
		       const struct vfio_user_version *req, bool twin,
		       struct reply *reply)
{
	struct vfio_user_version *out;
	struct json_object *root;
	const char *json;
	size_t len;
	int ret = -ENOMEM;

	root = server_caps(opts, twin);
	if (!root)
		return -ENOMEM;
	json = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (json) {
		len = strlen(json) + 1;
		out = reply_alloc(reply, sizeof(*out) + len);
		if (out) {
			out->major = VFIO_USER_VERSION_MAJOR;
			out->minor = req->minor < SERVER_VERSION_MINOR ?
					     req->minor :
					     SERVER_VERSION_MINOR;
			memcpy(out->data, json, len);
			ret = 0;
		}
	}
	json_object_put(root);
	return ret;
}

/* The twin socket: keep one end, send the other with the reply. */
static int twin_socket_create(struct server *srv, struct reply *reply)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	srv->conn.twin = sv[0];
	vu_reader_init(&srv->conn.twin_rd, sv[0]);
	reply->fds[0] = sv[1];
	reply->nr_fds = 1;
	reply->fds_owned = true;
	return 0;
}

int version_negotiate(struct server *srv, const struct vu_msg *msg,
		      struct reply *reply)
{
	const struct vfio_user_version *req = msg->payload;
	struct client_caps cc = {
		.max_msg_fds = VFIO_USER_DEFAULT_MAX_MSG_FDS,
		.max_data_xfer_size = VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE,
	};
	bool twin;
	int ret;

	/* Whatever happens next, a failed negotiation ends the connection. */
	reply->close_conn = true;
	if (msg->nr_fds || msg->len < sizeof(*req) ||
	    req->major != VFIO_USER_VERSION_MAJOR)
		return -EINVAL;
	if (msg->len > sizeof(*req)) {
		ret = parse_json(req->data, msg->len - sizeof(*req), &cc);
		if (ret)
			return ret;
	}

	twin = cc.twin_socket && cc.max_msg_fds > 0 &&
	       !srv->opts.no_twin_socket;
	ret = build_reply(&srv->opts, req, twin, reply);
	if (!ret && twin)
		ret = twin_socket_create(srv, reply);
	if (ret)
		return ret;

	srv->conn.negotiated = true;
	srv->conn.client_max_fds = (unsigned int)cc.max_msg_fds;
	srv->conn.client_max_xfer = (uint64_t)cc.max_data_xfer_size;
	reply->close_conn = false;
	srv_log(srv,
		"client speaks 0.%u, takes %u fds per message, %s twin socket",
		req->minor, srv->conn.client_max_fds,
		twin ? "with" : "without");
	return 0;
}
