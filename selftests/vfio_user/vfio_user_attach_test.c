// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO_USER_ATTACH refuses what it must: sockets of the wrong kind, sockets
 * already in use, inconsistent limits, capability chains that leave their
 * buffer or loop, sub-regions outside their region, fds of the wrong kind.
 * The VMM is not trusted either.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_user_util.h"

/* A region info capability chain buffer, as the server would send it. */
struct caps_buf {
	uint8_t bytes[256];
};

FIXTURE(attach)
{
	int dev;
	int sv[2];
	struct vfio_user_attach arg;
	struct vfio_user_attach_region region;
	struct vfio_user_attach_io_fd io;
	struct caps_buf caps;
};

FIXTURE_SETUP(attach)
{
	self->dev = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);
	if (self->dev < 0 && errno == ENOENT)
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, self->sv));

	/* A minimal valid device: one 4 KiB region, no IRQs, not PCI. */
	memset(&self->region, 0, sizeof(self->region));
	self->region.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE;
	self->region.fd = -1;
	self->region.size = 4096;

	memset(&self->arg, 0, sizeof(self->arg));
	self->arg.argsz = sizeof(self->arg);
	self->arg.sock_fd = self->sv[0];
	self->arg.twin_fd = -1;
	self->arg.minor = 2;
	self->arg.max_msg_fds = 8;
	self->arg.max_data_xfer_size = 1 << 20;
	self->arg.client_max_data_xfer_size = 1 << 20;
	self->arg.max_dma_maps = 65535;
	self->arg.pgsizes = 4096;
	self->arg.num_regions = 1;
	self->arg.regions = (uintptr_t)&self->region;
}

FIXTURE_TEARDOWN(attach)
{
	if (self->dev >= 0)
		close(self->dev);
	close(self->sv[0]);
	close(self->sv[1]);
}

static int attach(int dev, struct vfio_user_attach *arg)
{
	return ioctl(dev, VFIO_USER_ATTACH, arg) ? -errno : 0;
}

TEST_F(attach, valid_then_busy)
{
	int dev2;

	ASSERT_EQ(0, attach(self->dev, &self->arg));
	/* Once per open. */
	EXPECT_EQ(-EBUSY, attach(self->dev, &self->arg));
	/* One device per socket. */
	dev2 = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev2);
	EXPECT_EQ(-EBUSY, attach(dev2, &self->arg));
	close(dev2);
}

TEST_F(attach, device_info_from_attach)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info rinfo = { .argsz = sizeof(rinfo) };

	/* Device ioctls need an attached device. */
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(ENODEV, errno);

	ASSERT_EQ(0, attach(self->dev, &self->arg));
	ASSERT_EQ(0, ioctl(self->dev, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(1U, info.num_regions);
	EXPECT_EQ(0U, info.num_irqs);
	EXPECT_EQ(0U, info.flags);
	ASSERT_EQ(0, ioctl(self->dev, VFIO_DEVICE_GET_REGION_INFO, &rinfo));
	EXPECT_EQ(4096ULL, rinfo.size);
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		  rinfo.flags);
	rinfo.index = 1;
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_DEVICE_GET_REGION_INFO, &rinfo));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(attach, peer_eof_breaks_connection)
{
	struct pollfd pfd = { .events = POLLIN | POLLOUT };
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	char buf[4];

	ASSERT_EQ(0, attach(self->dev, &self->arg));
	/* Healthy: ready for I/O, as a VFIO device fd is. */
	pfd.fd = self->dev;
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN | POLLOUT, pfd.revents);
	close(self->sv[1]);
	self->sv[1] = -1;
	/* The receive worker sees the end of file: wait for it. */
	EXPECT_EQ(POLLHUP | POLLERR, vu_wait_broken(self->dev, VU_WAIT_MS));
	EXPECT_EQ(-1, pread(self->dev, buf, sizeof(buf), vu_region_off(0, 0)));
	EXPECT_EQ(ENOTCONN, errno);
	ASSERT_EQ(0, ioctl(self->dev, VFIO_USER_GET_STATS, &st));
	EXPECT_EQ(VFIO_USER_STATS_BROKEN, st.flags);
	EXPECT_EQ((uint32_t)ENOTCONN, st.broken_errno);
}

TEST_F(attach, socket_kinds)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, lsock, dgram[2];

	fd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, fd);
	self->arg.sock_fd = fd;
	EXPECT_EQ(-ENOTSOCK, attach(self->dev, &self->arg));
	close(fd);

	self->arg.sock_fd = 9999;
	EXPECT_EQ(-EBADF, attach(self->dev, &self->arg));

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dgram));
	self->arg.sock_fd = dgram[0];
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	close(dgram[0]);
	close(dgram[1]);

	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lsock);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/tmp/vu-attach-%d", getpid());
	unlink(addr.sun_path);
	ASSERT_EQ(0, bind(lsock, (struct sockaddr *)&addr, sizeof(addr)));
	ASSERT_EQ(0, listen(lsock, 1));
	self->arg.sock_fd = lsock;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	close(lsock);
	unlink(addr.sun_path);

	/* The twin must be a connected stream socket as well. */
	self->arg.sock_fd = self->sv[0];
	self->arg.twin_fd = self->dev;
	EXPECT_EQ(-ENOTSOCK, attach(self->dev, &self->arg));
	/* And not the main socket again. */
	self->arg.twin_fd = self->sv[0];
	EXPECT_EQ(-EBUSY, attach(self->dev, &self->arg));

	/* Nothing was kept from the failures: a valid attach still works. */
	self->arg.twin_fd = -1;
	EXPECT_EQ(0, attach(self->dev, &self->arg));
}

TEST_F(attach, header_checks)
{
	struct vfio_user_attach a;

	a = self->arg;
	a.argsz = sizeof(a) - 8;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.flags = 1U << 5;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.major = 1;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.minor = 3;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.max_msg_fds = 1025;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.max_data_xfer_size = 0;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.client_max_data_xfer_size = 1 << 30;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.pgsizes = 512 | 4096;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.num_regions = 0;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.num_regions = 1000000;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.device_flags = VFIO_DEVICE_FLAGS_PCI;	/* PCI needs a config region */
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.device_flags = 1U << 31;
	EXPECT_EQ(-EINVAL, attach(self->dev, &a));
	a = self->arg;
	a.regions = 16;
	EXPECT_EQ(-EFAULT, attach(self->dev, &a));
}

TEST_F(attach, region_checks)
{
	struct vfio_user_attach_region *r = &self->region;
	struct vfio_user_attach_region good = *r;

	r->flags |= 1U << 7;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*r = good;
	r->flags |= VFIO_REGION_INFO_FLAG_MMAP;	/* mappable needs an fd */
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*r = good;
	r->flags |= VFIO_REGION_INFO_FLAG_CAPS;	/* caps flag, no caps */
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*r = good;
	r->attach_flags = 2;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*r = good;
	r->cap_size = 1 << 20;
	r->flags |= VFIO_REGION_INFO_FLAG_CAPS;
	r->cap_offset = 32;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*r = good;
	r->fd = self->sv[1];	/* an fd without the mmap flag */
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	/* A device fd as region memory: its mmap would recurse into itself. */
	*r = good;
	r->flags |= VFIO_REGION_INFO_FLAG_MMAP;
	r->fd = self->dev;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*r = good;
	EXPECT_EQ(0, attach(self->dev, &self->arg));
}

static void set_caps(struct vfio_user_attach_region *r, struct caps_buf *c,
		     uint32_t size, uint32_t cap_offset)
{
	r->flags |= VFIO_REGION_INFO_FLAG_CAPS;
	r->caps = (uintptr_t)c->bytes;
	r->cap_size = size;
	r->cap_offset = cap_offset;
}

/* Capability offsets are relative to the region info: byte 0 is at 32. */
static struct vfio_info_cap_header *cap_at(struct caps_buf *c, uint32_t off)
{
	return (struct vfio_info_cap_header *)&c->bytes[off - 32];
}

TEST_F(attach, capability_chains)
{
	struct vfio_region_info_cap_sparse_mmap *sparse;
	struct vfio_user_attach_region *r = &self->region;
	struct vfio_user_attach_region good = *r;
	struct vfio_info_cap_header *h;

	/* Offset before the chain, or past it. */
	memset(&self->caps, 0, sizeof(self->caps));
	h = cap_at(&self->caps, 32);
	h->id = 99;
	h->version = 1;
	set_caps(r, &self->caps, 64, 16);
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	set_caps(r, &self->caps, 64, 32 + 60);
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));

	/* A loop. */
	h->next = 48;
	cap_at(&self->caps, 48)->next = 32;
	set_caps(r, &self->caps, 64, 32);
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	/* A link out of the buffer. */
	cap_at(&self->caps, 48)->next = 200;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));

	/* Sparse areas must fit their capability and the region. */
	*r = good;
	memset(&self->caps, 0, sizeof(self->caps));
	sparse = (void *)cap_at(&self->caps, 32);
	sparse->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	sparse->header.version = 1;
	sparse->nr_areas = 100;
	set_caps(r, &self->caps, sizeof(*sparse) + 16, 32);
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	sparse->nr_areas = 1;
	sparse->areas[0].offset = 4096;
	sparse->areas[0].size = 4096;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	sparse->areas[0].offset = ~0ULL;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	sparse->areas[0].offset = 0;
	EXPECT_EQ(0, attach(self->dev, &self->arg));
}

TEST_F(attach, io_fd_checks)
{
	struct vfio_user_attach_region *r = &self->region;
	struct vfio_user_attach_io_fd *io = &self->io;
	struct vfio_user_attach_io_fd good;
	int efd;

	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	memset(io, 0, sizeof(*io));
	io->type = VFIO_USER_IO_FD_TYPE_IOEVENTFD;
	io->offset = 0x40;
	io->size = 4;
	io->fd = efd;
	good = *io;
	r->nr_io_fds = 1;
	r->io_fds = (uintptr_t)io;

	io->offset = 4096;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*io = good;
	io->size = 3;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*io = good;
	io->size = 0;
	io->flags = VFIO_USER_IOEVENTFD_FLAG_DATAMATCH;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*io = good;
	io->type = 7;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*io = good;
	io->reserved = 1;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	*io = good;
	io->fd = self->sv[1];	/* an ioeventfd must be an eventfd */
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	/* An ioregionfd socket of its own, not the device's. */
	*io = good;
	io->type = VFIO_USER_IO_FD_TYPE_IOREGIONFD;
	io->size = 16;
	io->fd = self->sv[0];
	EXPECT_EQ(-EBUSY, attach(self->dev, &self->arg));
	*io = good;
	r->nr_io_fds = 1000;
	EXPECT_EQ(-EINVAL, attach(self->dev, &self->arg));
	r->nr_io_fds = 1;
	EXPECT_EQ(0, attach(self->dev, &self->arg));
	close(efd);
}

/* Answers every command with a bare success reply until the socket closes. */
static void *bare_replies(void *arg)
{
	int sock = *(int *)arg;
	struct vfio_user_header hdr;
	char body[256];

	while (recv(sock, &hdr, sizeof(hdr), MSG_WAITALL) == sizeof(hdr)) {
		size_t len = hdr.msg_size - sizeof(hdr);

		if (len > sizeof(body) ||
		    (len && recv(sock, body, len, MSG_WAITALL) != (ssize_t)len))
			break;
		hdr.flags = VFIO_USER_F_TYPE_REPLY;
		hdr.msg_size = sizeof(hdr);
		if (send(sock, &hdr, sizeof(hdr), MSG_NOSIGNAL) != sizeof(hdr))
			break;
	}
	return NULL;
}

static int map_one(int dev, void *va, uint64_t iova, uint64_t size)
{
	struct vfio_user_map_dma map = {
		.argsz = sizeof(map),
		.flags = VFIO_USER_MAP_DMA_READ | VFIO_USER_MAP_DMA_WRITE,
		.vaddr = (uintptr_t)va, .iova = iova, .size = size, .fd = -1,
	};

	return ioctl(dev, VFIO_USER_MAP_DMA, &map) ? -errno : 0;
}

/* The server's max_dma_maps and page sizes bound what may be mapped. */
TEST_F(attach, dma_limits_from_negotiation)
{
	size_t len = 256 << 10;
	pthread_t tid;
	void *va;

	va = mmap(NULL, len, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, va);
	va = (void *)(((uintptr_t)va + 0xffff) & ~(uintptr_t)0xffff);
	self->arg.max_dma_maps = 2;
	self->arg.pgsizes = 0x10000 | 0x200000;	/* 64 KiB and 2 MiB */
	ASSERT_EQ(0, attach(self->dev, &self->arg));
	ASSERT_EQ(0, pthread_create(&tid, NULL, bare_replies, &self->sv[1]));

	/* Smallest page 64 KiB: 4 KiB alignment is not enough. */
	EXPECT_EQ(-EINVAL, map_one(self->dev, va, 0x1000, 0x10000));
	EXPECT_EQ(-EINVAL, map_one(self->dev, va, 0x10000, 0x1000));
	EXPECT_EQ(0, map_one(self->dev, va, 0x10000, 0x10000));
	EXPECT_EQ(0, map_one(self->dev, (char *)va + 0x10000, 0x20000, 0x10000));
	EXPECT_EQ(-ENOSPC, map_one(self->dev, (char *)va + 0x20000, 0x30000, 0x10000));

	close(self->dev);
	self->dev = -1;
	pthread_join(tid, NULL);
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The pid of our receive worker, "vfio-user-<our pid>", or -1. */
static pid_t find_worker(void)
{
	char want[32], comm[64], path[300];
	struct dirent *de;
	pid_t found = -1;
	DIR *proc;
	FILE *f;

	snprintf(want, sizeof(want), "vfio-user-%d\n", getpid());
	proc = opendir("/proc");
	if (!proc)
		return -1;
	/* Every pid there is, whatever pid_max is. */
	while (found < 0 && (de = readdir(proc))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, want))
			found = atoi(de->d_name);
		fclose(f);
	}
	closedir(proc);
	return found;
}

/* As vhost's: the worker is charged to the cgroup of whoever attached. */
TEST_F(attach, worker_joins_owner_cgroup)
{
	char dir[64], pid[16], path[96], line[128] = "", want[80];
	int64_t deadline;
	pid_t worker;
	FILE *f;

	mkdir("/sys/fs/cgroup", 0755);
	if (access("/sys/fs/cgroup/cgroup.procs", F_OK) &&
	    mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL))
		SKIP(return, "no cgroup2 hierarchy to test with");
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/vu-attach-%d", getpid());
	ASSERT_EQ(0, mkdir(dir, 0755));
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	ASSERT_EQ(0, write_file(path, pid));

	ASSERT_EQ(0, attach(self->dev, &self->arg));
	worker = find_worker();
	ASSERT_LT(0, worker);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", worker);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(line, sizeof(line), f));
	fclose(f);
	snprintf(want, sizeof(want), "0::/vu-attach-%d\n", getpid());
	EXPECT_STREQ(want, line);

	close(self->dev);
	self->dev = -1;
	ASSERT_EQ(0, write_file("/sys/fs/cgroup/cgroup.procs", pid));
	/* The worker leaves the cgroup when it exits: wait for that. */
	deadline = vu_now_ms() + VU_WAIT_MS;
	while (rmdir(dir) && errno == EBUSY && vu_now_ms() < deadline)
		usleep(10 * 1000);
	EXPECT_NE(0, access(dir, F_OK)) TH_LOG("%s still busy", dir);
}

TEST_HARNESS_MAIN
