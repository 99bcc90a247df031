// SPDX-License-Identifier: GPL-2.0
/*
 * Region writes that skip the socket: ioeventfd sub-regions (KVM's matching
 * rules: address, length or any, datamatch) are signalled by the kernel and
 * never reach the server; a shadow ioeventfd stores the written value in
 * the server's shadow memory first, which must be memory the VMM could map
 * writable itself; ioregionfd sub-regions carry reads and writes in
 * the ioregionfd wire format, posted when flagged; a misbehaving ioregionfd
 * peer fails its own sub-region only. The test plays both the vfio-user
 * server (answering the writes that do reach it) and the ioregionfd peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

enum {
	IO_PLAIN,	/* 0x40, 4 bytes, any value */
	IO_DM,		/* 0x48, 4 bytes, datamatch 0xc0de */
	IO_ANY_SIZE,	/* 0x50, size 0: any width */
	IO_PIO,		/* 0x58, 2 bytes, PIO flag */
	IO_MAILBOX,	/* 0x100..0x200, ioregionfd */
	IO_POSTED,	/* 0x200..0x300, ioregionfd with posted writes */
	IO_SHADOW,	/* 0x60, 4 bytes, shadow ioeventfd */
	NR_IO,
};

#define SHADOW_REG	0x60
#define SHADOW_OFFSET	0x100	/* of the value in the shadow memory */
#define SHADOW_SIZE	4096	/* of the shadow memory */

#define MAILBOX_USER_DATA	0x1234567890ULL
/* The reply timeout of the test that expects one to expire. */
#define TIMEOUT_MS		300

/* The server side: answers REGION_WRITE/READ, remembers the last write. */
struct fake_server {
	int sock;
	pthread_t tid;
	uint64_t last_offset;
	uint32_t last_count;
	unsigned int writes;
};

static void *fake_server_run(void *arg)
{
	struct fake_server *fs = arg;
	struct {
		struct vfio_user_header hdr;
		struct vfio_user_region_access acc;
		uint8_t data[64];
	} m, r;

	while (recv(fs->sock, &m.hdr, sizeof(m.hdr), MSG_WAITALL) == sizeof(m.hdr)) {
		size_t len = m.hdr.msg_size - sizeof(m.hdr);

		if (len > sizeof(m) - sizeof(m.hdr) ||
		    recv(fs->sock, &m.acc, len, MSG_WAITALL) != (ssize_t)len)
			break;
		r = m;
		r.hdr.flags = VFIO_USER_F_TYPE_REPLY;
		r.hdr.msg_size = sizeof(r.hdr) + sizeof(r.acc);
		if (m.hdr.cmd == VFIO_USER_REGION_WRITE) {
			fs->last_offset = m.acc.offset;
			fs->last_count = m.acc.count;
			__atomic_add_fetch(&fs->writes, 1, __ATOMIC_SEQ_CST);
		} else {
			memset(r.data, 0, sizeof(r.data));
			r.hdr.msg_size += m.acc.count;
		}
		if (m.hdr.flags & VFIO_USER_F_NO_REPLY)
			continue;
		if (send(fs->sock, &r, r.hdr.msg_size, MSG_NOSIGNAL) < 0)
			break;
	}
	return NULL;
}

/* The attach of a one-region test device with @nr io fds, over @sock. */
static void attach_arg(struct vfio_user_attach *arg,
		       struct vfio_user_attach_region *region,
		       struct vfio_user_attach_io_fd *io, unsigned int nr,
		       int sock)
{
	*region = (struct vfio_user_attach_region) {
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		.fd = -1, .size = 4096, .nr_io_fds = nr,
		.io_fds = (uintptr_t)io,
	};
	*arg = (struct vfio_user_attach) {
		.argsz = sizeof(*arg), .sock_fd = sock, .twin_fd = -1,
		.minor = 2, .max_msg_fds = 8, .max_data_xfer_size = 1 << 20,
		.client_max_data_xfer_size = 1 << 20, .max_dma_maps = 16,
		.pgsizes = 4096, .num_regions = 1,
		.regions = (uintptr_t)region,
	};
}

FIXTURE(ioevent)
{
	int dev;
	int sv[2];
	int rs[2];	/* mailbox: the kernel's end, the test's end */
	int ps[2];	/* posted mailbox */
	int efd[4];
	int shadow_efd;
	int memfd;	/* the shadow memory */
	struct fake_server fs;
};

FIXTURE_SETUP(ioevent)
{
	/* Replies from the threads here may be slow, never missing. */
	struct vfio_user_timeout t = {
		.argsz = sizeof(t), .timeout_ms = VU_LONG_TIMEOUT_MS,
	};
	struct vfio_user_attach_io_fd io[NR_IO] = {
		[IO_PLAIN] = { .type = VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			       .offset = 0x40, .size = 4 },
		[IO_DM] = { .type = VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			    .offset = 0x48, .size = 4, .datamatch = 0xc0de,
			    .flags = VFIO_USER_IOEVENTFD_FLAG_DATAMATCH },
		[IO_ANY_SIZE] = { .type = VFIO_USER_IO_FD_TYPE_IOEVENTFD,
				  .offset = 0x50, .size = 0 },
		[IO_PIO] = { .type = VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			     .offset = 0x58, .size = 2,
			     .flags = VFIO_USER_IOEVENTFD_FLAG_PIO },
		[IO_MAILBOX] = { .type = VFIO_USER_IO_FD_TYPE_IOREGIONFD,
				 .offset = 0x100, .size = 0x100,
				 .user_data = MAILBOX_USER_DATA },
		[IO_POSTED] = { .type = VFIO_USER_IO_FD_TYPE_IOREGIONFD,
				.offset = 0x200, .size = 0x100,
				.flags = VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES },
		[IO_SHADOW] = { .type = VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW,
				.offset = SHADOW_REG, .size = 4,
				.shadow_offset = SHADOW_OFFSET },
	};
	struct vfio_user_attach_region region;
	struct vfio_user_attach arg;
	int i;

	self->dev = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);
	if (self->dev < 0 && errno == ENOENT)
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, self->sv));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, self->rs));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, self->ps));
	for (i = 0; i < 4; i++) {
		self->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ASSERT_LE(0, self->efd[i]);
		io[i].fd = self->efd[i];
	}
	io[IO_MAILBOX].fd = self->rs[0];
	io[IO_POSTED].fd = self->ps[0];
	self->shadow_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, self->shadow_efd);
	self->memfd = memfd_create("shadow", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ASSERT_LE(0, self->memfd);
	ASSERT_EQ(0, ftruncate(self->memfd, SHADOW_SIZE));
	io[IO_SHADOW].fd = self->shadow_efd;
	io[IO_SHADOW].shadow_fd = self->memfd;
	attach_arg(&arg, &region, io, NR_IO, self->sv[0]);
	ASSERT_EQ(0, ioctl(self->dev, VFIO_USER_SET_TIMEOUT, &t));
	ASSERT_EQ(0, ioctl(self->dev, VFIO_USER_ATTACH, &arg));

	self->fs.sock = self->sv[1];
	ASSERT_EQ(0, pthread_create(&self->fs.tid, NULL, fake_server_run, &self->fs));
}

FIXTURE_TEARDOWN(ioevent)
{
	int i;

	if (self->dev < 0)
		return;
	/* Closing with every io fd still registered must leave nothing. */
	close(self->dev);
	pthread_join(self->fs.tid, NULL);
	close(self->sv[0]);
	close(self->sv[1]);
	for (i = 0; i < 2; i++) {
		close(self->rs[i]);
		close(self->ps[i]);
	}
	for (i = 0; i < 4; i++)
		close(self->efd[i]);
	close(self->shadow_efd);
	close(self->memfd);
}

/* The value in the shadow memory, as the server sees it. */
static uint32_t shadow_value(int memfd)
{
	uint32_t v = 0;

	if (pread(memfd, &v, sizeof(v), SHADOW_OFFSET) != sizeof(v))
		return 0xdeadbeef;
	return v;
}

static int wr(int dev, uint64_t off, uint64_t val, size_t len)
{
	return pwrite(dev, &val, len, vu_region_off(0, off)) == (ssize_t)len ?
	       0 : -errno;
}

/*
 * The writes the server thread has seen, once it has seen @want (or after
 * VU_WAIT_MS). It counts a write before it answers, so after a write that
 * waited for its reply this does not wait at all.
 */
static unsigned int server_writes(struct fake_server *fs, unsigned int want)
{
	int64_t deadline = vu_now_ms() + VU_WAIT_MS;

	while (__atomic_load_n(&fs->writes, __ATOMIC_SEQ_CST) < want &&
	       vu_now_ms() < deadline)
		usleep(10 * 1000);
	return __atomic_load_n(&fs->writes, __ATOMIC_SEQ_CST);
}

TEST_F(ioevent, matching_writes_signal_and_skip_the_socket)
{
	ASSERT_EQ(0, wr(self->dev, 0x40, 0xffff, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->efd[IO_PLAIN]));
	ASSERT_EQ(0, wr(self->dev, 0x40, 0, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->efd[IO_PLAIN]));
	EXPECT_EQ(0U, self->fs.writes);

	/* Wrong width or address: to the server, no signal. */
	ASSERT_EQ(0, wr(self->dev, 0x40, 1, 2));
	ASSERT_EQ(0, wr(self->dev, 0x42, 1, 2));
	ASSERT_EQ(0, wr(self->dev, 0x44, 1, 4));
	EXPECT_EQ(3U, server_writes(&self->fs, 3));
	EXPECT_EQ(0x44ULL, self->fs.last_offset);
	EXPECT_EQ(0ULL, vu_eventfd_read(self->efd[IO_PLAIN]));
}

TEST_F(ioevent, datamatch)
{
	ASSERT_EQ(0, wr(self->dev, 0x48, 0xc0de, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->efd[IO_DM]));
	EXPECT_EQ(0U, self->fs.writes);
	/* Another value is an ordinary write. */
	ASSERT_EQ(0, wr(self->dev, 0x48, 0xc0df, 4));
	EXPECT_EQ(1U, server_writes(&self->fs, 1));
	EXPECT_EQ(0x48ULL, self->fs.last_offset);
	EXPECT_EQ(0ULL, vu_eventfd_read(self->efd[IO_DM]));
}

TEST_F(ioevent, size_zero_matches_any_width)
{
	ASSERT_EQ(0, wr(self->dev, 0x50, 1, 1));
	ASSERT_EQ(0, wr(self->dev, 0x50, 1, 2));
	ASSERT_EQ(0, wr(self->dev, 0x50, 1, 4));
	ASSERT_EQ(0, wr(self->dev, 0x50, 1, 8));
	EXPECT_EQ(4ULL, vu_eventfd_read(self->efd[IO_ANY_SIZE]));
	EXPECT_EQ(0U, self->fs.writes);
	/* Only at its address. */
	ASSERT_EQ(0, wr(self->dev, 0x51, 1, 1));
	EXPECT_EQ(1U, server_writes(&self->fs, 1));
}

/* The ioeventfds handed out for KVM: flags passed through, same eventfds. */
TEST_F(ioevent, get_ioeventfds_for_kvm)
{
	struct vfio_user_ioeventfd e[8];
	struct vfio_user_ioeventfds req = {
		.argsz = sizeof(req), .index = 0, .count = 1,
		.entries = (uintptr_t)e,
	};
	uint64_t one = 1;
	int i, pio = -1;

	/* Too small: the count comes back, nothing installed. */
	ASSERT_EQ(0, ioctl(self->dev, VFIO_USER_GET_IOEVENTFDS, &req));
	EXPECT_EQ(4U, req.count);

	memset(e, 0xff, sizeof(e));
	req.count = 8;
	ASSERT_EQ(0, ioctl(self->dev, VFIO_USER_GET_IOEVENTFDS, &req));
	ASSERT_EQ(4U, req.count);
	for (i = 0; i < 4; i++) {
		EXPECT_LE(0, e[i].fd);
		EXPECT_TRUE(fcntl(e[i].fd, F_GETFD) & FD_CLOEXEC);
		if (e[i].flags & VFIO_USER_IOEVENTFD_FLAG_PIO)
			pio = i;
	}
	ASSERT_LE(0, pio);
	EXPECT_EQ(0x58ULL, e[pio].offset);
	EXPECT_EQ(2ULL, e[pio].size);
	/* The fd is the same eventfd the server gave. */
	ASSERT_EQ(8, write(e[pio].fd, &one, 8));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->efd[IO_PIO]));
	for (i = 0; i < 4; i++)
		close(e[i].fd);

	req.index = 1;
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_USER_GET_IOEVENTFDS, &req));
	EXPECT_EQ(EINVAL, errno);
	req.index = 0;
	req.entries = 8;	/* a fault installs nothing */
	EXPECT_EQ(-1, ioctl(self->dev, VFIO_USER_GET_IOEVENTFDS, &req));
	EXPECT_EQ(EFAULT, errno);
}

/* The ioregionfd peer: take one command, answer as told. */
struct peer {
	int sock;
	struct vfio_user_ioregionfd_cmd cmd;
	int ncmds;
	enum { ANSWER, SHORT_ANSWER, SILENT } how;
	uint64_t data;
	pthread_t tid;
};

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	struct vfio_user_ioregionfd_resp resp = { .data = p->data };

	if (recv(p->sock, &p->cmd, sizeof(p->cmd), MSG_WAITALL) != sizeof(p->cmd))
		return NULL;
	p->ncmds++;
	if (!(p->cmd.size_resp & VFIO_USER_IOREGIONFD_RESP) || p->how == SILENT)
		return NULL;
	send(p->sock, &resp, p->how == SHORT_ANSWER ? 8 : sizeof(resp),
	     MSG_NOSIGNAL);
	if (p->how == SHORT_ANSWER)
		shutdown(p->sock, SHUT_WR);
	return NULL;
}

static void peer_start(struct peer *p, int sock, int how, uint64_t data)
{
	memset(p, 0, sizeof(*p));
	p->sock = sock;
	p->how = how;
	p->data = data;
	pthread_create(&p->tid, NULL, peer_run, p);
}

TEST_F(ioevent, ioregionfd_read_and_write)
{
	uint32_t v32 = 0;
	uint64_t v64 = 0x1122334455667788ULL;
	struct peer p;

	peer_start(&p, self->rs[1], ANSWER, 0xa1b2c3d4);
	ASSERT_EQ(4, pread(self->dev, &v32, 4, vu_region_off(0, 0x104)));
	pthread_join(p.tid, NULL);
	EXPECT_EQ(0xa1b2c3d4U, v32);
	EXPECT_EQ(VFIO_USER_IOREGIONFD_CMD_READ, p.cmd.cmd);
	EXPECT_EQ(2 | VFIO_USER_IOREGIONFD_RESP, p.cmd.size_resp);
	EXPECT_EQ(MAILBOX_USER_DATA, p.cmd.user_data);
	EXPECT_EQ(4ULL, p.cmd.offset);

	peer_start(&p, self->rs[1], ANSWER, 0);
	ASSERT_EQ(8, pwrite(self->dev, &v64, 8, vu_region_off(0, 0x1f8)));
	pthread_join(p.tid, NULL);
	EXPECT_EQ(VFIO_USER_IOREGIONFD_CMD_WRITE, p.cmd.cmd);
	EXPECT_EQ(3 | VFIO_USER_IOREGIONFD_RESP, p.cmd.size_resp);
	EXPECT_EQ(0xf8ULL, p.cmd.offset);
	EXPECT_EQ(v64, p.cmd.data);

	/* Posted: the write completes without an answer. */
	peer_start(&p, self->ps[1], SILENT, 0);
	ASSERT_EQ(2, pwrite(self->dev, &v64, 2, vu_region_off(0, 0x210)));
	pthread_join(p.tid, NULL);
	EXPECT_EQ(1, p.ncmds);
	EXPECT_EQ(1, p.cmd.size_resp);
	EXPECT_EQ(0x7788ULL, p.cmd.data);

	/* No server message for any of it; odd sizes are refused. */
	EXPECT_EQ(0U, self->fs.writes);
	EXPECT_EQ(-1, pwrite(self->dev, &v64, 3, vu_region_off(0, 0x100)));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(ioevent, malformed_response_fails_that_subregion_only)
{
	uint32_t v = 0;
	struct peer p;

	peer_start(&p, self->rs[1], SHORT_ANSWER, 1);
	EXPECT_EQ(-1, pread(self->dev, &v, 4, vu_region_off(0, 0x100)));
	EXPECT_EQ(EIO, errno);
	pthread_join(p.tid, NULL);
	/* From now on that sub-region fails fast... */
	EXPECT_EQ(-1, pread(self->dev, &v, 4, vu_region_off(0, 0x100)));
	EXPECT_EQ(EIO, errno);
	/* ...and the device does not. */
	ASSERT_EQ(0, wr(self->dev, 0x0, 5, 4));
	EXPECT_EQ(1U, server_writes(&self->fs, 1));
	ASSERT_EQ(0, wr(self->dev, 0x40, 5, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->efd[IO_PLAIN]));
}

TEST_F(ioevent, missing_response_times_out)
{
	uint32_t v = 0;
	struct peer p;

	ASSERT_EQ(0, vu_set_timeout(self->dev, TIMEOUT_MS));
	peer_start(&p, self->rs[1], SILENT, 0);
	EXPECT_EQ(-1, pread(self->dev, &v, 4, vu_region_off(0, 0x100)));
	EXPECT_EQ(ETIMEDOUT, errno);
	pthread_join(p.tid, NULL);
	EXPECT_EQ(-1, pwrite(self->dev, &v, 4, vu_region_off(0, 0x100)));
	EXPECT_EQ(EIO, errno);
}

TEST_F(ioevent, shadow_stores_the_value_then_signals)
{
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0x12345678, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->shadow_efd));
	EXPECT_EQ(0x12345678U, shadow_value(self->memfd));
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0xabcd, 4));
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0x5a5a, 4));
	EXPECT_EQ(2ULL, vu_eventfd_read(self->shadow_efd));
	EXPECT_EQ(0x5a5aU, shadow_value(self->memfd));
	EXPECT_EQ(0U, self->fs.writes);

	/* Another width is an ordinary write: no store, no signal. */
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0x77, 2));
	EXPECT_EQ(1U, server_writes(&self->fs, 1));
	EXPECT_EQ(0ULL, vu_eventfd_read(self->shadow_efd));
	EXPECT_EQ(0x5a5aU, shadow_value(self->memfd));
}

/*
 * Attach a device with one shadow ioeventfd; -errno. With @devp the device
 * stays open there (its server never answers), else it is closed again.
 */
static int attach_shadow_dev(int eventfd_fd, int shadow_fd, uint64_t offset,
			     uint64_t size, int *devp)
{
	struct vfio_user_attach_io_fd io = {
		.type = VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW,
		.offset = SHADOW_REG, .size = size, .shadow_offset = offset,
		.fd = eventfd_fd, .shadow_fd = shadow_fd,
	};
	struct vfio_user_attach_region region;
	struct vfio_user_attach arg;
	int dev = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC), sv[2], ret;

	if (dev < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		ret = -errno;
		close(dev);
		return ret;
	}
	attach_arg(&arg, &region, &io, 1, sv[0]);
	ret = ioctl(dev, VFIO_USER_ATTACH, &arg) ? -errno : 0;
	if (devp && !ret)
		*devp = dev;
	else
		close(dev);
	close(sv[0]);
	close(sv[1]);
	return ret;
}

static int attach_shadow(int eventfd_fd, int shadow_fd, uint64_t offset,
			 uint64_t size)
{
	return attach_shadow_dev(eventfd_fd, shadow_fd, offset, size, NULL);
}

/* As with a writable mapping of it: no write seal while attached. */
TEST_F(ioevent, shadow_memory_cannot_be_sealed_while_attached)
{
	int memfd = memfd_create("shadow", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int dev = -1;

	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, SHADOW_SIZE));
	ASSERT_EQ(0, attach_shadow_dev(self->shadow_efd, memfd, SHADOW_OFFSET,
				       4, &dev));
	EXPECT_EQ(-1, fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE));
	EXPECT_EQ(EBUSY, errno);
	/* Once the device is gone, it can. */
	close(dev);
	EXPECT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE));
	close(memfd);
}

/* Only memory the VMM could map shared and writable itself. */
TEST_F(ioevent, shadow_memory_checked_at_attach)
{
	char path[64];
	int ro, sealed, future, efd = self->shadow_efd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", self->memfd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, ro);
	sealed = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	future = memfd_create("future", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ASSERT_LE(0, sealed);
	ASSERT_LE(0, future);
	ASSERT_EQ(0, ftruncate(sealed, SHADOW_SIZE));
	ASSERT_EQ(0, ftruncate(future, SHADOW_SIZE));
	ASSERT_EQ(0, fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE));
	ASSERT_EQ(0, fcntl(future, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));

	EXPECT_EQ(0, attach_shadow(efd, self->memfd, SHADOW_OFFSET, 4));
	EXPECT_EQ(0, attach_shadow(efd, self->memfd, SHADOW_SIZE - 8, 8));
	/* Not memory: an eventfd, a socket. */
	EXPECT_EQ(-EINVAL, attach_shadow(efd, efd, SHADOW_OFFSET, 4));
	EXPECT_EQ(-EINVAL, attach_shadow(efd, self->sv[1], SHADOW_OFFSET, 4));
	EXPECT_EQ(-EBADF, attach_shadow(efd, -1, SHADOW_OFFSET, 4));
	/* Not writable, or sealed against writes. */
	EXPECT_EQ(-EACCES, attach_shadow(efd, ro, SHADOW_OFFSET, 4));
	EXPECT_EQ(-EPERM, attach_shadow(efd, sealed, SHADOW_OFFSET, 4));
	EXPECT_EQ(-EPERM, attach_shadow(efd, future, SHADOW_OFFSET, 4));
	/* The value must fit, aligned, and have a width. */
	EXPECT_EQ(-EINVAL, attach_shadow(efd, self->memfd, SHADOW_SIZE - 4, 8));
	EXPECT_EQ(-EINVAL, attach_shadow(efd, self->memfd, SHADOW_SIZE, 4));
	EXPECT_EQ(-EINVAL, attach_shadow(efd, self->memfd, SHADOW_OFFSET + 2, 4));
	EXPECT_EQ(-EINVAL, attach_shadow(efd, self->memfd, SHADOW_OFFSET, 0));
	EXPECT_EQ(-EINVAL, attach_shadow(efd, self->memfd, SHADOW_OFFSET, 3));
	EXPECT_EQ(-EINVAL, attach_shadow(efd, self->memfd, ~0ULL - 3, 4));
	/* The eventfd must be one. */
	EXPECT_EQ(-EINVAL, attach_shadow(self->memfd, self->memfd,
					 SHADOW_OFFSET, 4));
	close(ro);
	close(sealed);
	close(future);
}

/*
 * The server truncates (or punches a hole in) its shadow memory while the
 * device is attached: the page the kernel holds is no longer the file's.
 * A write still succeeds and signals, and the device's release drops the
 * old page (the debug kernel's KASAN and page checks watch over it).
 */
TEST_F(ioevent, shadow_memory_truncated_while_attached)
{
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0x11111111, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->shadow_efd));
	EXPECT_EQ(0x11111111U, shadow_value(self->memfd));

	ASSERT_EQ(0, ftruncate(self->memfd, 0));
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0x22222222, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->shadow_efd));
	ASSERT_EQ(0, ftruncate(self->memfd, SHADOW_SIZE));
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0x33333333, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->shadow_efd));

	ASSERT_EQ(0, fallocate(self->memfd, FALLOC_FL_PUNCH_HOLE |
			       FALLOC_FL_KEEP_SIZE, 0, SHADOW_SIZE));
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0x44444444, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->shadow_efd));
	EXPECT_EQ(0U, self->fs.writes);
}

struct sealer {
	int memfd;
	int go;
	int ret;
};

static void *sealer_run(void *arg)
{
	struct sealer *s = arg;

	while (!__atomic_load_n(&s->go, __ATOMIC_ACQUIRE))
		;
	s->ret = fcntl(s->memfd, F_ADD_SEALS, F_SEAL_WRITE);
	return NULL;
}

/*
 * A write seal racing with the attach: one of them wins, never both (the
 * kernel would then write into memory sealed against writes).
 */
TEST_F(ioevent, shadow_attach_races_write_seal)
{
	int i, both = 0, attached = 0, sealed = 0;

	for (i = 0; i < 200; i++) {
		struct sealer s = { .go = 0 };
		pthread_t tid;
		int dev = -1, ret;

		s.memfd = memfd_create("race", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		ASSERT_LE(0, s.memfd);
		ASSERT_EQ(0, ftruncate(s.memfd, SHADOW_SIZE));
		ASSERT_EQ(0, pthread_create(&tid, NULL, sealer_run, &s));
		__atomic_store_n(&s.go, 1, __ATOMIC_RELEASE);
		ret = attach_shadow_dev(self->shadow_efd, s.memfd,
					SHADOW_OFFSET, 4, &dev);
		pthread_join(tid, NULL);
		attached += !ret;
		sealed += !s.ret;
		both += !ret && !s.ret;
		if (!ret)
			close(dev);
		close(s.memfd);
	}
	TH_LOG("attached %d, sealed %d of 200", attached, sealed);
	EXPECT_EQ(0, both);
	EXPECT_EQ(200, attached + sealed);
}

/* Adding F_SEAL_FUTURE_WRITE keeps an existing writable mapping, and us. */
TEST_F(ioevent, shadow_memory_future_write_sealed_while_attached)
{
	int memfd = memfd_create("shadow", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *map;

	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, SHADOW_SIZE));
	map = mmap(NULL, SHADOW_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   memfd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, fcntl(self->memfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	ASSERT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	/* The mapping made before the seal still writes; so does the kernel. */
	*(volatile uint32_t *)map = 1;
	ASSERT_EQ(0, wr(self->dev, SHADOW_REG, 0x55555555, 4));
	EXPECT_EQ(1ULL, vu_eventfd_read(self->shadow_efd));
	EXPECT_EQ(0x55555555U, shadow_value(self->memfd));
	munmap(map, SHADOW_SIZE);
	close(memfd);
}

#define HUGE_SZ		(2UL << 20)
#define THP_KNOB	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* The chosen shmem_enabled mode, "[never]" -> "never"; 0 or -1. */
static int thp_mode(char *mode, size_t size)
{
	char buf[256], *lb, *rb;
	int fd = open(THP_KNOB, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	lb = strchr(buf, '[');
	rb = lb ? strchr(lb, ']') : NULL;
	if (!rb || (size_t)(rb - lb) > size)
		return -1;
	*rb = 0;
	snprintf(mode, size, "%s", lb + 1);
	return 0;
}

static int thp_set(const char *mode)
{
	int fd = open(THP_KNOB, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, mode, strlen(mode)) == (ssize_t)strlen(mode) ? 0 : -1;
	close(fd);
	return ret;
}

static long shmem_huge_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ShmemHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * Shadow memory in a transparent huge page: the value goes to its own
 * offset, in the right 4 KiB of the huge page, not the head page's.
 */
TEST(shadow_store_in_a_huge_page)
{
	struct vfio_user_attach_io_fd io = {
		.type = VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW,
		.offset = SHADOW_REG, .size = 8,
	};
	const uint64_t off = HUGE_SZ + 5 * 4096 + 0x238;
	uint64_t val = 0x1122334455667788ULL, got;
	struct vfio_user_attach_region region;
	struct vfio_user_attach arg;
	int dev, sv[2], efd, memfd;
	char mode[32], *buf;
	long before;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	if (thp_mode(mode, sizeof(mode)) || thp_set("force"))
		SKIP(return, "no shmem transparent huge pages to force");
	before = shmem_huge_kb();
	memfd = memfd_create("huge", MFD_CLOEXEC);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, 2 * HUGE_SZ));
	buf = calloc(1, 2 * HUGE_SZ);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(2 * HUGE_SZ), pwrite(memfd, buf, 2 * HUGE_SZ, 0));
	thp_set(mode);
	if (shmem_huge_kb() < before + 2048) {
		free(buf);
		close(memfd);
		SKIP(return, "the memfd did not get huge pages");
	}

	dev = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, efd);
	io.fd = efd;
	io.shadow_fd = memfd;
	io.shadow_offset = off;
	attach_arg(&arg, &region, &io, 1, sv[0]);
	ASSERT_EQ(0, ioctl(dev, VFIO_USER_ATTACH, &arg));
	ASSERT_EQ(8, pwrite(dev, &val, 8, vu_region_off(0, SHADOW_REG)));
	EXPECT_EQ(1ULL, vu_eventfd_read(efd));

	ASSERT_EQ((ssize_t)(2 * HUGE_SZ), pread(memfd, buf, 2 * HUGE_SZ, 0));
	memcpy(&got, buf + off, 8);
	EXPECT_EQ(val, got);
	/* And nowhere else. */
	memset(buf + off, 0, 8);
	for (got = 0; got < 2 * HUGE_SZ; got++)
		if (buf[got])
			break;
	EXPECT_EQ(2 * HUGE_SZ, got);
	close(dev);
	close(sv[0]);
	close(sv[1]);
	close(efd);
	close(memfd);
	free(buf);
}

/*
 * End to end with the sample server in libvfio-user's layout: the library
 * finds the shadow doorbell, the kernel stores and signals, and the server
 * reads the value from its shadow memory.
 */
TEST(sample_server_shadow_doorbell)
{
	const char *args[] = { "--io-fds-layout=lvu", NULL };
	const struct vuc_region *bar0;
	struct vu_server srv = { 0 };
	struct vuc_device *dev;
	uint32_t v = 0, i, found = 0;
	int fd;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_server_start(&srv, args));
	dev = vu_attach(srv.path, NULL);
	ASSERT_NE(NULL, dev);
	fd = vuc_device_fd(dev);
	bar0 = vuc_get_region(dev, 0);
	for (i = 0; i < bar0->nr_io_fds; i++)
		found += bar0->io_fds[i].type ==
			 VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW;
	EXPECT_EQ(1U, found);
	for (i = 1; i <= 3; i++)
		ASSERT_EQ(0, vu_reg_write32(fd, SAMPLE_REG_DOORBELL_SHADOW,
					    0x1000 + i));
	ASSERT_EQ(0, vu_reg_read32(fd, SAMPLE_REG_SHADOW_COUNT, &v));
	EXPECT_EQ(3U, v);
	ASSERT_EQ(0, vu_reg_read32(fd, SAMPLE_REG_SHADOW_VALUE, &v));
	EXPECT_EQ(0x1003U, v);
	vuc_device_free(dev);
	vu_server_stop(&srv);
}

TEST_HARNESS_MAIN
