// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl info against the fake server, handed the socket with --fd:
 * a region of size 0 is "not present" (text) and "present": false (JSON)
 * whatever flags the server sets on it.
 *
 * Runs build/bin/vfio-user-ctl (from the directory of this program, as
 * ksft-run starts it, or $VFIO_USER_BIN_DIR); skipped when it is not built.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "test_common.h"
#include "fake_server.h"

static void ctl_path(char *buf, size_t len)
{
	const char *dir = getenv("VFIO_USER_BIN_DIR");

	snprintf(buf, len, "%s/vfio-user-ctl", dir ? dir : "../bin");
}

/* Run vfio-user-ctl --userspace info [--json] --fd @fd; output in @out. */
static int run_info(const char *ctl, int fd, bool json, char *out, size_t len)
{
	char fdarg[16];
	int pipefd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		fcntl(fd, F_SETFD, 0);
		if (json)
			execl(ctl, ctl, "--userspace", "info", "--json", "--fd",
			      fdarg, (char *)NULL);
		else
			execl(ctl, ctl, "--userspace", "info", "--no-bar-sizing",
			      "--fd", fdarg, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	close(fd);
	while (got + 1 < len &&
	       (n = read(pipefd[0], out + got, len - 1 - got)) > 0)
		got += n;
	out[got] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

FIXTURE(zero)
{
	struct fsrv *s;
	char ctl[512];
	char out[65536];
};

FIXTURE_SETUP(zero)
{
	const uint32_t all = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE |
			     VFIO_REGION_INFO_FLAG_MMAP;

	ctl_path(self->ctl, sizeof(self->ctl));
	if (access(self->ctl, X_OK))
		SKIP(return, "%s is not built", self->ctl);
	self->s = fsrv_new();
	ASSERT_NE(NULL, self->s);
	/* BAR3 and BAR4: size 0, but flagged as if they were there. */
	self->s->regions[3].flags = all;
	self->s->regions[4].flags = VFIO_REGION_INFO_FLAG_READ;
	ASSERT_EQ(0, fsrv_start(self->s));
}

FIXTURE_TEARDOWN(zero)
{
	if (self->s)
		fsrv_free(self->s);
}

TEST_F(zero, text_says_not_present)
{
	const char *r3, *r4;

	ASSERT_EQ(0, run_info(self->ctl, fsrv_take_client(self->s), false,
			      self->out, sizeof(self->out)))
		TH_LOG("%s", self->out);
	r3 = strstr(self->out, "\tRegion 3 (BAR3): size 0 (not present)\n");
	r4 = strstr(self->out, "\tRegion 4 (BAR4): size 0 (not present)\n");
	ASSERT_NE(NULL, r3) TH_LOG("%s", self->out);
	ASSERT_NE(NULL, r4) TH_LOG("%s", self->out);
	/* Nothing about their flags in between. */
	EXPECT_EQ(r4, r3 + strlen("\tRegion 3 (BAR3): size 0 (not present)\n"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "Server: socket fd "));
	EXPECT_EQ(NULL, fsrv_failure(self->s));
}

TEST_F(zero, json_says_absent)
{
	const char *r3;

	ASSERT_EQ(0, run_info(self->ctl, fsrv_take_client(self->s), true,
			      self->out, sizeof(self->out)))
		TH_LOG("%s", self->out);
	r3 = strstr(self->out, "\"name\": \"BAR3\",");
	ASSERT_NE(NULL, r3) TH_LOG("%s", self->out);
	EXPECT_EQ(0, strncmp(strchr(r3, '\n') + 1, "      \"present\": false\n",
			     strlen("      \"present\": false\n")))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "\"name\": \"BAR4\",\n      \"present\": false\n"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "\"name\": \"BAR2\",\n      \"present\": true,"))
		TH_LOG("%s", self->out);
}

TEST_HARNESS_MAIN
