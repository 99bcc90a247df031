// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-user client in the kernel: region accesses that skip the socket.
 *
 * A server can ask (DEVICE_GET_REGION_IO_FDS) for parts of a region to be
 * served through file descriptors: writes to an ioeventfd sub-region only
 * signal its eventfd, as KVM_IOEVENTFD would; accesses to an ioregionfd
 * sub-region travel over its socket in the ioregionfd wire format. Both
 * apply to pread()/pwrite() on the device fd, and the ioeventfds can be
 * handed to the VMM for KVM.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <net/sock.h>

#include "vfio_user.h"

/* Is the access [offset, offset + count) inside ioregionfd @io? */
static bool vfio_user_ioregion_covers(const struct vfio_user_io_fd *io,
				      u64 offset, size_t count)
{
	return offset >= io->offset && count <= io->size &&
	       offset - io->offset <= io->size - count;
}

/*
 * KVM's ioeventfd rule: the address matches exactly, the length matches
 * unless the ioeventfd has none, and so does the value with DATAMATCH.
 */
static bool vfio_user_ioeventfd_matches(const struct vfio_user_io_fd *io,
					u64 offset, size_t count, u64 value)
{
	if (offset != io->offset)
		return false;
	if (io->size && count != io->size)
		return false;
	if (io->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH)
		return value == io->datamatch;
	return true;
}

/*
 * A shadow ioeventfd's value goes to its shadow page before the eventfd is
 * signalled: the server reads it after the signal, as from KVM's. The
 * access has the sub-region's width (matched), aligned, within the page;
 * one store of that width, so that a server polling the page never sees
 * half a value. @data holds the bytes as written, first byte first.
 */
static void vfio_user_shadow_store(struct vfio_user_io_fd *io, u64 data,
				   size_t count)
{
	u8 *p = kmap_local_page(io->shadow_page);
	void *dst = p + io->shadow_in_page;
	u32 v32;
	u16 v16;

	switch (count) {
	case 1:
		WRITE_ONCE(*(u8 *)dst, *(u8 *)&data);
		break;
	case 2:
		memcpy(&v16, &data, sizeof(v16));
		WRITE_ONCE(*(u16 *)dst, v16);
		break;
	case 4:
		memcpy(&v32, &data, sizeof(v32));
		WRITE_ONCE(*(u32 *)dst, v32);
		break;
	default:
		WRITE_ONCE(*(u64 *)dst, data);
		break;
	}
	kunmap_local(p);
	set_page_dirty(io->shadow_page);
}

/*
 * Send or receive all @len bytes at @buf on @io's socket; io->lock held.
 * Only a fatal signal interrupts, and only before the first byte (-EINTR):
 * half a frame would leave the stream out of step (-EIO). No memory for a
 * send before its first byte (-ENOMEM) leaves the stream as it was too.
 */
static int vfio_user_ioregion_io(struct vfio_user_io_fd *io, void *buf,
				 size_t len, bool out, long *timeout)
{
	size_t done = 0;
	int ret;

	lockdep_assert_held(&io->lock);
	while (done < len) {
		struct kvec vec = { .iov_base = buf + done,
				    .iov_len = len - done };
		struct msghdr msg = { };

		if (out) {
			msg.msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
			ret = kernel_sendmsg(io->sock, &msg, &vec, 1,
					     vec.iov_len);
		} else {
			ret = kernel_recvmsg(io->sock, &msg, &vec, 1,
					     vec.iov_len, MSG_DONTWAIT);
			/* The peer sent fds: they are gone, and so is trust. */
			if (msg.msg_flags & MSG_CTRUNC)
				return -EIO;
		}
		if (ret > 0) {
			done += ret;
			continue;
		}
		if (out && !done && (ret == -ENOMEM || ret == -ENOBUFS))
			return -ENOMEM;
		if (ret != -EAGAIN)
			return -EIO;
		ret = vfio_user_sock_wait(io->sock, out, timeout);
		if (ret == -EINTR && done)
			return -EIO;
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Send one command and, if asked, take its response; io->lock held. A
 * response that a fatal signal kept us from waiting for is still owed:
 * the next access takes it first.
 */
static int vfio_user_ioregion_xfer(struct vfio_user_conn *conn,
				   struct vfio_user_io_fd *io,
				   const struct vfio_user_ioregionfd_cmd *cmd,
				   u64 *data)
{
	long timeout = msecs_to_jiffies(READ_ONCE(conn->timeout_ms));
	struct vfio_user_ioregionfd_resp resp;
	int ret;

	lockdep_assert_held(&io->lock);
	while (io->stale_responses) {
		ret = vfio_user_ioregion_io(io, &resp, sizeof(resp), false,
					    &timeout);
		if (ret)
			return ret;
		io->stale_responses--;
	}
	ret = vfio_user_ioregion_io(io, (void *)cmd, sizeof(*cmd), true,
				    &timeout);
	if (ret || !(cmd->size_resp & VFIO_USER_IOREGIONFD_RESP))
		return ret;
	ret = vfio_user_ioregion_io(io, &resp, sizeof(resp), false, &timeout);
	if (ret == -EINTR)
		io->stale_responses++;
	if (!ret)
		*data = resp.data;
	return ret;
}

/*
 * The sub-region's peer misbehaved: its accesses fail from now on, and its
 * socket is shut down and emptied, so that no fd it queued there (perhaps
 * our own device fd) keeps anything alive. io->lock held.
 */
static void vfio_user_io_fd_fail(struct vfio_user_io_fd *io, int err)
{
	lockdep_assert_held(&io->lock);
	io->broken = true;
	pr_warn_ratelimited("%s: ioregionfd at offset 0x%llx misbehaved (%d); its accesses fail from now on\n",
			    io->dev_name, io->offset, err);
	vfio_user_sock_close(io->sock);
}

/*
 * Nothing may wait in an ioregionfd socket unasked: a response comes only
 * after a command. Whatever else a peer sends (fds, perhaps the device's
 * own, parked where nobody would ever read them) costs it the sub-region.
 * A response owed to an access a fatal signal ended is taken here.
 */
static void vfio_user_io_fd_watch(struct work_struct *work)
{
	struct vfio_user_io_fd *io = container_of(work, struct vfio_user_io_fd,
						  watch);
	struct sk_buff_head *queue = &io->sock->sk->sk_receive_queue;
	struct vfio_user_ioregionfd_resp resp;
	long no_wait = 0;
	int ret;

	mutex_lock(&io->lock);
	while (!io->broken && io->stale_responses &&
	       !skb_queue_empty_lockless(queue)) {
		ret = vfio_user_ioregion_io(io, &resp, sizeof(resp), false,
					    &no_wait);
		if (ret) {
			vfio_user_io_fd_fail(io, ret);
			break;
		}
		io->stale_responses--;
	}
	if (!io->broken && !skb_queue_empty_lockless(queue))
		vfio_user_io_fd_fail(io, -EPROTO);
	mutex_unlock(&io->lock);
}

static void vfio_user_io_fd_data_ready(struct sock *sk)
{
	struct vfio_user_io_fd *io;

	read_lock_bh(&sk->sk_callback_lock);
	io = sk->sk_user_data;
	if (io) {
		/* Taken by the access that waits for it, else by the watch. */
		schedule_work(&io->watch);
		io->saved_data_ready(sk);
	} else {
		sk->sk_data_ready(sk);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

/*
 * An access to an ioregionfd sub-region. The wire format has no ids, so
 * accesses to one sub-region are serialized; a peer that answers wrong or
 * not at all, or an access cut half-way, leaves the stream out of step, so
 * the sub-region fails from then on while the rest of the device works. A
 * signal does neither: only a fatal one ends the wait, and the response it
 * left owed is taken by the next access.
 */
static int vfio_user_ioregion_access(struct vfio_user_conn *conn,
				     struct vfio_user_io_fd *io, u64 offset,
				     size_t count, u64 *data, bool write)
{
	struct vfio_user_ioregionfd_cmd cmd = {
		.cmd = write ? VFIO_USER_IOREGIONFD_CMD_WRITE :
			       VFIO_USER_IOREGIONFD_CMD_READ,
		.size_resp = ilog2(count),
		.user_data = io->user_data,
		.offset = offset - io->offset,
		.data = write ? *data : 0,
	};
	int ret;

	if (!write || !(io->flags & VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES))
		cmd.size_resp |= VFIO_USER_IOREGIONFD_RESP;

	if (mutex_lock_killable(&io->lock))
		return -EINTR;
	ret = io->broken ? -EIO : vfio_user_ioregion_xfer(conn, io, &cmd, data);
	/* Only what left the stream out of step costs the sub-region. */
	if (ret && ret != -EINTR && ret != -ENOMEM && !io->broken) {
		if (ret == -ETIMEDOUT)
			atomic64_inc(&conn->stats.timeouts);
		vfio_user_io_fd_fail(io, ret);
	}
	mutex_unlock(&io->lock);
	return ret;
}

/**
 * vfio_user_io_fd_access() - serve a region access through an io fd
 * @vdev: the device
 * @region: the region
 * @offset: offset of the access in the region
 * @buf: the user's buffer
 * @count: bytes
 * @write: direction
 *
 * Return: @count when an io fd served the access, 0 when none applies (the
 * access goes to the server), or a negative errno.
 */
ssize_t vfio_user_io_fd_access(struct vfio_user_device *vdev,
			       struct vfio_user_region *region, u64 offset,
			       char __user *buf, size_t count, bool write)
{
	u64 data = 0;
	u32 i;
	int ret;

	/* Both kinds serve single accesses of a machine word at most. */
	if (count > sizeof(data))
		return 0;

	for (i = 0; i < region->nr_io_fds; i++) {
		struct vfio_user_io_fd *io = &region->io_fds[i];

		if (io->type == VFIO_USER_IO_FD_TYPE_IOREGIONFD) {
			if (!vfio_user_ioregion_covers(io, offset, count))
				continue;
			if (!is_power_of_2(count))
				return -EINVAL;
			if (write && copy_from_user(&data, buf, count))
				return -EFAULT;
			ret = vfio_user_ioregion_access(&vdev->conn, io, offset,
							count, &data, write);
			if (ret)
				return ret;
			if (!write && copy_to_user(buf, &data, count))
				return -EFAULT;
			return count;
		}
		if (!write || offset != io->offset)
			continue;
		if (copy_from_user(&data, buf, count))
			return -EFAULT;
		if (vfio_user_ioeventfd_matches(io, offset, count, data)) {
			if (io->shadow_page)
				vfio_user_shadow_store(io, data, count);
			vfio_user_eventfd_signal(io->trigger);
			atomic64_inc(&vdev->conn.stats.ioeventfd_signals);
			return count;
		}
	}
	return 0;
}

/**
 * vfio_user_io_fd_setup() - take what serving @io needs from its file
 * @io: a checked io fd whose file is set
 *
 * Return: 0 or a negative errno (the file is of the wrong kind).
 */
int vfio_user_io_fd_setup(struct vfio_user_io_fd *io)
{
	struct eventfd_ctx *ctx;
	struct socket *sock;
	struct sock *sk;

	mutex_init(&io->lock);
	INIT_WORK(&io->watch, vfio_user_io_fd_watch);
	if (io->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD ||
	    io->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW) {
		ctx = eventfd_ctx_fileget(io->file);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
		io->trigger = ctx;
		return 0;
	}
	sock = sock_from_file(io->file);
	if (!sock || !vfio_user_is_unix_stream(sock))
		return -EINVAL;
	/* Its own socket: not a device's, not another sub-region's. */
	if (vfio_user_claim_socket(sock))
		return -EBUSY;
	io->claimed = true;
	/* Accesses never block in the socket: they wait in ours, bounded. */
	sk = sock->sk;
	io->sock = sock;

	/* Watch for what arrives unasked, from now on and from before. */
	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data) {
		write_unlock_bh(&sk->sk_callback_lock);
		return -EBUSY;
	}
	io->saved_data_ready = sk->sk_data_ready;
	sk->sk_user_data = io;
	sk->sk_data_ready = vfio_user_io_fd_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
	io->watching = true;
	schedule_work(&io->watch);
	return 0;
}

/**
 * vfio_user_io_fd_release() - drop the references of @io
 * @io: an io fd from attach
 */
void vfio_user_io_fd_release(struct vfio_user_io_fd *io)
{
	if (io->watching) {
		struct sock *sk = io->sock->sk;

		write_lock_bh(&sk->sk_callback_lock);
		sk->sk_data_ready = io->saved_data_ready;
		sk->sk_user_data = NULL;
		write_unlock_bh(&sk->sk_callback_lock);
		cancel_work_sync(&io->watch);
	}
	if (io->shadow_page)
		put_page(io->shadow_page);
	if (io->shadow_file) {
		mapping_unmap_writable(io->shadow_file->f_mapping);
		fput(io->shadow_file);
	}
	if (io->trigger)
		eventfd_ctx_put(io->trigger);
	if (io->claimed)
		vfio_user_unclaim_socket(io->sock);
	if (io->file)
		fput(io->file);
	mutex_destroy(&io->lock);
}

/**
 * vfio_user_get_ioeventfds() - VFIO_USER_GET_IOEVENTFDS
 * @vdev: an attached device
 * @arg: the user's struct vfio_user_ioeventfds
 *
 * The entries are copied out before any fd is installed, so a fault leaves
 * nothing behind in the caller's fd table.
 *
 * Return: 0 or a negative errno.
 */
long vfio_user_get_ioeventfds(struct vfio_user_device *vdev, void __user *arg)
{
	struct vfio_user_ioeventfds __user *uarg = arg;
	struct vfio_user_ioeventfd *out = NULL;
	struct vfio_user_io_fd **ios = NULL;
	struct vfio_user_region *region;
	struct vfio_user_ioeventfds req;
	u32 i, n = 0, total = 0;
	int ret = 0;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.argsz < sizeof(req) || req.flags ||
	    req.index >= vdev->num_regions)
		return -EINVAL;
	region = &vdev->regions[array_index_nospec(req.index,
						   vdev->num_regions)];
	for (i = 0; i < region->nr_io_fds; i++)
		total += region->io_fds[i].type == VFIO_USER_IO_FD_TYPE_IOEVENTFD;
	if (req.count < total || !total)
		return put_user(total, &uarg->count);

	out = kcalloc(total, sizeof(*out), GFP_KERNEL_ACCOUNT);
	ios = kcalloc(total, sizeof(*ios), GFP_KERNEL_ACCOUNT);
	if (!out || !ios) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < region->nr_io_fds; i++)
		if (region->io_fds[i].type == VFIO_USER_IO_FD_TYPE_IOEVENTFD)
			ios[n++] = &region->io_fds[i];

	for (n = 0; n < total; n++) {
		out[n].offset = ios[n]->offset;
		out[n].size = ios[n]->size;
		out[n].datamatch = ios[n]->datamatch;
		out[n].flags = ios[n]->flags;
		out[n].fd = get_unused_fd_flags(O_CLOEXEC);
		if (out[n].fd < 0) {
			ret = out[n].fd;
			break;
		}
	}
	if (!ret && (copy_to_user(u64_to_user_ptr(req.entries), out,
				  array_size(total, sizeof(*out))) ||
		     put_user(total, &uarg->count)))
		ret = -EFAULT;

	/* @n fds were reserved: install them all, or give them all back. */
	for (i = 0; i < n; i++) {
		if (ret)
			put_unused_fd(out[i].fd);
		else
			fd_install(out[i].fd, get_file(ios[i]->file));
	}
out_free:
	kfree(ios);
	kfree(out);
	return ret;
}
