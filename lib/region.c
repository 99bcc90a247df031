// SPDX-License-Identifier: BSD-3-Clause
/*
 * Driving the device: region access over the socket, interrupts, reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Region access ---------------------------------------------------------- */

/* Local checks, so that a bad request never reaches the server. */
static int check_access(struct vuc_device *dev, unsigned int index,
			uint64_t offset, size_t count, const void *buf,
			uint32_t need, const char *what)
{
	const struct vfio_region_info *info;
	int ret;

	ret = vuc_check_usable(dev);
	if (ret)
		return ret;
	if (index >= dev->info.num_regions)
		return vuc_fail(dev, -EINVAL,
				"%s: no region %u (the device has %u)", what,
				index, dev->info.num_regions);
	info = &dev->regions[index].pub.info;
	if (!(info->flags & need))
		return vuc_fail(dev, -EINVAL, "%s: region %u does not allow it",
				what, index);
	if (count > SSIZE_MAX || count > info->size ||
	    offset > info->size - count)
		return vuc_fail(
			dev, -EINVAL,
			"%s: %zu bytes at offset 0x%llx do not fit in region %u (size 0x%llx)",
			what, count, (unsigned long long)offset, index,
			(unsigned long long)info->size);
	if (count && !buf)
		return vuc_fail(dev, -EINVAL, "%s: no buffer", what);
	return 0;
}

/* The reply must echo the request's offset, region and count. */
static int check_echo(struct vuc_device *dev, const char *what,
		      const struct vfio_user_region_access *req,
		      const struct vu_msg *reply, size_t want)
{
	struct vfio_user_region_access echo;

	if (reply->len != want)
		return vuc_fail(
			dev, -EPROTO,
			"server's %s reply for %u bytes at 0x%llx of region %u has a %zu-byte payload; must be %zu",
			what, req->count, (unsigned long long)req->offset,
			req->region, reply->len, want);
	memcpy(&echo, reply->payload, sizeof(echo));
	if (echo.offset != req->offset || echo.region != req->region ||
	    echo.count != req->count)
		return vuc_fail(
			dev, -EPROTO,
			"server's %s reply echoes offset 0x%llx region %u count %u; we asked for offset 0x%llx region %u count %u",
			what, (unsigned long long)echo.offset, echo.region,
			echo.count, (unsigned long long)req->offset,
			req->region, req->count);
	return 0;
}

static int read_piece(struct vuc_device *dev, unsigned int index,
		      uint64_t offset, void *buf, uint32_t n)
{
	struct vfio_user_region_access req = {
		.offset = offset,
		.region = index,
		.count = n,
	};
	struct vu_msg reply;
	int ret;

	ret = vuc_call(dev, VFIO_USER_REGION_READ, &req, sizeof(req), NULL, 0,
		       0, sizeof(req) + n, &reply);
	if (ret)
		return ret;
	ret = check_echo(dev, "REGION_READ", &req, &reply, sizeof(req) + n);
	if (!ret)
		memcpy(buf, (uint8_t *)reply.payload + sizeof(req), n);
	vu_msg_release(&reply);
	return ret;
}

ssize_t vuc_region_read(struct vuc_device *dev, unsigned int index,
			uint64_t offset, void *buf, size_t count)
{
	size_t done = 0, piece;
	int ret;

	if (!dev)
		return -EINVAL;
	ret = check_access(dev, index, offset, count, buf,
			   VFIO_REGION_INFO_FLAG_READ, "region read");
	if (ret)
		return ret;
	if (dev->kfd >= 0)
		return vuc_kernel_region_rw(dev, index, offset, buf, count,
					    false);
	/* The reply carries the data: it must fit our limit and the server's. */
	piece = dev->caps.max_data_xfer_size;
	if (piece > dev->max_data_xfer_size)
		piece = dev->max_data_xfer_size;
	while (done < count) {
		size_t n = count - done < piece ? count - done : piece;

		ret = read_piece(dev, index, offset + done,
				 (uint8_t *)buf + done, n);
		if (ret)
			return ret;
		done += n;
	}
	return count;
}

static int write_piece(struct vuc_device *dev, unsigned int index,
		       uint64_t offset, const void *buf, uint32_t n)
{
	struct vfio_user_region_access *req;
	struct vu_msg reply;
	int ret;

	/* Header and data in one buffer: one sendmsg() (PROTOCOL-NOTES §2.5). */
	req = malloc(sizeof(*req) + n);
	if (!req)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	req->offset = offset;
	req->region = index;
	req->count = n;
	memcpy(req->data, buf, n);
	ret = vuc_call(dev, VFIO_USER_REGION_WRITE, req, sizeof(*req) + n, NULL,
		       0, 0, sizeof(*req), &reply);
	if (!ret) {
		ret = check_echo(dev, "REGION_WRITE", req, &reply,
				 sizeof(*req));
		vu_msg_release(&reply);
	}
	free(req);
	return ret;
}

ssize_t vuc_region_write(struct vuc_device *dev, unsigned int index,
			 uint64_t offset, const void *buf, size_t count)
{
	size_t done = 0, piece;
	int ret;

	if (!dev)
		return -EINVAL;
	ret = check_access(dev, index, offset, count, buf,
			   VFIO_REGION_INFO_FLAG_WRITE, "region write");
	if (ret)
		return ret;
	if (dev->kfd >= 0)
		return vuc_kernel_region_rw(dev, index, offset, (void *)buf,
					    count, true);
	piece = dev->caps.max_data_xfer_size;
	while (done < count) {
		size_t n = count - done < piece ? count - done : piece;

		ret = write_piece(dev, index, offset + done,
				  (const uint8_t *)buf + done, n);
		if (ret)
			return ret;
		done += n;
	}
	return count;
}

/* Interrupts ------------------------------------------------------------- */

#define IRQ_DATA_MASK                                      \
	(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | \
	 VFIO_IRQ_SET_DATA_EVENTFD)
#define IRQ_ACTION_MASK                                          \
	(VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | \
	 VFIO_IRQ_SET_ACTION_TRIGGER)

/* Bytes of data that follow struct vfio_irq_set for these flags. */
static size_t irq_data_size(uint32_t flags, uint32_t count)
{
	if (flags & VFIO_IRQ_SET_DATA_BOOL)
		return count;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
		return (size_t)count * sizeof(int32_t);
	return 0;
}

static bool one_bit(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* VFIO_DEVICE_SET_IRQS argument rules, checked before anything is sent. */
static int check_irq_set(struct vuc_device *dev, uint32_t flags, uint32_t index,
			 uint32_t start, uint32_t count, const void *data)
{
	uint32_t vectors;
	int ret;

	ret = vuc_check_usable(dev);
	if (ret)
		return ret;
	if (flags & ~(IRQ_DATA_MASK | IRQ_ACTION_MASK) ||
	    !one_bit(flags & IRQ_DATA_MASK) ||
	    !one_bit(flags & IRQ_ACTION_MASK))
		return vuc_fail(
			dev, -EINVAL,
			"set irqs: flags 0x%x must hold exactly one VFIO_IRQ_SET_DATA_* and one VFIO_IRQ_SET_ACTION_* bit and nothing else",
			flags);
	if (index >= dev->info.num_irqs)
		return vuc_fail(dev, -EINVAL,
				"set irqs: no IRQ index %u (the device has %u)",
				index, dev->info.num_irqs);
	vectors = dev->irqs[index].count;
	if (start >= vectors || count > vectors - start)
		return vuc_fail(
			dev, -EINVAL,
			"set irqs: vectors %u..%u+%u out of range; IRQ index %u has %u",
			start, start, count, index, vectors);
	if (!count && !(flags & VFIO_IRQ_SET_DATA_NONE))
		return vuc_fail(
			dev, -EINVAL,
			"set irqs: count 0 is only valid with VFIO_IRQ_SET_DATA_NONE");
	if (count && !data && !(flags & VFIO_IRQ_SET_DATA_NONE))
		return vuc_fail(dev, -EINVAL, "set irqs: no data");
	return 0;
}

static int send_irq_set(struct vuc_device *dev, const struct vfio_irq_set *set,
			size_t len, const int *fds, unsigned int nr_fds)
{
	struct vu_msg reply;
	int ret;

	ret = vuc_call(dev, VFIO_USER_DEVICE_SET_IRQS, set, len, fds, nr_fds, 0,
		       0, &reply);
	if (ret) {
		char what[sizeof(dev->errmsg)];

		memcpy(what, dev->errmsg, sizeof(what));
		if (vuc_server_error)
			vuc_fail(
				dev, ret,
				"%s (flags 0x%x, index %u, vectors %u+%u, %u fds)",
				what, set->flags, set->index, set->start,
				set->count, nr_fds);
		return ret;
	}
	/* SET_IRQS has no reply payload; anything there is ignored. */
	vu_msg_release(&reply);
	return 0;
}

struct vfio_irq_set *vuc_irq_set_new(uint32_t flags, uint32_t index,
				     uint32_t start, uint32_t count,
				     const void *data, size_t dlen)
{
	struct vfio_irq_set *set = calloc(1, sizeof(*set) + dlen);

	if (!set)
		return NULL;
	set->argsz = sizeof(*set) + dlen;
	set->flags = flags;
	set->index = index;
	set->start = start;
	set->count = count;
	if (dlen)
		memcpy(set->data, data, dlen);
	return set;
}

/* DATA_NONE and DATA_BOOL: one message with the data inline. */
static int set_irqs_inline(struct vuc_device *dev, uint32_t flags,
			   uint32_t index, uint32_t start, uint32_t count,
			   const uint8_t *data)
{
	size_t dlen = flags & VFIO_IRQ_SET_DATA_BOOL ? count : 0;
	struct vfio_irq_set *set;
	uint32_t i;
	int ret;

	for (i = 0; i < dlen; i++)
		if (data[i] > 1)
			return vuc_fail(
				dev, -EINVAL,
				"set irqs: bool %u is %u; must be 0 or 1", i,
				data[i]);
	set = vuc_irq_set_new(flags, index, start, count, data, dlen);
	if (!set)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	ret = send_irq_set(dev, set, sizeof(*set) + dlen, NULL, 0);
	free(set);
	return ret;
}

/* Eventfds must be open fds or -1 (de-assign); check before sending any. */
static int check_eventfds(struct vuc_device *dev, const int32_t *fds,
			  uint32_t count)
{
	bool assign = false;
	uint32_t i;

	for (i = 0; i < count; i++) {
		if (fds[i] == -1)
			continue;
		if (fds[i] < 0 || fcntl(fds[i], F_GETFD) < 0)
			return vuc_fail(
				dev, -EBADF,
				"set irqs: eventfd %u is %d, not an open fd (or -1 to de-assign)",
				i, fds[i]);
		assign = true;
	}
	if (assign && !dev->caps.max_msg_fds)
		return vuc_fail(
			dev, -EOPNOTSUPP,
			"server advertised max_msg_fds=0; it cannot receive eventfds, so interrupts cannot be set up");
	return 0;
}

/* How many of the @left fds from @fds are alike (-1 or not), at most @max. */
static uint32_t run_length(const int32_t *fds, uint32_t left, uint32_t max)
{
	bool deassign = fds[0] == -1;
	uint32_t n = 1;

	while (n < left && n < max && (fds[n] == -1) == deassign)
		n++;
	return n;
}

/*
 * DATA_EVENTFD: the fds travel as SCM_RIGHTS, at most max_msg_fds per
 * message; a run of -1 goes as one message without fds, which de-assigns
 * it (QEMU's approach, PROTOCOL-NOTES §4.7). The payload is the bare
 * struct, so argsz is 20. Runs already sent stay applied if a later one
 * fails.
 */
static int set_irqs_eventfd(struct vuc_device *dev, uint32_t flags,
			    uint32_t index, uint32_t start, uint32_t count,
			    const int32_t *fds)
{
	uint32_t chunk = dev->caps.max_msg_fds, i = 0, n;
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = flags,
		.index = index,
	};
	int ret;

	ret = check_eventfds(dev, fds, count);
	if (ret)
		return ret;
	if (chunk > VU_WIRE_MAX_FDS)
		chunk = VU_WIRE_MAX_FDS;
	while (i < count) {
		bool deassign = fds[i] == -1;

		n = run_length(&fds[i], count - i, deassign ? count : chunk);
		set.start = start + i;
		set.count = n;
		ret = send_irq_set(dev, &set, sizeof(set),
				   deassign ? NULL : &fds[i], deassign ? 0 : n);
		if (ret)
			return ret;
		i += n;
	}
	return 0;
}

int vuc_set_irqs(struct vuc_device *dev, uint32_t flags, uint32_t index,
		 uint32_t start, uint32_t count, const void *data)
{
	int ret;

	if (!dev)
		return -EINVAL;
	ret = check_irq_set(dev, flags, index, start, count, data);
	if (ret)
		return ret;
	if (dev->kfd >= 0)
		return vuc_kernel_set_irqs(dev, flags, index, start, count,
					   data, irq_data_size(flags, count));
	if ((flags & VFIO_IRQ_SET_DATA_EVENTFD) && count)
		return set_irqs_eventfd(dev, flags, index, start, count, data);
	return set_irqs_inline(dev, flags, index, start, count, data);
}

/* Reset ------------------------------------------------------------------ */

int vuc_reset(struct vuc_device *dev)
{
	struct vu_msg reply;
	int ret;

	if (!dev)
		return -EINVAL;
	/* Reset leaves ERROR; where it leaves the device is asked next time. */
	dev->mig.state = -1;
	if (dev->kfd >= 0) {
		ret = vuc_check_usable(dev);
		return ret ? ret : vuc_kernel_reset(dev);
	}
	/* The one command that is a bare header (msg_size 16). */
	ret = vuc_call(dev, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0, 0, 0,
		       &reply);
	if (ret)
		return ret;
	vu_msg_release(&reply);
	return 0;
}
