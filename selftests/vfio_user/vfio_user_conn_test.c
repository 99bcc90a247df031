// SPDX-License-Identifier: GPL-2.0
/*
 * A misbehaving server ends the connection in the documented way: the call
 * fails with ETIMEDOUT, ENOTCONN or EPROTO, later calls fail with the same
 * error without a message to the server, poll() reports EPOLLHUP | EPOLLERR
 * (and, while healthy, readiness and nothing else), and the kernel stays
 * quiet (the VM runner fails the run on any splat or leak). A VMM that dies
 * with a request in flight is cleaned up after, and the server sees the end
 * of file.
 *
 * Only the tests of timeouts use a short one; every other wait is bounded
 * generously, so that a slow machine cannot turn a reply into a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_user_util.h"

/* The reply timeout of the tests that expect one to expire. */
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

/* A variant whose first read must wait out the timeout. */
static bool times_out(const FIXTURE_VARIANT(conn) *variant)
{
	return variant->first_errno == ETIMEDOUT;
}

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
	struct vuc_options opts = { .timeout_ms = VU_LONG_TIMEOUT_MS };

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_fake_start(&self->srv, variant->mode));
	self->dev = vu_attach(self->srv.path, &opts);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
	if (times_out(variant))
		ASSERT_EQ(0, vu_set_timeout(self->fd, TIMEOUT_MS));
}

FIXTURE_TEARDOWN(conn)
{
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		vu_server_stop(&self->srv);
}

static int get_stats(int fd, struct vfio_user_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->argsz = sizeof(*st);
	return ioctl(fd, VFIO_USER_GET_STATS, st);
}

TEST_F(conn, ends_as_documented)
{
	struct vfio_user_stats st, st2;
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN | POLLOUT };
	uint8_t buf[16];
	int64_t t0, elapsed;
	ssize_t n;
	int i;

	t0 = vu_now_ms();
	n = pread(self->fd, buf, sizeof(buf), vu_region_off(0, 0));
	elapsed = vu_now_ms() - t0;
	if (variant->first_errno) {
		EXPECT_EQ(-1, n);
		EXPECT_EQ(variant->first_errno, errno);
	} else {
		ASSERT_EQ((ssize_t)sizeof(buf), n);
		for (i = 0; i < 16; i++)
			EXPECT_EQ(i, buf[i]);
	}
	/*
	 * A timeout waits it out (timers do not fire early; the slack is a
	 * jiffy of rounding), and ends: the attach-time timeout of a minute,
	 * had it stayed in force, would run past this bound.
	 */
	if (times_out(variant)) {
		EXPECT_GE(elapsed, TIMEOUT_MS - 20);
		EXPECT_LT(elapsed, TIMEOUT_MS + VU_WAIT_MS);
	}

	if (variant->breaks) {
		EXPECT_EQ(POLLHUP | POLLERR, vu_wait_broken(self->fd, VU_WAIT_MS));
		ASSERT_EQ(0, get_stats(self->fd, &st));
		EXPECT_EQ(VFIO_USER_STATS_BROKEN, st.flags);
		EXPECT_NE(0U, st.broken_errno);
		/*
		 * Later calls fail at once with the same reason: nothing more
		 * goes to the server.
		 */
		EXPECT_EQ(-1, pread(self->fd, buf, sizeof(buf), vu_region_off(0, 16)));
		EXPECT_EQ((int)st.broken_errno, errno);
		ASSERT_EQ(0, get_stats(self->fd, &st2));
		EXPECT_EQ(st.msgs_sent, st2.msgs_sent);
	} else {
		/* Still healthy: the next read works. */
		ASSERT_EQ((ssize_t)sizeof(buf),
			  pread(self->fd, buf, sizeof(buf), vu_region_off(0, 16)));
		EXPECT_EQ(16, buf[0]);
		/* Ready for I/O, as a VFIO device fd is; no hang-up, no error. */
		ASSERT_EQ(1, poll(&pfd, 1, 0));
		EXPECT_EQ(0, pfd.revents & (POLLHUP | POLLERR));
		EXPECT_EQ(POLLIN | POLLOUT, pfd.revents);
		ASSERT_EQ(0, get_stats(self->fd, &st));
		EXPECT_EQ(0U, st.flags);
	}
	if (variant->mode == VU_FAKE_UNEXPECTED_CMD)
		EXPECT_EQ(1ULL, st.server_requests);
	if (variant->mode == VU_FAKE_ERROR_PAYLOAD)
		EXPECT_EQ(1ULL, st.error_replies);
	if (variant->first_errno == EPROTO)
		EXPECT_LE(1ULL, st.protocol_errors);
	if (times_out(variant))
		EXPECT_LE(1ULL, st.timeouts);
	/* The late reply arrives on a broken connection: dropped quietly. */
	if (variant->mode == VU_FAKE_LATE_REPLY)
		usleep((VU_FAKE_LATE_MS + 200) * 1000);
}

/* A server that stops reading: sends block, then time out and break. */
TEST(stuck_send_times_out)
{
	struct vuc_options opts = {
		.timeout_ms = VU_LONG_TIMEOUT_MS, .posted_write_regions = 1,
	};
	struct vfio_user_stats st;
	uint8_t buf[VU_FAKE_REGION_SIZE] = { 0 };
	struct vu_server srv;
	struct vuc_device *dev;
	int fd, i;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_fake_start(&srv, VU_FAKE_STALL));
	dev = vu_attach(srv.path, &opts);
	ASSERT_NE(NULL, dev);
	fd = vuc_device_fd(dev);
	ASSERT_EQ(0, vu_set_timeout(fd, TIMEOUT_MS));

	/*
	 * Posted writes fill the socket until a send has to wait; that send
	 * times out, however long the writes before it took.
	 */
	for (i = 0; i < 100000; i++)
		if (pwrite(fd, buf, sizeof(buf), vu_region_off(0, 0)) < 0)
			break;
	EXPECT_LT(i, 100000);
	EXPECT_EQ(ETIMEDOUT, errno);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(VFIO_USER_STATS_BROKEN, st.flags);
	EXPECT_EQ((uint32_t)ETIMEDOUT, st.broken_errno);
	EXPECT_EQ(-1, pwrite(fd, buf, 4, vu_region_off(0, 0)));
	EXPECT_EQ(ETIMEDOUT, errno);
	vuc_device_free(dev);
	vu_server_stop(&srv);
}

/*
 * A process sharing the device fd is killed while its call waits. Its
 * request keeps its id only as long as the server had to answer: then the
 * connection breaks as for any missing reply. The kill itself breaks
 * nothing: the connection is still up until the reply is overdue, and
 * then breaks with ETIMEDOUT, not with some error of the kill.
 */
#define KILLED_WAITER_TIMEOUT_MS	3000

TEST(killed_waiter_on_shared_fd_expires)
{
	/*
	 * Set at attach, not later: the receive worker, which notices that
	 * the abandoned request is overdue, wakes up at the receive timeout
	 * it last went to sleep with.
	 */
	struct vuc_options opts = { .timeout_ms = KILLED_WAITER_TIMEOUT_MS };
	struct vfio_user_stats st;
	struct vu_server srv;
	struct vuc_device *dev;
	int64_t sent;
	uint8_t buf[8];
	pid_t child;
	int fd, status;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_fake_start(&srv, VU_FAKE_NO_REPLY));
	dev = vu_attach(srv.path, &opts);
	ASSERT_NE(NULL, dev);
	fd = vuc_device_fd(dev);

	sent = vu_now_ms();
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		pread(fd, buf, sizeof(buf), vu_region_off(0, 0));
		_exit(0);
	}
	/* Kill it once its request is with the server. */
	ASSERT_EQ(1, vu_fake_wait_access(&srv, VU_WAIT_MS));
	ASSERT_EQ(0, kill(child, SIGKILL));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));

	/* Up after the kill, unless the reply is overdue by now already. */
	ASSERT_EQ(0, get_stats(fd, &st));
	if (st.flags)
		EXPECT_LE(KILLED_WAITER_TIMEOUT_MS - 20, vu_now_ms() - sent);
	EXPECT_EQ(POLLHUP | POLLERR, vu_wait_broken(fd, VU_WAIT_MS));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(VFIO_USER_STATS_BROKEN, st.flags);
	EXPECT_EQ((uint32_t)ETIMEDOUT, st.broken_errno);
	vuc_device_free(dev);
	vu_server_stop(&srv);
}

/* The VMM dies while a call waits for the server: nothing is left behind. */
TEST(vmm_dies_with_request_in_flight)
{
	struct vu_server srv;
	int64_t deadline;
	bool exited = false;
	int status;
	pid_t vmm;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_fake_start(&srv, VU_FAKE_NO_REPLY));
	vmm = fork();
	ASSERT_LE(0, vmm);
	if (!vmm) {
		struct vuc_options opts = { .timeout_ms = VU_LONG_TIMEOUT_MS };
		struct vuc_device *dev = vu_attach(srv.path, &opts);
		uint8_t buf[8];

		if (!dev)
			_exit(2);
		pread(vuc_device_fd(dev), buf, sizeof(buf), vu_region_off(0, 0));
		_exit(3);
	}
	/* Once it has attached and its read is with the server, kill it. */
	ASSERT_EQ(1, vu_fake_wait_access(&srv, VU_WAIT_MS));
	ASSERT_EQ(0, kill(vmm, SIGKILL));
	ASSERT_EQ(vmm, waitpid(vmm, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));

	/* The server sees the end of file and exits by itself. */
	deadline = vu_now_ms() + VU_WAIT_MS;
	do {
		exited = waitpid(srv.pid, &status, WNOHANG) == srv.pid;
		if (!exited)
			usleep(10 * 1000);
	} while (!exited && vu_now_ms() < deadline);
	EXPECT_TRUE(exited);
	if (exited) {
		close(srv.notify_fd);
		unlink(srv.path);
	} else {
		vu_server_stop(&srv);
	}
}

struct glued {
	int sock;
	pthread_t thread;
	int ret;
};

/*
 * Answers one REGION_READ and, in the same send(), asks for a DMA_READ
 * (of nothing mapped: any answer will do), so that whoever receives the
 * reply receives the start of the command with it.
 */
static void *glued_main(void *arg)
{
	struct glued *g = arg;
	struct vfio_user_header hdr, *h;
	struct vfio_user_region_access *acc;
	struct vfio_user_dma_region_access *dma;
	uint8_t req[256], out[256] = { 0 };
	size_t reply_len = sizeof(hdr) + sizeof(*acc) + 4;

	g->ret = vu_msg_recv(g->sock, &hdr, req, sizeof(req));
	if (g->ret)
		return NULL;
	h = (void *)out;
	*h = (struct vfio_user_header) {
		.msg_id = hdr.msg_id, .cmd = hdr.cmd,
		.msg_size = reply_len, .flags = VFIO_USER_F_TYPE_REPLY,
	};
	acc = (void *)(h + 1);
	memcpy(acc, req, sizeof(*acc));
	memset(acc->data, 0x5a, 4);
	h = (void *)(out + reply_len);
	*h = (struct vfio_user_header) {
		.msg_id = 0x77, .cmd = VFIO_USER_DMA_READ,
		.msg_size = sizeof(hdr) + sizeof(*dma),
	};
	dma = (void *)(h + 1);
	dma->addr = 0x100000;
	dma->count = 4;
	reply_len += sizeof(hdr) + sizeof(*dma);
	g->ret = send(g->sock, out, reply_len, MSG_NOSIGNAL) ==
		 (ssize_t)reply_len ? 0 : -errno;
	return NULL;
}

/*
 * The waiter that receives its reply receives the command behind it in
 * the same receive: the worker must be woken for it then, not when it
 * next wakes by itself (the timeout, a minute here).
 */
FIXTURE(glued) {
	int unused;
};

FIXTURE_SETUP(glued)
{
}

FIXTURE_TEARDOWN(glued)
{
}

TEST_F_TIMEOUT(glued, command_behind_a_reply_is_served_at_once, 120)
{
	struct vfio_user_attach_region region = {
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		.fd = -1, .size = 4096,
	};
	struct vfio_user_attach arg = {
		.argsz = sizeof(arg), .twin_fd = -1, .minor = 2,
		.max_msg_fds = 8, .max_data_xfer_size = 1 << 16,
		.client_max_data_xfer_size = 1 << 16, .max_dma_maps = 16,
		.pgsizes = 4096, .num_regions = 1, .regions = (uintptr_t)&region,
	};
	struct glued g = { 0 };
	struct vfio_user_header hdr;
	uint8_t buf[256];
	uint32_t v = 0;
	int dev, sv[2];

	dev = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);
	if (dev < 0 && errno == ENOENT)
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	arg.sock_fd = sv[0];
	ASSERT_EQ(0, ioctl(dev, VFIO_USER_ATTACH, &arg));
	ASSERT_EQ(0, vu_set_timeout(dev, VU_LONG_TIMEOUT_MS));
	g.sock = sv[1];
	ASSERT_EQ(0, pthread_create(&g.thread, NULL, glued_main, &g));
	EXPECT_EQ(4, pread(dev, &v, 4, vu_region_off(0, 0)));
	EXPECT_EQ(0x5a5a5a5aU, v);
	pthread_join(g.thread, NULL);
	ASSERT_EQ(0, g.ret);
	/* Well before the worker would wake by itself. */
	ASSERT_TRUE(vu_wait_readable(sv[1], VU_WAIT_MS));
	ASSERT_EQ(0, vu_msg_recv(sv[1], &hdr, buf, sizeof(buf)));
	EXPECT_EQ(VFIO_USER_DMA_READ, hdr.cmd);
	EXPECT_EQ(0x77, hdr.msg_id);
	EXPECT_TRUE(hdr.flags & VFIO_USER_F_TYPE_REPLY);
	close(dev);
	close(sv[0]);
	close(sv[1]);
}

TEST_HARNESS_MAIN
