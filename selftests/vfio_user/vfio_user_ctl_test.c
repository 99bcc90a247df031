// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-user-ctl against the kernel: list and stats show the devices this
 * process attached, with counters that move; a VMM's own non-root user
 * sees its devices, another user does not; stats --watch follows a device
 * until it goes away; info --fd attaches a socket it inherited.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define CTL		"vfio-user-ctl"
#define NOBODY		65534
#define OTHER_UID	65533

/*
 * Run @cmd (through sh) as @uid (-1: as we are), its output into @out;
 * returns its exit status, or -1.
 */
static int run(const char *cmd, int uid, char *out, size_t len)
{
	int pipefd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		if (uid >= 0 && (setgid(uid) || setuid(uid)))
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while (got + 1 < len &&
	       (n = read(pipefd[0], out + got, len - 1 - got)) > 0)
		got += n;
	out[got] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* "key": N in a JSON line, or -1. */
static long long json_value(const char *text, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(text, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* The device's name from its fdinfo. */
static int device_name(int fd, char *name, size_t len)
{
	char path[64], line[128];
	FILE *f;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "name: %31s", name) == 1 && len >= 32) {
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

FIXTURE(ctl)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
	char name[32];
};

FIXTURE_SETUP(ctl)
{
	struct vuc_options opts = { .flags = VUC_OPT_KERNEL };

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	self->dev = vu_attach(self->srv.path, &opts);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
	ASSERT_EQ(0, device_name(self->fd, self->name, sizeof(self->name)));
}

FIXTURE_TEARDOWN(ctl)
{
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		vu_server_stop(&self->srv);
}

/* list names the device, its state, this process and the server. */
TEST_F(ctl, list)
{
	char out[8192], want[128];

	ASSERT_EQ(0, run(CTL " list", -1, out, sizeof(out))) TH_LOG("%s", out);
	snprintf(want, sizeof(want), "%s ", self->name);
	ASSERT_NE(NULL, strstr(out, want)) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(strstr(out, want), "connected")) TH_LOG("%s", out);

	ASSERT_EQ(0, run(CTL " list --json", -1, out, sizeof(out)))
		TH_LOG("%s", out);
	snprintf(want, sizeof(want), "{\"name\":\"%s\",\"state\":\"connected\",\"vmm_pid\":%d,\"fd\":%d,\"server_pid\":%d}",
		 self->name, getpid(), self->fd, self->srv.pid);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("want %s in %s", want, out);
}

/* stats counts what this process does, by name and by PID:FD. */
TEST_F(ctl, stats_counts)
{
	long long before, after;
	char out[16384], cmd[128];
	uint32_t v;
	int i;

	snprintf(cmd, sizeof(cmd), CTL " stats --json %s", self->name);
	ASSERT_EQ(0, run(cmd, -1, out, sizeof(out))) TH_LOG("%s", out);
	before = json_value(out, "region_reads");
	ASSERT_LE(0, before) TH_LOG("%s", out);
	EXPECT_EQ(getpid(), json_value(out, "owner_pid"));
	EXPECT_EQ(self->srv.pid, json_value(out, "server_pid"));
	EXPECT_NE(NULL, strstr(out, "\"state\":\"connected\""));
	for (i = 0; i < 7; i++)
		ASSERT_EQ(0, vu_reg_read32(self->fd, SAMPLE_REG_ID, &v));

	snprintf(cmd, sizeof(cmd), CTL " stats --json %d:%d", getpid(),
		 self->fd);
	ASSERT_EQ(0, run(cmd, -1, out, sizeof(out))) TH_LOG("%s", out);
	after = json_value(out, "region_reads");
	EXPECT_EQ(before + 7, after) TH_LOG("%s", out);

	/* Text, for a person. */
	snprintf(cmd, sizeof(cmd), CTL " stats %s", self->name);
	ASSERT_EQ(0, run(cmd, -1, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "region_reads")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "sent_region_read")) TH_LOG("%s", out);

	/* A device that is not there: what failed and what to do. */
	ASSERT_EQ(1, run(CTL " stats vfio-user999999", -1, out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "no device 'vfio-user999999' found: 'vfio-user-ctl list' shows"))
		TH_LOG("%s", out);
	ASSERT_EQ(1, run(CTL " stats 1:0", -1, out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "not a /dev/vfio-user device"))
		TH_LOG("%s", out);
}

/*
 * A VMM running as an ordinary user: that user lists its device and reads
 * its counters without root (fdinfo); another user sees nothing of it.
 */
TEST_F(ctl, non_root_vmm_user)
{
	int ready[2], hold[2], status;
	char out[8192], cmd[128], c;
	pid_t vmm;

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(hold));
	vmm = fork();
	ASSERT_LE(0, vmm);
	if (!vmm) {
		/* Keeps the device fd; as a VMM started as the user would be. */
		close(ready[0]);
		close(hold[1]);
		if (setgid(NOBODY) || setuid(NOBODY) ||
		    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		read(hold[0], &c, 1);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	/* The parent's copy goes; the device is the child's alone. */
	vuc_device_free(self->dev);
	self->dev = NULL;

	ASSERT_EQ(0, run(CTL " list --json", NOBODY, out, sizeof(out)))
		TH_LOG("%s", out);
	snprintf(cmd, sizeof(cmd), "\"name\":\"%s\"", self->name);
	EXPECT_NE(NULL, strstr(out, cmd)) TH_LOG("%s", out);
	snprintf(cmd, sizeof(cmd), CTL " stats --json %s", self->name);
	ASSERT_EQ(0, run(cmd, NOBODY, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_EQ(vmm, json_value(out, "vmm_pid")) TH_LOG("%s", out);

	/* Another user: not found, and told why. */
	ASSERT_EQ(1, run(cmd, OTHER_UID, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "other users' only to root")) TH_LOG("%s", out);

	close(hold[1]);
	ASSERT_EQ(vmm, waitpid(vmm, &status, 0));
	EXPECT_EQ(0, status);
}

/* stats --watch prints again as the counters move, until the device goes. */
TEST_F(ctl, watch_until_gone)
{
	char line1[16384], line2[16384], cmd[128], rest[4096];
	int pipefd[2], status, i;
	size_t n;
	FILE *f;
	pid_t pid;
	uint32_t v;

	snprintf(cmd, sizeof(cmd), "stats --watch 1 --json %s", self->name);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		execlp(CTL, CTL, "stats", "--watch", "1", "--json", self->name,
		       (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(line1, sizeof(line1), f));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, vu_reg_read32(self->fd, SAMPLE_REG_ID, &v));
	ASSERT_NE(NULL, fgets(line2, sizeof(line2), f)) TH_LOG("%s", line1);
	EXPECT_EQ(json_value(line1, "region_reads") + 3,
		  json_value(line2, "region_reads"))
		TH_LOG("%s\n%s", line1, line2);

	vuc_device_free(self->dev);
	self->dev = NULL;
	n = fread(rest, 1, sizeof(rest) - 1, f);
	rest[n] = '\0';
	fclose(f);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(1, WEXITSTATUS(status)) TH_LOG("%s", rest);
	EXPECT_NE(NULL, strstr(rest, "is gone")) TH_LOG("%s", rest);
}

/*
 * info --fd on a socket the caller connected (here, one end of a
 * socketpair whose other end the sample server serves), through the
 * kernel, with the other new options accepted.
 */
TEST_F(ctl, info_fd)
{
	char out[65536], cmd[256], fdopt[32];
	int sv[2], status;
	pid_t srv;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	srv = fork();
	ASSERT_LE(0, srv);
	if (!srv) {
		int null = open("/dev/null", O_WRONLY);

		close(sv[0]);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		snprintf(fdopt, sizeof(fdopt), "--fd=%d", sv[1]);
		execlp("vfio-user-sample-server", "vfio-user-sample-server",
		       fdopt, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	snprintf(cmd, sizeof(cmd),
		 CTL " --timeout 20000 --posted-writes=BAR0,BAR1 --no-fd-sharing info --json --fd %d",
		 sv[0]);
	EXPECT_EQ(0, run(cmd, -1, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\"backend\": \"kernel\"")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\"name\": \"BAR3\",\n      \"present\": false"))
		TH_LOG("%s", out);
	close(sv[0]);
	ASSERT_EQ(srv, waitpid(srv, &status, 0));

	/* A path and --fd together: a usage error that says so. */
	EXPECT_EQ(2, run(CTL " info --fd 0 /tmp/x.sock", -1, out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "--fd and a SOCKET_PATH")) TH_LOG("%s", out);
}

TEST_HARNESS_MAIN
