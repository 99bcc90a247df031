// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the vfio_user selftests (see vfio_user_util.h).
 */
#include <dirent.h>
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

/* Playing the server by hand ---------------------------------------------- */

int vu_msg_recv(int sock, struct vfio_user_header *hdr, void *payload,
		size_t room)
{
	char control[CMSG_SPACE(sizeof(int) * 64)];
	struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(*hdr) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;
	size_t len;

	if (recvmsg(sock, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC) != sizeof(*hdr))
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		int *fds = (int *)CMSG_DATA(cmsg);
		size_t i, nr = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < nr; i++)
			close(fds[i]);
	}
	if (hdr->msg_size < sizeof(*hdr) || hdr->msg_size - sizeof(*hdr) > room)
		return -1;
	len = hdr->msg_size - sizeof(*hdr);
	if (len && recv(sock, payload, len, MSG_WAITALL) != (ssize_t)len)
		return -1;
	return 0;
}

/* One sendmsg() of @iov with @nr_fds fds; 0 when every byte went. */
static int vu_sendmsg_fds(int sock, struct iovec *iov, size_t iovlen,
			  size_t len, const int *fds, unsigned int nr_fds)
{
	char control[CMSG_SPACE(sizeof(int) * VU_MAX_SEND_FDS)] = { 0 };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = iovlen };
	struct cmsghdr *cmsg;

	if (nr_fds > VU_MAX_SEND_FDS)
		return -1;
	if (nr_fds) {
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nr_fds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int vu_msg_send_fds(int sock, uint16_t id, uint16_t cmd, uint32_t flags,
		    uint32_t error_no, const void *payload, size_t len,
		    const int *fds, unsigned int nr_fds)
{
	struct vfio_user_header hdr = {
		.msg_id = id, .cmd = cmd, .msg_size = sizeof(hdr) + len,
		.flags = flags, .error_no = error_no,
	};
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};

	return vu_sendmsg_fds(sock, iov, 2, sizeof(hdr) + len, fds, nr_fds);
}

int vu_msg_send(int sock, uint16_t id, uint16_t cmd, uint32_t flags,
		uint32_t error_no, const void *payload, size_t len)
{
	return vu_msg_send_fds(sock, id, cmd, flags, error_no, payload, len,
			       NULL, 0);
}

int vu_send_fds(int sock, const void *buf, size_t len, const int *fds,
		unsigned int nr_fds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return vu_sendmsg_fds(sock, &iov, 1, len, fds, nr_fds);
}

int vu_send_fd(int sock, int fd)
{
	char byte = 0;

	return vu_send_fds(sock, &byte, 1, &fd, 1);
}

int vu_recv_fd(int sock)
{
	char control[CMSG_SPACE(sizeof(int))];
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cmsg = CMSG_FIRSTHDR(&mh);
	if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
	return fd;
}

/* The misbehaving server ------------------------------------------------ */

struct fake_msg {
	struct vfio_user_header hdr;
	uint8_t payload[2 * VU_FAKE_REGION_SIZE];
};

static int fake_reply(int sock, const struct fake_msg *m, const void *payload,
		      size_t len)
{
	return vu_msg_send(sock, m->hdr.msg_id, m->hdr.cmd,
			   VFIO_USER_F_TYPE_REPLY, 0, payload, len);
}

static int fake_error(int sock, const struct fake_msg *m, int err)
{
	return vu_msg_send(sock, m->hdr.msg_id, m->hdr.cmd,
			   VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, err,
			   NULL, 0);
}

/* Receive one message whose payload fits; fds are closed. */
static int fake_recv(int sock, struct fake_msg *m)
{
	return vu_msg_recv(sock, &m->hdr, m->payload, sizeof(m->payload));
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
		return vu_msg_send(sock, m->hdr.msg_id + 1, m->hdr.cmd,
				   VFIO_USER_F_TYPE_REPLY, 0, reply,
				   sizeof(acc) + acc.count);
	case VU_FAKE_WRONG_CMD:
		return vu_msg_send(sock, m->hdr.msg_id, VFIO_USER_REGION_WRITE,
				   VFIO_USER_F_TYPE_REPLY, 0, reply,
				   sizeof(acc) + acc.count);
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
		vu_msg_send_fds(sock, m->hdr.msg_id, m->hdr.cmd,
				VFIO_USER_F_TYPE_REPLY, 0, reply,
				sizeof(acc) + acc.count, &fd, fd >= 0);
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
			return vu_msg_send(sock, m->hdr.msg_id, m->hdr.cmd,
					   VFIO_USER_F_TYPE_REPLY |
					   VFIO_USER_F_ERROR, EIO, reply,
					   sizeof(acc) + acc.count);
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
				vu_msg_send(sock, 77, VFIO_USER_DMA_READ,
					    VFIO_USER_F_TYPE_COMMAND, 0, &dma,
					    sizeof(dma));
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

/* The sample server's registers and DMA maps ------------------------------ */

int vu_reg_read32(int fd, uint32_t off, uint32_t *v)
{
	return pread(fd, v, 4, vu_region_off(0, off)) == 4 ? 0 : -errno;
}

int vu_reg_write32(int fd, uint32_t off, uint32_t v)
{
	return pwrite(fd, &v, 4, vu_region_off(0, off)) == 4 ? 0 : -errno;
}

int vu_reg_write64(int fd, uint32_t off, uint64_t v)
{
	return pwrite(fd, &v, 8, vu_region_off(0, off)) == 8 ? 0 : -errno;
}

int vu_map_dma(int fd, void *va, uint64_t iova, uint64_t size, int memfd,
	       uint64_t fd_offset)
{
	struct vfio_user_map_dma map = {
		.argsz = sizeof(map),
		.flags = VFIO_USER_MAP_DMA_READ | VFIO_USER_MAP_DMA_WRITE |
			 (memfd >= 0 ? VFIO_USER_MAP_DMA_FD : 0),
		.vaddr = (uintptr_t)va, .iova = iova, .size = size,
		.fd = memfd, .fd_offset = memfd >= 0 ? fd_offset : 0,
	};

	return ioctl(fd, VFIO_USER_MAP_DMA, &map) ? -errno : 0;
}

int vu_unmap_dma(int fd, uint64_t iova, uint64_t size)
{
	struct vfio_user_unmap_dma unmap = {
		.argsz = sizeof(unmap), .iova = iova, .size = size,
	};

	return ioctl(fd, VFIO_USER_UNMAP_DMA, &unmap) ? -errno : 0;
}

int vu_device_kthreads(pid_t *pids, unsigned int max)
{
	char path[300], buf[256], *comm, *close_paren;
	unsigned int n = 0;
	struct dirent *de;
	ssize_t len;
	int ppid, fd;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;	/* gone meanwhile */
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* pid (comm) state ppid ... */
		comm = strchr(buf, '(');
		close_paren = strrchr(buf, ')');
		if (!comm || !close_paren ||
		    sscanf(close_paren + 1, " %*c %d", &ppid) != 1 || ppid != 2 ||
		    strncmp(comm + 1, "vfio-user", 9))
			continue;
		if (n < max)
			pids[n] = (pid_t)atoi(de->d_name);
		n++;
	}
	closedir(d);
	return (int)n;
}

/* Seeded randomness ------------------------------------------------------- */

uint64_t vu_rnd(struct vu_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t vu_below(struct vu_rng *r, uint64_t n)
{
	return n ? vu_rnd(r) % n : 0;
}

bool vu_chance(struct vu_rng *r, unsigned int per_mille)
{
	return vu_below(r, 1000) < per_mille;
}

void vu_fill_random(struct vu_rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len--)
		*p++ = (uint8_t)vu_rnd(r);
}

uint64_t vu_env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

uint64_t vu_fuzz_seed(void)
{
	uint64_t seed = vu_env_u64("VFIO_USER_FUZZ_SEED", 0);
	struct timespec t;

	if (!seed) {
		clock_gettime(CLOCK_REALTIME, &t);
		seed = (uint64_t)t.tv_sec * 1000000007ULL ^ t.tv_nsec ^ getpid();
	}
	return seed;
}
