// SPDX-License-Identifier: BSD-3-Clause
/*
 * The DMA windows of VFIO_USER_DMA_MAP, with libvfio-user's rules: an
 * identical re-map succeeds, an overlapping one fails with EINVAL, and an
 * unmap must name a window exactly (else ENOENT).
 *
 * Windows with an fd are mmap()ed at once (or kept for pread()/pwrite()
 * with VFIO_USER_F_DMA_REGION_FILE_IO), so that a DMA engine can reach
 * them; the others are reachable through DMA_READ/DMA_WRITE messages only
 * (dma_engine.c uses both).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

#define DMA_MAP_FLAGS                                                 \
	(VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE | \
	 VFIO_USER_F_DMA_REGION_MMAP | VFIO_USER_F_DMA_REGION_FILE_IO)

void dma_init(struct dma_table *tbl)
{
	tbl->regions = NULL;
	tbl->nr = 0;
	tbl->cap = 0;
	tbl->last = 0;
}

static void region_release(struct dma_region *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	if (r->fd >= 0)
		close(r->fd);
	r->map = NULL;
	r->fd = -1;
}

static int map_validate(const struct vfio_user_dma_map *req, int fd)
{
	uint32_t access = req->flags & (VFIO_USER_F_DMA_REGION_MMAP |
					VFIO_USER_F_DMA_REGION_FILE_IO);

	if (req->flags & ~DMA_MAP_FLAGS)
		return -EINVAL;
	if (access ==
	    (VFIO_USER_F_DMA_REGION_MMAP | VFIO_USER_F_DMA_REGION_FILE_IO))
		return -EINVAL;
	if (fd < 0 && (access || req->offset))
		return -EINVAL;
	/* Whole pages of the advertised page size, with no wrap-around. */
	if (!req->size || (req->addr | req->size) & (SERVER_PGSIZES - 1))
		return -EINVAL;
	if (req->addr + req->size < req->addr)
		return -EINVAL;
	/* mmap() takes a signed off_t */
	if (req->offset > INT64_MAX || req->size > INT64_MAX - req->offset)
		return -EINVAL;
	return 0;
}

static bool same_window(const struct dma_region *r,
			const struct vfio_user_dma_map *req,
			const struct stat *st, int fd)
{
	if (r->addr != req->addr || r->size != req->size ||
	    r->offset != req->offset || r->flags != req->flags)
		return false;
	if (r->fd_backed != (fd >= 0))
		return false;
	return fd < 0 || (r->st_dev == st->st_dev && r->st_ino == st->st_ino);
}

static bool overlaps(const struct dma_region *r, uint64_t addr, uint64_t size)
{
	return addr < r->addr + r->size && r->addr < addr + size;
}

/* mmap() the window: page-aligned, whatever the client's offset. */
static int region_mmap(struct dma_region *r, int fd)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = r->offset & ~(page - 1);
	uint64_t len = r->offset - start + r->size;
	int prot = 0;
	void *p;

	len = (len + page - 1) & ~(page - 1);
	if (len > SIZE_MAX || len < r->size)
		return -ENOMEM;
	if (r->flags & VFIO_USER_F_DMA_REGION_READ)
		prot |= PROT_READ;
	if (r->flags & VFIO_USER_F_DMA_REGION_WRITE)
		prot |= PROT_WRITE;
	p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)start);
	if (p == MAP_FAILED)
		return -errno;
	r->map = p;
	r->map_len = len;
	r->base = (uint8_t *)p + (r->offset - start);
	return 0;
}

static int table_grow(struct dma_table *tbl)
{
	unsigned int cap = tbl->cap ? tbl->cap * 2 : 16;
	struct dma_region *n;

	if (cap > SERVER_MAX_DMA_MAPS)
		cap = SERVER_MAX_DMA_MAPS;
	n = realloc(tbl->regions, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	tbl->regions = n;
	tbl->cap = cap;
	return 0;
}

/* Set up @r for @req; takes @fd (closed, or kept for FILE_IO). */
static int region_init(struct dma_region *r,
		       const struct vfio_user_dma_map *req,
		       const struct stat *st, int fd)
{
	int ret;

	*r = (struct dma_region){
		.addr = req->addr,
		.size = req->size,
		.offset = req->offset,
		.flags = req->flags,
		.fd = -1,
		.fd_backed = fd >= 0,
	};
	if (fd < 0)
		return 0;
	r->st_dev = st->st_dev;
	r->st_ino = st->st_ino;
	if (req->flags & VFIO_USER_F_DMA_REGION_FILE_IO) {
		r->fd = fd;
		return 0;
	}
	ret = region_mmap(r, fd);
	close(fd); /* the mapping keeps the memory */
	return ret;
}

int dma_map(struct dma_table *tbl, const struct vfio_user_dma_map *req, int fd)
{
	struct stat st = { 0 };
	unsigned int i;
	int ret;

	ret = map_validate(req, fd);
	if (!ret && fd >= 0 && fstat(fd, &st))
		ret = -errno;
	if (ret)
		goto out_close;

	for (i = 0; i < tbl->nr; i++) {
		if (same_window(&tbl->regions[i], req, &st, fd))
			goto out_close; /* ret == 0: idempotent */
		if (overlaps(&tbl->regions[i], req->addr, req->size)) {
			ret = -EINVAL;
			goto out_close;
		}
	}
	if (tbl->nr == SERVER_MAX_DMA_MAPS) {
		ret = -EINVAL; /* as libvfio-user at its limit */
		goto out_close;
	}
	if (tbl->nr == tbl->cap) {
		ret = table_grow(tbl);
		if (ret)
			goto out_close;
	}
	ret = region_init(&tbl->regions[tbl->nr], req, &st, fd);
	if (ret)
		return ret; /* region_init() took the fd */
	tbl->nr++;
	return 0;

out_close:
	if (fd >= 0)
		close(fd);
	return ret;
}

static bool holds(const struct dma_region *r, uint64_t addr)
{
	return addr >= r->addr && addr - r->addr < r->size;
}

/*
 * The window holding @addr, or NULL. The last one found is tried first:
 * a transfer goes on where the one before ended, so that thousands of
 * windows cost a scan only when the transfer moves to another one.
 */
const struct dma_region *dma_find(struct dma_table *tbl, uint64_t addr)
{
	unsigned int i;

	if (tbl->last < tbl->nr && holds(&tbl->regions[tbl->last], addr))
		return &tbl->regions[tbl->last];
	for (i = 0; i < tbl->nr; i++)
		if (holds(&tbl->regions[i], addr)) {
			tbl->last = i;
			return &tbl->regions[i];
		}
	return NULL;
}

int dma_unmap(struct dma_table *tbl, uint64_t addr, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < tbl->nr; i++) {
		struct dma_region *r = &tbl->regions[i];

		if (r->addr != addr || r->size != size)
			continue;
		region_release(r);
		*r = tbl->regions[--tbl->nr];
		return 0;
	}
	return -ENOENT;
}

void dma_unmap_all(struct dma_table *tbl)
{
	unsigned int i;

	for (i = 0; i < tbl->nr; i++)
		region_release(&tbl->regions[i]);
	free(tbl->regions);
	dma_init(tbl);
}
