// SPDX-License-Identifier: GPL-2.0
/*
 * Migration through the kernel: device state moved between two sample
 * servers with pre-copy while memory changes, refused transitions, broken
 * streams, the merged dirty report (the server's DMA log and the kernel's
 * log of the DMA_WRITEs it served), vfio-user-ctl migrate/save/load, and a
 * server killed in the middle of a migration.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define PAGE	4096ULL
#define BAR0	VFIO_PCI_BAR0_REGION_INDEX
#define BAR2	VFIO_PCI_BAR2_REGION_INDEX

/* A growing buffer for a saved stream. */
struct stream {
	uint8_t *data;
	size_t len;
	size_t cap;
};

static int to_stream(void *opaque, const void *buf, size_t len)
{
	struct stream *s = opaque;

	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap : 1 << 20;
		uint8_t *p;

		while (cap < s->len + len)
			cap *= 2;
		p = realloc(s->data, cap);
		if (!p)
			return -ENOMEM;
		s->data = p;
		s->cap = cap;
	}
	memcpy(s->data + s->len, buf, len);
	s->len += len;
	return 0;
}

static uint32_t state_of(struct vuc_device *dev)
{
	uint32_t s = 0xffff;

	return vuc_mig_get_state(dev, &s) ? 0xffff : s;
}

static void pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

static int reg_write(struct vuc_device *dev, uint64_t off, uint64_t v,
		     size_t width)
{
	return vuc_region_write(dev, BAR0, off, &v, width) == (ssize_t)width ?
	       0 : -1;
}

static uint32_t reg_read32(struct vuc_device *dev, uint64_t off)
{
	uint32_t v = ~0U;

	vuc_region_read(dev, BAR0, off, &v, 4);
	return v;
}

/* Device state worth moving: BAR2, scratch registers and RAM. */
static int fill_device(struct vuc_device *dev, uint32_t seed)
{
	uint8_t *buf = malloc(SAMPLE_BAR2_SIZE);
	int ret = -1;

	if (!buf)
		return -1;
	pattern(buf, SAMPLE_BAR2_SIZE, seed);
	if (vuc_region_write(dev, BAR2, 0, buf, SAMPLE_BAR2_SIZE) ==
	    SAMPLE_BAR2_SIZE &&
	    vuc_region_write(dev, BAR0, SAMPLE_SCRATCH_RAM_OFFSET, buf,
			     SAMPLE_SCRATCH_RAM_SIZE) == SAMPLE_SCRATCH_RAM_SIZE &&
	    !reg_write(dev, SAMPLE_REG_SCRATCH, 0xc0ffee00 | seed, 4) &&
	    !reg_write(dev, SAMPLE_REG_SCRATCH64, 0x1122334455667788ULL ^ seed, 8) &&
	    !reg_write(dev, SAMPLE_REG_DMA_LEN, 4096 + seed, 4))
		ret = 0;
	free(buf);
	return ret;
}

/* 0 if BAR2, BAR0 RAM, the scratch and DMA registers are the same. */
static int compare_devices(struct vuc_device *a, struct vuc_device *b)
{
	static const uint32_t regs[] = {
		SAMPLE_REG_SCRATCH, SAMPLE_REG_SCRATCH64,
		SAMPLE_REG_SCRATCH64 + 4, SAMPLE_REG_DMA_LEN,
	};
	uint8_t *x = malloc(SAMPLE_BAR2_SIZE), *y = malloc(SAMPLE_BAR2_SIZE);
	int ret = -1;
	size_t i;

	if (!x || !y)
		goto out;
	if (vuc_region_read(a, BAR2, 0, x, SAMPLE_BAR2_SIZE) != SAMPLE_BAR2_SIZE ||
	    vuc_region_read(b, BAR2, 0, y, SAMPLE_BAR2_SIZE) != SAMPLE_BAR2_SIZE ||
	    memcmp(x, y, SAMPLE_BAR2_SIZE))
		goto out;
	if (vuc_region_read(a, BAR0, SAMPLE_SCRATCH_RAM_OFFSET, x,
			    SAMPLE_SCRATCH_RAM_SIZE) != SAMPLE_SCRATCH_RAM_SIZE ||
	    vuc_region_read(b, BAR0, SAMPLE_SCRATCH_RAM_OFFSET, y,
			    SAMPLE_SCRATCH_RAM_SIZE) != SAMPLE_SCRATCH_RAM_SIZE ||
	    memcmp(x, y, SAMPLE_SCRATCH_RAM_SIZE))
		goto out;
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (reg_read32(a, regs[i]) != reg_read32(b, regs[i]))
			goto out;
	ret = 0;
out:
	free(x);
	free(y);
	return ret;
}

FIXTURE(mig)
{
	struct vu_server src_srv, dst_srv;
	struct vuc_device *src, *dst;
	struct stream st;
};

FIXTURE_VARIANT(mig)
{
	const char *dst_arg;	/* the destination server's option */
	uint32_t src_xfer;	/* our receive limit from the source */
};

FIXTURE_VARIANT_ADD(mig, default_limits) { 0 };

/*
 * Small chunks: reads from the source within our 2048-byte limit, each
 * split again for the destination's 1500.
 */
FIXTURE_VARIANT_ADD(mig, small_chunks)
{
	.dst_arg = "--max-data-xfer-size=1500", .src_xfer = 2048,
};

FIXTURE_SETUP(mig)
{
	static const char *const busy[] = { "--busy", NULL };
	const char *dst_args[] = { variant->dst_arg, NULL };
	struct vuc_options src_opts = {
		.max_data_xfer_size = variant->src_xfer,
	};

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_server_start(&self->src_srv, busy));
	ASSERT_EQ(0, vu_server_start(&self->dst_srv, dst_args));
	self->src = vu_attach(self->src_srv.path, &src_opts);
	ASSERT_NE(NULL, self->src);
	self->dst = vu_attach(self->dst_srv.path, NULL);
	ASSERT_NE(NULL, self->dst);
	ASSERT_LE(0, vuc_device_fd(self->src));
}

FIXTURE_TEARDOWN(mig)
{
	vuc_device_free(self->src);
	vuc_device_free(self->dst);
	free(self->st.data);
	if (self->src_srv.pid > 0)
		EXPECT_EQ(0, vu_server_stop(&self->src_srv));
	if (self->dst_srv.pid > 0)
		EXPECT_EQ(0, vu_server_stop(&self->dst_srv));
}

/* Pre-copy context: the stream goes into @dst; @src changes between rounds. */
struct move {
	struct vuc_device *src;
	struct vuc_device *dst;
	struct vu_server *kill_srv;	/* SIGKILL this one after round 1 */
	int write_err;
};

static int to_dst(void *opaque, const void *buf, size_t len)
{
	struct move *m = opaque;
	int ret = vuc_mig_write(m->dst, buf, len);

	if (ret)
		m->write_err = ret;
	return ret;
}

static bool guest_writes(void *opaque, unsigned int round, uint64_t bytes)
{
	struct move *m = opaque;
	uint8_t page[PAGE];
	int status;

	(void)bytes;
	if (m->kill_srv) {
		kill(m->kill_srv->pid, SIGKILL);
		waitpid(m->kill_srv->pid, &status, 0);
		m->kill_srv->pid = 0;
		unlink(m->kill_srv->path);
		m->kill_srv = NULL;
		return false;
	}
	/* The guest changes a page of memory that was already sent. */
	memset(page, 0x30 + (int)round, sizeof(page));
	if (vuc_region_write(m->src, BAR2, round * 5 * PAGE, page,
			     sizeof(page)) != sizeof(page))
		return true;
	return round >= 4;
}

/*
 * The destination ends up equal to the source, byte for byte, including
 * the pages written while pre-copy ran (--busy writes BAR2 after every
 * message, the test writes between rounds).
 */
TEST_F_TIMEOUT(mig, moves_state_byte_for_byte, 600)
{
	struct move m = { .src = self->src, .dst = self->dst };
	uint64_t flags = 0, bytes = 0;
	int rounds;

	ASSERT_EQ(0, vuc_mig_get_flags(self->src, &flags));
	ASSERT_TRUE(flags & VFIO_USER_MIGRATION_PRE_COPY);
	ASSERT_EQ(0, fill_device(self->src, 3));
	ASSERT_EQ(0, vuc_mig_set_state(self->dst, VFIO_USER_DEVICE_STATE_RESUMING))
		TH_LOG("%s", vuc_strerror(self->dst));

	rounds = vuc_mig_precopy(self->src, to_dst, guest_writes, &m, &bytes);
	ASSERT_EQ(4, rounds) TH_LOG("%s / %s", vuc_strerror(self->src),
				    vuc_strerror(self->dst));
	ASSERT_LT(SAMPLE_BAR2_SIZE, bytes);
	ASSERT_EQ(0, vuc_mig_set_state(self->src, VFIO_USER_DEVICE_STATE_STOP_COPY));
	ASSERT_EQ(0, vuc_mig_save(self->src, to_dst, &m, &bytes))
		TH_LOG("%s / %s", vuc_strerror(self->src), vuc_strerror(self->dst));
	ASSERT_EQ(0, vuc_mig_set_state(self->dst, VFIO_USER_DEVICE_STATE_RUNNING))
		TH_LOG("%s", vuc_strerror(self->dst));
	ASSERT_EQ(0, vuc_mig_set_state(self->src, VFIO_USER_DEVICE_STATE_STOP));
	EXPECT_EQ(0, compare_devices(self->src, self->dst));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(self->dst));
}

/* Refused transitions: the right errno, and the state is what it was. */
TEST_F_TIMEOUT(mig, invalid_transitions_refused, 300)
{
	ASSERT_EQ(0, vuc_mig_set_state(self->src, VFIO_USER_DEVICE_STATE_STOP_COPY));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->src,
					     VFIO_USER_DEVICE_STATE_PRE_COPY));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_STOP_COPY, state_of(self->src));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->src,
					     VFIO_USER_DEVICE_STATE_PRE_COPY_P2P));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->src, 9));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->src,
					     VFIO_USER_DEVICE_STATE_ERROR));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_STOP_COPY, state_of(self->src));
	/* Writing a stream in STOP_COPY. */
	EXPECT_EQ(-EINVAL, vuc_mig_write(self->src, "x", 1));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_STOP_COPY, state_of(self->src));
	ASSERT_EQ(0, vuc_mig_set_state(self->src, VFIO_USER_DEVICE_STATE_RUNNING));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(self->src));

	/* The server refuses RESUMING -> STOP with no stream: ERROR. */
	ASSERT_EQ(0, vuc_mig_set_state(self->dst, VFIO_USER_DEVICE_STATE_RESUMING));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->dst,
					     VFIO_USER_DEVICE_STATE_RUNNING));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_ERROR, vuc_mig_state(self->dst));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_ERROR, state_of(self->dst));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->dst,
					     VFIO_USER_DEVICE_STATE_RUNNING));
	ASSERT_EQ(0, vuc_reset(self->dst));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(self->dst));
}

static void save_all(struct __test_metadata *_metadata,
		     FIXTURE_DATA(mig) *self)
{
	ASSERT_EQ(0, fill_device(self->src, 9));
	ASSERT_EQ(0, vuc_mig_set_state(self->src, VFIO_USER_DEVICE_STATE_STOP_COPY));
	ASSERT_EQ(0, vuc_mig_save(self->src, to_stream, &self->st, NULL))
		TH_LOG("%s", vuc_strerror(self->src));
	ASSERT_LT(SAMPLE_BAR2_SIZE, self->st.len);
}

/* Load @len bytes; 0 or the first -errno. */
static int load(struct vuc_device *dst, const struct stream *st, size_t len)
{
	int ret = vuc_mig_set_state(dst, VFIO_USER_DEVICE_STATE_RESUMING);

	if (!ret)
		ret = vuc_mig_write(dst, st->data, len);
	if (!ret)
		ret = vuc_mig_set_state(dst, VFIO_USER_DEVICE_STATE_RUNNING);
	return ret;
}

static void error_until_reset(struct __test_metadata *_metadata,
			      struct vuc_device *dst)
{
	uint32_t v = 0x55;

	EXPECT_EQ(VFIO_USER_DEVICE_STATE_ERROR, state_of(dst));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(dst, VFIO_USER_DEVICE_STATE_RESUMING));
	ASSERT_EQ(0, vuc_reset(dst));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(dst));
	EXPECT_EQ(4, vuc_region_write(dst, BAR0, SAMPLE_REG_SCRATCH, &v, 4));
	EXPECT_EQ(v, reg_read32(dst, SAMPLE_REG_SCRATCH));
}

TEST_F_TIMEOUT(mig, truncated_stream_errors_until_reset, 300)
{
	save_all(_metadata, self);
	EXPECT_EQ(-EINVAL, load(self->dst, &self->st, self->st.len - 1));
	error_until_reset(_metadata, self->dst);
	/* The whole stream loads after the reset. */
	EXPECT_EQ(0, load(self->dst, &self->st, self->st.len))
		TH_LOG("%s", vuc_strerror(self->dst));
	EXPECT_EQ(0, compare_devices(self->src, self->dst));
}

TEST_F_TIMEOUT(mig, corrupted_stream_errors_until_reset, 300)
{
	save_all(_metadata, self);
	self->st.data[self->st.len - 100] ^= 0x80;
	EXPECT_EQ(-EINVAL, load(self->dst, &self->st, self->st.len));
	error_until_reset(_metadata, self->dst);
}

/*
 * A server killed in the middle: the destination during pre-copy (the
 * source's state is intact and it runs on), then the source during
 * stop-and-copy (the destination refuses the incomplete stream).
 */
TEST_F_TIMEOUT(mig, server_killed_mid_migration, 300)
{
	struct move m = { .src = self->src, .dst = self->dst,
			  .kill_srv = &self->dst_srv };
	struct vu_server other;
	struct vuc_device *dst2;
	int ret;

	ASSERT_EQ(0, vuc_mig_set_state(self->dst, VFIO_USER_DEVICE_STATE_RESUMING));
	ret = vuc_mig_precopy(self->src, to_dst, guest_writes, &m, NULL);
	EXPECT_GT(0, ret);
	EXPECT_NE(0, m.write_err);
	EXPECT_NE(NULL, strstr(vuc_strerror(self->dst), "MIG_DATA_WRITE"))
		TH_LOG("%s", vuc_strerror(self->dst));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_PRE_COPY, state_of(self->src));
	ASSERT_EQ(0, vuc_mig_set_state(self->src, VFIO_USER_DEVICE_STATE_RUNNING));

	/* Now the source dies while the destination resumes. */
	ASSERT_EQ(0, vu_server_start(&other, NULL));
	dst2 = vu_attach(other.path, NULL);
	ASSERT_NE(NULL, dst2);
	ASSERT_EQ(0, vuc_mig_set_state(dst2, VFIO_USER_DEVICE_STATE_RESUMING));
	ASSERT_EQ(0, vuc_mig_set_state(self->src, VFIO_USER_DEVICE_STATE_STOP_COPY));
	kill(self->src_srv.pid, SIGKILL);
	waitpid(self->src_srv.pid, NULL, 0);
	self->src_srv.pid = 0;
	unlink(self->src_srv.path);
	m.dst = dst2;
	m.kill_srv = NULL;
	ret = vuc_mig_save(self->src, to_dst, &m, NULL);
	EXPECT_GT(0, ret);
	EXPECT_NE(0, strlen(vuc_strerror(self->src)));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(dst2, VFIO_USER_DEVICE_STATE_RUNNING));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_ERROR, state_of(dst2));
	EXPECT_EQ(0, vuc_reset(dst2));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(dst2));
	vuc_device_free(dst2);
	EXPECT_EQ(0, vu_server_stop(&other));
}

/* ---- The merged dirty report ---- */

FIXTURE(dirty)
{
	struct vu_server srv;
	struct vuc_device *dev;
	uint8_t *mem;		/* two windows: fd-backed, then fd-less */
	uint8_t *anon;
	int memfd;
};

FIXTURE_VARIANT(dirty)
{
	uint64_t page_size;	/* the VMM's; the kernel logs 4 KiB pages */
	bool kernel_only;	/* server without DMA logging, no fd sharing */
};

FIXTURE_VARIANT_ADD(dirty, pages_4k) { .page_size = 4096 };
FIXTURE_VARIANT_ADD(dirty, pages_16k) { .page_size = 16384 };
/* Every write goes through the kernel: its log alone is complete. */
FIXTURE_VARIANT_ADD(dirty, kernel_only_16k)
{
	.page_size = 16384, .kernel_only = true,
};

#define WIN_PAGES	64
#define WIN_SIZE	(WIN_PAGES * PAGE)
#define IOVA_A		0x40000000ULL		/* fd-backed: server's mmap */
#define IOVA_B		(IOVA_A + WIN_SIZE)	/* fd-less: DMA_WRITE */

FIXTURE_SETUP(dirty)
{
	static const char *const no_log[] = { "--no-dma-logging", NULL };
	struct vuc_options opts = {
		.flags = variant->kernel_only ? VUC_OPT_NO_FD_SHARING : 0,
	};

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	self->memfd = -1;
	ASSERT_EQ(0, vu_server_start(&self->srv,
				     variant->kernel_only ? no_log : NULL));
	self->dev = vu_attach(self->srv.path, &opts);
	ASSERT_NE(NULL, self->dev);
	self->memfd = memfd_create("guest", MFD_CLOEXEC);
	ASSERT_LE(0, self->memfd);
	ASSERT_EQ(0, ftruncate(self->memfd, WIN_SIZE));
	self->mem = mmap(NULL, WIN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->memfd, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	self->anon = mmap(NULL, WIN_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->anon);
	ASSERT_EQ(0, vuc_dma_map(self->dev, IOVA_A, WIN_SIZE, self->mem,
				 VUC_DMA_READ | VUC_DMA_WRITE, self->memfd, 0))
		TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_EQ(0, vuc_dma_map(self->dev, IOVA_B, WIN_SIZE, self->anon,
				 VUC_DMA_READ | VUC_DMA_WRITE, -1, 0))
		TH_LOG("%s", vuc_strerror(self->dev));
}

FIXTURE_TEARDOWN(dirty)
{
	vuc_device_free(self->dev);
	if (self->mem && self->mem != MAP_FAILED)
		munmap(self->mem, WIN_SIZE);
	if (self->anon && self->anon != MAP_FAILED)
		munmap(self->anon, WIN_SIZE);
	if (self->memfd >= 0)
		close(self->memfd);
	if (self->srv.pid > 0)
		EXPECT_EQ(0, vu_server_stop(&self->srv));
}

/* DMA engine FILL; returns the path it took, or 0 on failure. */
static uint32_t dma_fill(struct vuc_device *dev, uint64_t iova, uint32_t len)
{
	if (reg_write(dev, SAMPLE_REG_DMA_DST, iova, 8) ||
	    reg_write(dev, SAMPLE_REG_DMA_LEN, len, 4) ||
	    reg_write(dev, SAMPLE_REG_DMA_FILL, 0xa5, 4) ||
	    reg_write(dev, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_CMD_FILL, 4) ||
	    reg_read32(dev, SAMPLE_REG_DMA_STATUS))
		return 0;
	return reg_read32(dev, SAMPLE_REG_DMA_PATH);
}

static void set_pages(uint64_t *want, uint64_t base, uint64_t iova,
		      uint64_t len, uint64_t ps)
{
	uint64_t p;

	for (p = (iova - base) / ps; p <= (iova + len - 1 - base) / ps; p++)
		want[p / 64] |= 1ULL << (p % 64);
}

/*
 * One report over both windows has exactly the pages the server wrote
 * through its mapping (server log) and those the kernel wrote for it
 * (kernel log), at the VMM's page size; reading clears both.
 */
TEST_F_TIMEOUT(dirty, merged_report_is_exact, 300)
{
	const uint64_t ps = variant->page_size, len = 2 * WIN_SIZE;
	static const struct { uint64_t iova; uint32_t len; } writes[] = {
		{ IOVA_A + 1 * PAGE, PAGE },		/* mapping */
		{ IOVA_A + 9 * PAGE - 4, 8 },		/* mapping, two pages */
		{ IOVA_A + 40 * PAGE, 3 * PAGE },	/* mapping */
		{ IOVA_B + 2 * PAGE + 100, 10 },	/* DMA_WRITE */
		{ IOVA_B + 31 * PAGE, 2 * PAGE },	/* DMA_WRITE */
		{ IOVA_B + 63 * PAGE, PAGE },		/* DMA_WRITE, last page */
	};
	uint64_t got[4] = { 0 }, want[4] = { 0 };
	size_t i;

	ASSERT_EQ(!variant->kernel_only, vuc_dirty_supported(self->dev));
	ASSERT_EQ(0, vuc_dirty_start(self->dev, ps, NULL, 0))
		TH_LOG("%s", vuc_strerror(self->dev));
	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		uint32_t path = dma_fill(self->dev, writes[i].iova, writes[i].len);

		EXPECT_EQ(writes[i].iova < IOVA_B && !variant->kernel_only ?
			  SAMPLE_DMA_PATH_MMAP : SAMPLE_DMA_PATH_MESSAGES, path);
		set_pages(want, IOVA_A, writes[i].iova, writes[i].len, ps);
	}
	ASSERT_EQ(0, vuc_dirty_report(self->dev, IOVA_A, len, got, sizeof(got)))
		TH_LOG("%s", vuc_strerror(self->dev));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(want[i], got[i]) TH_LOG("word %zu", i);
	EXPECT_EQ(0xa5, self->mem[PAGE]);
	EXPECT_EQ(0xa5, self->anon[63 * PAGE]);

	/* Reading cleared both logs. */
	ASSERT_EQ(0, vuc_dirty_report(self->dev, IOVA_A, len, got, sizeof(got)));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, got[i]);
	ASSERT_EQ(0, vuc_dirty_stop(self->dev));
	EXPECT_EQ(-EINVAL, vuc_dirty_report(self->dev, IOVA_A, len, got,
					    sizeof(got)));
}

/*
 * A server without DMA logging that was given memory fds can write pages
 * the kernel never sees: starting the log is refused rather than wrong.
 */
TEST_F_TIMEOUT(dirty, unloggable_writes_refused, 300)
{
	static const char *const no_log[] = { "--no-dma-logging", NULL };
	struct vu_server srv;
	struct vuc_device *dev;

	if (variant->kernel_only || variant->page_size != 4096)
		SKIP(return, "one variant is enough");
	ASSERT_EQ(0, vu_server_start(&srv, no_log));
	dev = vu_attach(srv.path, NULL);
	ASSERT_NE(NULL, dev);
	EXPECT_EQ(0, vuc_dirty_supported(dev));
	EXPECT_EQ(-ENOTSUP, vuc_dirty_start(dev, 4096, NULL, 0));
	EXPECT_NE(NULL, strstr(vuc_strerror(dev), "VUC_OPT_NO_FD_SHARING"));
	vuc_device_free(dev);
	EXPECT_EQ(0, vu_server_stop(&srv));
}

/* ---- vfio-user-ctl ---- */

/* Run vfio-user-ctl with @args; its exit status, its output in @out. */
static int ctl(char *out, size_t outlen, const char *const *args)
{
	const char *argv[8] = { "vfio-user-ctl" };
	int pfd[2], status, i;
	ssize_t n, got = 0;
	pid_t pid;

	for (i = 0; i < 6 && args[i]; i++)
		argv[i + 1] = args[i];
	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		/* Both outputs to the test: not a terminal, and no noise. */
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((size_t)got < outlen - 1 &&
	       (n = read(pfd[0], out + got, outlen - 1 - got)) > 0)
		got += n;
	out[got] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * migrate moves the device; save and load move it again through a file;
 * a file for another device and a damaged file are refused.
 */
TEST_F_TIMEOUT(mig, cli_migrate_save_load, 600)
{
	static const char *const other_args[] = { "--msix-vectors=8", NULL };
	char out[512], file[64], bad[64];
	struct vu_server third, other;
	struct vuc_device *dev;
	int fd;

	ASSERT_EQ(0, fill_device(self->src, 21));
	/* The CLI needs the servers: they take one client at a time. */
	vuc_device_free(self->src);
	vuc_device_free(self->dst);
	self->src = self->dst = NULL;

	ASSERT_EQ(0, ctl(out, sizeof(out), (const char *const[]) {
		"migrate", self->src_srv.path, self->dst_srv.path, NULL }))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "migrated")) TH_LOG("%s", out);
	self->src = vu_attach(self->src_srv.path, NULL);
	self->dst = vu_attach(self->dst_srv.path, NULL);
	ASSERT_NE(NULL, self->src);
	ASSERT_NE(NULL, self->dst);
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_STOP, state_of(self->src));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(self->dst));
	EXPECT_EQ(0, compare_devices(self->src, self->dst));
	vuc_device_free(self->dst);
	self->dst = NULL;

	snprintf(file, sizeof(file), "/tmp/vu-mig-%d.state", getpid());
	snprintf(bad, sizeof(bad), "/tmp/vu-mig-%d.bad", getpid());
	ASSERT_EQ(0, ctl(out, sizeof(out), (const char *const[]) {
		"save", self->dst_srv.path, file, NULL }));
	ASSERT_EQ(0, vu_server_start(&third, NULL));
	ASSERT_EQ(0, ctl(out, sizeof(out), (const char *const[]) {
		"load", third.path, file, NULL })) TH_LOG("%s", out);
	dev = vu_attach(third.path, NULL);
	ASSERT_NE(NULL, dev);
	EXPECT_EQ(0, compare_devices(self->src, dev));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(dev));
	vuc_device_free(dev);

	/* Another device (more MSI-X vectors) refuses the stream: ERROR. */
	ASSERT_EQ(0, vu_server_start(&other, other_args));
	EXPECT_EQ(1, ctl(out, sizeof(out), (const char *const[]) {
		"load", other.path, file, NULL }));
	dev = vu_attach(other.path, NULL);
	ASSERT_NE(NULL, dev);
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_ERROR, state_of(dev));
	vuc_device_free(dev);
	EXPECT_EQ(0, vu_server_stop(&other));

	/* A damaged file never reaches the device. */
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(7, write(fd, "garbage", 7));
	close(fd);
	EXPECT_EQ(1, ctl(out, sizeof(out), (const char *const[]) {
		"load", third.path, bad, NULL }));
	dev = vu_attach(third.path, NULL);
	ASSERT_NE(NULL, dev);
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(dev));
	vuc_device_free(dev);
	EXPECT_EQ(0, vu_server_stop(&third));
	unlink(file);
	unlink(bad);
}

TEST_HARNESS_MAIN
