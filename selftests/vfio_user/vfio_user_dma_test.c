// SPDX-License-Identifier: GPL-2.0
/*
 * DMA: map and unmap, the server's DMA_READ/DMA_WRITE served in the kernel,
 * and the dirty log. The sample server's DMA engine moves the data: through
 * its own mapping when the map carried an fd, with DMA_READ/DMA_WRITE
 * messages when it did not.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define PAGE		4096ULL
#define IOVA_BASE	0x100000000ULL

static uint64_t fnv64(const uint8_t *p, size_t len)
{
	uint64_t h = SAMPLE_FNV64_OFFSET;

	while (len--) {
		h ^= *p++;
		h *= SAMPLE_FNV64_PRIME;
	}
	return h;
}

static int reg_write32(int fd, uint32_t off, uint32_t v)
{
	return pwrite(fd, &v, 4, vu_region_off(0, off)) == 4 ? 0 : -errno;
}

static int reg_write64(int fd, uint32_t off, uint64_t v)
{
	return pwrite(fd, &v, 8, vu_region_off(0, off)) == 8 ? 0 : -errno;
}

static uint32_t reg_read32(int fd, uint32_t off)
{
	uint32_t v = ~0U;

	pread(fd, &v, 4, vu_region_off(0, off));
	return v;
}

static uint64_t reg_read64(int fd, uint32_t off)
{
	uint64_t v = ~0ULL;

	pread(fd, &v, 8, vu_region_off(0, off));
	return v;
}

/* Run one engine command; returns its STATUS (0 or an errno). */
static uint32_t dma_run(int fd, uint32_t cmd, uint64_t src, uint64_t dst,
			uint32_t len, uint8_t fill)
{
	if (reg_write64(fd, SAMPLE_REG_DMA_SRC, src) ||
	    reg_write64(fd, SAMPLE_REG_DMA_DST, dst) ||
	    reg_write32(fd, SAMPLE_REG_DMA_LEN, len) ||
	    reg_write32(fd, SAMPLE_REG_DMA_FILL, fill) ||
	    reg_write32(fd, SAMPLE_REG_DMA_CMD, cmd))
		return 0xffffffff;
	return reg_read32(fd, SAMPLE_REG_DMA_STATUS);
}

/* Memory the test maps for DMA, optionally backed by a memfd. */
struct buffer {
	uint8_t *va;
	size_t size;
	int fd;
};

static int buffer_alloc(struct buffer *b, size_t size, bool with_fd)
{
	b->size = size;
	b->fd = -1;
	if (with_fd) {
		b->fd = memfd_create("vu-dma", MFD_CLOEXEC);
		if (b->fd < 0 || ftruncate(b->fd, size))
			return -errno;
		b->va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     b->fd, 0);
	} else {
		b->va = mmap(NULL, size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	return b->va == MAP_FAILED ? -errno : 0;
}

static void buffer_free(struct buffer *b)
{
	if (b->va && b->va != MAP_FAILED)
		munmap(b->va, b->size);
	if (b->fd >= 0)
		close(b->fd);
}

static int map_dma(int fd, const struct buffer *b, uint64_t iova,
		   uint64_t offset, uint64_t size, uint32_t flags)
{
	struct vfio_user_map_dma map = {
		.argsz = sizeof(map),
		.flags = flags | (b->fd >= 0 ? VFIO_USER_MAP_DMA_FD : 0),
		.vaddr = (uintptr_t)b->va + offset,
		.iova = iova,
		.size = size,
		.fd = b->fd,
		.fd_offset = b->fd >= 0 ? offset : 0,
	};

	return ioctl(fd, VFIO_USER_MAP_DMA, &map) ? -errno : 0;
}

static int unmap_dma(int fd, uint64_t iova, uint64_t size, uint32_t flags)
{
	struct vfio_user_unmap_dma unmap = {
		.argsz = sizeof(unmap), .flags = flags, .iova = iova,
		.size = size,
	};

	return ioctl(fd, VFIO_USER_UNMAP_DMA, &unmap) ? -errno : 0;
}

#define RW (VFIO_USER_MAP_DMA_READ | VFIO_USER_MAP_DMA_WRITE)

FIXTURE(dma)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
	struct buffer buf;
};

FIXTURE_VARIANT(dma)
{
	bool with_fd;
	unsigned int lib_flags;
	uint32_t path;		/* how the engine must have moved the data */
};

FIXTURE_VARIANT_ADD(dma, fd_backed)
{
	.with_fd = true, .path = SAMPLE_DMA_PATH_MMAP,
};

FIXTURE_VARIANT_ADD(dma, fd_less)
{
	.with_fd = false, .path = SAMPLE_DMA_PATH_MESSAGES,
};

FIXTURE_VARIANT_ADD(dma, fd_backed_no_sharing)
{
	.with_fd = true, .lib_flags = VUC_OPT_NO_FD_SHARING,
	.path = SAMPLE_DMA_PATH_MESSAGES,
};

FIXTURE_VARIANT_ADD(dma, fd_less_one_socket)
{
	.with_fd = false, .lib_flags = VUC_OPT_NO_TWIN_SOCKET,
	.path = SAMPLE_DMA_PATH_MESSAGES,
};

FIXTURE_SETUP(dma)
{
	struct vuc_options opts = { .flags = variant->lib_flags };

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	self->dev = vu_attach(self->srv.path, &opts);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
	ASSERT_EQ(0, buffer_alloc(&self->buf, 16 << 20, variant->with_fd));
}

FIXTURE_TEARDOWN(dma)
{
	if (self->dev)
		vuc_device_free(self->dev);
	buffer_free(&self->buf);
	if (self->srv.pid > 0)
		EXPECT_EQ(0, vu_server_stop(&self->srv));
}

/* Copies of 1 byte to several MiB, checksums, fills: the data is exact. */
TEST_F(dma, data_integrity)
{
	static const uint32_t sizes[] = {
		1, 7, 4096, 4097, 65536 + 3, 1 << 20, (1 << 20) + 1, 6 << 20,
	};
	const uint64_t half = 8 << 20;
	uint8_t *va = self->buf.va;
	unsigned int i;
	size_t j;

	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE, 0, 16 << 20, RW));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i];

		for (j = 0; j < n; j++)
			va[j + 5] = (uint8_t)(j * 13 + i);
		memset(va + half, 0, n + 16);
		ASSERT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_COPY,
				      IOVA_BASE + 5, IOVA_BASE + half + 3, n, 0))
			TH_LOG("copy of %u bytes", n);
		EXPECT_EQ(0, memcmp(va + half + 3, va + 5, n)) TH_LOG("%u bytes", n);
		EXPECT_EQ(0, va[half + 2]);
		EXPECT_EQ(0, va[half + 3 + n]);
		EXPECT_EQ(variant->path, reg_read32(self->fd, SAMPLE_REG_DMA_PATH));

		ASSERT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_CHECKSUM,
				      IOVA_BASE + 5, 0, n, 0));
		EXPECT_EQ(fnv64(va + 5, n),
			  reg_read64(self->fd, SAMPLE_REG_DMA_RESULT));
	}
	va[99] = 0x99;
	va[3100] = 0x31;
	ASSERT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0, IOVA_BASE + 100,
			      3000, 0xa5));
	for (j = 0; j < 3000; j++)
		ASSERT_EQ(0xa5, va[100 + j]);
	EXPECT_EQ(0x99, va[99]);
	EXPECT_EQ(0x31, va[3100]);
}

/* A transfer may run across adjacent mappings. */
TEST_F(dma, across_map_boundaries)
{
	uint8_t *va = self->buf.va;
	size_t j;

	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE, 0, 1 << 20, RW));
	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE + (1 << 20),
			     1 << 20, 1 << 20, RW));
	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE + (2 << 20),
			     2 << 20, 2 << 20, RW));
	for (j = 0; j < (1 << 20); j++)
		va[(1 << 20) - 1000 + j] = (uint8_t)(j * 7);
	ASSERT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_COPY,
			      IOVA_BASE + (1 << 20) - 1000,
			      IOVA_BASE + (2 << 20) + 10, 1 << 20, 0));
	EXPECT_EQ(0, memcmp(va + (2 << 20) + 10, va + (1 << 20) - 1000, 1 << 20));
}

/* The server's reach: outside every map, into read-only, across a hole. */
TEST_F(dma, refused_accesses_write_nothing)
{
	uint8_t *va = self->buf.va;
	uint32_t status;

	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE, 0, 1 << 20, RW));
	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE + (2 << 20),
			     2 << 20, 1 << 20, VFIO_USER_MAP_DMA_READ));
	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE + (4 << 20),
			     4 << 20, 1 << 20, RW));
	memset(va, 0x11, 8 << 20);

	/* Nowhere. */
	status = dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0, 0x1000, 64, 0xee);
	EXPECT_NE(0U, status);
	/* Into a read-only mapping. */
	status = dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0,
			 IOVA_BASE + (2 << 20), 64, 0xee);
	EXPECT_NE(0U, status);
	EXPECT_EQ(0x11, va[2 << 20]);
	/*
	 * Across the unmapped hole between the first two mappings. Through its
	 * own mapping the server may write the mapped part; what the kernel
	 * serves is checked whole before a byte is written.
	 */
	status = dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0,
			 IOVA_BASE + (1 << 20) - 64, 128, 0xee);
	EXPECT_NE(0U, status);
	if (variant->path == SAMPLE_DMA_PATH_MESSAGES)
		EXPECT_EQ(0x11, va[(1 << 20) - 64]);
	/* Reading from the read-only mapping is fine. */
	EXPECT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_COPY,
			      IOVA_BASE + (2 << 20), IOVA_BASE + (4 << 20), 64, 0));
	/* The connection is healthy after refusals. */
	EXPECT_EQ(SAMPLE_ID_VALUE, reg_read32(self->fd, SAMPLE_REG_ID));
}

TEST_F(dma, map_validation)
{
	const struct buffer *b = &self->buf;
	struct buffer ro;

	EXPECT_EQ(-EINVAL, map_dma(self->fd, b, IOVA_BASE + 1, 0, PAGE, RW));
	EXPECT_EQ(-EINVAL, map_dma(self->fd, b, IOVA_BASE, 0, PAGE + 1, RW));
	EXPECT_EQ(-EINVAL, map_dma(self->fd, b, IOVA_BASE, 0, 0, RW));
	EXPECT_EQ(-EINVAL, map_dma(self->fd, b, IOVA_BASE, 0, PAGE, 0));
	EXPECT_EQ(-EINVAL, map_dma(self->fd, b, IOVA_BASE, 0, PAGE, 1U << 8));
	EXPECT_EQ(-EINVAL, map_dma(self->fd, b, ~0ULL - PAGE + 1, 0, 2 * PAGE, RW));
	/* Memory the caller does not have. */
	EXPECT_EQ(-EFAULT, map_dma(self->fd, b, IOVA_BASE, 32 << 20, PAGE, RW));
	/* Read-only memory cannot be written by the device. */
	ASSERT_EQ(0, buffer_alloc(&ro, PAGE, false));
	ASSERT_EQ(0, mprotect(ro.va, PAGE, PROT_READ));
	EXPECT_EQ(-EACCES, map_dma(self->fd, &ro, IOVA_BASE, 0, PAGE, RW));
	EXPECT_EQ(0, map_dma(self->fd, &ro, IOVA_BASE, 0, PAGE,
			     VFIO_USER_MAP_DMA_READ));
	/* Overlap. */
	EXPECT_EQ(-EEXIST, map_dma(self->fd, b, IOVA_BASE, 0, PAGE, RW));
	EXPECT_EQ(-EEXIST, map_dma(self->fd, b, IOVA_BASE - PAGE, 0, 2 * PAGE, RW));
	/* Unmap needs an exact match. */
	EXPECT_EQ(-ENOENT, unmap_dma(self->fd, IOVA_BASE, 2 * PAGE, 0));
	EXPECT_EQ(-ENOENT, unmap_dma(self->fd, IOVA_BASE + PAGE, PAGE, 0));
	EXPECT_EQ(-EINVAL, unmap_dma(self->fd, IOVA_BASE, PAGE,
				     VFIO_USER_UNMAP_DMA_ALL));
	EXPECT_EQ(0, unmap_dma(self->fd, IOVA_BASE, PAGE, 0));
	EXPECT_EQ(-ENOENT, unmap_dma(self->fd, IOVA_BASE, PAGE, 0));
	buffer_free(&ro);
}

/* Only the process that attached may map: the addresses are its own. */
TEST_F(dma, other_process_cannot_map)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (!pid)
		_exit(map_dma(self->fd, &self->buf, IOVA_BASE, 0, PAGE, RW) ==
		      -EPERM ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * Software-emulated debug kernels are slow: allow ten minutes. Under load
 * the server's unmapping of 10,000 windows alone took more than a minute,
 * so its reply may take as long as the test may (the largest timeout).
 */
TEST_F_TIMEOUT(dma, ten_thousand_maps, 600)
{
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	unsigned int i;

	/*
	 * The map table is the same whatever the variant: run it where the
	 * kernel serves the DMA (fd_less) and where every map carries an fd
	 * (fd_backed), not twice more, which took ten minutes under load.
	 */
	if (variant->lib_flags)
		SKIP(return, "same table as the fd_backed and fd_less variants");
	ASSERT_EQ(0, vu_set_timeout(self->fd, 600 * 1000));

	for (i = 0; i < 10000; i++) {
		ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE + 2 * i * PAGE,
				     (i % 4096) * PAGE, PAGE, RW)) TH_LOG("map %u", i);
	}
	/* The tree finds any of them: DMA into the last and the first. */
	self->buf.va[0] = 0x5a;
	ASSERT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_COPY, IOVA_BASE,
			      IOVA_BASE + 2 * 9999 * PAGE + 8, 1, 0));
	EXPECT_EQ(0x5a, self->buf.va[(9999 % 4096) * PAGE + 8]);
	ASSERT_EQ(0, unmap_dma(self->fd, 0, 0, VFIO_USER_UNMAP_DMA_ALL));
	EXPECT_NE(0U, dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0, IOVA_BASE, 1, 1));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &st));
	EXPECT_EQ(0U, st.flags);
}

/* The VMM unmaps its own memory under a live mapping: an error, no oops. */
TEST_F(dma, vmm_memory_gone_under_live_map)
{
	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE, 0, 1 << 20, RW));
	ASSERT_EQ(0, munmap(self->buf.va, 1 << 20));
	if (self->buf.fd < 0 || variant->path == SAMPLE_DMA_PATH_MESSAGES)
		EXPECT_NE(0U, dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0,
				      IOVA_BASE, 4096, 1));
	/* The rest of the buffer stays usable; unmapping the range works. */
	self->buf.va += 1 << 20;
	self->buf.size -= 1 << 20;
	EXPECT_EQ(0, unmap_dma(self->fd, IOVA_BASE, 1 << 20, 0));
	EXPECT_EQ(SAMPLE_ID_VALUE, reg_read32(self->fd, SAMPLE_REG_ID));
}

struct unmapper {
	int fd;
	int ret;
};

static void *unmap_soon(void *arg)
{
	struct unmapper *u = arg;

	usleep(20 * 1000);
	u->ret = unmap_dma(u->fd, IOVA_BASE, 16 << 20, 0);
	return NULL;
}

/* Unmap while the server has a long transfer in flight. */
TEST_F(dma, unmap_during_transfer)
{
	struct unmapper u = { .fd = self->fd };
	pthread_t tid;
	uint32_t status;

	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE, 0, 16 << 20, RW));
	ASSERT_EQ(0, pthread_create(&tid, NULL, unmap_soon, &u));
	status = dma_run(self->fd, SAMPLE_DMA_CMD_COPY, IOVA_BASE,
			 IOVA_BASE + (8 << 20), 8 << 20, 0);
	pthread_join(tid, NULL);
	EXPECT_EQ(0, u.ret);
	/* Either it finished first, or the rest was refused: never a crash. */
	EXPECT_TRUE(status == 0 || status == EFAULT || status == ENOENT ||
		    status == EINVAL) TH_LOG("status %u", status);
	EXPECT_NE(0U, dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0, IOVA_BASE, 1, 1));
}

/* The dirty log holds exactly the pages the kernel wrote for the server. */
TEST_F(dma, dirty_bitmap_is_exact)
{
	struct vfio_user_dirty_log log = {
		.argsz = sizeof(log), .flags = VFIO_USER_DIRTY_LOG_START,
	};
	uint64_t bitmap[64] = { 0 };
	struct vfio_user_dirty_report rep = {
		.argsz = sizeof(rep), .iova = IOVA_BASE, .size = 4 << 20,
		.pgsize = PAGE, .bitmap = (uintptr_t)bitmap,
		.bitmap_size = sizeof(bitmap),
	};
	unsigned int page, expect;

	ASSERT_EQ(0, map_dma(self->fd, &self->buf, IOVA_BASE, 0, 4 << 20, RW));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_DIRTY_LOG, &log));
	/* Pages 3..5 (bytes 3*4096+100 .. 5*4096+99) and page 40. */
	ASSERT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0,
			      IOVA_BASE + 3 * PAGE + 100, 2 * PAGE, 7));
	ASSERT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_FILL, 0,
			      IOVA_BASE + 40 * PAGE, 1, 7));
	/* Reads dirty nothing. */
	ASSERT_EQ(0U, dma_run(self->fd, SAMPLE_DMA_CMD_CHECKSUM,
			      IOVA_BASE + 100 * PAGE, 0, 8 * PAGE, 0));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_DIRTY_REPORT, &rep));
	for (page = 0; page < 1024; page++) {
		bool dirty = bitmap[page / 64] & (1ULL << (page % 64));

		if (variant->path == SAMPLE_DMA_PATH_MESSAGES)
			expect = (page >= 3 && page <= 5) || page == 40;
		else
			expect = 0;	/* the server wrote through its mapping */
		EXPECT_EQ(expect, dirty) TH_LOG("page %u", page);
	}
	/* Reported pages are cleared. */
	memset(bitmap, 0, sizeof(bitmap));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_DIRTY_REPORT, &rep));
	for (page = 0; page < 64; page++)
		EXPECT_EQ(0ULL, bitmap[page]);
	/* Bad reports. */
	rep.pgsize = 2 * PAGE;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_DIRTY_REPORT, &rep));
	rep.pgsize = PAGE;
	rep.bitmap_size = 8;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_DIRTY_REPORT, &rep));
	log.flags = VFIO_USER_DIRTY_LOG_STOP;
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_DIRTY_LOG, &log));
	rep.bitmap_size = sizeof(bitmap);
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_DIRTY_REPORT, &rep));
}

TEST_HARNESS_MAIN
