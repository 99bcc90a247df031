// SPDX-License-Identifier: BSD-3-Clause
/*
 * The userspace backend's receive thread, as a userspace client such as
 * QEMU's has one: it serves the server's DMA_READ and DMA_WRITE from the
 * DMA map the caller registered (each mapping with its address in this
 * process), so that a host without the module still has a complete
 * client.
 *
 * With a twin socket the server's commands come on it alone: the thread
 * reads the twin socket and callers go on reading their replies from the
 * main socket themselves (one caller at a time). Without one, commands
 * and replies share the main socket: the thread reads it all, serves the
 * commands and hands every reply to the caller waiting for its msg_id, so
 * that callers on several threads may wait at once.
 *
 * Everything the server sends is checked: a DMA request must lie inside
 * the map with the access it allows, carry at most max_data_xfer_size
 * bytes and no unknown flags, else it gets an error reply; a message that
 * leaves the stream out of step breaks the connection, which wakes every
 * waiting caller with the reason.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

int64_t vuc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The DMA map ------------------------------------------------------------- */

/* Log pages of @m at @ps: from the one holding its first byte. */
static uint64_t log_pages(const struct vuc_map *m, uint64_t ps)
{
	return (m->iova + (m->size - 1)) / ps - m->iova / ps + 1;
}

static uint64_t *log_alloc(const struct vuc_map *m, uint64_t ps)
{
	return calloc((size_t)((log_pages(m, ps) + 63) / 64), 8);
}

/* Index of the last mapping starting at or below @iova, or -1. dma_lock held. */
static long map_floor(const struct vuc_device *dev, uint64_t iova)
{
	long lo = 0, hi = (long)dev->nr_maps - 1, found = -1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;

		if (dev->maps[mid].iova <= iova) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

/* The mapping holding @iova, or NULL. dma_lock held. */
static const struct vuc_map *map_find(const struct vuc_device *dev,
				      uint64_t iova)
{
	long i = map_floor(dev, iova);

	if (i < 0 || iova - dev->maps[i].iova >= dev->maps[i].size)
		return NULL;
	return &dev->maps[i];
}

int vuc_map_add(struct vuc_device *dev, uint64_t iova, uint64_t size,
		void *vaddr, uint32_t flags)
{
	uint32_t limit = dev->caps.max_dma_maps;
	struct vuc_map *m;
	long i;
	int ret = 0;

	if (iova + size < iova && iova + size != 0)
		return vuc_fail(dev, -EINVAL,
				"DMA map [0x%llx, +0x%llx) wraps around",
				(unsigned long long)iova,
				(unsigned long long)size);
	pthread_rwlock_wrlock(&dev->dma_lock);
	i = map_floor(dev, iova);
	if ((i >= 0 && iova - dev->maps[i].iova < dev->maps[i].size) ||
	    ((unsigned long)(i + 1) < dev->nr_maps &&
	     dev->maps[i + 1].iova - iova < size)) {
		ret = -EEXIST;
		goto out;
	}
	if (limit && dev->nr_maps >= limit) {
		ret = -ENOSPC;
		goto out;
	}
	if (dev->nr_maps == dev->cap_maps) {
		unsigned int cap = dev->cap_maps ? dev->cap_maps * 2 : 16;

		m = realloc(dev->maps, (size_t)cap * sizeof(*m));
		if (!m) {
			ret = -ENOMEM;
			goto out;
		}
		dev->maps = m;
		dev->cap_maps = cap;
	}
	m = &dev->maps[i + 1];
	memmove(m + 1, m, (dev->nr_maps - (i + 1)) * sizeof(*m));
	*m = (struct vuc_map){
		.iova = iova, .size = size, .vaddr = vaddr, .flags = flags
	};
	if (dev->log_pgsize) {
		m->dirty = log_alloc(m, dev->log_pgsize);
		if (!m->dirty) {
			memmove(m, m + 1,
				(dev->nr_maps - (i + 1)) * sizeof(*m));
			ret = -ENOMEM;
			goto out;
		}
	}
	dev->nr_maps++;
out:
	pthread_rwlock_unlock(&dev->dma_lock);
	if (ret == -EEXIST)
		return vuc_fail(
			dev, ret,
			"DMA map [0x%llx, +0x%llx) overlaps an existing mapping",
			(unsigned long long)iova, (unsigned long long)size);
	if (ret == -ENOSPC)
		return vuc_fail(dev, ret,
				"DMA map: the server takes at most %u mappings",
				limit);
	if (ret)
		return vuc_fail(dev, ret, "DMA map: out of memory");
	return 0;
}

int vuc_map_remove(struct vuc_device *dev, uint64_t iova, uint64_t size,
		   struct vuc_map *old)
{
	long i;
	int ret = -ENOENT;

	/* Taking the lock for writing waits for the copies in flight. */
	pthread_rwlock_wrlock(&dev->dma_lock);
	i = map_floor(dev, iova);
	if (i >= 0 && dev->maps[i].iova == iova && dev->maps[i].size == size) {
		free(dev->maps[i].dirty);
		*old = dev->maps[i];
		old->dirty = NULL;
		memmove(&dev->maps[i], &dev->maps[i + 1],
			(dev->nr_maps - i - 1) * sizeof(dev->maps[0]));
		dev->nr_maps--;
		ret = 0;
	}
	pthread_rwlock_unlock(&dev->dma_lock);
	return ret;
}

void vuc_map_clear(struct vuc_device *dev)
{
	unsigned int i;

	pthread_rwlock_wrlock(&dev->dma_lock);
	for (i = 0; i < dev->nr_maps; i++)
		free(dev->maps[i].dirty);
	dev->nr_maps = 0;
	pthread_rwlock_unlock(&dev->dma_lock);
}

int vuc_lib_log_start(struct vuc_device *dev, uint64_t pgsize)
{
	unsigned int i;
	int ret = 0;

	pthread_rwlock_wrlock(&dev->dma_lock);
	for (i = 0; i < dev->nr_maps && !ret; i++) {
		dev->maps[i].dirty = log_alloc(&dev->maps[i], pgsize);
		if (!dev->maps[i].dirty)
			ret = -ENOMEM;
	}
	if (ret)
		while (i--) {
			free(dev->maps[i].dirty);
			dev->maps[i].dirty = NULL;
		}
	else
		dev->log_pgsize = pgsize;
	pthread_rwlock_unlock(&dev->dma_lock);
	if (ret)
		return vuc_fail(dev, ret,
				"no memory for the library's dirty log");
	return 0;
}

void vuc_lib_log_stop(struct vuc_device *dev)
{
	unsigned int i;

	pthread_rwlock_wrlock(&dev->dma_lock);
	for (i = 0; i < dev->nr_maps; i++) {
		free(dev->maps[i].dirty);
		dev->maps[i].dirty = NULL;
	}
	dev->log_pgsize = 0;
	pthread_rwlock_unlock(&dev->dma_lock);
}

/* The bit of @addr's log page in @m. */
static uint64_t log_bit(const struct vuc_map *m, uint64_t addr, uint64_t ps)
{
	return addr / ps - m->iova / ps;
}

void vuc_lib_log_report(struct vuc_device *dev, uint64_t iova, uint64_t length,
			uint64_t *bitmap)
{
	uint64_t ps, p, pages;

	pthread_rwlock_wrlock(&dev->dma_lock);
	ps = dev->log_pgsize;
	pages = ps ? length / ps : 0;
	for (p = 0; p < pages; p++) {
		uint64_t addr = iova + p * ps, last = addr + (ps - 1);
		long i = map_floor(dev, last);

		/* Every mapping that shares the page, highest first. */
		for (; i >= 0 &&
		       dev->maps[i].iova + (dev->maps[i].size - 1) >= addr;
		     i--) {
			struct vuc_map *m = &dev->maps[i];
			uint64_t from = m->iova > addr ? m->iova : addr;
			uint64_t b = log_bit(m, from, ps);

			if (m->dirty && m->dirty[b / 64] & (1ULL << (b % 64))) {
				m->dirty[b / 64] &= ~(1ULL << (b % 64));
				bitmap[p / 64] |= 1ULL << (p % 64);
			}
		}
	}
	pthread_rwlock_unlock(&dev->dma_lock);
}

/*
 * [iova, iova + count) lies in mappings that allow @need and have memory
 * here, with no hole: checked whole before a byte moves. dma_lock held.
 */
static int map_check(const struct vuc_device *dev, uint64_t iova,
		     uint64_t count, uint32_t need)
{
	uint64_t end = iova + count - 1;

	if (end < iova)
		return -EFAULT;
	for (;;) {
		const struct vuc_map *m = map_find(dev, iova);
		uint64_t last;

		if (!m || !m->vaddr)
			return -EFAULT;
		if (!(m->flags & need))
			return -EPERM;
		last = m->iova + (m->size - 1);
		if (last >= end)
			return 0;
		iova = last + 1;
	}
}

/* Mark [iova, +n) of @m written, in the library's log if it is on. */
static void log_written(const struct vuc_map *m, uint64_t iova, uint64_t n,
			uint64_t ps)
{
	uint64_t b, last;

	if (!m->dirty)
		return;
	last = log_bit(m, iova + (n - 1), ps);
	for (b = log_bit(m, iova, ps); b <= last; b++)
		m->dirty[b / 64] |= 1ULL << (b % 64);
}

/*
 * Copy between @buf and the mapped memory; map_check() passed. dma_lock
 * held for reading: only this thread writes the dirty bits meanwhile.
 */
static void map_copy(const struct vuc_device *dev, uint64_t iova, uint8_t *buf,
		     uint64_t count, bool write)
{
	while (count) {
		const struct vuc_map *m = map_find(dev, iova);
		uint64_t off = iova - m->iova;
		uint64_t n = m->size - off < count ? m->size - off : count;

		if (write) {
			memcpy(m->vaddr + off, buf, n);
			log_written(m, iova, n, dev->log_pgsize);
		} else {
			memcpy(buf, m->vaddr + off, n);
		}
		iova += n;
		buf += n;
		count -= n;
	}
}

/* Serving DMA_READ and DMA_WRITE ------------------------------------------ */

/*
 * Serve @msg; for a read the reply payload goes to dev->rx_buf. Returns 0
 * with *@reply_len set, or the -errno to answer with.
 */
static int dma_serve(struct vuc_device *dev, const struct vu_msg *msg,
		     size_t *reply_len)
{
	bool write = msg->hdr.cmd == VFIO_USER_DMA_WRITE;
	struct vfio_user_dma_region_access acc;
	uint8_t *data;
	int ret;

	if (msg->hdr.flags & ~(VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY))
		return -EINVAL;
	if (msg->nr_fds || msg->len < sizeof(acc))
		return -EINVAL;
	memcpy(&acc, msg->payload, sizeof(acc));
	if (!acc.count)
		return -EINVAL;
	if (acc.count > dev->max_data_xfer_size)
		return -E2BIG;
	if (msg->len != sizeof(acc) + (write ? acc.count : 0))
		return -EINVAL;

	memcpy(dev->rx_buf, &acc, sizeof(acc));
	data = write ? (uint8_t *)msg->payload + sizeof(acc) :
		       dev->rx_buf + sizeof(acc);
	pthread_rwlock_rdlock(&dev->dma_lock);
	ret = map_check(dev, acc.addr, acc.count,
			write ? VUC_DMA_WRITE : VUC_DMA_READ);
	if (!ret)
		map_copy(dev, acc.addr, data, acc.count, write);
	pthread_rwlock_unlock(&dev->dma_lock);
	*reply_len = sizeof(acc) + (write ? 0 : acc.count);
	return ret;
}

int vuc_serve_command(struct vuc_device *dev, int sock, struct vu_msg *msg,
		      const char *waiting_for)
{
	uint16_t cmd = msg->hdr.cmd;
	struct vfio_user_header hdr = {
		.msg_id = msg->hdr.msg_id,
		.cmd = cmd,
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	size_t len = 0;
	int err, ret;

	if (cmd != VFIO_USER_DMA_READ && cmd != VFIO_USER_DMA_WRITE)
		return vuc_break(
			dev, -EPROTO,
			"server sent command %u (%s)%s; servers only send DMA_READ/DMA_WRITE",
			cmd, vu_cmd_name(cmd), waiting_for);
	err = dma_serve(dev, msg, &len);
	if (msg->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 0;
	if (err) {
		hdr.flags |= VFIO_USER_F_ERROR;
		hdr.error_no = (uint32_t)-err;
		len = 0;
	}
	hdr.msg_size = sizeof(hdr) + len;
	if (sock == dev->sock)
		pthread_mutex_lock(&dev->send_lock);
	ret = vu_send(sock, &hdr, dev->rx_buf, len, NULL, 0,
		      (int)dev->timeout_ms);
	if (sock == dev->sock)
		pthread_mutex_unlock(&dev->send_lock);
	if (ret)
		return vuc_break(dev, ret, "answering the server's %s: %s",
				 vu_cmd_name(cmd), strerror(-ret));
	return 0;
}

/* The receive thread ------------------------------------------------------ */

/* " while we waited for the reply to X" for the oldest waiter, or "". */
static const char *waited_for(struct vuc_device *dev, char *buf, size_t len)
{
	buf[0] = '\0';
	pthread_mutex_lock(&dev->lock);
	if (dev->waiters)
		snprintf(buf, len, " while we waited for the reply to %s",
			 vu_cmd_name(dev->waiters->cmd));
	pthread_mutex_unlock(&dev->lock);
	return buf;
}

static bool rx_stopping(struct vuc_device *dev)
{
	bool stop;

	pthread_mutex_lock(&dev->lock);
	stop = dev->rx_stop || dev->state == VUC_FAILED;
	pthread_mutex_unlock(&dev->lock);
	return stop;
}

static void rx_failed(struct vuc_device *dev, int err, const struct vu_msg *msg,
		      size_t bound, const char *sock_name)
{
	char w[96];

	waited_for(dev, w, sizeof(w));
	switch (err) {
	case -ETIMEDOUT:
		vuc_break(
			dev, err,
			"server sent a message header on the %s socket but not its body within %u ms%s",
			sock_name, dev->timeout_ms, w);
		break;
	case -ECONNRESET:
		vuc_break(dev, err, "server closed the connection%s", w);
		break;
	case -EPIPE:
		vuc_break(
			dev, err,
			"server closed the connection in the middle of a message (msg_size %u)%s",
			msg->hdr.msg_size, w);
		break;
	case -EMSGSIZE:
		vuc_break(
			dev, err,
			"server sent a message of %u bytes (cmd %u, %s) on the %s socket%s; at most %zu bytes expected",
			msg->hdr.msg_size, msg->hdr.cmd,
			vu_cmd_name(msg->hdr.cmd), sock_name, w,
			bound + sizeof(msg->hdr));
		break;
	case -EPROTO:
		if (msg->hdr.msg_size < sizeof(msg->hdr))
			vuc_break(
				dev, err,
				"server sent a header with msg_size %u (less than the 16-byte header) on the %s socket%s",
				msg->hdr.msg_size, sock_name, w);
		else
			vuc_break(
				dev, err,
				"server sent more than %d fds with one message on the %s socket%s",
				VU_WIRE_MAX_FDS, sock_name, w);
		break;
	default:
		vuc_break(dev, err, "receiving on the %s socket: %s", sock_name,
			  strerror(-err));
		break;
	}
}

/* A reply on the main socket: hand it to its waiter. Takes @msg. */
static int route_reply(struct vuc_device *dev, struct vu_msg *msg)
{
	struct vuc_waiter **pw, *w, *oldest;
	uint16_t id = 0, cmd = 0;
	bool any;

	pthread_mutex_lock(&dev->lock);
	oldest = dev->waiters;
	any = oldest;
	if (any) {
		id = oldest->id;
		cmd = oldest->cmd;
	}
	for (pw = &dev->waiters; (w = *pw); pw = &w->next)
		if (w->id == msg->hdr.msg_id && w->cmd == msg->hdr.cmd)
			break;
	if (w) {
		*pw = w->next;
		w->msg = *msg;
		w->done = true;
		pthread_cond_broadcast(&dev->reply_cond);
	}
	pthread_mutex_unlock(&dev->lock);
	if (w)
		return 0;
	vu_msg_release(msg);
	if (!any)
		return vuc_break(
			dev, -EPROTO,
			"server replied with msg_id %u cmd %u (%s) while we waited for no reply",
			msg->hdr.msg_id, msg->hdr.cmd,
			vu_cmd_name(msg->hdr.cmd));
	return vuc_break(
		dev, -EPROTO,
		"server replied with msg_id %u cmd %u (%s) while we waited for the reply to msg_id %u cmd %u (%s)",
		msg->hdr.msg_id, msg->hdr.cmd, vu_cmd_name(msg->hdr.cmd), id,
		cmd, vu_cmd_name(cmd));
}

static void *rx_main(void *arg)
{
	struct vuc_device *dev = arg;
	int sock = dev->rx_routes ? dev->sock : dev->twin;
	const char *name = dev->rx_routes ? "main" : "twin";
	size_t bound = dev->max_data_xfer_size + VUC_HDR_ALLOWANCE;
	struct vu_msg msg;
	char w[96];
	int ret;

	/* Room for any reply a caller may wait for; each checks its own. */
	if (dev->rx_routes && bound < VUC_MAX_INFO_ARGSZ)
		bound = VUC_MAX_INFO_ARGSZ;
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		uint32_t type;

		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			if (!rx_stopping(dev))
				vuc_break(dev, ret, "polling the %s socket: %s",
					  name, strerror(-ret));
			break;
		}
		if (rx_stopping(dev))
			break;
		ret = vu_recv(sock, &msg, bound, VU_WIRE_MAX_FDS,
			      (int)dev->timeout_ms);
		if (ret) {
			if (!rx_stopping(dev))
				rx_failed(dev, ret, &msg, bound, name);
			break;
		}
		type = msg.hdr.flags & VFIO_USER_F_TYPE_MASK;
		if (type == VFIO_USER_F_TYPE_COMMAND) {
			ret = vuc_serve_command(dev, sock, &msg,
						waited_for(dev, w, sizeof(w)));
			vu_msg_release(&msg);
		} else if (type == VFIO_USER_F_TYPE_REPLY && dev->rx_routes) {
			ret = route_reply(dev, &msg);
		} else {
			ret = vuc_break(
				dev, -EPROTO,
				"server sent a message of type %u (flags 0x%x, cmd %u) on the %s socket%s",
				type, msg.hdr.flags, msg.hdr.cmd, name,
				type == VFIO_USER_F_TYPE_REPLY ?
					", where it sends commands only" :
					waited_for(dev, w, sizeof(w)));
			vu_msg_release(&msg);
		}
		if (ret)
			break;
	}
	return NULL;
}

int vuc_rx_start(struct vuc_device *dev)
{
	int ret;

	dev->rx_buf_len = sizeof(struct vfio_user_dma_region_access) +
			  dev->max_data_xfer_size;
	dev->rx_buf = malloc(dev->rx_buf_len);
	if (!dev->rx_buf)
		return vuc_break(dev, -ENOMEM,
				 "no memory for the receive thread's buffer");
	dev->rx_routes = dev->twin < 0;
	ret = pthread_create(&dev->rx_thread, NULL, rx_main, dev);
	if (ret) {
		dev->rx_routes = false;
		return vuc_break(dev, -ret, "starting the receive thread: %s",
				 strerror(ret));
	}
	dev->rx_running = true;
	return 0;
}

void vuc_rx_stop(struct vuc_device *dev)
{
	if (!dev->rx_running)
		return;
	pthread_mutex_lock(&dev->lock);
	dev->rx_stop = true;
	pthread_mutex_unlock(&dev->lock);
	/* Its next read sees the end; nothing more goes to the server. */
	shutdown(dev->rx_routes ? dev->sock : dev->twin, SHUT_RDWR);
	pthread_join(dev->rx_thread, NULL);
	dev->rx_running = false;
	dev->rx_routes = false;
}

int vuc_rx_call(struct vuc_device *dev, struct vuc_waiter *w,
		struct vfio_user_header *hdr, const void *req, size_t len,
		const int *fds, unsigned int nr_fds, int64_t deadline)
{
	struct vuc_waiter **pw;
	bool send_err = false;
	struct timespec ts;
	int ret;

	pthread_mutex_lock(&dev->send_lock);
	pthread_mutex_lock(&dev->lock);
	hdr->msg_id = dev->next_msg_id++;
	w->id = hdr->msg_id;
	w->cmd = hdr->cmd;
	for (pw = &dev->waiters; *pw; pw = &(*pw)->next)
		;
	*pw = w;
	pthread_mutex_unlock(&dev->lock);
	ret = vu_send(dev->sock, hdr, req, len, fds, nr_fds,
		      (int)dev->timeout_ms);
	pthread_mutex_unlock(&dev->send_lock);

	ts.tv_sec = deadline / 1000;
	ts.tv_nsec = (deadline % 1000) * 1000000;
	pthread_mutex_lock(&dev->lock);
	if (ret)
		send_err = true;
	while (!ret && !w->done) {
		ret = pthread_cond_timedwait(&dev->reply_cond, &dev->lock, &ts);
		ret = ret == ETIMEDOUT ? -ETIMEDOUT : 0;
	}
	if (!w->done) {
		/* Not handed over: take ourselves off the list. */
		for (pw = &dev->waiters; *pw; pw = &(*pw)->next)
			if (*pw == w) {
				*pw = w->next;
				break;
			}
	}
	pthread_mutex_unlock(&dev->lock);
	if (w->done)
		return w->err ? vuc_fail_broken(dev, w->err) : 0;
	if (!send_err)
		return vuc_break(dev, ret,
				 "no complete reply to %s within %u ms",
				 vu_cmd_name(hdr->cmd), dev->timeout_ms);
	return vuc_send_failed(dev, hdr->cmd, ret, len);
}
