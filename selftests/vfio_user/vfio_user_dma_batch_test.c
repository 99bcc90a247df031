// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO_USER_MAP_DMA_BATCH and VFIO_USER_UNMAP_DMA_BATCH against the sample
 * server: every entry is sent before the first reply is waited for; a map
 * batch is all or nothing (checks, overlaps and the server's refusal leave
 * no entry mapped, in the kernel or at the server); an unmap batch checks
 * every entry before it unmaps any; the first failing entry is reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_user_util.h"

#define NR		64
#define PAGE		4096UL
#define IOVA_BASE	0x10000000ULL

FIXTURE(batch)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
	void *mem;
	struct vfio_user_map_dma maps[NR];
	struct vfio_user_unmap_dma unmaps[NR];
};

FIXTURE_SETUP(batch)
{
	unsigned int i;

	self->dev = NULL;
	self->srv.pid = 0;
	self->mem = mmap(NULL, NR * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	for (i = 0; i < NR; i++) {
		self->maps[i] = (struct vfio_user_map_dma) {
			.argsz = sizeof(self->maps[i]),
			.flags = VFIO_USER_MAP_DMA_READ | VFIO_USER_MAP_DMA_WRITE,
			.vaddr = (uintptr_t)self->mem + i * PAGE,
			.iova = IOVA_BASE + i * 2 * PAGE,
			.size = PAGE,
		};
		self->unmaps[i] = (struct vfio_user_unmap_dma) {
			.argsz = sizeof(self->unmaps[i]),
			.iova = self->maps[i].iova,
			.size = PAGE,
		};
	}
	if (access(VFIO_USER_DEV, F_OK))
		return;
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	self->dev = vu_attach(self->srv.path, NULL);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
}

FIXTURE_TEARDOWN(batch)
{
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		vu_server_stop(&self->srv);
	munmap(self->mem, NR * PAGE);
}

#define NEED_MODULE()							\
	do {								\
		if (!self->dev)						\
			SKIP(return, VFIO_USER_DEV " not present");	\
	} while (0)

/* Run a batch ioctl; -errno, with the reported index in *@failed. */
static int batch(int fd, unsigned long cmd, const void *entries,
		 uint32_t count, uint32_t *failed)
{
	struct vfio_user_dma_batch b = {
		.argsz = sizeof(b), .count = count,
		.entries = (uintptr_t)entries,
	};
	int ret = ioctl(fd, cmd, &b) ? -errno : 0;

	if (failed)
		*failed = b.failed;
	return ret;
}

static int map_one(int fd, const struct vfio_user_map_dma *m)
{
	return ioctl(fd, VFIO_USER_MAP_DMA, m) ? -errno : 0;
}

static int unmap_one(int fd, const struct vfio_user_unmap_dma *u)
{
	return ioctl(fd, VFIO_USER_UNMAP_DMA, u) ? -errno : 0;
}

TEST_F_TIMEOUT(batch, maps_and_unmaps_every_entry, 300)
{
	unsigned int i;

	NEED_MODULE();
	ASSERT_EQ(0, batch(self->fd, VFIO_USER_MAP_DMA_BATCH, self->maps, NR,
			   NULL));
	/* Each is mapped, in the kernel (EEXIST comes before any message). */
	for (i = 0; i < NR; i++)
		EXPECT_EQ(-EEXIST, map_one(self->fd, &self->maps[i]));
	ASSERT_EQ(0, batch(self->fd, VFIO_USER_UNMAP_DMA_BATCH, self->unmaps,
			   NR, NULL));
	for (i = 0; i < NR; i++)
		EXPECT_EQ(-ENOENT, unmap_one(self->fd, &self->unmaps[i]));
	/* And at the server: it takes them all again. */
	ASSERT_EQ(0, batch(self->fd, VFIO_USER_MAP_DMA_BATCH, self->maps, NR,
			   NULL));
	for (i = 0; i < NR; i++)
		EXPECT_EQ(0, unmap_one(self->fd, &self->unmaps[i]));
}

TEST_F_TIMEOUT(batch, argument_checks, 120)
{
	struct vfio_user_dma_batch b = {
		.argsz = sizeof(b), .count = 1,
		.entries = (uintptr_t)self->maps,
	};

	NEED_MODULE();
	b.flags = 1;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_MAP_DMA_BATCH, &b));
	EXPECT_EQ(EINVAL, errno);
	b.flags = 0;
	b.failed = 1;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_MAP_DMA_BATCH, &b));
	EXPECT_EQ(EINVAL, errno);
	b.failed = 0;
	b.count = 0;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_MAP_DMA_BATCH, &b));
	EXPECT_EQ(EINVAL, errno);
	b.count = VFIO_USER_DMA_BATCH_MAX + 1;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_UNMAP_DMA_BATCH, &b));
	EXPECT_EQ(EINVAL, errno);
	b.count = 2;
	b.entries = 8;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_MAP_DMA_BATCH, &b));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F_TIMEOUT(batch, map_is_all_or_nothing_on_a_bad_entry, 300)
{
	uint32_t failed = 0;
	unsigned int i;

	NEED_MODULE();
	/* Entry 40 overlaps entry 7. */
	self->maps[40].iova = self->maps[7].iova;
	EXPECT_EQ(-EEXIST, batch(self->fd, VFIO_USER_MAP_DMA_BATCH, self->maps,
				 NR, &failed));
	EXPECT_EQ(40U, failed);
	/* Entry 3 is not page-aligned: refused before any is mapped. */
	self->maps[40].iova = IOVA_BASE + 40 * 2 * PAGE;
	self->maps[3].size = PAGE / 2;
	EXPECT_EQ(-EINVAL, batch(self->fd, VFIO_USER_MAP_DMA_BATCH, self->maps,
				 NR, &failed));
	EXPECT_EQ(3U, failed);
	self->maps[3].size = PAGE;
	/* Nothing stayed mapped: each maps alone. */
	for (i = 0; i < NR; i++)
		EXPECT_EQ(0, map_one(self->fd, &self->maps[i]));
}

TEST_F_TIMEOUT(batch, map_is_all_or_nothing_when_the_server_refuses, 300)
{
	uint32_t failed = 0;
	unsigned int i;
	int memfd;

	NEED_MODULE();
	/* A write-sealed memfd: the server cannot map it for writing. */
	memfd = memfd_create("sealed", MFD_ALLOW_SEALING);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, PAGE));
	ASSERT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE));
	self->maps[50].flags |= VFIO_USER_MAP_DMA_FD;
	self->maps[50].fd = memfd;
	EXPECT_GT(0, batch(self->fd, VFIO_USER_MAP_DMA_BATCH, self->maps, NR,
			   &failed));
	EXPECT_EQ(50U, failed);
	close(memfd);
	/* Still healthy, and nothing is mapped, here or at the server. */
	EXPECT_EQ(0, vu_wait_broken(self->fd, 0));
	self->maps[50].flags &= ~VFIO_USER_MAP_DMA_FD;
	self->maps[50].fd = 0;
	for (i = 0; i < NR; i++)
		EXPECT_EQ(0, map_one(self->fd, &self->maps[i]));
}

TEST_F_TIMEOUT(batch, unmap_checks_every_entry_first, 300)
{
	uint32_t failed = 0;
	unsigned int i;

	NEED_MODULE();
	ASSERT_EQ(0, batch(self->fd, VFIO_USER_MAP_DMA_BATCH, self->maps, NR,
			   NULL));
	/* Entry 20 names no mapping, entry 30 the same as entry 10. */
	self->unmaps[20].iova += PAGE;
	EXPECT_EQ(-ENOENT, batch(self->fd, VFIO_USER_UNMAP_DMA_BATCH,
				 self->unmaps, NR, &failed));
	EXPECT_EQ(20U, failed);
	self->unmaps[20].iova -= PAGE;
	self->unmaps[30] = self->unmaps[10];
	EXPECT_EQ(-ENOENT, batch(self->fd, VFIO_USER_UNMAP_DMA_BATCH,
				 self->unmaps, NR, &failed));
	EXPECT_EQ(30U, failed);
	self->unmaps[30].iova = self->maps[30].iova;
	self->unmaps[5].flags = VFIO_USER_UNMAP_DMA_ALL;
	EXPECT_EQ(-EINVAL, batch(self->fd, VFIO_USER_UNMAP_DMA_BATCH,
				 self->unmaps, NR, &failed));
	EXPECT_EQ(5U, failed);
	self->unmaps[5].flags = 0;
	/* Nothing was unmapped by the failed batches. */
	for (i = 0; i < NR; i++)
		EXPECT_EQ(-EEXIST, map_one(self->fd, &self->maps[i]));
	EXPECT_EQ(0, batch(self->fd, VFIO_USER_UNMAP_DMA_BATCH, self->unmaps,
			   NR, NULL));
}

TEST_HARNESS_MAIN
