// SPDX-License-Identifier: GPL-2.0
/*
 * A misbehaving server ends the connection in the documented way: the call
 * fails with ETIMEDOUT, ENOTCONN or EPROTO, later calls fail fast, poll()
 * reports EPOLLHUP | EPOLLERR, and the kernel stays quiet (the VM runner
 * fails the run on any splat or leak). A VMM that dies with a request in
 * flight is cleaned up after, and the server sees the end of file.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_user_util.h"

#define TIMEOUT_MS	300

FIXTURE(conn)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
};

FIXTURE_VARIANT(conn)
{
	enum vu_fake_mode mode;
	int first_errno;	/* of the first read; 0 = it succeeds */
	bool breaks;		/* the connection is broken afterwards */
};

FIXTURE_VARIANT_ADD(conn, good) { .mode = VU_FAKE_GOOD, .first_errno = 0 };
FIXTURE_VARIANT_ADD(conn, wrong_id)
{
	.mode = VU_FAKE_WRONG_ID, .first_errno = EPROTO, .breaks = true,
};
FIXTURE_VARIANT_ADD(conn, wrong_cmd)
{
	.mode = VU_FAKE_WRONG_CMD, .first_errno = EPROTO, .breaks = true,
};
FIXTURE_VARIANT_ADD(conn, duplicate_reply)
{
	.mode = VU_FAKE_DUP_REPLY, .first_errno = 0, .breaks = true,
};
FIXTURE_VARIANT_ADD(conn, oversize_frame)
{
	.mode = VU_FAKE_OVERSIZE, .first_errno = EPROTO, .breaks = true,
};
FIXTURE_VARIANT_ADD(conn, short_frame_then_eof)
{
	.mode = VU_FAKE_SHORT_EOF, .first_errno = ENOTCONN, .breaks = true,
};
FIXTURE_VARIANT_ADD(conn, fds_attached)
{
	.mode = VU_FAKE_FDS, .first_errno = EPROTO, .breaks = true,
};
FIXTURE_VARIANT_ADD(conn, no_reply)
{
	.mode = VU_FAKE_NO_REPLY, .first_errno = ETIMEDOUT, .breaks = true,
};
FIXTURE_VARIANT_ADD(conn, reply_after_timeout)
{
	.mode = VU_FAKE_LATE_REPLY, .first_errno = ETIMEDOUT, .breaks = true,
};
FIXTURE_VARIANT_ADD(conn, error_reply_with_payload)
{
	.mode = VU_FAKE_ERROR_PAYLOAD, .first_errno = EIO, .breaks = false,
};
FIXTURE_VARIANT_ADD(conn, server_command_on_main_socket)
{
	.mode = VU_FAKE_UNEXPECTED_CMD, .first_errno = 0, .breaks = false,
};

FIXTURE_SETUP(conn)
{
	struct vuc_options opts = { .timeout_ms = TIMEOUT_MS };

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_fake_start(&self->srv, variant->mode));
	self->dev = vu_attach(self->srv.path, &opts);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
}

FIXTURE_TEARDOWN(conn)
{
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		vu_server_stop(&self->srv);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

TEST_F(conn, ends_as_documented)
{
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	struct pollfd pfd = { .fd = self->fd, .events = 0 };
	uint8_t buf[16];
	struct timespec t0;
	ssize_t n;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = pread(self->fd, buf, sizeof(buf), vu_region_off(0, 0));
	if (variant->first_errno) {
		EXPECT_EQ(-1, n);
		EXPECT_EQ(variant->first_errno, errno);
	} else {
		ASSERT_EQ((ssize_t)sizeof(buf), n);
		for (i = 0; i < 16; i++)
			EXPECT_EQ(i, buf[i]);
	}
	/* Nothing waits longer than the timeout, and a timeout waits it out. */
	EXPECT_LT(elapsed_ms(&t0), 5 * TIMEOUT_MS + 1000);
	if (variant->first_errno == ETIMEDOUT)
		EXPECT_GE(elapsed_ms(&t0), TIMEOUT_MS - 20);

	if (variant->breaks) {
		ASSERT_EQ(1, poll(&pfd, 1, 3000));
		EXPECT_EQ(POLLHUP | POLLERR, pfd.revents & (POLLHUP | POLLERR));
		/* Later calls fail fast, with the same reason. */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		EXPECT_EQ(-1, pread(self->fd, buf, sizeof(buf), vu_region_off(0, 16)));
		EXPECT_NE(0, errno);
		EXPECT_LT(elapsed_ms(&t0), 100);
		ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &st));
		EXPECT_EQ(VFIO_USER_STATS_BROKEN, st.flags);
	} else {
		/* Still healthy: the next read works. */
		ASSERT_EQ((ssize_t)sizeof(buf),
			  pread(self->fd, buf, sizeof(buf), vu_region_off(0, 16)));
		EXPECT_EQ(16, buf[0]);
		EXPECT_EQ(0, poll(&pfd, 1, 0));
		ASSERT_EQ(0, ioctl(self->fd, VFIO_USER_GET_STATS, &st));
		EXPECT_EQ(0U, st.flags);
	}
	if (variant->mode == VU_FAKE_UNEXPECTED_CMD)
		EXPECT_EQ(1ULL, st.server_requests);
	if (variant->mode == VU_FAKE_ERROR_PAYLOAD)
		EXPECT_EQ(1ULL, st.error_replies);
	if (variant->first_errno == EPROTO)
		EXPECT_LE(1ULL, st.protocol_errors);
	if (variant->first_errno == ETIMEDOUT)
		EXPECT_LE(1ULL, st.timeouts);
	if (variant->mode == VU_FAKE_LATE_REPLY)
		usleep((VU_FAKE_LATE_MS + 200) * 1000);
}

/* A server that stops reading: sends block, then time out and break. */
TEST(stuck_send_times_out)
{
	struct vuc_options opts = {
		.timeout_ms = TIMEOUT_MS, .posted_write_regions = 1,
	};
	uint8_t buf[VU_FAKE_REGION_SIZE] = { 0 };
	struct vu_server srv;
	struct vuc_device *dev;
	struct timespec t0;
	int fd, i;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_fake_start(&srv, VU_FAKE_STALL));
	dev = vu_attach(srv.path, &opts);
	ASSERT_NE(NULL, dev);
	fd = vuc_device_fd(dev);

	/* Posted writes fill the socket until a send has to wait. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 100000; i++)
		if (pwrite(fd, buf, sizeof(buf), vu_region_off(0, 0)) < 0)
			break;
	EXPECT_LT(i, 100000);
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_LT(elapsed_ms(&t0), 10 * TIMEOUT_MS + 2000);
	EXPECT_EQ(-1, pwrite(fd, buf, 4, vu_region_off(0, 0)));
	vuc_device_free(dev);
	vu_server_stop(&srv);
}

/*
 * A process sharing the device fd is killed while its call waits. Its
 * request keeps its id only as long as the server had to answer: then the
 * connection breaks as for any missing reply.
 */
TEST(killed_waiter_on_shared_fd_expires)
{
	struct vuc_options opts = { .timeout_ms = TIMEOUT_MS };
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	struct pollfd pfd = { .events = 0 };	/* only HUP, ERR */
	struct vu_server srv;
	struct vuc_device *dev;
	uint8_t buf[8];
	pid_t child;
	int status;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_fake_start(&srv, VU_FAKE_NO_REPLY));
	dev = vu_attach(srv.path, &opts);
	ASSERT_NE(NULL, dev);
	pfd.fd = vuc_device_fd(dev);

	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		pread(pfd.fd, buf, sizeof(buf), vu_region_off(0, 0));
		_exit(0);
	}
	usleep(TIMEOUT_MS * 1000 / 3);
	ASSERT_EQ(0, kill(child, SIGKILL));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));

	/* Still up right after; broken once the reply is overdue. */
	ASSERT_EQ(0, ioctl(pfd.fd, VFIO_USER_GET_STATS, &st));
	EXPECT_EQ(0U, st.flags);
	ASSERT_EQ(1, poll(&pfd, 1, 4 * TIMEOUT_MS + 2000));
	EXPECT_EQ(POLLHUP | POLLERR, pfd.revents & (POLLHUP | POLLERR));
	ASSERT_EQ(0, ioctl(pfd.fd, VFIO_USER_GET_STATS, &st));
	EXPECT_EQ((uint32_t)ETIMEDOUT, st.broken_errno);
	vuc_device_free(dev);
	vu_server_stop(&srv);
}

/* The VMM dies while a call waits for the server: nothing is left behind. */
TEST(vmm_dies_with_request_in_flight)
{
	struct vu_server srv;
	int status, i;
	pid_t vmm;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_fake_start(&srv, VU_FAKE_NO_REPLY));
	vmm = fork();
	ASSERT_LE(0, vmm);
	if (!vmm) {
		struct vuc_options opts = { .timeout_ms = 60000 };
		struct vuc_device *dev = vu_attach(srv.path, &opts);
		uint8_t buf[8];

		if (!dev)
			_exit(2);
		pread(vuc_device_fd(dev), buf, sizeof(buf), vu_region_off(0, 0));
		_exit(3);
	}
	/* Let it attach and block in the read, then kill it. */
	usleep(500 * 1000);
	ASSERT_EQ(0, kill(vmm, SIGKILL));
	ASSERT_EQ(vmm, waitpid(vmm, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));

	/* The server sees the end of file and exits by itself. */
	for (i = 0; i < 300; i++) {
		if (waitpid(srv.pid, &status, WNOHANG) == srv.pid)
			break;
		usleep(10 * 1000);
	}
	EXPECT_LT(i, 300);
	if (i == 300)
		vu_server_stop(&srv);
	unlink(srv.path);
}

TEST_HARNESS_MAIN
