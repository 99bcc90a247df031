/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user message framing on a UNIX stream socket, shared by the client
 * library and the sample server. Internal; not part of the public API.
 */
#ifndef VFIO_USER_WIRE_H
#define VFIO_USER_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/vfio_user.h>

/* Most fds any message may carry; more is a protocol error. */
#define VU_WIRE_MAX_FDS 64

/**
 * struct vu_msg - one received message
 * @hdr: the header as received
 * @payload: malloc'ed body of hdr.msg_size - 16 bytes (NULL if empty)
 * @len: payload length
 * @fds: fds that came with the message, close-on-exec; owned by the
 *	message until vu_msg_take_fd() takes one
 * @nr_fds: number of entries in @fds
 */
struct vu_msg {
	struct vfio_user_header hdr;
	void *payload;
	size_t len;
	int fds[VU_WIRE_MAX_FDS];
	unsigned int nr_fds;
};

/*
 * Send one message: header, payload and fds in a single sendmsg() (the fds
 * ride with the header), then the rest of the bytes if the socket took only
 * part. Never raises SIGPIPE. Waits at most timeout_ms (< 0: forever) for
 * the socket to take the data. Returns 0 or -errno.
 */
int vu_send(int sock, const struct vfio_user_header *hdr, const void *payload,
	    size_t len, const int *fds, unsigned int nr_fds, int timeout_ms);

/*
 * Receive one whole message. The header must arrive within timeout_ms
 * (< 0: forever) and the body within the same bound after it. A body longer
 * than max_payload is refused with -EMSGSIZE before anything is allocated;
 * more than max_fds fds (or fds the kernel had to drop) gives -EPROTO with
 * every received fd closed. EOF gives -ECONNRESET (-EPIPE if it cut a
 * message short), a missed deadline -ETIMEDOUT. On error the message holds
 * nothing that needs releasing.
 */
int vu_recv(int sock, struct vu_msg *msg, size_t max_payload,
	    unsigned int max_fds, int timeout_ms);

/* Free the payload and close every fd not taken. */
void vu_msg_release(struct vu_msg *msg);

/* Hand fd number @i over to the caller (-1 if out of range or taken). */
int vu_msg_take_fd(struct vu_msg *msg, unsigned int i);

/* Human-readable name of a command, for messages ("REGION_READ"). */
const char *vu_cmd_name(unsigned int cmd);

#endif /* VFIO_USER_WIRE_H */
