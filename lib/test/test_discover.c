// SPDX-License-Identifier: BSD-3-Clause
/*
 * Discovery against a scripted server: DEVICE_GET_INFO, GET_REGION_INFO
 * with capability chains and mmap fds, GET_REGION_IO_FDS, GET_IRQ_INFO,
 * and the ways a server can get each of them wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "test_common.h"

/* A crafted GET_REGION_INFO answer for one region. */
struct rinfo_script {
	unsigned int index;
	uint8_t buf[1024] __attribute__((aligned(8)));	/* info + caps */
	size_t len;		/* bytes of buf in the complete reply */
	size_t last_cap;	/* offset of the last capability added */
	unsigned int nr_fds;	/* memfds attached to the complete reply */
	bool fd_on_probe;	/* one on the truncated reply too */
	uint32_t regrow;	/* the complete reply claims this argsz */
};

static struct vfio_region_info *rinfo(struct rinfo_script *r)
{
	return (struct vfio_region_info *)r->buf;
}

static void rinfo_init(struct rinfo_script *r, unsigned int index,
		       uint32_t flags, uint64_t size)
{
	memset(r, 0, sizeof(*r));
	r->index = index;
	r->len = sizeof(struct vfio_region_info);
	rinfo(r)->argsz = r->len;
	rinfo(r)->flags = flags;
	rinfo(r)->index = index;
	rinfo(r)->size = size;
}

/* Append a capability of @len bytes and link it into the chain. */
static void *rinfo_add_cap(struct rinfo_script *r, uint16_t id, size_t len)
{
	struct vfio_info_cap_header *h = (void *)(r->buf + r->len);

	h->id = id;
	h->version = 1;
	if (r->last_cap) {
		((struct vfio_info_cap_header *)(r->buf + r->last_cap))->next =
			r->len;
	} else {
		rinfo(r)->cap_offset = r->len;
		rinfo(r)->flags |= VFIO_REGION_INFO_FLAG_CAPS;
	}
	r->last_cap = r->len;
	r->len += len;
	rinfo(r)->argsz = r->len;
	return h;
}

static struct vfio_region_info_cap_sparse_mmap *
rinfo_add_sparse(struct rinfo_script *r, unsigned int nr,
		 const struct vuc_sparse_area *areas)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	unsigned int i;

	sp = rinfo_add_cap(r, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 16 + 16 * nr);
	sp->nr_areas = nr;
	for (i = 0; i < nr; i++) {
		sp->areas[i].offset = areas[i].offset;
		sp->areas[i].size = areas[i].size;
	}
	return sp;
}

static int scripted_region_info(struct fsrv *s, struct vu_msg *m)
{
	struct rinfo_script *r = s->priv;
	struct vfio_region_info req;
	uint8_t buf[sizeof(r->buf)];
	int fds[2] = { -1, -1 }, ret;
	unsigned int i, nr;
	bool probe;

	memcpy(&req, m->payload, sizeof(req));
	if (req.index != r->index)
		return fsrv_default(s, m);
	probe = req.argsz < rinfo(r)->argsz;
	nr = probe ? r->fd_on_probe : r->nr_fds;
	for (i = 0; i < nr && i < 2; i++)
		fds[i] = memfd_create("region", MFD_CLOEXEC);
	memcpy(buf, r->buf, sizeof(buf));
	if (!probe && r->regrow)
		((struct vfio_region_info *)buf)->argsz = r->regrow;
	ret = fsrv_reply(s, m, buf, probe ? sizeof(req) : r->len, fds, nr);
	for (i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

/* A crafted GET_REGION_IO_FDS answer for one region. */
struct iofd_script {
	unsigned int index;
	uint8_t entries[2048];
	size_t stride;
	uint32_t count;
	unsigned int nr_fds;	/* eventfds attached to the complete reply */
	bool fds_on_probe;	/* ...and to the truncated one */
	uint32_t argsz;		/* 0: 16 + count * stride */
	uint32_t error_no;	/* error reply instead */
};

static void iofd_add(struct iofd_script *io, uint64_t offset, uint64_t size,
		     uint32_t fd_index, uint32_t type, uint32_t flags,
		     uint64_t data)
{
	uint8_t *e = io->entries + io->count * io->stride;
	size_t data_at = io->stride == 48 &&
			 type != VFIO_USER_IO_FD_TYPE_IOREGIONFD ? 40 : 32;

	memcpy(e, &offset, 8);
	memcpy(e + 8, &size, 8);
	memcpy(e + 16, &fd_index, 4);
	memcpy(e + 20, &type, 4);
	memcpy(e + 24, &flags, 4);
	if (io->stride >= data_at + 8)
		memcpy(e + data_at, &data, 8);
	io->count++;
}

static int scripted_io_fds(struct fsrv *s, struct vu_msg *m)
{
	struct iofd_script *io = s->priv;
	struct vfio_user_region_io_fds_request req;
	struct vfio_user_region_io_fds_reply *rep;
	int fds[4] = { -1, -1, -1, -1 }, ret;
	unsigned int i, nr;
	size_t len;
	bool probe;

	memcpy(&req, m->payload, sizeof(req));
	if (req.index != io->index)
		return fsrv_default(s, m);
	if (io->error_no)
		return fsrv_reply_error(s, m, io->error_no, NULL, 0) ?
		       FSRV_STOP : FSRV_CONTINUE;
	len = sizeof(*rep) + io->count * io->stride;
	rep = calloc(1, len);
	rep->argsz = io->argsz ? io->argsz : len;
	rep->index = req.index;
	rep->count = io->count;
	memcpy(rep->sub_regions, io->entries, io->count * io->stride);
	probe = req.argsz < rep->argsz;
	nr = probe && !io->fds_on_probe ? 0 : io->nr_fds;
	for (i = 0; i < nr && i < 4; i++)
		fds[i] = make_eventfd();
	ret = fsrv_reply(s, m, rep, probe ? sizeof(*rep) : len, fds, nr);
	for (i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(rep);
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

FIXTURE(disc) {
	struct fsrv *s;
	struct vuc_device *dev;
	struct vuc_options opts;
	struct rinfo_script r;
	struct iofd_script io;
	int fds_before;
};

FIXTURE_SETUP(disc)
{
	self->fds_before = count_open_fds();
	self->s = fsrv_new();
	ASSERT_NE(NULL, self->s);
	self->opts.timeout_ms = 1000;
}

FIXTURE_TEARDOWN(disc)
{
	CHECK_CLEAN(self);
}

static int connect_dev(FIXTURE_DATA(disc) *self)
{
	return fsrv_connect(self->s, &self->opts, &self->dev);
}

static int connect_rinfo(FIXTURE_DATA(disc) *self)
{
	self->s->priv = &self->r;
	self->s->handler[VFIO_USER_DEVICE_GET_REGION_INFO] =
		scripted_region_info;
	return connect_dev(self);
}

static int connect_iofds(FIXTURE_DATA(disc) *self)
{
	self->s->priv = &self->io;
	self->s->handler[VFIO_USER_DEVICE_GET_REGION_IO_FDS] = scripted_io_fds;
	return connect_dev(self);
}

/* The well-behaved device: everything it has, we see. */
TEST_F(disc, default_device)
{
	const struct vfio_user_device_info *info;
	const struct vuc_region *r;
	const struct vfio_irq_info *irq;
	static const uint32_t counts[] = { 1, 0, 4, 1, 1 };
	unsigned int i;
	uint8_t *map;

	ASSERT_EQ(0, connect_dev(self)) TH_LOG("%s", vuc_strerror(self->dev));
	info = vuc_get_device_info(self->dev);
	ASSERT_NE(NULL, info);
	EXPECT_EQ(VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET, info->flags);
	EXPECT_EQ(9, info->num_regions);
	EXPECT_EQ(5, info->num_irqs);

	r = vuc_get_region(self->dev, 0);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(0x1000, r->info.size);
	EXPECT_EQ(-1, r->fd);
	EXPECT_EQ(0, r->nr_areas);
	EXPECT_EQ(NULL, r->caps);
	EXPECT_EQ(0, r->nr_io_fds);

	/* BAR2: probed with argsz 32, then asked again for caps and fd. */
	r = vuc_get_region(self->dev, 2);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(0x100000, r->info.size);
	EXPECT_EQ(32 + 16 + 2 * 16, r->info.argsz);
	EXPECT_TRUE(r->info.flags & VFIO_REGION_INFO_FLAG_MMAP);
	EXPECT_TRUE(r->info.flags & VFIO_REGION_INFO_FLAG_CAPS);
	ASSERT_LE(0, r->fd);
	ASSERT_EQ(2, r->nr_areas);
	EXPECT_EQ(0, r->areas[0].offset);
	EXPECT_EQ(0x40000, r->areas[0].size);
	EXPECT_EQ(0x80000, r->areas[1].offset);
	EXPECT_EQ(0x80000, r->areas[1].size);
	ASSERT_NE(NULL, r->caps);
	EXPECT_EQ(48, r->caps_size);
	EXPECT_FALSE(r->has_type);
	EXPECT_EQ(9 + 1, self->s->nr_msgs[VFIO_USER_DEVICE_GET_REGION_INFO]);
	/* Regions of non-zero size: 0, 1, 2 and 7. */
	EXPECT_EQ(4, self->s->nr_msgs[VFIO_USER_DEVICE_GET_REGION_IO_FDS]);

	/* The fd maps the server's memory. */
	map = mmap(NULL, r->areas[1].size, PROT_READ, MAP_SHARED, r->fd,
		   r->info.offset + r->areas[1].offset);
	ASSERT_NE(MAP_FAILED, map);
	self->s->regions[2].mem[0x80010] = 0xa5;
	EXPECT_EQ(0xa5, map[0x10]);
	munmap(map, r->areas[1].size);

	r = vuc_get_region(self->dev, 7);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(0x100, r->info.size);
	EXPECT_EQ(NULL, vuc_get_region(self->dev, 9));
	EXPECT_EQ(EINVAL, errno);

	for (i = 0; i < 5; i++) {
		irq = vuc_get_irq_info(self->dev, i);
		ASSERT_NE(NULL, irq);
		EXPECT_EQ(i, irq->index);
		EXPECT_EQ(counts[i], irq->count);
		EXPECT_EQ(VFIO_IRQ_INFO_EVENTFD, irq->flags);
	}
	EXPECT_EQ(NULL, vuc_get_irq_info(self->dev, 5));
	EXPECT_STREQ("no error", vuc_strerror(self->dev));
}

/* DEVICE_GET_INFO ------------------------------------------------------- */

TEST_F(disc, absurd_region_count)
{
	self->s->info.num_regions = 1000000;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev, "server claims 1000000 regions in DEVICE_GET_INFO; at most 100");
	EXPECT_EQ(0, self->s->nr_msgs[VFIO_USER_DEVICE_GET_REGION_INFO]);
}

TEST_F(disc, absurd_irq_count)
{
	self->s->info.num_irqs = 51;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev, "51 IRQ indexes");
}

TEST_F(disc, pci_without_config_region)
{
	self->s->info.num_regions = 7;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev, "PCI device with 7 regions");
}

TEST_F(disc, pci_without_msix)
{
	self->s->info.num_irqs = 2;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev, "PCI device with 2 IRQ indexes");
}

TEST_F(disc, small_non_pci_device)
{
	self->s->info.flags = 0;
	self->s->info.num_regions = 1;
	self->s->info.num_irqs = 0;
	ASSERT_EQ(0, connect_dev(self)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_NE(NULL, vuc_get_region(self->dev, 0));
	EXPECT_EQ(NULL, vuc_get_region(self->dev, 1));
	EXPECT_EQ(NULL, vuc_get_irq_info(self->dev, 0));
}

TEST_F(disc, device_info_bad_argsz)
{
	self->s->info.argsz = 8;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev, "argsz 8");
}

static int short_device_info(struct fsrv *s, struct vu_msg *m)
{
	return fsrv_reply(s, m, &s->info, 8, NULL, 0) ? FSRV_STOP : 0;
}

TEST_F(disc, device_info_short)
{
	self->s->handler[VFIO_USER_DEVICE_GET_INFO] = short_device_info;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev, "reply payload is 8 bytes; must be 16");
}

static int device_info_with_fd(struct fsrv *s, struct vu_msg *m)
{
	int fd = make_eventfd(), ret;

	ret = fsrv_reply(s, m, &s->info, sizeof(s->info), &fd, 1);
	close(fd);
	return ret ? FSRV_STOP : 0;
}

TEST_F(disc, device_info_with_fd)
{
	self->s->handler[VFIO_USER_DEVICE_GET_INFO] = device_info_with_fd;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev,
		   "1 fds with its DEVICE_GET_INFO reply; it carries none");
}

/* GET_REGION_INFO -------------------------------------------------------- */

#define RW (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)
#define RWM (RW | VFIO_REGION_INFO_FLAG_MMAP)

TEST_F(disc, region_error_reply)
{
	/* The default device refuses indexes past its table. */
	self->s->info.num_regions = 12;
	EXPECT_EQ(-EINVAL, connect_dev(self));
	ASSERT_MSG(self->dev, "server failed DEVICE_GET_REGION_INFO");
	ASSERT_MSG(self->dev, "region index 9");
}

TEST_F(disc, type_and_unknown_caps)
{
	struct vfio_region_info_cap_type *t;
	const struct vuc_region *r;

	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo_add_cap(&self->r, 99, 24);
	t = rinfo_add_cap(&self->r, VFIO_REGION_INFO_CAP_TYPE, sizeof(*t));
	t->type = 3;
	t->subtype = 7;
	ASSERT_EQ(0, connect_rinfo(self)) TH_LOG("%s", vuc_strerror(self->dev));
	r = vuc_get_region(self->dev, 2);
	EXPECT_TRUE(r->has_type);
	EXPECT_EQ(3, r->type);
	EXPECT_EQ(7, r->subtype);
	EXPECT_EQ(-1, r->fd);
	EXPECT_EQ(0, r->nr_areas);
	ASSERT_EQ(self->r.len - 32, r->caps_size);
	EXPECT_EQ(0, memcmp(r->caps, self->r.buf + 32, r->caps_size));
}

TEST_F(disc, mappable_without_sparse_cap)
{
	const struct vuc_region *r;

	rinfo_init(&self->r, 2, RWM, 0x100000);
	self->r.nr_fds = 1;
	ASSERT_EQ(0, connect_rinfo(self)) TH_LOG("%s", vuc_strerror(self->dev));
	r = vuc_get_region(self->dev, 2);
	EXPECT_LE(0, r->fd);
	ASSERT_EQ(1, r->nr_areas);
	EXPECT_EQ(0, r->areas[0].offset);
	EXPECT_EQ(0x100000, r->areas[0].size);
}

/* MMAP without an fd: usable through messages only. */
TEST_F(disc, mmap_flag_without_fd)
{
	static const struct vuc_sparse_area a = { 0, 0x1000 };
	const struct vuc_region *r;

	rinfo_init(&self->r, 2, RWM, 0x100000);
	rinfo_add_sparse(&self->r, 1, &a);
	ASSERT_EQ(0, connect_rinfo(self)) TH_LOG("%s", vuc_strerror(self->dev));
	r = vuc_get_region(self->dev, 2);
	EXPECT_EQ(-1, r->fd);
	EXPECT_FALSE(r->info.flags & VFIO_REGION_INFO_FLAG_MMAP);
	EXPECT_EQ(0, r->nr_areas);
}

TEST_F(disc, fd_on_probe_dropped)
{
	static const struct vuc_sparse_area a = { 0x1000, 0x1000 };
	const struct vuc_region *r;

	rinfo_init(&self->r, 2, RWM, 0x100000);
	rinfo_add_sparse(&self->r, 1, &a);
	self->r.nr_fds = 1;
	self->r.fd_on_probe = true;
	ASSERT_EQ(0, connect_rinfo(self)) TH_LOG("%s", vuc_strerror(self->dev));
	r = vuc_get_region(self->dev, 2);
	EXPECT_LE(0, r->fd);
	EXPECT_EQ(1, r->nr_areas);
}

TEST_F(disc, fd_on_region_without_mmap)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	self->r.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "region 2, which is not mappable");
}

TEST_F(disc, two_fds_for_a_region)
{
	rinfo_init(&self->r, 2, RWM, 0x100000);
	self->r.nr_fds = 2;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "2 fds with its DEVICE_GET_REGION_INFO reply; it carries at most 1");
}

TEST_F(disc, cap_offset_outside_reply)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo_add_cap(&self->r, 99, 16);
	rinfo(&self->r)->cap_offset = 200;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "capability at offset 200 lies outside the reply");
}

TEST_F(disc, cap_offset_inside_info)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo_add_cap(&self->r, 99, 16);
	rinfo(&self->r)->cap_offset = 16;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "capability at offset 16 lies outside");
}

TEST_F(disc, cap_header_past_end)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo_add_cap(&self->r, 99, 16);
	rinfo(&self->r)->cap_offset = 44;	/* 8-byte header at 44 of 48 */
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "capability at offset 44 lies outside");
}

TEST_F(disc, cap_caps_flag_without_offset)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo_add_cap(&self->r, 99, 16);
	rinfo(&self->r)->cap_offset = 0;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "capability at offset 0 lies outside");
}

TEST_F(disc, cap_next_outside_reply)
{
	struct vfio_info_cap_header *h;

	rinfo_init(&self->r, 2, RW, 0x100000);
	h = rinfo_add_cap(&self->r, 99, 16);
	h->next = 4096;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "capability at offset 4096 lies outside");
}

TEST_F(disc, cap_loop_on_itself)
{
	struct vfio_info_cap_header *h;

	rinfo_init(&self->r, 2, RW, 0x100000);
	h = rinfo_add_cap(&self->r, 99, 16);
	h->next = 32;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "has next 32; it must point forward");
}

TEST_F(disc, cap_loop_backwards)
{
	struct vfio_info_cap_header *h;

	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo_add_cap(&self->r, 99, 16);
	h = rinfo_add_cap(&self->r, 98, 16);
	h->next = 32;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "capability at offset 48 has next 32");
}

TEST_F(disc, sparse_area_outside_region)
{
	static const struct vuc_sparse_area a[] = {
		{ 0, 0x1000 }, { 0xff000, 0x2000 },
	};

	rinfo_init(&self->r, 2, RWM, 0x100000);
	rinfo_add_sparse(&self->r, 2, a);
	self->r.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "sparse mmap area 1 of region 2 (offset 0xff000, size 0x2000) lies outside the region (size 0x100000)");
}

TEST_F(disc, sparse_area_overflow)
{
	static const struct vuc_sparse_area a = { 0xfffffffffffff000ULL, 0x2000 };

	rinfo_init(&self->r, 2, RWM, 0x100000);
	rinfo_add_sparse(&self->r, 1, &a);
	self->r.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "lies outside the region");
}

TEST_F(disc, sparse_too_many_areas)
{
	static const struct vuc_sparse_area a = { 0, 0x1000 };
	struct vfio_region_info_cap_sparse_mmap *sp;

	rinfo_init(&self->r, 2, RWM, 0x100000);
	sp = rinfo_add_sparse(&self->r, 1, &a);
	sp->nr_areas = 1000;
	self->r.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "claims 1000 areas; only 1 fit in it");
}

/* The areas may not run into the next capability either. */
TEST_F(disc, sparse_areas_overlap_next_cap)
{
	static const struct vuc_sparse_area a = { 0, 0x1000 };
	struct vfio_region_info_cap_sparse_mmap *sp;

	rinfo_init(&self->r, 2, RWM, 0x100000);
	sp = rinfo_add_sparse(&self->r, 1, &a);
	rinfo_add_cap(&self->r, 99, 32);
	sp->nr_areas = 2;
	self->r.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "claims 2 areas; only 1 fit");
}

TEST_F(disc, sparse_cap_truncated)
{
	rinfo_init(&self->r, 2, RWM, 0x100000);
	rinfo_add_cap(&self->r, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 8);
	self->r.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "sparse mmap capability of region 2 is truncated");
}

TEST_F(disc, two_sparse_caps)
{
	static const struct vuc_sparse_area a = { 0, 0x1000 };

	rinfo_init(&self->r, 2, RWM, 0x100000);
	rinfo_add_sparse(&self->r, 1, &a);
	rinfo_add_sparse(&self->r, 1, &a);
	self->r.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "two sparse mmap capabilities");
}

TEST_F(disc, argsz_grows_again)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo_add_cap(&self->r, 99, 16);
	self->r.regrow = 4096;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "asked for argsz 48 for region 2, then for 4096");
}

TEST_F(disc, argsz_too_big)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo(&self->r)->argsz = 1 << 20;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "needs argsz 1048576 for the info of region 2; at most 65536");
}

TEST_F(disc, region_reply_shorter_than_argsz)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo_add_cap(&self->r, 99, 48);
	self->r.len = 60;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "is 60 bytes but its argsz says 80");
}

TEST_F(disc, region_index_mismatch)
{
	rinfo_init(&self->r, 2, RW, 0x100000);
	rinfo(&self->r)->index = 5;
	EXPECT_EQ(-EPROTO, connect_rinfo(self));
	ASSERT_MSG(self->dev, "for region 2 with index 5");
}

/* GET_REGION_IO_FDS ---------------------------------------------------- */

#define IOEVENTFD VFIO_USER_IO_FD_TYPE_IOEVENTFD
#define IOREGIONFD VFIO_USER_IO_FD_TYPE_IOREGIONFD

/* libvfio-user's 48-byte entries; entries 0 and 2 share an fd. */
TEST_F(disc, io_fds_libvfio_user_layout)
{
	const struct vuc_region *r;

	self->io.stride = 48;
	iofd_add(&self->io, 0x40, 4, 0, IOEVENTFD, 0, 0);
	iofd_add(&self->io, 0x48, 4, 1, IOEVENTFD,
		 VFIO_USER_IOEVENTFD_FLAG_DATAMATCH, 0xc0de);
	iofd_add(&self->io, 0x50, 0, 0, IOEVENTFD, 0, 0);
	self->io.nr_fds = 2;
	ASSERT_EQ(0, connect_iofds(self)) TH_LOG("%s", vuc_strerror(self->dev));
	r = vuc_get_region(self->dev, 0);
	ASSERT_EQ(3, r->nr_io_fds);
	EXPECT_EQ(0x40, r->io_fds[0].offset);
	EXPECT_EQ(4, r->io_fds[0].size);
	EXPECT_EQ(IOEVENTFD, r->io_fds[1].type);
	EXPECT_EQ(VFIO_USER_IOEVENTFD_FLAG_DATAMATCH, r->io_fds[1].flags);
	EXPECT_EQ(0xc0de, r->io_fds[1].datamatch);
	EXPECT_EQ(0, r->io_fds[2].size);
	EXPECT_LE(0, r->io_fds[0].fd);
	EXPECT_LE(0, r->io_fds[1].fd);
	EXPECT_EQ(r->io_fds[0].fd, r->io_fds[2].fd);
	EXPECT_NE(r->io_fds[0].fd, r->io_fds[1].fd);
	EXPECT_LE(0, fcntl(r->io_fds[1].fd, F_GETFD));
	/* Asked with argsz 16, then again with what the reply needed. */
	EXPECT_EQ(4 + 1, self->s->nr_msgs[VFIO_USER_DEVICE_GET_REGION_IO_FDS]);
}

/* The specification's 40-byte entries, with an ioregionfd. */
TEST_F(disc, io_fds_spec_layout)
{
	const struct vuc_region *r;

	self->io.stride = 40;
	iofd_add(&self->io, 0x48, 4, 0, IOEVENTFD,
		 VFIO_USER_IOEVENTFD_FLAG_DATAMATCH, 0xc0de);
	iofd_add(&self->io, 0x80, 0x80, 1, IOREGIONFD,
		 VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES, 0x6d61696c);
	self->io.nr_fds = 2;
	ASSERT_EQ(0, connect_iofds(self)) TH_LOG("%s", vuc_strerror(self->dev));
	r = vuc_get_region(self->dev, 0);
	ASSERT_EQ(2, r->nr_io_fds);
	EXPECT_EQ(0xc0de, r->io_fds[0].datamatch);
	EXPECT_EQ(IOREGIONFD, r->io_fds[1].type);
	EXPECT_EQ(0x6d61696c, r->io_fds[1].user_data);
	EXPECT_EQ(0x80, r->io_fds[1].size);
}

/* A shadow ioeventfd: its shadow memory is another fd of the reply. */
TEST_F(disc, io_fds_shadow)
{
	const uint32_t shadow_index = 2;
	const uint64_t shadow_offset = 0x100;
	const struct vuc_region *r;
	uint8_t *e;

	self->io.stride = 48;
	e = self->io.entries;
	iofd_add(&self->io, 0x40, 4, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW,
		 VFIO_USER_IOEVENTFD_FLAG_DATAMATCH, 0x77);
	memcpy(e + 28, &shadow_index, 4);
	memcpy(e + 32, &shadow_offset, 8);
	iofd_add(&self->io, 0x48, 4, 1, IOEVENTFD, 0, 0);
	self->io.nr_fds = 3;
	ASSERT_EQ(0, connect_iofds(self)) TH_LOG("%s", vuc_strerror(self->dev));
	r = vuc_get_region(self->dev, 0);
	ASSERT_EQ(2, r->nr_io_fds);
	EXPECT_EQ(VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW, r->io_fds[0].type);
	EXPECT_EQ(0x77, r->io_fds[0].datamatch);
	EXPECT_EQ(0x100, r->io_fds[0].shadow_offset);
	EXPECT_LE(0, r->io_fds[0].shadow_fd);
	EXPECT_NE(r->io_fds[0].fd, r->io_fds[0].shadow_fd);
	EXPECT_NE(r->io_fds[1].fd, r->io_fds[0].shadow_fd);
	EXPECT_EQ(-1, r->io_fds[1].shadow_fd);
}

/* Only libvfio-user's layout has room for the shadow memory. */
TEST_F(disc, io_fds_shadow_needs_48_byte_entries)
{
	const struct vuc_region *r;

	self->io.stride = 40;
	iofd_add(&self->io, 0x40, 4, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW,
		 0, 0);
	iofd_add(&self->io, 0x48, 4, 1, IOEVENTFD, 0, 0);
	self->io.nr_fds = 2;
	ASSERT_EQ(0, connect_iofds(self)) TH_LOG("%s", vuc_strerror(self->dev));
	r = vuc_get_region(self->dev, 0);
	ASSERT_EQ(1, r->nr_io_fds);
	EXPECT_EQ(0x48, r->io_fds[0].offset);
}

TEST_F(disc, io_fds_shadow_checked)
{
	const uint32_t shadow_index = 5;

	self->io.stride = 48;
	iofd_add(&self->io, 0x40, 4, 0, VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW,
		 0, 0);
	memcpy(self->io.entries + 28, &shadow_index, 4);
	self->io.nr_fds = 2;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "shadow_mem_fd_index 5");
}

/* An optional command: refusing it means no io fds. */
TEST_F(disc, io_fds_refused)
{
	self->io.error_no = ENOTSUP;
	ASSERT_EQ(0, connect_iofds(self)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(0, vuc_get_region(self->dev, 0)->nr_io_fds);
	EXPECT_STREQ("no error", vuc_strerror(self->dev));
}

TEST_F(disc, io_fds_bad_stride)
{
	self->io.stride = 44;
	iofd_add(&self->io, 0x40, 4, 0, IOEVENTFD, 0, 0);
	iofd_add(&self->io, 0x48, 4, 0, IOEVENTFD, 0, 0);
	self->io.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "has 2 entries in 88 bytes; entries must be 40 or 48 bytes");
}

TEST_F(disc, io_fds_argsz_not_a_multiple)
{
	self->io.stride = 48;
	iofd_add(&self->io, 0x40, 4, 0, IOEVENTFD, 0, 0);
	iofd_add(&self->io, 0x48, 4, 0, IOEVENTFD, 0, 0);
	self->io.argsz = 16 + 2 * 48 + 1;
	self->io.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "entries must be 40 or 48 bytes");
}

TEST_F(disc, io_fds_fd_index_out_of_range)
{
	self->io.stride = 48;
	iofd_add(&self->io, 0x40, 4, 0, IOEVENTFD, 0, 0);
	iofd_add(&self->io, 0x48, 4, 2, IOEVENTFD, 0, 0);
	self->io.nr_fds = 2;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "io-fd entry 1 of region 0 names fd_index 2; the reply carries 2 fds");
}

TEST_F(disc, io_fds_outside_region)
{
	self->io.stride = 40;
	iofd_add(&self->io, 0xffe, 4, 0, IOEVENTFD, 0, 0);
	self->io.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "io-fd entry 0 of region 0 (offset 0xffe, size 0x4) lies outside the region (size 0x1000)");
}

TEST_F(disc, io_fds_offset_overflow)
{
	self->io.stride = 40;
	iofd_add(&self->io, 0xfffffffffffffffcULL, 8, 0, IOEVENTFD, 0, 0);
	self->io.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "lies outside the region");
}

TEST_F(disc, io_fds_sizeless_outside_region)
{
	self->io.stride = 40;
	iofd_add(&self->io, 0x1000, 0, 0, IOEVENTFD, 0, 0);
	self->io.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "lies outside the region");
}

TEST_F(disc, io_fds_unknown_flags)
{
	self->io.stride = 48;
	iofd_add(&self->io, 0x40, 4, 0, IOEVENTFD, 0x80, 0);
	self->io.nr_fds = 1;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "unknown flags 0x80");
}

TEST_F(disc, io_fds_on_truncated_reply)
{
	self->io.stride = 48;
	iofd_add(&self->io, 0x40, 4, 0, IOEVENTFD, 0, 0);
	self->io.nr_fds = 1;
	self->io.fds_on_probe = true;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "that has no sub-regions in it");
}

TEST_F(disc, io_fds_fds_without_entries)
{
	self->io.stride = 48;
	self->io.nr_fds = 1;
	self->io.fds_on_probe = true;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "1 fds with a DEVICE_GET_REGION_IO_FDS reply for region 0 that has no sub-regions");
}

TEST_F(disc, io_fds_argsz_too_big)
{
	self->io.stride = 48;
	iofd_add(&self->io, 0x40, 4, 0, IOEVENTFD, 0, 0);
	self->io.argsz = 1 << 20;
	EXPECT_EQ(-EPROTO, connect_iofds(self));
	ASSERT_MSG(self->dev, "needs argsz 1048576 for the io fds of region 0; at most 65536");
}

/* GET_IRQ_INFO ------------------------------------------------------------ */

static int irq_info_wrong_index(struct fsrv *s, struct vu_msg *m)
{
	struct vfio_irq_info info = s->irqs[0];

	info.index = 4;
	return fsrv_reply(s, m, &info, sizeof(info), NULL, 0) ? FSRV_STOP : 0;
}

TEST_F(disc, irq_index_mismatch)
{
	self->s->handler[VFIO_USER_DEVICE_GET_IRQ_INFO] = irq_info_wrong_index;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev, "DEVICE_GET_IRQ_INFO for index 0 with index 4");
}

static int irq_info_short(struct fsrv *s, struct vu_msg *m)
{
	return fsrv_reply(s, m, &s->irqs[0], 12, NULL, 0) ? FSRV_STOP : 0;
}

TEST_F(disc, irq_info_short)
{
	self->s->handler[VFIO_USER_DEVICE_GET_IRQ_INFO] = irq_info_short;
	EXPECT_EQ(-EPROTO, connect_dev(self));
	ASSERT_MSG(self->dev, "is 12 bytes; must be 16");
}

TEST_HARNESS_MAIN
