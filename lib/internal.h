/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvfio-user-client internals, shared by the library's source files:
 *
 *   client.c     handle, options, errors, connect, getters
 *   request.c    send one command, wait for its reply
 *   negotiate.c  VERSION and its JSON capabilities
 *   discover.c   device, region, io-fd and IRQ discovery
 *   region.c     region access, interrupts, reset
 *   kernel.c     attaching to vfio_user.ko, and the kernel backend
 *   migration.c  migration states and data, dirty tracking
 *   serve.c      the userspace backend's receive thread: serving the
 *                server's DMA_READ/DMA_WRITE from the DMA map, routing
 *                replies to their callers when no twin socket carries the
 *                server's commands
 *
 * Not part of the public API.
 */
#ifndef VUC_INTERNAL_H
#define VUC_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio-user-client.h"
#include "wire.h"

/* Limits on what a server may claim; beyond them it is broken or hostile. */
#define VUC_MAX_REGIONS 100 /* QEMU's VFIO_USER_MAX_REGIONS */
#define VUC_MAX_IRQS 50 /* QEMU's VFIO_USER_MAX_IRQS */
#define VUC_MAX_INFO_ARGSZ (64 * 1024) /* region info, io-fds replies */
#define VUC_MAX_VERSION_REPLY (16 * 1024) /* VERSION reply payload */
#define VUC_MAX_MSG_FDS_LIMIT VFIO_USER_LIBVFIO_USER_MAX_MSG_FDS
#define VUC_MIN_XFER 512 /* smallest sane max_data_xfer_size */
#define VUC_MAX_XFER VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE
/* Room for a command's fixed part on top of max_data_xfer_size of data. */
#define VUC_HDR_ALLOWANCE 64

/* Where a handle is in its life. */
enum vuc_state {
	VUC_NEW, /* not connected yet */
	VUC_CONNECTING, /* negotiating and discovering */
	VUC_READY, /* connected and discovered */
	VUC_FAILED, /* connect failed, or the connection broke */
};

/*
 * struct vuc_region_store - a region and the memory behind its public view
 * @pub: what vuc_get_region() hands out; its pointers alias the fields below
 * @caps: owned copy of the capability chain
 * @areas: owned sparse areas
 * @io_fds: owned io-fd sub-regions
 * @fds: every fd of the GET_REGION_IO_FDS reply; io_fds[i].fd points into
 *	it, so entries may share an fd and each fd is closed exactly once
 * @nr_fds: entries in @fds
 */
struct vuc_region_store {
	struct vuc_region pub;
	void *caps;
	struct vuc_sparse_area *areas;
	struct vuc_io_fd *io_fds;
	int *fds;
	unsigned int nr_fds;
};

/*
 * struct vuc_map - one DMA mapping as the userspace backend serves it
 * @iova: first DMA address
 * @size: bytes
 * @vaddr: the memory in this process, NULL if the caller gave none
 * @flags: VUC_DMA_READ / VUC_DMA_WRITE
 * @dirty: while the library logs (dev->log_pgsize set), a bit per log page
 *	the mapping touches, from the one holding @iova on: pages it wrote
 *	while serving DMA_WRITE
 */
struct vuc_map {
	uint64_t iova;
	uint64_t size;
	uint8_t *vaddr;
	uint32_t flags;
	uint64_t *dirty;
};

/*
 * struct vuc_waiter - a caller waiting for its reply while the receive
 * thread reads the main socket (no twin socket)
 * @next: list of waiters, oldest first
 * @id: msg_id of the request
 * @cmd: its command
 * @done: the thread handed over @msg, or the connection broke (@err)
 * @err: 0, or the -errno the connection broke with
 * @msg: the reply
 */
struct vuc_waiter {
	struct vuc_waiter *next;
	uint16_t id;
	uint16_t cmd;
	bool done;
	int err;
	struct vu_msg msg;
};

struct vuc_device {
	/* options, defaults filled in */
	unsigned int timeout_ms;
	unsigned int flags;
	uint32_t max_data_xfer_size;

	enum vuc_state state;
	int sock;
	int twin;
	int kfd; /* attached /dev/vfio-user fd, or -1 */
	uint32_t posted_write_regions;
	uint16_t next_msg_id;

	struct vuc_caps caps;
	struct vfio_user_device_info info;
	struct vuc_region_store *regions; /* info.num_regions entries */
	struct vfio_irq_info *irqs; /* info.num_irqs entries */

	/* migration.c */
	struct {
		bool flags_known;
		uint64_t flags; /* VFIO_USER_MIGRATION_* */
		int state; /* last known state, -1 unknown */
		bool log_server; /* server DMA logging started */
		bool log_kernel; /* kernel dirty log started */
		bool log_lib; /* the library's own log started (serve.c) */
		uint64_t log_pgsize; /* page size the VMM asked for */
		uint64_t kernel_pgsize; /* the kernel log's page size */
	} mig;

	char errmsg[512]; /* what the last failing call went wrong with */
	char broken[512]; /* why the connection became unusable */

	/*
	 * serve.c. Locks, outermost first: call_lock (one caller reading
	 * the main socket at a time, when callers read it), send_lock (one
	 * sender on the main socket), dma_lock (the DMA map), lock (state,
	 * messages, waiters, msg ids).
	 */
	pthread_mutex_t lock;
	pthread_mutex_t call_lock;
	pthread_mutex_t send_lock;
	pthread_rwlock_t dma_lock;
	pthread_cond_t reply_cond; /* a waiter is done */
	bool rx_running; /* the receive thread was started */
	bool rx_routes; /* it reads the main socket: no twin socket */
	bool rx_stop; /* vuc_device_free() is stopping it */
	pthread_t rx_thread;
	struct vuc_waiter *waiters;
	struct vuc_map *maps; /* sorted by iova, no overlaps */
	unsigned int nr_maps;
	unsigned int cap_maps;
	uint64_t log_pgsize; /* the library's dirty log, 0 when off */
	uint8_t *rx_buf; /* the thread's DMA_READ reply buffer */
	size_t rx_buf_len;
};

/*
 * The last vuc_call() of this thread got an error reply (the connection
 * stays usable). Per thread, so that callers on other threads do not
 * change it between a call and the check of its outcome.
 */
extern __thread bool vuc_server_error;

/* client.c: errors */

/* Record a failure of the current call; returns @err (a negative errno). */
int vuc_fail(struct vuc_device *dev, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * As vuc_fail(), and the connection is unusable from now on: the stream may
 * be out of step, so every later call fails fast with -ENOTCONN. The socket
 * is shut down so the server sees the end too; the fds stay open (their
 * numbers reserved) until vuc_device_free().
 */
int vuc_break(struct vuc_device *dev, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* 0 if requests may be sent, else a vuc_fail()ed -ENOTCONN. */
int vuc_check_usable(struct vuc_device *dev);

/* "Invalid argument (EINVAL)" for a positive errno. */
const char *vuc_errname(int err, char *buf, size_t len);

/* request.c */

/* The -errno and message of a broken connection, for a waiting caller. */
int vuc_fail_broken(struct vuc_device *dev, int err);

/**
 * vuc_call() - send a command and wait for its reply
 * @dev: the handle
 * @cmd: VFIO_USER_* command
 * @req: request payload (@len bytes)
 * @len: payload length
 * @fds: fds to pass with the request
 * @nr_fds: number of @fds
 * @max_fds: most fds the reply may carry; more is a protocol error
 * @max_reply: largest reply payload the caller can take; the receive bound
 *	is at least our max_data_xfer_size plus VUC_HDR_ALLOWANCE
 * @reply: the reply on success; release it with vu_msg_release()
 *
 * Returns 0 on a successful reply, the server's -errno for an error reply
 * (vuc_server_error set; the connection stays usable), -EPROTO for a reply
 * with too many fds (connection usable), or another -errno after which the
 * connection is broken (see vuc_break()). Server commands arriving on the
 * main socket meanwhile are answered with an error and the wait goes on.
 */
int vuc_call(struct vuc_device *dev, uint16_t cmd, const void *req, size_t len,
	     const int *fds, unsigned int nr_fds, unsigned int max_fds,
	     size_t max_reply, struct vu_msg *reply);

/*
 * request.c, for serve.c: the checks of a reply a routed caller received
 * (error replies, fds); returns as vuc_call().
 */
int vuc_send_failed(struct vuc_device *dev, uint16_t cmd, int ret, size_t len);
int vuc_check_reply(struct vuc_device *dev, uint16_t cmd, unsigned int max_fds,
		    size_t max_reply, struct vu_msg *reply);

/* serve.c */

/* Start the receive thread (userspace backend, once connected). */
int vuc_rx_start(struct vuc_device *dev);
/* Stop and join it; the sockets are still open. */
void vuc_rx_stop(struct vuc_device *dev);
/*
 * Routed mode: send a command with id @w->id and wait for the thread to
 * hand over its reply, by @deadline (CLOCK_MONOTONIC ms).
 */
int vuc_rx_call(struct vuc_device *dev, struct vuc_waiter *w,
		struct vfio_user_header *hdr, const void *req, size_t len,
		const int *fds, unsigned int nr_fds, int64_t deadline);
/* The DMA map of the userspace backend. */
int vuc_map_add(struct vuc_device *dev, uint64_t iova, uint64_t size,
		void *vaddr, uint32_t flags);
/* Remove the mapping at exactly [iova, +size); -ENOENT if there is none. */
int vuc_map_remove(struct vuc_device *dev, uint64_t iova, uint64_t size,
		   struct vuc_map *old);
void vuc_map_clear(struct vuc_device *dev);
/*
 * The library's dirty log of what its receive thread writes: start at
 * @pgsize, stop, and OR the pages of [iova, +length) written since the
 * last report into @bitmap (one bit per @pgsize page), clearing them.
 */
int vuc_lib_log_start(struct vuc_device *dev, uint64_t pgsize);
void vuc_lib_log_stop(struct vuc_device *dev);
void vuc_lib_log_report(struct vuc_device *dev, uint64_t iova, uint64_t length,
			uint64_t *bitmap);
/* A DMA_READ/DMA_WRITE from the server: serve it and answer on @sock. */
int vuc_serve_command(struct vuc_device *dev, int sock, struct vu_msg *msg,
		      const char *waiting_for);
int64_t vuc_now_ms(void);

/* negotiate.c */
int vuc_negotiate(struct vuc_device *dev);

/* discover.c */
int vuc_discover(struct vuc_device *dev);
void vuc_forget_device(struct vuc_device *dev);

/* region.c: a struct vfio_irq_set with @dlen bytes of data; NULL if no memory. */
struct vfio_irq_set *vuc_irq_set_new(uint32_t flags, uint32_t index,
				     uint32_t start, uint32_t count,
				     const void *data, size_t dlen);

/* kernel.c: the kernel backend, used once dev->kfd >= 0 */
int vuc_kernel_attach(struct vuc_device *dev);
ssize_t vuc_kernel_region_rw(struct vuc_device *dev, unsigned int index,
			     uint64_t offset, void *buf, size_t count,
			     bool write);
int vuc_kernel_set_irqs(struct vuc_device *dev, uint32_t flags, uint32_t index,
			uint32_t start, uint32_t count, const void *data,
			size_t data_size);
int vuc_kernel_reset(struct vuc_device *dev);
/*
 * One VFIO_USER_RAW_MSG: @len request bytes out, at most @cap reply bytes
 * into @reply; *@reply_len gets the reply's length. -errno on failure
 * (the server's errno for its error reply).
 */
int vuc_kernel_raw(struct vuc_device *dev, uint16_t cmd, const void *req,
		   size_t len, void *reply, size_t cap, size_t *reply_len);
/* The kernel's connection broke: say why in *@err. */
bool vuc_kernel_broken(struct vuc_device *dev, int *err);

#endif /* VUC_INTERNAL_H */
