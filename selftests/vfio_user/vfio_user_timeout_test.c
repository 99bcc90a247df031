// SPDX-License-Identifier: GPL-2.0
/*
 * Bounds on waiting for the server: VFIO_USER_SET_TIMEOUT validates its
 * argument, and DEVICE_RESET, which the specification allows to take long,
 * has a bound of its own (VFIO_USER_TIMEOUT_RESET) instead of the reply
 * timeout of every other message. The server is the sample server, stopped
 * with SIGSTOP to make it slow.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define NEED_MODULE()							\
	do {								\
		if (access(VFIO_USER_DEV, F_OK))			\
			SKIP(return, VFIO_USER_DEV " not present");	\
	} while (0)

/* The reply timeout of these tests: far shorter than the pause below. */
#define SHORT_MS	200
#define PAUSE_US	(5 * SHORT_MS * 1000)

static int set_timeout(int fd, uint32_t flags, uint32_t ms)
{
	struct vfio_user_timeout t = {
		.argsz = sizeof(t), .flags = flags, .timeout_ms = ms,
	};

	return ioctl(fd, VFIO_USER_SET_TIMEOUT, &t) ? -errno : 0;
}

struct reset_call {
	int fd;
	pthread_t thread;
	int ret;
};

static void *reset_main(void *arg)
{
	struct reset_call *c = arg;

	c->ret = ioctl(c->fd, VFIO_DEVICE_RESET) ? -errno : 0;
	return NULL;
}

FIXTURE(timeout)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
};

FIXTURE_SETUP(timeout)
{
	self->dev = NULL;
	self->srv.pid = 0;
	if (access(VFIO_USER_DEV, F_OK))
		return;
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	self->dev = vu_attach(self->srv.path, NULL);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
}

FIXTURE_TEARDOWN(timeout)
{
	if (self->srv.pid > 0)
		kill(self->srv.pid, SIGCONT);
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		vu_server_stop(&self->srv);
}

TEST_F_TIMEOUT(timeout, set_timeout_validates, 60)
{
	struct vfio_user_timeout t = {
		.argsz = sizeof(t), .timeout_ms = 1000, .reserved = 1,
	};

	NEED_MODULE();
	EXPECT_EQ(-EINVAL, set_timeout(self->fd, 0, 0));
	EXPECT_EQ(-EINVAL, set_timeout(self->fd, VFIO_USER_TIMEOUT_RESET, 0));
	EXPECT_EQ(-EINVAL, set_timeout(self->fd, 0, 600001));
	EXPECT_EQ(-EINVAL, set_timeout(self->fd, VFIO_USER_TIMEOUT_RESET,
				       600001));
	EXPECT_EQ(-EINVAL, set_timeout(self->fd, 1U << 1, 1000));
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_USER_SET_TIMEOUT, &t));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, set_timeout(self->fd, 0, 600000));
	EXPECT_EQ(0, set_timeout(self->fd, VFIO_USER_TIMEOUT_RESET, 1));
}

static uint32_t reset_count(int fd)
{
	uint32_t v = 0;

	if (pread(fd, &v, sizeof(v), vu_region_off(VFIO_PCI_BAR0_REGION_INDEX,
						   SAMPLE_REG_RESET_COUNT)) !=
	    sizeof(v))
		return UINT32_MAX;
	return v;
}

TEST_F_TIMEOUT(timeout, reset_outlasts_the_reply_timeout, 120)
{
	struct reset_call c = { .fd = self->fd, .ret = 1 };
	uint32_t before;

	NEED_MODULE();
	before = reset_count(self->fd);
	ASSERT_NE(UINT32_MAX, before);
	ASSERT_EQ(0, set_timeout(self->fd, 0, SHORT_MS));
	ASSERT_EQ(0, set_timeout(self->fd, VFIO_USER_TIMEOUT_RESET,
				 VU_LONG_TIMEOUT_MS));
	/* A server busy resetting for many reply timeouts. */
	ASSERT_EQ(0, kill(self->srv.pid, SIGSTOP));
	ASSERT_EQ(0, pthread_create(&c.thread, NULL, reset_main, &c));
	usleep(PAUSE_US);
	ASSERT_EQ(0, kill(self->srv.pid, SIGCONT));
	ASSERT_EQ(0, pthread_join(c.thread, NULL));
	EXPECT_EQ(0, c.ret);
	/* Still healthy, and reset. */
	EXPECT_EQ(0, vu_wait_broken(self->fd, 0));
	ASSERT_EQ(0, set_timeout(self->fd, 0, VU_LONG_TIMEOUT_MS));
	EXPECT_EQ(before + 1, reset_count(self->fd));
}

TEST_F_TIMEOUT(timeout, reset_has_a_bound_too, 120)
{
	NEED_MODULE();
	ASSERT_EQ(0, set_timeout(self->fd, VFIO_USER_TIMEOUT_RESET, SHORT_MS));
	ASSERT_EQ(0, kill(self->srv.pid, SIGSTOP));
	EXPECT_EQ(-1, ioctl(self->fd, VFIO_DEVICE_RESET));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_NE(0, vu_wait_broken(self->fd, VU_WAIT_MS));
	ASSERT_EQ(0, kill(self->srv.pid, SIGCONT));
}

TEST_F_TIMEOUT(timeout, other_messages_keep_the_reply_timeout, 120)
{
	uint32_t v;

	NEED_MODULE();
	ASSERT_EQ(0, set_timeout(self->fd, 0, SHORT_MS));
	ASSERT_EQ(0, set_timeout(self->fd, VFIO_USER_TIMEOUT_RESET,
				 VU_LONG_TIMEOUT_MS));
	ASSERT_EQ(0, kill(self->srv.pid, SIGSTOP));
	EXPECT_EQ(-1, pread(self->fd, &v, sizeof(v),
			    vu_region_off(VFIO_PCI_BAR0_REGION_INDEX,
					  SAMPLE_REG_ID)));
	EXPECT_EQ(ETIMEDOUT, errno);
	ASSERT_EQ(0, kill(self->srv.pid, SIGCONT));
}

TEST_HARNESS_MAIN
