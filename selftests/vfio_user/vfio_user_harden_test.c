// SPDX-License-Identifier: GPL-2.0
/*
 * What a hostile VMM or server must not get through the module, each case
 * a defect the module once had:
 *
 * - mmap of a region gives no more than a direct mmap of the region's file
 *   would: file modes, memfd seals, append-only, noexec (device memory is
 *   never executable);
 * - only the file kinds the protocol needs are accepted, and a device fd
 *   queued in one of its own sockets does not keep the device alive after
 *   the VMM exits;
 * - a task waiting for the DMA lock behind a slow server can be killed;
 * - errno values of the kernel's own (512 and up) never come from a server;
 * - poll() reports readiness, so io_uring reads complete;
 * - receive workers count against their user's limits;
 * - a DMA_WRITE that faults part-way marks what it wrote dirty;
 * - serving DMA does not hold the map's lock across a fault that sleeps;
 * - a send that fails after the server answered its request leaves the
 *   request (and the pending table) to the answer.
 *
 * The device is attached by hand over a socketpair whose other end the
 * test serves itself, so every byte the "server" sends is chosen here.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <linux/sockios.h>
#include <linux/userfaultfd.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_user_util.h"

#define REGION_SIZE	4096
#define PAGE		4096

/* A device attached by hand; the test is its server on sv[1]. */
struct raw_dev {
	int dev;
	int sv[2];
	struct vfio_user_attach arg;
	struct vfio_user_attach_region region;
	struct vfio_user_attach_io_fd io;
};

static void raw_init(struct raw_dev *d)
{
	memset(d, 0, sizeof(*d));
	d->dev = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, d->sv))
		d->sv[0] = d->sv[1] = -1;
	d->region.flags = VFIO_REGION_INFO_FLAG_READ |
			  VFIO_REGION_INFO_FLAG_WRITE;
	d->region.fd = -1;
	d->region.size = REGION_SIZE;
	d->arg.argsz = sizeof(d->arg);
	d->arg.sock_fd = d->sv[0];
	d->arg.twin_fd = -1;
	d->arg.minor = 2;
	d->arg.max_msg_fds = 8;
	d->arg.max_data_xfer_size = 1 << 16;
	d->arg.client_max_data_xfer_size = 1 << 16;
	d->arg.max_dma_maps = 64;
	d->arg.pgsizes = PAGE;
	d->arg.num_regions = 1;
	d->arg.regions = (uintptr_t)&d->region;
}

static int raw_attach(struct raw_dev *d)
{
	return ioctl(d->dev, VFIO_USER_ATTACH, &d->arg) ? -errno : 0;
}

static void raw_close(struct raw_dev *d)
{
	if (d->dev >= 0)
		close(d->dev);
	if (d->sv[0] >= 0)
		close(d->sv[0]);
	if (d->sv[1] >= 0)
		close(d->sv[1]);
	d->dev = d->sv[0] = d->sv[1] = -1;
}

static bool have_module(void)
{
	return !access(VFIO_USER_DEV, F_OK);
}

/* Every test gets a bound with a wide margin: the debug kernel is slow. */
FIXTURE(harden)
{
	int unused;
};

FIXTURE_SETUP(harden)
{
}

FIXTURE_TEARDOWN(harden)
{
}

#define NEED_MODULE() do { \
	if (!have_module()) \
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV); \
} while (0)

/* Answers REGION_READs with bytes equal to their offset and acknowledges
 * REGION_WRITEs; other commands get the error in @error_no (EINVAL if 0),
 * REGION_READs and REGION_WRITEs too while it is not 0. */
struct responder {
	int sock;
	pthread_t thread;
	uint32_t error_no;
};

static void *responder_main(void *arg)
{
	struct responder *r = arg;
	struct vfio_user_header hdr;
	static __thread uint8_t buf[sizeof(struct vfio_user_region_access) + 4096];
	struct vfio_user_region_access acc;
	uint32_t i;

	while (!vu_msg_recv(r->sock, &hdr, buf, sizeof(buf))) {
		uint32_t error_no = __atomic_load_n(&r->error_no, __ATOMIC_SEQ_CST);

		if (hdr.cmd == VFIO_USER_REGION_WRITE && !error_no) {
			/* The reply echoes the access, without its data. */
			if (!(hdr.flags & VFIO_USER_F_NO_REPLY))
				vu_msg_send(r->sock, hdr.msg_id, hdr.cmd,
					    VFIO_USER_F_TYPE_REPLY, 0, buf,
					    sizeof(acc));
			continue;
		}
		if (hdr.cmd != VFIO_USER_REGION_READ || error_no) {
			if (!(hdr.flags & VFIO_USER_F_NO_REPLY))
				vu_msg_send(r->sock, hdr.msg_id, hdr.cmd,
					    VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
					    error_no ?: EINVAL, NULL, 0);
			continue;
		}
		memcpy(&acc, buf, sizeof(acc));
		if (acc.count > 4096)
			break;
		for (i = 0; i < acc.count; i++)
			buf[sizeof(acc) + i] = (uint8_t)(acc.offset + i);
		vu_msg_send(r->sock, hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY, 0,
			    buf, sizeof(acc) + acc.count);
	}
	return NULL;
}

/* mmap: the region file's own checks -------------------------------------- */

/* Attach a mappable region backed by @fd; returns the device fd or -errno. */
static int attach_mappable(struct raw_dev *d, int fd, bool writable)
{
	raw_init(d);
	if (d->dev < 0)
		return -errno;
	d->region.flags = VFIO_REGION_INFO_FLAG_READ |
			  VFIO_REGION_INFO_FLAG_MMAP |
			  (writable ? VFIO_REGION_INFO_FLAG_WRITE : 0);
	d->region.fd = fd;
	return raw_attach(d);
}

static void *map_region(struct raw_dev *d, int prot)
{
	return mmap(NULL, REGION_SIZE, prot, MAP_SHARED, d->dev,
		    VFIO_USER_REGION_OFFSET(0));
}

static int reopen(int fd, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, flags | O_CLOEXEC);
}

TEST_F_TIMEOUT(harden, mmap_respects_open_mode, 120)
{
	struct raw_dev d;
	int mfd, wfd, rfd;
	void *p;

	NEED_MODULE();
	mfd = memfd_create("region", MFD_CLOEXEC);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, REGION_SIZE));

	/* Open for writing only: no mapping can read it. */
	wfd = reopen(mfd, O_WRONLY);
	ASSERT_LE(0, wfd);
	ASSERT_EQ(0, attach_mappable(&d, wfd, true));
	EXPECT_EQ(MAP_FAILED, map_region(&d, PROT_READ));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(MAP_FAILED, map_region(&d, PROT_READ | PROT_WRITE));
	raw_close(&d);
	close(wfd);

	/* Open for reading only: never writable, not even by mprotect(). */
	rfd = reopen(mfd, O_RDONLY);
	ASSERT_LE(0, rfd);
	ASSERT_EQ(0, attach_mappable(&d, rfd, true));
	EXPECT_EQ(MAP_FAILED, map_region(&d, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	p = map_region(&d, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, REGION_SIZE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	munmap(p, REGION_SIZE);
	raw_close(&d);
	close(rfd);
	close(mfd);
}

/* Neither a seal present at attach nor one added later can be mapped around. */
TEST_F_TIMEOUT(harden, mmap_respects_memfd_seals, 120)
{
	static const int seals[] = { F_SEAL_WRITE, F_SEAL_FUTURE_WRITE };
	struct raw_dev d;
	unsigned int i;
	int mfd, when;
	char *p;

	NEED_MODULE();
	for (i = 0; i < sizeof(seals) / sizeof(seals[0]); i++) {
		for (when = 0; when < 2; when++) {
			mfd = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
			ASSERT_LE(0, mfd);
			ASSERT_EQ(0, ftruncate(mfd, REGION_SIZE));
			if (!when)
				ASSERT_EQ(0, fcntl(mfd, F_ADD_SEALS, seals[i]));
			ASSERT_EQ(0, attach_mappable(&d, mfd, true));
			TH_LOG("seal %#x %s attach", seals[i], when ? "after" : "before");
			if (when && seals[i] == F_SEAL_WRITE) {
				/* The device counts as a writable mapping. */
				EXPECT_EQ(-1, fcntl(mfd, F_ADD_SEALS, seals[i]));
				EXPECT_EQ(EBUSY, errno);
				raw_close(&d);
				EXPECT_EQ(0, fcntl(mfd, F_ADD_SEALS, seals[i]));
				close(mfd);
				continue;
			}
			if (when)
				ASSERT_EQ(0, fcntl(mfd, F_ADD_SEALS, seals[i]));

			p = map_region(&d, PROT_READ | PROT_WRITE);
			EXPECT_EQ(MAP_FAILED, p);
			if (p != MAP_FAILED)
				munmap(p, REGION_SIZE);
			p = map_region(&d, PROT_READ);
			ASSERT_NE(MAP_FAILED, p);
			EXPECT_EQ(-1, mprotect(p, REGION_SIZE, PROT_READ | PROT_WRITE));
			EXPECT_EQ(0, p[0]);
			munmap(p, REGION_SIZE);
			raw_close(&d);
			close(mfd);
		}
	}
}

/* Device memory is never executable, on a noexec mount least of all. */
TEST_F_TIMEOUT(harden, mmap_never_executable, 120)
{
	const char *dir = "/tmp/vu-noexec";
	struct raw_dev d;
	bool mounted;
	int fd;
	void *p;

	NEED_MODULE();
	mkdir(dir, 0700);
	mounted = !mount("tmpfs", dir, "tmpfs", MS_NOEXEC, "size=1m");
	if (mounted) {
		fd = open("/tmp/vu-noexec/region", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	} else {
		TH_LOG("no noexec mount (%s): a memfd instead", strerror(errno));
		fd = memfd_create("exec", MFD_CLOEXEC);
	}
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, REGION_SIZE));
	ASSERT_EQ(0, attach_mappable(&d, fd, true));

	EXPECT_EQ(MAP_FAILED, map_region(&d, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EPERM, errno);
	p = map_region(&d, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, REGION_SIZE, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	munmap(p, REGION_SIZE);
	raw_close(&d);
	close(fd);
	if (mounted) {
		unlink("/tmp/vu-noexec/region");
		umount(dir);
	}
	rmdir(dir);
}

/* As do_mmap(): an append-only file opened for writing is never mapped. */
TEST_F_TIMEOUT(harden, mmap_refuses_append_only, 120)
{
	const char *path = "/tmp/vu-append-only";
	struct raw_dev d;
	int fd, flags;

	NEED_MODULE();
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, REGION_SIZE));
	flags = FS_APPEND_FL;
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags)) {
		close(fd);
		unlink(path);
		SKIP(return, "no append-only flag here: %s", strerror(errno));
	}
	close(fd);
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, attach_mappable(&d, fd, true));
	EXPECT_EQ(MAP_FAILED, map_region(&d, PROT_READ));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(MAP_FAILED, map_region(&d, PROT_READ | PROT_WRITE));
	raw_close(&d);
	flags = 0;
	ioctl(fd, FS_IOC_SETFLAGS, &flags);
	close(fd);
	unlink(path);
}

/* File kinds ---------------------------------------------------------------- */

TEST_F_TIMEOUT(harden, only_memory_files_back_regions, 120)
{
	struct io_uring_params params = { 0 };
	int sp[2], ring, efd;
	struct raw_dev d;

	NEED_MODULE();
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp));
	/* A socket can be mapped (packet rings) and can hold fds. */
	EXPECT_EQ(-EINVAL, attach_mappable(&d, sp[0], true));
	raw_close(&d);

	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring >= 0) {
		EXPECT_EQ(-EINVAL, attach_mappable(&d, ring, true));
		raw_close(&d);
		close(ring);
	}
	/* hugetlbfs's mmap trusts alignment checks only its own mmap makes. */
	efd = memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (efd >= 0) {
		EXPECT_EQ(-EINVAL, attach_mappable(&d, efd, true));
		raw_close(&d);
		close(efd);
	}
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	EXPECT_EQ(-EINVAL, attach_mappable(&d, efd, true));
	raw_close(&d);
	close(efd);
	close(sp[0]);
	close(sp[1]);
}

static int attach_ioregionfd(struct raw_dev *d, int fd)
{
	raw_init(d);
	if (d->dev < 0)
		return -errno;
	d->io.type = VFIO_USER_IO_FD_TYPE_IOREGIONFD;
	d->io.offset = 0x100;
	d->io.size = 0x100;
	d->io.fd = fd;
	d->region.nr_io_fds = 1;
	d->region.io_fds = (uintptr_t)&d->io;
	return raw_attach(d);
}

TEST_F_TIMEOUT(harden, ioregionfd_only_connected_unix_stream, 120)
{
	struct raw_dev d;
	int tcp, lone;

	NEED_MODULE();
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, tcp);
	EXPECT_EQ(-EINVAL, attach_ioregionfd(&d, tcp));
	raw_close(&d);
	close(tcp);

	lone = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lone);
	EXPECT_EQ(-EINVAL, attach_ioregionfd(&d, lone));
	raw_close(&d);
	close(lone);
}

/* Is a task with this name alive? (Kthreads are named after the VMM.) */
static bool task_named(const char *name)
{
	char path[300], comm[64];
	struct dirent *e;
	bool found = false;
	DIR *proc;
	FILE *f;

	proc = opendir("/proc");
	if (!proc)
		return false;
	while (!found && (e = readdir(proc))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = 0;
			found = !strcmp(comm, name);
		}
		fclose(f);
	}
	closedir(proc);
	return found;
}

/* Wait up to @secs for the worker of a device attached by @pid to go. */
static bool worker_gone(pid_t pid, int secs)
{
	char name[32];
	int i;

	snprintf(name, sizeof(name), "vfio-user-%d", pid);
	for (i = 0; i < secs * 10; i++) {
		if (!task_named(name))
			return true;
		usleep(100 * 1000);
	}
	return false;
}

/*
 * The VMM queues its own device fd in the device's ioregionfd socket, which
 * nothing reads while the device is healthy, and exits: no reference cycle
 * may keep the device, its worker and the VMM's memory alive.
 */
TEST_F_TIMEOUT(harden, own_fd_in_own_socket_freed_at_exit, 180)
{
	pid_t child;
	int status, server[2];

	NEED_MODULE();
	/* The server's end outlives the VMM: no end of file to clean up. */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, server));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		struct raw_dev d;
		int io[2];
		char *mem;

		close(server[1]);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io))
			_exit(1);
		raw_init(&d);
		d.io.type = VFIO_USER_IO_FD_TYPE_IOREGIONFD;
		d.io.offset = 0x100;
		d.io.size = 0x100;
		d.io.fd = io[0];
		d.region.nr_io_fds = 1;
		d.region.io_fds = (uintptr_t)&d.io;
		d.arg.sock_fd = server[0];
		if (raw_attach(&d))
			_exit(2);
		/* Memory that must be freed when the VMM goes. */
		mem = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem != MAP_FAILED)
			memset(mem, 1, 64 << 20);
		if (vu_send_fd(io[1], d.dev))
			_exit(3);
		/*
		 * Not even the VMM's exit is needed: what arrives unasked
		 * costs the sub-region, whose socket is shut down and
		 * emptied. (A VMM whose address space outlives it, held by
		 * vhost for one, would never end the connection.)
		 */
		{
			struct pollfd pfd = { .fd = io[1], .events = POLLIN };
			char byte;

			if (poll(&pfd, 1, 60000) != 1 ||
			    recv(io[1], &byte, 1, MSG_DONTWAIT) != 0)
				_exit(4);
		}
		_exit(0);
	}
	close(server[0]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* Generous: the release runs from deferred work. */
	EXPECT_TRUE(worker_gone(child, 60));
	close(server[1]);
}

/* The DMA lock behind a server that does not answer ------------------------ */

static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' ? p[2] : 0;
}

struct map_call {
	int dev;
	void *mem;
	int ret;
};

static void *map_thread(void *arg)
{
	struct map_call *c = arg;

	c->ret = vu_map_dma(c->dev, c->mem, 0, PAGE, -1, 0);
	return NULL;
}

TEST_F_TIMEOUT(harden, dma_lock_waiters_are_killable, 300)
{
	struct vfio_user_timeout t = { .argsz = sizeof(t), .timeout_ms = 600000 };
	struct vfio_user_header hdr;
	struct map_call call;
	uint8_t buf[256];
	pthread_t mapper;
	struct raw_dev d;
	int i, status = 0;
	pid_t child, got = 0;
	char state = 0;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	ASSERT_EQ(0, raw_attach(&d));
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_SET_TIMEOUT, &t));
	call.dev = d.dev;
	call.mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, call.mem);
	ASSERT_EQ(0, pthread_create(&mapper, NULL, map_thread, &call));
	/* Its DMA_MAP arrived: the map holds the lock, and is never answered. */
	ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
	ASSERT_EQ(VFIO_USER_DMA_MAP, hdr.cmd);

	/* Another process with the fd waits for the lock the map holds. */
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		vu_unmap_dma(d.dev, 0, PAGE);
		_exit(0);
	}
	for (i = 0; i < 600 && state != 'D'; i++) {
		usleep(100 * 1000);
		state = proc_state(child);
	}
	EXPECT_EQ('D', state);
	ASSERT_EQ(0, kill(child, SIGKILL));
	/* Dead long before the server's ten minutes are up. */
	for (i = 0; i < 600 && got != child; i++) {
		got = waitpid(child, &status, WNOHANG);
		if (got != child)
			usleep(100 * 1000);
	}
	EXPECT_EQ(child, got);
	EXPECT_TRUE(WIFSIGNALED(status));

	/* Closing the device ends the map's wait. */
	shutdown(d.sv[1], SHUT_RDWR);
	pthread_join(mapper, NULL);
	EXPECT_NE(0, call.ret);
	if (got != child)
		waitpid(child, &status, 0);
	raw_close(&d);
	munmap(call.mem, PAGE);
}

/* Server errno values ------------------------------------------------------- */

TEST_F_TIMEOUT(harden, server_errno_values_are_ordinary, 120)
{
	static const struct {
		uint32_t sent;
		int seen;
	} cases[] = {
		{ EIO, EIO }, { EHOSTUNREACH, EHOSTUNREACH }, { 133, 133 },
		{ 511, 511 }, { 512, EIO }, { 513, EIO }, { 516, EIO },
		{ 529, EIO }, { 4094, EIO }, { 4095, EIO }, { 0xffffffff, EIO },
	};
	struct responder r = { 0 };
	struct raw_dev d;
	unsigned int i;
	uint32_t v;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	ASSERT_EQ(0, raw_attach(&d));
	r.sock = d.sv[1];
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* One request at a time: the responder reads the value after
		 * this store and before it answers. */
		__atomic_store_n(&r.error_no, cases[i].sent, __ATOMIC_SEQ_CST);
		if (!i)
			ASSERT_EQ(0, pthread_create(&r.thread, NULL, responder_main, &r));
		EXPECT_EQ(-1, pread(d.dev, &v, sizeof(v), vu_region_off(0, 0)));
		EXPECT_EQ(cases[i].seen, errno) {
			TH_LOG("server sent %u", cases[i].sent);
		}
	}
	/* Still healthy: an error reply is not a protocol error. */
	__atomic_store_n(&r.error_no, 0, __ATOMIC_SEQ_CST);
	EXPECT_EQ((ssize_t)sizeof(v), pread(d.dev, &v, sizeof(v), vu_region_off(0, 4)));
	EXPECT_EQ(0x07060504U, v);
	shutdown(d.sv[1], SHUT_RDWR);
	pthread_join(r.thread, NULL);
	raw_close(&d);
}

/* poll() and io_uring ------------------------------------------------------- */

TEST_F_TIMEOUT(harden, ready_while_healthy_so_io_uring_completes, 120)
{
	struct __kernel_timespec ts = { .tv_sec = 60 };
	struct pollfd pfd = { .events = POLLIN | POLLOUT };
	struct responder r = { 0 };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct raw_dev d;
	uint8_t buf[8];
	int i;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	ASSERT_EQ(0, raw_attach(&d));
	r.sock = d.sv[1];
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, responder_main, &r));

	pfd.fd = d.dev;
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN | POLLOUT, pfd.revents);

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	io_uring_prep_read(io_uring_get_sqe(&ring), d.dev, buf, sizeof(buf),
			   vu_region_off(0, 0x20));
	ASSERT_EQ(1, io_uring_submit(&ring));
	/* Bounded, with a margin far beyond any machine's speed. */
	ASSERT_EQ(0, io_uring_wait_cqe_timeout(&ring, &cqe, &ts));
	EXPECT_EQ((int)sizeof(buf), cqe->res);
	for (i = 0; i < (int)sizeof(buf); i++)
		EXPECT_EQ(0x20 + i, buf[i]);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);

	/* Broken: hang-up and error, whatever was asked for. */
	shutdown(d.sv[1], SHUT_RDWR);
	pthread_join(r.thread, NULL);
	pfd.events = 0;
	ASSERT_EQ(1, poll(&pfd, 1, 60000));
	EXPECT_EQ(POLLHUP | POLLERR, pfd.revents & (POLLHUP | POLLERR));
	raw_close(&d);
}

/*
 * io_uring submits inline with IOCB_NOWAIT, which must never wait: a
 * message that would not go into the socket in one piece is left to
 * io_uring's workers (-EAGAIN), never half sent and then waited for. The
 * VMM shrank its socket's send buffer below one such message; reads ahead
 * of the write fill it to every level up to full.
 */
TEST_F_TIMEOUT(harden, io_uring_submit_never_waits_for_room, 900)
{
	static uint8_t wbuf[REGION_SIZE];
	struct __kernel_timespec ts = { .tv_sec = 60 };
	uint8_t rbuf[8][4];
	int reads, i, one = 1;

	NEED_MODULE();
	for (reads = 0; reads < 8; reads++) {
		struct responder r = { 0 };
		struct io_uring_cqe *cqe;
		struct io_uring ring;
		struct raw_dev d;

		raw_init(&d);
		ASSERT_LE(0, d.dev);
		ASSERT_EQ(0, raw_attach(&d));
		/* Nothing may time out here but a submission that waits. */
		ASSERT_EQ(0, vu_set_timeout(d.dev, VU_LONG_TIMEOUT_MS));
		ASSERT_EQ(0, setsockopt(d.sv[0], SOL_SOCKET, SO_SNDBUF, &one,
					sizeof(one)));
		ASSERT_EQ(0, io_uring_queue_init(16, &ring, 0));
		for (i = 0; i < reads; i++)
			io_uring_prep_read(io_uring_get_sqe(&ring), d.dev,
					   rbuf[i], sizeof(rbuf[i]),
					   vu_region_off(0, 4 * i));
		io_uring_prep_write(io_uring_get_sqe(&ring), d.dev, wbuf,
				    sizeof(wbuf), vu_region_off(0, 0));
		/* Nobody reads the socket yet: submitting must not wait. */
		ASSERT_EQ(reads + 1, io_uring_submit(&ring));
		EXPECT_EQ(0, vu_wait_broken(d.dev, 0)) {
			TH_LOG("%d reads: the submission waited until the timeout",
			       reads);
		}
		r.sock = d.sv[1];
		ASSERT_EQ(0, pthread_create(&r.thread, NULL, responder_main, &r));
		for (i = 0; i <= reads; i++) {
			ASSERT_EQ(0, io_uring_wait_cqe_timeout(&ring, &cqe, &ts));
			EXPECT_LT(0, cqe->res);
			io_uring_cqe_seen(&ring, cqe);
		}
		io_uring_queue_exit(&ring);
		shutdown(d.sv[1], SHUT_RDWR);
		pthread_join(r.thread, NULL);
		raw_close(&d);
	}
}

/*
 * A server that shuts its reading side: our send fails and breaks the
 * connection, whose break ends the request it had just entered in the
 * table. An io_uring read then completes once, with an error, and nothing
 * is freed twice (the debug kernel's KASAN would say so).
 */
TEST_F_TIMEOUT(harden, failed_async_send_completes_once, 120)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct raw_dev d;
	uint8_t buf[4];
	int i, seen = 0;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	ASSERT_EQ(0, raw_attach(&d));
	ASSERT_EQ(0, shutdown(d.sv[1], SHUT_RD));

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	io_uring_prep_read(io_uring_get_sqe(&ring), d.dev, buf, sizeof(buf),
			   vu_region_off(0, 0));
	ASSERT_EQ(1, io_uring_submit(&ring));
	/* One completion, an error; then no other, however long we look. */
	for (i = 0; i < 3; i++) {
		struct __kernel_timespec wait = { .tv_sec = VU_WAIT_MS / 1000 };

		if (io_uring_wait_cqe_timeout(&ring, &cqe, seen ? &ts : &wait))
			continue;
		EXPECT_GT(0, cqe->res);
		io_uring_cqe_seen(&ring, cqe);
		seen++;
	}
	EXPECT_EQ(1, seen);
	EXPECT_NE(0, vu_wait_broken(d.dev, VU_WAIT_MS));
	io_uring_queue_exit(&ring);
	raw_close(&d);
}

/* Limits -------------------------------------------------------------------- */

#define MAX_WORKERS_PARAM "/sys/module/vfio_user/parameters/max_workers_per_user"

static int write_param(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int read_param(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

TEST_F_TIMEOUT(harden, workers_bounded_per_user, 120)
{
	struct raw_dev d[3];
	char orig[32];
	int i;

	NEED_MODULE();
	ASSERT_EQ(0, read_param(MAX_WORKERS_PARAM, orig, sizeof(orig)));
	ASSERT_EQ(0, write_param(MAX_WORKERS_PARAM, "2"));
	for (i = 0; i < 3; i++) {
		raw_init(&d[i]);
		ASSERT_LE(0, d[i].dev);
	}
	EXPECT_EQ(0, raw_attach(&d[0]));
	EXPECT_EQ(0, raw_attach(&d[1]));
	EXPECT_EQ(-EAGAIN, raw_attach(&d[2]));
	/* A device closed gives its worker back. */
	raw_close(&d[1]);
	EXPECT_EQ(0, raw_attach(&d[2]));
	for (i = 0; i < 3; i++)
		raw_close(&d[i]);
	EXPECT_EQ(0, write_param(MAX_WORKERS_PARAM, orig));
}

/* An unprivileged user's workers count as its processes do. */
TEST_F_TIMEOUT(harden, workers_count_against_rlimit_nproc, 120)
{
	pid_t child;
	int status;

	NEED_MODULE();
	if (geteuid())
		SKIP(return, "needs root to become another user");
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		struct rlimit lim = { 3, 3 };
		struct raw_dev d[3];
		int i, ret[3];

		for (i = 0; i < 3; i++) {
			raw_init(&d[i]);
			if (d[i].dev < 0)
				_exit(10);
		}
		/* This process is the user's only one: room for two workers. */
		if (setrlimit(RLIMIT_NPROC, &lim) || setgid(65534) ||
		    setuid(65534))
			_exit(11);
		for (i = 0; i < 3; i++)
			ret[i] = raw_attach(&d[i]);
		_exit(ret[0] || ret[1] ? 12 : ret[2] == -EAGAIN ? 0 : 13);
	}
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * A device has one receive kthread, whatever its sockets: with a twin
 * socket, the same worker serves the server's commands there and the
 * replies on the main socket that no caller receives.
 */
TEST_F_TIMEOUT(harden, one_worker_serves_both_sockets, 120)
{
	struct vfio_user_dma_region_access acc = { .addr = 0, .count = 8 };
	struct responder r = { 0 };
	struct vfio_user_header hdr;
	int before, twin[2];
	uint8_t buf[64], v[4];
	struct raw_dev d;

	NEED_MODULE();
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, twin));
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	d.arg.twin_fd = twin[0];
	before = vu_device_kthreads(NULL, 0);
	ASSERT_LE(0, before);
	ASSERT_EQ(0, raw_attach(&d));
	EXPECT_EQ(before + 1, vu_device_kthreads(NULL, 0));

	/* The twin: a DMA_READ of nothing mapped is refused there. */
	ASSERT_EQ(0, vu_msg_send(twin[1], 3, VFIO_USER_DMA_READ,
				 VFIO_USER_F_TYPE_COMMAND, 0, &acc, sizeof(acc)));
	ASSERT_TRUE(vu_wait_readable(twin[1], VU_WAIT_MS));
	ASSERT_EQ(0, vu_msg_recv(twin[1], &hdr, buf, sizeof(buf)));
	EXPECT_EQ(3, hdr.msg_id);
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, hdr.flags);
	EXPECT_EQ(EFAULT, hdr.error_no);

	/* The main socket, with the same worker ready to help. */
	r.sock = d.sv[1];
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, responder_main, &r));
	ASSERT_EQ(4, pread(d.dev, v, sizeof(v), vu_region_off(0, 8)));
	EXPECT_EQ(8, v[0]);
	EXPECT_EQ(11, v[3]);
	EXPECT_EQ(0, vu_wait_broken(d.dev, 0));
	shutdown(d.sv[1], SHUT_RDWR);
	pthread_join(r.thread, NULL);
	raw_close(&d);
	close(twin[0]);
	close(twin[1]);
	EXPECT_EQ(before, vu_device_kthreads(NULL, 0));
}

/*
 * A worker killed from outside (root may signal it: release does, to end a
 * fault that never resolves) serves nobody any more: the connection ends,
 * and the VMM hears of it, rather than the server's commands going
 * unanswered on a device that looks alive. The kill is seen when the worker
 * next wakes; a new timeout wakes it here.
 */
TEST_F_TIMEOUT(harden, killed_worker_ends_connection, 120)
{
	struct vfio_user_timeout t = { .argsz = sizeof(t), .timeout_ms = 60000 };
	pid_t before[64], after[64], worker = 0;
	int nr_before, nr_after, i, j;
	struct raw_dev d;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	nr_before = vu_device_kthreads(before, 64);
	ASSERT_LE(0, nr_before);
	ASSERT_GT(64, nr_before);
	ASSERT_EQ(0, raw_attach(&d));
	nr_after = vu_device_kthreads(after, 64);
	ASSERT_EQ(nr_before + 1, nr_after);
	for (i = 0; i < nr_after && !worker; i++) {
		for (j = 0; j < nr_before && before[j] != after[i]; j++)
			;
		if (j == nr_before)
			worker = after[i];
	}
	ASSERT_LT(0, worker);
	EXPECT_EQ(0, vu_wait_broken(d.dev, 0));

	ASSERT_EQ(0, kill(worker, SIGKILL));
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_SET_TIMEOUT, &t));
	EXPECT_EQ(POLLHUP | POLLERR, vu_wait_broken(d.dev, VU_WAIT_MS))
		TH_LOG("the connection outlived its killed worker");
	raw_close(&d);
	/* Release still stops it. */
	EXPECT_EQ(nr_before, vu_device_kthreads(NULL, 0));
}

/*
 * Request ids: never 0 (reserved), cycling through the ids one node of the
 * kernel's pending table holds (1..63, or 1..15 on a kernel built with
 * CONFIG_BASE_SMALL) while no more are in flight, and above those only for
 * the requests beyond. Cyclic, so that an id is given again only after all
 * the others of its range.
 */
TEST_F_TIMEOUT(harden, request_ids_cycle_low_and_never_zero, 120)
{
	enum { SYNC = 150, ASYNC = 100, LOW_MAX = 63 };
	struct __kernel_timespec ts = { .tv_sec = 60 };
	struct vfio_user_region_access acc;
	struct vfio_user_header hdr[ASYNC];
	uint8_t buf[ASYNC][64], data[ASYNC][4], v[4];
	uint16_t last = 0;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	unsigned int low = 0, high = 0, low_ids = 0;
	struct raw_dev d;
	pid_t reader;
	int i, status;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	ASSERT_EQ(0, raw_attach(&d));

	/* One at a time: 1, 2, ... 63, 1, ... */
	reader = fork();
	ASSERT_LE(0, reader);
	if (!reader) {
		for (i = 0; i < SYNC; i++)
			if (pread(d.dev, v, sizeof(v), vu_region_off(0, 0)) !=
			    (ssize_t)sizeof(v))
				_exit(1);
		_exit(0);
	}
	for (i = 0; i < SYNC; i++) {
		ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr[0], buf[0],
					 sizeof(buf[0])));
		ASSERT_EQ(VFIO_USER_REGION_READ, hdr[0].cmd);
		EXPECT_LE(1, hdr[0].msg_id);
		EXPECT_GE(LOW_MAX, hdr[0].msg_id);
		/* The first wrap says how many low ids there are. */
		if (i && hdr[0].msg_id == 1 && !low_ids)
			low_ids = last;
		if (i && (hdr[0].msg_id != 1 || last != low_ids))
			EXPECT_EQ(last + 1, hdr[0].msg_id);
		last = hdr[0].msg_id;
		memset(buf[0] + sizeof(acc), 0, 4);
		ASSERT_EQ(0, vu_msg_send(d.sv[1], hdr[0].msg_id, hdr[0].cmd,
					 VFIO_USER_F_TYPE_REPLY, 0, buf[0],
					 sizeof(acc) + 4));
	}
	ASSERT_EQ(reader, waitpid(reader, &status, 0));
	EXPECT_EQ(0, status);
	ASSERT_TRUE(low_ids == 15 || low_ids == 63)
		TH_LOG("the ids wrapped after %u", low_ids);

	/* Many in flight: the low ids first, then ids above them. */
	ASSERT_EQ(0, io_uring_queue_init(ASYNC, &ring, 0));
	for (i = 0; i < ASYNC; i++)
		io_uring_prep_read(io_uring_get_sqe(&ring), d.dev, data[i], 4,
				   vu_region_off(0, 0));
	ASSERT_EQ(ASYNC, io_uring_submit(&ring));
	for (i = 0; i < ASYNC; i++) {
		ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr[i], buf[i],
					 sizeof(buf[i])));
		EXPECT_NE(0, hdr[i].msg_id);
		if (hdr[i].msg_id <= low_ids)
			low++;
		else
			high++;
	}
	EXPECT_EQ(low_ids, low);
	EXPECT_EQ(ASYNC - low_ids, high);
	for (i = 0; i < ASYNC; i++) {
		memset(buf[i] + sizeof(acc), 0, 4);
		ASSERT_EQ(0, vu_msg_send(d.sv[1], hdr[i].msg_id, hdr[i].cmd,
					 VFIO_USER_F_TYPE_REPLY, 0, buf[i],
					 sizeof(acc) + 4));
	}
	for (i = 0; i < ASYNC; i++) {
		ASSERT_EQ(0, io_uring_wait_cqe_timeout(&ring, &cqe, &ts));
		EXPECT_EQ(4, cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	EXPECT_EQ(0, vu_wait_broken(d.dev, 0));
	raw_close(&d);
}

/* DMA served by the kernel -------------------------------------------------- */

/* Answer the DMA_MAP the kernel sends for vu_map_dma() in another thread. */
struct map_answerer {
	int sock;
	int maps;
	pthread_t thread;
};

static void *answer_maps(void *arg)
{
	struct map_answerer *a = arg;
	struct vfio_user_header hdr;
	uint8_t buf[256];
	int i;

	for (i = 0; i < a->maps; i++) {
		if (vu_msg_recv(a->sock, &hdr, buf, sizeof(buf)))
			break;
		vu_msg_send(a->sock, hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY, 0,
			    NULL, 0);
	}
	return NULL;
}

static int map_answered(struct raw_dev *d, void *vaddr, uint64_t iova,
			uint64_t size)
{
	struct map_answerer a = { .sock = d->sv[1], .maps = 1 };
	int ret;

	if (pthread_create(&a.thread, NULL, answer_maps, &a))
		return -1;
	ret = vu_map_dma(d->dev, vaddr, iova, size, -1, 0);
	pthread_join(a.thread, NULL);
	return ret;
}

/* The server's DMA_WRITE of @len bytes at @iova; returns its error_no. */
static int server_dma_write(int sock, uint16_t id, uint64_t iova, size_t len,
			    uint8_t fill)
{
	struct vfio_user_dma_region_access *acc;
	struct vfio_user_header hdr;
	uint8_t reply[64];
	int ret = -1;

	acc = malloc(sizeof(*acc) + len);
	if (!acc)
		return -1;
	acc->addr = iova;
	acc->count = len;
	memset(acc->data, fill, len);
	if (!vu_msg_send(sock, id, VFIO_USER_DMA_WRITE, VFIO_USER_F_TYPE_COMMAND, 0,
			 acc, sizeof(*acc) + len) &&
	    !vu_msg_recv(sock, &hdr, reply, sizeof(reply)) && hdr.msg_id == id)
		ret = hdr.flags & VFIO_USER_F_ERROR ? (int)hdr.error_no : 0;
	free(acc);
	return ret;
}

TEST_F_TIMEOUT(harden, partial_dma_write_marks_what_it_wrote, 120)
{
	struct vfio_user_dirty_log log = {
		.argsz = sizeof(log), .flags = VFIO_USER_DIRTY_LOG_START,
	};
	uint64_t bitmap = 0;
	struct vfio_user_dirty_report rep = {
		.argsz = sizeof(rep), .iova = 0, .size = 2 * PAGE, .pgsize = PAGE,
		.bitmap = (uintptr_t)&bitmap, .bitmap_size = sizeof(bitmap),
	};
	struct raw_dev d;
	uint8_t *mem;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	ASSERT_EQ(0, raw_attach(&d));
	mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, map_answered(&d, mem, 0, 2 * PAGE));
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_DIRTY_LOG, &log));

	/* The VMM's second page goes away under the live mapping. */
	ASSERT_EQ(0, munmap(mem + PAGE, PAGE));
	EXPECT_EQ(EFAULT, server_dma_write(d.sv[1], 9, 0, 2 * PAGE, 0xab));
	EXPECT_EQ(0xab, mem[0]);
	EXPECT_EQ(0xab, mem[PAGE - 1]);
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_DIRTY_REPORT, &rep));
	EXPECT_EQ(1ULL, bitmap);
	munmap(mem, PAGE);
	raw_close(&d);
}

/*
 * The server's DMA_WRITE faults on memory a userfaultfd holds: while that
 * fault waits, the map's lock is free, so mapping more memory goes ahead.
 */
TEST_F_TIMEOUT(harden, dma_fault_does_not_block_maps, 180)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct vfio_user_dma_region_access acc = { .addr = 0, .count = PAGE };
	static uint8_t data[PAGE];
	struct vfio_user_header hdr;
	struct uffdio_zeropage zero;
	struct map_call call;
	struct uffd_msg msg;
	struct pollfd pfd;
	uint8_t buf[256];
	pthread_t mapper;
	struct raw_dev d;
	uint8_t *held;
	int uffd;

	NEED_MODULE();
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "no userfaultfd here: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	ASSERT_EQ(0, raw_attach(&d));
	held = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call.mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, held);
	ASSERT_NE(MAP_FAILED, call.mem);
	reg.range.start = (uintptr_t)held;
	reg.range.len = PAGE;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	ASSERT_EQ(0, map_answered(&d, held, 0x100000, PAGE));

	/* The server writes into the missing page: the worker faults. */
	acc.addr = 0x100000;
	memset(data, 0x5a, sizeof(data));
	{
		struct vfio_user_header cmd = {
			.msg_id = 5, .cmd = VFIO_USER_DMA_WRITE,
			.msg_size = sizeof(cmd) + sizeof(acc) + PAGE,
		};
		struct iovec iov[3] = {
			{ &cmd, sizeof(cmd) }, { &acc, sizeof(acc) },
			{ data, PAGE },
		};
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };

		ASSERT_EQ((ssize_t)cmd.msg_size, sendmsg(d.sv[1], &mh, MSG_NOSIGNAL));
	}
	pfd.fd = uffd;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 60000));
	ASSERT_EQ((ssize_t)sizeof(msg), read(uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);

	/* While the fault waits, a map gets the lock and asks the server. */
	call.dev = d.dev;
	ASSERT_EQ(0, pthread_create(&mapper, NULL, map_thread, &call));
	pfd.fd = d.sv[1];
	EXPECT_EQ(1, poll(&pfd, 1, 60000));
	if (pfd.revents & POLLIN) {
		ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
		EXPECT_EQ(VFIO_USER_DMA_MAP, hdr.cmd);
		vu_msg_send(d.sv[1], hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY, 0,
			    NULL, 0);
	}

	/* Resolve the fault: the DMA_WRITE completes, and the map with it. */
	zero.range.start = (uintptr_t)held;
	zero.range.len = PAGE;
	zero.mode = 0;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_ZEROPAGE, &zero));
	if (!(pfd.revents & POLLIN)) {
		/* The map waited behind the fault: answer it now. */
		ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
		vu_msg_send(d.sv[1], hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY, 0,
			    NULL, 0);
	}
	pthread_join(mapper, NULL);
	EXPECT_EQ(0, call.ret);
	ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
	EXPECT_EQ(5, hdr.msg_id);
	EXPECT_EQ(0U, hdr.flags & VFIO_USER_F_ERROR);
	EXPECT_EQ(0x5a, held[0]);
	raw_close(&d);
	close(uffd);
}

/* Signals ------------------------------------------------------------------- */

static void count_signal(int sig)
{
	(void)sig;
}

/* Wait up to @secs for thread @tid of this process to sleep in the kernel. */
static bool thread_sleeps(pid_t tid, int secs)
{
	char path[64], buf[256], *p;
	int i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	for (i = 0; i < secs * 100; i++) {
		f = fopen(path, "r");
		if (f) {
			p = fgets(buf, sizeof(buf), f);
			fclose(f);
			p = p ? strrchr(buf, ')') : NULL;
			if (p && (p[2] == 'S' || p[2] == 'D'))
				return true;
		}
		usleep(10 * 1000);
	}
	return false;
}

struct rw_call {
	int dev;
	off_t off;
	void *buf;
	size_t len;
	bool write;
	pid_t tid;
	ssize_t ret;
	int err;
};

static void *rw_thread(void *arg)
{
	struct rw_call *c = arg;

	__atomic_store_n(&c->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	c->ret = c->write ? pwrite(c->dev, c->buf, c->len, c->off) :
			    pread(c->dev, c->buf, c->len, c->off);
	c->err = errno;
	return NULL;
}

static pid_t rw_tid(struct rw_call *c)
{
	pid_t tid;
	int i;

	for (i = 0; i < 6000; i++) {
		tid = __atomic_load_n(&c->tid, __ATOMIC_SEQ_CST);
		if (tid)
			return tid;
		usleep(10 * 1000);
	}
	return 0;
}

/*
 * A VMM's vCPU threads are signalled all the time: a signal while an
 * ioregionfd access waits for its response neither fails the access nor
 * breaks the sub-region.
 */
TEST_F_TIMEOUT(harden, signal_during_ioregionfd_access, 120)
{
	struct sigaction sa = { .sa_handler = count_signal };
	struct vfio_user_ioregionfd_resp resp = { .data = 0x11223344 };
	struct vfio_user_ioregionfd_cmd cmd;
	struct rw_call call = { 0 };
	uint32_t value = 0;
	struct raw_dev d;
	pthread_t reader;
	pid_t tid;
	int io[2];

	NEED_MODULE();
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io));
	ASSERT_EQ(0, attach_ioregionfd(&d, io[0]));

	call.dev = d.dev;
	call.off = vu_region_off(0, 0x108);
	call.buf = &value;
	call.len = sizeof(value);
	ASSERT_EQ(0, pthread_create(&reader, NULL, rw_thread, &call));
	/* The command arrived: the reader now waits for the response. */
	ASSERT_EQ((ssize_t)sizeof(cmd), recv(io[1], &cmd, sizeof(cmd), MSG_WAITALL));
	EXPECT_EQ(8ULL, cmd.offset);
	tid = rw_tid(&call);
	ASSERT_NE(0, tid);
	ASSERT_TRUE(thread_sleeps(tid, 60));
	ASSERT_EQ(0, pthread_kill(reader, SIGUSR1));
	ASSERT_TRUE(thread_sleeps(tid, 60));
	ASSERT_EQ((ssize_t)sizeof(resp), send(io[1], &resp, sizeof(resp), MSG_NOSIGNAL));
	pthread_join(reader, NULL);
	EXPECT_EQ((ssize_t)sizeof(value), call.ret) {
		TH_LOG("access failed: %s", strerror(call.err));
	}
	EXPECT_EQ(0x11223344U, value);

	/* The sub-region still works. */
	call.tid = 0;
	resp.data = 0x55667788;
	ASSERT_EQ(0, pthread_create(&reader, NULL, rw_thread, &call));
	ASSERT_EQ((ssize_t)sizeof(cmd), recv(io[1], &cmd, sizeof(cmd), MSG_WAITALL));
	ASSERT_EQ((ssize_t)sizeof(resp), send(io[1], &resp, sizeof(resp), MSG_NOSIGNAL));
	pthread_join(reader, NULL);
	EXPECT_EQ((ssize_t)sizeof(value), call.ret);
	EXPECT_EQ(0x55667788U, value);
	raw_close(&d);
	close(io[0]);
	close(io[1]);
}

/*
 * Signals while messages wait half sent (the server reads slowly) neither
 * fail the calls nor break the connection.
 */
#define POSTED_WRITES	64

struct writer_call {
	int dev;
	void *buf;
	size_t len;
	pid_t tid;
	int done;
	int err;
};

static void *posted_writer(void *arg)
{
	struct writer_call *c = arg;

	__atomic_store_n(&c->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	for (c->done = 0; c->done < POSTED_WRITES; c->done++) {
		if (pwrite(c->dev, c->buf, c->len, vu_region_off(0, 0)) !=
		    (ssize_t)c->len) {
			c->err = errno;
			break;
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(harden, signal_during_partial_send, 180)
{
	struct sigaction sa = { .sa_handler = count_signal };
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	const size_t chunk = 1 << 16;
	struct writer_call call = { 0 };
	struct vfio_user_header hdr;
	struct raw_dev d;
	pthread_t writer;
	uint8_t *buf;
	pid_t tid = 0;
	int i;

	NEED_MODULE();
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	buf = calloc(1, sizeof(struct vfio_user_region_access) + chunk);
	ASSERT_NE(NULL, buf);
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	d.region.size = 1 << 20;
	d.region.attach_flags = VFIO_USER_ATTACH_REGION_POSTED_WRITES;
	ASSERT_EQ(0, raw_attach(&d));

	/* Posted writes fill the socket until one has to wait. */
	call.dev = d.dev;
	call.buf = buf;
	call.len = chunk;
	ASSERT_EQ(0, pthread_create(&writer, NULL, posted_writer, &call));
	for (i = 0; i < 6000 && !tid; i++) {
		tid = __atomic_load_n(&call.tid, __ATOMIC_SEQ_CST);
		usleep(10 * 1000);
	}
	ASSERT_NE(0, tid);
	for (i = 0; i < 3; i++) {
		ASSERT_TRUE(thread_sleeps(tid, 60));
		ASSERT_EQ(0, pthread_kill(writer, SIGUSR1));
	}

	/* The server catches up: every message arrives whole. */
	for (i = 0; i < POSTED_WRITES; i++) {
		ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf,
					 sizeof(struct vfio_user_region_access) + chunk));
		ASSERT_EQ(VFIO_USER_REGION_WRITE, hdr.cmd);
	}
	pthread_join(writer, NULL);
	EXPECT_EQ(POSTED_WRITES, call.done) {
		TH_LOG("write %d failed: %s", call.done, strerror(call.err));
	}
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_GET_STATS, &st));
	EXPECT_EQ(0U, st.flags);
	raw_close(&d);
	free(buf);
}

/* A failed send whose request the server answered -------------------------- */

/*
 * Take one message from the device and answer it as a correct server
 * would: DMA_MAP with success, REGION_READ with bytes equal to their
 * offset, other commands with EINVAL; posted commands and replies get no
 * answer. Returns the message's command with its id in @id, or -1 when the
 * socket ended.
 */
static int serve_one(int sock, uint16_t *id)
{
	uint8_t buf[sizeof(struct vfio_user_region_access) + 256];
	struct vfio_user_region_access acc;
	struct vfio_user_header hdr;
	uint32_t i;

	if (vu_msg_recv(sock, &hdr, buf, sizeof(buf)))
		return -1;
	*id = hdr.msg_id;
	/* Replies (to the server's own commands) and posted commands. */
	if ((hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND ||
	    (hdr.flags & VFIO_USER_F_NO_REPLY))
		return hdr.cmd;
	if (hdr.cmd == VFIO_USER_DMA_MAP)
		return vu_msg_send(sock, hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY,
				   0, NULL, 0) ? -1 : hdr.cmd;
	memcpy(&acc, buf, sizeof(acc));
	if (hdr.cmd != VFIO_USER_REGION_READ || acc.count > 256)
		return vu_msg_send(sock, hdr.msg_id, hdr.cmd,
				   VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
				   EINVAL, NULL, 0) ? -1 : hdr.cmd;
	for (i = 0; i < acc.count; i++)
		buf[sizeof(acc) + i] = (uint8_t)(acc.offset + i);
	return vu_msg_send(sock, hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY, 0,
			   buf, sizeof(acc) + acc.count) ? -1 : hdr.cmd;
}

/* Is the device's socket @sock so full that every send must wait? */
static bool sock_full(int sock)
{
	int queued = 0, room = 0;
	socklen_t len = sizeof(room);

	if (ioctl(sock, SIOCOUTQ, &queued) ||
	    getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &room, &len))
		return false;
	return queued >= room;
}

/*
 * Wait up to @secs for @pid to sleep killably (state D) in the kernel while
 * the device's socket @sock is full: then it waits for room to send, and
 * has sent nothing of its message.
 */
static bool blocked_in_send(pid_t pid, int sock, int secs)
{
	int i;

	for (i = 0; i < secs * 100; i++) {
		if (proc_state(pid) == 'D' && sock_full(sock))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/* Kill @pid and reap it; true when the kill ended it. */
static bool kill_and_reap(pid_t pid)
{
	int status;

	if (kill(pid, SIGKILL) || waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* The kernel log from now on: an fd at its end, or -1 without /dev/kmsg. */
static int kmsg_from_now(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Count (and log) the kernel's warnings and reports logged since @fd opened. */
static int kmsg_splats(struct __test_metadata *_metadata, int fd)
{
	static const char *const splats[] = {
		"WARNING:", "BUG:", "KASAN", "refcount_t", "use-after-free",
		"Oops", "list_del corruption",
	};
	char rec[1024];
	unsigned int i;
	ssize_t n;
	int found = 0;

	if (fd < 0)
		return 0;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = 0;
		for (i = 0; i < sizeof(splats) / sizeof(splats[0]); i++) {
			if (strstr(rec, splats[i])) {
				TH_LOG("kernel: %s", strchr(rec, ';') ?
				       strchr(rec, ';') + 1 : rec);
				found++;
				break;
			}
		}
	}
	return found;
}

/*
 * Issue 9, defect 3. The server answers a request while the request is
 * still waiting to be sent; the receive worker claims it, taking it out of
 * the pending table with the table's reference. Then the send fails: the
 * failure must not take the entry and the reference once more (that was a
 * use-after-free of the request, or another request's entry erased).
 *
 * The socket is filled with posted writes, which take no ids, until one
 * waits for room; killing that sender (nothing sent: the connection stays
 * healthy) frees the send lock. The next request takes the id after the
 * last one the server saw and waits for room in turn, having sent nothing;
 * the server answers that id, and the requester is killed.
 */
TEST_F_TIMEOUT(harden, failed_send_of_answered_request, 300)
{
	struct vfio_user_timeout t = { .argsz = sizeof(t), .timeout_ms = 600000 };
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	struct pollfd pfd = { .events = POLLIN | POLLOUT };
	struct {
		struct vfio_user_region_access acc;
		uint8_t data[4];
	} forged = { .acc = { .offset = 0, .region = 0, .count = 4 } };
	struct {
		struct vfio_user_dma_region_access acc;
		uint8_t data[1];
	} probe = { .acc = { .addr = 0, .count = 1 }, .data = { 0x5a } };
	unsigned int posted, writes = 0, reads = 0, i;
	struct rw_call rd = { 0 };
	struct map_call call;
	uint16_t id, last_id;
	pthread_t reader;
	unsigned int *done;
	pid_t filler, requester;
	struct raw_dev d;
	uint32_t value = 0;
	int kmsg, cmd;
	uint8_t *mem;

	NEED_MODULE();
	kmsg = kmsg_from_now();
	done = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, done);
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	d.region.attach_flags = VFIO_USER_ATTACH_REGION_POSTED_WRITES;
	ASSERT_EQ(0, raw_attach(&d));
	/* Whatever waits here waits for the test, never for a timeout. */
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_SET_TIMEOUT, &t));

	/* Healthy traffic first: a DMA map (for the probe below), a read. */
	mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	call.dev = d.dev;
	call.mem = mem;
	ASSERT_EQ(0, pthread_create(&reader, NULL, map_thread, &call));
	ASSERT_EQ(VFIO_USER_DMA_MAP, serve_one(d.sv[1], &last_id));
	pthread_join(reader, NULL);
	ASSERT_EQ(0, call.ret);
	rd.dev = d.dev;
	rd.off = vu_region_off(0, 8);
	rd.buf = &value;
	rd.len = sizeof(value);
	ASSERT_EQ(0, pthread_create(&reader, NULL, rw_thread, &rd));
	ASSERT_EQ(VFIO_USER_REGION_READ, serve_one(d.sv[1], &last_id));
	pthread_join(reader, NULL);
	ASSERT_EQ((ssize_t)sizeof(value), rd.ret);
	ASSERT_EQ(0x0b0a0908U, value);

	/* (1, 2) The server stops reading; posted writes fill the socket. */
	filler = fork();
	ASSERT_LE(0, filler);
	if (!filler) {
		uint32_t v = 0;

		for (*done = 0; *done < (1U << 20); (*done)++)
			if (pwrite(d.dev, &v, sizeof(v), vu_region_off(0, 0)) !=
			    (ssize_t)sizeof(v))
				_exit(1);
		_exit(2);
	}
	ASSERT_TRUE(blocked_in_send(filler, d.sv[0], 120)) {
		TH_LOG("the posted writer never waited for room (state %c)",
		       proc_state(filler));
		kill_and_reap(filler);
	}
	/* (3) Killed before a byte of its message left: nothing breaks. */
	ASSERT_TRUE(kill_and_reap(filler));
	posted = __atomic_load_n(done, __ATOMIC_SEQ_CST);
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_GET_STATS, &st));
	ASSERT_EQ(0U, st.flags);
	EXPECT_EQ(posted, st.posted_writes);

	/* (4) A request takes the next id and waits for room. */
	requester = fork();
	ASSERT_LE(0, requester);
	if (!requester) {
		uint32_t v;

		_exit(pread(d.dev, &v, sizeof(v), vu_region_off(0, 0)) ==
		      (ssize_t)sizeof(v) ? 0 : 1);
	}
	ASSERT_TRUE(blocked_in_send(requester, d.sv[0], 120)) {
		TH_LOG("the request never waited for room (state %c)",
		       proc_state(requester));
		kill_and_reap(requester);
	}

	/*
	 * (5) The server answers it, then writes a byte into the VMM's memory
	 * asking for no reply: messages are taken in order, so once the byte
	 * is there the reply has been handed to the request.
	 */
	ASSERT_EQ(0, vu_msg_send(d.sv[1], (uint16_t)(last_id + 1),
				 VFIO_USER_REGION_READ, VFIO_USER_F_TYPE_REPLY, 0,
				 &forged, sizeof(forged)));
	ASSERT_EQ(0, vu_msg_send(d.sv[1], 0x4242, VFIO_USER_DMA_WRITE,
				 VFIO_USER_F_TYPE_COMMAND | VFIO_USER_F_NO_REPLY, 0,
				 &probe, sizeof(probe)));
	for (i = 0; i < 12000 &&
	     !__atomic_load_n(&mem[0], __ATOMIC_SEQ_CST); i++)
		usleep(10 * 1000);
	ASSERT_EQ(0x5a, mem[0]) {
		kill_and_reap(requester);
	}
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_GET_STATS, &st));
	ASSERT_EQ(0U, st.flags) {
		TH_LOG("the answer broke the connection (errno %u): id %u was not the request's?",
		       st.broken_errno, last_id + 1);
		kill_and_reap(requester);
	}

	/* (6) Its send fails now, with nothing sent. */
	ASSERT_TRUE(kill_and_reap(requester));

	/*
	 * (7) The server reads all that was queued and answers normally. The
	 * killed request never arrived, nor the killed write.
	 */
	rd.off = vu_region_off(0, 0x10);
	rd.tid = 0;
	value = 0;
	ASSERT_EQ(0, pthread_create(&reader, NULL, rw_thread, &rd));
	while (reads < 1) {
		cmd = serve_one(d.sv[1], &id);
		ASSERT_LE(0, cmd);
		if (cmd == VFIO_USER_REGION_WRITE)
			writes++;
		else if (cmd == VFIO_USER_REGION_READ)
			reads++;
		else
			ASSERT_EQ(VFIO_USER_DMA_WRITE, cmd);
	}
	pthread_join(reader, NULL);
	EXPECT_EQ(posted, writes);
	EXPECT_EQ((ssize_t)sizeof(value), rd.ret) {
		TH_LOG("read after the failed send: %s", strerror(rd.err));
	}
	EXPECT_EQ(0x13121110U, value);

	/* And once more, with nothing queued. */
	rd.off = vu_region_off(0, 0x20);
	rd.tid = 0;
	ASSERT_EQ(0, pthread_create(&reader, NULL, rw_thread, &rd));
	EXPECT_EQ(VFIO_USER_REGION_READ, serve_one(d.sv[1], &id));
	pthread_join(reader, NULL);
	EXPECT_EQ((ssize_t)sizeof(value), rd.ret);
	EXPECT_EQ(0x23222120U, value);

	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_GET_STATS, &st));
	EXPECT_EQ(0U, st.flags);
	EXPECT_EQ(0U, st.broken_errno);
	EXPECT_EQ(0ULL, st.protocol_errors);
	EXPECT_EQ(0ULL, st.timeouts);
	pfd.fd = d.dev;
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN | POLLOUT, pfd.revents);
	EXPECT_EQ(0, kmsg_splats(_metadata, kmsg));
	if (kmsg >= 0)
		close(kmsg);
	raw_close(&d);
	munmap(mem, PAGE);
	munmap(done, PAGE);
}

/*
 * In a VMM that attached @d: map a page that its userfaultfd holds, have
 * the server write into it, and wait until the worker faults there. The
 * fault stays unresolved until the process exits. Return: 0, or the step
 * that failed (1 to 4).
 */
static int worker_faults_in_held_page(struct raw_dev *d)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct {
		struct vfio_user_dma_region_access acc;
		uint8_t data[8];
	} write = { .acc = { .addr = 0, .count = 8 } };
	struct pollfd pfd = { .events = POLLIN };
	uint8_t *held;

	pfd.fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (pfd.fd < 0 || ioctl(pfd.fd, UFFDIO_API, &api))
		return 1;
	held = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg.range.start = (uintptr_t)held;
	reg.range.len = PAGE;
	if (held == MAP_FAILED || ioctl(pfd.fd, UFFDIO_REGISTER, &reg) ||
	    map_answered(d, held, 0, PAGE))
		return 2;
	/* The server writes into the missing page: the worker faults. */
	if (vu_msg_send(d->sv[1], 3, VFIO_USER_DMA_WRITE,
			VFIO_USER_F_TYPE_COMMAND, 0, &write, sizeof(write)))
		return 3;
	return poll(&pfd, 1, 60000) == 1 ? 0 : 4;
}

/*
 * The device is closed while its worker waits in a fault that nobody will
 * resolve (the VMM's userfaultfd): the close still returns, and the VMM
 * can exit.
 */
TEST_F_TIMEOUT(harden, close_while_worker_faults, 180)
{
	int status = 0, i, uffd;
	pid_t child, got = 0;

	NEED_MODULE();
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "no userfaultfd here: %s", strerror(errno));
	close(uffd);
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		struct raw_dev d;
		int step;

		raw_init(&d);
		if (d.dev < 0 || raw_attach(&d))
			_exit(1);
		step = worker_faults_in_held_page(&d);
		if (step)
			_exit(1 + step);
		close(d.dev);
		_exit(0);
	}
	for (i = 0; i < 900 && got != child; i++) {
		got = waitpid(child, &status, WNOHANG);
		if (got != child)
			usleep(100 * 1000);
	}
	ASSERT_EQ(child, got);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * The VMM exits while the worker holds its address space (faulting in
 * memory the VMM's userfaultfd holds) and an AIO read of the device is in
 * flight, unanswered. The worker's put of the address space is then the
 * last one, and tearing it down waits for that read, which only the
 * worker completes (at the timeout). The teardown must not run in the
 * worker: the read times out, the device goes, and the server sees the
 * end of its socket.
 */
TEST_F_TIMEOUT(harden, vmm_exit_with_aio_in_flight_while_worker_faults, 300)
{
	uint8_t buf[4096];
	int status = 0, uffd, rounds;
	struct raw_dev d;
	pid_t child;
	ssize_t n;

	NEED_MODULE();
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "no userfaultfd here: %s", strerror(errno));
	close(uffd);
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		struct vfio_user_timeout t = {
			.argsz = sizeof(t), .timeout_ms = 2000,
		};
		struct iocb cb = { .aio_lio_opcode = IOCB_CMD_PREAD };
		struct iocb *cbs[1] = { &cb };
		aio_context_t ctx = 0;
		int step;
		uint32_t v;

		if (raw_attach(&d))
			_exit(1);
		step = worker_faults_in_held_page(&d);
		if (step)
			_exit(1 + step);
		/*
		 * A read of the device that the server leaves unanswered: the
		 * worker, in its fault until this process exits, can time it
		 * out only after that.
		 */
		cb.aio_fildes = d.dev;
		cb.aio_buf = (uintptr_t)&v;
		cb.aio_nbytes = sizeof(v);
		cb.aio_offset = vu_region_off(0, 0);
		if (ioctl(d.dev, VFIO_USER_SET_TIMEOUT, &t) ||
		    syscall(__NR_io_setup, 1, &ctx) ||
		    syscall(__NR_io_submit, ctx, 1, cbs) != 1)
			_exit(6);
		_exit(0);	/* the fault unresolved, the read in flight */
	}
	/* The server's end stays open here: only the device's end can close. */
	close(d.dev);
	close(d.sv[0]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	for (rounds = 0; rounds < 1000; rounds++) {
		ASSERT_TRUE(vu_wait_readable(d.sv[1], VU_WAIT_MS))
			TH_LOG("the device outlived its VMM: its worker is stuck");
		n = read(d.sv[1], buf, sizeof(buf));
		ASSERT_LE(0, n);
		if (!n)
			break;
	}
	EXPECT_EQ(0, n);
	close(d.sv[1]);
}

struct mapper {
	int dev;
	void *va;
	bool batch;
	int ret;
	int done;
	pthread_t thread;
};

#define MAPPER_LEN	(1 << 16)
/* A batch's second entry, which the server refuses. */
#define MAPPER_IOVA2	(1 << 20)

static void *mapper_main(void *arg)
{
	struct mapper *m = arg;
	struct vfio_user_map_dma maps[2];
	struct vfio_user_dma_batch b = {
		.argsz = sizeof(b), .count = 2, .entries = (uintptr_t)maps,
	};
	unsigned int i;

	if (!m->batch) {
		m->ret = vu_map_dma(m->dev, m->va, 0, MAPPER_LEN, -1, 0);
	} else {
		for (i = 0; i < 2; i++)
			maps[i] = (struct vfio_user_map_dma) {
				.argsz = sizeof(maps[i]),
				.flags = VFIO_USER_MAP_DMA_READ |
					 VFIO_USER_MAP_DMA_WRITE,
				.vaddr = (uintptr_t)m->va + i * MAPPER_LEN,
				.iova = i ? MAPPER_IOVA2 : 0,
				.size = MAPPER_LEN, .fd = -1,
			};
		m->ret = ioctl(m->dev, VFIO_USER_MAP_DMA_BATCH, &b) ? -errno :
								      0;
	}
	__atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The server starts a DMA_WRITE into a mapping on its way (on the twin
 * socket, part of the body), then fails the DMA_MAP (or, for a batch, the
 * second entry's, which undoes the first). Once the map returns, the rest
 * of the body must not land in the memory the VMM was told is not mapped:
 * the map waits for the transfer, which the message timeout ends here. An
 * undoing DMA_UNMAP, should one come first, is answered.
 */
static void failed_map_waits(struct __test_metadata *_metadata, bool batch)
{
	enum { LEN = MAPPER_LEN, FIRST = 4096 };
	struct vfio_user_timeout t = { .argsz = sizeof(t), .timeout_ms = 5000 };
	struct {
		struct vfio_user_header hdr;
		struct vfio_user_dma_region_access acc;
		uint8_t data[LEN];
	} *msg;
	struct vfio_user_header hdr, maps[2];
	struct mapper m = { .batch = batch };
	unsigned int nr_maps = batch ? 2 : 1;
	uint8_t reply[256];
	int twin[2], queued = 1, i;
	struct raw_dev d;
	size_t j;

	NEED_MODULE();
	msg = calloc(1, sizeof(*msg));
	ASSERT_NE(NULL, msg);
	m.va = mmap(NULL, 2 * LEN, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, m.va);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, twin));
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	d.arg.twin_fd = twin[0];
	ASSERT_EQ(0, raw_attach(&d));

	m.dev = d.dev;
	ASSERT_EQ(0, pthread_create(&m.thread, NULL, mapper_main, &m));
	for (i = 0; i < (int)nr_maps; i++) {
		ASSERT_TRUE(vu_wait_readable(d.sv[1], VU_WAIT_MS));
		ASSERT_EQ(0, vu_msg_recv(d.sv[1], &maps[i], reply,
					 sizeof(reply)));
		ASSERT_EQ(VFIO_USER_DMA_MAP, maps[i].cmd);
	}
	/* Short from here on: it bounds the DMA_WRITE below, not the map. */
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_SET_TIMEOUT, &t));

	/* The header and the first 4 KiB of a DMA_WRITE at IOVA 0, taken in. */
	msg->hdr = (struct vfio_user_header) {
		.msg_id = 7, .cmd = VFIO_USER_DMA_WRITE,
		.msg_size = sizeof(*msg), .flags = VFIO_USER_F_TYPE_COMMAND,
	};
	msg->acc = (struct vfio_user_dma_region_access) {
		.addr = 0, .count = LEN,
	};
	memset(msg->data, 0x55, LEN);
	ASSERT_EQ((ssize_t)(sizeof(msg->hdr) + sizeof(msg->acc) + FIRST),
		  write(twin[1], msg, sizeof(msg->hdr) + sizeof(msg->acc) + FIRST));
	for (i = 0; i < 3000 && queued; i++) {
		ASSERT_EQ(0, ioctl(twin[1], SIOCOUTQ, &queued));
		if (queued)
			usleep(10 * 1000);
	}
	ASSERT_EQ(0, queued) TH_LOG("the worker did not take the DMA_WRITE in");

	/* A batch's first entry is mapped; the last entry fails. */
	if (batch)
		ASSERT_EQ(0, vu_msg_send(d.sv[1], maps[0].msg_id,
					 VFIO_USER_DMA_MAP,
					 VFIO_USER_F_TYPE_REPLY, 0, NULL, 0));
	ASSERT_EQ(0, vu_msg_send(d.sv[1], maps[nr_maps - 1].msg_id,
				 VFIO_USER_DMA_MAP,
				 VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
				 EINVAL, NULL, 0));
	while (!__atomic_load_n(&m.done, __ATOMIC_ACQUIRE)) {
		if (!vu_wait_readable(d.sv[1], 100))
			continue;
		if (vu_msg_recv(d.sv[1], &hdr, reply, sizeof(reply)))
			break;
		EXPECT_EQ(VFIO_USER_DMA_UNMAP, hdr.cmd);
		vu_msg_send(d.sv[1], hdr.msg_id, hdr.cmd,
			    VFIO_USER_F_TYPE_REPLY, 0, reply,
			    hdr.msg_size - sizeof(hdr));
	}
	pthread_join(m.thread, NULL);
	EXPECT_NE(0, m.ret);

	/* Not mapped, says the kernel: the VMM reuses the memory. */
	memset(m.va, 0xaa, LEN);
	send(twin[1], msg->data + FIRST, LEN - FIRST,
	     MSG_NOSIGNAL | MSG_DONTWAIT);
	/* The worker's answer, or the end of the stream, says it is done. */
	EXPECT_TRUE(vu_wait_readable(twin[1], VU_WAIT_MS));
	for (j = 0; j < LEN && ((uint8_t *)m.va)[j] == 0xaa; j++)
		;
	EXPECT_EQ((size_t)LEN, j)
		TH_LOG("bytes from %zu on landed after the map failed", j);
	raw_close(&d);
	close(twin[0]);
	close(twin[1]);
	munmap(m.va, 2 * LEN);
	free(msg);
}

TEST_F_TIMEOUT(harden, failed_map_waits_for_dma_in_flight, 180)
{
	failed_map_waits(_metadata, false);
}

TEST_F_TIMEOUT(harden, failed_map_batch_waits_for_dma_in_flight, 180)
{
	failed_map_waits(_metadata, true);
}

/* Killed while another task shares the address space ---------------------- */

/*
 * A task that shares the owner's address space (clone with CLONE_VM, not a
 * thread) may use the device as the owner does; killing it leaves the
 * owner, and the connection, alive.
 */
struct vm_call {
	int dev;
	unsigned long cmd;
	void *arg;
};

static int vm_call_main(void *arg)
{
	struct vm_call *c = arg;

	ioctl(c->dev, c->cmd, c->arg);
	return 0;
}

#define VM_CALL_STACK	(64 * 1024)

static pid_t vm_call_start(struct vm_call *c, void *stack)
{
	return clone(vm_call_main, (char *)stack + VM_CALL_STACK,
		     CLONE_VM | SIGCHLD, c);
}

static void vm_call_kill(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/*
 * Killed while waiting for the server's answer to DMA_MAP: whether the
 * server mapped the range is unknown, so the connection ends rather than
 * leave the kernel's map and the server's to disagree.
 */
TEST_F_TIMEOUT(harden, killed_dma_map_ends_connection, 180)
{
	static uint8_t stack[VM_CALL_STACK] __attribute__((aligned(16)));
	struct vfio_user_map_dma maps[4];
	struct vfio_user_dma_batch batch = {
		.argsz = sizeof(batch), .count = 4,
		.entries = (uintptr_t)maps,
	};
	struct vfio_user_header hdr;
	uint8_t buf[256];
	int batched, i;

	NEED_MODULE();
	for (batched = 0; batched < 2; batched++) {
		struct vm_call c = { .cmd = VFIO_USER_MAP_DMA, .arg = maps };
		uint8_t *mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		unsigned int nr = batched ? 4 : 1;
		struct raw_dev d;
		pid_t pid;

		ASSERT_NE(MAP_FAILED, mem);
		for (i = 0; i < 4; i++)
			maps[i] = (struct vfio_user_map_dma) {
				.argsz = sizeof(maps[i]),
				.flags = VFIO_USER_MAP_DMA_READ |
					 VFIO_USER_MAP_DMA_WRITE,
				.vaddr = (uintptr_t)mem + i * PAGE,
				.iova = 0x100000 + i * 2 * PAGE,
				.size = PAGE,
			};
		if (batched) {
			c.cmd = VFIO_USER_MAP_DMA_BATCH;
			c.arg = &batch;
		}
		raw_init(&d);
		ASSERT_LE(0, d.dev);
		ASSERT_EQ(0, raw_attach(&d));
		ASSERT_EQ(0, vu_set_timeout(d.dev, VU_LONG_TIMEOUT_MS));
		c.dev = d.dev;
		pid = vm_call_start(&c, stack);
		ASSERT_LT(0, pid);
		/* Every DMA_MAP is at the server, none answered. */
		for (i = 0; i < (int)nr; i++) {
			ASSERT_TRUE(vu_wait_readable(d.sv[1], VU_WAIT_MS));
			ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
			ASSERT_EQ(VFIO_USER_DMA_MAP, hdr.cmd);
		}
		vm_call_kill(pid);
		EXPECT_NE(0, vu_wait_broken(d.dev, VU_WAIT_MS)) {
			TH_LOG("%s: connection still up after a killed map",
			       batched ? "batch" : "single");
		}
		raw_close(&d);
		munmap(mem, 4 * PAGE);
	}
}

/*
 * Killed while waiting for the answer to DEVICE_RESET, whose bound is far
 * shorter than the message timeout: the worker, asleep for the message
 * timeout, must learn of the earlier deadline, and the connection ends by
 * the reset's bound, not the message timeout's.
 */
TEST_F_TIMEOUT(harden, killed_reset_keeps_its_own_bound, 180)
{
	static uint8_t stack[VM_CALL_STACK] __attribute__((aligned(16)));
	struct vfio_user_timeout reset = {
		.argsz = sizeof(reset), .flags = VFIO_USER_TIMEOUT_RESET,
		.timeout_ms = 300,
	};
	struct vm_call c = { .cmd = VFIO_DEVICE_RESET };
	struct vfio_user_header hdr;
	struct raw_dev d;
	uint8_t buf[64];
	pid_t pid;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	d.arg.device_flags = VFIO_DEVICE_FLAGS_RESET;
	ASSERT_EQ(0, raw_attach(&d));
	/* Longer than the wait below: only the reset's bound can end it. */
	ASSERT_EQ(0, vu_set_timeout(d.dev, 3 * VU_WAIT_MS));
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_SET_TIMEOUT, &reset));
	c.dev = d.dev;
	pid = vm_call_start(&c, stack);
	ASSERT_LT(0, pid);
	ASSERT_TRUE(vu_wait_readable(d.sv[1], VU_WAIT_MS));
	ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
	ASSERT_EQ(VFIO_USER_DEVICE_RESET, hdr.cmd);
	vm_call_kill(pid);
	EXPECT_NE(0, vu_wait_broken(d.dev, VU_WAIT_MS));
	raw_close(&d);
}

/* Memory cgroups -------------------------------------------------------------- */

/* A memory cgroup of its own for @pid; returns 0 and its directory. */
static int memcg_enter(char *dir, size_t len, pid_t pid)
{
	char path[160], val[32];

	mkdir("/sys/fs/cgroup", 0755);
	if (access("/sys/fs/cgroup/cgroup.procs", F_OK) &&
	    mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL))
		return -errno;
	if (write_param("/sys/fs/cgroup/cgroup.subtree_control", "+memory"))
		return -EOPNOTSUPP;
	snprintf(dir, len, "/sys/fs/cgroup/vu-harden-%d", pid);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(val, sizeof(val), "%d", pid);
	return write_param(path, val);
}

static long long memcg_read(const char *dir, const char *file)
{
	char path[160], buf[64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (read_param(path, buf, sizeof(buf)))
		return -1;
	return atoll(buf);
}

static void memcg_leave(const char *dir)
{
	char val[32];

	snprintf(val, sizeof(val), "%d", getpid());
	write_param("/sys/fs/cgroup/cgroup.procs", val);
	rmdir(dir);
}

/*
 * An attach that fails for want of memory in the caller's cgroup (the
 * worker's buffer) fails cleanly, and a later one works.
 */
/* The server's DMA_READ of @len bytes at @iova into @out; its error_no. */
static int server_dma_read(int sock, uint16_t id, uint64_t iova, size_t len,
			   uint8_t *out)
{
	struct vfio_user_dma_region_access acc = { .addr = iova, .count = len };
	struct vfio_user_header hdr;
	uint8_t *reply;
	int ret = -1;

	reply = malloc(sizeof(acc) + len);
	if (!reply)
		return -1;
	if (!vu_msg_send(sock, id, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND,
			 0, &acc, sizeof(acc)) &&
	    !vu_msg_recv(sock, &hdr, reply, sizeof(acc) + len) &&
	    hdr.msg_id == id) {
		ret = hdr.flags & VFIO_USER_F_ERROR ? (int)hdr.error_no : 0;
		if (!ret && hdr.msg_size != sizeof(hdr) + sizeof(acc) + len)
			ret = -2;
		if (!ret)
			memcpy(out, reply + sizeof(acc), len);
	}
	free(reply);
	return ret;
}

/*
 * The server's DMA moves straight between the socket and the VMM's memory:
 * the worker holds no buffer as large as the most data the VMM offered to
 * take, so a memory cgroup with no room for one still serves transfers
 * larger than it is, several windows each, both ways.
 */
TEST_F_TIMEOUT(harden, dma_service_holds_no_buffer_of_its_limit, 180)
{
	const size_t len = (3 << 20) + 5;
	char dir[128], path[160];
	uint8_t *mem, *back;
	struct raw_dev d;
	size_t i;
	int ret;

	NEED_MODULE();
	ret = memcg_enter(dir, sizeof(dir), getpid());
	if (ret)
		SKIP(return, "no memory cgroup to test with (%s)", strerror(-ret));
	snprintf(path, sizeof(path), "%s/memory.max", dir);
	back = malloc(len);
	ASSERT_NE(NULL, back);
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	/* The limit: 64 MiB, against 24 MiB allowed for everything. */
	d.arg.client_max_data_xfer_size = 64 << 20;
	ASSERT_EQ(0, raw_attach(&d));
	mem = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 0, 4 << 20);
	ASSERT_EQ(0, map_answered(&d, mem, 0x400000, 4 << 20));
	ASSERT_EQ(0, write_param(path, "24M"));

	/* Nothing mapped there: an error reply, not a broken connection. */
	EXPECT_EQ(EFAULT, server_dma_read(d.sv[1], 1, 0, 8, back));
	EXPECT_EQ(0, vu_wait_broken(d.dev, 0));

	/* Unaligned, so that every window starts part-way into a page. */
	EXPECT_EQ(0, server_dma_write(d.sv[1], 2, 0x400000 + 3, len, 0x3c));
	EXPECT_EQ(0, mem[2]);
	EXPECT_EQ(0, mem[3 + len]);
	for (i = 0; i < len; i++)
		if (mem[3 + i] != 0x3c)
			break;
	EXPECT_EQ(len, i);

	for (i = 0; i < len; i++)
		mem[3 + i] = (uint8_t)(i * 7 + i / 4096);
	memset(back, 0, len);
	EXPECT_EQ(0, server_dma_read(d.sv[1], 3, 0x400000 + 3, len, back));
	EXPECT_EQ(0, memcmp(back, mem + 3, len));
	EXPECT_EQ(0, vu_wait_broken(d.dev, 0));

	ASSERT_EQ(0, write_param(path, "max"));
	raw_close(&d);
	munmap(mem, 4 << 20);
	free(back);
	memcg_leave(dir);
}

/*
 * A DMA_READ's reply promises its whole length in the header, which goes
 * out with the first window. Memory the VMM took back from under a later
 * window (here: made inaccessible behind a live mapping) reads as zeros,
 * so the stream stays whole; a read that starts there is refused.
 */
TEST_F_TIMEOUT(harden, dma_read_of_memory_gone_midway_reads_zeros, 120)
{
	/* The first mapping fills exactly the first window. */
	const size_t first = 257 * PAGE, second = 2 * PAGE;
	const size_t len = first + second;
	uint8_t *a, *b, *back;
	struct raw_dev d;
	size_t i;

	NEED_MODULE();
	back = malloc(len);
	ASSERT_NE(NULL, back);
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	d.arg.client_max_data_xfer_size = 2 << 20;
	ASSERT_EQ(0, raw_attach(&d));
	a = mmap(NULL, first, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, second, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	for (i = 0; i < first; i++)
		a[i] = (uint8_t)(i * 5 + i / PAGE + 1);
	memset(b, 0x99, second);
	ASSERT_EQ(0, map_answered(&d, a, 0, first));
	ASSERT_EQ(0, map_answered(&d, b, first, second));
	/* Gone from under the second mapping, and nothing else comes there. */
	ASSERT_EQ(b, mmap(b, second, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	/* A small write leaves its bytes where a bounced window would go. */
	EXPECT_EQ(0, server_dma_write(d.sv[1], 4, 0, 4000, 0xab));
	for (i = 0; i < 4000; i++)
		a[i] = (uint8_t)(i * 5 + 1);

	memset(back, 0xee, len);
	EXPECT_EQ(0, server_dma_read(d.sv[1], 1, 0, len, back));
	EXPECT_EQ(0, memcmp(back, a, first));
	for (i = first; i < len; i++)
		if (back[i])
			break;
	EXPECT_EQ(len, i);
	EXPECT_EQ(EFAULT, server_dma_read(d.sv[1], 2, first, second, back));
	/* The stream is whole: the next read is answered in order. */
	EXPECT_EQ(0, server_dma_read(d.sv[1], 3, PAGE, 8, back));
	EXPECT_EQ(0, memcmp(back, a + PAGE, 8));
	EXPECT_EQ(0, vu_wait_broken(d.dev, 0));

	raw_close(&d);
	munmap(a, first);
	munmap(b, second);
	free(back);
}

struct unmap_call {
	int dev;
	uint64_t iova, size;
	int ret;
	bool done;
	pthread_t thread;
};

static void *unmap_thread(void *arg)
{
	struct unmap_call *u = arg;

	u->ret = vu_unmap_dma(u->dev, u->iova, u->size);
	__atomic_store_n(&u->done, true, __ATOMIC_RELEASE);
	return NULL;
}

struct racing_unmap {
	struct unmap_call u;
	pid_t tid;
};

static void *racing_unmap_thread(void *arg)
{
	struct racing_unmap *r = arg;

	__atomic_store_n(&r->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	return unmap_thread(&r->u);
}

/* Is thread @tid of this process asleep in the module? */
static bool asleep_in_module(pid_t tid)
{
	char path[64], wchan[128] = "";
	int fd, n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, wchan, sizeof(wchan) - 1);
	close(fd);
	return n > 0 && strstr(wchan, "vfio_user");
}

/*
 * An unmap that races a DMA_READ whose reply is part-way out takes the
 * rest of the range out of service at once, and waits for the reply to
 * end: the reply, whose header promised its whole length, goes on with
 * zeros where the unmapped memory was (never the bytes of an earlier
 * command), then the unmap completes.
 */
TEST_F_TIMEOUT(harden, dma_read_raced_by_unmap_reads_zeros, 120)
{
	const size_t first = 257 * PAGE, second = 2 * PAGE;
	const size_t len = first + second;
	struct racing_unmap r = { .u = { .iova = first, .size = second } };
	struct vfio_user_dma_region_access acc = { .addr = 0, .count = len };
	struct vfio_user_header hdr;
	uint8_t *mem, *reply, buf[256];
	struct raw_dev d;
	int queued = 0, sndbuf = 64 << 10;
	size_t i;

	NEED_MODULE();
	reply = malloc(sizeof(acc) + len);
	ASSERT_NE(NULL, reply);
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	d.arg.client_max_data_xfer_size = 2 << 20;
	ASSERT_EQ(0, raw_attach(&d));
	ASSERT_EQ(0, vu_set_timeout(d.dev, 60000));
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	for (i = 0; i < len; i++)
		mem[i] = (uint8_t)(i * 5 + i / PAGE + 1);
	ASSERT_EQ(0, map_answered(&d, mem, 0, first));
	ASSERT_EQ(0, map_answered(&d, mem + first, first, second));
	/* A small write leaves its bytes where a bounced window would go. */
	EXPECT_EQ(0, server_dma_write(d.sv[1], 1, first, 4000, 0xab));

	/*
	 * The socket holds a whole reply as the module sizes it; made small,
	 * it holds a little of the first window, and the reply waits there.
	 */
	ASSERT_EQ(0, setsockopt(d.sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
				sizeof(sndbuf)));
	ASSERT_EQ(0, vu_msg_send(d.sv[1], 2, VFIO_USER_DMA_READ,
				 VFIO_USER_F_TYPE_COMMAND, 0, &acc,
				 sizeof(acc)));
	for (i = 0; i < 6000 && !queued; i++) {
		ASSERT_EQ(0, ioctl(d.sv[1], FIONREAD, &queued));
		if (!queued)
			usleep(10 * 1000);
	}
	ASSERT_NE(0, queued);
	ASSERT_GT((int)first, queued);

	r.u.dev = d.dev;
	ASSERT_EQ(0, pthread_create(&r.u.thread, NULL, racing_unmap_thread,
				    &r));
	for (i = 0; i < 6000; i++) {
		pid_t tid = __atomic_load_n(&r.tid, __ATOMIC_ACQUIRE);

		if (tid && asleep_in_module(tid))
			break;
		usleep(10 * 1000);
	}
	ASSERT_GT(6000, i);
	EXPECT_FALSE(__atomic_load_n(&r.u.done, __ATOMIC_ACQUIRE));

	ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, reply, sizeof(acc) + len));
	EXPECT_EQ(2, hdr.msg_id);
	EXPECT_EQ(sizeof(hdr) + sizeof(acc) + len, hdr.msg_size);
	EXPECT_EQ(0, memcmp(reply + sizeof(acc), mem, first));
	for (i = first; i < len; i++)
		if (reply[sizeof(acc) + i])
			break;
	EXPECT_EQ(len, i);

	/* Then the unmap goes on. */
	ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
	EXPECT_EQ(VFIO_USER_DMA_UNMAP, hdr.cmd);
	vu_msg_send(d.sv[1], hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY, 0,
		    buf, hdr.msg_size - sizeof(hdr));
	pthread_join(r.u.thread, NULL);
	EXPECT_EQ(0, r.u.ret);
	EXPECT_EQ(0, vu_wait_broken(d.dev, 0));
	raw_close(&d);
	munmap(mem, len);
	free(reply);
}

/* The start and size of the [vvar] mapping, or 0. */
static size_t find_vvar(uintptr_t *start)
{
	char line[256];
	size_t size = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	uintptr_t a, b;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vvar]") &&
		    sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &a, &b) == 2) {
			*start = a;
			size = b - a;
			break;
		}
	fclose(f);
	return size;
}

struct ro_map_call {
	int dev;
	uintptr_t va;
	uint64_t iova, size;
	int ret;
};

static void *ro_map_thread(void *arg)
{
	struct ro_map_call *c = arg;
	struct vfio_user_map_dma map = {
		.argsz = sizeof(map), .flags = VFIO_USER_MAP_DMA_READ,
		.vaddr = c->va, .iova = c->iova, .size = c->size,
	};

	c->ret = ioctl(c->dev, VFIO_USER_MAP_DMA, &map) ? -errno : 0;
	return NULL;
}

/*
 * Memory with no pages to pin (the vDSO's data, mapped VM_PFNMAP) is
 * still served: copied in the VMM's address space, small and large.
 */
TEST_F_TIMEOUT(harden, dma_from_memory_without_pages, 120)
{
	struct ro_map_call c = { .iova = 0x200000 };
	struct vfio_user_header hdr;
	static uint8_t back[PAGE];
	struct raw_dev d;
	pthread_t mapper;
	uint8_t buf[256];

	NEED_MODULE();
	c.size = find_vvar(&c.va);
	if (c.size < PAGE)
		SKIP(return, "no [vvar] mapping here");
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	ASSERT_EQ(0, raw_attach(&d));
	c.dev = d.dev;
	c.size = PAGE;
	ASSERT_EQ(0, pthread_create(&mapper, NULL, ro_map_thread, &c));
	ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
	EXPECT_EQ(VFIO_USER_DMA_MAP, hdr.cmd);
	vu_msg_send(d.sv[1], hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY, 0,
		    NULL, 0);
	pthread_join(mapper, NULL);
	ASSERT_EQ(0, c.ret);

	/* Through the command page, and window by window through it. */
	EXPECT_EQ(0, server_dma_read(d.sv[1], 1, c.iova, 8, back));
	EXPECT_EQ(0, server_dma_read(d.sv[1], 2, c.iova, PAGE, back));
	/* Read-only: the server may not write it. */
	EXPECT_EQ(EPERM, server_dma_write(d.sv[1], 3, c.iova, 8, 0));
	EXPECT_EQ(0, vu_wait_broken(d.dev, 0));
	raw_close(&d);
}

/*
 * A DMA_WRITE lands straight in the VMM's memory as it arrives: an unmap
 * of the range takes it out of service at once but does not return (nor
 * tell the server) before the write in flight has landed, so no byte of
 * the server's reaches memory the VMM has taken back.
 */
TEST_F_TIMEOUT(harden, unmap_waits_for_dma_write_in_flight, 120)
{
	const size_t len = 64 << 10, half = len / 2;
	struct unmap_call u = { .iova = 0, .size = 1 << 20 };
	struct vfio_user_header hdr, cmd = {
		.msg_id = 7, .cmd = VFIO_USER_DMA_WRITE,
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	struct vfio_user_dma_region_access acc = { .addr = 0x1000, .count = len };
	bool replied = false, unmapped = false;
	static uint8_t data[64 << 10];
	uint8_t buf[256], *mem;
	struct raw_dev d;
	int queued = 1, i;

	NEED_MODULE();
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	d.arg.client_max_data_xfer_size = 1 << 20;
	ASSERT_EQ(0, raw_attach(&d));
	ASSERT_EQ(0, vu_set_timeout(d.dev, 60000));
	mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, map_answered(&d, mem, 0, 1 << 20));

	/* Header, access and half the data; the worker takes them in. */
	memset(data, 0x77, sizeof(data));
	cmd.msg_size = sizeof(cmd) + sizeof(acc) + len;
	ASSERT_EQ((ssize_t)sizeof(cmd), send(d.sv[1], &cmd, sizeof(cmd), 0));
	ASSERT_EQ((ssize_t)sizeof(acc), send(d.sv[1], &acc, sizeof(acc), 0));
	ASSERT_EQ((ssize_t)half, send(d.sv[1], data, half, 0));
	for (i = 0; i < 6000 && queued; i++) {
		ASSERT_EQ(0, ioctl(d.sv[0], FIONREAD, &queued));
		if (queued)
			usleep(10 * 1000);
	}
	ASSERT_EQ(0, queued);

	u.dev = d.dev;
	ASSERT_EQ(0, pthread_create(&u.thread, NULL, unmap_thread, &u));
	/* The unmap waits for the write: no DMA_UNMAP, no return. */
	EXPECT_EQ(0, vu_wait_readable(d.sv[1], 500));
	EXPECT_FALSE(__atomic_load_n(&u.done, __ATOMIC_ACQUIRE));

	/* The rest lands; then the reply, and the unmap goes on. */
	ASSERT_EQ((ssize_t)(len - half), send(d.sv[1], data + half, len - half, 0));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, buf, sizeof(buf)));
		if (hdr.cmd == VFIO_USER_DMA_WRITE) {
			EXPECT_EQ(7, hdr.msg_id);
			EXPECT_EQ(0U, hdr.flags & VFIO_USER_F_ERROR);
			replied = true;
		} else {
			EXPECT_EQ(VFIO_USER_DMA_UNMAP, hdr.cmd);
			/* The echo of the range. */
			vu_msg_send(d.sv[1], hdr.msg_id, hdr.cmd,
				    VFIO_USER_F_TYPE_REPLY, 0, buf,
				    hdr.msg_size - sizeof(hdr));
			unmapped = true;
		}
	}
	pthread_join(u.thread, NULL);
	EXPECT_TRUE(replied);
	EXPECT_TRUE(unmapped);
	EXPECT_EQ(0, u.ret);
	EXPECT_EQ(0x77, mem[0x1000]);
	EXPECT_EQ(0x77, mem[0x1000 + len - 1]);
	EXPECT_EQ(0, mem[0x1000 + len]);
	raw_close(&d);
	munmap(mem, 1 << 20);
}

/*
 * An idle device holds little kernel memory: what only the server's
 * commands, discarded bodies and gathered posted writes need is made when
 * first needed. Measured on memory.current, whose per-CPU charge batches
 * (64 pages) the device count dwarfs; the test stays on one CPU, so that
 * a move to another (likelier on a busy machine) cannot add a batch.
 */
TEST_F_TIMEOUT(harden, idle_devices_hold_little_kernel_memory, 300)
{
	enum { NDEV = 64 };
	static struct raw_dev d[NDEV];
	static int twin[NDEV][2];
	long long before, after;
	cpu_set_t one, all;
	char dir[128];
	int i, ret;

	NEED_MODULE();
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(all), &all));
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one));
	ret = memcg_enter(dir, sizeof(dir), getpid());
	if (ret)
		SKIP(return, "no memory cgroup to test with (%s)", strerror(-ret));
	/* Files and sockets first: only what attaching adds is measured. */
	for (i = 0; i < NDEV; i++) {
		raw_init(&d[i]);
		ASSERT_LE(0, d[i].dev);
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
					twin[i]));
		d[i].arg.twin_fd = twin[i][0];
		d[i].arg.flags = VFIO_USER_ATTACH_WRITE_MULTIPLE;
	}
	before = memcg_read(dir, "memory.current");
	ASSERT_LT(0, before);
	for (i = 0; i < NDEV; i++)
		ASSERT_EQ(0, raw_attach(&d[i]));
	after = memcg_read(dir, "memory.current");
	TH_LOG("memory.current %lld -> %lld: %lld bytes per idle device",
	       before, after, (after - before) / NDEV);
	EXPECT_GE(8 * 1024LL, (after - before) / NDEV);
	for (i = 0; i < NDEV; i++) {
		raw_close(&d[i]);
		close(twin[i][0]);
		close(twin[i][1]);
	}
	memcg_leave(dir);
	sched_setaffinity(0, sizeof(all), &all);
}

/*
 * What the worker queues for the server (replies to its DMA_READs) is
 * charged to the VMM's memory cgroup: kthreads are not charged by
 * themselves.
 */
TEST_F_TIMEOUT(harden, worker_memory_charged_to_vmm, 300)
{
	struct vfio_user_timeout t = { .argsz = sizeof(t), .timeout_ms = 600000 };
	struct {
		struct vfio_user_dma_region_access acc;
	} req = { .acc = { .addr = 0, .count = 1 << 16 } };
	static uint8_t reply[sizeof(req) + (1 << 16)];
	struct vfio_user_header hdr;
	long long before, after;
	char dir[128];
	struct raw_dev d;
	int i, queued = 0, ret;
	void *mem;

	NEED_MODULE();
	ret = memcg_enter(dir, sizeof(dir), getpid());
	if (ret)
		SKIP(return, "no memory cgroup to test with (%s)", strerror(-ret));
	raw_init(&d);
	ASSERT_LE(0, d.dev);
	/* Room for 32 MiB of replies queued on the socket. */
	d.arg.client_max_data_xfer_size = 16 << 20;
	ASSERT_EQ(0, raw_attach(&d));
	ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_SET_TIMEOUT, &t));
	mem = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, map_answered(&d, mem, 0, 1 << 16));
	/* One read answered first: the worker's own buffer is made by then. */
	ASSERT_EQ(0, vu_msg_send(d.sv[1], 99, VFIO_USER_DMA_READ,
				 VFIO_USER_F_TYPE_COMMAND, 0, &req, sizeof(req)));
	ASSERT_TRUE(vu_wait_readable(d.sv[1], VU_WAIT_MS));
	ASSERT_EQ(0, vu_msg_recv(d.sv[1], &hdr, reply, sizeof(reply)));
	EXPECT_EQ(99, hdr.msg_id);
	before = memcg_read(dir, "memory.current");
	ASSERT_LT(0, before);

	/* 256 reads of 64 KiB whose replies nobody reads: 16 MiB queued. */
	for (i = 0; i < 256; i++)
		ASSERT_EQ(0, vu_msg_send(d.sv[1], 100 + i, VFIO_USER_DMA_READ,
					 VFIO_USER_F_TYPE_COMMAND, 0, &req,
					 sizeof(req)));
	for (i = 0; i < 6000 && queued < (15 << 20); i++) {
		if (ioctl(d.sv[1], FIONREAD, &queued))
			break;
		if (queued < (15 << 20))
			usleep(10 * 1000);
	}
	ASSERT_LE(15 << 20, queued);
	after = memcg_read(dir, "memory.current");
	TH_LOG("memory.current %lld -> %lld with %d bytes queued", before,
	       after, queued);
	EXPECT_LE(before + (12 << 20), after);
	raw_close(&d);
	munmap(mem, 1 << 16);
	memcg_leave(dir);
}

/*
 * A server that stops reading while a DMA_READ's reply is half-way out
 * ends the connection. The socket layer may take a piece of the reply
 * from its source and then find the peer gone: the worker must not take
 * that piece as sent, run its source dry and wait for the rest forever
 * (which also left the device's release waiting for the worker). Each
 * round stops reading at another point of the stream of replies.
 */
TEST_F_TIMEOUT(harden, reply_cut_by_a_server_that_stops_reading, 600)
{
	enum { ROUNDS = 24, READS = 128, LEN = 1 << 16 };
	struct vfio_user_timeout t = { .argsz = sizeof(t), .timeout_ms = 600000 };
	struct vfio_user_dma_region_access acc = { .addr = 0, .count = LEN };
	int round, i, queued;
	struct raw_dev d;
	void *mem;

	NEED_MODULE();
	mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	for (round = 0; round < ROUNDS; round++) {
		raw_init(&d);
		ASSERT_LE(0, d.dev);
		/* Room for every reply: the worker never waits to send. */
		d.arg.client_max_data_xfer_size = 8 << 20;
		ASSERT_EQ(0, raw_attach(&d));
		ASSERT_EQ(0, ioctl(d.dev, VFIO_USER_SET_TIMEOUT, &t));
		ASSERT_EQ(0, map_answered(&d, mem, 0, LEN));
		for (i = 0; i < READS; i++)
			ASSERT_EQ(0, vu_msg_send(d.sv[1], 100 + i,
						 VFIO_USER_DMA_READ,
						 VFIO_USER_F_TYPE_COMMAND, 0,
						 &acc, sizeof(acc)));
		/* Replies are flowing: stop reading a little later each round. */
		queued = 0;
		for (i = 0; i < 1000000 && queued < (round + 1) * (LEN / 2); i++)
			if (ioctl(d.sv[1], FIONREAD, &queued))
				break;
		ASSERT_EQ(0, shutdown(d.sv[1], SHUT_RD));
		ASSERT_NE(0, vu_wait_broken(d.dev, VU_WAIT_MS)) {
			/* Closing the device would wait for the worker for good. */
			TH_LOG("round %d: the worker never ended its reply", round);
		}
		raw_close(&d);
	}
	munmap(mem, LEN);
}

TEST_HARNESS_MAIN
