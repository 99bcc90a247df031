// SPDX-License-Identifier: BSD-3-Clause
/*
 * The library against the real sample server (samples/server): negotiate
 * with and without the twin socket, discover every region and IRQ that
 * samples/sample-device.h describes, read config space, drive BAR0.
 *
 * The server comes from $VFIO_USER_SAMPLE_SERVER, else
 * ../bin/vfio-user-sample-server next to this program; without it the
 * tests are skipped. It serves one end of a socketpair (--fd=N) and exits
 * when we close ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "test_common.h"
#include "sample-device.h"

static bool find_server(char *path, size_t len)
{
	const char *env = getenv("VFIO_USER_SAMPLE_SERVER");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(path, len, "%s", env);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return false;
		exe[n] = '\0';
		snprintf(path, len, "%s/../bin/vfio-user-sample-server",
			 dirname(exe));
	}
	return access(path, X_OK) == 0;
}

FIXTURE(sample) {
	struct fsrv *s;		/* unused; CHECK_CLEAN wants it */
	struct vuc_device *dev;
	struct vuc_options opts;
	pid_t pid;
	int fds_before;
};

FIXTURE_SETUP(sample)
{
	self->fds_before = count_open_fds();
	self->pid = -1;
	self->opts.timeout_ms = 5000;
}

/* The server exits by itself once our end of the socket is closed. */
static int reap(pid_t pid)
{
	int status, i;

	for (i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		fsrv_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

FIXTURE_TEARDOWN(sample)
{
	vuc_device_free(self->dev);
	self->dev = NULL;
	if (self->pid > 0)
		EXPECT_EQ(0, reap(self->pid));
	CHECK_CLEAN(self);
}

/*
 * Start the server on a socketpair with @extra as its one extra option
 * (or NULL) and connect. Returns 1 if there is no server to test.
 */
static int start(FIXTURE_DATA(sample) *self, const char *extra)
{
	char path[PATH_MAX], fdarg[32];
	int sv[2];

	if (!find_server(path, sizeof(path)))
		return 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	self->pid = fork();
	if (self->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Quiet: its log is not KTAP. */
		if (!getenv("VUC_TEST_SERVER_LOG") && null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		fcntl(sv[1], F_SETFD, 0);
		snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[1]);
		execl(path, path, fdarg, extra, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	if (self->pid < 0) {
		close(sv[0]);
		return -errno;
	}
	self->dev = vuc_device_new(&self->opts);
	if (!self->dev) {
		close(sv[0]);
		return -errno;
	}
	return vuc_connect_fd(self->dev, sv[0]);
}

#define START(self, extra) do {						\
	int __ret = start(self, extra);					\
									\
	if (__ret == 1)							\
		SKIP(return, "no sample server (set VFIO_USER_SAMPLE_SERVER)"); \
	ASSERT_EQ(0, __ret) TH_LOG("%s", vuc_strerror((self)->dev));	\
} while (0)

static void check_region(struct __test_metadata *_metadata,
			 const struct vuc_device *dev, unsigned int index,
			 uint64_t size, bool mappable)
{
	const struct vuc_region *r = vuc_get_region(dev, index);
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ |
			    VFIO_REGION_INFO_FLAG_WRITE;

	ASSERT_NE(NULL, r);
	EXPECT_EQ(index, r->info.index);
	EXPECT_EQ(size, r->info.size) TH_LOG("region %u", index);
	if (size)
		EXPECT_EQ(rw, r->info.flags & rw) TH_LOG("region %u", index);
	EXPECT_EQ(mappable, r->fd >= 0) TH_LOG("region %u", index);
	EXPECT_EQ(mappable,
		  !!(r->info.flags & VFIO_REGION_INFO_FLAG_MMAP));
}

/* Everything sample-device.h promises. */
static void check_device_layout(struct __test_metadata *_metadata,
				const struct vuc_device *dev, bool shadow)
{
	static const uint32_t counts[SAMPLE_NUM_IRQS] = {
		1, 0, SAMPLE_MSIX_VECTORS, 1, 1,
	};
	const struct vfio_user_device_info *info = vuc_get_device_info(dev);
	const struct vuc_region *bar0, *bar2;
	unsigned int i;

	ASSERT_NE(NULL, info);
	EXPECT_TRUE(info->flags & VFIO_DEVICE_FLAGS_PCI);
	EXPECT_TRUE(info->flags & VFIO_DEVICE_FLAGS_RESET);
	ASSERT_EQ(SAMPLE_NUM_REGIONS, info->num_regions);
	ASSERT_EQ(SAMPLE_NUM_IRQS, info->num_irqs);

	check_region(_metadata, dev, VFIO_PCI_BAR0_REGION_INDEX,
		     SAMPLE_BAR0_SIZE, false);
	check_region(_metadata, dev, VFIO_PCI_BAR1_REGION_INDEX,
		     SAMPLE_BAR1_SIZE, false);
	check_region(_metadata, dev, VFIO_PCI_BAR2_REGION_INDEX,
		     SAMPLE_BAR2_SIZE, true);
	for (i = VFIO_PCI_BAR3_REGION_INDEX; i <= VFIO_PCI_ROM_REGION_INDEX; i++)
		check_region(_metadata, dev, i, 0, false);
	check_region(_metadata, dev, VFIO_PCI_CONFIG_REGION_INDEX,
		     SAMPLE_CONFIG_SIZE, false);
	check_region(_metadata, dev, VFIO_PCI_VGA_REGION_INDEX, 0, false);

	bar2 = vuc_get_region(dev, VFIO_PCI_BAR2_REGION_INDEX);
	ASSERT_EQ(2, bar2->nr_areas);
	EXPECT_EQ(SAMPLE_BAR2_AREA0_OFFSET, bar2->areas[0].offset);
	EXPECT_EQ(SAMPLE_BAR2_AREA0_SIZE, bar2->areas[0].size);
	EXPECT_EQ(SAMPLE_BAR2_AREA1_OFFSET, bar2->areas[1].offset);
	EXPECT_EQ(SAMPLE_BAR2_AREA1_SIZE, bar2->areas[1].size);

	/*
	 * BAR0: two doorbell ioeventfds and the mailbox ioregionfd; with
	 * libvfio-user's layout also the shadow doorbell.
	 */
	bar0 = vuc_get_region(dev, VFIO_PCI_BAR0_REGION_INDEX);
	ASSERT_EQ(shadow ? 4 : 3, bar0->nr_io_fds);
	for (i = 0; i < bar0->nr_io_fds; i++) {
		const struct vuc_io_fd *f = &bar0->io_fds[i];

		EXPECT_LE(0, f->fd);
		if (f->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW) {
			EXPECT_EQ(SAMPLE_REG_DOORBELL_SHADOW, f->offset);
			EXPECT_EQ(4, f->size);
			EXPECT_EQ(SAMPLE_SHADOW_OFFSET, f->shadow_offset);
			EXPECT_LE(0, f->shadow_fd);
		} else if (f->type == VFIO_USER_IO_FD_TYPE_IOREGIONFD) {
			EXPECT_EQ(SAMPLE_MAILBOX_OFFSET, f->offset);
			EXPECT_EQ(SAMPLE_MAILBOX_SIZE, f->size);
			EXPECT_EQ(SAMPLE_MAILBOX_USER_DATA, f->user_data);
		} else if (f->offset == SAMPLE_REG_DOORBELL_DM) {
			EXPECT_EQ(4, f->size);
			EXPECT_TRUE(f->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH);
			EXPECT_EQ(SAMPLE_DOORBELL_DM_VALUE, f->datamatch);
		} else {
			EXPECT_EQ(SAMPLE_REG_DOORBELL, f->offset);
			EXPECT_EQ(4, f->size);
		}
	}

	for (i = 0; i < SAMPLE_NUM_IRQS; i++) {
		const struct vfio_irq_info *irq = vuc_get_irq_info(dev, i);

		ASSERT_NE(NULL, irq);
		EXPECT_EQ(counts[i], irq->count) TH_LOG("IRQ index %u", i);
		EXPECT_TRUE(irq->flags & VFIO_IRQ_INFO_EVENTFD);
	}
}

static void check_device(struct __test_metadata *_metadata,
			 const struct vuc_device *dev)
{
	check_device_layout(_metadata, dev, false);
}

static void check_config(struct __test_metadata *_metadata,
			 struct vuc_device *dev)
{
	uint8_t cfg[SAMPLE_CONFIG_SIZE];
	uint16_t vendor, device, svendor, sid;
	uint32_t class;

	ASSERT_EQ(sizeof(cfg), vuc_region_read(dev, VFIO_PCI_CONFIG_REGION_INDEX,
					       0, cfg, sizeof(cfg)))
		TH_LOG("%s", vuc_strerror(dev));
	memcpy(&vendor, cfg + 0x00, 2);
	memcpy(&device, cfg + 0x02, 2);
	memcpy(&svendor, cfg + 0x2c, 2);
	memcpy(&sid, cfg + 0x2e, 2);
	class = cfg[0x09] | cfg[0x0a] << 8 | cfg[0x0b] << 16;
	EXPECT_EQ(SAMPLE_VENDOR_ID, vendor);
	EXPECT_EQ(SAMPLE_DEVICE_ID, device);
	EXPECT_EQ(SAMPLE_SUBSYS_VENDOR_ID, svendor);
	EXPECT_EQ(SAMPLE_SUBSYS_ID, sid);
	EXPECT_EQ(SAMPLE_REVISION, cfg[0x08]);
	EXPECT_EQ(SAMPLE_CLASS_CODE, class);
}

TEST_F(sample, twin_socket)
{
	START(self, NULL);
	EXPECT_TRUE(vuc_get_caps(self->dev)->twin_socket);
	EXPECT_LE(0, vuc_twin_socket_fd(self->dev));
	EXPECT_EQ(0, vuc_get_caps(self->dev)->major);
	check_device(_metadata, self->dev);
	check_config(_metadata, self->dev);
}

TEST_F(sample, no_twin_socket)
{
	self->opts.flags = VUC_OPT_NO_TWIN_SOCKET;
	START(self, NULL);
	EXPECT_FALSE(vuc_get_caps(self->dev)->twin_socket);
	EXPECT_EQ(-1, vuc_twin_socket_fd(self->dev));
	check_device(_metadata, self->dev);
	check_config(_metadata, self->dev);
}

TEST_F(sample, server_declines_twin_socket)
{
	START(self, "--no-twin-socket");
	EXPECT_FALSE(vuc_get_caps(self->dev)->twin_socket);
	check_device(_metadata, self->dev);
}

/* libvfio-user's 48-byte io-fd entries parse the same, and add a shadow. */
TEST_F(sample, lvu_io_fds_layout)
{
	START(self, "--io-fds-layout=lvu");
	check_device_layout(_metadata, self->dev, true);
}

TEST_F(sample, bar0_registers)
{
	uint32_t id = 0, scratch = 0x1234abcd, back = 0;
	uint8_t ram[SAMPLE_SCRATCH_RAM_SIZE], ram2[SAMPLE_SCRATCH_RAM_SIZE];
	unsigned int i;

	START(self, NULL);
	ASSERT_EQ(4, vuc_region_read(self->dev, 0, SAMPLE_REG_ID, &id, 4));
	EXPECT_EQ(SAMPLE_ID_VALUE, id);
	ASSERT_EQ(4, vuc_region_write(self->dev, 0, SAMPLE_REG_SCRATCH,
				      &scratch, 4));
	ASSERT_EQ(4, vuc_region_read(self->dev, 0, SAMPLE_REG_SCRATCH, &back, 4));
	EXPECT_EQ(scratch, back);
	for (i = 0; i < sizeof(ram); i++)
		ram[i] = (uint8_t)(i * 13);
	ASSERT_EQ(sizeof(ram), vuc_region_write(self->dev, 0,
						SAMPLE_SCRATCH_RAM_OFFSET, ram,
						sizeof(ram)));
	ASSERT_EQ(sizeof(ram2), vuc_region_read(self->dev, 0,
						SAMPLE_SCRATCH_RAM_OFFSET, ram2,
						sizeof(ram2)));
	EXPECT_EQ(0, memcmp(ram, ram2, sizeof(ram)));
	/* The server refuses a register hole; the connection survives it. */
	EXPECT_GT(0, vuc_region_read(self->dev, 0, 0x30, &back, 4));
	EXPECT_EQ(4, vuc_region_read(self->dev, 0, SAMPLE_REG_ID, &id, 4));
}

/* BAR2 through its mmap fd and through messages is the same memory. */
TEST_F(sample, bar2_mmap_and_messages)
{
	const struct vuc_region *r;
	uint32_t v = 0;
	uint8_t *map;

	START(self, NULL);
	r = vuc_get_region(self->dev, VFIO_PCI_BAR2_REGION_INDEX);
	map = mmap(NULL, r->areas[1].size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   r->fd, r->info.offset + r->areas[1].offset);
	ASSERT_NE(MAP_FAILED, map);
	memcpy(map + 0x100, "\x11\x22\x33\x44", 4);
	EXPECT_EQ(4, vuc_region_read(self->dev, VFIO_PCI_BAR2_REGION_INDEX,
				     r->areas[1].offset + 0x100, &v, 4));
	EXPECT_EQ(0x44332211, v);
	munmap(map, r->areas[1].size);
}

/* An eventfd handed over with SET_IRQS gets signalled by the device. */
TEST_F(sample, intx_through_eventfd)
{
	struct pollfd pfd = { .events = POLLIN };
	uint32_t one = 1;
	uint64_t n = 0;
	int32_t efd;

	START(self, NULL);
	efd = make_eventfd();
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_EVENTFD |
				  VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd))
		TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_EQ(4, vuc_region_write(self->dev, 0, SAMPLE_REG_IRQ_TRIGGER,
				      &one, 4));
	pfd.fd = efd;
	EXPECT_EQ(1, poll(&pfd, 1, 2000));
	EXPECT_EQ(8, read(efd, &n, sizeof(n)));
	EXPECT_EQ(1, n);
	close(efd);
	efd = -1;
	EXPECT_EQ(0, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_EVENTFD |
				  VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd));
}

TEST_F(sample, reset)
{
	uint32_t before = 0, after = 0;

	START(self, NULL);
	ASSERT_EQ(4, vuc_region_read(self->dev, 0, SAMPLE_REG_RESET_COUNT,
				     &before, 4));
	ASSERT_EQ(0, vuc_reset(self->dev)) TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_EQ(4, vuc_region_read(self->dev, 0, SAMPLE_REG_RESET_COUNT,
				     &after, 4));
	EXPECT_EQ(before + 1, after);
}

/* The userspace backend serves the DMA engine's DMA_READ/DMA_WRITE. */

#define DMA_IOVA 0x40000000ULL
#define DMA_SIZE (256 * 1024)
#define DMA_RO_IOVA (DMA_IOVA + (1ULL << 30))

static int reg_write(struct vuc_device *dev, uint64_t off, uint64_t val,
		     size_t width)
{
	return vuc_region_write(dev, VFIO_PCI_BAR0_REGION_INDEX, off, &val,
				width) == (ssize_t)width ? 0 : -1;
}

static uint64_t reg_read(struct vuc_device *dev, uint64_t off, size_t width)
{
	uint64_t val = 0;

	if (vuc_region_read(dev, VFIO_PCI_BAR0_REGION_INDEX, off, &val,
			    width) != (ssize_t)width)
		return UINT64_MAX;
	return val;
}

/* Run @cmd over [src, +len) and [dst, +len); its STATUS (0 or an errno). */
static uint32_t dma_run(struct vuc_device *dev, uint32_t cmd, uint64_t src,
			uint64_t dst, uint32_t len)
{
	if (reg_write(dev, SAMPLE_REG_DMA_SRC, src, 8) ||
	    reg_write(dev, SAMPLE_REG_DMA_DST, dst, 8) ||
	    reg_write(dev, SAMPLE_REG_DMA_LEN, len, 4) ||
	    reg_write(dev, SAMPLE_REG_DMA_CMD, cmd, 4))
		return UINT32_MAX;
	return (uint32_t)reg_read(dev, SAMPLE_REG_DMA_STATUS, 4);
}

static uint64_t fnv(const uint8_t *p, size_t len)
{
	uint64_t h = SAMPLE_FNV64_OFFSET;

	while (len--) {
		h ^= *p++;
		h *= SAMPLE_FNV64_PRIME;
	}
	return h;
}

static void dma_served(struct __test_metadata *_metadata,
		       FIXTURE_DATA(sample) *self, const char *extra,
		       uint32_t chunk)
{
	struct vuc_device *dev;
	uint8_t *mem, ro[4096];
	unsigned int i;

	self->opts.flags |= VUC_OPT_USERSPACE;
	self->opts.max_data_xfer_size = 4096;
	START(self, extra);
	dev = self->dev;
	mem = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	for (i = 0; i < DMA_SIZE; i++)
		mem[i] = (uint8_t)(i * 31 + (i >> 8));
	memset(ro, 0x5c, sizeof(ro));
	/* No fds: the server can reach the memory through messages only. */
	ASSERT_EQ(0, vuc_dma_map(dev, DMA_IOVA, DMA_SIZE, mem,
				 VUC_DMA_READ | VUC_DMA_WRITE, -1, 0))
		TH_LOG("%s", vuc_strerror(dev));
	ASSERT_EQ(0, vuc_dma_map(dev, DMA_RO_IOVA, sizeof(ro), ro,
				 VUC_DMA_READ, -1, 0));
	ASSERT_EQ(0, reg_write(dev, SAMPLE_REG_DMA_CHUNK, chunk, 4));

	/* DMA_READ: the checksum of what is in our memory. */
	EXPECT_EQ(0, dma_run(dev, SAMPLE_DMA_CMD_CHECKSUM, DMA_IOVA + 100, 0,
			     chunk ? 3000 : 200000));
	EXPECT_EQ(fnv(mem + 100, chunk ? 3000 : 200000),
		  reg_read(dev, SAMPLE_REG_DMA_RESULT, 8));
	EXPECT_EQ(SAMPLE_DMA_PATH_MESSAGES,
		  reg_read(dev, SAMPLE_REG_DMA_PATH, 4));
	/* DMA_WRITE: a fill lands where it should, and only there. */
	ASSERT_EQ(0, reg_write(dev, SAMPLE_REG_DMA_FILL, 0xab, 4));
	EXPECT_EQ(0, dma_run(dev, SAMPLE_DMA_CMD_FILL, 0, DMA_IOVA + 5000,
			     chunk ? 2000 : 70000));
	for (i = 5000; i < (chunk ? 7000U : 75000U); i++)
		if (mem[i] != 0xab)
			break;
	EXPECT_EQ(chunk ? 7000U : 75000U, i);
	EXPECT_EQ((uint8_t)(4999 * 31 + (4999 >> 8)), mem[4999]);
	EXPECT_EQ((uint8_t)(i * 31 + (i >> 8)), mem[i]);
	/* Both ways at once. */
	EXPECT_EQ(0, dma_run(dev, SAMPLE_DMA_CMD_COPY, DMA_IOVA + 100000,
			     DMA_IOVA + 200000, 4000));
	EXPECT_EQ(0, memcmp(mem + 100000, mem + 200000, 4000));
	EXPECT_EQ(0, dma_run(dev, SAMPLE_DMA_CMD_CHECKSUM, DMA_RO_IOVA, 0,
			     sizeof(ro)));
	EXPECT_EQ(fnv(ro, sizeof(ro)), reg_read(dev, SAMPLE_REG_DMA_RESULT, 8));

	/* Refused with an error reply, nothing touched, connection kept. */
	EXPECT_EQ(EFAULT, dma_run(dev, SAMPLE_DMA_CMD_CHECKSUM,
				  DMA_IOVA + DMA_SIZE - 8, 0, 16));
	EXPECT_EQ(EFAULT, dma_run(dev, SAMPLE_DMA_CMD_CHECKSUM,
				  DMA_IOVA - 4096, 0, 8));
	EXPECT_EQ(EFAULT, dma_run(dev, SAMPLE_DMA_CMD_FILL, 0,
				  DMA_IOVA + DMA_SIZE, 8));
	EXPECT_EQ(EPERM, dma_run(dev, SAMPLE_DMA_CMD_FILL, 0, DMA_RO_IOVA, 8));
	EXPECT_EQ(0x5c, ro[0]);
	ASSERT_EQ(0, vuc_dma_unmap(dev, DMA_IOVA, DMA_SIZE));
	EXPECT_EQ(EFAULT, dma_run(dev, SAMPLE_DMA_CMD_CHECKSUM, DMA_IOVA, 0,
				  8));
	EXPECT_EQ(SAMPLE_ID_VALUE, reg_read(dev, SAMPLE_REG_ID, 4));
	EXPECT_EQ(0, vuc_dma_unmap(dev, DMA_RO_IOVA, sizeof(ro)));
	munmap(mem, DMA_SIZE);
}

/* The server's DMA on the twin socket, replies read by the caller. */
TEST_F(sample, dma_served_twin)
{
	dma_served(_metadata, self, NULL, 0);
	EXPECT_LE(0, vuc_twin_socket_fd(self->dev));
}

/* On the main socket, where the receive thread also routes the replies. */
TEST_F(sample, dma_served_no_twin)
{
	dma_served(_metadata, self, "--no-twin-socket", 0);
	EXPECT_GT(0, vuc_twin_socket_fd(self->dev));
}

/* 8 bytes per message: hundreds of requests per transfer. */
TEST_F(sample, dma_served_in_small_messages)
{
	dma_served(_metadata, self, NULL, 8);
}

/*
 * Start the server on a socketpair and speak to it by hand, with no
 * library (and no receive thread) in between. Returns our end, -1 if
 * there is no server to test, or -errno.
 */
static int start_raw(FIXTURE_DATA(sample) *self)
{
	char path[PATH_MAX], fdarg[32];
	int sv[2];

	if (!find_server(path, sizeof(path)))
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	self->pid = fork();
	if (self->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (!getenv("VUC_TEST_SERVER_LOG") && null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		fcntl(sv[1], F_SETFD, 0);
		snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[1]);
		execl(path, path, fdarg, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	if (self->pid < 0) {
		close(sv[0]);
		return -errno;
	}
	return sv[0];
}

#define PIPELINED 8

/*
 * VERSION and eight REGION_READs in one write: the server takes them with
 * one read, and must serve what it buffered without waiting on poll(),
 * which no longer sees it. Every command gets its reply, in order.
 */
TEST_F(sample, pipelined_commands_all_answered)
{
	struct {
		struct vfio_user_header hdr;
		struct vfio_user_version v;
	} __attribute__((packed)) version = {
		.hdr = {
			.msg_id = 100,
			.cmd = VFIO_USER_VERSION,
			.msg_size = sizeof(version),
			.flags = VFIO_USER_F_TYPE_COMMAND,
		},
		.v = { .major = VFIO_USER_VERSION_MAJOR,
		       .minor = VFIO_USER_VERSION_MINOR },
	};
	struct {
		struct vfio_user_header hdr;
		struct vfio_user_region_access ra;
	} __attribute__((packed)) read[PIPELINED];
	uint8_t buf[sizeof(version) + sizeof(read)];
	struct vu_msg reply;
	unsigned int i;
	uint32_t id;
	int sock;

	sock = start_raw(self);
	if (sock == -1)
		SKIP(return, "no sample server (set VFIO_USER_SAMPLE_SERVER)");
	ASSERT_LE(0, sock);
	memset(read, 0, sizeof(read));
	for (i = 0; i < PIPELINED; i++) {
		read[i].hdr.msg_id = (uint16_t)(101 + i);
		read[i].hdr.cmd = VFIO_USER_REGION_READ;
		read[i].hdr.msg_size = sizeof(read[i]);
		read[i].hdr.flags = VFIO_USER_F_TYPE_COMMAND;
		read[i].ra.offset = SAMPLE_REG_ID;
		read[i].ra.region = VFIO_PCI_BAR0_REGION_INDEX;
		read[i].ra.count = 4;
	}
	memcpy(buf, &version, sizeof(version));
	memcpy(buf + sizeof(version), read, sizeof(read));
	ASSERT_EQ(sizeof(buf), send(sock, buf, sizeof(buf), MSG_NOSIGNAL));

	ASSERT_EQ(0, vu_recv(sock, &reply, 1 << 16, 0, 5000));
	EXPECT_EQ(100, reply.hdr.msg_id);
	EXPECT_EQ(0, reply.hdr.flags & VFIO_USER_F_ERROR);
	vu_msg_release(&reply);
	for (i = 0; i < PIPELINED; i++) {
		ASSERT_EQ(0, vu_recv(sock, &reply, 1 << 16, 0, 5000))
			TH_LOG("reply %u of %u", i + 1, PIPELINED);
		EXPECT_EQ(101 + i, reply.hdr.msg_id);
		EXPECT_EQ(0, reply.hdr.flags & VFIO_USER_F_ERROR);
		ASSERT_EQ(sizeof(read[i].ra) + 4, reply.len);
		memcpy(&id, (uint8_t *)reply.payload + sizeof(read[i].ra), 4);
		EXPECT_EQ(SAMPLE_ID_VALUE, id);
		vu_msg_release(&reply);
	}
	close(sock);
}

TEST_HARNESS_MAIN
