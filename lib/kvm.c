// SPDX-License-Identifier: BSD-3-Clause
/*
 * Wiring a region's ioeventfds into KVM, so that guest writes to them reach
 * the server without an exit to the VMM.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "internal.h"

/* KVM compares the value written, len bytes wide, with the datamatch. */
static int kvm_entry(struct vuc_device *dev,
		     const struct vfio_user_ioeventfd *e, uint64_t base,
		     struct kvm_ioeventfd *k)
{
	uint64_t mask = e->size && e->size < 8 ? (1ULL << (8 * e->size)) - 1 :
						 ~0ULL;

	memset(k, 0, sizeof(*k));
	if (e->size != 0 && e->size != 1 && e->size != 2 && e->size != 4 &&
	    e->size != 8)
		return vuc_fail(
			dev, -EINVAL,
			"ioeventfd at 0x%llx has width %llu; KVM takes 0, 1, 2, 4 or 8",
			(unsigned long long)e->offset,
			(unsigned long long)e->size);
	if ((e->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH) &&
	    (e->datamatch & ~mask || !e->size))
		return vuc_fail(
			dev, -EINVAL,
			"ioeventfd at 0x%llx: datamatch 0x%llx does not fit its %llu-byte width",
			(unsigned long long)e->offset,
			(unsigned long long)e->datamatch,
			(unsigned long long)e->size);
	k->addr = base + e->offset;
	k->len = (uint32_t)e->size;
	k->fd = e->fd;
	if (e->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH) {
		k->flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
		k->datamatch = e->datamatch;
	}
	if (e->flags & VFIO_USER_IOEVENTFD_FLAG_PIO)
		k->flags |= KVM_IOEVENTFD_FLAG_PIO;
	return 0;
}

/* The region's ioeventfds, with fds usable by this process. */
static int collect(struct vuc_device *dev, unsigned int index,
		   struct vfio_user_ioeventfd **out, unsigned int *nr)
{
	const struct vuc_region *r = &dev->regions[index].pub;
	struct vfio_user_ioeventfds req = {
		.argsz = sizeof(req),
		.index = index,
	};
	struct vfio_user_ioeventfd *e;
	unsigned int i, n = 0;

	for (i = 0; i < r->nr_io_fds; i++)
		n += r->io_fds[i].type == VFIO_USER_IO_FD_TYPE_IOEVENTFD;
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	if (dev->kfd >= 0) {
		/* The kernel holds them now: it installs fresh fds for us. */
		req.count = n;
		req.entries = (uintptr_t)e;
		if (n && ioctl(dev->kfd, VFIO_USER_GET_IOEVENTFDS, &req)) {
			free(e);
			return vuc_fail(dev, -errno,
					"VFIO_USER_GET_IOEVENTFDS: %s",
					strerror(errno));
		}
	} else {
		for (i = 0, n = 0; i < r->nr_io_fds; i++) {
			const struct vuc_io_fd *s = &r->io_fds[i];

			if (s->type != VFIO_USER_IO_FD_TYPE_IOEVENTFD)
				continue;
			e[n].offset = s->offset;
			e[n].size = s->size;
			e[n].datamatch = s->datamatch;
			e[n].flags = s->flags;
			e[n].fd = dup(s->fd);
			if (e[n].fd < 0) {
				int err = -errno;

				while (n--)
					close(e[n].fd);
				free(e);
				return vuc_fail(dev, err, "dup: %s",
						strerror(-err));
			}
			n++;
		}
	}
	*out = e;
	*nr = n;
	return 0;
}

int vuc_kvm_wire_ioeventfds(struct vuc_device *dev, int vm_fd,
			    unsigned int region, uint64_t guest_phys_base)
{
	struct vfio_user_ioeventfd *e = NULL;
	struct kvm_ioeventfd k;
	unsigned int i, n = 0, done = 0;
	int ret;

	if (!dev)
		return -EINVAL;
	ret = vuc_check_usable(dev);
	if (ret)
		return ret;
	if (region >= dev->info.num_regions)
		return vuc_fail(dev, -EINVAL, "no region %u", region);
	ret = collect(dev, region, &e, &n);
	if (ret)
		return ret;
	for (i = 0; i < n && !ret; i++) {
		ret = kvm_entry(dev, &e[i], guest_phys_base, &k);
		if (!ret && ioctl(vm_fd, KVM_IOEVENTFD, &k))
			ret = vuc_fail(dev, -errno,
				       "KVM_IOEVENTFD at 0x%llx: %s",
				       (unsigned long long)k.addr,
				       strerror(errno));
		if (!ret)
			done++;
	}
	/* All or nothing: take back what went in before a failure. */
	for (i = 0; ret && i < done; i++) {
		if (!kvm_entry(dev, &e[i], guest_phys_base, &k)) {
			k.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
			ioctl(vm_fd, KVM_IOEVENTFD, &k);
		}
	}
	/* KVM holds its own references; ours go. */
	for (i = 0; i < n; i++)
		close(e[i].fd);
	free(e);
	return ret ? ret : (int)done;
}
