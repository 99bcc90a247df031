// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the vfio_user selftests.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vfio_user_util.h"

static unsigned int vu_unique;

static void vu_temp_path(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "/tmp/vu-%s-%d-%u.sock", what, getpid(), vu_unique++);
	unlink(buf);
}

/*
 * Is a socket listening at @path? Asked of /proc/net/unix rather than by
 * connecting, which would take the server's one client slot.
 */
static bool vu_listening(const char *path)
{
	char line[512], sock_path[256];
	unsigned int flags;
	bool found = false;
	FILE *f;

	f = fopen("/proc/net/unix", "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %255s", &flags,
			   sock_path) == 2)
			found = (flags & 0x10000) && !strcmp(sock_path, path);
	}
	fclose(f);
	return found;
}

int64_t vu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int vu_wait_socket(const char *path, pid_t pid)
{
	int64_t deadline = vu_now_ms() + VU_WAIT_MS;
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -ECHILD;
		if (vu_listening(path))
			return 0;
		usleep(10 * 1000);
	} while (vu_now_ms() < deadline);
	return -ETIMEDOUT;
}

int vu_server_start(struct vu_server *srv, const char *const *args)
{
	char opt[160];
	int ret;

	srv->notify_fd = -1;
	vu_temp_path(srv->path, sizeof(srv->path), "server");
	snprintf(opt, sizeof(opt), "--socket-path=%s", srv->path);
	srv->pid = fork();
	if (srv->pid < 0)
		return -errno;
	if (!srv->pid) {
		const char *argv[16] = { "vfio-user-sample-server", opt };
		int i = 2;

		while (args && *args && i < 15)
			argv[i++] = *args++;
		argv[i] = NULL;
		/* Its log only when asked for: VU_SERVER_LOG=1. */
		if (!getenv("VU_SERVER_LOG")) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0)
				dup2(null, STDERR_FILENO);
		}
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	ret = vu_wait_socket(srv->path, srv->pid);
	if (ret)
		vu_server_stop(srv);
	return ret;
}

int vu_server_stop(struct vu_server *srv)
{
	int status;

	if (srv->pid <= 0)
		return -1;
	kill(srv->pid, SIGTERM);
	if (waitpid(srv->pid, &status, 0) != srv->pid)
		return -1;
	srv->pid = 0;
	unlink(srv->path);
	if (srv->notify_fd >= 0)
		close(srv->notify_fd);
	srv->notify_fd = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The misbehaving server ------------------------------------------------ */

struct fake_msg {
	struct vfio_user_header hdr;
	uint8_t payload[2 * VU_FAKE_REGION_SIZE];
};

static int fake_send(int sock, uint16_t id, uint16_t cmd, uint32_t flags,
		     uint32_t error_no, const void *payload, size_t len, int fd)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct vfio_user_header hdr = {
		.msg_id = id, .cmd = cmd, .msg_size = sizeof(hdr) + len,
		.flags = flags, .error_no = error_no,
	};
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	if (fd >= 0) {
		struct cmsghdr *cmsg;

		mh.msg_control = control;
		mh.msg_controllen = sizeof(control);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)(sizeof(hdr) + len) ? 0 : -1;
}

static int fake_reply(int sock, const struct fake_msg *m, const void *payload,
		      size_t len)
{
	return fake_send(sock, m->hdr.msg_id, m->hdr.cmd,
			 VFIO_USER_F_TYPE_REPLY, 0, payload, len, -1);
}

static int fake_error(int sock, const struct fake_msg *m, int err)
{
	return fake_send(sock, m->hdr.msg_id, m->hdr.cmd,
			 VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, err, NULL, 0,
			 -1);
}

/* Receive one message whose payload fits; fds are closed. */
static int fake_recv(int sock, struct fake_msg *m)
{
	char control[CMSG_SPACE(sizeof(int) * 64)];
	struct iovec iov = { .iov_base = &m->hdr, .iov_len = sizeof(m->hdr) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;
	size_t len;
	ssize_t n;

	n = recvmsg(sock, &mh, MSG_WAITALL);
	if (n != sizeof(m->hdr))
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		int *fds = (int *)CMSG_DATA(cmsg);
		size_t i, nr = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (i = 0; i < nr; i++)
			close(fds[i]);
	}
	if (m->hdr.msg_size < sizeof(m->hdr))
		return -1;
	len = m->hdr.msg_size - sizeof(m->hdr);
	if (len > sizeof(m->payload))
		return -1;
	if (len && recv(sock, m->payload, len, MSG_WAITALL) != (ssize_t)len)
		return -1;
	return 0;
}

static void fake_version(int sock, const struct fake_msg *m)
{
	static const char json[] =
		"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":4096}}";
	uint8_t buf[sizeof(struct vfio_user_version) + sizeof(json)];
	struct vfio_user_version v = { .major = 0, .minor = 2 };

	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), json, sizeof(json));
	fake_reply(sock, m, buf, sizeof(buf));
}

static void fake_region_info(int sock, const struct fake_msg *m)
{
	struct vfio_region_info info;

	memcpy(&info, m->payload, sizeof(info));
	if (info.index != 0) {
		fake_error(sock, m, EINVAL);
		return;
	}
	info.argsz = sizeof(info);
	info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	info.cap_offset = 0;
	info.size = VU_FAKE_REGION_SIZE;
	info.offset = 0;
	fake_reply(sock, m, &info, sizeof(info));
}

/* Answer a REGION_READ the way @mode says; returns -1 to hang up. */
static int fake_region_read(int sock, const struct fake_msg *m,
			    enum vu_fake_mode mode)
{
	struct vfio_user_region_access acc;
	uint8_t reply[sizeof(acc) + VU_FAKE_REGION_SIZE];
	uint32_t i;
	int fd;

	memcpy(&acc, m->payload, sizeof(acc));
	if (acc.count > VU_FAKE_REGION_SIZE ||
	    acc.offset + acc.count > VU_FAKE_REGION_SIZE)
		return fake_error(sock, m, EINVAL);
	memcpy(reply, &acc, sizeof(acc));
	for (i = 0; i < acc.count; i++)
		reply[sizeof(acc) + i] = (uint8_t)(acc.offset + i);

	switch (mode) {
	case VU_FAKE_WRONG_ID:
		return fake_send(sock, m->hdr.msg_id + 1, m->hdr.cmd,
				 VFIO_USER_F_TYPE_REPLY, 0, reply,
				 sizeof(acc) + acc.count, -1);
	case VU_FAKE_WRONG_CMD:
		return fake_send(sock, m->hdr.msg_id, VFIO_USER_REGION_WRITE,
				 VFIO_USER_F_TYPE_REPLY, 0, reply,
				 sizeof(acc) + acc.count, -1);
	case VU_FAKE_DUP_REPLY:
		fake_reply(sock, m, reply, sizeof(acc) + acc.count);
		return fake_reply(sock, m, reply, sizeof(acc) + acc.count);
	case VU_FAKE_OVERSIZE: {
		struct vfio_user_header hdr = {
			.msg_id = m->hdr.msg_id, .cmd = m->hdr.cmd,
			.msg_size = 64 << 20, .flags = VFIO_USER_F_TYPE_REPLY,
		};

		return send(sock, &hdr, sizeof(hdr), MSG_NOSIGNAL) ==
		       sizeof(hdr) ? 0 : -1;
	}
	case VU_FAKE_SHORT_EOF: {
		struct vfio_user_header hdr = {
			.msg_id = m->hdr.msg_id, .cmd = m->hdr.cmd,
			.msg_size = sizeof(hdr) + sizeof(acc) + acc.count,
			.flags = VFIO_USER_F_TYPE_REPLY,
		};

		send(sock, &hdr, sizeof(hdr), MSG_NOSIGNAL);
		send(sock, reply, sizeof(acc) / 2, MSG_NOSIGNAL);
		return -1;
	}
	case VU_FAKE_FDS:
		fd = eventfd(0, EFD_CLOEXEC);
		fake_send(sock, m->hdr.msg_id, m->hdr.cmd,
			  VFIO_USER_F_TYPE_REPLY, 0, reply,
			  sizeof(acc) + acc.count, fd);
		close(fd);
		return 0;
	case VU_FAKE_NO_REPLY:
		return 0;
	case VU_FAKE_LATE_REPLY:
		usleep(VU_FAKE_LATE_MS * 1000);
		return fake_reply(sock, m, reply, sizeof(acc) + acc.count);
	case VU_FAKE_ERROR_PAYLOAD:
		/* Fail every other read, with a payload as libvfio-user may. */
		if (acc.offset == 0)
			return fake_send(sock, m->hdr.msg_id, m->hdr.cmd,
					 VFIO_USER_F_TYPE_REPLY |
					 VFIO_USER_F_ERROR, EIO, reply,
					 sizeof(acc) + acc.count, -1);
		return fake_reply(sock, m, reply, sizeof(acc) + acc.count);
	default:
		return fake_reply(sock, m, reply, sizeof(acc) + acc.count);
	}
}

/* Tell the test that a region access arrived (see vu_fake_wait_access). */
static void fake_notify(int notify_fd)
{
	char c = 1;

	/* Non-blocking: a full pipe only means nobody is waiting. */
	(void)!write(notify_fd, &c, 1);
}

/* Serve one client until it hangs up. */
static void fake_serve(int sock, enum vu_fake_mode mode, int notify_fd)
{
	struct vfio_user_device_info info = {
		.argsz = sizeof(info), .flags = 0, .num_regions = 1,
		.num_irqs = 0,
	};
	bool attached_probe_sent = false;
	struct fake_msg *m = malloc(sizeof(*m));

	if (!m)
		return;
	while (fake_recv(sock, m) == 0) {
		if (m->hdr.flags & VFIO_USER_F_TYPE_REPLY)
			continue;	/* the reply to our DMA_READ */
		switch (m->hdr.cmd) {
		case VFIO_USER_VERSION:
			fake_version(sock, m);
			break;
		case VFIO_USER_DEVICE_GET_INFO:
			fake_reply(sock, m, &info, sizeof(info));
			break;
		case VFIO_USER_DEVICE_GET_REGION_INFO:
			fake_region_info(sock, m);
			break;
		case VFIO_USER_REGION_READ:
			fake_notify(notify_fd);
			if (mode == VU_FAKE_UNEXPECTED_CMD &&
			    !attached_probe_sent) {
				struct vfio_user_dma_region_access dma = {
					.addr = 0x1000, .count = 8,
				};

				/* A server command before our reply. */
				attached_probe_sent = true;
				fake_send(sock, 77, VFIO_USER_DMA_READ,
					  VFIO_USER_F_TYPE_COMMAND, 0, &dma,
					  sizeof(dma), -1);
			}
			if (fake_region_read(sock, m, mode))
				goto out;
			break;
		case VFIO_USER_REGION_WRITE:
			fake_notify(notify_fd);
			if (mode == VU_FAKE_STALL)
				pause();
			fake_reply(sock, m, m->payload,
				   sizeof(struct vfio_user_region_access));
			break;
		default:
			fake_error(sock, m, EINVAL);
			break;
		}
	}
out:
	free(m);
}

int vu_fake_start(struct vu_server *srv, enum vu_fake_mode mode)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int lsock, sock, notify[2];

	srv->notify_fd = -1;
	vu_temp_path(srv->path, sizeof(srv->path), "fake");
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", srv->path);
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsock < 0)
		return -errno;
	if (bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(lsock, 1)) {
		close(lsock);
		return -errno;
	}
	if (pipe2(notify, O_CLOEXEC | O_NONBLOCK)) {
		close(lsock);
		return -errno;
	}
	srv->pid = fork();
	if (srv->pid < 0) {
		close(lsock);
		close(notify[0]);
		close(notify[1]);
		return -errno;
	}
	if (!srv->pid) {
		signal(SIGTERM, SIG_DFL);
		close(notify[0]);
		sock = accept(lsock, NULL, NULL);
		close(lsock);
		if (sock >= 0)
			fake_serve(sock, mode, notify[1]);
		_exit(0);
	}
	close(lsock);
	close(notify[1]);
	srv->notify_fd = notify[0];
	return 0;
}

/* Attaching --------------------------------------------------------------- */

struct vuc_device *vu_attach(const char *path, const struct vuc_options *opts)
{
	struct vuc_options o = { 0 };
	struct vuc_device *dev;

	if (opts)
		o = *opts;
	/* Unless a test wants a timeout, no reply is ever late. */
	if (!o.timeout_ms)
		o.timeout_ms = VU_LONG_TIMEOUT_MS;
	o.flags |= VUC_OPT_KERNEL;
	dev = vuc_device_new(&o);
	if (!dev) {
		fprintf(stderr, "vuc_device_new: %s\n", strerror(errno));
		return NULL;
	}
	if (vuc_connect(dev, path)) {
		fprintf(stderr, "vuc_connect %s: %s\n", path, vuc_strerror(dev));
		vuc_device_free(dev);
		return NULL;
	}
	return dev;
}

int vu_fake_wait_access(struct vu_server *srv, int ms)
{
	char c;

	if (srv->notify_fd < 0 || !vu_wait_readable(srv->notify_fd, ms))
		return 0;
	return read(srv->notify_fd, &c, 1) == 1;
}

int vu_wait_broken(int fd, int ms)
{
	/* No events: poll() returns for POLLHUP and POLLERR only. */
	struct pollfd pfd = { .fd = fd, .events = 0 };

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	return pfd.revents & (POLLHUP | POLLERR);
}

int vu_set_timeout(int fd, unsigned int ms)
{
	struct vfio_user_timeout t = { .argsz = sizeof(t), .timeout_ms = ms };

	return ioctl(fd, VFIO_USER_SET_TIMEOUT, &t) ? -errno : 0;
}

int vu_wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

uint64_t vu_eventfd_read(int fd)
{
	uint64_t val = 0;

	if (read(fd, &val, sizeof(val)) != sizeof(val))
		return 0;
	return val;
}
