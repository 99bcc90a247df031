// SPDX-License-Identifier: BSD-3-Clause
/*
 * The kernel backend: hand the negotiated, discovered connection to
 * vfio_user.ko through /dev/vfio-user, then drive the device through the
 * VFIO device API on the fd it turns into.
 *
 * The kernel cannot receive fds, so everything whose reply carries fds
 * (VERSION, region info, io fds) happens here first; VFIO_USER_ATTACH then
 * passes the results, fds included, in one go.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

#define VUC_DEV_PATH "/dev/vfio-user"

static void free_attach_regions(struct vfio_user_attach_region *ar, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		free((void *)(uintptr_t)ar[i].io_fds);
	free(ar);
}

/* The attach description of every region, in index order. */
static struct vfio_user_attach_region *build_regions(struct vuc_device *dev)
{
	uint32_t i, j, n = dev->info.num_regions;
	struct vfio_user_attach_region *ar;

	ar = calloc(n, sizeof(*ar));
	if (!ar)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct vuc_region *r = &dev->regions[i].pub;
		struct vfio_user_attach_io_fd *io = NULL;

		ar[i].flags = r->info.flags;
		ar[i].fd = r->fd;
		ar[i].size = r->info.size;
		ar[i].offset = r->info.offset;
		if (r->caps) {
			ar[i].caps = (uintptr_t)r->caps;
			ar[i].cap_size = r->caps_size;
			ar[i].cap_offset = r->info.cap_offset;
		} else {
			ar[i].flags &= ~VFIO_REGION_INFO_FLAG_CAPS;
		}
		if (i < 32 && (dev->posted_write_regions & (1U << i)))
			ar[i].attach_flags |=
				VFIO_USER_ATTACH_REGION_POSTED_WRITES;

		if (r->nr_io_fds) {
			io = calloc(r->nr_io_fds, sizeof(*io));
			if (!io) {
				free_attach_regions(ar, i);
				return NULL;
			}
		}
		for (j = 0; j < r->nr_io_fds; j++) {
			const struct vuc_io_fd *s = &r->io_fds[j];

			io[j].type = s->type;
			io[j].flags = s->flags;
			io[j].offset = s->offset;
			io[j].size = s->size;
			io[j].datamatch = s->datamatch;
			io[j].fd = s->fd;
			if (s->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW) {
				io[j].shadow_offset = s->shadow_offset;
				io[j].shadow_fd = s->shadow_fd;
			} else {
				io[j].user_data = s->user_data;
			}
		}
		ar[i].nr_io_fds = r->nr_io_fds;
		ar[i].io_fds = (uintptr_t)io;
	}
	return ar;
}

static int do_attach(struct vuc_device *dev, int kfd)
{
	struct vfio_user_attach arg = {
		.argsz = sizeof(arg),
		.flags = (dev->flags & VUC_OPT_NO_FD_SHARING ?
				  VFIO_USER_ATTACH_NO_FD_SHARING :
				  0) |
			 /* The kernel may coalesce posted writes. */
			 (dev->caps.write_multiple ?
				  VFIO_USER_ATTACH_WRITE_MULTIPLE :
				  0),
		.sock_fd = dev->sock,
		.twin_fd = dev->twin,
		.major = dev->caps.major,
		.minor = dev->caps.minor,
		.max_msg_fds = dev->caps.max_msg_fds,
		.max_data_xfer_size = dev->caps.max_data_xfer_size,
		.client_max_data_xfer_size = dev->max_data_xfer_size,
		.max_dma_maps = dev->caps.max_dma_maps,
		.device_flags = dev->info.flags,
		.pgsizes = dev->caps.pgsizes,
		.num_regions = dev->info.num_regions,
		.num_irqs = dev->info.num_irqs,
		.irqs = (uintptr_t)dev->irqs,
	};
	struct vfio_user_timeout timeout = {
		.argsz = sizeof(timeout),
		.timeout_ms = dev->timeout_ms,
	};
	struct vfio_user_attach_region *regions;
	int ret = 0;

	if (ioctl(kfd, VFIO_USER_SET_TIMEOUT, &timeout))
		return vuc_fail(
			dev, -errno,
			"setting the kernel's reply timeout to %u ms: %s",
			dev->timeout_ms, strerror(errno));
	regions = build_regions(dev);
	if (!regions)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	arg.regions = (uintptr_t)regions;
	if (ioctl(kfd, VFIO_USER_ATTACH, &arg))
		ret = vuc_fail(dev, -errno,
			       "attaching the device to the kernel (%s): %s",
			       VUC_DEV_PATH, strerror(errno));
	free_attach_regions(regions, dev->info.num_regions);
	return ret;
}

int vuc_kernel_attach(struct vuc_device *dev)
{
	int kfd, ret;

	if (dev->flags & VUC_OPT_USERSPACE)
		return 0;
	kfd = open(VUC_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (kfd < 0) {
		if (!(dev->flags & VUC_OPT_KERNEL) &&
		    (errno == ENOENT || errno == ENODEV || errno == ENXIO))
			return 0; /* no module: stay in userspace */
		return vuc_fail(dev, -errno,
				"opening %s: %s (is vfio_user.ko loaded?)",
				VUC_DEV_PATH, strerror(errno));
	}
	ret = do_attach(dev, kfd);
	if (ret) {
		close(kfd);
		return ret;
	}
	/* The kernel owns the sockets now; ours must never be used again. */
	if (dev->twin >= 0)
		close(dev->twin);
	dev->twin = -1;
	close(dev->sock);
	dev->sock = -1;
	dev->kfd = kfd;
	return 0;
}

/* A failed call on the device fd; name the broken connection if it is. */
static int kernel_fail(struct vuc_device *dev, int err, const char *what)
{
	struct vfio_user_stats st = { .argsz = sizeof(st) };

	if (!ioctl(dev->kfd, VFIO_USER_GET_STATS, &st) &&
	    (st.flags & VFIO_USER_STATS_BROKEN))
		return vuc_fail(dev, err,
				"%s: %s; the kernel closed the connection (%s)",
				what, strerror(-err),
				strerror(st.broken_errno));
	return vuc_fail(dev, err, "%s: %s", what, strerror(-err));
}

bool vuc_kernel_broken(struct vuc_device *dev, int *err)
{
	struct vfio_user_stats st = { .argsz = sizeof(st) };

	if (ioctl(dev->kfd, VFIO_USER_GET_STATS, &st) ||
	    !(st.flags & VFIO_USER_STATS_BROKEN))
		return false;
	*err = (int)st.broken_errno;
	return true;
}

int vuc_kernel_raw(struct vuc_device *dev, uint16_t cmd, const void *req,
		   size_t len, void *reply, size_t cap, size_t *reply_len)
{
	struct vfio_user_raw_msg m = {
		.argsz = sizeof(m),
		.cmd = cmd,
		.request_size = (uint32_t)len,
		.reply_size = (uint32_t)cap,
		.request = (uintptr_t)req,
		.reply = (uintptr_t)reply,
	};

	if (ioctl(dev->kfd, VFIO_USER_RAW_MSG, &m))
		return -errno;
	if (m.reply_size > cap)
		return -EPROTO;
	*reply_len = m.reply_size;
	return 0;
}

ssize_t vuc_kernel_region_rw(struct vuc_device *dev, unsigned int index,
			     uint64_t offset, void *buf, size_t count,
			     bool write)
{
	off_t pos = (off_t)(VFIO_USER_REGION_OFFSET(index) + offset);
	size_t done = 0;
	ssize_t n;

	while (done < count) {
		if (write)
			n = pwrite(dev->kfd, (uint8_t *)buf + done,
				   count - done, pos + done);
		else
			n = pread(dev->kfd, (uint8_t *)buf + done, count - done,
				  pos + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kernel_fail(dev, n < 0 ? -errno : -EIO,
					   write ? "region write" :
						   "region read");
		done += n;
	}
	return count;
}

int vuc_kernel_set_irqs(struct vuc_device *dev, uint32_t flags, uint32_t index,
			uint32_t start, uint32_t count, const void *data,
			size_t data_size)
{
	struct vfio_irq_set *set;
	int ret = 0;

	set = vuc_irq_set_new(flags, index, start, count, data, data_size);
	if (!set)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	if (ioctl(dev->kfd, VFIO_DEVICE_SET_IRQS, set))
		ret = kernel_fail(dev, -errno, "VFIO_DEVICE_SET_IRQS");
	free(set);
	return ret;
}

int vuc_kernel_reset(struct vuc_device *dev)
{
	if (ioctl(dev->kfd, VFIO_DEVICE_RESET))
		return kernel_fail(dev, -errno, "VFIO_DEVICE_RESET");
	return 0;
}

int vuc_device_fd(const struct vuc_device *dev)
{
	if (!dev || dev->state != VUC_READY)
		return -1;
	return dev->kfd;
}

int vuc_get_stats(struct vuc_device *dev, struct vfio_user_stats *stats)
{
	if (!dev || !stats)
		return -EINVAL;
	if (dev->kfd < 0)
		return vuc_fail(
			dev, -ENODEV,
			"statistics are kept by the kernel; the device is not attached to it");
	memset(stats, 0, sizeof(*stats));
	stats->argsz = sizeof(*stats);
	if (ioctl(dev->kfd, VFIO_USER_GET_STATS, stats))
		return vuc_fail(dev, -errno, "VFIO_USER_GET_STATS: %s",
				strerror(errno));
	return 0;
}
