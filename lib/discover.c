// SPDX-License-Identifier: BSD-3-Clause
/*
 * Discovery: DEVICE_GET_INFO, then GET_REGION_INFO (with its capability
 * chain and mmap fd) and GET_REGION_IO_FDS for every region, then
 * GET_IRQ_INFO for every IRQ index.
 *
 * Replies are untrusted: counts are capped before anything is sized with
 * them, every offset into a reply is bounds-checked before it is read,
 * and every sub-range of a region must lie inside the region. Fields are
 * memcpy()ed out because offsets chosen by the server need not be aligned.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Annotate a server's error reply with what we asked for. */
static int server_failed(struct vuc_device *dev, int ret, const char *what,
			 unsigned int index)
{
	char prev[sizeof(dev->errmsg)];

	if (!vuc_server_error)
		return ret;
	memcpy(prev, dev->errmsg, sizeof(prev));
	return vuc_fail(dev, ret, "%s (%s index %u)", prev, what, index);
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* [offset, offset + size) inside [0, limit), without overflow. */
static bool range_ok(uint64_t offset, uint64_t size, uint64_t limit)
{
	return size <= limit && offset <= limit - size;
}

/* Device --------------------------------------------------------------- */

static int check_device_info(struct vuc_device *dev,
			     const struct vfio_user_device_info *info)
{
	if (info->argsz < sizeof(*info))
		return vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_INFO reply has argsz %u; must be at least %zu",
			info->argsz, sizeof(*info));
	if (info->num_regions > VUC_MAX_REGIONS)
		return vuc_fail(
			dev, -EPROTO,
			"server claims %u regions in DEVICE_GET_INFO; at most %u are supported",
			info->num_regions, VUC_MAX_REGIONS);
	if (info->num_irqs > VUC_MAX_IRQS)
		return vuc_fail(
			dev, -EPROTO,
			"server claims %u IRQ indexes in DEVICE_GET_INFO; at most %u are supported",
			info->num_irqs, VUC_MAX_IRQS);
	/*
	 * A PCI device has its config space at region index 7 and INTx, MSI
	 * and MSI-X at IRQ indexes 0-2 (QEMU requires the same; the VGA
	 * region and the ERR/REQ IRQs are optional).
	 */
	if ((info->flags & VFIO_DEVICE_FLAGS_PCI) &&
	    info->num_regions < VFIO_PCI_CONFIG_REGION_INDEX + 1)
		return vuc_fail(
			dev, -EPROTO,
			"server claims a PCI device with %u regions; PCI needs at least %u (config space is region %u)",
			info->num_regions, VFIO_PCI_CONFIG_REGION_INDEX + 1,
			VFIO_PCI_CONFIG_REGION_INDEX);
	if ((info->flags & VFIO_DEVICE_FLAGS_PCI) &&
	    info->num_irqs < VFIO_PCI_MSIX_IRQ_INDEX + 1)
		return vuc_fail(
			dev, -EPROTO,
			"server claims a PCI device with %u IRQ indexes; PCI needs at least %u (INTx, MSI, MSI-X)",
			info->num_irqs, VFIO_PCI_MSIX_IRQ_INDEX + 1);
	return 0;
}

static int get_device_info(struct vuc_device *dev)
{
	struct vfio_user_device_info req = { .argsz = sizeof(req) }, info;
	struct vu_msg reply;
	int ret;

	ret = vuc_call(dev, VFIO_USER_DEVICE_GET_INFO, &req, sizeof(req), NULL,
		       0, 0, sizeof(req), &reply);
	if (ret)
		return ret;
	if (reply.len != sizeof(info)) {
		ret = vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_INFO reply payload is %zu bytes; must be %zu",
			reply.len, sizeof(info));
		goto out;
	}
	memcpy(&info, reply.payload, sizeof(info));
	ret = check_device_info(dev, &info);
	if (!ret)
		dev->info = info;
out:
	vu_msg_release(&reply);
	return ret;
}

/* Region capabilities ---------------------------------------------------- */

/*
 * VFIO_REGION_INFO_CAP_SPARSE_MMAP in buf[off, end): the areas must fit in
 * the capability and each must lie inside the region. Empty areas are
 * dropped: there is nothing to map.
 */
static int parse_sparse(struct vuc_device *dev, struct vuc_region_store *r,
			const uint8_t *buf, size_t off, size_t end)
{
	uint64_t rsize = r->pub.info.size;
	uint32_t nr, i, n = 0;
	size_t room;

	if (r->areas)
		return vuc_fail(dev, -EPROTO,
				"region %u has two sparse mmap capabilities",
				r->pub.info.index);
	if (end - off < sizeof(struct vfio_region_info_cap_sparse_mmap))
		return vuc_fail(
			dev, -EPROTO,
			"sparse mmap capability of region %u is truncated (%zu bytes)",
			r->pub.info.index, end - off);
	nr = get_u32(buf + off + 8);
	room = (end - off - 16) / sizeof(struct vfio_region_sparse_mmap_area);
	if (nr > room)
		return vuc_fail(
			dev, -EPROTO,
			"sparse mmap capability of region %u claims %u areas; only %zu fit in it",
			r->pub.info.index, nr, room);
	r->areas = calloc(nr ? nr : 1, sizeof(*r->areas));
	if (!r->areas)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	for (i = 0; i < nr; i++) {
		const uint8_t *a = buf + off + 16 + (size_t)i * 16;
		uint64_t aoff = get_u64(a), asize = get_u64(a + 8);

		if (!range_ok(aoff, asize, rsize))
			return vuc_fail(
				dev, -EPROTO,
				"sparse mmap area %u of region %u (offset 0x%llx, size 0x%llx) lies outside the region (size 0x%llx)",
				i, r->pub.info.index, (unsigned long long)aoff,
				(unsigned long long)asize,
				(unsigned long long)rsize);
		if (!asize)
			continue;
		r->areas[n].offset = aoff;
		r->areas[n].size = asize;
		n++;
	}
	r->pub.nr_areas = n;
	return 0;
}

/* VFIO_REGION_INFO_CAP_TYPE in buf[off, end). */
static int parse_type(struct vuc_device *dev, struct vuc_region_store *r,
		      const uint8_t *buf, size_t off, size_t end)
{
	if (r->pub.has_type)
		return vuc_fail(dev, -EPROTO,
				"region %u has two type capabilities",
				r->pub.info.index);
	if (end - off < sizeof(struct vfio_region_info_cap_type))
		return vuc_fail(
			dev, -EPROTO,
			"type capability of region %u is truncated (%zu bytes)",
			r->pub.info.index, end - off);
	r->pub.has_type = true;
	r->pub.type = get_u32(buf + off + 8);
	r->pub.subtype = get_u32(buf + off + 12);
	return 0;
}

/*
 * Walk the chain in buf[0, len) (len = the reply's argsz). Every header must
 * lie inside the reply after the 32-byte info, and every next pointer must
 * move forward past the current header: the walk ends, and cannot loop.
 * A capability extends to the next one (or to the end of the reply).
 */
static int parse_caps(struct vuc_device *dev, struct vuc_region_store *r,
		      const uint8_t *buf, size_t len)
{
	const size_t base = sizeof(struct vfio_region_info);
	const size_t hlen = sizeof(struct vfio_info_cap_header);
	size_t off = r->pub.info.cap_offset;
	int ret = 0;

	for (;;) {
		struct vfio_info_cap_header hdr;
		size_t end;

		if (off < base || off > len || len - off < hlen)
			return vuc_fail(
				dev, -EPROTO,
				"region %u: capability at offset %zu lies outside the reply (capabilities must be within %zu..%zu)",
				r->pub.info.index, off, base, len);
		memcpy(&hdr, buf + off, hlen);
		if (hdr.next && hdr.next < off + hlen)
			return vuc_fail(
				dev, -EPROTO,
				"region %u: capability at offset %zu has next %u; it must point forward past the capability header",
				r->pub.info.index, off, hdr.next);
		end = hdr.next && hdr.next < len ? hdr.next : len;
		if (hdr.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP)
			ret = parse_sparse(dev, r, buf, off, end);
		else if (hdr.id == VFIO_REGION_INFO_CAP_TYPE)
			ret = parse_type(dev, r, buf, off, end);
		/* Unknown capabilities are skipped. */
		if (ret || !hdr.next)
			break;
		off = hdr.next;
	}
	if (ret)
		return ret;
	r->caps = malloc(len - base);
	if (!r->caps)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	memcpy(r->caps, buf + base, len - base);
	r->pub.caps = r->caps;
	r->pub.caps_size = len - base;
	return 0;
}

/* Regions ---------------------------------------------------------------- */

/* One GET_REGION_INFO round trip asking for up to @argsz bytes. */
static int region_info_call(struct vuc_device *dev, unsigned int index,
			    uint32_t argsz, struct vu_msg *reply,
			    struct vfio_region_info *info)
{
	struct vfio_region_info req = { .argsz = argsz, .index = index };
	int ret;

	memset(info, 0, sizeof(*info));
	ret = vuc_call(dev, VFIO_USER_DEVICE_GET_REGION_INFO, &req, sizeof(req),
		       NULL, 0, 1, argsz, reply);
	if (ret)
		return server_failed(dev, ret, "region", index);
	if (reply->len < sizeof(*info) || reply->len > argsz)
		ret = vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_REGION_INFO reply for region %u is %zu bytes; must be %zu..%u (the argsz we sent)",
			index, reply->len, sizeof(*info), argsz);
	if (!ret) {
		memcpy(info, reply->payload, sizeof(*info));
		if (info->index != index)
			ret = vuc_fail(
				dev, -EPROTO,
				"server answered DEVICE_GET_REGION_INFO for region %u with index %u",
				index, info->index);
		else if (info->argsz < sizeof(*info))
			ret = vuc_fail(
				dev, -EPROTO,
				"server's DEVICE_GET_REGION_INFO reply for region %u has argsz %u; must be at least %zu",
				index, info->argsz, sizeof(*info));
		else if (reply->nr_fds &&
			 !(info->flags & VFIO_REGION_INFO_FLAG_MMAP))
			ret = vuc_fail(
				dev, -EPROTO,
				"server sent an fd with the info of region %u, which is not mappable (no MMAP flag)",
				index);
	}
	if (ret)
		vu_msg_release(reply);
	return ret;
}

/*
 * Ask with argsz 32 first; if the server needs more (capabilities), ask
 * once more with exactly what it said it needs (§4.4). An fd on the
 * truncated first reply is dropped: the complete reply carries it again.
 */
static int fetch_region_info(struct vuc_device *dev, unsigned int index,
			     struct vu_msg *reply,
			     struct vfio_region_info *info)
{
	uint32_t argsz = sizeof(*info);
	int ret;

	ret = region_info_call(dev, index, argsz, reply, info);
	if (ret || info->argsz <= argsz)
		return ret;
	if (info->argsz > VUC_MAX_INFO_ARGSZ) {
		vu_msg_release(reply);
		return vuc_fail(
			dev, -EPROTO,
			"server needs argsz %u for the info of region %u; at most %u is supported",
			info->argsz, index, VUC_MAX_INFO_ARGSZ);
	}
	argsz = info->argsz;
	vu_msg_release(reply);
	ret = region_info_call(dev, index, argsz, reply, info);
	if (ret)
		return ret;
	if (info->argsz > argsz) {
		vu_msg_release(reply);
		return vuc_fail(
			dev, -EPROTO,
			"server asked for argsz %u for region %u, then for %u after we sent it",
			argsz, index, info->argsz);
	}
	return 0;
}

/*
 * Decide what can be mmapped. A region flagged MMAP without an fd cannot be
 * mapped: the flag is cleared and it is used through messages only. A
 * mappable region without a sparse capability is one area covering it.
 */
static int set_mappable(struct vuc_device *dev, struct vuc_region_store *r,
			struct vu_msg *reply)
{
	struct vfio_region_info *info = &r->pub.info;

	if (!reply->nr_fds) {
		info->flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
		r->pub.nr_areas = 0;
		return 0;
	}
	if (info->size && info->offset > UINT64_MAX - info->size)
		return vuc_fail(
			dev, -EPROTO,
			"region %u: mmap offset 0x%llx + size 0x%llx overflows",
			info->index, (unsigned long long)info->offset,
			(unsigned long long)info->size);
	if (!r->areas && info->size) {
		r->areas = calloc(1, sizeof(*r->areas));
		if (!r->areas)
			return vuc_fail(dev, -ENOMEM, "out of memory");
		r->areas[0].size = info->size;
		r->pub.nr_areas = 1;
	}
	r->pub.areas = r->pub.nr_areas ? r->areas : NULL;
	r->pub.fd = vu_msg_take_fd(reply, 0);
	return 0;
}

static int get_region(struct vuc_device *dev, unsigned int index)
{
	struct vuc_region_store *r = &dev->regions[index];
	struct vfio_region_info info;
	struct vu_msg reply;
	int ret;

	ret = fetch_region_info(dev, index, &reply, &info);
	if (ret)
		return ret;
	if (reply.len < info.argsz) {
		ret = vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_REGION_INFO reply for region %u is %zu bytes but its argsz says %u",
			index, reply.len, info.argsz);
		goto out;
	}
	r->pub.info = info;
	if (info.flags & VFIO_REGION_INFO_FLAG_CAPS) {
		ret = parse_caps(dev, r, reply.payload, info.argsz);
		if (ret)
			goto out;
	}
	ret = set_mappable(dev, r, &reply);
out:
	vu_msg_release(&reply);
	return ret;
}

/* IO fds ----------------------------------------------------------------- */

/* One GET_REGION_IO_FDS round trip; 1 if the server has none to offer. */
static int io_fds_call(struct vuc_device *dev, unsigned int index,
		       uint32_t argsz, struct vu_msg *reply,
		       struct vfio_user_region_io_fds_reply *hdr)
{
	struct vfio_user_region_io_fds_request req = {
		.argsz = argsz,
		.index = index,
	};
	int ret;

	ret = vuc_call(dev, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &req,
		       sizeof(req), NULL, 0, VU_WIRE_MAX_FDS, argsz, reply);
	/* Optional command: a refusal (EINVAL, ENOTSUP...) means no io fds. */
	if (ret && vuc_server_error) {
		dev->errmsg[0] = '\0';
		return 1;
	}
	if (ret)
		return ret;
	if (reply->len < sizeof(*hdr) || reply->len > argsz) {
		ret = vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_REGION_IO_FDS reply for region %u is %zu bytes; must be %zu..%u (the argsz we sent)",
			index, reply->len, sizeof(*hdr), argsz);
	} else {
		memcpy(hdr, reply->payload, sizeof(*hdr));
		if (hdr->index != index)
			ret = vuc_fail(
				dev, -EPROTO,
				"server answered DEVICE_GET_REGION_IO_FDS for region %u with index %u",
				index, hdr->index);
		else if (hdr->argsz < sizeof(*hdr))
			ret = vuc_fail(
				dev, -EPROTO,
				"server's DEVICE_GET_REGION_IO_FDS reply for region %u has argsz %u; must be at least %zu",
				index, hdr->argsz, sizeof(*hdr));
		else if (reply->nr_fds && (!hdr->count || hdr->argsz > argsz))
			ret = vuc_fail(
				dev, -EPROTO,
				"server sent %u fds with a DEVICE_GET_REGION_IO_FDS reply for region %u that has no sub-regions in it",
				reply->nr_fds, index);
	}
	if (ret)
		vu_msg_release(reply);
	return ret;
}

/* Entry stride from the reply (§4.5): (argsz - 16) / count, 40 or 48. */
static int io_fds_stride(struct vuc_device *dev, unsigned int index,
			 const struct vfio_user_region_io_fds_reply *hdr,
			 size_t *stride)
{
	uint32_t bytes = hdr->argsz - sizeof(*hdr);

	*stride = bytes / hdr->count;
	if (bytes % hdr->count || (*stride != 40 && *stride != 48))
		return vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_REGION_IO_FDS reply for region %u has %u entries in %u bytes; entries must be 40 or 48 bytes",
			index, hdr->count, bytes);
	return 0;
}

/*
 * One entry. Returns 1 to keep it in *io (fd and shadow_fd hold fd
 * indexes for now), 0 to skip it, or a -errno. Unknown types are skipped:
 * the server still serves those addresses through REGION_WRITE. Shadow
 * ioeventfds (type 2) exist in libvfio-user's 48-byte layout only.
 */
static int parse_io_fd(struct vuc_device *dev, unsigned int index,
		       unsigned int i, const uint8_t *e, size_t stride,
		       unsigned int nr_fds, struct vuc_io_fd *io)
{
	uint64_t rsize = dev->regions[index].pub.info.size;
	uint32_t fd_index = get_u32(e + 16), known;
	bool inside;

	io->offset = get_u64(e);
	io->size = get_u64(e + 8);
	io->type = get_u32(e + 20);
	io->flags = get_u32(e + 24);
	io->shadow_fd = -1;
	if (io->type != VFIO_USER_IO_FD_TYPE_IOEVENTFD &&
	    io->type != VFIO_USER_IO_FD_TYPE_IOREGIONFD &&
	    (io->type != VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW || stride != 48))
		return 0;
	if (fd_index >= nr_fds)
		return vuc_fail(
			dev, -EPROTO,
			"io-fd entry %u of region %u names fd_index %u; the reply carries %u fds",
			i, index, fd_index, nr_fds);
	inside = io->size ? range_ok(io->offset, io->size, rsize) :
			    io->offset < rsize;
	if (!inside)
		return vuc_fail(
			dev, -EPROTO,
			"io-fd entry %u of region %u (offset 0x%llx, size 0x%llx) lies outside the region (size 0x%llx)",
			i, index, (unsigned long long)io->offset,
			(unsigned long long)io->size,
			(unsigned long long)rsize);
	if (io->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW) {
		uint32_t shadow_index = get_u32(e + 28);

		known = VFIO_USER_IOEVENTFD_FLAG_DATAMATCH |
			VFIO_USER_IOEVENTFD_FLAG_PIO;
		io->shadow_offset = get_u64(e + 32);
		io->datamatch = get_u64(e + 40);
		if (shadow_index >= nr_fds)
			return vuc_fail(
				dev, -EPROTO,
				"shadow ioeventfd entry %u of region %u names shadow_mem_fd_index %u; the reply carries %u fds",
				i, index, shadow_index, nr_fds);
		if (io->size != 1 && io->size != 2 && io->size != 4 &&
		    io->size != 8)
			return vuc_fail(
				dev, -EPROTO,
				"shadow ioeventfd entry %u of region %u has size %llu; the value it stores must be 1, 2, 4 or 8 bytes",
				i, index, (unsigned long long)io->size);
		io->shadow_fd = (int)shadow_index;
	} else if (io->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD) {
		known = VFIO_USER_IOEVENTFD_FLAG_DATAMATCH |
			VFIO_USER_IOEVENTFD_FLAG_PIO |
			VFIO_USER_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY;
		/* The two layouts differ only in where datamatch is. */
		io->datamatch = get_u64(e + (stride == 48 ? 40 : 32));
	} else {
		known = VFIO_USER_IOREGIONFD_FLAG_PIO |
			VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES;
		io->user_data = get_u64(e + 32);
		if (!io->size &&
		    !(io->flags & VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES))
			return vuc_fail(
				dev, -EPROTO,
				"ioregionfd entry %u of region %u has size 0 without POSTED_WRITES",
				i, index);
	}
	if (io->flags & ~known)
		return vuc_fail(
			dev, -EPROTO,
			"io-fd entry %u of region %u has unknown flags 0x%x", i,
			index, io->flags & ~known);
	io->fd = (int)fd_index;
	return 1;
}

/* Keep the entries and every fd of the reply; entries point into the fds. */
static int keep_io_fds(struct vuc_device *dev, struct vuc_region_store *r,
		       struct vu_msg *reply, struct vuc_io_fd *io,
		       unsigned int n)
{
	unsigned int i;

	r->fds = calloc(reply->nr_fds, sizeof(*r->fds));
	if (!r->fds) {
		free(io);
		return vuc_fail(dev, -ENOMEM, "out of memory");
	}
	for (i = 0; i < reply->nr_fds; i++)
		r->fds[i] = vu_msg_take_fd(reply, i);
	r->nr_fds = reply->nr_fds;
	for (i = 0; i < n; i++) {
		io[i].fd = r->fds[io[i].fd];
		if (io[i].shadow_fd >= 0)
			io[i].shadow_fd = r->fds[io[i].shadow_fd];
	}
	r->io_fds = io;
	r->pub.io_fds = io;
	r->pub.nr_io_fds = n;
	return 0;
}

static int parse_io_fds(struct vuc_device *dev, unsigned int index,
			const struct vfio_user_region_io_fds_reply *hdr,
			struct vu_msg *reply)
{
	const uint8_t *entries = (const uint8_t *)reply->payload + sizeof(*hdr);
	struct vuc_io_fd *io;
	unsigned int i, n = 0;
	size_t stride;
	int ret;

	ret = io_fds_stride(dev, index, hdr, &stride);
	if (ret)
		return ret;
	if (reply->len < hdr->argsz)
		return vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_REGION_IO_FDS reply for region %u is %zu bytes but its argsz says %u",
			index, reply->len, hdr->argsz);
	io = calloc(hdr->count, sizeof(*io));
	if (!io)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	for (i = 0; i < hdr->count; i++) {
		ret = parse_io_fd(dev, index, i, entries + i * stride, stride,
				  reply->nr_fds, &io[n]);
		if (ret < 0) {
			free(io);
			return ret;
		}
		n += ret;
	}
	if (!n) {
		free(io);
		return 0;
	}
	return keep_io_fds(dev, &dev->regions[index], reply, io, n);
}

/*
 * Ask with argsz 16; the reply says how much room the sub-regions need
 * (and carries no fds if they did not fit); ask once more with that.
 */
static int get_io_fds(struct vuc_device *dev, unsigned int index)
{
	struct vfio_user_region_io_fds_reply hdr;
	uint32_t argsz = sizeof(hdr);
	struct vu_msg reply;
	int ret;

	if (!dev->regions[index].pub.info.size ||
	    (dev->flags & VUC_OPT_NO_IO_FDS))
		return 0;
	ret = io_fds_call(dev, index, argsz, &reply, &hdr);
	if (ret)
		return ret > 0 ? 0 : ret;
	if (hdr.argsz > argsz) {
		vu_msg_release(&reply);
		if (hdr.argsz > VUC_MAX_INFO_ARGSZ)
			return vuc_fail(
				dev, -EPROTO,
				"server needs argsz %u for the io fds of region %u; at most %u is supported",
				hdr.argsz, index, VUC_MAX_INFO_ARGSZ);
		argsz = hdr.argsz;
		ret = io_fds_call(dev, index, argsz, &reply, &hdr);
		if (ret)
			return ret > 0 ? 0 : ret;
		if (hdr.argsz > argsz) {
			vu_msg_release(&reply);
			return vuc_fail(
				dev, -EPROTO,
				"server asked for argsz %u for the io fds of region %u, then for %u after we sent it",
				argsz, index, hdr.argsz);
		}
	}
	ret = hdr.count ? parse_io_fds(dev, index, &hdr, &reply) : 0;
	vu_msg_release(&reply);
	return ret;
}

/* IRQs ------------------------------------------------------------------- */

static int get_irq_info(struct vuc_device *dev, unsigned int index)
{
	struct vfio_irq_info req = { .argsz = sizeof(req), .index = index };
	struct vfio_irq_info info;
	struct vu_msg reply;
	int ret;

	ret = vuc_call(dev, VFIO_USER_DEVICE_GET_IRQ_INFO, &req, sizeof(req),
		       NULL, 0, 0, sizeof(req), &reply);
	if (ret)
		return server_failed(dev, ret, "IRQ", index);
	if (reply.len != sizeof(info)) {
		ret = vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_IRQ_INFO reply for index %u is %zu bytes; must be %zu",
			index, reply.len, sizeof(info));
		goto out;
	}
	memcpy(&info, reply.payload, sizeof(info));
	if (info.index != index)
		ret = vuc_fail(
			dev, -EPROTO,
			"server answered DEVICE_GET_IRQ_INFO for index %u with index %u",
			index, info.index);
	else if (info.argsz < sizeof(info))
		ret = vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_GET_IRQ_INFO reply for index %u has argsz %u; must be at least %zu",
			index, info.argsz, sizeof(info));
	else
		dev->irqs[index] = info;
out:
	vu_msg_release(&reply);
	return ret;
}

/* ------------------------------------------------------------------------ */

int vuc_discover(struct vuc_device *dev)
{
	unsigned int i;
	int ret;

	ret = get_device_info(dev);
	if (ret)
		return ret;
	/* +1: calloc(0) may return NULL. */
	dev->regions = calloc(dev->info.num_regions + 1, sizeof(*dev->regions));
	dev->irqs = calloc(dev->info.num_irqs + 1, sizeof(*dev->irqs));
	if (!dev->regions || !dev->irqs)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	for (i = 0; i < dev->info.num_regions; i++)
		dev->regions[i].pub.fd = -1;

	for (i = 0; i < dev->info.num_regions && !ret; i++) {
		ret = get_region(dev, i);
		if (!ret)
			ret = get_io_fds(dev, i);
	}
	for (i = 0; i < dev->info.num_irqs && !ret; i++)
		ret = get_irq_info(dev, i);
	return ret;
}

static void forget_region(struct vuc_region_store *r)
{
	unsigned int i;

	if (r->pub.fd >= 0)
		close(r->pub.fd);
	for (i = 0; i < r->nr_fds; i++)
		close(r->fds[i]);
	free(r->fds);
	free(r->io_fds);
	free(r->areas);
	free(r->caps);
}

void vuc_forget_device(struct vuc_device *dev)
{
	unsigned int i;

	if (dev->regions)
		for (i = 0; i < dev->info.num_regions; i++)
			forget_region(&dev->regions[i]);
	free(dev->regions);
	free(dev->irqs);
	dev->regions = NULL;
	dev->irqs = NULL;
	memset(&dev->info, 0, sizeof(dev->info));
}
