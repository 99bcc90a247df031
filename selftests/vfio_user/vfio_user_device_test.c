// SPDX-License-Identifier: GPL-2.0
/*
 * The VFIO device API of an attached device, against the sample server:
 * device, region and IRQ info; region reads and writes with their data
 * checked, split by the server's transfer limit and by the client's own;
 * mmap of the sparse areas; interrupts arriving on eventfds, their eventfds
 * split by the server's max_msg_fds, INTx masked and unmasked with and
 * without eventfds; reset; posted writes; many threads and many devices at
 * once.
 *
 * The sample server signals an interrupt's eventfd before it answers the
 * message that raised it, so once that call returns the eventfd shows
 * whether the interrupt fired: tests look at once, and wait (boundedly)
 * only for what the server does on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define CFG	VFIO_PCI_CONFIG_REGION_INDEX

FIXTURE(sample)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
};

FIXTURE_VARIANT(sample)
{
	unsigned int lib_flags;
	const char *server_arg;
};

FIXTURE_VARIANT_ADD(sample, twin_socket)
{
	.lib_flags = 0,
	.server_arg = NULL,
};

FIXTURE_VARIANT_ADD(sample, one_socket)
{
	.lib_flags = VUC_OPT_NO_TWIN_SOCKET,
	.server_arg = NULL,
};

FIXTURE_VARIANT_ADD(sample, lvu_io_fds_layout)
{
	.lib_flags = 0,
	.server_arg = "--io-fds-layout=lvu",
};

FIXTURE_SETUP(sample)
{
	const char *args[] = { variant->server_arg, NULL };
	struct vuc_options opts = { .flags = variant->lib_flags };

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_server_start(&self->srv, args));
	self->dev = vu_attach(self->srv.path, &opts);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(sample)
{
	if (self->dev)
		vuc_device_free(self->dev);
	/* The server must see the end of the connection and exit cleanly. */
	if (self->srv.pid > 0)
		EXPECT_EQ(0, vu_server_stop(&self->srv));
}

static uint32_t cfg_read32(int fd, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	if (pread(fd, &v, 4, vu_region_off(CFG, off)) != 4)
		return 0xdeadbeef;
	return v;
}

static int cfg_write16(int fd, uint32_t off, uint16_t v)
{
	return pwrite(fd, &v, 2, vu_region_off(CFG, off)) == 2 ? 0 : -errno;
}

static uint32_t bar0_read32(int fd, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	if (pread(fd, &v, 4, vu_region_off(0, off)) != 4)
		return 0xdeadbeef;
	return v;
}

static int bar0_write32(int fd, uint32_t off, uint32_t v)
{
	return pwrite(fd, &v, 4, vu_region_off(0, off)) == 4 ? 0 : -errno;
}

TEST_F(sample, device_info)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_irq_info irq = { .argsz = sizeof(irq) };
	static const uint32_t counts[] = { 1, 0, SAMPLE_MSIX_VECTORS, 1, 1 };
	unsigned int i;

	ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET, info.flags);
	EXPECT_EQ(SAMPLE_NUM_REGIONS, info.num_regions);
	EXPECT_EQ(SAMPLE_NUM_IRQS, info.num_irqs);

	for (i = 0; i < SAMPLE_NUM_IRQS; i++) {
		irq.index = i;
		ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_GET_IRQ_INFO, &irq));
		EXPECT_EQ(counts[i], irq.count);
		EXPECT_TRUE(irq.flags & VFIO_IRQ_INFO_EVENTFD);
	}
	irq.index = SAMPLE_NUM_IRQS;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(sample, region_info_and_caps)
{
	struct vfio_region_info *info;
	struct vfio_region_info_cap_sparse_mmap *sparse;
	size_t big = 4096;

	info = calloc(1, big);
	ASSERT_NE(NULL, info);

	/* First call with no room: the kernel says how much it needs. */
	info->argsz = sizeof(*info);
	info->index = 2;
	ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_GET_REGION_INFO, info));
	EXPECT_EQ((uint64_t)SAMPLE_BAR2_SIZE, info->size);
	/* As VFIO: the region's place on the device fd. */
	EXPECT_EQ(VFIO_USER_REGION_OFFSET(2), info->offset);
	EXPECT_TRUE(info->flags & VFIO_REGION_INFO_FLAG_MMAP);
	EXPECT_TRUE(info->flags & VFIO_REGION_INFO_FLAG_CAPS);
	EXPECT_EQ(0U, info->cap_offset);
	ASSERT_GT(info->argsz, sizeof(*info));
	ASSERT_LE(info->argsz, big);

	info->argsz = big;
	ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_GET_REGION_INFO, info));
	ASSERT_GE(info->cap_offset, sizeof(*info));
	sparse = (void *)((char *)info + info->cap_offset);
	EXPECT_EQ(VFIO_REGION_INFO_CAP_SPARSE_MMAP, sparse->header.id);
	ASSERT_EQ(2U, sparse->nr_areas);
	EXPECT_EQ((uint64_t)SAMPLE_BAR2_AREA0_OFFSET, sparse->areas[0].offset);
	EXPECT_EQ((uint64_t)SAMPLE_BAR2_AREA0_SIZE, sparse->areas[0].size);
	EXPECT_EQ((uint64_t)SAMPLE_BAR2_AREA1_OFFSET, sparse->areas[1].offset);
	EXPECT_EQ((uint64_t)SAMPLE_BAR2_AREA1_SIZE, sparse->areas[1].size);

	memset(info, 0, big);
	info->argsz = sizeof(*info);
	info->index = 0;
	ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_GET_REGION_INFO, info));
	EXPECT_EQ((uint64_t)SAMPLE_BAR0_SIZE, info->size);
	EXPECT_FALSE(info->flags & VFIO_REGION_INFO_FLAG_MMAP);
	info->index = CFG;
	ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_GET_REGION_INFO, info));
	EXPECT_EQ((uint64_t)SAMPLE_CONFIG_SIZE, info->size);
	info->index = 4;
	ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_GET_REGION_INFO, info));
	EXPECT_EQ(0ULL, info->size);
	free(info);
}

TEST_F(sample, config_space)
{
	uint32_t id = cfg_read32(self->fd, 0);
	uint8_t cap = 0;

	EXPECT_EQ(SAMPLE_VENDOR_ID, id & 0xffff);
	EXPECT_EQ(SAMPLE_DEVICE_ID, id >> 16);
	EXPECT_EQ((uint32_t)SAMPLE_CLASS_CODE, cfg_read32(self->fd, 8) >> 8);
	ASSERT_EQ(1, pread(self->fd, &cap, 1, vu_region_off(CFG, 0x34)));
	EXPECT_EQ(SAMPLE_CAP_MSIX_OFFSET, cap);
	/* Past the end of the region, and a region that cannot be read. */
	EXPECT_EQ(-1, pread(self->fd, &id, 4, vu_region_off(CFG, SAMPLE_CONFIG_SIZE)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(self->fd, &id, 4, vu_region_off(SAMPLE_NUM_REGIONS, 0)));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(sample, registers)
{
	uint64_t v64 = 0x0123456789abcdefULL, r64 = 0;

	EXPECT_EQ(SAMPLE_ID_VALUE, bar0_read32(self->fd, SAMPLE_REG_ID));
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_SCRATCH, 0xfeedf00d));
	EXPECT_EQ(0xfeedf00d, bar0_read32(self->fd, SAMPLE_REG_SCRATCH));
	ASSERT_EQ(8, pwrite(self->fd, &v64, 8, vu_region_off(0, SAMPLE_REG_SCRATCH64)));
	ASSERT_EQ(8, pread(self->fd, &r64, 8, vu_region_off(0, SAMPLE_REG_SCRATCH64)));
	EXPECT_EQ(v64, r64);
	/* The server refuses a read-only register write: its errno comes back. */
	EXPECT_EQ(-EINVAL, bar0_write32(self->fd, SAMPLE_REG_ID, 1));
}

/* Writes and reads larger than the server's 1 MiB transfer limit... */
TEST_F(sample, bulk_data_through_messages)
{
	size_t size = SAMPLE_BAR2_SIZE;
	uint8_t *out, *in;
	size_t i;

	out = malloc(size);
	in = malloc(size);
	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	for (i = 0; i < size; i++)
		out[i] = (uint8_t)(i * 7 + 3);
	ASSERT_EQ((ssize_t)size, pwrite(self->fd, out, size, vu_region_off(2, 0)));
	memset(in, 0, size);
	ASSERT_EQ((ssize_t)size, pread(self->fd, in, size, vu_region_off(2, 0)));
	EXPECT_EQ(0, memcmp(in, out, size));

	/* ...and odd sizes at odd offsets in the scratch RAM. */
	ASSERT_EQ(333, pwrite(self->fd, out + 5, 333,
			      vu_region_off(0, SAMPLE_SCRATCH_RAM_OFFSET + 17)));
	ASSERT_EQ(333, pread(self->fd, in, 333,
			     vu_region_off(0, SAMPLE_SCRATCH_RAM_OFFSET + 17)));
	EXPECT_EQ(0, memcmp(in, out + 5, 333));
	free(out);
	free(in);
}

TEST_F(sample, mmap_sparse_areas)
{
	uint8_t *a0, *a1, buf[16];
	long page = sysconf(_SC_PAGESIZE);

	a0 = mmap(NULL, SAMPLE_BAR2_AREA0_SIZE, PROT_READ | PROT_WRITE,
		  MAP_SHARED, self->fd, vu_region_off(2, SAMPLE_BAR2_AREA0_OFFSET));
	ASSERT_NE(MAP_FAILED, a0);
	a1 = mmap(NULL, SAMPLE_BAR2_AREA1_SIZE, PROT_READ | PROT_WRITE,
		  MAP_SHARED, self->fd, vu_region_off(2, SAMPLE_BAR2_AREA1_OFFSET));
	ASSERT_NE(MAP_FAILED, a1);

	/* A store through the mapping is what the server reads. */
	memcpy(a0 + 100, "through-mmap-000", 16);
	ASSERT_EQ(16, pread(self->fd, buf, 16, vu_region_off(2, 100)));
	EXPECT_EQ(0, memcmp(buf, "through-mmap-000", 16));
	/* A message write is what the mapping shows. */
	ASSERT_EQ(16, pwrite(self->fd, "through-message!", 16,
			     vu_region_off(2, SAMPLE_BAR2_AREA1_OFFSET + 64)));
	EXPECT_EQ(0, memcmp(a1 + 64, "through-message!", 16));

	/* Outside the areas (the hole), private, or across an area's end. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd,
				   vu_region_off(2, SAMPLE_BAR2_AREA0_SIZE)));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ, MAP_PRIVATE, self->fd,
				   vu_region_off(2, 0)));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, SAMPLE_BAR2_AREA0_SIZE + page, PROT_READ,
				   MAP_SHARED, self->fd, vu_region_off(2, 0)));
	/* Regions that are not mappable. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd,
				   vu_region_off(0, 0)));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd,
				   vu_region_off(CFG, 0)));
	munmap(a0, SAMPLE_BAR2_AREA0_SIZE);
	munmap(a1, SAMPLE_BAR2_AREA1_SIZE);
}

/* SET_IRQS with DATA_EVENTFD and @action. */
static int set_irqs_fds(int fd, uint32_t action, uint32_t index,
			uint32_t start, uint32_t count, const int32_t *fds)
{
	char buf[sizeof(struct vfio_irq_set) + 64 * sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;

	set->argsz = sizeof(*set) + count * sizeof(int32_t);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | action;
	set->index = index;
	set->start = start;
	set->count = count;
	memcpy(set->data, fds, count * sizeof(int32_t));
	return ioctl(fd, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

static int set_irq_eventfds(int fd, uint32_t index, uint32_t start,
			    uint32_t count, const int32_t *fds)
{
	return set_irqs_fds(fd, VFIO_IRQ_SET_ACTION_TRIGGER, index, start,
			    count, fds);
}

TEST_F(sample, msix_interrupts_on_eventfds)
{
	int32_t efd[SAMPLE_MSIX_VECTORS];
	uint16_t ctrl = 0;
	int i;

	for (i = 0; i < SAMPLE_MSIX_VECTORS; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ASSERT_LE(0, efd[i]);
	}
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_MSIX_IRQ_INDEX, 0,
				      SAMPLE_MSIX_VECTORS, efd));
	/* Enable MSI-X in the capability's message control. */
	ASSERT_EQ(2, pread(self->fd, &ctrl, 2,
			   vu_region_off(CFG, SAMPLE_CAP_MSIX_OFFSET + 2)));
	ASSERT_EQ(0, cfg_write16(self->fd, SAMPLE_CAP_MSIX_OFFSET + 2,
				 ctrl | 0x8000));

	for (i = 0; i < SAMPLE_MSIX_VECTORS; i++) {
		ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_IRQ_TRIGGER, i));
		ASSERT_EQ(1, vu_wait_readable(efd[i], 0)) TH_LOG("vector %d", i);
		EXPECT_EQ(1ULL, vu_eventfd_read(efd[i]));
	}
	EXPECT_EQ((uint32_t)SAMPLE_MSIX_VECTORS,
		  bar0_read32(self->fd, SAMPLE_REG_IRQ_COUNT));

	/* De-assign vector 1 (-1): its trigger no longer reaches us. */
	efd[0] = -1;
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1, efd));
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_IRQ_TRIGGER, 1));
	EXPECT_EQ(0, vu_wait_readable(efd[1], 0));

	/* Out of range, and not an eventfd. */
	EXPECT_EQ(-EINVAL, set_irq_eventfds(self->fd, VFIO_PCI_MSIX_IRQ_INDEX,
					    SAMPLE_MSIX_VECTORS, 1, efd + 2));
	efd[0] = self->fd;
	EXPECT_EQ(-EINVAL, set_irq_eventfds(self->fd, VFIO_PCI_MSIX_IRQ_INDEX,
					    0, 1, efd));
	for (i = 1; i < SAMPLE_MSIX_VECTORS; i++)
		close(efd[i]);
}

static int set_irqs_plain(int fd, uint32_t flags, uint32_t index,
			  uint32_t start, uint32_t count, const uint8_t *bools)
{
	char buf[sizeof(struct vfio_irq_set) + 64];
	struct vfio_irq_set *set = (void *)buf;

	set->argsz = sizeof(*set) + (bools ? count : 0);
	set->flags = flags;
	set->index = index;
	set->start = start;
	set->count = count;
	if (bools)
		memcpy(set->data, bools, count);
	return ioctl(fd, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

/* The DATA and ACTION combinations VFIO allows reach the server intact. */
TEST_F(sample, irq_actions)
{
	const uint32_t msix = VFIO_PCI_MSIX_IRQ_INDEX;
	int32_t efd[2];
	uint8_t on[2] = { 1, 0 };
	uint16_t ctrl = 0x8000 | (SAMPLE_MSIX_VECTORS - 1);

	efd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	efd[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, efd[0]);
	ASSERT_LE(0, efd[1]);
	ASSERT_EQ(0, set_irq_eventfds(self->fd, msix, 0, 2, efd));
	ASSERT_EQ(0, cfg_write16(self->fd, SAMPLE_CAP_MSIX_OFFSET + 2, ctrl));

	/* DATA_NONE | TRIGGER fires both; DATA_BOOL | TRIGGER only the set one. */
	ASSERT_EQ(0, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_TRIGGER, msix, 0, 2, NULL));
	ASSERT_EQ(1, vu_wait_readable(efd[0], 0));
	ASSERT_EQ(1, vu_wait_readable(efd[1], 0));
	vu_eventfd_read(efd[0]);
	vu_eventfd_read(efd[1]);
	ASSERT_EQ(0, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_BOOL |
				    VFIO_IRQ_SET_ACTION_TRIGGER, msix, 0, 2, on));
	ASSERT_EQ(1, vu_wait_readable(efd[0], 0));
	EXPECT_EQ(0, vu_wait_readable(efd[1], 0));
	vu_eventfd_read(efd[0]);

	/* A masked vector holds its interrupt until unmasked. */
	ASSERT_EQ(0, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_MASK, msix, 0, 1, NULL));
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_IRQ_TRIGGER, 0));
	EXPECT_EQ(0, vu_wait_readable(efd[0], 0));
	ASSERT_EQ(0, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_UNMASK, msix, 0, 1, NULL));
	ASSERT_EQ(1, vu_wait_readable(efd[0], 0));
	vu_eventfd_read(efd[0]);

	/* Count 0 with DATA_NONE | TRIGGER turns the whole index off. */
	ASSERT_EQ(0, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_TRIGGER, msix, 0, 0, NULL));
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_IRQ_TRIGGER, 1));
	EXPECT_EQ(0, vu_wait_readable(efd[1], 0));

	/* What VFIO refuses, the kernel refuses before the server sees it. */
	EXPECT_EQ(-EINVAL, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_DATA_BOOL |
					  VFIO_IRQ_SET_ACTION_TRIGGER, msix, 0, 1, NULL));
	EXPECT_EQ(-EINVAL, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_MASK |
					  VFIO_IRQ_SET_ACTION_TRIGGER, msix, 0, 1, NULL));
	EXPECT_EQ(-EINVAL, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_TRIGGER | (1U << 10),
					  msix, 0, 1, NULL));
	EXPECT_EQ(-EINVAL, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_TRIGGER, msix, 3, 2, NULL));
	EXPECT_EQ(-EINVAL, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
					  VFIO_IRQ_SET_ACTION_TRIGGER, 9, 0, 1, NULL));
	EXPECT_EQ(-EINVAL, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_BOOL |
					  VFIO_IRQ_SET_ACTION_MASK, 0, 0, 0, NULL));
	close(efd[0]);
	close(efd[1]);
}

TEST_F(sample, msix_table_bar)
{
	uint32_t entry[4] = { 0xfee00000, 0, 0x4041, 0 }, back[4] = { 0 };

	ASSERT_EQ(16, pwrite(self->fd, entry, 16, vu_region_off(SAMPLE_MSIX_TABLE_BAR,
					SAMPLE_MSIX_TABLE_OFFSET + 16)));
	ASSERT_EQ(16, pread(self->fd, back, 16, vu_region_off(SAMPLE_MSIX_TABLE_BAR,
					SAMPLE_MSIX_TABLE_OFFSET + 16)));
	EXPECT_EQ(0, memcmp(entry, back, 16));
}

/* Commands the kernel does not interpret go through VFIO_USER_RAW_MSG. */
TEST_F(sample, raw_message)
{
	struct vfio_user_device_feature feat = {
		.argsz = sizeof(feat) + 8,
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | 1,
	};
	uint8_t reply[64];
	struct vfio_user_raw_msg m = {
		.argsz = sizeof(m), .cmd = VFIO_USER_DEVICE_FEATURE,
		.request_size = sizeof(feat), .reply_size = sizeof(reply),
		.request = (uintptr_t)&feat, .reply = (uintptr_t)reply,
	};
	struct vfio_user_raw_msg bad;

	/* The sample migrates: PROBE of the feature comes back as an echo... */
	EXPECT_EQ(0, ioctl(self->fd, VFIO_USER_RAW_MSG, &m));
	EXPECT_EQ(sizeof(feat), m.reply_size);
	EXPECT_EQ(0, memcmp(reply + 4, &feat.flags, 4));
	/* ...a feature it lacks gets the server's EINVAL... */
	feat.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | 0x7ff;
	m.reply_size = sizeof(reply);
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_RAW_MSG, &m));
	EXPECT_EQ(EINVAL, errno);
	/* ...and the connection stays healthy. */
	EXPECT_EQ(SAMPLE_ID_VALUE, bar0_read32(self->fd, SAMPLE_REG_ID));

	bad = m;
	bad.cmd = VFIO_USER_REGION_READ;	/* not on the allow-list */
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_RAW_MSG, &bad));
	EXPECT_EQ(EPERM, errno);
	bad = m;
	bad.cmd = VFIO_USER_DEVICE_SET_IRQS;	/* carries fds: never raw */
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_RAW_MSG, &bad));
	EXPECT_EQ(EPERM, errno);
	bad = m;
	bad.request_size = 64 << 20;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_RAW_MSG, &bad));
	EXPECT_EQ(EINVAL, errno);
	bad = m;
	bad.reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_RAW_MSG, &bad));
	EXPECT_EQ(EINVAL, errno);
}

/* The sample's doorbells are ioeventfds: a write never goes on the socket. */
TEST_F(sample, doorbell_through_ioeventfd)
{
	struct vfio_user_stats a = { .argsz = sizeof(a) }, b = { .argsz = sizeof(b) };
	int i;

	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &a));
	for (i = 0; i < 10; i++)
		ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_DOORBELL, i));
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_DOORBELL_DM,
				  SAMPLE_DOORBELL_DM_VALUE));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &b));
	EXPECT_EQ(a.msgs_sent, b.msgs_sent);
	/* The server counted them from its eventfds. */
	EXPECT_EQ(10U, bar0_read32(self->fd, SAMPLE_REG_DOORBELL_COUNT));
	EXPECT_EQ(1U, bar0_read32(self->fd, SAMPLE_REG_DOORBELL_DM_COUNT));
	/* A value that does not match is a message, and not counted as one. */
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_DOORBELL_DM, 1));
	EXPECT_EQ(1U, bar0_read32(self->fd, SAMPLE_REG_DOORBELL_DM_COUNT));
}

/* The mailbox is an ioregionfd served by the sample server. */
TEST_F(sample, mailbox_through_ioregionfd)
{
	struct vfio_user_stats a = { .argsz = sizeof(a) }, b = { .argsz = sizeof(b) };
	uint64_t v = 0x0102030405060708ULL, r = 0;
	uint32_t v32 = 0;

	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &a));
	ASSERT_EQ(8, pwrite(self->fd, &v, 8, vu_region_off(0, SAMPLE_MAILBOX_OFFSET + 8)));
	ASSERT_EQ(8, pread(self->fd, &r, 8, vu_region_off(0, SAMPLE_MAILBOX_OFFSET + 8)));
	EXPECT_EQ(v, r);
	ASSERT_EQ(4, pread(self->fd, &v32, 4, vu_region_off(0, SAMPLE_MAILBOX_OFFSET + 12)));
	EXPECT_EQ(0x01020304U, v32);
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &b));
	EXPECT_EQ(a.msgs_sent, b.msgs_sent);
}

/* Wiring the doorbells into KVM needs /dev/kvm. */
TEST_F(sample, kvm_ioeventfds)
{
	struct kvm_ioeventfd again = { 0 };
	int kvm, vm, n;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		SKIP(return, "no /dev/kvm here (software emulation, no accelerator)");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	ASSERT_LE(0, vm);
	n = vuc_kvm_wire_ioeventfds(self->dev, vm, 0, 0xfe000000);
	EXPECT_EQ(2, n) TH_LOG("%s", vuc_strerror(self->dev));
	/* Registered: the same doorbell again collides. */
	again.addr = 0xfe000000 + SAMPLE_REG_DOORBELL;
	again.len = 4;
	again.fd = eventfd(0, EFD_CLOEXEC);
	EXPECT_EQ(-1, ioctl(vm, KVM_IOEVENTFD, &again));
	EXPECT_EQ(EEXIST, errno);
	close(again.fd);
	close(vm);
	close(kvm);
}

TEST_F(sample, intx_interrupt)
{
	int32_t efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd));
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_IRQ_TRIGGER, 0));
	ASSERT_EQ(1, vu_wait_readable(efd, 0));
	EXPECT_EQ(1ULL, vu_eventfd_read(efd));
	close(efd);
}

TEST_F(sample, reset)
{
	uint32_t resets = bar0_read32(self->fd, SAMPLE_REG_RESET_COUNT);

	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_SCRATCH, 0x1234));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_RESET));
	EXPECT_EQ(resets + 1, bar0_read32(self->fd, SAMPLE_REG_RESET_COUNT));
	EXPECT_EQ(0U, bar0_read32(self->fd, SAMPLE_REG_SCRATCH));
}

TEST_F(sample, stats_count_messages)
{
	struct vfio_user_stats a = { .argsz = sizeof(a) }, b = { .argsz = sizeof(b) };

	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &a));
	bar0_read32(self->fd, SAMPLE_REG_ID);
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &b));
	EXPECT_EQ(a.msgs_sent + 1, b.msgs_sent);
	EXPECT_EQ(a.msgs_received + 1, b.msgs_received);
	EXPECT_EQ(a.bytes_sent + 32, b.bytes_sent);
	EXPECT_EQ(a.bytes_received + 36, b.bytes_received);
	EXPECT_EQ(0U, b.flags);
}

struct rw_thread {
	int fd;
	unsigned int id;
	int errors;
};

static void *rw_worker(void *arg)
{
	struct rw_thread *t = arg;
	uint64_t base = (uint64_t)t->id * 0x10000 + 0x1000;
	uint8_t out[4096], in[4096];
	int round;
	size_t i;

	for (round = 0; round < 50; round++) {
		for (i = 0; i < sizeof(out); i++)
			out[i] = (uint8_t)(t->id * 31 + round * 7 + i);
		if (pwrite(t->fd, out, sizeof(out), vu_region_off(2, base)) !=
		    sizeof(out) ||
		    pread(t->fd, in, sizeof(in), vu_region_off(2, base)) !=
		    sizeof(in) || memcmp(in, out, sizeof(in)))
			t->errors++;
	}
	return NULL;
}

TEST_F(sample, eight_threads_keep_data_intact)
{
	struct rw_thread t[8];
	pthread_t tid[8];
	int i;

	for (i = 0; i < 8; i++) {
		t[i] = (struct rw_thread){ .fd = self->fd, .id = i };
		ASSERT_EQ(0, pthread_create(&tid[i], NULL, rw_worker, &t[i]));
	}
	for (i = 0; i < 8; i++) {
		pthread_join(tid[i], NULL);
		EXPECT_EQ(0, t[i].errors) TH_LOG("thread %d", i);
	}
}

TEST_F(sample, err_req_eventfds_fire_when_server_dies)
{
	int32_t efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int32_t rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint32_t v;

	ASSERT_LE(0, efd);
	ASSERT_LE(0, rfd);
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_ERR_IRQ_INDEX, 0, 1, &efd));
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, &rfd));
	EXPECT_EQ(0, vu_wait_readable(efd, 0));
	kill(self->srv.pid, SIGKILL);
	waitpid(self->srv.pid, NULL, 0);
	self->srv.pid = 0;

	/* The kernel notices the end of file on its own: wait for it. */
	ASSERT_EQ(1, vu_wait_readable(efd, VU_WAIT_MS));
	ASSERT_EQ(1, vu_wait_readable(rfd, VU_WAIT_MS));
	close(rfd);
	EXPECT_EQ(POLLHUP | POLLERR, vu_wait_broken(self->fd, VU_WAIT_MS));
	EXPECT_EQ(-1, pread(self->fd, &v, 4, vu_region_off(0, 0)));
	EXPECT_EQ(ENOTCONN, errno);
	close(efd);
}

/*
 * Closing the device is not a failure: the ERR eventfd stays quiet. (The
 * kernel would signal it while releasing the fd, before close() returns;
 * the wait only gives a wrong implementation extra room to show itself.)
 */
TEST_F(sample, no_err_signal_on_close)
{
	int32_t efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_ERR_IRQ_INDEX, 0, 1, &efd));
	vuc_device_free(self->dev);
	self->dev = NULL;
	EXPECT_EQ(0, vu_wait_readable(efd, 200));
	close(efd);
}

/* Posted writes need a device the VMM has not mapped: their own fixture. */
FIXTURE(posted)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
};

FIXTURE_SETUP(posted)
{
	struct vuc_options opts = { .posted_write_regions = 1U << 0 };

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	self->dev = vu_attach(self->srv.path, &opts);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
}

FIXTURE_TEARDOWN(posted)
{
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		EXPECT_EQ(0, vu_server_stop(&self->srv));
}

TEST_F(posted, write_visible_to_next_read)
{
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	uint32_t i;
	void *map;

	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_SCRATCH, i));
		ASSERT_EQ(i, bar0_read32(self->fd, SAMPLE_REG_SCRATCH));
	}
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &st));
	EXPECT_EQ(100ULL, st.posted_writes);

	/* Once the device is mapped, writes wait for their replies. */
	map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->fd,
		   vu_region_off(2, 0));
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_SCRATCH, 7));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &st));
	EXPECT_EQ(100ULL, st.posted_writes);
	/* A refused posted write cannot report; a waited one does. */
	EXPECT_EQ(-EINVAL, bar0_write32(self->fd, SAMPLE_REG_ID, 1));
	munmap(map, 4096);
}

/*
 * Tests that create their own servers. Many devices take a minute on an
 * emulated debug kernel and more under load: a limit of ten.
 */
FIXTURE(many)
{
};

FIXTURE_SETUP(many)
{
}

FIXTURE_TEARDOWN(many)
{
}

TEST_F_TIMEOUT(many, sixty_four_devices_at_once, 600)
{
	enum { NR = 64 };
	struct vu_server *srv = calloc(NR, sizeof(*srv));
	struct vuc_device **dev = calloc(NR, sizeof(*dev));
	int i;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_NE(NULL, srv);
	ASSERT_NE(NULL, dev);
	for (i = 0; i < NR; i++) {
		ASSERT_EQ(0, vu_server_start(&srv[i], NULL)) TH_LOG("server %d", i);
		dev[i] = vu_attach(srv[i].path, NULL);
		ASSERT_NE(NULL, dev[i]) TH_LOG("device %d", i);
	}
	for (i = 0; i < NR; i++) {
		int fd = vuc_device_fd(dev[i]);

		ASSERT_EQ(0, bar0_write32(fd, SAMPLE_REG_SCRATCH, 0x1000 + i));
	}
	for (i = 0; i < NR; i++) {
		int fd = vuc_device_fd(dev[i]);

		EXPECT_EQ(SAMPLE_ID_VALUE, bar0_read32(fd, SAMPLE_REG_ID));
		EXPECT_EQ(0x1000U + i, bar0_read32(fd, SAMPLE_REG_SCRATCH));
	}
	for (i = 0; i < NR; i++) {
		vuc_device_free(dev[i]);
		EXPECT_EQ(0, vu_server_stop(&srv[i]));
	}
	free(srv);
	free(dev);
}

/* A sample server with options of its own, for the tests of its limits. */
FIXTURE(custom)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
};

FIXTURE_SETUP(custom)
{
	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
}

FIXTURE_TEARDOWN(custom)
{
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		EXPECT_EQ(0, vu_server_stop(&self->srv));
}

/* Start the server with @args and attach to it with @opts. */
static int custom_start(FIXTURE_DATA(custom) *self, const char *const *args,
			const struct vuc_options *opts)
{
	int ret = vu_server_start(&self->srv, args);

	if (ret)
		return ret;
	self->dev = vu_attach(self->srv.path, opts);
	if (!self->dev)
		return -EIO;
	self->fd = vuc_device_fd(self->dev);
	return 0;
}

static int msix_enable(int fd, unsigned int nr_vectors)
{
	return cfg_write16(fd, SAMPLE_CAP_MSIX_OFFSET + 2,
			   0x8000 | (uint16_t)(nr_vectors - 1));
}

/* Read every eventfd: which of them fired since the last look. */
static uint64_t fired_mask(const int32_t *efd, unsigned int n)
{
	uint64_t mask = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		if (efd[i] >= 0 && vu_eventfd_read(efd[i]))
			mask |= 1ULL << i;
	return mask;
}

/*
 * Eventfds for more vectors than the server takes fds in one message: the
 * kernel splits them into several SET_IRQS, and a de-assigned vector in the
 * middle into a message of its own without fds. Every vector's own eventfd
 * fires, and no other.
 */
#define SPLIT_VECTORS	20
#define SPLIT_MAX_FDS	3
#define SPLIT_HOLE	7	/* de-assigned */

TEST_F(custom, set_irqs_split_by_max_msg_fds)
{
	const char *args[] = { "--max-msg-fds=3", "--msix-vectors=20", NULL };
	struct vfio_irq_info irq = {
		.argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX,
	};
	int32_t efd[SPLIT_VECTORS];
	uint32_t messages;
	unsigned int i;

	ASSERT_EQ(0, custom_start(self, args, NULL));
	ASSERT_EQ(SPLIT_MAX_FDS, vuc_get_caps(self->dev)->max_msg_fds);
	ASSERT_EQ(0, ioctl(self->fd, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	ASSERT_EQ(SPLIT_VECTORS, irq.count);

	for (i = 0; i < SPLIT_VECTORS; i++) {
		efd[i] = i == SPLIT_HOLE ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (i != SPLIT_HOLE)
			ASSERT_LE(0, efd[i]);
	}
	messages = bar0_read32(self->fd, SAMPLE_REG_SET_IRQS_COUNT);
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_MSIX_IRQ_INDEX, 0,
				      SPLIT_VECTORS, efd));
	/*
	 * 7 assigned, 1 hole, 12 assigned: at least 3 + 1 + 4 messages, none
	 * with more fds than advertised (the server refuses those).
	 */
	messages = bar0_read32(self->fd, SAMPLE_REG_SET_IRQS_COUNT) - messages;
	EXPECT_LE(8U, messages);
	EXPECT_GE((uint32_t)SPLIT_MAX_FDS,
		  bar0_read32(self->fd, SAMPLE_REG_SET_IRQS_MAX_FDS));
	EXPECT_LE(1U, bar0_read32(self->fd, SAMPLE_REG_SET_IRQS_MAX_FDS));

	ASSERT_EQ(0, msix_enable(self->fd, SPLIT_VECTORS));
	for (i = 0; i < SPLIT_VECTORS; i++) {
		ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_IRQ_TRIGGER, i));
		EXPECT_EQ(i == SPLIT_HOLE ? 0 : 1ULL << i,
			  fired_mask(efd, SPLIT_VECTORS)) TH_LOG("vector %u", i);
	}
	EXPECT_EQ(SPLIT_VECTORS - 1U, bar0_read32(self->fd, SAMPLE_REG_IRQ_COUNT));

	/* De-assigning them all takes one message without fds. */
	messages = bar0_read32(self->fd, SAMPLE_REG_SET_IRQS_COUNT);
	ASSERT_EQ(0, set_irqs_plain(self->fd, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_TRIGGER,
				    VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL));
	EXPECT_EQ(messages + 1, bar0_read32(self->fd, SAMPLE_REG_SET_IRQS_COUNT));
	ASSERT_EQ(0, bar0_write32(self->fd, SAMPLE_REG_IRQ_TRIGGER, 0));
	EXPECT_EQ(0ULL, fired_mask(efd, SPLIT_VECTORS));
	for (i = 0; i < SPLIT_VECTORS; i++)
		if (efd[i] >= 0)
			close(efd[i]);
}

/* A server that takes no fds: eventfds cannot be set, de-assigning can. */
TEST_F(custom, no_eventfds_for_a_server_without_fds)
{
	const char *args[] = { "--max-msg-fds=0", NULL };
	int32_t efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), none = -1;

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, custom_start(self, args, NULL));
	EXPECT_EQ(-EOPNOTSUPP, set_irq_eventfds(self->fd, VFIO_PCI_INTX_IRQ_INDEX,
						0, 1, &efd));
	EXPECT_EQ(0U, bar0_read32(self->fd, SAMPLE_REG_SET_IRQS_COUNT));
	EXPECT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_INTX_IRQ_INDEX, 0, 1,
				      &none));
	EXPECT_EQ(1U, bar0_read32(self->fd, SAMPLE_REG_SET_IRQS_COUNT));
	close(efd);
}

/* A pattern no shifted or repeated chunk reproduces. */
static void fill_pattern(uint8_t *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131 + (i >> 8) * 7 + seed) ^ (i >> 16));
}

/*
 * One pwrite and one pread far larger than the server's max_data_xfer_size
 * (an odd 1000 bytes, at an odd offset): the kernel splits them into
 * messages the server takes, and the data arrives whole and in place.
 */
#define SERVER_XFER	1000
#define BIG_ACCESS	(100 * 1000 + 7)

TEST_F(custom, region_access_split_by_server_max_data_xfer_size)
{
	const char *args[] = { "--max-data-xfer-size=1000", NULL };
	struct vfio_user_stats a = { .argsz = sizeof(a) }, b = { .argsz = sizeof(b) };
	uint8_t *out = malloc(BIG_ACCESS), *in = malloc(BIG_ACCESS);
	const off_t where = vu_region_off(2, 12345);

	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	ASSERT_EQ(0, custom_start(self, args, NULL));
	ASSERT_EQ(SERVER_XFER, vuc_get_caps(self->dev)->max_data_xfer_size);
	fill_pattern(out, BIG_ACCESS, 1);
	memset(in, 0, BIG_ACCESS);

	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &a));
	ASSERT_EQ(BIG_ACCESS, pwrite(self->fd, out, BIG_ACCESS, where));
	ASSERT_EQ(BIG_ACCESS, pread(self->fd, in, BIG_ACCESS, where));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &b));
	EXPECT_EQ(0, memcmp(in, out, BIG_ACCESS));
	/* At least one message per limit's worth, each way. */
	EXPECT_LE(a.msgs_sent + 2 * ((BIG_ACCESS + SERVER_XFER - 1) / SERVER_XFER),
		  b.msgs_sent);

	/* The server never got an access over its limit, and refused none. */
	EXPECT_GE((uint32_t)SERVER_XFER, bar0_read32(self->fd, SAMPLE_REG_XFER_MAX));
	EXPECT_EQ(0U, bar0_read32(self->fd, SAMPLE_REG_XFER_REFUSED));

	/* Where the accesses end: the bytes around them are untouched. */
	ASSERT_EQ(1, pread(self->fd, in, 1, where - 1));
	EXPECT_EQ(0, in[0]);
	ASSERT_EQ(1, pread(self->fd, in, 1, where + BIG_ACCESS));
	EXPECT_EQ(0, in[0]);
	free(out);
	free(in);
}

/*
 * A read larger than the client's own receive limit (the max_data_xfer_size
 * the library offered) is split by that limit, even though the server would
 * take larger requests: no reply carries more than the client said it can
 * receive. (The server refuses a read that asks for more.)
 */
#define CLIENT_XFER	4096
#define BIG_READ	(64 * 1024 + 5)

TEST_F(custom, read_split_by_client_max_data_xfer_size)
{
	struct vuc_options opts = { .max_data_xfer_size = CLIENT_XFER };
	uint8_t *out = malloc(BIG_READ), *in = malloc(BIG_READ);
	const off_t where = vu_region_off(2, 3);
	size_t done;

	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	ASSERT_EQ(0, custom_start(self, NULL, &opts));
	ASSERT_LT((uint32_t)CLIENT_XFER, vuc_get_caps(self->dev)->max_data_xfer_size);
	fill_pattern(out, BIG_READ, 2);
	memset(in, 0, BIG_READ);

	/* Written in pieces within the limit, so only the read can exceed it. */
	for (done = 0; done < BIG_READ; done += CLIENT_XFER) {
		size_t n = BIG_READ - done < CLIENT_XFER ? BIG_READ - done : CLIENT_XFER;

		ASSERT_EQ((ssize_t)n, pwrite(self->fd, out + done, n, where + done));
	}
	ASSERT_EQ(BIG_READ, pread(self->fd, in, BIG_READ, where));
	EXPECT_EQ(0, memcmp(in, out, BIG_READ));
	EXPECT_GE((uint32_t)CLIENT_XFER, bar0_read32(self->fd, SAMPLE_REG_XFER_MAX));
	EXPECT_EQ(0U, bar0_read32(self->fd, SAMPLE_REG_XFER_REFUSED));
	free(out);
	free(in);
}

/* INTx: a trigger eventfd, and what SET_IRQS does to it. */
static int intx_set(int fd, uint32_t flags, const void *data)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;
	size_t len = 0;

	if (flags & VFIO_IRQ_SET_DATA_BOOL)
		len = 1;
	else if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
		len = sizeof(int32_t);
	set->argsz = sizeof(*set) + len;
	set->flags = flags;
	set->index = VFIO_PCI_INTX_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	if (data)	/* NULL with VFIO_IRQ_SET_DATA_NONE */
		memcpy(set->data, data, len);
	return ioctl(fd, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

#define INTX_MASK	VFIO_IRQ_SET_ACTION_MASK
#define INTX_UNMASK	VFIO_IRQ_SET_ACTION_UNMASK

/* Raise INTx; did its eventfd fire? */
static bool intx_fires(int fd, int efd)
{
	if (bar0_write32(fd, SAMPLE_REG_IRQ_TRIGGER, 0))
		return false;
	return vu_eventfd_read(efd) != 0;
}

/*
 * MASK and UNMASK with DATA_NONE and DATA_BOOL: a masked INTx holds the
 * interrupt and delivers it on unmask; a false BOOL does nothing.
 */
TEST_F(sample, intx_mask_unmask_none_and_bool)
{
	int32_t efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	const uint8_t yes = 1, no = 0;

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd));
	ASSERT_TRUE(intx_fires(self->fd, efd));

	ASSERT_EQ(0, intx_set(self->fd, INTX_MASK | VFIO_IRQ_SET_DATA_NONE, NULL));
	EXPECT_FALSE(intx_fires(self->fd, efd));
	EXPECT_EQ(1U, bar0_read32(self->fd, SAMPLE_REG_IRQ_COUNT));
	/* BOOL false: still masked. */
	ASSERT_EQ(0, intx_set(self->fd, INTX_UNMASK | VFIO_IRQ_SET_DATA_BOOL, &no));
	EXPECT_EQ(0ULL, vu_eventfd_read(efd));
	ASSERT_EQ(0, intx_set(self->fd, INTX_UNMASK | VFIO_IRQ_SET_DATA_BOOL, &yes));
	EXPECT_EQ(1ULL, vu_eventfd_read(efd));	/* the held interrupt */
	EXPECT_EQ(2U, bar0_read32(self->fd, SAMPLE_REG_IRQ_COUNT));
	EXPECT_TRUE(intx_fires(self->fd, efd));

	/* BOOL false does not mask; true does; NONE unmasks. */
	ASSERT_EQ(0, intx_set(self->fd, INTX_MASK | VFIO_IRQ_SET_DATA_BOOL, &no));
	EXPECT_TRUE(intx_fires(self->fd, efd));
	ASSERT_EQ(0, intx_set(self->fd, INTX_MASK | VFIO_IRQ_SET_DATA_BOOL, &yes));
	EXPECT_FALSE(intx_fires(self->fd, efd));
	ASSERT_EQ(0, intx_set(self->fd, INTX_UNMASK | VFIO_IRQ_SET_DATA_NONE, NULL));
	EXPECT_EQ(1ULL, vu_eventfd_read(efd));
	EXPECT_EQ(5U, bar0_read32(self->fd, SAMPLE_REG_IRQ_COUNT));
	close(efd);
}

/*
 * MASK and UNMASK with DATA_EVENTFD: the eventfds reach the server, which
 * masks or unmasks INTx when the client signals them (irqfd-style, as KVM's
 * resamplefd unmasks INTx on EOI); -1 takes them away again.
 */
TEST_F(sample, intx_mask_unmask_eventfds)
{
	int32_t efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int32_t mask = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int32_t unmask = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	const int32_t none = -1;
	uint64_t one = 1;

	ASSERT_LE(0, efd);
	ASSERT_LE(0, mask);
	ASSERT_LE(0, unmask);
	ASSERT_EQ(0, set_irq_eventfds(self->fd, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd));
	ASSERT_EQ(0, intx_set(self->fd, INTX_MASK | VFIO_IRQ_SET_DATA_EVENTFD, &mask));
	ASSERT_EQ(0, intx_set(self->fd, INTX_UNMASK | VFIO_IRQ_SET_DATA_EVENTFD,
			      &unmask));
	ASSERT_TRUE(intx_fires(self->fd, efd));

	/* A signal sent before a message acts before it. */
	ASSERT_EQ(8, write(mask, &one, 8));
	EXPECT_FALSE(intx_fires(self->fd, efd));
	EXPECT_EQ(0ULL, vu_eventfd_read(mask));	/* the server took it */

	/* The server acts on the unmask eventfd by itself: wait for it. */
	ASSERT_EQ(8, write(unmask, &one, 8));
	ASSERT_EQ(1, vu_wait_readable(efd, VU_WAIT_MS));
	EXPECT_EQ(1ULL, vu_eventfd_read(efd));	/* the held interrupt */
	EXPECT_EQ(0ULL, vu_eventfd_read(unmask));
	EXPECT_TRUE(intx_fires(self->fd, efd));

	/* Without an unmask eventfd, a signal on the old one does nothing. */
	ASSERT_EQ(0, intx_set(self->fd, INTX_UNMASK | VFIO_IRQ_SET_DATA_EVENTFD,
			      &none));
	ASSERT_EQ(0, intx_set(self->fd, INTX_MASK | VFIO_IRQ_SET_DATA_NONE, NULL));
	EXPECT_FALSE(intx_fires(self->fd, efd));
	ASSERT_EQ(8, write(unmask, &one, 8));
	EXPECT_EQ(3U, bar0_read32(self->fd, SAMPLE_REG_IRQ_COUNT));
	EXPECT_EQ(0ULL, vu_eventfd_read(efd));
	EXPECT_EQ(1ULL, vu_eventfd_read(unmask));	/* nobody took it */
	ASSERT_EQ(0, intx_set(self->fd, INTX_UNMASK | VFIO_IRQ_SET_DATA_NONE, NULL));
	EXPECT_EQ(1ULL, vu_eventfd_read(efd));

	/* The mask eventfd goes the same way. */
	ASSERT_EQ(0, intx_set(self->fd, INTX_MASK | VFIO_IRQ_SET_DATA_EVENTFD, &none));
	ASSERT_EQ(8, write(mask, &one, 8));
	EXPECT_TRUE(intx_fires(self->fd, efd));
	EXPECT_EQ(1ULL, vu_eventfd_read(mask));

	EXPECT_EQ(5U, bar0_read32(self->fd, SAMPLE_REG_IRQ_COUNT));

	/* Only INTx has them (as in vfio-pci): the server says no for MSI-X. */
	EXPECT_EQ(-EINVAL, set_irqs_fds(self->fd, VFIO_IRQ_SET_ACTION_UNMASK,
					VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &unmask));
	close(efd);
	close(mask);
	close(unmask);
}

TEST_HARNESS_MAIN
