// SPDX-License-Identifier: BSD-3-Clause
/*
 * Messages from the client: framing checks, dispatch, and the wire format
 * of every command but VERSION (version.c) and GET_REGION_IO_FDS
 * (io_fds.c). The device behind the commands is in pci.c, irq.c, dma.c.
 *
 * The client is not trusted. A message that cannot be framed (a short or
 * oversized header, a body that does not arrive) ends the connection; one
 * that can be framed but is wrong gets an EINVAL error reply, a bare header
 * with VFIO_USER_F_ERROR, unless it asked for no reply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "server.h"

#define HDR_FLAGS (VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY)

struct command {
	int (*handle)(struct server *srv, struct vu_msg *msg,
		      struct reply *reply);
	unsigned int max_fds; /* fds the command may carry */
};

void *reply_alloc(struct reply *reply, size_t len)
{
	free(reply->payload);
	reply->payload = calloc(1, len);
	reply->len = reply->payload ? len : 0;
	return reply->payload;
}

static int handle_version(struct server *srv, struct vu_msg *msg,
			  struct reply *reply)
{
	/* Once only; and the reply is the point of it. */
	if (srv->conn.negotiated)
		return -EINVAL;
	if (msg->hdr.flags & VFIO_USER_F_NO_REPLY) {
		reply->close_conn = true;
		return -EINVAL;
	}
	return version_negotiate(srv, msg, reply);
}

static int handle_dma_map(struct server *srv, struct vu_msg *msg,
			  struct reply *reply)
{
	const struct vfio_user_dma_map *req = msg->payload;
	int ret;

	(void)reply;
	if (msg->len != sizeof(*req) || req->argsz != sizeof(*req))
		return -EINVAL;
	ret = dma_map(&srv->conn.dma, req,
		      msg->nr_fds ? vu_msg_take_fd(msg, 0) : -1);
	if (!ret)
		mig_dma_mapped(srv, req->addr, req->size);
	srv_debug(srv,
		  "DMA_MAP [%#llx, +%#llx) flags %#x offset %#llx fd %s: %s",
		  (unsigned long long)req->addr, (unsigned long long)req->size,
		  req->flags, (unsigned long long)req->offset,
		  msg->nr_fds ? "yes" : "no", ret ? strerror(-ret) : "ok");
	return ret;
}

static int handle_dma_unmap(struct server *srv, struct vu_msg *msg,
			    struct reply *reply)
{
	const struct vfio_user_dma_unmap *req = msg->payload;
	struct vfio_user_dma_unmap *out;
	bool all;

	/* No dirty logging here, so no GET_DIRTY_BITMAP and no bitmap. */
	if (msg->len != sizeof(*req) || req->argsz < sizeof(*req) ||
	    req->flags & ~VFIO_USER_F_DMA_UNMAP_ALL)
		return -EINVAL;
	all = req->flags & VFIO_USER_F_DMA_UNMAP_ALL;
	if (all && (req->addr || req->size))
		return -EINVAL;

	out = reply_alloc(reply, sizeof(*out));
	if (!out)
		return -ENOMEM;
	*out = *req;
	out->argsz = sizeof(*out);
	if (!all)
		return dma_unmap(&srv->conn.dma, req->addr, req->size);
	dma_unmap_all(&srv->conn.dma);
	return 0;
}

static int handle_get_info(struct server *srv, struct vu_msg *msg,
			   struct reply *reply)
{
	const struct vfio_user_device_info *req = msg->payload;
	struct vfio_user_device_info *out;

	(void)srv;
	/* Only argsz is an input. */
	if (msg->len != sizeof(*req) || req->argsz < sizeof(*req) ||
	    req->flags || req->num_regions || req->num_irqs)
		return -EINVAL;
	out = reply_alloc(reply, sizeof(*out));
	if (!out)
		return -ENOMEM;
	out->argsz = sizeof(*out);
	out->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	out->num_regions = SAMPLE_NUM_REGIONS;
	out->num_irqs = SAMPLE_NUM_IRQS;
	return 0;
}

static void fill_sparse_cap(void *buf, const struct region_desc *r)
{
	struct vfio_region_info_cap_sparse_mmap *cap = buf;
	unsigned int i;

	cap->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	cap->header.version = 1;
	cap->header.next = 0;
	cap->nr_areas = r->nr_areas;
	for (i = 0; i < r->nr_areas; i++) {
		cap->areas[i].offset = r->areas[i].offset;
		cap->areas[i].size = r->areas[i].size;
	}
}

/*
 * As libvfio-user does: an mmappable region always reports
 * VFIO_REGION_INFO_FLAG_MMAP, but the sparse areas and the fd come only
 * when the request's argsz has room for the capabilities; otherwise the
 * reply is the 32-byte struct alone, with the argsz needed. (libvfio-user
 * pads that reply to the request's argsz with zeroes; we do not.)
 */
static int handle_region_info(struct server *srv, struct vu_msg *msg,
			      struct reply *reply)
{
	const struct vfio_region_info *req = msg->payload;
	const struct region_desc *r;
	struct vfio_region_info *out;
	size_t caps_len = 0, needed;
	uint32_t flags;
	bool full;

	/* Only argsz and index are inputs. */
	if (msg->len != sizeof(*req) || req->argsz < sizeof(*req) ||
	    req->flags || req->cap_offset || req->size || req->offset)
		return -EINVAL;
	r = dev_region(req->index);
	if (!r)
		return -EINVAL;

	flags = r->flags;
	/* A client that takes no fds cannot map it: it gets plain RW. */
	if (srv->conn.client_max_fds < 1)
		flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
	if (flags & VFIO_REGION_INFO_FLAG_MMAP)
		caps_len = sizeof(struct vfio_region_info_cap_sparse_mmap) +
			   r->nr_areas *
				   sizeof(struct vfio_region_sparse_mmap_area);
	needed = sizeof(*out) + caps_len;
	full = caps_len && req->argsz >= needed;

	out = reply_alloc(reply, full ? needed : sizeof(*out));
	if (!out)
		return -ENOMEM;
	out->argsz = (uint32_t)needed;
	out->flags = flags;
	out->index = req->index;
	out->size = r->size;
	out->offset = 0; /* where the region starts in the fd */
	if (full) {
		out->flags |= VFIO_REGION_INFO_FLAG_CAPS;
		out->cap_offset = sizeof(*out);
		fill_sparse_cap(out + 1, r);
		/* Only BAR2 is mappable (pci.c). */
		reply->fds[reply->nr_fds++] = srv->dev.bar2_fd;
	}
	return 0;
}

static int handle_region_io_fds(struct server *srv, struct vu_msg *msg,
				struct reply *reply)
{
	return io_fds_get(srv, msg, reply);
}

static int handle_irq_info(struct server *srv, struct vu_msg *msg,
			   struct reply *reply)
{
	const struct vfio_irq_info *req = msg->payload;
	struct vfio_irq_info *out;

	/* Only argsz and index are inputs. */
	if (msg->len != sizeof(*req) || req->argsz < sizeof(*req) ||
	    req->flags || req->count || req->index >= SAMPLE_NUM_IRQS)
		return -EINVAL;
	out = reply_alloc(reply, sizeof(*out));
	if (!out)
		return -ENOMEM;
	out->argsz = sizeof(*out);
	out->flags = irq_info_flags(req->index);
	out->index = req->index;
	out->count = irq_count(&srv->dev, req->index);
	return 0;
}

static int handle_set_irqs(struct server *srv, struct vu_msg *msg,
			   struct reply *reply)
{
	(void)reply;
	irq_note_set_irqs(&srv->dev, msg->nr_fds);
	if (msg->nr_fds > srv->opts.max_msg_fds) {
		srv_log(srv,
			"SET_IRQS with %u fds, more than the %u advertised",
			msg->nr_fds, srv->opts.max_msg_fds);
		return -EINVAL;
	}
	return irq_set(&srv->dev, msg);
}

/*
 * A REGION_READ or REGION_WRITE must carry at most our max_data_xfer_size
 * of data, and a read must not ask for a reply larger than the client said
 * it can receive. Every count is noted for SAMPLE_REG_XFER_MAX.
 */
static int check_xfer_limits(struct server *srv,
			     const struct vfio_user_region_access *req,
			     bool write)
{
	struct device *dev = &srv->dev;

	if (req->count > dev->regs.xfer_max)
		dev->regs.xfer_max = req->count;
	if (req->count > srv->opts.max_data_xfer) {
		srv_log(srv, "%s of %u bytes, more than the %u advertised",
			write ? "REGION_WRITE" : "REGION_READ", req->count,
			srv->opts.max_data_xfer);
		dev->regs.xfer_refused++;
		return -EINVAL;
	}
	if (!write && req->count > srv->conn.client_max_xfer) {
		srv_log(srv,
			"REGION_READ of %u bytes, more than the client's limit of %llu",
			req->count,
			(unsigned long long)srv->conn.client_max_xfer);
		dev->regs.xfer_refused++;
		return -EINVAL;
	}
	return 0;
}

/*
 * REGION_READ and REGION_WRITE. The reply echoes the 16-byte access
 * header, followed by the data for a read (a count of 0 gets the header
 * alone). Doorbells and mailbox commands already sent on the io fds are
 * served first, so that a later read of BAR0 sees them.
 */
/* The DMA engine needs the connection, not just the device model. */
static bool is_dma_command(uint32_t region, uint64_t offset, uint32_t count)
{
	return region == VFIO_PCI_BAR0_REGION_INDEX &&
	       offset == SAMPLE_REG_DMA_CMD && count == 4;
}

static int handle_region_access(struct server *srv, struct vu_msg *msg,
				struct reply *reply)
{
	struct vfio_user_region_access *req = msg->payload;
	struct vfio_user_region_access *out;
	bool write = msg->hdr.cmd == VFIO_USER_REGION_WRITE;
	int ret;

	if (msg->len < sizeof(*req))
		return -EINVAL;
	ret = check_xfer_limits(srv, req, write);
	if (ret)
		return ret;
	if (msg->len != sizeof(*req) + (write ? req->count : 0))
		return -EINVAL;
	if (req->region == VFIO_PCI_BAR0_REGION_INDEX)
		io_fds_drain(srv);
	if (write && is_dma_command(req->region, req->offset, req->count)) {
		uint32_t cmd;

		memcpy(&cmd, req->data, sizeof(cmd));
		if (!reply_alloc(reply, sizeof(*req)))
			return -ENOMEM;
		memcpy(reply->payload, req, sizeof(*req));
		return dma_engine_command(srv, cmd);
	}

	out = reply_alloc(reply, sizeof(*out) + (write ? 0 : req->count));
	if (!out)
		return -ENOMEM;
	*out = *req;
	ret = dev_region_access(&srv->dev, req->region, req->offset,
				write ? req->data : out->data, req->count,
				write);
	srv_debug(srv, "%s region %u [%#llx, +%#x): %s",
		  write ? "write" : "read", req->region,
		  (unsigned long long)req->offset, req->count,
		  ret ? strerror(-ret) : "ok");
	return ret;
}

/*
 * REGION_WRITE_MULTI (advertised unless --no-write-multiple): up to
 * VFIO_USER_MULTI_MAX writes of up to VFIO_USER_MULTI_DATA bytes, applied
 * in order as REGION_WRITE would apply them; the reply (when one is asked
 * for) says how many were. Every entry is checked before any is applied.
 */
static int handle_write_multi(struct server *srv, struct vu_msg *msg,
			      struct reply *reply)
{
	const struct vfio_user_wr_multi *req = msg->payload;
	uint64_t *done, n, i;
	int ret = 0;

	if (srv->opts.no_write_multiple || msg->len < sizeof(*req))
		return -EINVAL;
	n = req->wr_cnt;
	if (!n || n > VFIO_USER_MULTI_MAX ||
	    msg->len != sizeof(*req) + n * sizeof(struct vfio_user_wr_one))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		struct vfio_user_wr_one w;

		memcpy(&w, &req->wrs[i], sizeof(w));
		if (!w.count || w.count > VFIO_USER_MULTI_DATA)
			return -EINVAL;
	}
	io_fds_drain(srv);
	srv->dev.regs.write_multi_count++;
	for (i = 0; i < n && !ret; i++) {
		struct vfio_user_wr_one w;

		memcpy(&w, &req->wrs[i], sizeof(w));
		if (is_dma_command(w.region, w.offset, w.count)) {
			uint32_t cmd;

			memcpy(&cmd, w.data, sizeof(cmd));
			ret = dma_engine_command(srv, cmd);
		} else {
			ret = dev_region_access(&srv->dev, w.region, w.offset,
						w.data, w.count, true);
		}
		if (ret)
			break;
	}
	srv_debug(srv, "write multi: %llu of %llu applied: %s",
		  (unsigned long long)i, (unsigned long long)n,
		  ret ? strerror(-ret) : "ok");
	done = reply_alloc(reply, sizeof(*done));
	if (!done)
		return -ENOMEM;
	*done = i;
	return ret;
}

static int handle_reset(struct server *srv, struct vu_msg *msg,
			struct reply *reply)
{
	(void)reply;
	if (msg->len)
		return -EINVAL;
	/* What the client did before the reset happens before it. */
	io_fds_drain(srv);
	dev_reset(&srv->dev);
	mig_reset(&srv->dev);
	srv_log(srv, "device reset");
	return 0;
}

static int handle_device_feature(struct server *srv, struct vu_msg *msg,
				 struct reply *reply)
{
	return mig_device_feature(srv, msg, reply);
}

static int handle_mig_data_read(struct server *srv, struct vu_msg *msg,
				struct reply *reply)
{
	return mig_data_read(srv, msg, reply);
}

static int handle_mig_data_write(struct server *srv, struct vu_msg *msg,
				 struct reply *reply)
{
	return mig_data_write(srv, msg, reply);
}

/*
 * Commands not listed fail with EINVAL: DMA_READ/DMA_WRITE go the other
 * way.
 */
static const struct command commands[VFIO_USER_MAX_COMMAND] = {
	[VFIO_USER_VERSION] = { handle_version, 0 },
	[VFIO_USER_DMA_MAP] = { handle_dma_map, 1 },
	[VFIO_USER_DMA_UNMAP] = { handle_dma_unmap, 0 },
	[VFIO_USER_DEVICE_GET_INFO] = { handle_get_info, 0 },
	[VFIO_USER_DEVICE_GET_REGION_INFO] = { handle_region_info, 0 },
	[VFIO_USER_DEVICE_GET_REGION_IO_FDS] = { handle_region_io_fds, 0 },
	[VFIO_USER_DEVICE_GET_IRQ_INFO] = { handle_irq_info, 0 },
	/* Checked against --max-msg-fds by the handler, which counts them. */
	[VFIO_USER_DEVICE_SET_IRQS] = { handle_set_irqs, VU_WIRE_MAX_FDS },
	[VFIO_USER_REGION_READ] = { handle_region_access, 0 },
	[VFIO_USER_REGION_WRITE] = { handle_region_access, 0 },
	[VFIO_USER_REGION_WRITE_MULTI] = { handle_write_multi, 0 },
	[VFIO_USER_DEVICE_RESET] = { handle_reset, 0 },
	[VFIO_USER_DEVICE_FEATURE] = { handle_device_feature, 0 },
	[VFIO_USER_MIG_DATA_READ] = { handle_mig_data_read, 0 },
	[VFIO_USER_MIG_DATA_WRITE] = { handle_mig_data_write, 0 },
};

static int dispatch(struct server *srv, struct vu_msg *msg, struct reply *reply)
{
	const struct vfio_user_header *hdr = &msg->hdr;
	const struct command *c = NULL;

	if (hdr->cmd < VFIO_USER_MAX_COMMAND)
		c = &commands[hdr->cmd];
	if (!srv->conn.negotiated && hdr->cmd != VFIO_USER_VERSION)
		return -EINVAL;
	/* A command, with no reserved flag and no error number. */
	if ((hdr->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND ||
	    hdr->flags & ~HDR_FLAGS || hdr->error_no)
		return -EINVAL;
	if (!c || !c->handle || msg->nr_fds > c->max_fds ||
	    (msg->nr_fds > srv->opts.max_msg_fds &&
	     hdr->cmd != VFIO_USER_DEVICE_SET_IRQS))
		return -EINVAL;
	return c->handle(srv, msg, reply);
}

static int send_reply(struct server *srv, const struct vfio_user_header *req,
		      int err, const struct reply *reply)
{
	struct vfio_user_header hdr = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	const void *payload = reply->payload;
	unsigned int nr_fds = reply->nr_fds;
	size_t len = reply->len;
	int ret;

	if (err) {
		/* The specification's error reply: a header alone. */
		hdr.flags |= VFIO_USER_F_ERROR;
		hdr.error_no = (uint32_t)-err;
		payload = NULL;
		len = 0;
		nr_fds = 0;
	}
	hdr.msg_size = (uint32_t)(sizeof(hdr) + len);
	ret = vu_send(srv->conn.sock, &hdr, payload, len, reply->fds, nr_fds,
		      SERVER_IO_TIMEOUT_MS);
	srv_debug(srv, "-> %s #%u: %s, %zu bytes, %u fds", vu_cmd_name(hdr.cmd),
		  hdr.msg_id, err ? strerror(-err) : "ok", len, nr_fds);
	if (ret)
		srv_log(srv,
			"cannot send the reply to %s: %s, closing the connection",
			vu_cmd_name(hdr.cmd), strerror(-ret));
	return ret;
}

static void reply_release(struct reply *reply)
{
	unsigned int i;

	if (reply->fds_owned)
		for (i = 0; i < reply->nr_fds; i++)
			close(reply->fds[i]);
	free(reply->payload);
}

static void log_recv_error(const struct server *srv, int err)
{
	if (err == -ECONNRESET)
		srv_log(srv, "client disconnected");
	else if (err == -EMSGSIZE)
		srv_log(srv,
			"message larger than %u bytes, closing the connection",
			SERVER_MAX_PAYLOAD +
				(unsigned int)sizeof(struct vfio_user_header));
	else if (err == -EPROTO)
		srv_log(srv, "malformed message, closing the connection");
	else if (err == -EPIPE)
		srv_log(srv, "client disconnected in the middle of a message");
	else if (err == -ETIMEDOUT)
		srv_log(srv,
			"message incomplete after %d ms, closing the connection",
			SERVER_IO_TIMEOUT_MS);
	else
		srv_log(srv, "receive failed: %s, closing the connection",
			strerror(-err));
}

/* Dispatch one message, answer it, and release it. */
static int serve(struct server *srv, struct vu_msg *msg)
{
	struct reply reply = { 0 };
	int err, ret = 0;

	srv_debug(srv, "<- %s #%u: %u bytes, flags %#x, %u fds",
		  vu_cmd_name(msg->hdr.cmd), msg->hdr.msg_id, msg->hdr.msg_size,
		  msg->hdr.flags, msg->nr_fds);

	/* Mask and unmask signals the client sent first take effect first. */
	irq_poll_actions(&srv->dev);
	err = dispatch(srv, msg, &reply);
	if (err && !srv->conn.negotiated) {
		srv_log(srv, "negotiation failed (%s), closing the connection",
			strerror(-err));
		reply.close_conn = true;
	}
	if (!(msg->hdr.flags & VFIO_USER_F_NO_REPLY))
		ret = send_reply(srv, &msg->hdr, err, &reply);
	else if (err)
		srv_debug(srv, "%s #%u failed: %s (no reply wanted)",
			  vu_cmd_name(msg->hdr.cmd), msg->hdr.msg_id,
			  strerror(-err));
	if (!ret && reply.close_conn)
		ret = -ECONNABORTED;
	mig_tick(srv);
	reply_release(&reply);
	vu_msg_release(msg);
	return ret;
}

void proto_drop_deferred(struct conn *conn)
{
	while (conn->nr_deferred) {
		struct vu_msg *msg = conn->deferred[--conn->nr_deferred];

		vu_msg_release(msg);
		free(msg);
	}
}

int proto_handle_client(struct server *srv)
{
	struct conn *conn = &srv->conn;
	struct vu_msg msg;
	int err, ret;

	/* Take any number of fds: too many is an error reply, not a desync. */
	err = vu_recv_buffered(&conn->rd, &msg, SERVER_MAX_PAYLOAD,
			       VU_WIRE_MAX_FDS, SERVER_IO_TIMEOUT_MS);
	if (err) {
		log_recv_error(srv, err);
		return err;
	}
	ret = serve(srv, &msg);

	/* Commands parked during our own DMA requests, in arrival order. */
	while (!ret && conn->nr_deferred) {
		struct vu_msg *next = conn->deferred[0];

		memmove(conn->deferred, conn->deferred + 1,
			--conn->nr_deferred * sizeof(conn->deferred[0]));
		ret = serve(srv, next);
		free(next);
	}
	return ret;
}

/*
 * The twin socket carries the server's own commands and their replies;
 * none is sent yet, so whatever arrives there is dropped. The client
 * closing its end ends the twin socket only.
 */
void proto_handle_twin(struct server *srv)
{
	struct vu_msg msg;
	int err;

	err = vu_recv_buffered(&srv->conn.twin_rd, &msg, SERVER_MAX_PAYLOAD,
			       VU_WIRE_MAX_FDS, SERVER_IO_TIMEOUT_MS);
	if (!err) {
		srv_log(srv, "twin socket: unexpected %s #%u, dropped",
			vu_cmd_name(msg.hdr.cmd), msg.hdr.msg_id);
		vu_msg_release(&msg);
		return;
	}
	srv_log(srv, "twin socket: %s, closing it",
		err == -ECONNRESET ? "closed by the client" : strerror(-err));
	vu_reader_release(&srv->conn.twin_rd);
	close(srv->conn.twin);
	srv->conn.twin = -1;
}
