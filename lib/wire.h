/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user message framing on a UNIX stream socket, shared by the client
 * library and the sample server. Internal; not part of the public API.
 */
#ifndef VFIO_USER_WIRE_H
#define VFIO_USER_WIRE_H

#include <stdbool.h>
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

/* Bytes a reader receives at once; longer messages get their own buffer. */
#define VU_READER_BUF 4096

/**
 * struct vu_reader - buffered receiver of whole messages on one socket
 * @sock: the stream socket read
 * @buf: bytes received and not handed out yet, at [@head, @tail)
 * @head: start of the next message in @buf
 * @tail: end of the data in @buf
 * @rx: bytes received from @sock so far; @buf[@tail] is stream offset @rx
 * @fds: fds of the last read, not yet given to a message
 * @nr_fds: entries in @fds
 * @fds_from: stream offset where that read began (its end is @rx)
 * @fds_dropped: that read lost fds (control data cut, or too many)
 * @err: the error that broke the stream, returned ever after (0: none)
 * @reads: recvmsg() calls that returned data or EOF (for tests and stats)
 *
 * Every reader of a socket must go through its one reader: what one call
 * received beyond its message waits in @buf for the next call, and poll()
 * does not see it (see vu_reader_buffered()).
 */
struct vu_reader {
	int sock;
	uint8_t buf[VU_READER_BUF];
	size_t head;
	size_t tail;
	uint64_t rx;
	int fds[VU_WIRE_MAX_FDS];
	unsigned int nr_fds;
	uint64_t fds_from;
	bool fds_dropped;
	int err;
	unsigned long reads;
};

/* Start reading @sock (-1: no socket yet), with nothing buffered. */
void vu_reader_init(struct vu_reader *r, int sock);

/*
 * Receive one whole message, as vu_recv() does and with the same bounds and
 * errors, but with one recvmsg() of up to VU_READER_BUF bytes where
 * vu_recv() needs two: the header, and as much of what follows as is
 * queued. What follows the message stays buffered for the next call. A
 * message longer than the buffer has its body received straight into its
 * own allocation.
 *
 * The fds of a message come with the read that takes the message's first
 * byte: senders attach them to the sendmsg() that begins with the header,
 * the kernel attaches them to the first skb of that sendmsg(), and a
 * recvmsg() on an AF_UNIX stream socket stops right after the skb whose
 * fds it took. So a read that returns fds ends inside the message they
 * belong to, and that message starts inside the read: the fds go to the
 * last message whose header begins in the bytes of the read that brought
 * them. fds that came with a read in which no message begins cannot be
 * attributed and give -EPROTO. A timeout before the first byte of a
 * message leaves the reader as it was; any other error leaves the stream
 * out of step, and later calls return the same error.
 */
int vu_recv_buffered(struct vu_reader *r, struct vu_msg *msg,
		     size_t max_payload, unsigned int max_fds, int timeout_ms);

/* Bytes buffered and not handed out: a caller must not poll() the socket
 * for them, but call vu_recv_buffered() (which may block for the rest). */
size_t vu_reader_buffered(const struct vu_reader *r);

/* Drop what is buffered, close the fds held, forget the socket (which is
 * not closed). The reader can be initialised again. */
void vu_reader_release(struct vu_reader *r);

/* Free the payload and close every fd not taken. */
void vu_msg_release(struct vu_msg *msg);

/* Hand fd number @i over to the caller (-1 if out of range or taken). */
int vu_msg_take_fd(struct vu_msg *msg, unsigned int i);

/* Human-readable name of a command, for messages ("REGION_READ"). */
const char *vu_cmd_name(unsigned int cmd);

#endif /* VFIO_USER_WIRE_H */
