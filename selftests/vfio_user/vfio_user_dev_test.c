// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/vfio-user basics: open and release, unknown ioctls, the module
 * reference an open fd holds, the reply-timeout module parameter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define VFIO_USER_DEV		"/dev/vfio-user"
#define VFIO_USER_REFCNT	"/sys/module/vfio_user/refcnt"
#define VFIO_USER_TIMEOUT_PARAM	"/sys/module/vfio_user/parameters/reply_timeout_ms"

static int open_dev_or_skip(struct __test_metadata *_metadata)
{
	int fd = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		SKIP(return -1, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", VFIO_USER_DEV, strerror(errno));
	return fd;
}

static long read_long(const char *path)
{
	char buf[64] = { 0 };
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	return strtol(buf, NULL, 0);
}

/* Returns 0 or -errno of the write, so rejected values can be asserted. */
static int write_str(const char *path, const char *val)
{
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

TEST(open_release)
{
	struct stat st;
	int fd;

	fd = open_dev_or_skip(_metadata);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	/* Only root may hand sockets to the kernel. */
	EXPECT_EQ(0600U, st.st_mode & 0777U);
	EXPECT_EQ(0, close(fd));
}

/* Every open is its own connection object; many may coexist. */
TEST(many_opens)
{
	enum { NR = 256 };
	int fds[NR], i;

	fds[0] = open_dev_or_skip(_metadata);
	for (i = 1; i < NR; i++) {
		fds[i] = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fds[i]) TH_LOG("open #%d: %s", i, strerror(errno));
	}
	for (i = 0; i < NR; i++)
		EXPECT_EQ(0, close(fds[i]));
}

TEST(unknown_ioctl_enotty)
{
	static const unsigned long cmds[] = {
		0, 1, 0xffffffff, _IO('X', 0xff), _IOR(';', 0xff, int),
		_IOWR('V', 0x7f, long),
	};
	unsigned int i;
	int fd;

	fd = open_dev_or_skip(_metadata);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, cmds[i], 0));
		EXPECT_EQ(ENOTTY, errno) TH_LOG("ioctl 0x%lx", cmds[i]);
	}
	close(fd);
}

/* An open fd pins the module (fops owner); release drops the pin. */
TEST(open_fd_pins_module)
{
	long before, during, after;
	int fd1, fd2;

	fd1 = open_dev_or_skip(_metadata);
	close(fd1);
	before = read_long(VFIO_USER_REFCNT);
	ASSERT_LE(0, before);

	fd1 = open(VFIO_USER_DEV, O_RDWR);
	fd2 = open(VFIO_USER_DEV, O_RDWR);
	ASSERT_LE(0, fd1);
	ASSERT_LE(0, fd2);
	during = read_long(VFIO_USER_REFCNT);
	EXPECT_EQ(before + 2, during);

	close(fd1);
	close(fd2);
	after = read_long(VFIO_USER_REFCNT);
	EXPECT_EQ(before, after);
}

TEST(reply_timeout_param_bounds)
{
	long orig;
	char buf[32];
	int fd;

	fd = open_dev_or_skip(_metadata);
	close(fd);
	orig = read_long(VFIO_USER_TIMEOUT_PARAM);
	ASSERT_LT(0, orig);

	EXPECT_EQ(-EINVAL, write_str(VFIO_USER_TIMEOUT_PARAM, "0"));
	EXPECT_EQ(-EINVAL, write_str(VFIO_USER_TIMEOUT_PARAM, "600001"));
	EXPECT_EQ(-EINVAL, write_str(VFIO_USER_TIMEOUT_PARAM, "-1"));
	EXPECT_EQ(-EINVAL, write_str(VFIO_USER_TIMEOUT_PARAM, "soon"));
	EXPECT_EQ(orig, read_long(VFIO_USER_TIMEOUT_PARAM));

	EXPECT_EQ(0, write_str(VFIO_USER_TIMEOUT_PARAM, "1234"));
	EXPECT_EQ(1234, read_long(VFIO_USER_TIMEOUT_PARAM));

	snprintf(buf, sizeof(buf), "%ld", orig);
	EXPECT_EQ(0, write_str(VFIO_USER_TIMEOUT_PARAM, buf));
	EXPECT_EQ(orig, read_long(VFIO_USER_TIMEOUT_PARAM));
}

TEST_HARNESS_MAIN
