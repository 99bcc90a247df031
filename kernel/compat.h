/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio-user client in the kernel: what differs between the kernels it
 * builds for.
 *
 * Supported: the 6.1 line (Debian 12's kernel) and the 6.12 line (Debian
 * 13's, also in Debian 12). Each helper below is the newer kernel's
 * interface, or a small wrapper over it, and says in which release the
 * difference appeared; the rest of the module calls only these. Nothing
 * else in the module tests LINUX_VERSION_CODE.
 */
#ifndef _VFIO_USER_COMPAT_H
#define _VFIO_USER_COMPAT_H

#include <linux/eventfd.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/uio.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
/*
 * vm_flags became read-only in 6.3 (per-VMA locking); vm_flags_set() and
 * vm_flags_clear() are how a driver's mmap changes them there. On older
 * kernels, with the mmap lock held for writing as in ->mmap, they are
 * plain assignments.
 */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	mmap_assert_write_locked(vma->vm_mm);
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma,
				  vm_flags_t flags)
{
	mmap_assert_write_locked(vma->vm_mm);
	vma->vm_flags &= ~flags;
}
#endif

/**
 * vfio_user_eventfd_signal() - add one to an eventfd's counter
 * @ctx: the eventfd
 *
 * 6.8 dropped eventfd_signal()'s count, which every caller passed as 1.
 */
static inline void vfio_user_eventfd_signal(struct eventfd_ctx *ctx)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/**
 * vfio_user_iter_segment() - the user memory an iterator's next step covers
 * @iter: a user-backed iterator (ITER_UBUF or ITER_IOVEC)
 *
 * 6.4 replaced iov_iter_iovec() with iter_iov_addr() and iter_iov_len(),
 * and made a single-segment read or write an ITER_UBUF. The length is
 * bounded by what is left of @iter, as iov_iter_iovec() bounded it.
 *
 * Return: the start and length of the rest of the current segment.
 */
static inline struct iovec vfio_user_iter_segment(const struct iov_iter *iter)
{
	if (iter_is_ubuf(iter))
		return (struct iovec){
			.iov_base = iter->ubuf + iter->iov_offset,
			.iov_len = iov_iter_count(iter),
		};
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	return (struct iovec){
		.iov_base = iter_iov_addr(iter),
		.iov_len = min(iov_iter_count(iter), iter_iov_len(iter)),
	};
#else
	return iov_iter_iovec(iter);
#endif
}

/* 6.5 dropped the vmas argument of pin_user_pages_remote(). */
static inline long vfio_user_pin_remote(struct mm_struct *mm,
					unsigned long start,
					unsigned long nr_pages,
					unsigned int gup_flags,
					struct page **pages, int *locked)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	return pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages,
				     locked);
#else
	return pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages,
				     NULL, locked);
#endif
}

#endif /* _VFIO_USER_COMPAT_H */
