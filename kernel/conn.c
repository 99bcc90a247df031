// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-user client in the kernel: the connection.
 *
 * Owns the socket(s) after attach: framing, message ids, the table of
 * requests waiting for replies, the receive workers, timeouts and the broken
 * state. Requests are found by id through the table, never by a pointer the
 * server could make stale; a waiter and the receive worker each hold a
 * reference on a request, so either may go first.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/mmu_notifier.h>
#include <linux/net.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/vmalloc.h>
#include <net/sock.h>

#include "vfio_user.h"
#include "trace.h"

static struct vfio_user_device *conn_to_vdev(struct vfio_user_conn *conn)
{
	return container_of(conn, struct vfio_user_device, conn);
}

/*
 * Only ordinary errno values pass from a server to userspace: from 512 on
 * they are the kernel's own (ERESTARTSYS, EIOCBQUEUED, ...), which would
 * break syscall restart and io_uring.
 */
static int vfio_user_server_errno(u32 error_no)
{
	return error_no > 0 && error_no < ERESTARTSYS ? -(int)error_no : -EIO;
}

/* Sockets */

/*
 * Sockets wake their waiters with wake_up_interruptible(), which would not
 * wake a killable sleeper; wake whatever state we sleep in.
 */
static int vfio_user_sock_wake(struct wait_queue_entry *wait,
			       unsigned int mode, int sync, void *key)
{
	return woken_wake_function(wait, TASK_NORMAL, sync, key);
}

static bool vfio_user_sock_ready(struct sock *sk, bool out)
{
	if (READ_ONCE(sk->sk_err) || (READ_ONCE(sk->sk_shutdown) &
				      (out ? SEND_SHUTDOWN : RCV_SHUTDOWN)))
		return true;
	if (out)
		return sk_wmem_alloc_get(sk) < READ_ONCE(sk->sk_sndbuf);
	return !skb_queue_empty_lockless(&sk->sk_receive_queue);
}

/**
 * vfio_user_sock_wait() - wait until @sock can make progress
 * @sock: a socket
 * @out: wait for room to send; else for data to receive (or its end)
 * @timeout: jiffies left, updated
 *
 * Only a fatal signal ends the wait early: a VMM's threads are signalled
 * all the time, and a message cut short by one would be lost.
 *
 * Return: 0 when a non-blocking call may progress, -EINTR on a fatal
 * signal, -ETIMEDOUT when @timeout ran out.
 */
int vfio_user_sock_wait(struct socket *sock, bool out, long *timeout)
{
	struct sock *sk = sock->sk;
	DEFINE_WAIT_FUNC(wait, vfio_user_sock_wake);
	int ret = 0;

	add_wait_queue(sk_sleep(sk), &wait);
	while (!vfio_user_sock_ready(sk, out)) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (*timeout <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		*timeout = wait_woken(&wait, TASK_KILLABLE, *timeout);
	}
	remove_wait_queue(sk_sleep(sk), &wait);
	return ret;
}

/*
 * Throw away whatever a shut-down socket still holds: fds a peer queued
 * there (perhaps our own device fd, which would keep us alive for good)
 * are released with it. Nothing new can arrive after the shutdown.
 */
static void vfio_user_sock_drain(struct socket *sock)
{
	u8 scratch[256];
	int ret;

	do {
		struct kvec vec = { .iov_base = scratch,
				    .iov_len = sizeof(scratch) };
		struct msghdr msg = { };

		ret = kernel_recvmsg(sock, &msg, &vec, 1, sizeof(scratch),
				     MSG_DONTWAIT);
	} while (ret > 0);
}

/**
 * vfio_user_sock_close() - shut a socket down for good and empty it
 * @sock: a socket the device holds
 */
void vfio_user_sock_close(struct socket *sock)
{
	kernel_sock_shutdown(sock, SHUT_RDWR);
	vfio_user_sock_drain(sock);
}

/* Requests */

/**
 * vfio_user_request_alloc() - allocate a request with room for its reply
 * @reply_max: payload bytes the reply may have
 *
 * Return: the request with one reference, or NULL.
 */
struct vfio_user_request *vfio_user_request_alloc(size_t reply_max)
{
	struct vfio_user_request *req;

	req = kvmalloc(struct_size(req, reply, reply_max),
		       VFIO_USER_GFP_LARGE);
	if (!req)
		return NULL;
	kref_init(&req->kref);
	init_completion(&req->done);
	req->abandoned = false;
	req->end = NULL;
	req->end_data = NULL;
	req->deadline = 0;
	req->status = 0;
	req->reply_max = reply_max;
	req->reply_len = 0;
	return req;
}

static void vfio_user_request_free(struct kref *kref)
{
	kvfree(container_of(kref, struct vfio_user_request, kref));
}

/**
 * vfio_user_request_put() - drop a reference on a request
 * @req: the request
 */
void vfio_user_request_put(struct vfio_user_request *req)
{
	kref_put(&req->kref, vfio_user_request_free);
}

/*
 * @req is final: wake its waiter, or end it for nobody, and drop the
 * reference of the table (which whoever finished it took over).
 */
static void vfio_user_request_done(struct vfio_user_request *req)
{
	complete(&req->done);
	if (req->end)
		req->end(req);
	vfio_user_request_put(req);
}

/* Finish @req with @status; the caller holds the xa_lock. */
static void vfio_user_request_finish(struct vfio_user_conn *conn,
				     struct vfio_user_request *req, int status)
{
	lockdep_assert_held(&conn->pending.xa_lock);
	req->status = status;
	complete(&req->done);
}

static void vfio_user_rx_abort(struct vfio_user_worker *w, int err);

/* Broken state */

/*
 * Wake the workers to look again: at a broken connection, or a new
 * timeout. A reply a receiver claimed and left part-way on a broken
 * connection fails now, unless a receiver is at it (it fails it itself).
 */
static void vfio_user_conn_wake_workers(struct vfio_user_conn *conn)
{
	struct vfio_user_worker *workers[] = { &conn->worker,
					       &conn->twin_worker };
	int broken = vfio_user_conn_status(conn);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(workers); i++) {
		struct vfio_user_worker *w = workers[i];

		if (!w->sock)
			continue;
		if (broken && mutex_trylock(&w->recv_lock)) {
			vfio_user_rx_abort(w, broken);
			mutex_unlock(&w->recv_lock);
		}
		/* A wake-up alone keeps the sleep it interrupts. */
		WRITE_ONCE(w->retime, true);
		wake_up(&conn->worker_wq);
	}
}

/**
 * vfio_user_conn_break() - fail the connection for good
 * @conn: the connection
 * @err: why, a negative errno
 *
 * Every waiter fails at once with @err, later calls fail with it, the
 * sockets are shut down (which also stops the receive workers), poll()
 * reports an error and the ERR/REQ eventfds fire. Only the first call has
 * an effect.
 */
void vfio_user_conn_break(struct vfio_user_conn *conn, int err)
{
	struct vfio_user_request *req;
	unsigned long id;

	xa_lock(&conn->pending);
	if (conn->broken) {
		xa_unlock(&conn->pending);
		return;
	}
	WRITE_ONCE(conn->broken, err);
	trace_vfio_user_conn_broken(conn_to_vdev(conn)->id, err);
	vu_dbg(conn_to_vdev(conn), "connection broken: %pe\n", ERR_PTR(err));
	/* No request enters the table from now on; empty it. */
	for (;;) {
		id = 0;
		req = xa_find(&conn->pending, &id, ULONG_MAX, XA_PRESENT);
		if (!req)
			break;
		__xa_erase(&conn->pending, id);
		vfio_user_request_finish(conn, req, err);
		/* Ends and the last put may sleep: not under the spinlock. */
		xa_unlock(&conn->pending);
		if (req->end)
			req->end(req);
		vfio_user_request_put(req);
		xa_lock(&conn->pending);
	}
	xa_unlock(&conn->pending);

	if (conn->sock)
		vfio_user_sock_close(conn->sock);
	if (conn->twin)
		vfio_user_sock_close(conn->twin);
	vfio_user_conn_wake_workers(conn);
	wake_up_all(&conn->poll_wq);
	vfio_user_device_broken(conn_to_vdev(conn));
}

/**
 * vfio_user_conn_set_timeout() - bound every wait for the server anew
 * @conn: the connection
 * @timeout_ms: the new bound
 * @reset: it bounds the reply to DEVICE_RESET, not every wait
 *
 * Requests sent from now on get the new bound; the workers look at what
 * they wait for again.
 */
void vfio_user_conn_set_timeout(struct vfio_user_conn *conn,
				unsigned int timeout_ms, bool reset)
{
	if (reset) {
		WRITE_ONCE(conn->reset_timeout_ms, timeout_ms);
		return;
	}
	WRITE_ONCE(conn->timeout_ms, timeout_ms);
	vfio_user_conn_wake_workers(conn);
}

/**
 * vfio_user_conn_status() - is the connection usable?
 * @conn: the connection
 *
 * Return: 0, or the negative errno that broke it.
 */
int vfio_user_conn_status(struct vfio_user_conn *conn)
{
	return READ_ONCE(conn->broken);
}

static void vfio_user_protocol_error(struct vfio_user_conn *conn,
				     const char *what, u16 cmd, u16 id)
{
	/* Broken already: what arrives now says nothing about the server. */
	if (vfio_user_conn_status(conn))
		return;
	atomic64_inc(&conn->stats.protocol_errors);
	vu_warn_ratelimited(conn_to_vdev(conn),
			    "protocol error from server: %s (command %u, id %u); connection closed\n",
			    what, cmd, id);
	vfio_user_conn_break(conn, -EPROTO);
}

/* Sending */

static int vfio_user_send_msg(struct vfio_user_conn *conn,
			      struct socket *sock, struct mutex *lock,
			      const struct vfio_user_header *hdr,
			      const void *payload, size_t len,
			      const int *fds, unsigned int nr_fds, bool nowait);

static void vfio_user_init_header(struct vfio_user_header *hdr, u16 id,
				  u16 cmd, size_t len, u32 flags)
{
	hdr->msg_id = id;
	hdr->cmd = cmd;
	hdr->msg_size = sizeof(*hdr) + len;
	hdr->flags = VFIO_USER_F_TYPE_COMMAND | flags;
	hdr->error_no = 0;
}

static size_t vfio_user_multi_size(u64 nr)
{
	return sizeof(struct vfio_user_wr_multi) +
	       nr * sizeof(struct vfio_user_wr_one);
}

/*
 * Gather small posted writes once the server is behind by a quarter of
 * the send buffer; send them once it is within an eighth again.
 */
#define VFIO_USER_MULTI_BEHIND		4
#define VFIO_USER_MULTI_CAUGHT_UP	8

/* Has the server left more than 1/@div of our send buffer unread? */
static bool vfio_user_sock_behind(struct sock *sk, int div)
{
	return sk_wmem_alloc_get(sk) > READ_ONCE(sk->sk_sndbuf) / div;
}

/*
 * The most bytes a message may have to go into @sk in one piece without
 * waiting, 0 if none would: an AF_UNIX stream socket takes up to half its
 * send buffer (less a little) at once, while less than all of it is in
 * use. With the send lock held, only the server changes that, and only to
 * free room.
 */
static size_t vfio_user_sock_room(struct sock *sk)
{
	int sndbuf = READ_ONCE(sk->sk_sndbuf);

	if (sk_wmem_alloc_get(sk) >= sndbuf || sndbuf / 2 <= 64)
		return 0;
	return min(sndbuf / 2 - 64, SZ_16K);
}

/*
 * Send the posted writes gathered so far, ahead of whatever the caller
 * sends next: one as REGION_WRITE, more as REGION_WRITE_MULTI, both
 * without a reply. The caller holds the send lock. With @nowait, only as
 * many as go out at once without waiting (see vfio_user_sock_room()); the
 * rest stay gathered, for the next flush.
 */
static int vfio_user_flush_multi(struct vfio_user_conn *conn, bool nowait)
{
	u8 one[sizeof(struct vfio_user_region_access) + VFIO_USER_MULTI_DATA];
	struct vfio_user_region_access *acc = (void *)one;
	u64 nr, max = VFIO_USER_MULTI_MAX, left;
	struct vfio_user_header hdr;
	const void *payload;
	size_t len;
	int ret;

	lockdep_assert_held(&conn->send_lock);
	if (!READ_ONCE(conn->multi))
		return 0;
	if (nowait) {
		size_t room = vfio_user_sock_room(conn->sock->sk);

		if (room < sizeof(hdr) + vfio_user_multi_size(1))
			return -EAGAIN;
		max = (room - sizeof(hdr) - vfio_user_multi_size(0)) /
		      sizeof(struct vfio_user_wr_one);
	}
	mutex_lock(&conn->multi_lock);
	nr = min(conn->multi->wr_cnt, max);
	left = conn->multi->wr_cnt - nr;
	if (nr) {
		memcpy(conn->multi_out, conn->multi, vfio_user_multi_size(nr));
		conn->multi_out->wr_cnt = nr;
		memmove(conn->multi->wrs, conn->multi->wrs + nr,
			left * sizeof(struct vfio_user_wr_one));
	}
	conn->multi->wr_cnt = left;
	/* What is left, the next flush sends (see vfio_user_multi_kick()). */
	conn->multi_flushing = false;
	if (!left)
		WRITE_ONCE(conn->multi_queued, false);
	mutex_unlock(&conn->multi_lock);
	if (!nr)
		return 0;

	if (nr == 1) {
		const struct vfio_user_wr_one *w = &conn->multi_out->wrs[0];

		acc->offset = w->offset;
		acc->region = w->region;
		acc->count = w->count;
		memcpy(acc->data, w->data, w->count);
		payload = acc;
		len = sizeof(*acc) + w->count;
		vfio_user_init_header(&hdr, (u16)atomic_inc_return(&conn->posted_id),
				      VFIO_USER_REGION_WRITE, len,
				      VFIO_USER_F_NO_REPLY);
	} else {
		payload = conn->multi_out;
		len = vfio_user_multi_size(nr);
		vfio_user_init_header(&hdr, (u16)atomic_inc_return(&conn->posted_id),
				      VFIO_USER_REGION_WRITE_MULTI, len,
				      VFIO_USER_F_NO_REPLY);
	}
	ret = vfio_user_send_msg(conn, conn->sock, NULL, &hdr, payload, len,
				 NULL, 0, false);
	if (!ret)
		atomic64_add(nr, &conn->stats.posted_writes);
	if (!ret && nr > 1)
		atomic64_inc(&conn->stats.write_multi);
	return ret;
}

/*
 * Take the send lock of @conn for a whole message; the posted writes that
 * gathered meanwhile go out first, so that nothing overtakes them.
 */
static int vfio_user_lock_send(struct vfio_user_conn *conn, bool nowait)
{
	struct vfio_user_wr_multi *multi;
	int ret;

	if (nowait) {
		if (!mutex_trylock(&conn->send_lock))
			return -EAGAIN;
		/* Sending them may wait for room. */
		multi = READ_ONCE(conn->multi);
		if (multi && READ_ONCE(multi->wr_cnt)) {
			mutex_unlock(&conn->send_lock);
			return -EAGAIN;
		}
		return 0;
	}
	if (mutex_lock_killable(&conn->send_lock))
		return -EINTR;
	ret = vfio_user_flush_multi(conn, false);
	if (ret)
		mutex_unlock(&conn->send_lock);
	return ret;
}

/*
 * Gathered posted writes, and the server has caught up: the worker is to
 * send them. Called after publishing the writes or releasing the send
 * lock, so that a catching up seen by nobody else is seen here: the
 * write_space callback may have run before the writes were queued, and
 * the worker's trylock may have failed while we held the lock.
 */
static void vfio_user_multi_kick(struct vfio_user_conn *conn)
{
	/* Pairs with the barrier in vfio_user_sock_write_space(). */
	smp_mb();
	if (READ_ONCE(conn->multi_queued) &&
	    !vfio_user_sock_behind(conn->sock->sk, VFIO_USER_MULTI_CAUGHT_UP)) {
		WRITE_ONCE(conn->multi_wake, true);
		wake_up(&conn->worker_wq);
	}
}

/*
 * Give the send lock up; posted writes that gathered meanwhile go out now
 * if the server has caught up, else once it has (see the write_space
 * callback).
 */
static void vfio_user_unlock_send(struct vfio_user_conn *conn)
{
	if (!READ_ONCE(conn->multi)) {
		mutex_unlock(&conn->send_lock);
		return;
	}
	if (READ_ONCE(conn->multi_queued) &&
	    !vfio_user_sock_behind(conn->sock->sk, VFIO_USER_MULTI_CAUGHT_UP))
		vfio_user_flush_multi(conn, true);
	mutex_unlock(&conn->send_lock);
	vfio_user_multi_kick(conn);
}

/*
 * Send one whole message, of @hdr->msg_size bytes, from @iter: with a
 * single sendmsg() when the socket has room, header, payload and @cmsg
 * (the fds) together, as real servers require. @more, if given, refills
 * @iter when it runs dry before the end (a DMA_READ's reply, one window of
 * the VMM's memory at a time); it is called with the send lock held, and
 * only after the first byte left. The caller's @iter is left as it was.
 */
static int vfio_user_send_iter(struct vfio_user_conn *conn,
			       struct socket *sock, struct mutex *lock,
			       const struct vfio_user_header *hdr,
			       const struct iov_iter *iter,
			       struct cmsghdr *cmsg, size_t cmsg_size,
			       bool nowait,
			       int (*more)(void *arg, struct iov_iter *iter),
			       void *more_arg)
{
	size_t total = more ? hdr->msg_size : iov_iter_count(iter), sent = 0;
	long timeout = msecs_to_jiffies(READ_ONCE(conn->timeout_ms));
	struct msghdr msg = { .msg_iter = *iter };
	size_t left, taken, accepted;
	int ret = 0;

	if (lock) {
		/* Only ever the send lock of @conn. */
		ret = vfio_user_lock_send(conn, nowait);
		if (ret)
			return ret;
	}
	while (sent < total) {
		if (!msg_data_left(&msg)) {
			ret = more ? more(more_arg, &msg.msg_iter) : -EINVAL;
			/* A refill that adds nothing would spin: a bug, end it. */
			if (!ret && !msg_data_left(&msg))
				ret = -EIO;
			if (ret)
				break;
			continue;
		}
		/* The fds ride with the first byte only. */
		msg.msg_control = sent ? NULL : cmsg;
		msg.msg_controllen = sent ? 0 : cmsg_size;
		msg.msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
		left = msg_data_left(&msg);
		ret = sock_sendmsg(sock, &msg);
		/*
		 * A Unix stream socket copies a chunk from the iterator before
		 * it finds the peer gone (closed, or shut down for reading);
		 * it then drops the chunk and reports only the bytes before
		 * it. Put the dropped bytes back, so that what is left is
		 * what was not sent and the next call returns the error.
		 */
		taken = left - msg_data_left(&msg);
		accepted = ret > 0 ? ret : 0;
		if (taken > accepted)
			iov_iter_revert(&msg.msg_iter, taken - accepted);
		if (ret > 0) {
			sent += ret;
			continue;
		}
		if (ret == 0)
			ret = -EPIPE;
		/*
		 * Full: wait for room, through any but a fatal signal; unless
		 * the caller may not wait and nothing was sent yet.
		 */
		if (ret == -EAGAIN && nowait && !sent)
			break;
		if (ret == -EAGAIN) {
			ret = vfio_user_sock_wait(sock, true, &timeout);
			if (!ret)
				continue;
		}
		break;
	}
	if (lock)
		vfio_user_unlock_send(conn);

	if (sent == total) {
		atomic64_inc(vfio_user_cmd_stat(conn->stats.sent, hdr->cmd));
		atomic64_add(total, &conn->stats.bytes_sent);
		trace_vfio_user_msg_send(conn_to_vdev(conn)->id, hdr);
		return 0;
	}
	/*
	 * A message cut short (only a fatal signal or a stuck peer cuts one)
	 * desynchronises the stream; a peer gone or stuck ends the
	 * connection. Whatever else failed before a byte left (a bad fd of
	 * the caller's, a fatal signal, memory) leaves it as it was.
	 */
	if (ret == -ETIMEDOUT)
		atomic64_inc(&conn->stats.timeouts);
	if (sent || ret == -ETIMEDOUT || ret == -EPIPE || ret == -ECONNRESET ||
	    ret == -ENOTCONN)
		vfio_user_conn_break(conn, sent ? -EPIPE : ret);
	return ret;
}

/*
 * Send one whole message: header, payload and fds. Fd numbers are
 * resolved in the caller's fd table, so only the VMM's own syscalls may
 * pass fds.
 */
static int vfio_user_send_msg(struct vfio_user_conn *conn,
			      struct socket *sock, struct mutex *lock,
			      const struct vfio_user_header *hdr,
			      const void *payload, size_t len,
			      const int *fds, unsigned int nr_fds, bool nowait)
{
	struct kvec vec[2] = {
		{ .iov_base = (void *)hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct cmsghdr *cmsg = NULL;
	struct iov_iter iter;
	size_t cmsg_size = 0;
	int ret;

	if (nr_fds) {
		cmsg_size = CMSG_SPACE(array_size(nr_fds, sizeof(int)));
		cmsg = kzalloc(cmsg_size, GFP_KERNEL);
		if (!cmsg)
			return -ENOMEM;
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, nr_fds * sizeof(int));
	}
	iov_iter_kvec(&iter, ITER_SOURCE, vec, len ? 2 : 1,
		      sizeof(*hdr) + len);
	ret = vfio_user_send_iter(conn, sock, lock, hdr, &iter, cmsg, cmsg_size,
				  nowait, NULL, NULL);
	kfree(cmsg);
	return ret;
}

/*
 * Request ids are cyclic, so that a reply the server sends twice finds no
 * request rather than a later one; and from 1 to this while those last,
 * which one node of the pending table holds. Index 0 stays reserved (see
 * vfio_user_conn_start()) so that node lives on: with one request in flight
 * at a time, as synchronous calls are, the table would otherwise make and
 * free a node for every request.
 */
#define VFIO_USER_LOW_ID_MAX	(XA_CHUNK_SIZE - 1)

/* Give @req an id, under the pending table's lock. */
static int vfio_user_alloc_id(struct vfio_user_conn *conn,
			      struct vfio_user_request *req, u32 *id)
{
	int ret;

	lockdep_assert_held(&conn->pending.xa_lock);
	ret = __xa_alloc_cyclic(&conn->pending, id, req,
				XA_LIMIT(1, VFIO_USER_LOW_ID_MAX),
				&conn->next_id, GFP_KERNEL_ACCOUNT);
	if (ret == -EBUSY)
		ret = __xa_alloc_cyclic(&conn->pending, id, req,
					XA_LIMIT(VFIO_USER_LOW_ID_MAX + 1,
						 U16_MAX),
					&conn->next_high_id,
					GFP_KERNEL_ACCOUNT);
	return ret;
}

/**
 * vfio_user_send_request() - send a command whose reply @req will receive
 * @conn: the connection
 * @req: the request, with room for the reply; the caller keeps its reference
 * @cmd: the command
 * @payload: the command's payload
 * @len: bytes at @payload, at most the server's limit plus headers
 * @fds: fds of the caller to pass along, or NULL
 * @nr_fds: entries at @fds
 * @nowait: fail with -EAGAIN rather than wait for the lock or for room
 *
 * Return: 0 once sent, or once ended by another (then wait on @req->done),
 * or a negative errno.
 */
static int vfio_user_send_request(struct vfio_user_conn *conn,
				  struct vfio_user_request *req, u16 cmd,
				  const void *payload, size_t len,
				  const int *fds, unsigned int nr_fds,
				  bool nowait)
{
	/* The specification allows a reset to take long: its own bound. */
	unsigned int timeout_ms = cmd == VFIO_USER_DEVICE_RESET ?
				  READ_ONCE(conn->reset_timeout_ms) :
				  READ_ONCE(conn->timeout_ms);
	struct vfio_user_request *old;
	struct vfio_user_header hdr;
	u32 id;
	int ret;

	if (nr_fds > conn->max_msg_fds)
		return -EINVAL;
	/*
	 * The id is allocated and, if the send fails, erased under the send
	 * lock: no other request can be given the same id in between.
	 */
	ret = vfio_user_lock_send(conn, nowait);
	if (ret)
		return ret;
	/* Who may not wait sends only what goes out at once, or nothing. */
	if (nowait && sizeof(hdr) + len > vfio_user_sock_room(conn->sock->sk)) {
		vfio_user_unlock_send(conn);
		return -EAGAIN;
	}

	req->cmd = cmd;
	req->deadline = jiffies + msecs_to_jiffies(timeout_ms);
	/* The table's reference. */
	kref_get(&req->kref);
	xa_lock(&conn->pending);
	ret = conn->broken;
	if (!ret)
		ret = vfio_user_alloc_id(conn, req, &id);
	if (ret >= 0 && conn->broken) {
		/* Broke while the allocation dropped the lock. */
		__xa_erase(&conn->pending, id);
		ret = conn->broken;
	}
	xa_unlock(&conn->pending);
	if (ret < 0) {
		vfio_user_unlock_send(conn);
		vfio_user_request_put(req);
		return ret == -EBUSY ? -EAGAIN : ret;
	}
	req->id = id;

	vfio_user_init_header(&hdr, id, cmd, len, 0);
	/*
	 * Before: the reply may be in before the send returns. Only while
	 * the receive event is traced: the clock is not free.
	 */
	req->sent_ns = trace_vfio_user_msg_recv_enabled() ? ktime_get_ns() : 0;
	ret = vfio_user_send_msg(conn, conn->sock, NULL, &hdr, payload, len,
				 fds, nr_fds, nowait);
	if (ret) {
		/*
		 * Only our own entry: a break, or a reply the server forged
		 * before it had our command, may have claimed it already.
		 */
		xa_lock(&conn->pending);
		old = __xa_cmpxchg(&conn->pending, id, req, NULL, 0);
		xa_unlock(&conn->pending);
		/*
		 * Whoever else took it out of the table (the break our failed
		 * send caused, or a receiver of a forged reply) completes it:
		 * to the caller it was sent, and its status says how it ended.
		 */
		if (old == req)
			vfio_user_request_put(req);
		else
			ret = 0;
	}
	vfio_user_unlock_send(conn);
	return ret;
}

/*
 * Room to gather posted writes in, made at the first that could be: most
 * devices never post a write. Without it, writes go out one by one.
 */
static bool vfio_user_multi_ready(struct vfio_user_conn *conn)
{
	size_t size = vfio_user_multi_size(VFIO_USER_MULTI_MAX);
	struct vfio_user_wr_multi *multi, *out;

	if (READ_ONCE(conn->multi))
		return true;
	multi = kzalloc(size, GFP_KERNEL_ACCOUNT);
	out = kmalloc(size, GFP_KERNEL_ACCOUNT);
	mutex_lock(&conn->multi_lock);
	if (!conn->multi && multi && out) {
		conn->multi_out = out;
		/* Whoever sees @multi sees @multi_out. */
		smp_store_release(&conn->multi, multi);
		multi = NULL;
		out = NULL;
	}
	mutex_unlock(&conn->multi_lock);
	kfree(multi);
	kfree(out);
	return READ_ONCE(conn->multi);
}

/*
 * A small posted write goes out at once while the socket is idle. It joins
 * the others gathered instead when the socket is busy (another task is
 * sending) or the server is behind: the first to join a busy socket sends
 * them all once it has it, the rest return at once, their writes posted;
 * behind a slow server they go out once it has caught up, or with the
 * next message, or when they fill a REGION_WRITE_MULTI.
 */
static int vfio_user_post_multi(struct vfio_user_conn *conn,
				const struct vfio_user_region_access *acc,
				u32 count)
{
	struct vfio_user_wr_one *w;
	struct vfio_user_header hdr;
	bool behind, flusher;
	int ret;

	for (;;) {
		mutex_lock(&conn->multi_lock);
		if (conn->multi->wr_cnt < VFIO_USER_MULTI_MAX)
			break;
		mutex_unlock(&conn->multi_lock);
		/* Full: send them, then gather anew. */
		ret = vfio_user_lock_send(conn, false);
		if (ret)
			return ret;
		vfio_user_unlock_send(conn);
	}
	behind = vfio_user_sock_behind(conn->sock->sk, VFIO_USER_MULTI_BEHIND);
	if (!behind && !conn->multi->wr_cnt &&
	    mutex_trylock(&conn->send_lock)) {
		mutex_unlock(&conn->multi_lock);
		vfio_user_init_header(&hdr, (u16)atomic_inc_return(&conn->posted_id),
				      VFIO_USER_REGION_WRITE,
				      sizeof(*acc) + count, VFIO_USER_F_NO_REPLY);
		ret = vfio_user_send_msg(conn, conn->sock, NULL, &hdr, acc,
					 sizeof(*acc) + count, NULL, 0, false);
		if (!ret)
			atomic64_inc(&conn->stats.posted_writes);
		vfio_user_unlock_send(conn);
		return ret;
	}

	w = &conn->multi->wrs[conn->multi->wr_cnt++];
	w->offset = acc->offset;
	w->region = acc->region;
	w->count = count;
	memset(w->data, 0, sizeof(w->data));
	memcpy(w->data, acc->data, count);
	WRITE_ONCE(conn->multi_queued, true);
	flusher = !behind && !conn->multi_flushing;
	if (flusher)
		conn->multi_flushing = true;
	mutex_unlock(&conn->multi_lock);
	if (!flusher) {
		/* The server may have caught up before they were queued. */
		if (behind)
			vfio_user_multi_kick(conn);
		return 0;
	}

	ret = vfio_user_lock_send(conn, false);
	if (ret == -EINTR) {
		/* Killed: the writes are posted already; the worker sends them. */
		WRITE_ONCE(conn->multi_wake, true);
		wake_up(&conn->worker_wq);
		return 0;
	}
	if (!ret)
		vfio_user_unlock_send(conn);
	return ret;
}

/**
 * vfio_user_send_posted() - send a command that asks for no reply
 * @conn: the connection
 * @cmd: the command
 * @payload: its payload
 * @len: bytes at @payload
 *
 * Return: 0 once sent, or a negative errno.
 */
int vfio_user_send_posted(struct vfio_user_conn *conn, u16 cmd,
			  const void *payload, size_t len)
{
	const struct vfio_user_region_access *acc = payload;
	struct vfio_user_header hdr;
	int ret;

	ret = vfio_user_conn_status(conn);
	if (ret)
		return ret;
	if (conn->write_multiple && cmd == VFIO_USER_REGION_WRITE &&
	    len >= sizeof(*acc) &&
	    len - sizeof(*acc) <= VFIO_USER_MULTI_DATA &&
	    vfio_user_multi_ready(conn))
		return vfio_user_post_multi(conn, acc, len - sizeof(*acc));
	vfio_user_init_header(&hdr, (u16)atomic_inc_return(&conn->posted_id),
			      cmd, len, VFIO_USER_F_NO_REPLY);
	ret = vfio_user_send_msg(conn, conn->sock, &conn->send_lock, &hdr,
				 payload, len, NULL, 0, false);
	if (!ret)
		atomic64_inc(&conn->stats.posted_writes);
	return ret;
}

static int vfio_user_rx_run(struct vfio_user_worker *w,
			    struct vfio_user_request *req);
static void vfio_user_rx_release(struct vfio_user_worker *w);

/*
 * @deadline is that of a request nobody waits for any more: if it falls
 * before the worker plans to wake, the worker computes its sleep anew.
 */
static void vfio_user_watch_deadline(struct vfio_user_conn *conn,
				     unsigned long deadline)
{
	struct vfio_user_worker *w = &conn->worker;
	unsigned long until;

	/*
	 * The request is marked unwaited before the worker's plan is read;
	 * pairs with the barrier in vfio_user_worker(): either its scan of
	 * the table sees the request, or we see its plan (or that it is
	 * making one).
	 */
	smp_mb();
	until = READ_ONCE(w->sleep_until);
	if (!until || time_before(deadline, until)) {
		WRITE_ONCE(w->retime, true);
		wake_up(&conn->worker_wq);
	}
}

/*
 * Wait for @req's reply; past its deadline the connection breaks.
 *
 * When nobody else is receiving, the waiter receives itself until its own
 * reply is in: the server's answer then wakes the one task that waits for
 * it, not a worker that would wake the waiter in turn. Replies to others
 * that come first are handed to their requests on the way; a command of
 * the server, or a fatal signal, leaves the rest to the receive worker.
 */
static int vfio_user_wait_reply(struct vfio_user_conn *conn,
				struct vfio_user_request *req)
{
	struct vfio_user_worker *w = &conn->worker;
	long left;
	int ret;

	if (mutex_trylock(&w->recv_lock)) {
		ret = vfio_user_rx_run(w, req);
		vfio_user_rx_release(w);
		if (ret == -EINTR && !completion_done(&req->done))
			goto killed;
	}

	left = (long)(req->deadline - jiffies);
	left = wait_for_completion_killable_timeout(&req->done, max(left, 0L));
	if (left > 0 || completion_done(&req->done))
		return req->status;
	if (left == 0) {
		atomic64_inc(&conn->stats.timeouts);
		vfio_user_conn_break(conn, -ETIMEDOUT);
		/*
		 * The break finished the request, unless a receiver claimed
		 * its reply first; that receiver finishes it as soon as the
		 * shut-down socket returns. Still bounded, still killable.
		 */
		left = msecs_to_jiffies(READ_ONCE(conn->timeout_ms));
		left = wait_for_completion_killable_timeout(&req->done, left);
		if (left > 0)
			return req->status;
		return left ? -EINTR : -ETIMEDOUT;
	}
killed:
	/*
	 * Killed: leave the id in the table so its reply is dropped, but no
	 * longer than the server was given to answer (see
	 * vfio_user_check_unwaited()).
	 */
	xa_lock(&conn->pending);
	/* Not if a receiver already claimed it: then it completes soon. */
	if (xa_load(&conn->pending, req->id) == req) {
		req->abandoned = true;
		atomic_inc(&conn->unwaited);
	}
	xa_unlock(&conn->pending);
	/* The worker now watches the deadline. */
	vfio_user_watch_deadline(conn, req->deadline);
	return -EINTR;
}

/*
 * A request nobody waits for (its waiter was killed, or it is asynchronous)
 * holds its id (and its reply buffer) until the server answers. A server
 * that never does gets the same treatment as for any late reply: past its
 * deadline the connection breaks, which also ends the request.
 *
 * Return: jiffies until the next such request is overdue, or
 * MAX_SCHEDULE_TIMEOUT.
 */
static long vfio_user_check_unwaited(struct vfio_user_conn *conn)
{
	long next = MAX_SCHEDULE_TIMEOUT;
	struct vfio_user_request *req;
	unsigned long id;
	bool expired = false;

	if (!atomic_read(&conn->unwaited))
		return next;
	xa_lock(&conn->pending);
	xa_for_each(&conn->pending, id, req) {
		long left = (long)(req->deadline - jiffies);

		if (!req->abandoned && !req->end)
			continue;
		if (left <= 0) {
			expired = true;
			break;
		}
		next = min(next, left);
	}
	xa_unlock(&conn->pending);
	if (expired) {
		atomic64_inc(&conn->stats.timeouts);
		vfio_user_conn_break(conn, -ETIMEDOUT);
	}
	return next;
}

/**
 * vfio_user_call_begin() - send a command; its reply is waited for later
 * @conn: the connection
 * @cmd: the command
 * @payload: its payload
 * @len: bytes at @payload
 * @fds: caller's fds to pass along, or NULL
 * @nr_fds: entries at @fds
 * @reply_max: largest reply payload accepted
 * @reqp: on success, the request to pass to vfio_user_call_end()
 *
 * Many commands may be in flight this way, as the protocol allows; the
 * server answers them in any order.
 *
 * Return: 0 once sent, or a negative errno.
 */
int vfio_user_call_begin(struct vfio_user_conn *conn, u16 cmd,
			 const void *payload, size_t len, const int *fds,
			 unsigned int nr_fds, size_t reply_max,
			 struct vfio_user_request **reqp)
{
	struct vfio_user_request *req;
	int ret;

	req = vfio_user_request_alloc(reply_max);
	if (!req)
		return -ENOMEM;
	ret = vfio_user_send_request(conn, req, cmd, payload, len, fds, nr_fds,
				     false);
	if (ret) {
		vfio_user_request_put(req);
		return ret;
	}
	*reqp = req;
	return 0;
}

/**
 * vfio_user_call_end() - wait for the reply to a vfio_user_call_begin()
 * @conn: the connection
 * @req: the request it gave, which this call consumes
 * @reply: on success, the request holding the reply (put it when done);
 *	NULL if the caller does not need the payload
 *
 * Return: 0, the server's error as a negative errno, or a transport error.
 */
int vfio_user_call_end(struct vfio_user_conn *conn,
		       struct vfio_user_request *req,
		       struct vfio_user_request **reply)
{
	int ret = vfio_user_wait_reply(conn, req);

	if (!ret && reply) {
		*reply = req;
		return 0;
	}
	vfio_user_request_put(req);
	return ret;
}

/**
 * vfio_user_call() - send a command and wait for its reply
 * @conn: the connection
 * @cmd: the command
 * @payload: its payload
 * @len: bytes at @payload
 * @fds: caller's fds to pass along, or NULL
 * @nr_fds: entries at @fds
 * @reply_max: largest reply payload accepted
 * @reply: on success, the request holding the reply (put it when done);
 *	NULL if the caller does not need the payload
 *
 * Return: 0, the server's error as a negative errno, or a transport error.
 */
int vfio_user_call(struct vfio_user_conn *conn, u16 cmd, const void *payload,
		   size_t len, const int *fds, unsigned int nr_fds,
		   size_t reply_max, struct vfio_user_request **reply)
{
	struct vfio_user_request *req;
	int ret;

	ret = vfio_user_call_begin(conn, cmd, payload, len, fds, nr_fds,
				   reply_max, &req);
	if (ret)
		return ret;
	return vfio_user_call_end(conn, req, reply);
}

/**
 * vfio_user_call_async() - send a command whose reply nobody waits for
 * @conn: the connection
 * @req: the request, with room for the reply and @req->end set; the
 *	caller's reference passes to the connection
 * @cmd: the command
 * @payload: its payload
 * @len: bytes at @payload
 * @nowait: fail with -EAGAIN rather than wait for the send lock or for
 *	room in the socket
 *
 * Once sent, @req->end is called exactly once, when the reply is in or the
 * connection ends the request (by its deadline at the latest), from
 * whichever task that happens in; it must not sleep for long.
 *
 * Return: 0 once sent, or a negative errno (then @req->end is not called).
 */
int vfio_user_call_async(struct vfio_user_conn *conn,
			 struct vfio_user_request *req, u16 cmd,
			 const void *payload, size_t len, bool nowait)
{
	int ret;

	/* Counted first: the reply may be in before the send returns. */
	atomic_inc(&conn->unwaited);
	ret = vfio_user_send_request(conn, req, cmd, payload, len, NULL, 0,
				     nowait);
	if (ret) {
		atomic_dec(&conn->unwaited);
		vfio_user_request_put(req);
		return ret;
	}
	/* The worker watches its deadline (a reset's may be the earliest). */
	vfio_user_watch_deadline(conn, req->deadline);
	/* The table holds the request now: give up ours. */
	vfio_user_request_put(req);
	return 0;
}

/* Receiving */

/*
 * Receive into @to (advanced by what came in) what the socket holds, up
 * to the room in @to, without waiting. No control buffer: the kernel
 * cannot receive fds, and without one the socket layer releases any fds
 * the server sends (and says so with MSG_CTRUNC), which is a protocol
 * error here.
 *
 * Return: bytes received; -EAGAIN when nothing is queued; -ENOTCONN at end
 * of file; -EPROTO for fds; another negative errno.
 */
static int vfio_user_sock_recv_iter(struct vfio_user_conn *conn,
				    struct socket *sock, struct iov_iter *to)
{
	struct msghdr msg = { .msg_iter = *to };
	int ret;

	/* Nothing there (the usual case right after a send): no call. */
	if (!vfio_user_sock_ready(sock->sk, false))
		return -EAGAIN;
	ret = sock_recvmsg(sock, &msg, MSG_DONTWAIT);
	if (msg.msg_flags & MSG_CTRUNC)
		return -EPROTO;
	if (ret == 0)
		return -ENOTCONN;
	if (ret < 0)
		return ret;
	*to = msg.msg_iter;
	atomic64_add(ret, &conn->stats.bytes_received);
	return ret;
}

/* Like vfio_user_sock_recv_iter(), into @len bytes at @buf. */
static int vfio_user_sock_recv(struct vfio_user_conn *conn, struct socket *sock,
			       void *buf, size_t len)
{
	struct kvec vec = { .iov_base = buf, .iov_len = len };
	struct iov_iter to;

	iov_iter_kvec(&to, ITER_DEST, &vec, 1, len);
	return vfio_user_sock_recv_iter(conn, sock, &to);
}

/*
 * Receive up to @len bytes of the stream for the receiver of @w: from
 * what was received ahead first; a short ask fills that buffer with
 * whatever the socket holds, so that a small message takes one receive.
 * Same return values as vfio_user_sock_recv().
 */
static int vfio_user_rx_recv(struct vfio_user_worker *w, void *buf,
			     size_t len)
{
	struct vfio_user_rx *rx = &w->rx;
	size_t n;
	int ret;

	lockdep_assert_held(&w->recv_lock);
	if (rx->ahead_pos == rx->ahead_len) {
		if (len >= sizeof(rx->ahead))
			return vfio_user_sock_recv(w->conn, w->sock, buf, len);
		ret = vfio_user_sock_recv(w->conn, w->sock, rx->ahead,
					  sizeof(rx->ahead));
		if (ret < 0)
			return ret;
		WRITE_ONCE(rx->ahead_pos, 0);
		WRITE_ONCE(rx->ahead_len, ret);
	}
	n = min_t(size_t, len, rx->ahead_len - rx->ahead_pos);
	memcpy(buf, rx->ahead + rx->ahead_pos, n);
	WRITE_ONCE(rx->ahead_pos, rx->ahead_pos + n);
	return n;
}

/* Like vfio_user_rx_recv(), into @to (advanced by what came in). */
static int vfio_user_rx_recv_iter(struct vfio_user_worker *w,
				  struct iov_iter *to)
{
	struct vfio_user_rx *rx = &w->rx;
	size_t n;

	lockdep_assert_held(&w->recv_lock);
	if (rx->ahead_pos == rx->ahead_len)
		return vfio_user_sock_recv_iter(w->conn, w->sock, to);
	n = min_t(size_t, iov_iter_count(to), rx->ahead_len - rx->ahead_pos);
	n = copy_to_iter(rx->ahead + rx->ahead_pos, n, to);
	WRITE_ONCE(rx->ahead_pos, rx->ahead_pos + n);
	return n;
}

/*
 * Receive up to @len bytes nobody wants (an abandoned reply, a refused
 * command) into the scratch page, made when first needed: few devices ever
 * throw anything away. Same return values as vfio_user_sock_recv().
 */
static int vfio_user_rx_discard(struct vfio_user_worker *w, size_t len)
{
	lockdep_assert_held(&w->recv_lock);
	if (!w->scratch) {
		w->scratch = kmalloc(PAGE_SIZE, GFP_KERNEL_ACCOUNT);
		if (!w->scratch)
			return -ENOMEM;
	}
	return vfio_user_rx_recv(w, w->scratch, min_t(size_t, len, PAGE_SIZE));
}

static void vfio_user_rx_reset(struct vfio_user_rx *rx)
{
	rx->got = 0;
	rx->body = NULL;
	rx->req = NULL;
	rx->for_worker = false;
	rx->cmd_ready = false;
	rx->xfer = false;
}

/*
 * The receiver gives up on @w's socket with @err (the connection is
 * broken or breaks now): a reply it claimed fails with the connection.
 */
static void vfio_user_rx_abort(struct vfio_user_worker *w, int err)
{
	struct vfio_user_request *req = w->rx.req;

	lockdep_assert_held(&w->recv_lock);
	/* What landed of a DMA_WRITE's window is logged, then released. */
	if (w->rx.xfer)
		vfio_user_dma_xfer_end(conn_to_vdev(w->conn), &w->xfer,
				       w->xfer.win_len -
				       iov_iter_count(&w->cmd_iter));
	vfio_user_rx_reset(&w->rx);
	/* The rest of the stream is no one's either. */
	WRITE_ONCE(w->rx.ahead_pos, 0);
	WRITE_ONCE(w->rx.ahead_len, 0);
	if (req) {
		req->status = err;
		vfio_user_request_done(req);
	}
}

/* Receiving failed with @err: end the connection, and what was claimed. */
static void vfio_user_rx_fail(struct vfio_user_worker *w, int err)
{
	struct vfio_user_conn *conn = w->conn;

	lockdep_assert_held(&w->recv_lock);
	/* Protocol errors found in a header were counted there. */
	if (err == -EPROTO && !vfio_user_conn_status(conn))
		atomic64_inc(&conn->stats.protocol_errors);
	if (err == -EPIPE || err == -ECONNRESET)
		err = -ENOTCONN;
	vfio_user_conn_break(conn, err);
	vfio_user_rx_abort(w, vfio_user_conn_status(conn));
}

/* A reply's header is in: claim the request it answers. */
static int vfio_user_rx_reply(struct vfio_user_worker *w)
{
	struct vfio_user_conn *conn = w->conn;
	struct vfio_user_rx *rx = &w->rx;
	size_t len = rx->hdr.msg_size - sizeof(rx->hdr);
	bool error = rx->hdr.flags & VFIO_USER_F_ERROR;
	struct vfio_user_request *req;
	const char *bad = NULL;

	xa_lock(&conn->pending);
	req = xa_load(&conn->pending, rx->hdr.msg_id);
	/* Judge it under the lock: unclaimed, @req may go any moment. */
	if (!req)
		bad = "reply to no pending request";
	else if (req->cmd != rx->hdr.cmd)
		bad = "reply with the wrong command";
	else if (!error && !req->abandoned && len > req->reply_max)
		bad = "reply larger than the request allows";
	if (bad) {
		xa_unlock(&conn->pending);
		vfio_user_protocol_error(conn, bad, rx->hdr.cmd,
					 rx->hdr.msg_id);
		return -EPROTO;
	}
	/*
	 * Claimed, with the table's reference: a late timeout or a second
	 * reply cannot reach it now.
	 */
	__xa_erase(&conn->pending, rx->hdr.msg_id);
	xa_unlock(&conn->pending);
	trace_vfio_user_msg_recv(conn_to_vdev(conn)->id, &rx->hdr,
				 req->sent_ns ? ktime_get_ns() - req->sent_ns :
						0);

	if (req->abandoned || req->end)
		atomic_dec(&conn->unwaited);
	rx->req = req;
	/* libvfio-user may send a payload with an error: consume it. */
	if (error) {
		atomic64_inc(&conn->stats.error_replies);
		req->status = vfio_user_server_errno(rx->hdr.error_no);
	} else if (!req->abandoned) {
		rx->body = req->reply;
		req->reply_len = len;
	}
	return 0;
}

/* A whole header is in: check it and decide where its body goes. */
static int vfio_user_rx_header(struct vfio_user_worker *w)
{
	struct vfio_user_conn *conn = w->conn;
	struct vfio_user_header *hdr = &w->rx.hdr;
	u32 type = hdr->flags & VFIO_USER_F_TYPE_MASK;
	size_t limit;

	atomic64_inc(vfio_user_cmd_stat(conn->stats.received, hdr->cmd));
	/* The largest legitimate payload: data plus the raw-message room. */
	limit = (size_t)max(conn->client_max_xfer, conn->max_xfer) +
		VFIO_USER_RAW_MSG_OVERHEAD;
	if (hdr->msg_size < sizeof(*hdr) || hdr->msg_size - sizeof(*hdr) > limit) {
		vfio_user_protocol_error(conn, "bad message size", hdr->cmd,
					 hdr->msg_id);
		return -EPROTO;
	}
	if (hdr->flags & ~(VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY |
			   VFIO_USER_F_ERROR)) {
		vfio_user_protocol_error(conn, "unknown flags", hdr->cmd,
					 hdr->msg_id);
		return -EPROTO;
	}

	if (type == VFIO_USER_F_TYPE_REPLY && w->replies)
		return vfio_user_rx_reply(w);
	if (type == VFIO_USER_F_TYPE_COMMAND &&
	    !(hdr->flags & VFIO_USER_F_ERROR)) {
		atomic64_inc(&conn->stats.server_requests);
		trace_vfio_user_msg_recv(conn_to_vdev(conn)->id, hdr, 0);
		w->rx.for_worker = true;
		return 0;
	}
	vfio_user_protocol_error(conn, "unexpected message type", hdr->cmd,
				 hdr->msg_id);
	return -EPROTO;
}

/* The last byte of a message is in. Return: 1 for a server command. */
static int vfio_user_rx_done(struct vfio_user_worker *w)
{
	struct vfio_user_rx *rx = &w->rx;
	struct vfio_user_request *req = rx->req;
	bool cmd = rx->for_worker;

	if (cmd)
		w->cmd = rx->hdr;
	vfio_user_rx_reset(rx);
	if (req)
		vfio_user_request_done(req);
	return cmd;
}

/* Server commands */

/*
 * The command page: the reply's header, then a DMA command's access
 * header, then the data of a transfer small enough to be copied.
 */
#define VFIO_USER_CMD_ACC	sizeof(struct vfio_user_header)
#define VFIO_USER_CMD_DATA	(VFIO_USER_CMD_ACC + \
				 sizeof(struct vfio_user_dma_region_access))
#define VFIO_USER_CMD_ROOM	(PAGE_SIZE - VFIO_USER_CMD_DATA)

static bool vfio_user_is_dma_cmd(u16 cmd)
{
	return cmd == VFIO_USER_DMA_READ || cmd == VFIO_USER_DMA_WRITE;
}

/*
 * The connection holds the owner's mm_struct, not its address space: the
 * worker borrows that only while it touches the VMM's memory, so that the
 * VMM's exit frees it. The worker's put may be the last one, when the VMM
 * exited meanwhile, and tearing an address space down waits for its AIO
 * requests (exit_aio()), which may be the device's own, completed by this
 * very worker: the teardown goes to a workqueue (mmput_async()).
 */
static bool vfio_user_use_mm(struct vfio_user_conn *conn)
{
	if (!mmget_not_zero(conn->mm))
		return false;
	kthread_use_mm(conn->mm);
	return true;
}

static void vfio_user_unuse_mm(struct vfio_user_conn *conn)
{
	kthread_unuse_mm(conn->mm);
	mmput_async(conn->mm);
}

static void vfio_user_cmd_iter_none(struct vfio_user_worker *w)
{
	iov_iter_kvec(&w->cmd_iter, ITER_DEST, &w->cmd_vec, 0, 0);
}

/* Pin the next window of the command's transfer in the owner's memory. */
static int vfio_user_cmd_pin(struct vfio_user_worker *w)
{
	struct vfio_user_conn *conn = w->conn;
	struct vfio_user_dma_xfer *x = &w->xfer;
	int ret;

	if (!x->pages || !x->bvec) {
		if (!x->pages)
			x->pages = kvmalloc_array(VFIO_USER_DMA_WINDOW,
						  sizeof(*x->pages),
						  GFP_KERNEL_ACCOUNT);
		if (!x->bvec)
			x->bvec = kvmalloc_array(VFIO_USER_DMA_WINDOW + 1,
						 sizeof(*x->bvec),
						 GFP_KERNEL_ACCOUNT);
		if (!x->pages || !x->bvec)
			return -ENOMEM;
	}
	/* The address space, not only the mm_struct, while pinning. */
	if (!mmget_not_zero(conn->mm))
		return -EFAULT;
	ret = vfio_user_dma_xfer_pin(conn_to_vdev(conn), x, conn->mm);
	mmput_async(conn->mm);	/* as in vfio_user_unuse_mm() */
	return ret;
}

/*
 * Point @w->cmd_iter at the current window of the command's transfer; with
 * @headers, the reply's headers in the command page go first.
 */
static void vfio_user_cmd_iter_window(struct vfio_user_worker *w,
				      bool headers)
{
	struct vfio_user_dma_xfer *x = &w->xfer;
	unsigned int dir = x->write ? ITER_DEST : ITER_SOURCE;
	size_t head = headers ? VFIO_USER_CMD_DATA : 0;

	if (x->copy) {
		w->cmd_vec.iov_base = w->cmd_page + VFIO_USER_CMD_DATA - head;
		w->cmd_vec.iov_len = head + x->win_len;
		iov_iter_kvec(&w->cmd_iter, dir, &w->cmd_vec, 1,
			      head + x->win_len);
	} else if (headers) {
		x->bvec[0].bv_page = virt_to_page(w->cmd_page);
		x->bvec[0].bv_offset = 0;
		x->bvec[0].bv_len = head;
		iov_iter_bvec(&w->cmd_iter, dir, x->bvec, 1 + x->nr_pages,
			      head + x->win_len);
	} else {
		iov_iter_bvec(&w->cmd_iter, dir, x->bvec + 1, x->nr_pages,
			      x->win_len);
	}
}

/* Make the next window of the command's transfer: see above for @headers. */
static int vfio_user_cmd_window(struct vfio_user_worker *w, bool headers)
{
	struct vfio_user_conn *conn = w->conn;
	int ret;

	ret = vfio_user_cmd_pin(w);
	if (ret == -EFAULT) {
		/* No pages (a device's memory): through the command page. */
		if (!vfio_user_use_mm(conn))
			return -EFAULT;
		ret = vfio_user_dma_xfer_bounce(conn_to_vdev(conn), &w->xfer,
						w->cmd_page + VFIO_USER_CMD_DATA,
						VFIO_USER_CMD_ROOM);
		vfio_user_unuse_mm(conn);
	}
	if (!ret)
		vfio_user_cmd_iter_window(w, headers);
	return ret;
}

/* The current window moved: release it (a bounced write lands now). */
static int vfio_user_cmd_advance(struct vfio_user_worker *w)
{
	struct vfio_user_conn *conn = w->conn;
	struct vfio_user_dma_xfer *x = &w->xfer;
	bool mm = x->copy && x->write;
	size_t done = x->win_len;
	int ret;

	if (mm && !vfio_user_use_mm(conn)) {
		vfio_user_dma_xfer_advance(conn_to_vdev(conn), x, NULL, 0);
		return -EFAULT;
	}
	ret = vfio_user_dma_xfer_advance(conn_to_vdev(conn), x,
					 w->cmd_page + VFIO_USER_CMD_DATA,
					 done);
	if (mm)
		vfio_user_unuse_mm(conn);
	return ret;
}

/*
 * A DMA command's access header is in (or the command has none): judge
 * it, and decide where the rest of the body goes. A DMA_WRITE too large
 * to copy lands straight in the VMM's memory, window by window.
 *
 * Return: 0, or the negative errno to answer the command with.
 */
static int vfio_user_cmd_prepare(struct vfio_user_worker *w)
{
	struct vfio_user_conn *conn = w->conn;
	const struct vfio_user_header *hdr = &w->rx.hdr;
	size_t len = hdr->msg_size - sizeof(*hdr);
	bool write = hdr->cmd == VFIO_USER_DMA_WRITE;
	struct vfio_user_dma_region_access acc;
	int ret;

	vfio_user_cmd_iter_none(w);
	w->cmd_dma = false;
	/* Other commands are not for a client: refused, as QEMU does. */
	if (!vfio_user_is_dma_cmd(hdr->cmd))
		return -EOPNOTSUPP;
	if (len < sizeof(acc))
		return -EINVAL;
	memcpy(&acc, w->cmd_page + VFIO_USER_CMD_ACC, sizeof(acc));
	if (!acc.count)
		return -EINVAL;
	if (acc.count > conn->client_max_xfer)
		return -E2BIG;
	if (len != sizeof(acc) + (write ? acc.count : 0))
		return -EINVAL;
	w->cmd_dma = true;
	if (!write)
		return 0;
	if (acc.count <= VFIO_USER_CMD_ROOM) {
		w->cmd_vec.iov_base = w->cmd_page + VFIO_USER_CMD_DATA;
		w->cmd_vec.iov_len = acc.count;
		iov_iter_kvec(&w->cmd_iter, ITER_DEST, &w->cmd_vec, 1,
			      acc.count);
		return 0;
	}
	ret = vfio_user_dma_xfer_begin(conn_to_vdev(conn), &w->xfer, acc.addr,
				       acc.count, true, w->index);
	if (ret)
		return ret;
	w->rx.xfer = true;
	ret = vfio_user_cmd_window(w, false);
	if (ret) {
		vfio_user_dma_xfer_end(conn_to_vdev(conn), &w->xfer, 0);
		w->rx.xfer = false;
	}
	return ret;
}

/*
 * The body of a server command, which only the worker receives: a DMA
 * command's access header into the command page, then a DMA_WRITE's data
 * where vfio_user_cmd_prepare() said; what is refused is thrown away.
 */
static int vfio_user_rx_cmd(struct vfio_user_worker *w)
{
	struct vfio_user_rx *rx = &w->rx;
	size_t hdr_len = sizeof(rx->hdr), body_len = rx->hdr.msg_size - hdr_len;
	size_t head = 0;
	int ret;

	if (vfio_user_is_dma_cmd(rx->hdr.cmd))
		head = min(body_len, sizeof(struct vfio_user_dma_region_access));
	/*
	 * Made at the first command, so that an idle device does not hold
	 * it: in the VMM's memory cgroup, as the worker is.
	 */
	if (!w->cmd_page) {
		w->cmd_page = (u8 *)__get_free_page(GFP_KERNEL_ACCOUNT);
		if (!w->cmd_page)
			return -ENOMEM;
	}
	while (rx->got - hdr_len < head) {
		size_t off = rx->got - hdr_len;

		ret = vfio_user_rx_recv(w, w->cmd_page + VFIO_USER_CMD_ACC + off,
					head - off);
		if (ret < 0)
			return ret;
		rx->got += ret;
	}
	if (!rx->cmd_ready) {
		rx->cmd_ready = true;
		w->cmd_error = vfio_user_cmd_prepare(w);
	}
	while (rx->got - hdr_len < body_len) {
		size_t left = body_len - (rx->got - hdr_len);

		if (rx->xfer && !iov_iter_count(&w->cmd_iter)) {
			/* A window is in: on to the next, or refuse the rest. */
			ret = vfio_user_cmd_advance(w);
			if (!ret)
				ret = vfio_user_cmd_window(w, false);
			if (ret) {
				w->cmd_error = ret;
				vfio_user_dma_xfer_end(conn_to_vdev(w->conn),
						       &w->xfer, 0);
				rx->xfer = false;
				vfio_user_cmd_iter_none(w);
			}
			continue;
		}
		if (iov_iter_count(&w->cmd_iter))
			ret = vfio_user_rx_recv_iter(w, &w->cmd_iter);
		else
			ret = vfio_user_rx_discard(w, left);
		if (ret < 0)
			return ret;
		rx->got += ret;
	}
	return vfio_user_rx_done(w);
}

/*
 * Take what the socket holds of the current message, without waiting.
 *
 * Return: 0 when a reply was handed over, 1 when a server command is in
 * (the worker only), -EAGAIN when more must arrive, -EXDEV when a
 * server command waits for the worker, or the negative errno to fail with.
 */
static int vfio_user_rx_step(struct vfio_user_worker *w, bool worker)
{
	struct vfio_user_conn *conn = w->conn;
	struct vfio_user_rx *rx = &w->rx;
	size_t hdr_len = sizeof(rx->hdr), body_len;
	int ret;

	while (rx->got < hdr_len) {
		ret = vfio_user_rx_recv(w, (u8 *)&rx->hdr + rx->got,
					hdr_len - rx->got);
		if (ret < 0)
			return ret;
		/* From its first byte, a message must arrive whole in time. */
		if (!rx->got)
			rx->deadline = jiffies +
				msecs_to_jiffies(READ_ONCE(conn->timeout_ms));
		rx->got += ret;
		if (rx->got == hdr_len) {
			ret = vfio_user_rx_header(w);
			if (ret)
				return ret;
		}
	}
	/* Only the worker serves commands: it has the mm and the pages. */
	if (rx->for_worker)
		return worker ? vfio_user_rx_cmd(w) : -EXDEV;

	body_len = rx->hdr.msg_size - hdr_len;
	while (rx->got - hdr_len < body_len) {
		size_t off = rx->got - hdr_len, len = body_len - off;

		if (rx->body)
			ret = vfio_user_rx_recv(w, rx->body + off, len);
		else
			ret = vfio_user_rx_discard(w, len);
		if (ret < 0)
			return ret;
		rx->got += ret;
	}
	return vfio_user_rx_done(w);
}

/**
 * vfio_user_rx_run() - receive while holding the receiver role
 * @w: the socket's worker, whose @recv_lock the caller holds
 * @req: for a waiter, its request; NULL for the worker
 *
 * A waiter receives until @req is complete, the worker until nothing is
 * left to receive. A message left part-way stays in @w->rx for the next
 * receiver.
 *
 * Return: 0 when done; 1 when a server command is in (the worker only);
 * -EXDEV when a server command waits for the worker; -EINTR on a fatal
 * signal; -ETIMEDOUT when @req is overdue; or the negative errno the
 * connection broke with.
 */
static int vfio_user_rx_run(struct vfio_user_worker *w,
			    struct vfio_user_request *req)
{
	struct vfio_user_rx *rx = &w->rx;
	unsigned long until;
	long timeout;
	int ret;

	lockdep_assert_held(&w->recv_lock);
	for (;;) {
		if (req && completion_done(&req->done))
			return 0;
		ret = vfio_user_rx_step(w, !req);
		if (ret == 0)
			continue;
		if (ret == 1 || ret == -EXDEV)
			return ret;
		if (ret != -EAGAIN) {
			vfio_user_rx_fail(w, ret);
			return ret;
		}
		/* Idle between messages: the worker is done. */
		if (!req && !rx->got)
			return 0;

		until = req ? req->deadline : rx->deadline;
		if (rx->got && time_before(rx->deadline, until))
			until = rx->deadline;
		timeout = max((long)(until - jiffies), 0L);
		ret = vfio_user_sock_wait(w->sock, false, &timeout);
		if (ret == -EINTR)
			return ret;
		if (ret == -ETIMEDOUT && rx->got &&
		    !time_before(jiffies, rx->deadline)) {
			/* A message stalled half-way: the stream is lost. */
			atomic64_inc(&w->conn->stats.timeouts);
			vfio_user_rx_fail(w, -ETIMEDOUT);
			return -ETIMEDOUT;
		}
		if (ret == -ETIMEDOUT)
			return ret;
	}
}

/* Does the worker have something to receive that nobody else takes? */
static bool vfio_user_worker_has_work(struct vfio_user_worker *w)
{
	if (mutex_is_locked(&w->recv_lock))
		return false;
	return READ_ONCE(w->rx.got) ||
	       READ_ONCE(w->rx.ahead_pos) != READ_ONCE(w->rx.ahead_len) ||
	       vfio_user_sock_ready(w->sock->sk, false);
}

/*
 * Give the receiver role up. What arrived meanwhile, or a message left
 * part-way, goes to the worker, unless another receiver took over.
 */
static void vfio_user_rx_release(struct vfio_user_worker *w)
{
	int broken = vfio_user_conn_status(w->conn);

	/* Nobody would continue it: the socket is shut down for good. */
	if (broken && (w->rx.got || w->rx.ahead_pos != w->rx.ahead_len))
		vfio_user_rx_abort(w, broken);
	mutex_unlock(&w->recv_lock);
	/* Pairs with the barrier in vfio_user_sock_data_ready(). */
	smp_mb();
	if (vfio_user_worker_has_work(w))
		wake_up(&w->conn->worker_wq);
}

/*
 * The socket's callbacks, ours while the device holds it: they wake the
 * worker when data arrives (or the socket ends) while no waiter is
 * receiving; a receiving waiter is woken by the socket itself.
 */
static void vfio_user_sock_wake_worker(struct sock *sk, bool data)
{
	struct vfio_user_worker *w;

	read_lock_bh(&sk->sk_callback_lock);
	w = sk->sk_user_data;
	if (w) {
		if (data)
			w->saved_data_ready(sk);
		else
			w->saved_state_change(sk);
		/* Pairs with the barrier in vfio_user_rx_release(). */
		smp_mb();
		if (!mutex_is_locked(&w->recv_lock))
			wake_up(&w->conn->worker_wq);
	} else if (data) {
		sk->sk_data_ready(sk);
	} else {
		sk->sk_state_change(sk);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

/*
 * The server consumed some of what we sent: posted writes gathered while
 * it was behind go out once it has caught up (the worker sends them).
 */
static void vfio_user_sock_write_space(struct sock *sk)
{
	struct vfio_user_worker *w;

	read_lock_bh(&sk->sk_callback_lock);
	w = sk->sk_user_data;
	if (w) {
		struct vfio_user_conn *conn = w->conn;

		w->saved_write_space(sk);
		if (w->replies && READ_ONCE(conn->multi)) {
			/*
			 * The room freed before the writes are looked at;
			 * pairs with the barrier in vfio_user_multi_kick().
			 */
			smp_mb();
			if (READ_ONCE(conn->multi_queued) &&
			    !READ_ONCE(conn->multi_wake) &&
			    !vfio_user_sock_behind(sk,
						   VFIO_USER_MULTI_CAUGHT_UP)) {
				WRITE_ONCE(conn->multi_wake, true);
				wake_up(&w->conn->worker_wq);
			}
		}
	} else {
		sk->sk_write_space(sk);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

static void vfio_user_sock_data_ready(struct sock *sk)
{
	vfio_user_sock_wake_worker(sk, true);
}

static void vfio_user_sock_state_change(struct sock *sk)
{
	vfio_user_sock_wake_worker(sk, false);
}

static int vfio_user_sock_hook(struct vfio_user_worker *w)
{
	struct sock *sk = w->sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data) {
		write_unlock_bh(&sk->sk_callback_lock);
		return -EBUSY;
	}
	w->saved_data_ready = sk->sk_data_ready;
	w->saved_state_change = sk->sk_state_change;
	w->saved_write_space = sk->sk_write_space;
	sk->sk_user_data = w;
	sk->sk_data_ready = vfio_user_sock_data_ready;
	sk->sk_state_change = vfio_user_sock_state_change;
	sk->sk_write_space = vfio_user_sock_write_space;
	write_unlock_bh(&sk->sk_callback_lock);
	w->hooked = true;
	return 0;
}

static void vfio_user_sock_unhook(struct vfio_user_worker *w)
{
	struct sock *sk;

	if (!w->hooked)
		return;
	sk = w->sock->sk;
	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_data_ready = w->saved_data_ready;
	sk->sk_state_change = w->saved_state_change;
	sk->sk_write_space = w->saved_write_space;
	sk->sk_user_data = NULL;
	write_unlock_bh(&sk->sk_callback_lock);
	w->hooked = false;
}

/*
 * Serve a transfer small enough for the command page: copied between it
 * and the VMM's pinned pages, with no switch of address space; memory that
 * has no pages is copied with the owner's mm adopted.
 */
static int vfio_user_cmd_copy(struct vfio_user_worker *w,
			      const struct vfio_user_dma_region_access *acc,
			      bool write)
{
	struct vfio_user_conn *conn = w->conn;
	struct vfio_user_device *vdev = conn_to_vdev(conn);
	struct vfio_user_dma_xfer *x = &w->xfer;
	u8 *data = w->cmd_page + VFIO_USER_CMD_DATA;
	struct iov_iter iter;
	size_t n;
	int ret;

	ret = vfio_user_dma_xfer_begin(vdev, x, acc->addr, acc->count, write,
				       w->index);
	while (!ret && x->left) {
		ret = vfio_user_cmd_pin(w);
		if (ret)
			break;
		iov_iter_bvec(&iter, write ? ITER_DEST : ITER_SOURCE,
			      x->bvec + 1, x->nr_pages, x->win_len);
		n = write ? copy_to_iter(data, x->win_len, &iter) :
			    copy_from_iter(data, x->win_len, &iter);
		data += n;
		vfio_user_dma_xfer_advance(vdev, x, NULL, n);
	}
	if ((ret == -EFAULT || ret == -ENOMEM) && x->busy) {
		/* No pages to pin: the rest copied in the owner's mm. */
		if (vfio_user_use_mm(conn)) {
			ret = vfio_user_dma_rw(vdev, x->iova, data, x->left,
					       write);
			vfio_user_unuse_mm(conn);
		}
	}
	vfio_user_dma_xfer_end(vdev, x, 0);
	return ret;
}

/*
 * The rest of a DMA_READ's reply, once a window has gone out: the next
 * window of the VMM's memory. Memory unmapped under the transfer after
 * the reply's header left (the server raced its own unmap) reads as
 * zeros, and counts as an error.
 */
static int vfio_user_dma_read_more(void *arg, struct iov_iter *iter)
{
	struct vfio_user_worker *w = arg;
	int ret;

	ret = vfio_user_cmd_advance(w);
	if (!ret)
		ret = vfio_user_cmd_window(w, false);
	if (ret) {
		w->cmd_error = ret;
		vfio_user_dma_xfer_zeros(&w->xfer,
					 w->cmd_page + VFIO_USER_CMD_DATA,
					 VFIO_USER_CMD_ROOM);
		vfio_user_cmd_iter_window(w, false);
	}
	*iter = w->cmd_iter;
	return 0;
}

/*
 * Serve the DMA_READ or DMA_WRITE whose body is in: a small one copies
 * through the command page; a large DMA_WRITE has landed already, and a
 * large DMA_READ's reply goes out from the VMM's memory, whose first
 * window is made here. Return: 0, or the negative errno to answer with.
 */
static int vfio_user_serve_dma(struct vfio_user_worker *w,
			       const struct vfio_user_dma_region_access *acc,
			       bool *from_pages)
{
	bool write = w->cmd.cmd == VFIO_USER_DMA_WRITE;
	int ret;

	*from_pages = false;
	if (acc->count <= VFIO_USER_CMD_ROOM)
		return vfio_user_cmd_copy(w, acc, write);
	if (write)
		return vfio_user_cmd_advance(w);
	ret = vfio_user_dma_xfer_begin(conn_to_vdev(w->conn), &w->xfer,
				       acc->addr, acc->count, false, w->index);
	if (!ret)
		ret = vfio_user_cmd_window(w, true);
	*from_pages = !ret;
	return ret;
}

/*
 * The server command just received: DMA_READ and DMA_WRITE are served
 * from the DMA map; other commands are refused. Refusals leave the
 * connection healthy.
 */
static int vfio_user_handle_server_cmd(struct vfio_user_worker *worker)
{
	const struct vfio_user_header *hdr = &worker->cmd;
	struct vfio_user_header *reply = (void *)worker->cmd_page;
	struct vfio_user_conn *conn = worker->conn;
	struct vfio_user_device *vdev = conn_to_vdev(conn);
	bool write = hdr->cmd == VFIO_USER_DMA_WRITE, from_pages = false;
	struct vfio_user_dma_region_access acc;
	int status = worker->cmd_error, ret = 0;
	unsigned long deadline;
	size_t reply_len = 0;
	struct iov_iter iter;

	memcpy(&acc, worker->cmd_page + VFIO_USER_CMD_ACC, sizeof(acc));
	if (!status && worker->cmd_dma) {
		status = vfio_user_serve_dma(worker, &acc, &from_pages);
		reply_len = sizeof(acc) + (write ? 0 : acc.count);
	}
	if (hdr->flags & VFIO_USER_F_NO_REPLY)
		goto out;

	reply->msg_id = hdr->msg_id;
	reply->cmd = hdr->cmd;
	reply->flags = VFIO_USER_F_TYPE_REPLY;
	reply->error_no = -status;
	if (status) {
		reply->flags |= VFIO_USER_F_ERROR;
		reply_len = 0;
	}
	reply->msg_size = sizeof(*reply) + reply_len;
	if (from_pages) {
		iter = worker->cmd_iter;
	} else {
		worker->cmd_vec.iov_base = reply;
		worker->cmd_vec.iov_len = reply->msg_size;
		iov_iter_kvec(&iter, ITER_SOURCE, &worker->cmd_vec, 1,
			      reply->msg_size);
	}
	/*
	 * Only this worker sends on the twin socket. The server waits for
	 * this reply: memory short for a moment is worth waiting out (for as
	 * long as the server would wait), not worth the connection.
	 */
	deadline = jiffies + msecs_to_jiffies(READ_ONCE(conn->timeout_ms));
	for (;;) {
		ret = vfio_user_send_iter(conn, worker->sock,
					  worker->replies ? &conn->send_lock :
							    NULL,
					  reply, &iter, NULL, 0, false,
					  from_pages ? vfio_user_dma_read_more :
						       NULL, worker);
		if ((ret != -ENOMEM && ret != -ENOBUFS) ||
		    vfio_user_conn_status(conn) || time_after(jiffies, deadline) ||
		    kthread_should_stop())
			break;
		msleep(20);
	}
	/* A window the reply's zeros stood in for failed. */
	if (from_pages && worker->cmd_error)
		status = worker->cmd_error;
out:
	vfio_user_dma_xfer_end(vdev, &worker->xfer, 0);
	if (worker->cmd_dma) {
		trace_vfio_user_dma(vdev->id, write, acc.addr, acc.count,
				    status);
		atomic64_inc(write ? &conn->stats.dma_writes :
				     &conn->stats.dma_reads);
		if (status)
			atomic64_inc(&conn->stats.dma_errors);
		else
			atomic64_add(acc.count, &conn->stats.dma_bytes);
	}
	return ret;
}

/*
 * How long the worker may sleep: until the next unwaited request is
 * overdue, and no longer than one timeout, so that without mmu notifiers
 * it notices the end of the owner's address space in time.
 */
static long vfio_user_worker_idle(struct vfio_user_worker *w)
{
	struct vfio_user_conn *conn = w->conn;
	long timeout = msecs_to_jiffies(READ_ONCE(conn->timeout_ms));

	if (w->replies)
		timeout = min(timeout, vfio_user_check_unwaited(conn));
	return max(timeout, 1L);
}

/* Is there anything for the device's worker to do? */
static bool vfio_user_worker_woken(struct vfio_user_conn *conn)
{
	struct vfio_user_worker *w = &conn->worker, *twin = &conn->twin_worker;

	return kthread_should_stop() || vfio_user_worker_has_work(w) ||
	       READ_ONCE(conn->multi_wake) || READ_ONCE(w->retime) ||
	       (twin->sock && (vfio_user_worker_has_work(twin) ||
			       READ_ONCE(twin->retime)));
}

/*
 * Receive what nobody else receives on @w's socket, and serve the server
 * command that came in, if any. Return: 0, or the negative errno the
 * connection broke with.
 */
static int vfio_user_worker_serve(struct vfio_user_worker *w)
{
	struct vfio_user_conn *conn = w->conn;
	int ret;

	if (!mutex_trylock(&w->recv_lock))
		return 0;
	ret = vfio_user_rx_run(w, NULL);
	vfio_user_rx_release(w);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		ret = vfio_user_handle_server_cmd(w);
		if (ret) {
			vfio_user_conn_break(conn, ret == -EPIPE ||
					     ret == -ECONNRESET ?
					     -ENOTCONN : ret);
			return ret;
		}
	}
	return 0;
}

/*
 * The receive worker: a kthread in the owner's cgroups (as vhost's worker
 * on 6.1) that receives whatever no waiter receives and serves the
 * server's DMA requests from the owner's pages, so that the work is
 * accounted to the VMM. It may be stopped before it ever runs, so
 * it owns nothing it would have to free.
 */
static int vfio_user_worker(void *data)
{
	struct vfio_user_conn *conn = data;
	struct vfio_user_worker *w = &conn->worker, *twin = &conn->twin_worker;
	struct mem_cgroup *old_memcg;

	/*
	 * Kthreads are not charged to a memory cgroup by themselves: what the
	 * worker allocates for the device (replies queued on the socket among
	 * it) is charged to the owner's.
	 */
	old_memcg = set_active_memcg(conn->memcg);
	/* Release kills a worker stuck in a fault of the VMM's memory. */
	allow_signal(SIGKILL);

	/*
	 * Only SIGKILL reaches us, so any signal is a kill: release's, or
	 * root's, which kill(2) leaves in the shared queue where
	 * fatal_signal_pending() does not look. It is seen when the worker
	 * next wakes, within one timeout.
	 */
	while (!kthread_should_stop() && !vfio_user_conn_status(conn) &&
	       !task_sigpending(current)) {
		long idle;

		/* Computed anew: a new timeout, or an earlier deadline. */
		WRITE_ONCE(w->retime, false);
		WRITE_ONCE(twin->retime, false);
		WRITE_ONCE(w->sleep_until, 0);
		/* Pairs with the barrier in vfio_user_watch_deadline(). */
		smp_mb();
		idle = vfio_user_worker_idle(w);
		WRITE_ONCE(w->sleep_until, (jiffies + idle) ?: 1);
		wait_event_idle_timeout(conn->worker_wq,
					vfio_user_worker_woken(conn), idle);
		/*
		 * Gathered posted writes, and the server caught up: send them,
		 * unless someone is sending (who does it on the way out).
		 */
		if (READ_ONCE(conn->multi_wake)) {
			WRITE_ONCE(conn->multi_wake, false);
			if (mutex_trylock(&conn->send_lock))
				vfio_user_unlock_send(conn);
		}
		/* Is the owner's address space still there? */
		if (!atomic_read(&conn->mm->mm_users)) {
			vfio_user_conn_break(conn, -ENOTCONN);
			break;
		}
		if (kthread_should_stop())
			continue;
		/* Other failures broke the connection already. */
		if (vfio_user_worker_serve(w) ||
		    (twin->sock && vfio_user_worker_serve(twin)))
			break;
	}

	/*
	 * Whatever ended the loop, nobody serves the sockets any more: a
	 * killed worker ends the connection too (release broke it already).
	 */
	vfio_user_conn_break(conn, -ENOTCONN);

	/* Stay until stopped, so release always finds us. */
	set_current_state(TASK_IDLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_IDLE);
	}
	__set_current_state(TASK_RUNNING);
	set_active_memcg(old_memcg);
	return 0;
}

/* Set up the receiver role of @sock; the device's one kthread serves it. */
static void vfio_user_init_worker(struct vfio_user_conn *conn,
				  struct vfio_user_worker *worker,
				  struct socket *sock, bool replies)
{
	worker->conn = conn;
	worker->sock = sock;
	worker->replies = replies;
	mutex_init(&worker->recv_lock);
	vfio_user_rx_reset(&worker->rx);
	worker->rx.ahead_pos = 0;
	worker->rx.ahead_len = 0;
	worker->retime = false;
	worker->sleep_until = 0;
	worker->hooked = false;
	worker->index = replies ? 0 : 1;
	worker->cmd_page = NULL;
	worker->xfer.pages = NULL;
	worker->xfer.bvec = NULL;
	worker->xfer.busy = NULL;
	worker->xfer.nr_pages = 0;
	worker->scratch = NULL;
}

/*
 * Create the device's worker, not yet running, in the caller's cgroups: as
 * vhost, charged to the owner's cgroups or not created at all.
 */
static int vfio_user_create_worker(struct vfio_user_conn *conn)
{
	struct task_struct *task;
	int ret;

	task = kthread_create(vfio_user_worker, conn, "vfio-user-%d",
			      task_pid_nr(current));
	if (IS_ERR(task))
		return PTR_ERR(task);
	ret = cgroup_attach_task_all(current, task);
	if (ret) {
		/* Never woken: the worker function does not run at all. */
		kthread_stop(task);
		return ret;
	}
	/* kthread_stop() needs the task even after the worker returned. */
	get_task_struct(task);
	conn->worker.task = task;
	return 0;
}

static void vfio_user_stop_worker(struct vfio_user_conn *conn)
{
	struct task_struct *task = conn->worker.task;

	if (!task)
		return;
	/*
	 * A fault in the VMM's memory (userfaultfd, FUSE) may never resolve
	 * while the VMM waits here: such faults end on SIGKILL.
	 */
	send_sig(SIGKILL, task, 1);
	kthread_stop(task);
	put_task_struct(task);
	conn->worker.task = NULL;
}

/* Nobody receives on @worker's socket any more: release what it holds. */
static void vfio_user_release_worker(struct vfio_user_worker *worker)
{
	if (!worker->sock)
		return;
	/* Fail what a receiver left claimed. */
	mutex_lock(&worker->recv_lock);
	vfio_user_rx_abort(worker, -ENOTCONN);
	mutex_unlock(&worker->recv_lock);
	free_page((unsigned long)worker->cmd_page);
	worker->cmd_page = NULL;
	kvfree(worker->xfer.pages);
	worker->xfer.pages = NULL;
	kvfree(worker->xfer.bvec);
	worker->xfer.bvec = NULL;
	kfree(worker->scratch);
	worker->scratch = NULL;
	worker->sock = NULL;
}

/* Workers of each user, bounded as the user's own processes are. */
struct vfio_user_user_count {
	struct list_head node;
	kuid_t uid;
	unsigned int workers;
};

static DEFINE_MUTEX(vfio_user_users_lock);	/* vfio_user_users */
static LIST_HEAD(vfio_user_users);

static struct vfio_user_user_count *vfio_user_find_user(kuid_t uid)
{
	struct vfio_user_user_count *it;

	lockdep_assert_held(&vfio_user_users_lock);
	list_for_each_entry(it, &vfio_user_users, node)
		if (uid_eq(it->uid, uid))
			return it;
	return NULL;
}

/*
 * Count @nr workers against the calling user. Kthreads escape RLIMIT_NPROC
 * and the pids controller, so they are counted here together with the
 * user's processes, as the user's own threads would be (privileged users
 * are exempt, as from RLIMIT_NPROC), and the number of workers per user is
 * bounded by the max_workers_per_user module parameter.
 */
static int vfio_user_charge_workers(struct vfio_user_conn *conn,
				    unsigned int nr)
{
	kuid_t uid = current_real_cred()->uid;
	struct vfio_user_user_count *user;
	unsigned long procs, limit;
	int ret = 0;

	mutex_lock(&vfio_user_users_lock);
	user = vfio_user_find_user(uid);
	if (!user) {
		user = kzalloc(sizeof(*user), GFP_KERNEL_ACCOUNT);
		if (!user) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		user->uid = uid;
		list_add(&user->node, &vfio_user_users);
	}
	procs = get_rlimit_value(task_ucounts(current), UCOUNT_RLIMIT_NPROC);
	limit = rlimit(RLIMIT_NPROC);
	if (user->workers + nr > vfio_user_max_workers_per_user() ||
	    (procs + user->workers + nr > limit &&
	     !capable(CAP_SYS_RESOURCE) && !capable(CAP_SYS_ADMIN))) {
		ret = -EAGAIN;
		if (!user->workers) {
			list_del(&user->node);
			kfree(user);
		}
		goto out_unlock;
	}
	user->workers += nr;
	conn->owner_uid = uid;
	conn->nr_workers = nr;
out_unlock:
	mutex_unlock(&vfio_user_users_lock);
	return ret;
}

static void vfio_user_uncharge_workers(struct vfio_user_conn *conn)
{
	struct vfio_user_user_count *user;

	if (!conn->nr_workers)
		return;
	mutex_lock(&vfio_user_users_lock);
	user = vfio_user_find_user(conn->owner_uid);
	if (!WARN_ON_ONCE(!user || user->workers < conn->nr_workers)) {
		user->workers -= conn->nr_workers;
		if (!user->workers) {
			list_del(&user->node);
			kfree(user);
		}
	}
	mutex_unlock(&vfio_user_users_lock);
	conn->nr_workers = 0;
}

/*
 * The owner's address space is going away (the VMM exited): end the
 * connection now. Its sockets are shut down and emptied, which releases
 * any fds queued in them, our own device fd among them, so that no
 * reference cycle outlives the VMM.
 */
static void vfio_user_mm_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct vfio_user_conn *conn = container_of(mn, struct vfio_user_conn,
						   mm_notifier);

	vfio_user_conn_break(conn, -ENOTCONN);
}

static const struct mmu_notifier_ops vfio_user_mm_ops = {
	.release = vfio_user_mm_release,
};

/*
 * Without mmu notifiers (kernels without KVM), the workers notice the end
 * of the address space themselves, each time they wait for the socket in
 * vain: within one timeout.
 */
static int vfio_user_watch_mm(struct vfio_user_conn *conn)
{
	int ret = 0;

	conn->mm_notifier.ops = &vfio_user_mm_ops;
#ifdef CONFIG_MMU_NOTIFIER
	ret = mmu_notifier_register(&conn->mm_notifier, conn->mm);
	/*
	 * The first notifier of an mm takes all its locks, and gives up
	 * when any signal is pending, io_uring's task work among them:
	 * attach again once it has run.
	 */
	if (ret == -EINTR && !fatal_signal_pending(current))
		ret = -ERESTARTNOINTR;
#endif
	return ret;
}

static void vfio_user_unwatch_mm(struct vfio_user_conn *conn)
{
#ifdef CONFIG_MMU_NOTIFIER
	mmu_notifier_unregister(&conn->mm_notifier, conn->mm);
#endif
}

/* A fresh connection: nothing of an earlier attach carries over. */
static void vfio_user_conn_reset(struct vfio_user_conn *conn)
{
	conn->broken = 0;
	conn->next_id = 0;
	conn->next_high_id = 0;
	atomic_set(&conn->posted_id, 0);
	atomic_set(&conn->unwaited, 0);
	/* Nothing reads them before the attach publishes the device. */
	memset(&conn->stats, 0, sizeof(conn->stats));
}

static void vfio_user_sock_setup(struct vfio_user_conn *conn,
				 struct socket *sock)
{
	/*
	 * Room for two whole messages: libvfio-user reads a body with one
	 * recv() and fails on a short one, so a message must be queued whole
	 * before the server reads it.
	 */
	int sndbuf = 2 * (max(conn->max_xfer, conn->client_max_xfer) +
			  VFIO_USER_RAW_MSG_OVERHEAD);

	lock_sock(sock->sk);
	sock->sk->sk_allocation = GFP_KERNEL_ACCOUNT;
	if (sock->sk->sk_sndbuf < sndbuf) {
		sock->sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
		WRITE_ONCE(sock->sk->sk_sndbuf, sndbuf);
	}
	release_sock(sock->sk);
}

/**
 * vfio_user_conn_start() - take over the sockets and start receiving
 * @vdev: the device; its conn limits are already set
 * @sock: the main socket (the caller's reference passes to the connection)
 * @twin: the twin socket or NULL (likewise)
 *
 * Called in the owner's ioctl.
 *
 * Return: 0 or a negative errno; on failure the sockets remain the caller's.
 */
int vfio_user_conn_start(struct vfio_user_device *vdev, struct socket *sock,
			 struct socket *twin)
{
	struct vfio_user_conn *conn = &vdev->conn;
	int ret;

	if (!current->mm)
		return -ESRCH;
	ret = vfio_user_charge_workers(conn, 1);
	if (ret)
		return ret;
	/* As VFIO type1: the pointer, not the address space. */
	conn->mm = current->mm;
	mmgrab(conn->mm);
	conn->memcg = get_mem_cgroup_from_mm(conn->mm);

	/* Made at the first posted write that could be gathered. */
	conn->multi = NULL;
	conn->multi_out = NULL;
	conn->multi_flushing = false;
	conn->multi_queued = false;
	conn->multi_wake = false;

	/* One kthread serves both sockets; created before it runs. */
	vfio_user_init_worker(conn, &conn->worker, sock, true);
	if (twin)
		vfio_user_init_worker(conn, &conn->twin_worker, twin, false);
	ret = vfio_user_create_worker(conn);
	if (ret)
		goto err_release_workers;

	vfio_user_conn_reset(conn);
	/* Held in the table's head: nothing to allocate, cannot fail. */
	ret = xa_reserve(&conn->pending, 0, GFP_KERNEL_ACCOUNT);
	if (ret)
		goto err_stop_worker;
	conn->sock = sock;
	conn->twin = twin;
	ret = vfio_user_sock_hook(&conn->worker);
	if (!ret && twin)
		ret = vfio_user_sock_hook(&conn->twin_worker);
	if (ret)
		goto err_unhook;
	/*
	 * Last: nothing may fail once the notifier is in, for unregistering
	 * it calls its release, which would end the connection.
	 */
	ret = vfio_user_watch_mm(conn);
	if (ret)
		goto err_unhook;
	vfio_user_sock_setup(conn, sock);
	if (twin)
		vfio_user_sock_setup(conn, twin);
	wake_up_process(conn->worker.task);
	return 0;

err_unhook:
	vfio_user_sock_unhook(&conn->twin_worker);
	vfio_user_sock_unhook(&conn->worker);
	conn->sock = NULL;
	conn->twin = NULL;
	xa_destroy(&conn->pending);
err_stop_worker:
	vfio_user_stop_worker(conn);
err_release_workers:
	vfio_user_release_worker(&conn->twin_worker);
	vfio_user_release_worker(&conn->worker);
	mem_cgroup_put(conn->memcg);
	conn->memcg = NULL;
	mmdrop(conn->mm);
	conn->mm = NULL;
	vfio_user_uncharge_workers(conn);
	return ret;
}

/**
 * vfio_user_conn_stop() - close the connection and release its resources
 * @conn: a started connection
 *
 * Fails every waiter, shuts the sockets down (the server sees end of file),
 * stops the workers and drops the sockets, the owner and its mm.
 */
void vfio_user_conn_stop(struct vfio_user_conn *conn)
{
	vfio_user_conn_break(conn, -ENOTCONN);
	/* Waits for a release callback that may still use the sockets. */
	vfio_user_unwatch_mm(conn);
	vfio_user_stop_worker(conn);
	vfio_user_sock_unhook(&conn->twin_worker);
	vfio_user_sock_unhook(&conn->worker);
	vfio_user_release_worker(&conn->twin_worker);
	vfio_user_release_worker(&conn->worker);
	/*
	 * Nobody looks at the table now, which the break emptied of
	 * requests: what is left is the reserved id and its node.
	 */
	xa_destroy(&conn->pending);

	if (conn->twin)
		sockfd_put(conn->twin);
	sockfd_put(conn->sock);
	conn->sock = NULL;
	conn->twin = NULL;
	kfree(conn->multi);
	kfree(conn->multi_out);
	conn->multi = NULL;
	conn->multi_out = NULL;
	mem_cgroup_put(conn->memcg);
	conn->memcg = NULL;
	mmdrop(conn->mm);
	conn->mm = NULL;
	vfio_user_uncharge_workers(conn);
}
