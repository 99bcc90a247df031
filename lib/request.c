// SPDX-License-Identifier: BSD-3-Clause
/*
 * One command, one reply: send a command on the main socket and wait for
 * the reply that matches it.
 *
 * Anything that leaves the byte stream in an unknown state (a send or
 * receive failure, a timeout, a message we cannot place) breaks the
 * connection: later calls fail fast instead of pairing replies with the
 * wrong requests. An error reply does not: it was read whole.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Milliseconds left until @deadline, at least 0. */
static int ms_left(int64_t deadline)
{
	int64_t left = deadline - vuc_now_ms();

	return left > 0 ? (int)left : 0;
}

int vuc_fail_broken(struct vuc_device *dev, int err)
{
	char why[sizeof(dev->broken)];

	pthread_mutex_lock(&dev->lock);
	memcpy(why, dev->broken, sizeof(why));
	pthread_mutex_unlock(&dev->lock);
	return vuc_fail(dev, err, "%s", why);
}

static int recv_failed(struct vuc_device *dev, uint16_t cmd, int err,
		       const struct vu_msg *msg, size_t bound)
{
	const char *name = vu_cmd_name(cmd);
	bool broken;

	/* The receive thread broke the connection first: say why. */
	pthread_mutex_lock(&dev->lock);
	broken = dev->state == VUC_FAILED;
	pthread_mutex_unlock(&dev->lock);
	if (broken)
		return vuc_fail_broken(dev, err);
	switch (err) {
	case -ETIMEDOUT:
		return vuc_break(dev, err,
				 "no complete reply to %s within %u ms", name,
				 dev->timeout_ms);
	case -ECONNRESET:
		return vuc_break(
			dev, err,
			"server closed the connection while we waited for the reply to %s",
			name);
	case -EPIPE:
		return vuc_break(
			dev, err,
			"server closed the connection in the middle of a message (msg_size %u) while we waited for the reply to %s",
			msg->hdr.msg_size, name);
	case -EMSGSIZE:
		return vuc_break(
			dev, err,
			"server sent a message of %u bytes (cmd %u, %s) while we waited for the reply to %s; at most %zu bytes expected",
			msg->hdr.msg_size, msg->hdr.cmd,
			vu_cmd_name(msg->hdr.cmd), name,
			bound + sizeof(msg->hdr));
	case -EPROTO:
		if (msg->hdr.msg_size < sizeof(msg->hdr))
			return vuc_break(
				dev, err,
				"server sent a header with msg_size %u (less than the 16-byte header) while we waited for the reply to %s",
				msg->hdr.msg_size, name);
		return vuc_break(
			dev, err,
			"server sent more than %d fds with one message while we waited for the reply to %s",
			VU_WIRE_MAX_FDS, name);
	default:
		return vuc_break(dev, err, "receiving the reply to %s: %s",
				 name, strerror(-err));
	}
}

/*
 * Without a twin socket the server sends DMA_READ/DMA_WRITE on the main
 * socket. The userspace backend does not serve DMA (the kernel does, once
 * the device is attached): refuse it, so that the server's own wait ends
 * and ours can go on.
 */
static int refuse_server_command(struct vuc_device *dev, uint16_t cmd,
				 struct vu_msg *msg)
{
	struct vfio_user_header hdr = {
		.msg_id = msg->hdr.msg_id,
		.cmd = msg->hdr.cmd,
		.msg_size = sizeof(hdr),
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
		.error_no = ENOTSUP,
	};
	int ret;

	if (msg->nr_fds)
		return vuc_break(
			dev, -EPROTO,
			"server sent %s with %u fds on the main socket while we waited for the reply to %s; it carries none",
			vu_cmd_name(msg->hdr.cmd), msg->nr_fds,
			vu_cmd_name(cmd));
	if (msg->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 0;
	ret = vu_send(dev->sock, &hdr, NULL, 0, NULL, 0, dev->timeout_ms);
	if (ret)
		return vuc_break(dev, ret, "answering the server's %s: %s",
				 vu_cmd_name(msg->hdr.cmd), strerror(-ret));
	return 0;
}

/* A command from the server: refuse DMA, anything else is a violation. */
static int server_command(struct vuc_device *dev, uint16_t cmd,
			  struct vu_msg *msg)
{
	uint16_t scmd = msg->hdr.cmd;

	if ((scmd == VFIO_USER_DMA_READ || scmd == VFIO_USER_DMA_WRITE) &&
	    !dev->caps.twin_socket)
		return refuse_server_command(dev, cmd, msg);
	if (scmd == VFIO_USER_DMA_READ || scmd == VFIO_USER_DMA_WRITE)
		return vuc_break(
			dev, -EPROTO,
			"server sent %s on the main socket although it gave us a twin socket for its commands",
			vu_cmd_name(scmd));
	return vuc_break(
		dev, -EPROTO,
		"server sent command %u (%s) while we waited for the reply to %s; servers only send DMA_READ/DMA_WRITE",
		scmd, vu_cmd_name(scmd), vu_cmd_name(cmd));
}

/* The server failed the command: pass its errno on, connection intact. */
static int error_reply(struct vuc_device *dev, uint16_t cmd,
		       const struct vu_msg *msg)
{
	uint32_t err = msg->hdr.error_no;
	char buf[96];

	/* Read whole, so the stream is still in step: fail the call only. */
	if (msg->nr_fds)
		return vuc_fail(
			dev, -EPROTO,
			"server sent %u fds with its error reply to %s; an error reply carries none",
			msg->nr_fds, vu_cmd_name(cmd));
	/* errno 0 or absurd: a failure of unknown cause (libvfio-user: > 4096). */
	vuc_server_error = true;
	if (err == 0 || err > 4095)
		return vuc_fail(
			dev, -EIO,
			"server failed %s without a valid errno (error_no %u)",
			vu_cmd_name(cmd), err);
	return vuc_fail(dev, -(int)err, "server failed %s: %s",
			vu_cmd_name(cmd),
			vuc_errname((int)err, buf, sizeof(buf)));
}

/*
 * Fds where none (or fewer) belong: the message was read whole, so fail
 * the call but keep the connection.
 */
static int check_fds(struct vuc_device *dev, uint16_t cmd, unsigned int max_fds,
		     struct vu_msg *reply)
{
	unsigned int nr = reply->nr_fds;

	if (nr <= max_fds)
		return 0;
	vu_msg_release(reply);
	if (!max_fds)
		return vuc_fail(
			dev, -EPROTO,
			"server sent %u fds with its %s reply; it carries none",
			nr, vu_cmd_name(cmd));
	return vuc_fail(
		dev, -EPROTO,
		"server sent %u fds with its %s reply; it carries at most %u",
		nr, vu_cmd_name(cmd), max_fds);
}

/*
 * Look at one received message. Returns 1 if it is our reply (kept in
 * @msg), 0 if it was dealt with and the wait goes on, or a -errno.
 */
static int classify(struct vuc_device *dev, uint16_t cmd, uint16_t id,
		    struct vu_msg *msg)
{
	uint32_t type = msg->hdr.flags & VFIO_USER_F_TYPE_MASK;
	int ret;

	if (type == VFIO_USER_F_TYPE_COMMAND) {
		ret = server_command(dev, cmd, msg);
		vu_msg_release(msg);
		return ret;
	}
	if (type != VFIO_USER_F_TYPE_REPLY)
		ret = vuc_break(
			dev, -EPROTO,
			"server sent a message of type %u (flags 0x%x) while we waited for the reply to %s",
			type, msg->hdr.flags, vu_cmd_name(cmd));
	else if (msg->hdr.msg_id != id || msg->hdr.cmd != cmd)
		ret = vuc_break(
			dev, -EPROTO,
			"server replied with msg_id %u cmd %u (%s) while we waited for the reply to msg_id %u cmd %u (%s)",
			msg->hdr.msg_id, msg->hdr.cmd,
			vu_cmd_name(msg->hdr.cmd), id, cmd, vu_cmd_name(cmd));
	else if (msg->hdr.flags & VFIO_USER_F_ERROR)
		ret = error_reply(dev, cmd, msg);
	else
		return 1;
	vu_msg_release(msg);
	return ret;
}

int vuc_check_reply(struct vuc_device *dev, uint16_t cmd, unsigned int max_fds,
		    size_t bound, struct vu_msg *reply)
{
	int ret;

	if (reply->len > bound) {
		uint32_t size = reply->hdr.msg_size;

		vu_msg_release(reply);
		return vuc_break(
			dev, -EMSGSIZE,
			"server sent a message of %u bytes (cmd %u, %s) while we waited for the reply to %s; at most %zu bytes expected",
			size, cmd, vu_cmd_name(cmd), vu_cmd_name(cmd),
			bound + sizeof(reply->hdr));
	}
	if (reply->hdr.flags & VFIO_USER_F_ERROR) {
		ret = error_reply(dev, cmd, reply);
		vu_msg_release(reply);
		return ret;
	}
	return check_fds(dev, cmd, max_fds, reply);
}

int vuc_send_failed(struct vuc_device *dev, uint16_t cmd, int ret, size_t len)
{
	if (ret == -ETIMEDOUT)
		return vuc_break(
			dev, ret,
			"server did not take %s (%zu bytes) within %u ms",
			vu_cmd_name(cmd), len + sizeof(struct vfio_user_header),
			dev->timeout_ms);
	return vuc_break(dev, ret, "sending %s: %s", vu_cmd_name(cmd),
			 strerror(-ret));
}

/* Without a receive thread on the main socket: read our reply ourselves. */
static int call_direct(struct vuc_device *dev, struct vfio_user_header *hdr,
		       const void *req, size_t len, const int *fds,
		       unsigned int nr_fds, unsigned int max_fds, size_t bound,
		       int64_t deadline, struct vu_msg *reply)
{
	uint16_t cmd = hdr->cmd;
	int ret;

	pthread_mutex_lock(&dev->lock);
	hdr->msg_id = dev->next_msg_id++;
	pthread_mutex_unlock(&dev->lock);
	ret = vu_send(dev->sock, hdr, req, len, fds, nr_fds, dev->timeout_ms);
	if (ret)
		return vuc_send_failed(dev, cmd, ret, len);

	for (;;) {
		ret = vu_recv(dev->sock, reply, bound, VU_WIRE_MAX_FDS,
			      ms_left(deadline));
		if (ret)
			return recv_failed(dev, cmd, ret, reply, bound);
		ret = classify(dev, cmd, hdr->msg_id, reply);
		if (ret == 1)
			return check_fds(dev, cmd, max_fds, reply);
		if (ret)
			return ret;
	}
}

int vuc_call(struct vuc_device *dev, uint16_t cmd, const void *req, size_t len,
	     const int *fds, unsigned int nr_fds, unsigned int max_fds,
	     size_t max_reply, struct vu_msg *reply)
{
	struct vfio_user_header hdr = {
		.cmd = cmd,
		.msg_size = sizeof(hdr) + len,
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	int64_t deadline = vuc_now_ms() + dev->timeout_ms;
	size_t bound = dev->max_data_xfer_size + VUC_HDR_ALLOWANCE;
	struct vuc_waiter w = { 0 };
	int ret;

	memset(reply, 0, sizeof(*reply));
	vuc_server_error = false;
	ret = vuc_check_usable(dev);
	if (ret)
		return ret;
	if (max_reply > bound)
		bound = max_reply;

	if (!dev->rx_routes) {
		pthread_mutex_lock(&dev->call_lock);
		ret = call_direct(dev, &hdr, req, len, fds, nr_fds, max_fds,
				  bound, deadline, reply);
		pthread_mutex_unlock(&dev->call_lock);
		return ret;
	}
	ret = vuc_rx_call(dev, &w, &hdr, req, len, fds, nr_fds, deadline);
	if (ret)
		return ret;
	*reply = w.msg;
	return vuc_check_reply(dev, cmd, max_fds, bound, reply);
}
