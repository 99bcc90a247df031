// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-user client in the kernel: the VFIO device API of an attached device.
 *
 * Written against struct vfio_user_device only, so the same operations can
 * serve the /dev/vfio-user fd and, later, a vfio_device registered with the
 * VFIO core.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/scm.h>
#include <net/sock.h>

#include "vfio_user.h"

static bool vfio_user_attached(struct vfio_user_device *vdev)
{
	/* Pairs with the release in attach: the cached state is complete. */
	return smp_load_acquire(&vdev->attached);
}

/* Interrupts the kernel signals itself */

/**
 * vfio_user_device_broken() - the connection broke: the device is gone
 * @vdev: the device whose connection broke
 *
 * Shuts its ioregionfd sockets down (emptying them, so no fd queued there
 * keeps anything alive), then signals the ERR and REQ eventfds, as
 * vfio-pci does when its device fails or must be released.
 */
void vfio_user_device_broken(struct vfio_user_device *vdev)
{
	u32 i, j;

	for (i = 0; i < vdev->num_regions; i++) {
		struct vfio_user_region *region = &vdev->regions[i];

		for (j = 0; j < region->nr_io_fds; j++)
			if (region->io_fds[j].sock)
				vfio_user_sock_close(region->io_fds[j].sock);
	}

	mutex_lock(&vdev->irq_lock);
	if (vdev->err_trigger)
		vfio_user_eventfd_signal(vdev->err_trigger);
	if (vdev->req_trigger)
		vfio_user_eventfd_signal(vdev->req_trigger);
	mutex_unlock(&vdev->irq_lock);
}

/**
 * vfio_user_device_release_irqs() - drop the ERR/REQ eventfd references
 * @vdev: the device
 */
void vfio_user_device_release_irqs(struct vfio_user_device *vdev)
{
	mutex_lock(&vdev->irq_lock);
	if (vdev->err_trigger)
		eventfd_ctx_put(vdev->err_trigger);
	if (vdev->req_trigger)
		eventfd_ctx_put(vdev->req_trigger);
	vdev->err_trigger = NULL;
	vdev->req_trigger = NULL;
	mutex_unlock(&vdev->irq_lock);
}

static struct eventfd_ctx **vfio_user_kernel_trigger(struct vfio_user_device *vdev,
						     u32 index)
{
	if (!(vdev->device_flags & VFIO_DEVICE_FLAGS_PCI))
		return NULL;
	if (index == VFIO_PCI_ERR_IRQ_INDEX)
		return &vdev->err_trigger;
	if (index == VFIO_PCI_REQ_IRQ_INDEX)
		return &vdev->req_trigger;
	return NULL;
}

/* Region access */

static int vfio_user_check_echo(struct vfio_user_conn *conn,
				const struct vfio_user_region_access *sent,
				const struct vfio_user_request *req,
				size_t expected_len)
{
	struct vfio_user_region_access echo;

	if (req->reply_len == expected_len) {
		memcpy(&echo, req->reply, sizeof(echo));
		if (echo.offset == sent->offset && echo.region == sent->region &&
		    echo.count == sent->count)
			return 0;
	}
	atomic64_inc(&conn->stats.protocol_errors);
	vfio_user_conn_break(conn, -EPROTO);
	return -EPROTO;
}

static ssize_t vfio_user_region_read_chunk(struct vfio_user_device *vdev,
					   u32 index, u64 offset,
					   char __user *buf, u32 count)
{
	struct vfio_user_region_access acc = {
		.offset = offset, .region = index, .count = count,
	};
	struct vfio_user_request *req;
	int ret;

	atomic64_inc(&vdev->conn.stats.region_reads);
	ret = vfio_user_call(&vdev->conn, VFIO_USER_REGION_READ, &acc,
			     sizeof(acc), NULL, 0, sizeof(acc) + count, &req);
	if (ret)
		return ret;
	ret = vfio_user_check_echo(&vdev->conn, &acc, req, sizeof(acc) + count);
	if (!ret && copy_to_user(buf, req->reply + sizeof(acc), count))
		ret = -EFAULT;
	vfio_user_request_put(req);
	return ret;
}

static ssize_t vfio_user_region_write_chunk(struct vfio_user_device *vdev,
					    struct vfio_user_region *region,
					    u64 offset, const char __user *buf,
					    u32 count)
{
	/* Register writes are small: no allocation for them. */
	u8 small[sizeof(struct vfio_user_region_access) + 64] __aligned(8);
	struct vfio_user_region_access *acc = (void *)small;
	struct vfio_user_request *req;
	size_t len = sizeof(*acc) + count;
	int ret;

	if (len > sizeof(small)) {
		acc = kvmalloc(len, VFIO_USER_GFP_LARGE);
		if (!acc)
			return -ENOMEM;
	}
	acc->offset = offset;
	acc->region = region->info.index;
	acc->count = count;
	if (copy_from_user(acc->data, buf, count)) {
		ret = -EFAULT;
		goto out_free;
	}

	atomic64_inc(&vdev->conn.stats.region_writes);
	/* Once the VMM maps the device, a read could pass a posted write. */
	if (region->posted_writes && !READ_ONCE(vdev->mmapped)) {
		ret = vfio_user_send_posted(&vdev->conn, VFIO_USER_REGION_WRITE,
					    acc, len);
		goto out_free;
	}

	ret = vfio_user_call(&vdev->conn, VFIO_USER_REGION_WRITE, acc, len,
			     NULL, 0, sizeof(*acc), &req);
	if (!ret) {
		ret = vfio_user_check_echo(&vdev->conn, acc, req, sizeof(*acc));
		vfio_user_request_put(req);
	}
out_free:
	if (acc != (void *)small)
		kvfree(acc);
	return ret;
}

/*
 * Where an access at @pos lands: its region and the offset in it, with
 * *@count clipped to the region's end.
 */
static int vfio_user_rw_target(struct vfio_user_device *vdev, loff_t pos,
			       size_t *count, bool write,
			       struct vfio_user_region **regionp, u64 *offsetp)
{
	u64 index = (u64)pos >> VFIO_USER_REGION_SHIFT;
	u64 offset = pos & (VFIO_USER_REGION_OFFSET(1) - 1);
	struct vfio_user_region *region;

	if (!vfio_user_attached(vdev))
		return -ENODEV;
	if (pos < 0 || index >= vdev->num_regions)
		return -EINVAL;
	index = array_index_nospec(index, vdev->num_regions);
	region = &vdev->regions[index];
	if (!(region->info.flags & (write ? VFIO_REGION_INFO_FLAG_WRITE :
					    VFIO_REGION_INFO_FLAG_READ)))
		return -EINVAL;
	if (offset >= region->info.size)
		return -EINVAL;
	*count = min_t(u64, *count, region->info.size - offset);
	*regionp = region;
	*offsetp = offset;
	return 0;
}

/* The largest piece of a region access one message may carry. */
static u32 vfio_user_max_chunk(struct vfio_user_device *vdev, bool write)
{
	/* Writes within the server's limit, replies to reads within ours. */
	return write ? vdev->conn.max_xfer :
		       min(vdev->conn.max_xfer, vdev->conn.client_max_xfer);
}

/**
 * vfio_user_device_rw() - read or write a region, as pread/pwrite on a VFIO
 *	device fd
 * @vdev: the device
 * @buf: user buffer
 * @count: bytes
 * @pos: VFIO_USER_REGION_OFFSET(index) + offset in the region
 * @write: direction
 *
 * Accesses are split by the server's max_data_xfer_size.
 *
 * Return: bytes transferred, or a negative errno if none were.
 */
ssize_t vfio_user_device_rw(struct vfio_user_device *vdev, char __user *buf,
			    size_t count, loff_t pos, bool write)
{
	struct vfio_user_region *region;
	size_t done = 0;
	ssize_t ret = 0;
	u32 max_chunk;
	u64 offset;

	ret = vfio_user_rw_target(vdev, pos, &count, write, &region, &offset);
	if (ret)
		return ret;

	if (region->nr_io_fds) {
		ret = vfio_user_io_fd_access(vdev, region, offset, buf, count,
					     write);
		if (ret)
			return ret;
	}

	max_chunk = vfio_user_max_chunk(vdev, write);
	while (done < count) {
		u32 chunk = min_t(size_t, count - done, max_chunk);

		if (write)
			ret = vfio_user_region_write_chunk(vdev, region,
							   offset + done,
							   buf + done, chunk);
		else
			ret = vfio_user_region_read_chunk(vdev,
							  region->info.index,
							  offset + done,
							  buf + done, chunk);
		if (ret)
			break;
		done += chunk;
	}
	return done ? done : ret;
}

/*
 * Asynchronous region access (io_uring, AIO): the command is sent and the
 * call returns; the reply completes the kiocb from whichever task receives
 * it. The pages a read lands in are taken at submission, the data a write
 * sends is copied then. One message per access, at most one page of data:
 * register and doorbell accesses, which are what a VMM keeps many of in
 * flight, up to VFIO_USER_ASYNC_IN_FLIGHT of them. Anything else is done
 * synchronously, as by pread and pwrite.
 */
#define VFIO_USER_ASYNC_MAX	PAGE_SIZE
/* In flight per device: each may hold two pages of the VMM's. */
#define VFIO_USER_ASYNC_IN_FLIGHT	1024

/**
 * struct vfio_user_async - an asynchronous region access in flight
 * @vdev: the device (the kiocb's file holds it)
 * @iocb: what to complete
 * @acc: what was sent, which the reply must echo
 * @write: direction
 * @nr_pages: entries in @pages
 * @page_off: where a read's data starts in @pages[0]
 * @pages: the pages a read's data goes to (references)
 */
struct vfio_user_async {
	struct vfio_user_device *vdev;
	struct kiocb *iocb;
	struct vfio_user_region_access acc;
	bool write;
	unsigned int nr_pages;
	size_t page_off;
	struct page *pages[2];
};

static void vfio_user_async_put_pages(struct vfio_user_async *async,
				      bool dirty)
{
	unsigned int i;

	for (i = 0; i < async->nr_pages; i++) {
		if (dirty)
			set_page_dirty_lock(async->pages[i]);
		put_page(async->pages[i]);
	}
	async->nr_pages = 0;
}

static void vfio_user_async_end(struct vfio_user_request *req)
{
	struct vfio_user_async *async = req->end_data;
	size_t count = async->acc.count, done = 0, off = async->page_off;
	long ret = req->status;
	unsigned int i;

	if (!ret)
		ret = vfio_user_check_echo(&async->vdev->conn, &async->acc, req,
					   sizeof(async->acc) +
					   (async->write ? 0 : count));
	if (!ret && !async->write) {
		for (i = 0; i < async->nr_pages && done < count; i++) {
			size_t n = min_t(size_t, count - done, PAGE_SIZE - off);

			memcpy_to_page(async->pages[i], off,
				       (char *)req->reply + sizeof(async->acc) +
				       done, n);
			done += n;
			off = 0;
		}
	}
	vfio_user_async_put_pages(async, !ret && !async->write);
	atomic_dec(&async->vdev->async_in_flight);
	async->iocb->ki_complete(async->iocb, ret ? ret : (long)count);
	kfree(async);
}

/*
 * Start an asynchronous access. Return: -EIOCBQUEUED once sent, 1 when
 * the access is not one for the asynchronous path, or a negative errno.
 */
static ssize_t vfio_user_rw_async(struct vfio_user_device *vdev,
				  struct kiocb *iocb, struct iov_iter *iter,
				  bool write)
{
	bool nowait = iocb->ki_flags & IOCB_NOWAIT;
	size_t count = iov_iter_count(iter);
	struct vfio_user_region_access *msg;
	struct vfio_user_region *region;
	struct vfio_user_async *async;
	struct vfio_user_request *req;
	size_t len;
	u64 offset;
	ssize_t ret;

	ret = vfio_user_rw_target(vdev, iocb->ki_pos, &count, write, &region,
				  &offset);
	if (ret)
		return ret;
	/* Sub-regions, posted writes and long accesses: the usual way. */
	if (!count || count > VFIO_USER_ASYNC_MAX ||
	    count > vfio_user_max_chunk(vdev, write) || region->nr_io_fds ||
	    (write && region->posted_writes && !READ_ONCE(vdev->mmapped)))
		return 1;

	if (atomic_inc_return(&vdev->async_in_flight) >
	    VFIO_USER_ASYNC_IN_FLIGHT) {
		atomic_dec(&vdev->async_in_flight);
		return 1;
	}
	async = kzalloc(sizeof(*async), GFP_KERNEL_ACCOUNT);
	if (!async) {
		atomic_dec(&vdev->async_in_flight);
		return -ENOMEM;
	}
	async->vdev = vdev;
	async->iocb = iocb;
	async->write = write;
	async->acc.offset = offset;
	async->acc.region = region->info.index;
	async->acc.count = count;

	len = sizeof(*msg) + (write ? count : 0);
	msg = kmalloc(len, GFP_KERNEL_ACCOUNT);
	req = vfio_user_request_alloc(sizeof(*msg) + (write ? 0 : count));
	ret = -ENOMEM;
	if (!msg || !req)
		goto err_free;
	*msg = async->acc;
	if (write) {
		ret = -EFAULT;
		if (copy_from_iter(msg->data, count, iter) != count)
			goto err_free;
	} else {
		ret = iov_iter_get_pages2(iter, async->pages, count,
					  ARRAY_SIZE(async->pages),
					  &async->page_off);
		if (ret > 0)
			async->nr_pages = DIV_ROUND_UP(async->page_off + ret,
						       PAGE_SIZE);
		if (ret != count) {
			ret = ret < 0 ? ret : -EFAULT;
			goto err_free;
		}
	}

	req->end = vfio_user_async_end;
	req->end_data = async;
	atomic64_inc(write ? &vdev->conn.stats.region_writes :
		     &vdev->conn.stats.region_reads);
	ret = vfio_user_call_async(&vdev->conn, req,
				   write ? VFIO_USER_REGION_WRITE :
					   VFIO_USER_REGION_READ,
				   msg, len, nowait);
	req = NULL;
	if (ret)
		goto err_free;
	kfree(msg);
	return -EIOCBQUEUED;

err_free:
	/* As found, for a retry that may wait (io_uring does one). */
	iov_iter_revert(iter, count - iov_iter_count(iter));
	vfio_user_async_put_pages(async, false);
	if (req)
		vfio_user_request_put(req);
	kfree(msg);
	kfree(async);
	atomic_dec(&vdev->async_in_flight);
	return ret;
}

/* pread/pwrite over each user segment of @iter. */
static ssize_t vfio_user_rw_iter_sync(struct vfio_user_device *vdev,
				      struct kiocb *iocb, struct iov_iter *iter,
				      bool write)
{
	ssize_t done = 0, ret = 0;

	/* Every access waits for the server. */
	if (iocb->ki_flags & IOCB_NOWAIT)
		return -EAGAIN;
	while (iov_iter_count(iter)) {
		struct iovec seg = vfio_user_iter_segment(iter);

		if (!seg.iov_len) {
			iov_iter_advance(iter, 0);
			continue;
		}
		ret = vfio_user_device_rw(vdev, seg.iov_base, seg.iov_len,
					  iocb->ki_pos + done, write);
		if (ret <= 0)
			break;
		done += ret;
		iov_iter_advance(iter, ret);
		if (ret < seg.iov_len)
			break;
	}
	return done ? done : ret;
}

/**
 * vfio_user_device_rw_iter() - read_iter and write_iter of the device fd
 * @vdev: the device
 * @iocb: the access, at @iocb->ki_pos as for vfio_user_device_rw()
 * @iter: user memory
 * @write: direction
 *
 * Return: bytes transferred, -EIOCBQUEUED for an access completed later,
 * or a negative errno.
 */
ssize_t vfio_user_device_rw_iter(struct vfio_user_device *vdev,
				 struct kiocb *iocb, struct iov_iter *iter,
				 bool write)
{
	ssize_t ret;

	if (!user_backed_iter(iter))
		return -EINVAL;
	if (!is_sync_kiocb(iocb)) {
		ret = vfio_user_rw_async(vdev, iocb, iter, write);
		if (ret != 1)
			return ret;
	}
	return vfio_user_rw_iter_sync(vdev, iocb, iter, write);
}

/* mmap */

static bool vfio_user_in_sparse_area(const struct vfio_user_region *region,
				     u64 start, u64 len)
{
	u64 end;
	u32 i;

	if (check_add_overflow(start, len, &end))
		return false;
	for (i = 0; i < region->nr_areas; i++) {
		const struct vfio_region_sparse_mmap_area *a = &region->areas[i];

		if (start >= a->offset && end <= a->offset + a->size)
			return true;
	}
	return false;
}

/*
 * May a mapping of @region write its file? What a direct mmap of the file
 * would allow: its open mode, not a swap file, and what attach found (the
 * probe mapping, so the LSM had its say, and not write-sealed: attach holds
 * the file as writably mapped, so F_SEAL_WRITE cannot come later). Shmem's
 * F_SEAL_FUTURE_WRITE can, and is read off the inode.
 */
static bool vfio_user_mmap_may_write(const struct vfio_user_region *region,
				     struct file *file)
{
	struct address_space *mapping = file->f_mapping;

	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_WRITE) ||
	    !region->file_writable || !region->holds_writable ||
	    !(file->f_mode & FMODE_WRITE) || IS_SWAPFILE(mapping->host))
		return false;
#ifdef CONFIG_SHMEM
	if (shmem_mapping(mapping) &&
	    (READ_ONCE(SHMEM_I(file_inode(file))->seals) & F_SEAL_FUTURE_WRITE))
		return false;
#endif
	return true;
}

/**
 * vfio_user_device_mmap() - map part of a mappable region
 * @vdev: the device
 * @vma: the new mapping; vm_pgoff selects region and offset as for pread
 *
 * The mapping is handed to the server's file for the region, so faults are
 * served by its memory. Only whole pages inside one sparse area may be
 * mapped, shared, with no more access than the region allows, and with no
 * more than a direct mmap of the file would get: do_mmap() checked
 * /dev/vfio-user, so the file's own checks are made here. Device memory is
 * never executable.
 *
 * Return: 0 or a negative errno.
 */
int vfio_user_device_mmap(struct vfio_user_device *vdev,
			  struct vm_area_struct *vma)
{
	u64 index = vma->vm_pgoff >> (VFIO_USER_REGION_SHIFT - PAGE_SHIFT);
	u64 start = ((u64)vma->vm_pgoff << PAGE_SHIFT) &
		    (VFIO_USER_REGION_OFFSET(1) - 1);
	u64 len = vma->vm_end - vma->vm_start;
	struct vfio_user_region *region;
	struct file *file;
	u64 file_off;

	if (!vfio_user_attached(vdev))
		return -ENODEV;
	if (index >= vdev->num_regions)
		return -EINVAL;
	index = array_index_nospec(index, vdev->num_regions);
	region = &vdev->regions[index];
	file = region->file;

	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_MMAP) || !file)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (((vma->vm_flags & VM_WRITE) &&
	     !(region->info.flags & VFIO_REGION_INFO_FLAG_WRITE)) ||
	    ((vma->vm_flags & VM_READ) &&
	     !(region->info.flags & VFIO_REGION_INFO_FLAG_READ)))
		return -EINVAL;
	if (!vfio_user_in_sparse_area(region, start, len))
		return -EINVAL;
	if (check_add_overflow(region->info.offset, start, &file_off))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (!region->file_readable || !(file->f_mode & FMODE_READ))
		return -EACCES;
	/* As do_mmap(): no shared mapping of an append-only file. */
	if (IS_APPEND(file_inode(file)) && (file->f_mode & FMODE_WRITE))
		return -EACCES;
	if (!vfio_user_mmap_may_write(region, file)) {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		/* Nor later, through mprotect(). */
		vm_flags_clear(vma, VM_MAYWRITE);
	}
	vm_flags_clear(vma, VM_MAYEXEC);

	WRITE_ONCE(vdev->mmapped, true);
	vma->vm_pgoff = file_off >> PAGE_SHIFT;
	vma_set_file(vma, file);
	return call_mmap(file, vma);
}

/* ioctls */

static long vfio_user_get_info(struct vfio_user_device *vdev, void __user *arg)
{
	const size_t minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = vdev->device_flags;
	info.num_regions = vdev->num_regions;
	info.num_irqs = vdev->num_irqs;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long vfio_user_get_region_info(struct vfio_user_device *vdev,
				      void __user *arg)
{
	const size_t minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_user_region *region;
	struct vfio_region_info info;
	u32 argsz;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= vdev->num_regions)
		return -EINVAL;
	region = &vdev->regions[array_index_nospec(info.index,
						   vdev->num_regions)];
	argsz = info.argsz;
	info = region->info;
	info.argsz = argsz;
	/* As VFIO: where the region is on this fd (the server's is ours). */
	info.offset = VFIO_USER_REGION_OFFSET(info.index);
	if (region->cap_size) {
		if (argsz < region->info.argsz) {
			/* Tell the VMM how much room the chain needs. */
			info.argsz = region->info.argsz;
			info.cap_offset = 0;
		} else if (copy_to_user(arg + sizeof(info), region->caps,
					region->cap_size)) {
			return -EFAULT;
		}
	}
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long vfio_user_get_irq_info(struct vfio_user_device *vdev,
				   void __user *arg)
{
	const size_t minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;
	u32 argsz;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= vdev->num_irqs)
		return -EINVAL;
	argsz = info.argsz;
	info = vdev->irqs[array_index_nospec(info.index, vdev->num_irqs)];
	info.argsz = argsz;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* One DEVICE_SET_IRQS message: vectors [start, start + count). */
static int vfio_user_send_set_irqs(struct vfio_user_device *vdev,
				   const struct vfio_irq_set *hdr, u32 start,
				   u32 count, const void *data,
				   size_t data_size, const int *fds,
				   unsigned int nr_fds)
{
	struct vfio_irq_set *msg;
	size_t len = sizeof(*msg) + data_size;
	int ret;

	msg = kzalloc(len, GFP_KERNEL_ACCOUNT);
	if (!msg)
		return -ENOMEM;
	msg->argsz = len;
	msg->flags = hdr->flags;
	msg->index = hdr->index;
	msg->start = start;
	msg->count = count;
	if (data_size)
		memcpy(msg->data, data, data_size);
	ret = vfio_user_call(&vdev->conn, VFIO_USER_DEVICE_SET_IRQS, msg, len,
			     fds, nr_fds, 0, NULL);
	kfree(msg);
	return ret;
}

/*
 * Eventfds go in runs: assigned vectors with their fds, at most max_msg_fds
 * per message, and de-assigned (-1) vectors in messages without fds.
 */
static int vfio_user_set_irq_eventfds(struct vfio_user_device *vdev,
				      const struct vfio_irq_set *hdr,
				      const s32 *fds)
{
	/* One sendmsg takes at most SCM_MAX_FD fds, whatever the server says. */
	u32 max_fds = min_t(u32, vdev->conn.max_msg_fds, SCM_MAX_FD);
	u32 i = 0, run;
	int ret;

	if (!hdr->count)
		return vfio_user_send_set_irqs(vdev, hdr, hdr->start, 0, NULL,
					       0, NULL, 0);
	while (i < hdr->count) {
		bool assign = fds[i] >= 0;

		for (run = 1; i + run < hdr->count; run++) {
			bool next_assign = fds[i + run] >= 0;

			if (next_assign != assign)
				break;
			if (assign && run == max_fds)
				break;
		}
		if (assign && !max_fds)
			return -EOPNOTSUPP;
		ret = vfio_user_send_set_irqs(vdev, hdr, hdr->start + i, run,
					      NULL, 0, assign ? fds + i : NULL,
					      assign ? run : 0);
		if (ret)
			return ret;
		i += run;
	}
	return 0;
}

/* Keep our own reference to the ERR/REQ eventfd the server was given. */
static void vfio_user_track_trigger(struct vfio_user_device *vdev,
				    const struct vfio_irq_set *hdr,
				    const s32 *fds)
{
	struct eventfd_ctx **slot = vfio_user_kernel_trigger(vdev, hdr->index);
	struct eventfd_ctx *ctx = NULL;

	if (!slot || !(hdr->flags & VFIO_IRQ_SET_ACTION_TRIGGER))
		return;
	if (hdr->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		if (!hdr->count || hdr->start)
			return;
		if (fds[0] >= 0) {
			ctx = eventfd_ctx_fdget(fds[0]);
			if (IS_ERR(ctx))
				return;
		}
	} else if (!(hdr->flags & VFIO_IRQ_SET_DATA_NONE) || hdr->count) {
		return;
	}

	mutex_lock(&vdev->irq_lock);
	if (*slot)
		eventfd_ctx_put(*slot);
	*slot = ctx;
	mutex_unlock(&vdev->irq_lock);
}

static long vfio_user_set_irqs(struct vfio_user_device *vdev, void __user *arg)
{
	const size_t minsz = offsetofend(struct vfio_irq_set, count);
	const struct vfio_irq_info *info;
	struct vfio_irq_set hdr;
	size_t elem, data_size = 0;
	void *data = NULL;
	u32 i;
	int ret;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	if (hdr.argsz < minsz || hdr.index >= vdev->num_irqs ||
	    hdr.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK |
			  VFIO_IRQ_SET_ACTION_TYPE_MASK) ||
	    hweight32(hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) != 1 ||
	    hweight32(hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) != 1)
		return -EINVAL;
	info = &vdev->irqs[array_index_nospec(hdr.index, vdev->num_irqs)];
	if (hdr.count >= U32_MAX - hdr.start)
		return -EINVAL;
	if (hdr.count && (hdr.start >= info->count ||
			  hdr.start + hdr.count > info->count))
		return -EINVAL;
	if (!hdr.count && !((hdr.flags & VFIO_IRQ_SET_DATA_NONE) &&
			    (hdr.flags & VFIO_IRQ_SET_ACTION_TRIGGER)))
		return -EINVAL;

	switch (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_BOOL:
		elem = sizeof(u8);
		break;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		if (!(info->flags & VFIO_IRQ_INFO_EVENTFD))
			return -EINVAL;
		elem = sizeof(s32);
		break;
	default:
		elem = 0;
		break;
	}
	if (elem) {
		data_size = array_size(hdr.count, elem);
		if (hdr.argsz - minsz < data_size)
			return -EINVAL;
		data = memdup_user(arg + minsz, data_size);
		if (IS_ERR(data))
			return PTR_ERR(data);
	}

	if (hdr.flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		const s32 *fds = data;

		/* Only eventfds go to the server, and -1 to de-assign. */
		for (i = 0; i < hdr.count; i++) {
			struct eventfd_ctx *ctx;

			if (fds[i] == -1)
				continue;
			ctx = fds[i] >= 0 ? eventfd_ctx_fdget(fds[i]) :
					    ERR_PTR(-EINVAL);
			if (IS_ERR(ctx)) {
				ret = PTR_ERR(ctx);
				goto out_free;
			}
			eventfd_ctx_put(ctx);
		}
		ret = vfio_user_set_irq_eventfds(vdev, &hdr, fds);
	} else {
		ret = vfio_user_send_set_irqs(vdev, &hdr, hdr.start, hdr.count,
					      data, data_size, NULL, 0);
	}
	if (!ret)
		vfio_user_track_trigger(vdev, &hdr, data);
out_free:
	kfree(data);
	return ret;
}

static long vfio_user_reset(struct vfio_user_device *vdev)
{
	if (!(vdev->device_flags & VFIO_DEVICE_FLAGS_RESET))
		return -EINVAL;
	return vfio_user_call(&vdev->conn, VFIO_USER_DEVICE_RESET, NULL, 0,
			      NULL, 0, 0, NULL);
}

static long vfio_user_set_timeout(struct vfio_user_device *vdev,
				  void __user *arg)
{
	struct vfio_user_timeout t;
	bool reset;

	if (copy_from_user(&t, arg, sizeof(t)))
		return -EFAULT;
	if (t.argsz < sizeof(t) || t.flags & ~VFIO_USER_TIMEOUT_RESET ||
	    t.reserved || !t.timeout_ms || t.timeout_ms > VFIO_USER_TIMEOUT_MS_MAX)
		return -EINVAL;
	reset = t.flags & VFIO_USER_TIMEOUT_RESET;

	if (mutex_lock_killable(&vdev->lock))
		return -EINTR;
	if (vdev->attached)
		vfio_user_conn_set_timeout(&vdev->conn, t.timeout_ms, reset);
	else if (reset)
		WRITE_ONCE(vdev->conn.reset_timeout_ms, t.timeout_ms);
	else
		WRITE_ONCE(vdev->conn.timeout_ms, t.timeout_ms);
	mutex_unlock(&vdev->lock);
	return 0;
}

static long vfio_user_get_stats(struct vfio_user_device *vdev,
				void __user *arg)
{
	struct vfio_user_stat_counters *c = &vdev->conn.stats;
	struct vfio_user_stats st;
	int broken;

	if (copy_from_user(&st, arg, sizeof(st)))
		return -EFAULT;
	if (st.argsz < sizeof(st) || st.flags || st.broken_errno || st.reserved)
		return -EINVAL;
	broken = vfio_user_conn_status(&vdev->conn);
	st.flags = broken ? VFIO_USER_STATS_BROKEN : 0;
	st.broken_errno = -broken;
	st.msgs_sent = vfio_user_cmd_stats_sum(c->sent);
	st.msgs_received = vfio_user_cmd_stats_sum(c->received);
	st.bytes_sent = atomic64_read(&c->bytes_sent);
	st.bytes_received = atomic64_read(&c->bytes_received);
	st.error_replies = atomic64_read(&c->error_replies);
	st.timeouts = atomic64_read(&c->timeouts);
	st.protocol_errors = atomic64_read(&c->protocol_errors);
	st.server_requests = atomic64_read(&c->server_requests);
	st.posted_writes = atomic64_read(&c->posted_writes);
	return copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long vfio_user_raw_msg(struct vfio_user_device *vdev, void __user *arg)
{
	struct vfio_user_raw_msg __user *uarg = arg;
	struct vfio_user_request *req;
	struct vfio_user_raw_msg m;
	void *payload;
	int ret;

	if (copy_from_user(&m, arg, sizeof(m)))
		return -EFAULT;
	if (m.argsz < sizeof(m) || m.flags || m.reserved || m.reserved2)
		return -EINVAL;
	if (m.cmd != VFIO_USER_DEVICE_FEATURE &&
	    m.cmd != VFIO_USER_MIG_DATA_READ &&
	    m.cmd != VFIO_USER_MIG_DATA_WRITE)
		return -EPERM;
	if (!m.request_size ||
	    m.request_size > vdev->conn.max_xfer + VFIO_USER_RAW_MSG_OVERHEAD ||
	    m.reply_size > vdev->conn.client_max_xfer +
			   VFIO_USER_RAW_MSG_OVERHEAD)
		return -EINVAL;

	payload = kvmalloc(m.request_size, VFIO_USER_GFP_LARGE);
	if (!payload)
		return -ENOMEM;
	if (copy_from_user(payload, u64_to_user_ptr(m.request),
			   m.request_size)) {
		kvfree(payload);
		return -EFAULT;
	}
	ret = vfio_user_call(&vdev->conn, m.cmd, payload, m.request_size, NULL,
			     0, m.reply_size, &req);
	kvfree(payload);
	if (ret)
		return ret;
	if (copy_to_user(u64_to_user_ptr(m.reply), req->reply,
			 req->reply_len) ||
	    put_user((u32)req->reply_len, &uarg->reply_size))
		ret = -EFAULT;
	vfio_user_request_put(req);
	return ret;
}

/**
 * vfio_user_device_ioctl() - the VFIO device ioctls and ours
 * @vdev: the device
 * @cmd: ioctl number
 * @arg: its argument
 *
 * Return: as the ioctl documents; -ENOTTY for unknown ioctls.
 */
long vfio_user_device_ioctl(struct vfio_user_device *vdev, unsigned int cmd,
			    unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_USER_SET_TIMEOUT:
		return vfio_user_set_timeout(vdev, uarg);
	case VFIO_USER_GET_STATS:
		return vfio_user_get_stats(vdev, uarg);
	case VFIO_DEVICE_GET_INFO:
	case VFIO_DEVICE_GET_REGION_INFO:
	case VFIO_DEVICE_GET_IRQ_INFO:
	case VFIO_DEVICE_SET_IRQS:
	case VFIO_DEVICE_RESET:
	case VFIO_USER_RAW_MSG:
	case VFIO_USER_MAP_DMA:
	case VFIO_USER_UNMAP_DMA:
	case VFIO_USER_MAP_DMA_BATCH:
	case VFIO_USER_UNMAP_DMA_BATCH:
	case VFIO_USER_DIRTY_LOG:
	case VFIO_USER_DIRTY_REPORT:
	case VFIO_USER_GET_IOEVENTFDS:
		break;
	default:
		return -ENOTTY;
	}

	if (!vfio_user_attached(vdev))
		return -ENODEV;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return vfio_user_get_info(vdev, uarg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return vfio_user_get_region_info(vdev, uarg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return vfio_user_get_irq_info(vdev, uarg);
	case VFIO_DEVICE_SET_IRQS:
		return vfio_user_set_irqs(vdev, uarg);
	case VFIO_DEVICE_RESET:
		return vfio_user_reset(vdev);
	case VFIO_USER_RAW_MSG:
		return vfio_user_raw_msg(vdev, uarg);
	case VFIO_USER_GET_IOEVENTFDS:
		return vfio_user_get_ioeventfds(vdev, uarg);
	default:
		return vfio_user_dma_ioctl(vdev, cmd, uarg);
	}
}
