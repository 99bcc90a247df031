/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvfio-user-client: the client side of vfio-user.
 *
 * Connects to a vfio-user server, negotiates (VERSION with JSON
 * capabilities), discovers the device (regions with their capabilities and
 * mmap fds, io-fd sub-regions, IRQs) and drives it.
 *
 * Conventions: functions that can fail return 0 (or a count) on success and
 * a negative errno on failure; vuc_strerror() then says in words what went
 * wrong and, where the server is at fault, what it did. Every fd the library
 * receives belongs to the device handle and is closed by vuc_device_free().
 * On the userspace backend a receive thread of the handle serves the
 * server's DMA_READ/DMA_WRITE from the DMA map; region access, interrupts,
 * reset and DMA map calls may then come from several threads at once.
 * Connecting, freeing and migration need the handle to themselves.
 */
#ifndef VFIO_USER_CLIENT_H
#define VFIO_USER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio.h>
#include <linux/vfio_user.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vuc_device;

#define VUC_DEFAULT_TIMEOUT_MS 5000

/* Do not offer the twin_socket capability. */
#define VUC_OPT_NO_TWIN_SOCKET (1u << 0)
/* Never attach to the kernel: drive the device over the socket from here. */
#define VUC_OPT_USERSPACE (1u << 1)
/* Attach to the kernel or fail (default: attach when /dev/vfio-user exists). */
#define VUC_OPT_KERNEL (1u << 2)
/*
 * Never give the server memory fds: all its DMA goes through the kernel
 * (or, on the userspace backend, the library).
 */
#define VUC_OPT_NO_FD_SHARING (1u << 3)
/* Do not ask for io-fd sub-regions: every region access is a message. */
#define VUC_OPT_NO_IO_FDS (1u << 4)

/**
 * struct vuc_options - how to talk to the server; zero means default
 * @timeout_ms: bound on every wait for the server (VUC_DEFAULT_TIMEOUT_MS)
 * @flags: VUC_OPT_*; unknown bits make vuc_device_new() fail with EINVAL
 * @max_data_xfer_size: our receive limit for data in one message, offered
 *	to the server (default and maximum 1 MiB)
 * @posted_write_regions: bit i set: writes to region i are posted (sent
 *	without waiting for the reply) by the kernel; not for the config space
 *	and not once a region of the device is mmapped. Kernel backend only.
 */
struct vuc_options {
	unsigned int timeout_ms;
	unsigned int flags;
	uint32_t max_data_xfer_size;
	uint32_t posted_write_regions;
};

/* A new, unconnected handle; NULL with errno set on failure. */
struct vuc_device *vuc_device_new(const struct vuc_options *opts);

/* Close the connection and every fd the handle owns; frees the handle. */
void vuc_device_free(struct vuc_device *dev);

/*
 * Connect to the server listening at @socket_path, negotiate, discover the
 * device and (unless VUC_OPT_USERSPACE) attach it to the kernel. After a
 * failure the handle can only be freed.
 */
int vuc_connect(struct vuc_device *dev, const char *socket_path);

/*
 * As vuc_connect() on an already connected stream socket. The handle owns
 * @sock_fd from this call on, even when it fails.
 */
int vuc_connect_fd(struct vuc_device *dev, int sock_fd);

/* What the last failing call on @dev went wrong with, in words. */
const char *vuc_strerror(const struct vuc_device *dev);

/**
 * struct vuc_caps - what was negotiated
 * @major: protocol major version (0)
 * @minor: protocol minor version agreed on (min of ours and the server's)
 * @max_msg_fds: most fds the server accepts in one message
 * @max_data_xfer_size: most data bytes the server accepts in one message
 * @max_dma_maps: most DMA mappings the server accepts
 * @pgsizes: DMA page sizes the server supports (bit n set: 2^n bytes)
 * @migration_pgsize: the server's migration page size, 0 if not announced
 * @twin_socket: the server gave us a second socket for its own commands
 * @write_multiple: the server accepts REGION_WRITE_MULTI
 */
struct vuc_caps {
	uint16_t major;
	uint16_t minor;
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	uint64_t migration_pgsize;
	bool twin_socket;
	bool write_multiple;
};

const struct vuc_caps *vuc_get_caps(const struct vuc_device *dev);

/* The server's socket for its own commands, -1 without twin socket. */
int vuc_twin_socket_fd(const struct vuc_device *dev);

/*
 * The main socket, -1 when not connected or owned by the kernel. Without a
 * twin socket the library's receive thread reads it: do not read from it.
 */
int vuc_socket_fd(const struct vuc_device *dev);

/*
 * The attached /dev/vfio-user fd, -1 on the userspace backend. It is a VFIO
 * device fd: VFIO_DEVICE_* ioctls, pread/pwrite at
 * VFIO_USER_REGION_OFFSET(index) + offset, mmap, poll. Owned by the handle.
 */
int vuc_device_fd(const struct vuc_device *dev);

/* The kernel's counters for this device (kernel backend only). */
int vuc_get_stats(struct vuc_device *dev, struct vfio_user_stats *stats);

/* DEVICE_GET_INFO as the server answered it. */
const struct vfio_user_device_info *
vuc_get_device_info(const struct vuc_device *dev);

/**
 * struct vuc_sparse_area - a part of a region that may be mmapped
 * @offset: from the start of the region
 * @size: bytes
 */
struct vuc_sparse_area {
	uint64_t offset;
	uint64_t size;
};

/**
 * struct vuc_io_fd - a sub-region served through a file descriptor
 *	(DEVICE_GET_REGION_IO_FDS)
 * @type: VFIO_USER_IO_FD_TYPE_IOEVENTFD, _IOREGIONFD or _IOEVENTFD_SHADOW
 *	(unknown types are skipped at discovery: the server still serves
 *	those addresses through REGION_WRITE)
 * @flags: VFIO_USER_IOEVENTFD_FLAG_* or VFIO_USER_IOREGIONFD_FLAG_*
 * @offset: from the start of the region
 * @size: bytes; 0 for an ioeventfd means any access size
 * @datamatch: ioeventfd only: value a write must carry (with DATAMATCH)
 * @user_data: ioregionfd only: echoed in every ioregionfd command
 * @fd: the eventfd or ioregionfd socket; owned by the library. Entries may
 *	share an fd.
 * @shadow_offset: shadow ioeventfd only: where in @shadow_fd the value of
 *	a matching write is stored before @fd is signalled
 * @shadow_fd: shadow ioeventfd only: the shadow memory; owned by the
 *	library; -1 for other types
 */
struct vuc_io_fd {
	uint32_t type;
	uint32_t flags;
	uint64_t offset;
	uint64_t size;
	uint64_t datamatch;
	uint64_t user_data;
	int fd;
	uint64_t shadow_offset;
	int shadow_fd;
};

/**
 * struct vuc_region - one region as discovered
 * @info: the server's answer (argsz is the full size it needed);
 *	VFIO_REGION_INFO_FLAG_MMAP is cleared when the server sent no fd
 * @caps: the capability chain exactly as the server sent it, or NULL;
 *	offsets in it are relative to the start of @info, so the chain starts
 *	at caps[info.cap_offset - sizeof(info)]
 * @caps_size: bytes in @caps
 * @fd: the mmap fd (VFIO_REGION_INFO_FLAG_MMAP), or -1; owned by the library
 * @nr_areas: number of sparse mmap areas (from VFIO_REGION_INFO_CAP_SPARSE_MMAP;
 *	a mappable region without that capability has one area covering it)
 * @areas: the areas, each checked to lie inside the region
 * @has_type: the region has VFIO_REGION_INFO_CAP_TYPE
 * @type: its type, when @has_type
 * @subtype: its subtype, when @has_type
 * @nr_io_fds: number of io-fd sub-regions
 * @io_fds: the io-fd sub-regions, each checked to lie inside the region
 */
struct vuc_region {
	struct vfio_region_info info;
	const void *caps;
	uint32_t caps_size;
	int fd;
	unsigned int nr_areas;
	const struct vuc_sparse_area *areas;
	bool has_type;
	uint32_t type;
	uint32_t subtype;
	unsigned int nr_io_fds;
	const struct vuc_io_fd *io_fds;
};

/* Region @index, or NULL (errno EINVAL) if there is none. */
const struct vuc_region *vuc_get_region(const struct vuc_device *dev,
					unsigned int index);

/* IRQ index @index as the server described it, or NULL (errno EINVAL). */
const struct vfio_irq_info *vuc_get_irq_info(const struct vuc_device *dev,
					     unsigned int index);

/*
 * Region access over the socket (REGION_READ / REGION_WRITE), split into
 * pieces of at most the server's max_data_xfer_size. Returns @count or a
 * negative errno.
 */
ssize_t vuc_region_read(struct vuc_device *dev, unsigned int index,
			uint64_t offset, void *buf, size_t count);
ssize_t vuc_region_write(struct vuc_device *dev, unsigned int index,
			 uint64_t offset, const void *buf, size_t count);

/*
 * DEVICE_SET_IRQS with VFIO_DEVICE_SET_IRQS semantics: @flags holds one
 * VFIO_IRQ_SET_DATA_* and one VFIO_IRQ_SET_ACTION_* bit; @data is NULL for
 * DATA_NONE, @count bytes (0 or 1) for DATA_BOOL, and @count int32 fds for
 * DATA_EVENTFD, where -1 de-assigns that vector. Eventfds go out in chunks
 * of at most the server's max_msg_fds.
 */
int vuc_set_irqs(struct vuc_device *dev, uint32_t flags, uint32_t index,
		 uint32_t start, uint32_t count, const void *data);

/* DEVICE_RESET. */
int vuc_reset(struct vuc_device *dev);

#define VUC_DMA_READ (1u << 0) /* the device may read the range */
#define VUC_DMA_WRITE (1u << 1) /* the device may write it */

/*
 * Map [iova, iova + size) for DMA: the memory is at @vaddr in this process
 * and, when @fd >= 0, in @fd at @fd_offset (the server may then map it;
 * unless VUC_OPT_NO_FD_SHARING). The server's DMA_READ/DMA_WRITE are
 * served from @vaddr: by the kernel with the kernel backend, by the
 * library's receive thread on the userspace backend. Requests outside the
 * map, with a forbidden access or beyond max_data_xfer_size get an error
 * reply. Alignment: the server's smallest page size. Returns -EEXIST for
 * overlaps, -ENOSPC beyond max_dma_maps.
 */
int vuc_dma_map(struct vuc_device *dev, uint64_t iova, uint64_t size,
		void *vaddr, uint32_t flags, int fd, uint64_t fd_offset);

/* Unmap a whole earlier mapping; returns once the server let go of it. */
int vuc_dma_unmap(struct vuc_device *dev, uint64_t iova, uint64_t size);

/* Unmap everything. */
int vuc_dma_unmap_all(struct vuc_device *dev);

/*
 * Register region @region's ioeventfd sub-regions with KVM (KVM_IOEVENTFD
 * on @vm_fd) at @guest_phys_base + their offsets, with their width,
 * datamatch and PIO flag. All or nothing. Returns how many were wired.
 */
int vuc_kvm_wire_ioeventfds(struct vuc_device *dev, int vm_fd,
			    unsigned int region, uint64_t guest_phys_base);

/*
 * Migration (VFIO migration v2 over vfio-user: DEVICE_FEATURE and
 * MIG_DATA_READ/MIG_DATA_WRITE). Works on both backends. States are enum
 * vfio_user_device_mig_state values; the P2P states do not exist in
 * vfio-user and are refused.
 */

/*
 * The device's VFIO_USER_MIGRATION_* flags (DEVICE_FEATURE MIGRATION GET:
 * STOP_COPY, P2P, PRE_COPY; unknown bits dropped), asked once and cached.
 * P2P is reported as the server says, but vfio-user has no P2P states.
 * -ENOTSUP if the server has no migration (it refused the feature, or
 * lacks STOP_COPY, which every migratable device must have).
 */
int vuc_mig_get_flags(struct vuc_device *dev, uint64_t *flags);

/*
 * The device state as the server reports it (MIG_DEVICE_STATE GET); also
 * what the library then knows it to be.
 */
int vuc_mig_get_state(struct vuc_device *dev, uint32_t *state);

/*
 * Move the device to @state, one direct arc at a time: combination arcs
 * (RUNNING to STOP_COPY, PRE_COPY to STOP, RESUMING to RUNNING, ...) are
 * walked through their intermediate states, as VFIO's
 * vfio_mig_get_next_state() does. -EINVAL without a message to the server
 * for a target that does not exist or that the device cannot reach
 * (PRE_COPY without VFIO_USER_MIGRATION_PRE_COPY, STOP_COPY to PRE_COPY,
 * ERROR, anything from ERROR: only vuc_reset() leaves ERROR). When the
 * server refuses an arc, the call returns its errno and the library asks
 * the server where the device is now (vuc_mig_state() then tells).
 */
int vuc_mig_set_state(struct vuc_device *dev, uint32_t state);

/*
 * The state last known without asking: after a get or a set, or -1 when
 * unknown (before any, after a reset, after a failed query).
 */
int vuc_mig_state(const struct vuc_device *dev);

/*
 * Read up to @len bytes of the migration stream (PRE_COPY or STOP_COPY),
 * in MIG_DATA_READ chunks within both sides' max_data_xfer_size. Returns
 * the bytes read; fewer than @len means the server has no more data for
 * now (in STOP_COPY: the stream is complete).
 */
ssize_t vuc_mig_read(struct vuc_device *dev, void *buf, size_t len);

/* Write @len bytes of a migration stream (RESUMING), in chunks as above. */
int vuc_mig_write(struct vuc_device *dev, const void *buf, size_t len);

/* Where vuc_mig_save() and vuc_mig_precopy() put the data: 0 or -errno. */
typedef int (*vuc_mig_sink_fn)(void *opaque, const void *buf, size_t len);

/*
 * Read the stream until the server has no more data, handing every chunk
 * to @sink. Adds the bytes moved to *@bytes when @bytes is not NULL.
 */
int vuc_mig_save(struct vuc_device *dev, vuc_mig_sink_fn sink, void *opaque,
		 uint64_t *bytes);

/*
 * Called after each pre-copy round with its number (from 1) and the bytes
 * it moved; return true to stop the rounds.
 */
typedef bool (*vuc_mig_stop_fn)(void *opaque, unsigned int round,
				uint64_t round_bytes);

/*
 * Pre-copy: enter PRE_COPY if the device is RUNNING, then read rounds (each
 * until the server has no more data for now) while the server has data and
 * until @stop says so; @stop is called after every round, the empty one
 * too. The device stays in PRE_COPY. Returns the number of rounds.
 */
int vuc_mig_precopy(struct vuc_device *dev, vuc_mig_sink_fn sink,
		    vuc_mig_stop_fn stop, void *opaque, uint64_t *bytes);

/*
 * Dirty tracking, one log for the VMM: the server's DMA logging
 * (DEVICE_FEATURE DMA_LOGGING_*: pages it writes through its own mapping
 * of guest memory) and the log of the pages written while serving the
 * server's DMA_WRITE: the kernel's on the kernel backend, the library's on
 * the userspace backend.
 */

/* 1 if the server offers DMA logging (PROBE), 0 if not, or -errno. */
int vuc_dirty_supported(struct vuc_device *dev);

/*
 * Start logging at @page_size (a power of two, at least the smallest DMA
 * page size) over @nr_ranges ranges (0: every mapping). The server's half
 * may be missing only with VUC_OPT_NO_FD_SHARING, where every write of the
 * server goes through the kernel (or, on the userspace backend, the
 * library). Otherwise -ENOTSUP: the log would miss pages.
 */
int vuc_dirty_start(
	struct vuc_device *dev, uint64_t page_size,
	const struct vfio_user_device_feature_dma_logging_range *ranges,
	uint32_t nr_ranges);

/* Stop logging (both halves). */
int vuc_dirty_stop(struct vuc_device *dev);

/*
 * Pages of [iova, iova + length) written since the last report, by either
 * path, one bit per page of the page size given to vuc_dirty_start(), in
 * uint64_t words: @bitmap_size is at least DIV_ROUND_UP(pages, 64) * 8.
 * Reading clears the log. libvfio-user needs the range to be one whole DMA
 * mapping.
 */
int vuc_dirty_report(struct vuc_device *dev, uint64_t iova, uint64_t length,
		     uint64_t *bitmap, size_t bitmap_size);

#ifdef __cplusplus
}
#endif

#endif /* VFIO_USER_CLIENT_H */
