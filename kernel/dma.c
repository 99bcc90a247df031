// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-user client in the kernel: DMA.
 *
 * The VMM maps ranges of its memory for the device; the kernel tells the
 * server (DMA_MAP, with the memory's fd when there is one) and serves the
 * server's DMA_READ/DMA_WRITE requests itself, in the receive worker, which
 * runs in the VMM's address space. The map is an interval tree. Map and
 * unmap are serialized and hold the tree's lock only to change it, never
 * across a round trip to the server, so serving DMA never waits behind them;
 * serving DMA holds it only while copying without faults or looking a
 * mapping up, never across a fault that may sleep or a pin, so map and unmap
 * never wait behind the VMM's memory. A large transfer moves between the
 * socket and pinned pages of the VMM's, one window at a time; an unmap takes
 * the range out of service, then waits for such a transfer to end.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/bvec.h>
#include <linux/interval_tree_generic.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/pagemap.h>
#include <linux/uaccess.h>

#include "vfio_user.h"

/**
 * struct vfio_user_dma - one mapped range
 * @rb: node in vfio_user_device.dma_tree
 * @start: first DMA address
 * @last: last DMA address (inclusive)
 * @subtree_last: interval tree bookkeeping
 * @vaddr: where the memory is in the owner's address space
 * @flags: VFIO_USER_MAP_DMA_READ / _WRITE
 * @active: the server's DMA may use it (false while it is being unmapped)
 * @dirty: one bit per dirty-log page, while logging is on; protected by
 *	vfio_user_device.dirty_lock
 */
struct vfio_user_dma {
	struct rb_node rb;
	u64 start;
	u64 last;
	u64 subtree_last;
	u64 vaddr;
	u32 flags;
	bool active;
	unsigned long *dirty;
};

#define VFIO_USER_DMA_START(dma)	((dma)->start)
#define VFIO_USER_DMA_LAST(dma)		((dma)->last)

INTERVAL_TREE_DEFINE(struct vfio_user_dma, rb, u64, subtree_last,
		     VFIO_USER_DMA_START, VFIO_USER_DMA_LAST, static,
		     vfio_user_dma_it)

static u64 vfio_user_dma_size(const struct vfio_user_dma *dma)
{
	return dma->last - dma->start + 1;
}

/* Smallest DMA page size the server supports. */
static u64 vfio_user_dma_pgsize(struct vfio_user_device *vdev)
{
	return 1ULL << __ffs64(vdev->pgsizes);
}

/* Dirty log */

static unsigned long *vfio_user_alloc_dirty(const struct vfio_user_dma *dma,
					    u64 pgsize)
{
	u64 pages = DIV_ROUND_UP_ULL(vfio_user_dma_size(dma), pgsize);

	return kvcalloc(BITS_TO_LONGS(pages), sizeof(unsigned long),
			VFIO_USER_GFP_LARGE);
}

/* Mark [iova, iova + len) of @dma dirty; dma_lock held for reading. */
static void vfio_user_mark_dirty(struct vfio_user_device *vdev,
				 struct vfio_user_dma *dma, u64 iova, u64 len)
{
	u64 first, last;

	lockdep_assert_held(&vdev->dma_lock);
	spin_lock(&vdev->dirty_lock);
	if (dma->dirty && vdev->dirty_pgsize) {
		first = (iova - dma->start) >> __ffs64(vdev->dirty_pgsize);
		last = (iova + len - 1 - dma->start) >>
		       __ffs64(vdev->dirty_pgsize);
		bitmap_set(dma->dirty, first, last - first + 1);
	}
	spin_unlock(&vdev->dirty_lock);
}

static void vfio_user_free_dma(struct vfio_user_dma *dma)
{
	kvfree(dma->dirty);
	kfree(dma);
}

/* Serving the server's DMA_READ and DMA_WRITE */

/*
 * Check that [iova, iova + count) lies in active mappings that allow the
 * access, with no hole, before anything is copied. dma_lock held.
 */
static int vfio_user_dma_check(struct vfio_user_device *vdev, u64 iova,
			       u64 count, u32 need)
{
	struct vfio_user_dma *dma;
	u64 end;

	lockdep_assert_held(&vdev->dma_lock);
	if (check_add_overflow(iova, count - 1, &end))
		return -EFAULT;
	while (iova <= end) {
		dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, iova, iova);
		if (!dma || !dma->active)
			return -EFAULT;
		if (!(dma->flags & need))
			return -EPERM;
		if (dma->last >= end)
			break;
		iova = dma->last + 1;
	}
	return 0;
}

/**
 * vfio_user_dma_rw() - copy between a server request and mapped memory
 * @vdev: the device
 * @iova: DMA address
 * @buf: kernel buffer with the data (write) or for it (read)
 * @count: bytes, not 0
 * @write: the server writes the VMM's memory
 *
 * Runs in a receive worker that has adopted the owner's mm. Refusals leave
 * memory untouched; a fault half-way (the VMM unmapped its memory under a
 * live mapping) stops the copy there, with what was written marked dirty.
 * The mappings are checked again after every fault taken without the lock.
 *
 * Return: 0, or the negative errno to answer the server with: -EFAULT
 * outside every mapping or on a fault, -EPERM if a mapping forbids the
 * access.
 */
int vfio_user_dma_rw(struct vfio_user_device *vdev, u64 iova, void *buf,
		     u64 count, bool write)
{
	u32 need = write ? VFIO_USER_MAP_DMA_WRITE : VFIO_USER_MAP_DMA_READ;
	struct vfio_user_dma *dma;
	bool faulted_in = false;
	int ret = 0;

	while (count) {
		u64 len, left, uaddr;
		void __user *ubuf;

		down_read(&vdev->dma_lock);
		ret = vfio_user_dma_check(vdev, iova, count, need);
		if (ret) {
			up_read(&vdev->dma_lock);
			break;
		}
		dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, iova, iova);
		len = min(count, dma->last - iova + 1);
		uaddr = dma->vaddr + (iova - dma->start);
		ubuf = u64_to_user_ptr(uaddr);
		/* Faults that need to sleep are taken below, unlocked. */
		pagefault_disable();
		if (write)
			left = copy_to_user(ubuf, buf, len);
		else
			left = copy_from_user(buf, ubuf, len);
		pagefault_enable();
		if (write && left < len)
			vfio_user_mark_dirty(vdev, dma, iova, len - left);
		up_read(&vdev->dma_lock);

		/* A fault taken that still lets nothing through: give up. */
		if (left == len && faulted_in) {
			ret = -EFAULT;
			break;
		}
		iova += len - left;
		buf += len - left;
		count -= len - left;
		faulted_in = false;
		if (!left)
			continue;
		ubuf = u64_to_user_ptr(uaddr + len - left);
		/* Nothing faulted in: the memory is gone (or never was). */
		if ((write ? fault_in_safe_writeable(ubuf, left) :
			     fault_in_readable(ubuf, left)) == left) {
			ret = -EFAULT;
			break;
		}
		faulted_in = true;
	}
	return ret;
}

/**
 * vfio_user_dma_xfer_begin() - check a transfer and keep unmaps behind it
 * @vdev: the device
 * @x: the transfer, whose @pages and @bvec are kept
 * @iova: DMA address
 * @count: bytes, not 0
 * @write: the server writes the VMM's memory
 * @worker: index of the serving worker in vfio_user_device.dma_busy
 *
 * From here until vfio_user_dma_xfer_end(), an unmap takes the range out
 * of service but waits for the transfer before it returns: once it has
 * returned, no byte of the server's moves to or from that memory, as if
 * the transfer had been copied under dma_lock.
 *
 * Return: 0, or the negative errno to answer the server with.
 */
int vfio_user_dma_xfer_begin(struct vfio_user_device *vdev,
			     struct vfio_user_dma_xfer *x, u64 iova, u64 count,
			     bool write, unsigned int worker)
{
	u32 need = write ? VFIO_USER_MAP_DMA_WRITE : VFIO_USER_MAP_DMA_READ;
	int ret;

	x->iova = iova;
	x->left = count;
	x->write = write;
	x->busy = NULL;
	x->nr_pages = 0;
	x->win_len = 0;
	x->copy = false;
	down_read(&vdev->dma_lock);
	ret = vfio_user_dma_check(vdev, iova, count, need);
	if (!ret) {
		/* Seen by any unmap that takes the range out after this. */
		x->busy = &vdev->dma_busy[worker];
		WRITE_ONCE(*x->busy, *x->busy + 1);
	}
	up_read(&vdev->dma_lock);
	return ret;
}

/**
 * vfio_user_dma_xfer_pin() - pin the next window of a transfer
 * @vdev: the device
 * @x: a transfer in flight, between windows, with @pages and @bvec
 * @mm: the owner's mm, with a user reference held by the caller
 *
 * Pins as much of what is left as one window holds and describes it in
 * @x->bvec from its second entry on. The pages are found in @mm from here,
 * without adopting it: a worker that never switches address spaces leaves
 * the server's TLB alone. No lock of the device is held while pinning: the
 * mapping is looked up again for every piece, and an unmap cannot finish
 * before the transfer ends.
 *
 * Return: 0 with @x->win_len bytes pinned; -EFAULT when not a byte could
 * be (unmapped, or memory that has no pages, such as a device's: see
 * vfio_user_dma_xfer_bounce()); -EPERM when the mapping forbids the access.
 */
int vfio_user_dma_xfer_pin(struct vfio_user_device *vdev,
			   struct vfio_user_dma_xfer *x, struct mm_struct *mm)
{
	u32 need = x->write ? VFIO_USER_MAP_DMA_WRITE : VFIO_USER_MAP_DMA_READ;
	unsigned int gup = x->write ? FOLL_WRITE : 0;
	u64 iova = x->iova, left = x->left;
	int ret = 0;

	x->copy = false;
	while (left && x->nr_pages < VFIO_USER_DMA_WINDOW) {
		unsigned int room = VFIO_USER_DMA_WINDOW - x->nr_pages;
		struct page **pages = x->pages + x->nr_pages;
		struct vfio_user_dma *dma;
		u64 uaddr = 0, len = 0, off;
		unsigned int np, i;
		int locked = 1;
		long got;

		down_read(&vdev->dma_lock);
		ret = vfio_user_dma_check(vdev, iova, 1, need);
		if (!ret) {
			dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, iova,
							  iova);
			len = min(left, dma->last - iova + 1);
			uaddr = dma->vaddr + (iova - dma->start);
		}
		up_read(&vdev->dma_lock);
		if (ret)
			break;

		off = offset_in_page(uaddr);
		np = min_t(u64, DIV_ROUND_UP_ULL(off + len, PAGE_SIZE), room);
		len = min_t(u64, len, (u64)np * PAGE_SIZE - off);
		if (mmap_read_lock_killable(mm)) {
			ret = -EFAULT;
			break;
		}
		/* With @locked, a fault may wait (userfaultfd), killably. */
		got = vfio_user_pin_remote(mm, uaddr - off, np, gup, pages,
					   &locked);
		if (locked)
			mmap_read_unlock(mm);
		if (got <= 0) {
			ret = -EFAULT;
			break;
		}
		if (got < np)
			len = (u64)got * PAGE_SIZE - off;
		for (i = 0; i < got; i++) {
			struct bio_vec *bv = &x->bvec[1 + x->nr_pages + i];
			u64 seg = min_t(u64, len, PAGE_SIZE - off);

			bv->bv_page = pages[i];
			bv->bv_offset = off;
			bv->bv_len = seg;
			len -= seg;
			x->win_len += seg;
			iova += seg;
			left -= seg;
			off = 0;
		}
		x->nr_pages += got;
		if (got < np)
			break;
	}
	/* What was pinned before a refusal is served; the rest comes next. */
	return x->win_len ? 0 : ret ?: -EFAULT;
}

/**
 * vfio_user_dma_xfer_bounce() - make the next window in a bounce buffer
 * @vdev: the device
 * @x: a transfer in flight, between windows, that could not be pinned
 * @bounce: room for the window
 * @room: bytes at @bounce
 *
 * For memory with no pages to pin, copied with the owner's mm adopted by
 * the caller: a DMA_READ's data now, a DMA_WRITE's when the window is done.
 *
 * Return: 0 with @x->win_len bytes ready, or the negative errno to answer
 * the server with (-EFAULT, -EPERM).
 */
int vfio_user_dma_xfer_bounce(struct vfio_user_device *vdev,
			      struct vfio_user_dma_xfer *x, void *bounce,
			      size_t room)
{
	int ret;

	x->copy = true;
	x->win_len = min_t(u64, x->left, room);
	ret = x->write ? 0 : vfio_user_dma_rw(vdev, x->iova, bounce,
					      x->win_len, false);
	if (ret) {
		x->copy = false;
		x->win_len = 0;
	}
	return ret;
}

/**
 * vfio_user_dma_xfer_zeros() - make the next window zeros in a bounce buffer
 * @x: a DMA_READ in flight, between windows, whose memory went away
 * @bounce: room for the window
 * @room: bytes at @bounce
 *
 * The reply's header has promised the whole length already: the rest of
 * it reads as zeros, window by window, and the caller reports the error.
 */
void vfio_user_dma_xfer_zeros(struct vfio_user_dma_xfer *x, void *bounce,
			      size_t room)
{
	x->copy = true;
	x->win_len = min_t(u64, x->left, room);
	memset(bounce, 0, x->win_len);
}

/* Mark [iova, iova + len) dirty in whatever mappings still hold it. */
static void vfio_user_mark_range_dirty(struct vfio_user_device *vdev, u64 iova,
				       u64 len)
{
	struct vfio_user_dma *dma;
	u64 last = iova + len - 1;

	down_read(&vdev->dma_lock);
	for (dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, iova, last);
	     dma; dma = vfio_user_dma_it_iter_next(dma, iova, last)) {
		u64 first = max(iova, dma->start), end = min(last, dma->last);

		vfio_user_mark_dirty(vdev, dma, first, end - first + 1);
	}
	up_read(&vdev->dma_lock);
}

/* Release the pages of @x's window; what a write put there is dirty. */
static void vfio_user_dma_xfer_unpin(struct vfio_user_device *vdev,
				     struct vfio_user_dma_xfer *x, size_t done)
{
	bool dirty = x->write && done;

	if (!x->nr_pages)
		return;
	if (dirty)
		vfio_user_mark_range_dirty(vdev, x->iova, done);
	unpin_user_pages_dirty_lock(x->pages, x->nr_pages, dirty);
	x->nr_pages = 0;
}

/**
 * vfio_user_dma_xfer_advance() - finish the current window of a transfer
 * @vdev: the device
 * @x: the transfer
 * @bounce: the bounce room given to vfio_user_dma_xfer_window()
 * @done: bytes of the window that moved; all of it, but on failure
 *
 * A DMA_WRITE's window in @bounce is copied into the VMM's memory now,
 * with the owner's mm adopted by the caller. The next window starts after
 * the whole current one.
 *
 * Return: 0, or the negative errno to answer the server with.
 */
int vfio_user_dma_xfer_advance(struct vfio_user_device *vdev,
			       struct vfio_user_dma_xfer *x, void *bounce,
			       size_t done)
{
	int ret = 0;

	if (x->copy && x->write && done)
		ret = vfio_user_dma_rw(vdev, x->iova, bounce, done, true);
	vfio_user_dma_xfer_unpin(vdev, x, done);
	x->iova += x->win_len;
	x->left -= x->win_len;
	x->win_len = 0;
	x->copy = false;
	return ret;
}

/**
 * vfio_user_dma_xfer_end() - end a transfer: unmaps need not wait for it
 * @vdev: the device
 * @x: the transfer; nothing happens if it is not in flight
 * @done: bytes of a pinned window still held that moved (dirty for a
 *	write); a window in the bounce room is dropped
 *
 * Needs no mm: a receiver that gives up on a broken connection ends the
 * transfer it was receiving this way.
 */
void vfio_user_dma_xfer_end(struct vfio_user_device *vdev,
			    struct vfio_user_dma_xfer *x, size_t done)
{
	vfio_user_dma_xfer_unpin(vdev, x, done);
	x->win_len = 0;
	x->copy = false;
	if (!x->busy)
		return;
	/*
	 * Whatever the transfer did is done before an unmap goes on; pairs
	 * with the acquires in vfio_user_dma_quiesce().
	 */
	smp_store_release(x->busy, *x->busy + 1);
	x->busy = NULL;
	wake_up_all(&vdev->dma_idle);
}

/*
 * Wait for transfers that were in flight when the caller took mappings out
 * of service (under dma_lock, just before): see vfio_user_dma_xfer_begin().
 * Each is bounded by the message timeout of the server.
 */
static unsigned long vfio_user_dma_busy(struct vfio_user_device *vdev,
					unsigned int i)
{
	/* Pairs with the release in vfio_user_dma_xfer_end(). */
	return smp_load_acquire(&vdev->dma_busy[i]);
}

static int vfio_user_dma_quiesce(struct vfio_user_device *vdev)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vdev->dma_busy); i++) {
		unsigned long seq = vfio_user_dma_busy(vdev, i);

		if (!(seq & 1))
			continue;
		if (wait_event_killable(vdev->dma_idle,
					vfio_user_dma_busy(vdev, i) != seq))
			return -EINTR;
	}
	return 0;
}

/*
 * Mappings a failed map leaves out, just taken out of service: wait for the
 * server's transfers that began in them meanwhile, so that no byte of the
 * server's moves there once the call returns. A caller killed while
 * waiting ends the connection instead, and with it those transfers.
 */
static void vfio_user_dma_settle(struct vfio_user_device *vdev)
{
	if (vfio_user_dma_quiesce(vdev))
		vfio_user_conn_break(&vdev->conn, -EIO);
}

/* Map and unmap */

/* The caller's memory at [vaddr, vaddr + size) exists and allows @flags. */
static int vfio_user_check_vma(u64 vaddr, u64 size, u32 flags)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	u64 end = vaddr + size;
	int ret = 0;

	mmap_read_lock(mm);
	while (vaddr < end) {
		vma = find_vma(mm, vaddr);
		if (!vma || vma->vm_start > vaddr) {
			ret = -EFAULT;
			break;
		}
		if (!(vma->vm_flags & VM_READ) ||
		    ((flags & VFIO_USER_MAP_DMA_WRITE) &&
		     !(vma->vm_flags & VM_WRITE))) {
			ret = -EACCES;
			break;
		}
		vaddr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ret;
}

static int vfio_user_check_map(struct vfio_user_device *vdev,
			       const struct vfio_user_map_dma *map)
{
	const u32 known = VFIO_USER_MAP_DMA_READ | VFIO_USER_MAP_DMA_WRITE |
			  VFIO_USER_MAP_DMA_FD;
	u64 pgmask = vfio_user_dma_pgsize(vdev) - 1;
	u64 end;

	if (map->flags & ~known || map->reserved ||
	    !(map->flags & (VFIO_USER_MAP_DMA_READ | VFIO_USER_MAP_DMA_WRITE)))
		return -EINVAL;
	if (!(map->flags & VFIO_USER_MAP_DMA_FD) &&
	    (map->fd_offset || (map->fd != 0 && map->fd != -1)))
		return -EINVAL;
	if (!map->size || (map->vaddr | map->iova | map->size) & pgmask)
		return -EINVAL;
	/* libvfio-user's limit too; keeps a mapping's dirty bitmap sane. */
	if (map->size > VFIO_USER_MAX_DMA_SIZE)
		return -EINVAL;
	if (check_add_overflow(map->iova, map->size - 1, &end) ||
	    check_add_overflow(map->vaddr, map->size, &end) ||
	    check_add_overflow(map->fd_offset, map->size, &end))
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(map->vaddr), map->size))
		return -EFAULT;
	/* The addresses mean something only in the attaching process. */
	if (current->mm != vdev->conn.mm)
		return -EPERM;
	return vfio_user_check_vma(map->vaddr, map->size, map->flags);
}

/* A mapping for @map, not yet in the tree. */
static struct vfio_user_dma *vfio_user_new_dma(const struct vfio_user_map_dma *map)
{
	struct vfio_user_dma *dma;

	dma = kzalloc(sizeof(*dma), GFP_KERNEL_ACCOUNT);
	if (!dma)
		return NULL;
	dma->start = map->iova;
	dma->last = map->iova + map->size - 1;
	dma->vaddr = map->vaddr;
	dma->flags = map->flags & (VFIO_USER_MAP_DMA_READ |
				   VFIO_USER_MAP_DMA_WRITE);
	dma->active = true;
	return dma;
}

/*
 * Put @dma in service, before the server hears of it, so that it cannot
 * refuse the server's first DMA. The caller holds dma_lock for writing.
 */
static int vfio_user_dma_insert(struct vfio_user_device *vdev,
				struct vfio_user_dma *dma)
{
	lockdep_assert_held_write(&vdev->dma_lock);
	if (vfio_user_dma_it_iter_first(&vdev->dma_tree, dma->start,
					dma->last))
		return -EEXIST;
	if (vdev->nr_dmas >= vdev->max_dma_maps)
		return -ENOSPC;
	if (vdev->dirty_pgsize) {
		dma->dirty = vfio_user_alloc_dirty(dma, vdev->dirty_pgsize);
		if (!dma->dirty)
			return -ENOMEM;
	}
	vfio_user_dma_it_insert(dma, &vdev->dma_tree);
	vdev->nr_dmas++;
	return 0;
}

/* The caller holds dma_lock for writing. */
static void vfio_user_dma_remove(struct vfio_user_device *vdev,
				 struct vfio_user_dma *dma)
{
	lockdep_assert_held_write(&vdev->dma_lock);
	vfio_user_dma_it_remove(dma, &vdev->dma_tree);
	vdev->nr_dmas--;
}

/*
 * Wait for the reply to a DMA_MAP or DMA_UNMAP. A waiter killed after the
 * send (possible while another task shares the owner's address space)
 * leaves the server's map unknown: whatever the kernel then records, the
 * two would disagree, so the connection ends instead.
 */
static int vfio_user_dma_call_end(struct vfio_user_device *vdev,
				  struct vfio_user_request *req,
				  struct vfio_user_request **reply)
{
	int ret = vfio_user_call_end(&vdev->conn, req, reply);

	if (ret == -EINTR)
		vfio_user_conn_break(&vdev->conn, -EIO);
	return ret;
}

/* Send DMA_MAP for @map; its reply is for vfio_user_dma_call_end(). */
static int vfio_user_dma_map_begin(struct vfio_user_device *vdev,
				   const struct vfio_user_map_dma *map,
				   struct vfio_user_request **reqp)
{
	bool with_fd = (map->flags & VFIO_USER_MAP_DMA_FD) &&
		       !vdev->no_fd_sharing;
	struct vfio_user_dma_map msg = {
		.argsz = sizeof(msg),
		/* The same bits as VFIO_USER_F_DMA_REGION_*. */
		.flags = map->flags & (VFIO_USER_MAP_DMA_READ |
				       VFIO_USER_MAP_DMA_WRITE),
		.offset = with_fd ? map->fd_offset : 0,
		.addr = map->iova,
		.size = map->size,
	};

	return vfio_user_call_begin(&vdev->conn, VFIO_USER_DMA_MAP, &msg,
				    sizeof(msg), with_fd ? &map->fd : NULL,
				    with_fd, 0, reqp);
}

/* Take every active mapping in [start, last] out of service; count them. */
static u32 vfio_user_dma_set_active(struct vfio_user_device *vdev, u64 start,
				    u64 last, bool active)
{
	struct vfio_user_dma *dma;
	u32 n = 0;

	down_write(&vdev->dma_lock);
	for (dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, start, last);
	     dma; dma = vfio_user_dma_it_iter_next(dma, start, last)) {
		dma->active = active;
		n++;
	}
	up_write(&vdev->dma_lock);
	return n;
}

static long vfio_user_map_dma(struct vfio_user_device *vdev, void __user *arg)
{
	struct vfio_user_request *req;
	struct vfio_user_map_dma map;
	struct vfio_user_dma *dma;
	int ret;

	if (copy_from_user(&map, arg, sizeof(map)))
		return -EFAULT;
	if (map.argsz < sizeof(map))
		return -EINVAL;
	ret = vfio_user_check_map(vdev, &map);
	if (ret)
		return ret;

	dma = vfio_user_new_dma(&map);
	if (!dma)
		return -ENOMEM;
	if (mutex_lock_killable(&vdev->dma_ops_lock)) {
		vfio_user_free_dma(dma);
		return -EINTR;
	}
	down_write(&vdev->dma_lock);
	ret = vfio_user_dma_insert(vdev, dma);
	up_write(&vdev->dma_lock);
	if (ret)
		goto out_unlock;

	ret = vfio_user_dma_map_begin(vdev, &map, &req);
	if (!ret)
		ret = vfio_user_dma_call_end(vdev, req, NULL);
	if (ret) {
		vfio_user_dma_set_active(vdev, dma->start, dma->last, false);
		vfio_user_dma_settle(vdev);
		down_write(&vdev->dma_lock);
		vfio_user_dma_remove(vdev, dma);
		up_write(&vdev->dma_lock);
	}
out_unlock:
	mutex_unlock(&vdev->dma_ops_lock);
	if (ret)
		vfio_user_free_dma(dma);
	return ret;
}

static void vfio_user_dma_remove_range(struct vfio_user_device *vdev,
				       u64 start, u64 last)
{
	struct vfio_user_dma *dma;

	down_write(&vdev->dma_lock);
	while ((dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, start,
						  last))) {
		vfio_user_dma_it_remove(dma, &vdev->dma_tree);
		vdev->nr_dmas--;
		vfio_user_free_dma(dma);
	}
	up_write(&vdev->dma_lock);
}

/* Send DMA_UNMAP for [@iova, +@size); its reply is for the _end below. */
static int vfio_user_dma_unmap_begin(struct vfio_user_device *vdev, u64 iova,
				     u64 size, bool all,
				     struct vfio_user_request **reqp)
{
	struct vfio_user_dma_unmap msg = {
		.argsz = sizeof(msg),
		.flags = all ? VFIO_USER_F_DMA_UNMAP_ALL : 0,
		.addr = iova,
		.size = size,
	};

	return vfio_user_call_begin(&vdev->conn, VFIO_USER_DMA_UNMAP, &msg,
				    sizeof(msg), NULL, 0, sizeof(msg), reqp);
}

/* The reply to DMA_UNMAP echoes the range (a bare header is tolerated). */
static int vfio_user_dma_unmap_end(struct vfio_user_device *vdev,
				   struct vfio_user_request *req, u64 iova,
				   u64 size)
{
	struct vfio_user_dma_unmap echo;
	struct vfio_user_request *reply;
	int ret;

	ret = vfio_user_dma_call_end(vdev, req, &reply);
	if (ret)
		return ret;
	if (reply->reply_len == sizeof(echo)) {
		memcpy(&echo, reply->reply, sizeof(echo));
		if (echo.addr != iova || echo.size != size)
			ret = -EPROTO;
	} else if (reply->reply_len) {
		ret = -EPROTO;
	}
	vfio_user_request_put(reply);
	if (ret)
		vfio_user_conn_break(&vdev->conn, ret);
	return ret;
}

static long vfio_user_unmap_dma(struct vfio_user_device *vdev,
				void __user *arg)
{
	struct vfio_user_unmap_dma unmap;
	struct vfio_user_request *req;
	struct vfio_user_dma *dma;
	u64 start, last;
	bool all;
	int ret;

	if (copy_from_user(&unmap, arg, sizeof(unmap)))
		return -EFAULT;
	if (unmap.argsz < sizeof(unmap) ||
	    unmap.flags & ~VFIO_USER_UNMAP_DMA_ALL)
		return -EINVAL;
	all = unmap.flags & VFIO_USER_UNMAP_DMA_ALL;
	if (all ? unmap.iova || unmap.size : !unmap.size)
		return -EINVAL;
	start = all ? 0 : unmap.iova;
	if (all)
		last = U64_MAX;
	else if (check_add_overflow(unmap.iova, unmap.size - 1, &last))
		return -EINVAL;

	if (mutex_lock_killable(&vdev->dma_ops_lock))
		return -EINTR;
	if (!all) {
		/* Only a whole mapping, exactly. */
		down_read(&vdev->dma_lock);
		dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, start, last);
		ret = dma && dma->start == start && dma->last == last ? 0 :
		      -ENOENT;
		up_read(&vdev->dma_lock);
		if (ret)
			goto out_unlock;
	}
	/* From here on the server's DMA to the range is refused. */
	if (!vfio_user_dma_set_active(vdev, start, last, false)) {
		ret = 0;	/* unmap-all of nothing */
		goto out_unlock;
	}
	ret = vfio_user_dma_quiesce(vdev);
	if (ret) {
		vfio_user_dma_set_active(vdev, start, last, true);
		goto out_unlock;
	}

	ret = vfio_user_dma_unmap_begin(vdev, unmap.iova, unmap.size, all,
					&req);
	if (!ret)
		ret = vfio_user_dma_unmap_end(vdev, req, unmap.iova,
					      unmap.size);
	if (!ret || vfio_user_conn_status(&vdev->conn))
		vfio_user_dma_remove_range(vdev, start, last);
	else
		vfio_user_dma_set_active(vdev, start, last, true);
out_unlock:
	mutex_unlock(&vdev->dma_ops_lock);
	return ret;
}

/* Batches */

/**
 * struct vfio_user_dma_step - one entry of a batch on its way
 * @dma: its mapping
 * @req: its message in flight, or NULL
 * @ret: the server's answer
 */
struct vfio_user_dma_step {
	struct vfio_user_dma *dma;
	struct vfio_user_request *req;
	int ret;
};

/*
 * Copy in a batch and its entries. Return: the entries (kvfree them), or
 * an ERR_PTR.
 */
static void *vfio_user_get_batch(void __user *arg,
				 struct vfio_user_dma_batch *batch,
				 size_t entry_size)
{
	if (copy_from_user(batch, arg, sizeof(*batch)))
		return ERR_PTR(-EFAULT);
	if (batch->argsz < sizeof(*batch) || batch->flags || batch->failed ||
	    !batch->count || batch->count > VFIO_USER_DMA_BATCH_MAX)
		return ERR_PTR(-EINVAL);
	return vmemdup_user(u64_to_user_ptr(batch->entries),
			    array_size(batch->count, entry_size));
}

/* A failed batch says which entry failed first. */
static int vfio_user_put_failed(struct vfio_user_dma_batch __user *arg,
				u32 failed, int ret)
{
	if (ret && put_user(failed, &arg->failed))
		return -EFAULT;
	return ret;
}

/*
 * Unmap at the server what a failed batch had mapped, already out of
 * service and settled. What cannot be undone leaves the server's map
 * unknown: the connection ends then.
 */
static void vfio_user_map_batch_undo(struct vfio_user_device *vdev,
				     struct vfio_user_dma_step *steps,
				     u32 count)
{
	u32 i;
	int ret = 0;

	for (i = 0; i < count; i++) {
		struct vfio_user_dma *dma = steps[i].dma;

		steps[i].req = NULL;
		if (steps[i].ret || ret)
			continue;
		ret = vfio_user_dma_unmap_begin(vdev, dma->start,
						vfio_user_dma_size(dma), false,
						&steps[i].req);
	}
	for (i = 0; i < count; i++) {
		struct vfio_user_dma *dma = steps[i].dma;
		int err;

		if (!steps[i].req)
			continue;
		err = vfio_user_dma_unmap_end(vdev, steps[i].req, dma->start,
					      vfio_user_dma_size(dma));
		ret = ret ?: err;
	}
	if (ret)
		vfio_user_conn_break(&vdev->conn, -EIO);
}

/*
 * VFIO_USER_MAP_DMA_BATCH: every DMA_MAP is sent before the first reply is
 * waited for. All or nothing: on any failure, what the server mapped is
 * unmapped again and no entry stays mapped.
 */
static long vfio_user_map_dma_batch(struct vfio_user_device *vdev,
				    struct vfio_user_dma_batch __user *arg)
{
	struct vfio_user_dma_step *steps = NULL;
	struct vfio_user_dma_batch batch;
	struct vfio_user_map_dma *maps;
	u32 i, made = 0, inserted = 0, sent = 0, failed = 0;
	int ret = 0;

	maps = vfio_user_get_batch(arg, &batch, sizeof(*maps));
	if (IS_ERR(maps))
		return PTR_ERR(maps);
	steps = kvcalloc(batch.count, sizeof(*steps), VFIO_USER_GFP_LARGE);
	if (!steps) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (made = 0; made < batch.count; made++) {
		const struct vfio_user_map_dma *map = &maps[made];

		ret = map->argsz == sizeof(*map) ?
		      vfio_user_check_map(vdev, map) : -EINVAL;
		if (!ret) {
			steps[made].dma = vfio_user_new_dma(map);
			if (!steps[made].dma)
				ret = -ENOMEM;
		}
		if (ret) {
			failed = made;
			goto out_free;
		}
	}

	if (mutex_lock_killable(&vdev->dma_ops_lock)) {
		ret = -EINTR;
		failed = batch.count;
		goto out_free;
	}
	down_write(&vdev->dma_lock);
	/* Each against the tree and the entries before it. */
	for (inserted = 0; inserted < batch.count; inserted++) {
		ret = vfio_user_dma_insert(vdev, steps[inserted].dma);
		if (ret) {
			failed = inserted;
			break;
		}
	}
	up_write(&vdev->dma_lock);
	if (ret)
		goto out_remove;

	for (sent = 0; sent < batch.count; sent++) {
		ret = vfio_user_dma_map_begin(vdev, &maps[sent],
					      &steps[sent].req);
		if (ret) {
			failed = sent;
			break;
		}
	}
	/* The first failure in the order of the entries. */
	for (i = 0; i < sent; i++) {
		steps[i].ret = vfio_user_dma_call_end(vdev, steps[i].req,
						      NULL);
		if (steps[i].ret && (!ret || i < failed)) {
			ret = steps[i].ret;
			failed = i;
		}
	}

out_remove:
	if (ret) {
		/* Out of service first, as for any unmapping. */
		down_write(&vdev->dma_lock);
		for (i = 0; i < inserted; i++)
			steps[i].dma->active = false;
		up_write(&vdev->dma_lock);
		vfio_user_dma_settle(vdev);
		if (sent && !vfio_user_conn_status(&vdev->conn))
			vfio_user_map_batch_undo(vdev, steps, sent);
		down_write(&vdev->dma_lock);
		for (i = 0; i < inserted; i++)
			vfio_user_dma_remove(vdev, steps[i].dma);
		up_write(&vdev->dma_lock);
	}
	mutex_unlock(&vdev->dma_ops_lock);
out_free:
	if (ret)
		for (i = 0; i < made; i++)
			vfio_user_free_dma(steps[i].dma);
	kvfree(steps);
	kvfree(maps);
	return vfio_user_put_failed(arg, failed, ret);
}

/*
 * VFIO_USER_UNMAP_DMA_BATCH: each entry a whole mapping, exactly; every
 * DMA_UNMAP is sent before the first reply is waited for. An unmapping
 * cannot be undone (the server has dropped the range): on failure, the
 * entries the server unmapped are gone and the others stay mapped, as if
 * each had been unmapped alone.
 */
static long vfio_user_unmap_dma_batch(struct vfio_user_device *vdev,
				      struct vfio_user_dma_batch __user *arg)
{
	struct vfio_user_dma_step *steps = NULL;
	struct vfio_user_unmap_dma *unmaps;
	struct vfio_user_dma_batch batch;
	u32 i, found = 0, sent = 0, failed = 0;
	int ret = 0;

	unmaps = vfio_user_get_batch(arg, &batch, sizeof(*unmaps));
	if (IS_ERR(unmaps))
		return PTR_ERR(unmaps);
	for (i = 0; i < batch.count; i++) {
		const struct vfio_user_unmap_dma *u = &unmaps[i];
		u64 last;

		if (u->argsz != sizeof(*u) || u->flags || !u->size ||
		    check_add_overflow(u->iova, u->size - 1, &last)) {
			ret = -EINVAL;
			failed = i;
			goto out_free;
		}
	}
	steps = kvcalloc(batch.count, sizeof(*steps), VFIO_USER_GFP_LARGE);
	if (!steps) {
		ret = -ENOMEM;
		goto out_free;
	}

	if (mutex_lock_killable(&vdev->dma_ops_lock)) {
		ret = -EINTR;
		failed = batch.count;
		goto out_free;
	}
	/* From here on the server's DMA to these ranges is refused. */
	down_write(&vdev->dma_lock);
	for (found = 0; found < batch.count; found++) {
		const struct vfio_user_unmap_dma *u = &unmaps[found];
		u64 last = u->iova + u->size - 1;
		struct vfio_user_dma *dma;

		/* Only a whole mapping, exactly, and only once. */
		dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, u->iova,
						  last);
		if (!dma || dma->start != u->iova || dma->last != last ||
		    !dma->active) {
			ret = -ENOENT;
			failed = found;
			break;
		}
		dma->active = false;
		steps[found].dma = dma;
	}
	if (ret) {
		for (i = 0; i < found; i++)
			steps[i].dma->active = true;
		up_write(&vdev->dma_lock);
		goto out_unlock;
	}
	up_write(&vdev->dma_lock);
	if (vfio_user_dma_quiesce(vdev)) {
		down_write(&vdev->dma_lock);
		for (i = 0; i < batch.count; i++)
			steps[i].dma->active = true;
		up_write(&vdev->dma_lock);
		ret = -EINTR;
		failed = batch.count;
		goto out_unlock;
	}

	for (sent = 0; sent < batch.count; sent++) {
		ret = vfio_user_dma_unmap_begin(vdev, unmaps[sent].iova,
						unmaps[sent].size, false,
						&steps[sent].req);
		if (ret) {
			failed = sent;
			break;
		}
	}
	for (i = 0; i < sent; i++) {
		steps[i].ret = vfio_user_dma_unmap_end(vdev, steps[i].req,
						       unmaps[i].iova,
						       unmaps[i].size);
		if (steps[i].ret && (!ret || i < failed)) {
			ret = steps[i].ret;
			failed = i;
		}
	}

	down_write(&vdev->dma_lock);
	for (i = 0; i < batch.count; i++) {
		struct vfio_user_dma *dma = steps[i].dma;

		if (i < sent && (!steps[i].ret ||
				 vfio_user_conn_status(&vdev->conn))) {
			vfio_user_dma_remove(vdev, dma);
			vfio_user_free_dma(dma);
		} else {
			dma->active = true;
		}
	}
	up_write(&vdev->dma_lock);
out_unlock:
	mutex_unlock(&vdev->dma_ops_lock);
out_free:
	kvfree(steps);
	kvfree(unmaps);
	return vfio_user_put_failed(arg, failed, ret);
}

/* Dirty logging */

static long vfio_user_dirty_log(struct vfio_user_device *vdev,
				void __user *arg)
{
	struct vfio_user_dirty_log log;
	struct vfio_user_dma *dma;
	struct rb_node *node;
	int ret = 0;

	if (copy_from_user(&log, arg, sizeof(log)))
		return -EFAULT;
	if (log.argsz < sizeof(log) ||
	    (log.flags != VFIO_USER_DIRTY_LOG_START &&
	     log.flags != VFIO_USER_DIRTY_LOG_STOP))
		return -EINVAL;

	if (mutex_lock_killable(&vdev->dma_ops_lock))
		return -EINTR;
	down_write(&vdev->dma_lock);
	if (log.flags == VFIO_USER_DIRTY_LOG_STOP) {
		if (log.pgsize)
			ret = -EINVAL;
		for (node = rb_first_cached(&vdev->dma_tree); !ret && node;
		     node = rb_next(node)) {
			dma = rb_entry(node, struct vfio_user_dma, rb);
			kvfree(dma->dirty);
			dma->dirty = NULL;
		}
		if (!ret)
			vdev->dirty_pgsize = 0;
		goto out_unlock;
	}

	/* As VFIO: the log's pages are the smallest DMA pages. */
	if (!log.pgsize)
		log.pgsize = vfio_user_dma_pgsize(vdev);
	if (log.pgsize != vfio_user_dma_pgsize(vdev) || vdev->dirty_pgsize) {
		ret = vdev->dirty_pgsize ? -EBUSY : -EINVAL;
		goto out_unlock;
	}
	for (node = rb_first_cached(&vdev->dma_tree); node;
	     node = rb_next(node)) {
		dma = rb_entry(node, struct vfio_user_dma, rb);
		dma->dirty = vfio_user_alloc_dirty(dma, log.pgsize);
		if (!dma->dirty) {
			ret = -ENOMEM;
			break;
		}
	}
	if (ret) {
		for (node = rb_first_cached(&vdev->dma_tree); node;
		     node = rb_next(node)) {
			dma = rb_entry(node, struct vfio_user_dma, rb);
			kvfree(dma->dirty);
			dma->dirty = NULL;
		}
	} else {
		spin_lock(&vdev->dirty_lock);
		vdev->dirty_pgsize = log.pgsize;
		spin_unlock(&vdev->dirty_lock);
	}
out_unlock:
	up_write(&vdev->dma_lock);
	mutex_unlock(&vdev->dma_ops_lock);
	return ret;
}

/* Move the dirty bits of @dma within [start, last] into @out and clear them. */
static void vfio_user_collect_dirty(struct vfio_user_device *vdev,
				    struct vfio_user_dma *dma, u64 start,
				    u64 last, unsigned long *out, u64 pgsize)
{
	u64 from = max(start, dma->start), to = min(last, dma->last);
	unsigned int shift = __ffs64(pgsize);
	u64 page, first, nr, end;

	first = (from - dma->start) >> shift;
	nr = ((to - dma->start) >> shift) - first + 1;
	/* In batches, letting the DMA service in between. */
	for (page = 0; page < nr; page = end) {
		end = min_t(u64, nr, page + SZ_64K);
		spin_lock(&vdev->dirty_lock);
		for (; page < end; page++)
			if (test_and_clear_bit(first + page, dma->dirty))
				__set_bit(((from - start) >> shift) + page, out);
		spin_unlock(&vdev->dirty_lock);
		cond_resched();
	}
}

static long vfio_user_dirty_report(struct vfio_user_device *vdev,
				   void __user *arg)
{
	struct vfio_user_dirty_report rep;
	struct vfio_user_dma *dma;
	unsigned long *bitmap;
	u64 last, pages, bytes;
	int ret = 0;

	if (copy_from_user(&rep, arg, sizeof(rep)))
		return -EFAULT;
	if (rep.argsz < sizeof(rep) || rep.flags)
		return -EINVAL;

	down_read(&vdev->dma_lock);
	if (!vdev->dirty_pgsize || rep.pgsize != vdev->dirty_pgsize) {
		ret = -EINVAL;
		goto out_unlock;
	}
	if (!rep.size || (rep.iova | rep.size) & (rep.pgsize - 1) ||
	    check_add_overflow(rep.iova, rep.size - 1, &last)) {
		ret = -EINVAL;
		goto out_unlock;
	}
	pages = rep.size >> __ffs64(rep.pgsize);
	bytes = DIV_ROUND_UP_ULL(pages, 64) * 8;
	/* A bitmap for 2^31 pages (8 TiB at 4 KiB) is plenty per call. */
	if (rep.bitmap_size < bytes || bytes > SZ_256M) {
		ret = -EINVAL;
		goto out_unlock;
	}
	bitmap = kvzalloc(bytes, VFIO_USER_GFP_LARGE);
	if (!bitmap) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	for (dma = vfio_user_dma_it_iter_first(&vdev->dma_tree, rep.iova, last);
	     dma; dma = vfio_user_dma_it_iter_next(dma, rep.iova, last))
		if (dma->dirty)
			vfio_user_collect_dirty(vdev, dma, rep.iova, last,
						bitmap, rep.pgsize);
	up_read(&vdev->dma_lock);

	if (copy_to_user(u64_to_user_ptr(rep.bitmap), bitmap, bytes))
		ret = -EFAULT;
	kvfree(bitmap);
	return ret;

out_unlock:
	up_read(&vdev->dma_lock);
	return ret;
}

/**
 * vfio_user_dma_ioctl() - VFIO_USER_MAP_DMA, _UNMAP_DMA, _DIRTY_LOG, _REPORT
 * @vdev: an attached device
 * @cmd: the ioctl
 * @arg: its argument
 *
 * Return: as the ioctl documents.
 */
long vfio_user_dma_ioctl(struct vfio_user_device *vdev, unsigned int cmd,
			 void __user *arg)
{
	switch (cmd) {
	case VFIO_USER_MAP_DMA:
		return vfio_user_map_dma(vdev, arg);
	case VFIO_USER_UNMAP_DMA:
		return vfio_user_unmap_dma(vdev, arg);
	case VFIO_USER_MAP_DMA_BATCH:
		return vfio_user_map_dma_batch(vdev, arg);
	case VFIO_USER_UNMAP_DMA_BATCH:
		return vfio_user_unmap_dma_batch(vdev, arg);
	case VFIO_USER_DIRTY_LOG:
		return vfio_user_dirty_log(vdev, arg);
	default:
		return vfio_user_dirty_report(vdev, arg);
	}
}

/**
 * vfio_user_dma_release() - forget every mapping
 * @vdev: a device whose connection is stopped
 *
 * The server dropped its mappings when the connection ended.
 */
void vfio_user_dma_release(struct vfio_user_device *vdev)
{
	vfio_user_dma_remove_range(vdev, 0, U64_MAX);
	vdev->dirty_pgsize = 0;
}
