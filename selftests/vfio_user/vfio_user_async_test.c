// SPDX-License-Identifier: GPL-2.0
/*
 * Asynchronous region access through io_uring: reads and writes are sent
 * from the submitting task itself (no io-wq thread), many are in flight at
 * once, each completes with its own data when its reply arrives, writes keep
 * their order, and every access in flight fails cleanly when the server
 * dies, stops answering, or the VMM exits. Also readv/writev and
 * RWF_NOWAIT, which go through the same entry points.
 */
#include <dirent.h>
#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define QD		32
#define ROUNDS		20

#define NEED_MODULE()							\
	do {								\
		if (access(VFIO_USER_DEV, F_OK))			\
			SKIP(return, VFIO_USER_DEV " not present");	\
	} while (0)

/* Threads of this process that are io_uring's io-wq workers. */
static int io_wq_workers(void)
{
	struct dirent *de;
	int n = 0;
	DIR *dir;

	dir = opendir("/proc/self/task");
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "iou-wrk", 7))
			n++;
		fclose(f);
	}
	closedir(dir);
	return n;
}

/* Wait for @n completions; each cqe's res into @res[user_data]. */
static int reap(struct io_uring *ring, int n, int *res, int nr_res)
{
	struct __kernel_timespec ts = { .tv_sec = VU_WAIT_MS / 1000 };
	struct io_uring_cqe *cqe;

	while (n--) {
		if (io_uring_wait_cqe_timeout(ring, &cqe, &ts))
			return -1;
		if (cqe->user_data < (uint64_t)nr_res)
			res[cqe->user_data] = cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
	return 0;
}

FIXTURE(async)
{
	struct vu_server srv;
	struct vuc_device *dev;
	struct io_uring ring;
	int fd;
};

FIXTURE_SETUP(async)
{
	self->dev = NULL;
	self->fd = -1;
	self->srv.pid = 0;
	ASSERT_EQ(0, io_uring_queue_init(QD * 2, &self->ring, 0));
}

FIXTURE_TEARDOWN(async)
{
	io_uring_queue_exit(&self->ring);
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		vu_server_stop(&self->srv);
}

/* Attach to the sample server; BAR0 without io fds, so every access is a message. */
static int attach_sample(FIXTURE_DATA(async) *self)
{
	struct vuc_options o = { .flags = VUC_OPT_NO_IO_FDS };

	if (vu_server_start(&self->srv, NULL))
		return -1;
	self->dev = vu_attach(self->srv.path, &o);
	if (!self->dev)
		return -1;
	self->fd = vuc_device_fd(self->dev);
	return 0;
}

static int attach_fake(FIXTURE_DATA(async) *self, enum vu_fake_mode mode)
{
	if (vu_fake_start(&self->srv, mode))
		return -1;
	self->dev = vu_attach(self->srv.path, NULL);
	if (!self->dev)
		return -1;
	self->fd = vuc_device_fd(self->dev);
	return 0;
}

static off_t bar0(uint64_t off)
{
	return (off_t)vu_region_off(VFIO_PCI_BAR0_REGION_INDEX, off);
}

TEST_F_TIMEOUT(async, reads_in_flight_complete_with_their_data, 300)
{
	uint32_t buf[QD];
	int res[QD], r, i;

	NEED_MODULE();
	ASSERT_EQ(0, attach_sample(self));
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < QD; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

			buf[i] = 0;
			res[i] = -1;
			/* Two registers, alternating, so each read's data is its own. */
			io_uring_prep_read(sqe, self->fd, &buf[i], sizeof(buf[i]),
					   bar0(i & 1 ? SAMPLE_REG_VERSION :
						SAMPLE_REG_ID));
			sqe->user_data = i;
		}
		ASSERT_EQ(QD, io_uring_submit(&self->ring));
		ASSERT_EQ(0, reap(&self->ring, QD, res, QD));
		for (i = 0; i < QD; i++) {
			ASSERT_EQ((int)sizeof(buf[i]), res[i]);
			ASSERT_EQ(i & 1 ? 1U : SAMPLE_ID_VALUE, buf[i]);
		}
	}
	/* Submitted from this task, not handed to io-wq threads. */
	EXPECT_EQ(0, io_wq_workers());
}

TEST_F_TIMEOUT(async, writes_keep_their_order, 300)
{
	uint32_t vals[QD], v = 0;
	int res[QD], i;

	NEED_MODULE();
	ASSERT_EQ(0, attach_sample(self));
	for (i = 0; i < QD; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		vals[i] = 0x1000 + i;
		res[i] = -1;
		io_uring_prep_write(sqe, self->fd, &vals[i], sizeof(vals[i]),
				    bar0(SAMPLE_REG_SCRATCH));
		sqe->user_data = i;
	}
	ASSERT_EQ(QD, io_uring_submit(&self->ring));
	ASSERT_EQ(0, reap(&self->ring, QD, res, QD));
	for (i = 0; i < QD; i++)
		ASSERT_EQ((int)sizeof(vals[i]), res[i]);
	/* The server saw them in submission order: the last one stays. */
	ASSERT_EQ((ssize_t)sizeof(v), pread(self->fd, &v, sizeof(v),
					    bar0(SAMPLE_REG_SCRATCH)));
	EXPECT_EQ(0x1000U + QD - 1, v);
	EXPECT_EQ(0, io_wq_workers());
}

TEST_F_TIMEOUT(async, all_in_flight_fail_when_the_server_dies, 300)
{
	uint32_t buf[QD];
	int res[QD], i, status;

	NEED_MODULE();
	ASSERT_EQ(0, attach_fake(self, VU_FAKE_NO_REPLY));
	for (i = 0; i < QD; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		res[i] = 0;
		io_uring_prep_read(sqe, self->fd, &buf[i], sizeof(buf[i]), bar0(0));
		sqe->user_data = i;
	}
	ASSERT_EQ(QD, io_uring_submit(&self->ring));
	/* All of them reached the server at once: none waits for another. */
	for (i = 0; i < QD; i++)
		ASSERT_TRUE(vu_fake_wait_access(&self->srv, VU_WAIT_MS));
	kill(self->srv.pid, SIGKILL);
	ASSERT_EQ(self->srv.pid, waitpid(self->srv.pid, &status, 0));
	self->srv.pid = 0;
	ASSERT_EQ(0, reap(&self->ring, QD, res, QD));
	for (i = 0; i < QD; i++)
		EXPECT_EQ(-ENOTCONN, res[i]);
	EXPECT_NE(0, vu_wait_broken(self->fd, VU_WAIT_MS));
}

TEST_F_TIMEOUT(async, unanswered_accesses_time_out, 300)
{
	uint32_t buf[8];
	int res[8], i;

	NEED_MODULE();
	ASSERT_EQ(0, attach_fake(self, VU_FAKE_NO_REPLY));
	ASSERT_EQ(0, vu_set_timeout(self->fd, 300));
	for (i = 0; i < 8; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		res[i] = 0;
		io_uring_prep_read(sqe, self->fd, &buf[i], sizeof(buf[i]),
				   bar0(4 * i));
		sqe->user_data = i;
	}
	ASSERT_EQ(8, io_uring_submit(&self->ring));
	/* Nobody waits for them, yet each ends by its deadline. */
	ASSERT_EQ(0, reap(&self->ring, 8, res, 8));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(-ETIMEDOUT, res[i]);
	EXPECT_NE(0, vu_wait_broken(self->fd, VU_WAIT_MS));
}

TEST_F_TIMEOUT(async, vmm_exit_with_accesses_in_flight, 300)
{
	int64_t deadline;
	int status, i;
	pid_t child;

	NEED_MODULE();
	ASSERT_EQ(0, vu_fake_start(&self->srv, VU_FAKE_NO_REPLY));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		static uint32_t buf[QD];
		struct vuc_device *dev = vu_attach(self->srv.path, NULL);
		struct io_uring ring;

		if (!dev || io_uring_queue_init(QD, &ring, 0))
			_exit(2);
		for (i = 0; i < QD; i++)
			io_uring_prep_read(io_uring_get_sqe(&ring),
					   vuc_device_fd(dev), &buf[i],
					   sizeof(buf[i]), bar0(0));
		if (io_uring_submit(&ring) != QD)
			_exit(3);
		/* Gone with everything in flight, ring and device open. */
		_exit(0);
	}
	for (i = 0; i < QD; i++)
		ASSERT_TRUE(vu_fake_wait_access(&self->srv, VU_WAIT_MS));
	/* The exit completes them all; bounded far beyond any machine. */
	deadline = vu_now_ms() + VU_WAIT_MS;
	while (waitpid(child, &status, WNOHANG) == 0) {
		ASSERT_LT(vu_now_ms(), deadline);
		usleep(10000);
	}
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F_TIMEOUT(async, readv_and_nowait, 120)
{
	uint32_t a = 0, b = 0, c = 0;
	struct iovec iov[2] = {
		{ .iov_base = &a, .iov_len = sizeof(a) },
		{ .iov_base = &b, .iov_len = sizeof(b) },
	};

	NEED_MODULE();
	ASSERT_EQ(0, attach_sample(self));
	/* Two registers in one call: ID, then VERSION. */
	ASSERT_EQ((ssize_t)sizeof(a) + (ssize_t)sizeof(b),
		  preadv(self->fd, iov, 2, bar0(SAMPLE_REG_ID)));
	EXPECT_EQ(SAMPLE_ID_VALUE, a);
	EXPECT_EQ(1U, b);
	/* Every access waits for the server: RWF_NOWAIT never blocks. */
	iov[0].iov_base = &c;
	EXPECT_EQ(-1, preadv2(self->fd, iov, 1, bar0(SAMPLE_REG_ID), RWF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0U, c);
}

TEST_HARNESS_MAIN
