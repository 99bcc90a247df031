// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user message framing on a UNIX stream socket.
 *
 * Real peers are strict about framing (libvfio-user reads the header with
 * the fds, then the body without MSG_WAITALL), so a message always leaves
 * in one sendmsg() with its fds attached to the first byte.
 *
 * Two receivers: vu_recv() reads exactly one message (the header, then the
 * body: two recvmsg() calls); struct vu_reader reads whatever is queued, up
 * to a few KiB, and hands out the messages in it one by one.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A bound on the waits of one call, which starts at the first wait: most
 * calls never wait, and the clock is not free (under emulation, or with a
 * clock source the vDSO cannot read, every read is a system call).
 */
struct wait_bound {
	int timeout_ms; /* < 0: none */
	bool started;
	int64_t deadline; /* ms, once started */
};

static struct wait_bound bound_of(int timeout_ms)
{
	return (struct wait_bound){ .timeout_ms = timeout_ms };
}

/* Wait until @events is ready on @sock or @b runs out. */
static int wait_ready(int sock, short events, struct wait_bound *b)
{
	struct pollfd pfd = { .fd = sock, .events = events };
	int timeout, ret;

	for (;;) {
		timeout = -1;
		if (!b->timeout_ms)
			return -ETIMEDOUT;
		if (b->timeout_ms > 0) {
			int64_t now = now_ms(), left;

			if (!b->started) {
				b->deadline = now + b->timeout_ms;
				b->started = true;
			}
			left = b->deadline - now;
			if (left <= 0)
				return -ETIMEDOUT;
			timeout = left > 60000 ? 60000 : (int)left;
		}
		ret = poll(&pfd, 1, timeout);
		if (ret > 0)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

int vu_send(int sock, const struct vfio_user_header *hdr, const void *payload,
	    size_t len, const int *fds, unsigned int nr_fds, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_WIRE_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov[2] = {
		{ .iov_base = (void *)hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	struct wait_bound bound = bound_of(timeout_ms);
	bool fds_sent = false;
	ssize_t n;
	int ret;

	if (nr_fds > VU_WIRE_MAX_FDS)
		return -EINVAL;
	if (hdr->msg_size != sizeof(*hdr) + len)
		return -EINVAL;

	while (iov[0].iov_len + iov[1].iov_len) {
		if (nr_fds && !fds_sent) {
			struct cmsghdr *cmsg;

			memset(&control, 0, sizeof(control));
			mh.msg_control = control.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
			cmsg = CMSG_FIRSTHDR(&mh);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
			memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nr_fds);
		} else {
			mh.msg_control = NULL;
			mh.msg_controllen = 0;
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			ret = wait_ready(sock, POLLOUT, &bound);
			if (ret)
				return ret;
			continue;
		}
		fds_sent = true;
		/* Skip what went out; the fds went with the first byte. */
		while (n > 0) {
			struct iovec *v = iov[0].iov_len ? &iov[0] : &iov[1];
			size_t step = (size_t)n < v->iov_len ? (size_t)n :
							       v->iov_len;

			v->iov_base = (char *)v->iov_base + step;
			v->iov_len -= step;
			n -= step;
		}
		if (!iov[0].iov_len) {
			mh.msg_iov = &iov[1];
			mh.msg_iovlen = 1;
		}
	}
	return 0;
}

static void close_fds(struct vu_msg *msg)
{
	unsigned int i;

	for (i = 0; i < msg->nr_fds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nr_fds = 0;
}

/*
 * Take the SCM_RIGHTS fds of a received @mh into @fds (@nr entries used);
 * those that do not fit are closed. Lost ones set @dropped.
 */
static void collect_fds(struct msghdr *mh, int *fds, unsigned int *nr,
			bool *dropped)
{
	struct cmsghdr *cmsg;

	if (mh->msg_flags & MSG_CTRUNC)
		*dropped = true;
	for (cmsg = CMSG_FIRSTHDR(mh); cmsg; cmsg = CMSG_NXTHDR(mh, cmsg)) {
		unsigned int i, n;
		int fd;

		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			       sizeof(fd));
			if (*nr < VU_WIRE_MAX_FDS) {
				fds[(*nr)++] = fd;
			} else {
				close(fd);
				*dropped = true;
			}
		}
	}
}

/*
 * Read exactly @len bytes into @buf, collecting any fds that arrive.
 * Returns 0, -ECONNRESET on EOF before the first byte when @eof_ok, -EPIPE
 * on EOF after it, or another -errno.
 */
static int recv_exact(int sock, struct vu_msg *msg, void *buf, size_t len,
		      bool eof_ok, struct wait_bound *bound, bool *fds_dropped)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_WIRE_MAX_FDS)];
		struct cmsghdr align;
	} control;
	size_t got = 0;
	int ret;

	while (got < len) {
		struct iovec iov = {
			.iov_base = (char *)buf + got,
			.iov_len = len - got,
		};
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};
		ssize_t n;

		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			ret = wait_ready(sock, POLLIN, bound);
			if (ret)
				return ret;
			continue;
		}
		collect_fds(&mh, msg->fds, &msg->nr_fds, fds_dropped);
		if (n == 0)
			return got == 0 && eof_ok ? -ECONNRESET : -EPIPE;
		got += n;
	}
	return 0;
}

int vu_recv(int sock, struct vu_msg *msg, size_t max_payload,
	    unsigned int max_fds, int timeout_ms)
{
	struct wait_bound bound = bound_of(timeout_ms);
	bool fds_dropped = false;
	int ret;

	memset(msg, 0, sizeof(*msg));
	ret = recv_exact(sock, msg, &msg->hdr, sizeof(msg->hdr), true, &bound,
			 &fds_dropped);
	if (ret)
		goto err;
	if (msg->hdr.msg_size < sizeof(msg->hdr)) {
		ret = -EPROTO;
		goto err;
	}
	msg->len = msg->hdr.msg_size - sizeof(msg->hdr);
	if (msg->len > max_payload) {
		ret = -EMSGSIZE;
		goto err;
	}
	if (msg->len) {
		msg->payload = malloc(msg->len);
		if (!msg->payload) {
			ret = -ENOMEM;
			goto err;
		}
		/* The body follows the header; give it the same bound again. */
		bound = bound_of(timeout_ms);
		ret = recv_exact(sock, msg, msg->payload, msg->len, false,
				 &bound, &fds_dropped);
		if (ret)
			goto err;
	}
	if (fds_dropped || msg->nr_fds > max_fds) {
		ret = -EPROTO;
		goto err;
	}
	return 0;

err:
	close_fds(msg);
	free(msg->payload);
	msg->payload = NULL;
	msg->len = 0;
	return ret;
}

/* ---- The buffered reader ---- */

void vu_reader_init(struct vu_reader *r, int sock)
{
	r->sock = sock;
	r->head = 0;
	r->tail = 0;
	r->rx = 0;
	r->nr_fds = 0;
	r->fds_from = 0;
	r->fds_dropped = false;
	r->err = 0;
	r->reads = 0;
}

static void reader_close_fds(struct vu_reader *r)
{
	unsigned int i;

	for (i = 0; i < r->nr_fds; i++)
		close(r->fds[i]);
	r->nr_fds = 0;
	r->fds_dropped = false;
}

void vu_reader_release(struct vu_reader *r)
{
	reader_close_fds(r);
	vu_reader_init(r, -1);
}

size_t vu_reader_buffered(const struct vu_reader *r)
{
	return r->tail - r->head;
}

/*
 * One recvmsg() of at most @len bytes into @dst, once the socket has any.
 * Its fds are kept in @r until a message claims them (reader_settle());
 * the last read's were settled before this one. Returns the bytes read, 0
 * on EOF, or -errno (-ETIMEDOUT when @bound runs out).
 */
static ssize_t reader_read(struct vu_reader *r, void *dst, size_t len,
			   struct wait_bound *bound)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_WIRE_MAX_FDS)];
		struct cmsghdr align;
	} control;

	for (;;) {
		struct iovec iov = { .iov_base = dst, .iov_len = len };
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};
		ssize_t n;
		int ret;

		n = recvmsg(r->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			ret = wait_ready(r->sock, POLLIN, bound);
			if (ret)
				return ret;
			continue;
		}
		r->reads++;
		r->fds_from = r->rx;
		collect_fds(&mh, r->fds, &r->nr_fds, &r->fds_dropped);
		r->rx += n;
		return n;
	}
}

/*
 * Give the fds of the last read to the message at stream offsets [@start,
 * @end) if it is the last message that begins in that read (see wire.h).
 * Called once the message is whole (@end known), and before reading more
 * of it (@end = UINT64_MAX: it goes on past the read). When a later
 * message begins in the read, the fds wait for it. fds that no message can
 * claim (the read began and ended inside this one), too many fds, and fds
 * the kernel dropped set @bad; the fds are then closed.
 */
static void reader_settle(struct vu_reader *r, struct vu_msg *msg,
			  uint64_t start, uint64_t end, bool *bad)
{
	unsigned int i;

	if (!r->nr_fds && !r->fds_dropped)
		return;
	if (end < r->rx)
		return;
	if (start < r->fds_from || start >= r->rx || r->fds_dropped)
		*bad = true;
	for (i = 0; i < r->nr_fds; i++) {
		if (!*bad && msg->nr_fds < VU_WIRE_MAX_FDS) {
			msg->fds[msg->nr_fds++] = r->fds[i];
		} else {
			close(r->fds[i]);
			*bad = true;
		}
	}
	r->nr_fds = 0;
	r->fds_dropped = false;
}

/* Move what is buffered to the front, to read the most behind it. */
static void reader_compact(struct vu_reader *r)
{
	if (!r->head)
		return;
	memmove(r->buf, r->buf + r->head, r->tail - r->head);
	r->tail -= r->head;
	r->head = 0;
}

/* Read into the buffer until it holds @want bytes of the next message. */
static int reader_fill(struct vu_reader *r, struct vu_msg *msg, size_t want,
		       uint64_t start, struct wait_bound *bound, bool *bad)
{
	ssize_t n;

	reader_compact(r);
	while (r->tail - r->head < want) {
		reader_settle(r, msg, start, UINT64_MAX, bad);
		n = reader_read(r, r->buf + r->tail, sizeof(r->buf) - r->tail,
				bound);
		if (n < 0)
			return (int)n;
		if (!n)
			return r->tail == r->head ? -ECONNRESET : -EPIPE;
		r->tail += n;
	}
	return 0;
}

/* The rest of a body too long for the buffer, straight into the payload. */
static int reader_fill_direct(struct vu_reader *r, struct vu_msg *msg,
			      uint64_t start, struct wait_bound *bound,
			      bool *bad)
{
	size_t got = r->tail - r->head - sizeof(msg->hdr);
	ssize_t n;

	memcpy(msg->payload, r->buf + r->head + sizeof(msg->hdr), got);
	r->head = 0;
	r->tail = 0;
	while (got < msg->len) {
		reader_settle(r, msg, start, UINT64_MAX, bad);
		n = reader_read(r, (uint8_t *)msg->payload + got,
				msg->len - got, bound);
		if (n < 0)
			return (int)n;
		if (!n)
			return -EPIPE;
		got += n;
	}
	return 0;
}

int vu_recv_buffered(struct vu_reader *r, struct vu_msg *msg,
		     size_t max_payload, unsigned int max_fds, int timeout_ms)
{
	struct wait_bound bound = bound_of(timeout_ms);
	uint64_t start = r->rx - (r->tail - r->head);
	bool bad = false, direct = false;
	size_t size;
	int ret;

	memset(msg, 0, sizeof(*msg));
	if (r->err)
		return r->err;
	ret = reader_fill(r, msg, sizeof(msg->hdr), start, &bound, &bad);
	if (ret == -ETIMEDOUT && !vu_reader_buffered(r))
		return ret; /* nothing of a message yet: try again later */
	if (ret)
		goto err;
	memcpy(&msg->hdr, r->buf + r->head, sizeof(msg->hdr));
	if (msg->hdr.msg_size < sizeof(msg->hdr)) {
		ret = -EPROTO;
		goto err;
	}
	size = msg->hdr.msg_size;
	msg->len = size - sizeof(msg->hdr);
	if (msg->len > max_payload) {
		ret = -EMSGSIZE;
		goto err;
	}
	if (msg->len) {
		msg->payload = malloc(msg->len);
		if (!msg->payload) {
			ret = -ENOMEM;
			goto err;
		}
	}
	if (vu_reader_buffered(r) < size) {
		/* The body follows the header; give it the same bound again. */
		bound = bound_of(timeout_ms);
		direct = size > sizeof(r->buf);
		if (direct)
			ret = reader_fill_direct(r, msg, start, &bound, &bad);
		else
			ret = reader_fill(r, msg, size, start, &bound, &bad);
		if (ret)
			goto err;
	}
	if (!direct) {
		if (msg->len)
			memcpy(msg->payload,
			       r->buf + r->head + sizeof(msg->hdr), msg->len);
		r->head += size;
		if (r->head == r->tail) {
			r->head = 0;
			r->tail = 0;
		}
	}
	reader_settle(r, msg, start, start + size, &bad);
	if (bad || msg->nr_fds > max_fds) {
		ret = -EPROTO;
		goto err;
	}
	return 0;

err:
	vu_msg_release(msg);
	reader_close_fds(r);
	r->err = ret;
	return ret;
}

void vu_msg_release(struct vu_msg *msg)
{
	close_fds(msg);
	free(msg->payload);
	msg->payload = NULL;
	msg->len = 0;
}

int vu_msg_take_fd(struct vu_msg *msg, unsigned int i)
{
	int fd;

	if (i >= msg->nr_fds)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

const char *vu_cmd_name(unsigned int cmd)
{
	static const char *const names[] = {
		[VFIO_USER_VERSION] = "VERSION",
		[VFIO_USER_DMA_MAP] = "DMA_MAP",
		[VFIO_USER_DMA_UNMAP] = "DMA_UNMAP",
		[VFIO_USER_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
		[VFIO_USER_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
		[VFIO_USER_DEVICE_GET_REGION_IO_FDS] =
			"DEVICE_GET_REGION_IO_FDS",
		[VFIO_USER_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
		[VFIO_USER_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
		[VFIO_USER_REGION_READ] = "REGION_READ",
		[VFIO_USER_REGION_WRITE] = "REGION_WRITE",
		[VFIO_USER_DMA_READ] = "DMA_READ",
		[VFIO_USER_DMA_WRITE] = "DMA_WRITE",
		[VFIO_USER_DEVICE_RESET] = "DEVICE_RESET",
		[VFIO_USER_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
		[VFIO_USER_DEVICE_FEATURE] = "DEVICE_FEATURE",
		[VFIO_USER_MIG_DATA_READ] = "MIG_DATA_READ",
		[VFIO_USER_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
	};

	if (cmd < sizeof(names) / sizeof(names[0]) && names[cmd])
		return names[cmd];
	return "unknown command";
}
