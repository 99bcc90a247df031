/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio-user client in the kernel: internal definitions.
 */
#ifndef _VFIO_USER_INTERNAL_H
#define _VFIO_USER_INTERNAL_H

#include <linux/bits.h>
#include <linux/gfp.h>
#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/uio.h>
#include <linux/vfio.h>
#include <linux/vfio_user.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "compat.h"

struct dentry;
struct eventfd_ctx;
struct file;
struct iov_iter;
struct kiocb;
struct mem_cgroup;
struct mm_struct;
struct pid;
struct seq_file;
struct sock;
struct socket;
struct task_struct;

/*
 * Buffers whose size a user chose: if memory is short, fail the call
 * rather than warn or wake the OOM killer.
 */
#define VFIO_USER_GFP_LARGE	(GFP_KERNEL_ACCOUNT | __GFP_NOWARN | \
				 __GFP_RETRY_MAYFAIL)

/* Bounds on what a server (through the VMM's attach) may describe. */
#define VFIO_USER_MAX_REGIONS		100
#define VFIO_USER_MAX_IRQS		50
#define VFIO_USER_MAX_IRQ_COUNT		2048
#define VFIO_USER_MAX_CAP_SIZE		SZ_64K
#define VFIO_USER_MAX_IO_FDS		64
#define VFIO_USER_MAX_XFER		SZ_64M
#define VFIO_USER_MIN_XFER		8
#define VFIO_USER_MAX_MSG_FDS		1024
#define VFIO_USER_TIMEOUT_MS_MAX	(10 * 60 * 1000)
#define VFIO_USER_MAX_DMA_SIZE		BIT_ULL(43)	/* 8 TiB */

/**
 * struct vfio_user_io_fd - an io-fd sub-region the server asked for
 * @type: VFIO_USER_IO_FD_TYPE_*
 * @flags: VFIO_USER_IOEVENTFD_FLAG_* or VFIO_USER_IOREGIONFD_FLAG_*
 * @offset: start within the region
 * @size: bytes (0 for an ioeventfd: any size)
 * @datamatch: value a write must carry, with the DATAMATCH flag
 * @user_data: echoed in ioregionfd commands
 * @file: the eventfd or ioregionfd file (a reference)
 * @trigger: ioeventfd (shadow or not): its eventfd
 * @shadow_file: shadow ioeventfd: the shadow memory (a reference, counted
 *	as a writable mapping of it so that it cannot be sealed meanwhile)
 * @shadow_page: shadow ioeventfd: the page of @shadow_file that holds the
 *	value (a reference)
 * @shadow_in_page: shadow ioeventfd: where in @shadow_page the value goes
 * @sock: ioregionfd: its socket (@file's)
 * @lock: ioregionfd: serializes command/response pairs, @broken and
 *	@stale_responses
 * @broken: ioregionfd: its peer misbehaved; accesses fail from now on
 * @stale_responses: ioregionfd: responses still owed to accesses that a
 *	fatal signal ended; the next access takes them first
 * @claimed: ioregionfd: @sock is on the claimed-sockets list
 * @watching: ioregionfd: @sock's data_ready is ours
 * @saved_data_ready: ioregionfd: @sock's own data_ready
 * @watch: ioregionfd: looks at what arrived while no access waits for it
 * @dev_name: its device's name, for messages
 */
struct vfio_user_io_fd {
	u32 type;
	u32 flags;
	u64 offset;
	u64 size;
	u64 datamatch;
	u64 user_data;
	struct file *file;
	struct eventfd_ctx *trigger;
	struct file *shadow_file;
	struct page *shadow_page;
	unsigned int shadow_in_page;
	struct socket *sock;
	struct mutex lock;		/* ioregionfd commands, @broken */
	bool broken;
	u32 stale_responses;
	bool claimed;
	bool watching;
	void (*saved_data_ready)(struct sock *sk);
	struct work_struct watch;
	const char *dev_name;
};

/**
 * struct vfio_user_region - a region as attached; immutable after attach
 * @info: VFIO region info as reported to the VMM (argsz: the full size with
 *	capabilities)
 * @caps: the capability bytes that follow @info, or NULL
 * @cap_size: bytes at @caps
 * @file: backing of mmap, or NULL
 * @file_readable: a direct shared mapping of @file may read it
 * @file_writable: a direct shared mapping of @file may write it (both as
 *	found at attach: a probe mapping, so the LSM had its say)
 * @holds_writable: @file's mapping counts us as a writable mapping, so it
 *	cannot be sealed against writes while the device lives
 * @nr_areas: sparse mmap areas in @areas
 * @areas: parts of the region that may be mapped
 * @nr_io_fds: entries in @io_fds
 * @io_fds: io-fd sub-regions
 * @posted_writes: the VMM asked for writes without replies
 */
struct vfio_user_region {
	struct vfio_region_info info;
	void *caps;
	u32 cap_size;
	struct file *file;
	bool file_readable;
	bool file_writable;
	bool holds_writable;
	u32 nr_areas;
	struct vfio_region_sparse_mmap_area *areas;
	u32 nr_io_fds;
	struct vfio_user_io_fd *io_fds;
	bool posted_writes;
};

/**
 * struct vfio_user_stat_counters - per-device counters
 * @bytes_sent: bytes sent
 * @bytes_received: bytes received
 * @error_replies: replies with the error flag
 * @timeouts: waits that timed out
 * @protocol_errors: malformed or unexpected messages
 * @server_requests: commands from the server
 * @posted_writes: writes sent without a reply
 * @sent: messages sent, by command (index 0: any unknown command); their
 *	sum is the number of messages sent (vfio_user_cmd_stats_sum())
 * @received: messages received, by command (likewise)
 * @region_reads: region reads sent to the server (one per message)
 * @region_writes: region writes sent to the server, posted or not
 * @write_multi: REGION_WRITE_MULTI batches sent
 * @dma_reads: DMA_READ requests of the server served
 * @dma_writes: DMA_WRITE requests of the server served
 * @dma_bytes: bytes those requests moved
 * @dma_errors: DMA requests refused or failed
 * @ioeventfd_signals: region writes that signalled an ioeventfd instead
 *	of becoming a message
 */
struct vfio_user_stat_counters {
	atomic64_t bytes_sent;
	atomic64_t bytes_received;
	atomic64_t error_replies;
	atomic64_t timeouts;
	atomic64_t protocol_errors;
	atomic64_t server_requests;
	atomic64_t posted_writes;
	atomic64_t sent[VFIO_USER_MAX_COMMAND];
	atomic64_t received[VFIO_USER_MAX_COMMAND];
	atomic64_t region_reads;
	atomic64_t region_writes;
	atomic64_t write_multi;
	atomic64_t dma_reads;
	atomic64_t dma_writes;
	atomic64_t dma_bytes;
	atomic64_t dma_errors;
	atomic64_t ioeventfd_signals;
};

/* The counter of command @cmd in @array (sent or received). */
static inline atomic64_t *vfio_user_cmd_stat(atomic64_t *array, u16 cmd)
{
	return &array[cmd < VFIO_USER_MAX_COMMAND ? cmd : 0];
}

/* All messages of @array (sent or received), whatever their command. */
static inline u64 vfio_user_cmd_stats_sum(const atomic64_t *array)
{
	u64 sum = 0;
	unsigned int i;

	for (i = 0; i < VFIO_USER_MAX_COMMAND; i++)
		sum += atomic64_read(&array[i]);
	return sum;
}

/**
 * struct vfio_user_request - one command waiting for its reply
 * @kref: held by the waiter, by the pending table while the id is
 *	outstanding, and by the receive worker while it fills the reply
 * @id: message id; the pending table's key
 * @cmd: the command, which the reply must echo
 * @abandoned: the waiter gave up (fatal signal); drop the reply quietly
 * @end: called once @status and the reply are final, by whichever task
 *	received the reply or ended the connection, when nobody waits on
 *	@done (asynchronous I/O); NULL otherwise
 * @end_data: for @end
 * @deadline: when the reply is overdue (jiffies): one timeout after sending
 * @sent_ns: when the command was sent (ktime_get_ns()), for the round-trip
 *	latency the receive tracepoint reports; 0 if it was not traced then
 * @done: completed once @status and the reply are final
 * @status: 0 or a negative errno: transport failure, or the server's error
 * @reply_max: room at @reply
 * @reply_len: payload bytes received
 * @reply: the reply payload
 */
struct vfio_user_request {
	struct kref kref;
	u16 id;
	u16 cmd;
	bool abandoned;
	void (*end)(struct vfio_user_request *req);
	void *end_data;
	unsigned long deadline;
	u64 sent_ns;
	struct completion done;
	int status;
	size_t reply_max;
	size_t reply_len;
	u8 reply[];
};

/**
 * struct vfio_user_dma_xfer - a server's DMA_READ or DMA_WRITE served
 *	straight from the VMM's memory, one window of pinned pages at a time
 * @iova: DMA address of the current window
 * @left: bytes from @iova to the end of the transfer
 * @write: the server writes the VMM's memory
 * @busy: the serving worker's vfio_user_device.dma_busy, while in flight
 * @pages: room for VFIO_USER_DMA_WINDOW pages, NULL until first needed
 * @bvec: the window's pages, after one entry kept for a reply's headers
 * @nr_pages: pages pinned for the current window
 * @win_len: bytes of the current window
 * @copy: the current window is in a bounce buffer, not pinned
 */
struct vfio_user_dma_xfer {
	u64 iova;
	u64 left;
	bool write;
	unsigned long *busy;
	struct page **pages;
	struct bio_vec *bvec;
	unsigned int nr_pages;
	size_t win_len;
	bool copy;
};

/* Pages pinned at once: 1 MiB, the usual transfer limit, in one window. */
#define VFIO_USER_DMA_WINDOW		(SZ_1M / PAGE_SIZE + 1)

/**
 * struct vfio_user_rx - the message a receiver is part-way through
 * @hdr: its header
 * @got: bytes of it received so far, header included; 0 between messages
 * @body: where the rest of the body goes, or NULL to throw it away
 * @req: the request this reply completes (claimed from the pending table,
 *	with the table's reference), or NULL
 * @for_worker: a server command, whose body only the worker may take
 * @cmd_ready: the command's access header is in and judged
 * @xfer: the body goes into the worker's vfio_user_worker.xfer, which
 *	whoever gives up on the message must end
 * @deadline: when the rest of the message is overdue (jiffies)
 * @ahead: bytes received from the socket before they were asked for: a
 *	small message comes in with one receive, not one for the header and
 *	one for the body
 * @ahead_pos: the next byte of @ahead to hand out
 * @ahead_len: bytes in @ahead
 */
struct vfio_user_rx {
	struct vfio_user_header hdr;
	size_t got;
	u8 *body;
	struct vfio_user_request *req;
	bool for_worker;
	bool cmd_ready;
	bool xfer;
	unsigned long deadline;
	u16 ahead_pos;
	u16 ahead_len;
	u8 ahead[128];
};

/**
 * struct vfio_user_worker - a socket's receiver role and its receive worker
 * @conn: its connection
 * @sock: the socket it reads
 * @replies: replies may arrive here (the main socket), not only commands
 * @task: the device's kthread (a reference), which serves both sockets;
 *	in @worker only, NULL elsewhere
 * @recv_lock: the receiver role: whoever holds it reads @sock and owns
 *	@rx, the worker or a task waiting for its own reply
 * @rx: the message being received, which any next receiver continues
 * @retime: the worker is to compute its sleep anew (a new timeout, or a
 *	request nobody waits for that is due before the worker wakes)
 * @sleep_until: when the worker plans to wake next (jiffies); 0 while it
 *	computes that
 * @saved_data_ready: @sock's own data_ready callback
 * @saved_state_change: @sock's own state_change callback
 * @saved_write_space: @sock's own write_space callback
 * @hooked: @sock's callbacks are ours
 * @index: this worker's entry in vfio_user_device.dma_busy
 * @cmd: header of the server command being served
 * @cmd_error: 0, or the negative errno the command is answered with
 * @cmd_dma: the command is a well-formed DMA_READ or DMA_WRITE
 * @cmd_page: a page for a server command: its reply's header, a DMA
 *	command's access header, a small transfer's data; NULL until the
 *	first command, so that an idle device holds none
 * @cmd_vec: where @cmd_iter points into @cmd_page
 * @cmd_iter: where the rest of the command's body, or its reply's data,
 *	is: the VMM's memory (@xfer) or @cmd_page
 * @xfer: the command's transfer from pinned pages, if any
 * @scratch: a page for bodies that are thrown away, NULL until needed
 */
struct vfio_user_worker {
	struct vfio_user_conn *conn;
	struct socket *sock;
	bool replies;
	struct task_struct *task;
	struct mutex recv_lock;		/* receiver role, @rx */
	struct vfio_user_rx rx;
	bool retime;
	unsigned long sleep_until;
	void (*saved_data_ready)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);
	bool hooked;
	unsigned int index;
	struct vfio_user_header cmd;
	int cmd_error;
	bool cmd_dma;
	u8 *cmd_page;
	struct kvec cmd_vec;
	struct iov_iter cmd_iter;
	struct vfio_user_dma_xfer xfer;
	u8 *scratch;
};

/**
 * struct vfio_user_conn - the socket(s) of an attached device
 * @sock: the main socket: our commands and their replies (and the server's
 *	commands when there is no twin socket)
 * @twin: the server's socket for its own commands, or NULL
 * @send_lock: serializes whole messages on @sock; ids are allocated under
 *	it, so that a failed send cannot erase an id given out again
 * @pending: outstanding requests by message id; its xa_lock also protects
 *	@broken and the request fields the receive worker sets
 * @next_id: cursor for cyclic id allocation among the low ids (under the
 *	xa_lock)
 * @next_high_id: the same, for ids above those (see vfio_user_alloc_id())
 * @posted_id: ids of messages that expect no reply
 * @unwaited: requests in @pending that nobody waits for: abandoned by a
 *	killed waiter, or asynchronous; the worker watches their deadlines
 * @broken: 0, or the negative errno that broke the connection; set once
 * @timeout_ms: bound on every wait for the server
 * @reset_timeout_ms: bound on the wait for the reply to DEVICE_RESET
 * @max_msg_fds: the server's limit of fds per message
 * @max_xfer: largest data count we send in one message (the server's)
 * @client_max_xfer: largest data count the server may send us
 * @write_multiple: the server takes REGION_WRITE_MULTI
 * @multi_lock: protects @multi and @multi_flushing
 * @multi: small posted writes gathered while the socket is busy or the
 *	server behind, or NULL without @write_multiple
 * @multi_out: the same, on their way out; under @send_lock
 * @multi_flushing: a task is on its way to send @multi
 * @multi_queued: @multi holds writes
 * @multi_wake: the worker is to send @multi (the server caught up, or the
 *	task on its way was killed)
 * @worker: receiver role of @sock, with the device's one kthread
 * @twin_worker: receiver role of @twin (no socket without one)
 * @worker_wq: the kthread waits here for work on either socket: data, or
 *	a message left part-way, while nobody holds the receiver role
 * @mm: the attaching task's mm_struct (a count reference only: the
 *	address space itself is borrowed per use, so the VMM's exit frees it)
 * @mm_notifier: ends the connection when that address space goes away
 * @memcg: the owner's memory cgroup (a reference), charged for what the
 *	workers allocate
 * @owner_uid: the user the workers are counted against
 * @nr_workers: workers counted against @owner_uid
 * @poll_wq: woken when the connection breaks
 * @stats: counters
 */
struct vfio_user_conn {
	struct socket *sock;
	struct socket *twin;
	struct mutex send_lock;		/* whole messages on @sock */
	struct xarray pending;
	u32 next_id;
	u32 next_high_id;
	atomic_t posted_id;
	atomic_t unwaited;
	int broken;
	unsigned int timeout_ms;
	unsigned int reset_timeout_ms;
	u32 max_msg_fds;
	u32 max_xfer;
	u32 client_max_xfer;
	bool write_multiple;
	struct mutex multi_lock;	/* @multi, @multi_flushing */
	struct vfio_user_wr_multi *multi;
	struct vfio_user_wr_multi *multi_out;
	bool multi_flushing;
	bool multi_queued;
	bool multi_wake;
	struct vfio_user_worker worker;
	struct vfio_user_worker twin_worker;
	wait_queue_head_t worker_wq;
	struct mm_struct *mm;
	struct mmu_notifier mm_notifier;
	struct mem_cgroup *memcg;
	kuid_t owner_uid;
	unsigned int nr_workers;
	wait_queue_head_t poll_wq;
	struct vfio_user_stat_counters stats;
};

#define VFIO_USER_NAME_LEN	24

/**
 * struct vfio_user_device - one open of /dev/vfio-user, one device connection
 * @kref: object lifetime; the open file holds one reference
 * @id: number of this device among the open ones (an IDA's), in @name
 * @name: "vfio-user<@id>": in messages, traces, debugfs and fdinfo
 * @debugfs: its directory in debugfs, or NULL
 * @owner_pid: the process that attached it (a reference), or NULL
 * @server_pid: the server's process as its socket's peer credentials
 *	name it (a reference), or NULL
 * @lock: serializes attach and the attach state against the device
 *	operations
 * @attached: VFIO_USER_ATTACH succeeded; everything below is then
 *	immutable until release, except where noted
 * @device_flags: VFIO_DEVICE_FLAGS_* from the server
 * @num_regions: entries in @regions
 * @regions: the regions
 * @num_irqs: entries in @irqs
 * @irqs: IRQ infos
 * @mmapped: a region was mmapped: posted writes are off from now on
 * @pgsizes: DMA page sizes the server supports
 * @max_dma_maps: most mappings the server accepts
 * @no_fd_sharing: never pass memory fds to the server
 * @async_in_flight: asynchronous region accesses not yet completed
 * @dma_ops_lock: serializes map, unmap and dirty-log changes, which may
 *	wait for the server
 * @dma_lock: protects @dma_tree, @nr_dmas and the mappings' state; held
 *	only briefly by map and unmap, for reading while serving DMA
 * @dma_tree: the mappings, by DMA address
 * @nr_dmas: mappings in @dma_tree
 * @dirty_lock: protects the dirty bitmaps and @dirty_pgsize changes
 * @dirty_pgsize: page size of the dirty log, 0 while logging is off
 * @dma_busy: per receive worker (main, twin), odd while a DMA transfer
 *	served from pinned pages is in flight; unmaps wait for it to end
 * @dma_idle: where unmaps wait for @dma_busy
 * @irq_lock: protects @err_trigger and @req_trigger
 * @err_trigger: eventfd of the ERR IRQ index, signalled when the
 *	connection breaks
 * @req_trigger: eventfd of the REQ IRQ index, likewise
 * @conn: the connection
 */
struct vfio_user_device {
	struct kref kref;
	int id;
	char name[VFIO_USER_NAME_LEN];
	struct dentry *debugfs;
	struct pid *owner_pid;
	struct pid *server_pid;
	struct mutex lock;		/* attach, and @conn.timeout_ms */
	bool attached;
	u32 device_flags;
	u32 num_regions;
	struct vfio_user_region *regions;
	u32 num_irqs;
	struct vfio_irq_info *irqs;
	bool mmapped;
	u64 pgsizes;
	u32 max_dma_maps;
	bool no_fd_sharing;
	atomic_t async_in_flight;
	struct mutex dma_ops_lock;	/* map, unmap, dirty-log changes */
	struct rw_semaphore dma_lock;	/* @dma_tree, @nr_dmas, mapping state */
	struct rb_root_cached dma_tree;
	u32 nr_dmas;
	spinlock_t dirty_lock;		/* dirty bitmaps, @dirty_pgsize */
	u64 dirty_pgsize;
	unsigned long dma_busy[2];
	wait_queue_head_t dma_idle;
	struct mutex irq_lock;		/* @err_trigger, @req_trigger */
	struct eventfd_ctx *err_trigger;
	struct eventfd_ctx *req_trigger;
	struct vfio_user_conn conn;
};

/* Messages about a device name it. */
#define vu_warn_ratelimited(vdev, fmt, ...) \
	pr_warn_ratelimited("%s: " fmt, (vdev)->name, ##__VA_ARGS__)
#define vu_dbg(vdev, fmt, ...) \
	pr_debug("%s: " fmt, (vdev)->name, ##__VA_ARGS__)

/* main.c */
unsigned int vfio_user_default_timeout_ms(void);
unsigned int vfio_user_default_reset_timeout_ms(void);
unsigned int vfio_user_max_workers_per_user(void);

/* conn.c */
int vfio_user_conn_start(struct vfio_user_device *vdev, struct socket *sock,
			 struct socket *twin);
void vfio_user_conn_stop(struct vfio_user_conn *conn);
int vfio_user_sock_wait(struct socket *sock, bool out, long *timeout);
void vfio_user_sock_close(struct socket *sock);
void vfio_user_conn_break(struct vfio_user_conn *conn, int err);
void vfio_user_conn_set_timeout(struct vfio_user_conn *conn,
				unsigned int timeout_ms, bool reset);
int vfio_user_conn_status(struct vfio_user_conn *conn);
struct vfio_user_request *vfio_user_request_alloc(size_t reply_max);
void vfio_user_request_put(struct vfio_user_request *req);
int vfio_user_send_posted(struct vfio_user_conn *conn, u16 cmd,
			  const void *payload, size_t len);
int vfio_user_call(struct vfio_user_conn *conn, u16 cmd, const void *payload,
		   size_t len, const int *fds, unsigned int nr_fds,
		   size_t reply_max, struct vfio_user_request **reply);
int vfio_user_call_begin(struct vfio_user_conn *conn, u16 cmd,
			 const void *payload, size_t len, const int *fds,
			 unsigned int nr_fds, size_t reply_max,
			 struct vfio_user_request **reqp);
int vfio_user_call_end(struct vfio_user_conn *conn,
		       struct vfio_user_request *req,
		       struct vfio_user_request **reply);
int vfio_user_call_async(struct vfio_user_conn *conn,
			 struct vfio_user_request *req, u16 cmd,
			 const void *payload, size_t len, bool nowait);

/* attach.c */
bool vfio_user_is_unix_stream(struct socket *sock);
int vfio_user_claim_socket(struct socket *sock);
void vfio_user_unclaim_socket(struct socket *sock);
int vfio_user_attach(struct vfio_user_device *vdev,
		     struct vfio_user_attach __user *uarg);
void vfio_user_detach(struct vfio_user_device *vdev);

/* dma.c */
int vfio_user_dma_rw(struct vfio_user_device *vdev, u64 iova, void *buf,
		     u64 count, bool write);
int vfio_user_dma_xfer_begin(struct vfio_user_device *vdev,
			     struct vfio_user_dma_xfer *x, u64 iova, u64 count,
			     bool write, unsigned int worker);
int vfio_user_dma_xfer_pin(struct vfio_user_device *vdev,
			   struct vfio_user_dma_xfer *x, struct mm_struct *mm);
int vfio_user_dma_xfer_bounce(struct vfio_user_device *vdev,
			      struct vfio_user_dma_xfer *x, void *bounce,
			      size_t room);
void vfio_user_dma_xfer_zeros(struct vfio_user_dma_xfer *x, void *bounce,
			      size_t room);
int vfio_user_dma_xfer_advance(struct vfio_user_device *vdev,
			       struct vfio_user_dma_xfer *x, void *bounce,
			       size_t done);
void vfio_user_dma_xfer_end(struct vfio_user_device *vdev,
			    struct vfio_user_dma_xfer *x, size_t done);
long vfio_user_dma_ioctl(struct vfio_user_device *vdev, unsigned int cmd,
			 void __user *arg);
void vfio_user_dma_release(struct vfio_user_device *vdev);

/* debugfs.c */
void vfio_user_debugfs_init(void);
void vfio_user_debugfs_exit(void);
void vfio_user_debugfs_add(struct vfio_user_device *vdev);
void vfio_user_debugfs_remove(struct vfio_user_device *vdev);
void vfio_user_stats_show(struct seq_file *m, struct vfio_user_device *vdev);

/* ioevent.c */
ssize_t vfio_user_io_fd_access(struct vfio_user_device *vdev,
			       struct vfio_user_region *region, u64 offset,
			       char __user *buf, size_t count, bool write);
int vfio_user_io_fd_setup(struct vfio_user_io_fd *io);
void vfio_user_io_fd_release(struct vfio_user_io_fd *io);
long vfio_user_get_ioeventfds(struct vfio_user_device *vdev, void __user *arg);

/* device.c */
long vfio_user_device_ioctl(struct vfio_user_device *vdev, unsigned int cmd,
			    unsigned long arg);
ssize_t vfio_user_device_rw(struct vfio_user_device *vdev, char __user *buf,
			    size_t count, loff_t pos, bool write);
ssize_t vfio_user_device_rw_iter(struct vfio_user_device *vdev,
				 struct kiocb *iocb, struct iov_iter *iter,
				 bool write);
int vfio_user_device_mmap(struct vfio_user_device *vdev,
			  struct vm_area_struct *vma);
void vfio_user_device_broken(struct vfio_user_device *vdev);
void vfio_user_device_release_irqs(struct vfio_user_device *vdev);

#endif /* _VFIO_USER_INTERNAL_H */
