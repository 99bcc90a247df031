// SPDX-License-Identifier: BSD-3-Clause
/*
 * DMA map and unmap. With the kernel backend the kernel keeps the map and
 * serves the server's DMA_READ/DMA_WRITE from it; on the userspace backend
 * DMA_MAP/DMA_UNMAP go over the socket and the library keeps the map, for
 * its receive thread to serve DMA_READ/DMA_WRITE from (serve.c). A mapping
 * is served from before the server hears of it until before the server
 * hears it is gone.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

static int kernel_map(struct vuc_device *dev, uint64_t iova, uint64_t size,
		      void *vaddr, uint32_t flags, int fd, uint64_t fd_offset)
{
	struct vfio_user_map_dma map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
		.fd = fd,
		.fd_offset = fd_offset,
	};

	if (fd >= 0)
		map.flags |= VFIO_USER_MAP_DMA_FD;
	else
		map.fd = -1;
	if (ioctl(dev->kfd, VFIO_USER_MAP_DMA, &map))
		return vuc_fail(dev, -errno,
				"mapping DMA [0x%llx, +0x%llx): %s",
				(unsigned long long)iova,
				(unsigned long long)size, strerror(errno));
	return 0;
}

static int socket_map(struct vuc_device *dev, uint64_t iova, uint64_t size,
		      void *vaddr, uint32_t flags, int fd, uint64_t fd_offset)
{
	struct vuc_map old;
	struct vfio_user_dma_map msg = {
		.argsz = sizeof(msg),
		.flags = flags,
		.addr = iova,
		.size = size,
	};
	struct vu_msg reply;
	int ret;

	/* All the server's DMA through us: then we can log all it writes. */
	if (dev->flags & VUC_OPT_NO_FD_SHARING)
		fd = -1;
	msg.offset = fd >= 0 ? fd_offset : 0;
	ret = vuc_map_add(dev, iova, size, vaddr, flags);
	if (ret)
		return ret;
	ret = vuc_call(dev, VFIO_USER_DMA_MAP, &msg, sizeof(msg),
		       fd >= 0 ? &fd : NULL, fd >= 0, 0, 0, &reply);
	if (ret) {
		vuc_map_remove(dev, iova, size, &old);
		return ret;
	}
	vu_msg_release(&reply);
	return 0;
}

int vuc_dma_map(struct vuc_device *dev, uint64_t iova, uint64_t size,
		void *vaddr, uint32_t flags, int fd, uint64_t fd_offset)
{
	int ret;

	if (!dev)
		return -EINVAL;
	ret = vuc_check_usable(dev);
	if (ret)
		return ret;
	if (flags & ~(VUC_DMA_READ | VUC_DMA_WRITE) ||
	    !(flags & (VUC_DMA_READ | VUC_DMA_WRITE)) || !size)
		return vuc_fail(
			dev, -EINVAL,
			"DMA map: flags 0x%x must be VUC_DMA_READ and/or VUC_DMA_WRITE, size not 0",
			flags);
	if (dev->kfd >= 0)
		return kernel_map(dev, iova, size, vaddr, flags, fd, fd_offset);
	return socket_map(dev, iova, size, vaddr, flags, fd, fd_offset);
}

static int dma_unmap(struct vuc_device *dev, uint64_t iova, uint64_t size,
		     bool all)
{
	struct vfio_user_unmap_dma unmap = {
		.argsz = sizeof(unmap),
		.flags = all ? VFIO_USER_UNMAP_DMA_ALL : 0,
		.iova = iova,
		.size = size,
	};
	struct vfio_user_dma_unmap msg = {
		.argsz = sizeof(msg),
		.flags = all ? VFIO_USER_F_DMA_UNMAP_ALL : 0,
		.addr = iova,
		.size = size,
	};
	struct vuc_map old;
	struct vu_msg reply;
	bool had;
	int ret;

	if (!dev)
		return -EINVAL;
	ret = vuc_check_usable(dev);
	if (ret)
		return ret;
	if (dev->kfd >= 0) {
		if (ioctl(dev->kfd, VFIO_USER_UNMAP_DMA, &unmap))
			return vuc_fail(dev, -errno,
					"unmapping DMA [0x%llx, +0x%llx): %s",
					(unsigned long long)iova,
					(unsigned long long)size,
					strerror(errno));
		return 0;
	}
	/* Served no more from here on; in-flight copies are over. */
	if (all)
		vuc_map_clear(dev);
	had = !all && !vuc_map_remove(dev, iova, size, &old);
	ret = vuc_call(dev, VFIO_USER_DMA_UNMAP, &msg, sizeof(msg), NULL, 0, 0,
		       sizeof(msg), &reply);
	/* The server refused: it still has the mapping, so do we. */
	if (ret && had && vuc_server_error)
		vuc_map_add(dev, old.iova, old.size, old.vaddr, old.flags);
	if (ret)
		return ret;
	vu_msg_release(&reply);
	return 0;
}

int vuc_dma_unmap(struct vuc_device *dev, uint64_t iova, uint64_t size)
{
	return dma_unmap(dev, iova, size, false);
}

int vuc_dma_unmap_all(struct vuc_device *dev)
{
	return dma_unmap(dev, 0, 0, true);
}
