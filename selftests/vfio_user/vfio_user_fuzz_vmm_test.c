// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile VMM, fuzzed: random ioctls with random and boundary arguments
 * on /dev/vfio-user fds before and after attach (to the sample server), and
 * races between threads and processes: close against ioctl, mmap and pread,
 * the fd passed to another process over SCM_RIGHTS, fork, munmap under live
 * DMA maps while the server's DMA engine runs.
 *
 * What must hold: no errno >= 512 ever reaches userspace; an fd that is not
 * attached answers the device ioctls with ENODEV and unknown ones with
 * ENOTTY; only the attaching process may map DMA (EPERM elsewhere); nothing
 * hangs (the harness timeout) and the kernel stays quiet and leaks nothing
 * (the VM runner fails the run on a splat, a kmemleak report or a module
 * that cannot be unloaded).
 *
 * Env: VFIO_USER_FUZZ_SEED (printed as "# seed: N"), VFIO_USER_FUZZ_IOCTLS
 * (calls to make, default 10000). Ends with "# fuzz-figures: ioctls=N".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define PAGE			4096UL
#define ARG_PAGES		4
#define DEFAULT_IOCTLS		10000
#define MAX_REPORTED		20
#define NR_DMA_BUFS		4
#define DMA_BUF_SIZE		(16 * PAGE)

/* Counters shared with the child processes. */
struct shared {
	uint64_t calls;
	uint64_t failures;
	char first_failure[256];
};

struct fuzzer {
	struct shared *sh;
	struct vu_rng rng;
	struct vu_server srv;
	uint8_t *arg_area;	/* ARG_PAGES pages, then a PROT_NONE page */
	uint8_t *dma_bufs[NR_DMA_BUFS];
	int spare_fds[6];	/* files of several kinds to put in arguments */
	pthread_mutex_t lock;	/* the rng and the arg area in racing threads */
};

static void fail(struct fuzzer *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct fuzzer *f, const char *fmt, ...)
{
	uint64_t n = __atomic_fetch_add(&f->sh->failures, 1, __ATOMIC_RELAXED);
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!n)
		snprintf(f->sh->first_failure, sizeof(f->sh->first_failure),
			 "%s", msg);
	if (n < MAX_REPORTED) {
		printf("# FAIL: %s\n", msg);
		fflush(stdout);
	}
}

/* Account for one call; an errno must be an ordinary one. */
static void count_call(struct fuzzer *f, const char *what, unsigned long cmd,
		       long ret, int err)
{
	__atomic_fetch_add(&f->sh->calls, 1, __ATOMIC_RELAXED);
	if (ret < 0 && !vu_errno_ordinary(err))
		fail(f, "%s %#lx failed with errno %d", what, cmd, err);
}

/* Every ioctl number the module knows, VFIO's neighbours and some noise. */
static unsigned long pick_cmd(struct vu_rng *r)
{
	switch (vu_below(r, 10)) {
	case 0:
	case 1:
	case 2:
		return _IO(VFIO_TYPE, VFIO_USER_BASE + vu_below(r, 14));
	case 3:
	case 4:
	case 5:
		return _IO(VFIO_TYPE, VFIO_BASE + vu_below(r, 24));
	case 6:
		/* The same numbers with size and direction bits, as _IOWR. */
		return _IOC(vu_below(r, 4), VFIO_TYPE, VFIO_BASE + vu_below(r, 220),
			    vu_below(r, 1 << 14));
	case 7:
		return _IO(vu_below(r, 256), vu_below(r, 256));
	default:
		return (unsigned long)vu_rnd(r);
	}
}

/*
 * Commands the VFS answers itself (do_vfs_ioctl()), before any driver sees
 * them: with a garbage argument they fail as the VFS says, not ENOTTY.
 * pick_cmd() makes the plain ones (_IO(type, nr)) now and then.
 */
static bool vfs_cmd(unsigned long cmd)
{
	switch ((unsigned int)cmd) {
	case FIOCLEX:
	case FIONCLEX:
	case FIONBIO:
	case FIOASYNC:
	case FIOQSIZE:
	case FIFREEZE:
	case FITHAW:
	case FS_IOC_FIEMAP:
	case FIGETBSZ:
	case FICLONE:
	case FICLONERANGE:
	case FIDEDUPERANGE:
	case FIONREAD:
	case FS_IOC_GETFLAGS:
	case FS_IOC_SETFLAGS:
	case FS_IOC_FSGETXATTR:
	case FS_IOC_FSSETXATTR:
		return true;
	}
	return false;
}

static bool known_device_cmd(unsigned long cmd)
{
	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
	case VFIO_DEVICE_GET_REGION_INFO:
	case VFIO_DEVICE_GET_IRQ_INFO:
	case VFIO_DEVICE_SET_IRQS:
	case VFIO_DEVICE_RESET:
	case VFIO_USER_RAW_MSG:
	case VFIO_USER_MAP_DMA:
	case VFIO_USER_UNMAP_DMA:
	case VFIO_USER_MAP_DMA_BATCH:
	case VFIO_USER_UNMAP_DMA_BATCH:
	case VFIO_USER_DIRTY_LOG:
	case VFIO_USER_DIRTY_REPORT:
	case VFIO_USER_GET_IOEVENTFDS:
		return true;
	default:
		return false;
	}
}

static uint32_t boundary_u32(struct vu_rng *r)
{
	static const uint32_t v[] = {
		0, 1, 4, 7, 8, 15, 16, 23, 24, 31, 32, 40, 47, 48, 56, 71, 72,
		88, 4095, 4096, 65535, 65536, 0x7fffffff, 0x80000000,
		0xfffffffe, 0xffffffff,
	};

	return vu_chance(r, 700) ? v[vu_below(r, ARRAY_SIZE(v))] :
				   (uint32_t)vu_rnd(r);
}

static uint64_t boundary_u64(struct fuzzer *f)
{
	struct vu_rng *r = &f->rng;

	switch (vu_below(r, 10)) {
	case 0:
		return 0;
	case 1:
		return ~0ULL - vu_below(r, 4096);
	case 2:
		return 1ULL << vu_below(r, 64);
	case 3:
		return (uintptr_t)f->dma_bufs[vu_below(r, NR_DMA_BUFS)];
	case 4:
		return (uintptr_t)f->arg_area + vu_below(r, ARG_PAGES * PAGE + PAGE);
	case 5:
		return 0xffff888000000000ULL + vu_below(r, 1 << 20) * PAGE;
	case 6:
		return PAGE * vu_below(r, 1 << 20);
	case 7:
		return boundary_u32(r);
	default:
		return vu_rnd(r);
	}
}

static int pick_fd(struct fuzzer *f, int own_fd)
{
	switch (vu_below(&f->rng, 5)) {
	case 0:
		return -1;
	case 1:
		return own_fd;
	case 2:
		return (int)boundary_u32(&f->rng);
	default:
		return f->spare_fds[vu_below(&f->rng, 6)];
	}
}

/*
 * An argument for @cmd: mostly a struct in the arg area, laid so that it
 * may run into the PROT_NONE page after it, with boundary values in its
 * fields; sometimes NULL, a kernel address or noise.
 */
static unsigned long pick_arg(struct fuzzer *f, unsigned long cmd, int own_fd)
{
	struct vu_rng *r = &f->rng;
	size_t room = ARG_PAGES * PAGE, size = 256, i;
	uint8_t *p;

	switch (vu_below(r, 12)) {
	case 0:
		return 0;
	case 1:
		return 0xffff888000000000ULL;
	case 2:
		return (unsigned long)vu_rnd(r);
	default:
		break;
	}
	/* Near the end of the area, so that a copy may fault half-way. */
	p = vu_chance(r, 300) ? f->arg_area + room - vu_below(r, size) :
				f->arg_area + vu_below(r, 64) * 8;
	if ((size_t)(f->arg_area + room - p) < size)
		size = f->arg_area + room - p;
	for (i = 0; i + 4 <= size; i += 4) {
		uint32_t v = vu_chance(r, 500) ? 0 : boundary_u32(r);

		memcpy(p + i, &v, 4);
	}
	if (size >= 4 && vu_chance(r, 700)) {
		/* argsz: mostly plausible, so the checks behind it run. */
		uint32_t argsz = vu_chance(r, 600) ? 16 * (1 + vu_below(r, 8)) :
						     boundary_u32(r);

		memcpy(p, &argsz, 4);
	}
	if (size >= 8 && vu_chance(r, 600))
		memset(p + 4, 0, 4);	/* flags */
	/* Plausible pointers, sizes and fds where the structs have them. */
	for (i = 8; i + 8 <= size && i < 72; i += 8) {
		if (vu_chance(r, 300)) {
			uint64_t v = boundary_u64(f);

			memcpy(p + i, &v, 8);
		} else if (vu_chance(r, 150)) {
			int32_t fd = pick_fd(f, own_fd);

			memcpy(p + i + 4 * vu_below(r, 2), &fd, 4);
		}
	}
	if (cmd == VFIO_USER_SET_TIMEOUT && size >= 12 && vu_chance(r, 800)) {
		/* A call may wait this long: keep it short. */
		uint32_t ms = 1 + vu_below(r, 200);

		memcpy(p + 8, &ms, 4);
	}
	return (unsigned long)p;
}

/* A random ioctl on @fd; its result, checked against what is promised. */
static void random_ioctl(struct fuzzer *f, int fd, bool attached)
{
	unsigned long cmd, arg;
	long ret;
	int err;

	pthread_mutex_lock(&f->lock);
	cmd = pick_cmd(&f->rng);
	if (!attached && vu_chance(&f->rng, 50))
		cmd = VFIO_USER_ATTACH;		/* with a garbage argument */
	arg = pick_arg(f, cmd, fd);
	pthread_mutex_unlock(&f->lock);

	if (cmd == VFIO_USER_ATTACH && attached)
		cmd = VFIO_USER_GET_STATS;
	ret = ioctl(fd, cmd, arg);
	err = errno;
	count_call(f, "ioctl", cmd, ret, err);
	if (attached || ret == 0)
		return;
	if (known_device_cmd(cmd) && err != ENODEV)
		fail(f, "ioctl %#lx before attach failed with %d, not ENODEV", cmd, err);
	if (!known_device_cmd(cmd) && cmd != VFIO_USER_ATTACH &&
	    cmd != VFIO_USER_SET_TIMEOUT && cmd != VFIO_USER_GET_STATS &&
	    !vfs_cmd(cmd) && err != ENOTTY)
		fail(f, "unknown ioctl %#lx failed with %d, not ENOTTY", cmd, err);
}

static int open_dev(struct fuzzer *f)
{
	struct vfio_user_timeout t = {
		.argsz = sizeof(t), .timeout_ms = 200,
	};
	int fd = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);

	count_call(f, "open", 0, fd, errno);
	if (fd >= 0)
		ioctl(fd, VFIO_USER_SET_TIMEOUT, &t);
	return fd;
}

static struct vuc_device *attach(struct fuzzer *f)
{
	struct vuc_options opts = { .timeout_ms = 2000 };
	struct vuc_device *dev;
	int status;

	/* The sample server survives anything we send it, or is restarted. */
	if (f->srv.pid <= 0 || waitpid(f->srv.pid, &status, WNOHANG) == f->srv.pid) {
		f->srv.pid = 0;
		if (vu_server_start(&f->srv, NULL))
			return NULL;
	}
	if (vu_chance(&f->rng, 300))
		opts.flags |= VUC_OPT_NO_TWIN_SOCKET;
	if (vu_chance(&f->rng, 300))
		opts.flags |= VUC_OPT_NO_FD_SHARING;
	dev = vu_attach(f->srv.path, &opts);
	__atomic_fetch_add(&f->sh->calls, 1, __ATOMIC_RELAXED);
	return dev;
}

/* Region accesses, mmap and DMA maps with real memory, some of it wild. */
static void random_op(struct fuzzer *f, int fd)
{
	static const unsigned int regions[] = { 0, 1, 2, 7, 8, 9, 100 };
	struct vfio_user_map_dma map = { .argsz = sizeof(map), .fd = -1 };
	struct vfio_user_unmap_dma unmap = { .argsz = sizeof(unmap) };
	uint8_t buf[512];
	unsigned int op, region;
	uint64_t off, len;
	long ret;
	void *m;

	pthread_mutex_lock(&f->lock);
	op = vu_below(&f->rng, 6);
	region = regions[vu_below(&f->rng, 7)];
	off = vu_chance(&f->rng, 800) ? vu_below(&f->rng, 0x2000) : boundary_u64(f);
	len = 1 + vu_below(&f->rng, sizeof(buf));
	map.iova = PAGE * vu_below(&f->rng, 64);
	map.size = DMA_BUF_SIZE;
	map.vaddr = (uintptr_t)f->dma_bufs[vu_below(&f->rng, NR_DMA_BUFS)];
	map.flags = 1 + vu_below(&f->rng, 3);
	if (vu_chance(&f->rng, 200))
		map.size = boundary_u64(f);
	pthread_mutex_unlock(&f->lock);

	switch (op) {
	case 0:
		ret = pread(fd, buf, len, vu_region_off(region, off));
		count_call(f, "pread", region, ret, errno);
		break;
	case 1:
		memset(buf, 0, len);
		/* Not BAR0's DMA registers: a wild engine is op 5's job. */
		if (region == 0 && off >= SAMPLE_REG_DMA_SRC)
			off = SAMPLE_REG_SCRATCH;
		ret = pwrite(fd, buf, len, vu_region_off(region, off));
		count_call(f, "pwrite", region, ret, errno);
		break;
	case 2:
		len = PAGE * (1 + vu_below(&f->rng, 4));
		m = mmap(NULL, len,
			 PROT_READ | (vu_chance(&f->rng, 500) ? PROT_WRITE : 0),
			 vu_chance(&f->rng, 900) ? MAP_SHARED : MAP_PRIVATE, fd,
			 vu_region_off(region, off & ~(PAGE - 1)));
		count_call(f, "mmap", region, m == MAP_FAILED ? -1 : 0, errno);
		if (m != MAP_FAILED) {
			*(volatile uint8_t *)m;
			munmap(m, len);
		}
		break;
	case 3:
		ret = ioctl(fd, VFIO_USER_MAP_DMA, &map);
		count_call(f, "MAP_DMA", 0, ret, errno);
		break;
	case 4:
		unmap.iova = map.iova;
		unmap.size = map.size;
		if (vu_chance(&f->rng, 200)) {
			unmap.iova = 0;
			unmap.size = 0;
			unmap.flags = VFIO_USER_UNMAP_DMA_ALL;
		}
		ret = ioctl(fd, VFIO_USER_UNMAP_DMA, &unmap);
		count_call(f, "UNMAP_DMA", 0, ret, errno);
		break;
	default: {
		/* The server's DMA engine, aimed anywhere: its DMA is served in us. */
		uint64_t regs[3] = { map.iova + vu_below(&f->rng, PAGE),
				     PAGE * vu_below(&f->rng, 64), 0 };
		uint32_t cmdlen[2] = { 1 + vu_below(&f->rng, 3 * PAGE), 0 };
		uint32_t cmd = 1 + vu_below(&f->rng, 3);

		ret = pwrite(fd, regs, 16, vu_region_off(0, SAMPLE_REG_DMA_SRC));
		count_call(f, "pwrite", 0, ret, errno);
		ret = pwrite(fd, cmdlen, 4, vu_region_off(0, SAMPLE_REG_DMA_LEN));
		count_call(f, "pwrite", 0, ret, errno);
		ret = pwrite(fd, &cmd, 4, vu_region_off(0, SAMPLE_REG_DMA_CMD));
		count_call(f, "pwrite", 0, ret, errno);
		break;
	}
	}
}

/* Before attach: every ioctl, and ATTACH with garbage. */
static void epoch_unattached(struct fuzzer *f, unsigned int n)
{
	int fd = open_dev(f);

	if (fd < 0)
		return;
	while (n--)
		random_ioctl(f, fd, false);
	close(fd);
}

/* After attach: random ioctls and operations, one thread. */
static void epoch_attached(struct fuzzer *f, unsigned int n)
{
	struct vuc_device *dev = attach(f);
	int fd;

	if (!dev)
		return;
	fd = vuc_device_fd(dev);
	while (n--) {
		if (vu_chance(&f->rng, 400))
			random_ioctl(f, fd, true);
		else
			random_op(f, fd);
	}
	vuc_device_free(dev);
}

struct racer {
	struct fuzzer *f;
	int fd;
	unsigned int n;
	unsigned int kind;
};

static void *race_main(void *arg)
{
	struct racer *t = arg;

	while (t->n--) {
		if (t->kind == 0)
			random_ioctl(t->f, t->fd, true);
		else
			random_op(t->f, t->fd);
	}
	return NULL;
}

/*
 * Threads call into the device while it is closed under them: the fd they
 * use is a dup that goes away, and so does the handle's own.
 */
static void epoch_race(struct fuzzer *f, unsigned int n)
{
	struct racer t[3];
	pthread_t tid[3];
	struct vuc_device *dev = attach(f);
	int fd, i;

	if (!dev)
		return;
	fd = dup(vuc_device_fd(dev));
	for (i = 0; i < 3; i++) {
		t[i] = (struct racer){ .f = f, .fd = fd, .n = n / 3, .kind = i };
		pthread_create(&tid[i], NULL, race_main, &t[i]);
	}
	usleep(vu_below(&f->rng, 20000));
	vuc_device_free(dev);
	usleep(vu_below(&f->rng, 20000));
	/* From now on the threads' calls see EBADF (or a reused number). */
	close(fd);
	count_call(f, "close", 0, 0, 0);
	for (i = 0; i < 3; i++)
		pthread_join(tid[i], NULL);
}

/* Another process with the fd: it may use it, but may not map DMA. */
static void other_process_calls(struct fuzzer *f, int fd, unsigned int n)
{
	struct vfio_user_map_dma map = {
		.argsz = sizeof(map), .flags = VFIO_USER_MAP_DMA_READ,
		.vaddr = (uintptr_t)f->dma_bufs[0], .iova = 0x100000,
		.size = DMA_BUF_SIZE, .fd = -1,
	};
	long ret;

	ret = ioctl(fd, VFIO_USER_MAP_DMA, &map);
	count_call(f, "MAP_DMA (other process)", 0, ret, errno);
	if (ret != -1 || errno != EPERM)
		fail(f, "MAP_DMA from a process that did not attach: %ld (%s), not EPERM",
		     ret, strerror(errno));
	while (n--) {
		if (vu_chance(&f->rng, 500))
			random_ioctl(f, fd, true);
		else
			random_op(f, fd);
	}
}

/*
 * The fd crosses to a child, over SCM_RIGHTS or by fork; the parent may
 * close its copies first, and the child may be killed in a call.
 */
static void epoch_processes(struct fuzzer *f, unsigned int n)
{
	bool by_fork = vu_chance(&f->rng, 500), kill_it = vu_chance(&f->rng, 300);
	struct vuc_device *dev;
	int sv[2] = { -1, -1 }, status;
	pid_t child;

	if (!by_fork && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	if (!by_fork) {
		child = fork();
		if (child == 0) {
			int fd;

			close(sv[0]);
			f->rng.s ^= getpid();
			fd = vu_recv_fd(sv[1]);
			if (fd >= 0)
				other_process_calls(f, fd, n);
			_exit(0);
		}
		close(sv[1]);
	}
	dev = attach(f);
	if (!dev) {
		if (!by_fork) {
			close(sv[0]);
			waitpid(child, NULL, 0);
		}
		return;
	}
	if (by_fork) {
		child = fork();
		if (child == 0) {
			f->rng.s ^= getpid();
			other_process_calls(f, vuc_device_fd(dev), n);
			_exit(0);
		}
	} else {
		vu_send_fd(sv[0], vuc_device_fd(dev));
		close(sv[0]);
	}
	if (child < 0) {
		vuc_device_free(dev);
		return;
	}
	if (vu_chance(&f->rng, 500)) {
		vuc_device_free(dev);	/* the child's copy is the last */
		dev = NULL;
	} else {
		random_op(f, vuc_device_fd(dev));
	}
	if (kill_it) {
		usleep(vu_below(&f->rng, 30000));
		kill(child, SIGKILL);
	}
	waitpid(child, &status, 0);
	if (!kill_it && (!WIFEXITED(status) || WEXITSTATUS(status)))
		fail(f, "a child using the device fd ended with status %#x", status);
	if (dev)
		vuc_device_free(dev);
}

/*
 * Memory goes away under a live DMA map while the server's DMA engine
 * copies to and from it; then something else appears at the address.
 */
static void epoch_munmap(struct fuzzer *f)
{
	struct vfio_user_map_dma map = {
		.argsz = sizeof(map),
		.flags = VFIO_USER_MAP_DMA_READ | VFIO_USER_MAP_DMA_WRITE,
		.iova = 0x200000, .size = DMA_BUF_SIZE, .fd = -1,
	};
	struct vfio_user_unmap_dma unmap = {
		.argsz = sizeof(unmap), .iova = 0x200000, .size = DMA_BUF_SIZE,
	};
	struct vuc_device *dev = attach(f);
	uint64_t regs[2];
	uint32_t len, cmd, status;
	uint8_t *mem;
	long ret;
	int fd;

	if (!dev)
		return;
	fd = vuc_device_fd(dev);
	mem = mmap(NULL, DMA_BUF_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		goto out;
	map.vaddr = (uintptr_t)mem;
	ret = ioctl(fd, VFIO_USER_MAP_DMA, &map);
	count_call(f, "MAP_DMA", 0, ret, errno);
	if (ret) {
		munmap(mem, DMA_BUF_SIZE);
		goto out;
	}
	/* Part or all of it unmapped, or made read-only, under the map. */
	switch (vu_below(&f->rng, 3)) {
	case 0:
		munmap(mem, DMA_BUF_SIZE);
		break;
	case 1:
		munmap(mem + PAGE * vu_below(&f->rng, 16), PAGE);
		break;
	default:
		mprotect(mem, DMA_BUF_SIZE, PROT_READ);
		break;
	}
	/* The engine: fill, copy within, checksum. */
	regs[0] = 0x200000 + vu_below(&f->rng, DMA_BUF_SIZE / 2);
	regs[1] = 0x200000 + vu_below(&f->rng, DMA_BUF_SIZE / 2);
	len = 1 + vu_below(&f->rng, DMA_BUF_SIZE / 2);
	cmd = 1 + vu_below(&f->rng, 3);
	ret = pwrite(fd, regs, 16, vu_region_off(0, SAMPLE_REG_DMA_SRC));
	count_call(f, "pwrite", 0, ret, errno);
	ret = pwrite(fd, &len, 4, vu_region_off(0, SAMPLE_REG_DMA_LEN));
	count_call(f, "pwrite", 0, ret, errno);
	ret = pwrite(fd, &cmd, 4, vu_region_off(0, SAMPLE_REG_DMA_CMD));
	count_call(f, "pwrite", 0, ret, errno);
	ret = pread(fd, &status, 4, vu_region_off(0, SAMPLE_REG_DMA_STATUS));
	count_call(f, "pread", 0, ret, errno);
	if (vu_chance(&f->rng, 500)) {
		/* Something else at the same address, still under the map. */
		mmap(mem, DMA_BUF_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		ret = pwrite(fd, &cmd, 4, vu_region_off(0, SAMPLE_REG_DMA_CMD));
		count_call(f, "pwrite", 0, ret, errno);
	}
	if (vu_chance(&f->rng, 500)) {
		ret = ioctl(fd, VFIO_USER_UNMAP_DMA, &unmap);
		count_call(f, "UNMAP_DMA", 0, ret, errno);
	}
	munmap(mem, DMA_BUF_SIZE);
out:
	vuc_device_free(dev);
}

static void setup(struct fuzzer *f)
{
	int sv[2], i;

	f->arg_area = mmap(NULL, (ARG_PAGES + 1) * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(f->arg_area + ARG_PAGES * PAGE, PAGE, PROT_NONE);
	for (i = 0; i < NR_DMA_BUFS; i++)
		f->dma_bufs[i] = mmap(NULL, DMA_BUF_SIZE, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Files of the kinds attach is offered: memory, eventfd, sockets... */
	f->spare_fds[0] = memfd_create("fuzz", MFD_CLOEXEC);
	ftruncate(f->spare_fds[0], 1 << 20);
	f->spare_fds[1] = eventfd(0, EFD_CLOEXEC);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	f->spare_fds[2] = sv[0];
	f->spare_fds[3] = sv[1];
	f->spare_fds[4] = open("/dev/null", O_RDWR | O_CLOEXEC);
	f->spare_fds[5] = open(VFIO_USER_DEV, O_RDWR | O_CLOEXEC);
	pthread_mutex_init(&f->lock, NULL);
}

FIXTURE(vmm)
{
	int unused;
};

FIXTURE_SETUP(vmm)
{
}

FIXTURE_TEARDOWN(vmm)
{
}

TEST_F_TIMEOUT(vmm, hostile_vmm, 1500)
{
	struct fuzzer f = { 0 };
	uint64_t seed, budget;
	struct timespec t0, t1;
	unsigned int epochs[5] = { 0 };
	uint64_t progress = 0;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	seed = vu_fuzz_seed();
	budget = vu_env_u64("VFIO_USER_FUZZ_IOCTLS", DEFAULT_IOCTLS);
	printf("# seed: %" PRIu64 "\n", seed);
	printf("# ioctls: %" PRIu64 " calls to make\n", budget);
	fflush(stdout);
	f.rng.s = seed;
	f.sh = mmap(NULL, sizeof(*f.sh), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, f.sh);
	setup(&f);
	signal(SIGPIPE, SIG_IGN);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&f.sh->calls, __ATOMIC_RELAXED) < budget) {
		unsigned int kind = vu_below(&f.rng, 100);

		if (f.sh->calls * 10 / budget > progress) {
			progress = f.sh->calls * 10 / budget;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			printf("# progress: %" PRIu64 " calls, %.0f s\n", f.sh->calls,
			       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
			fflush(stdout);
		}

		if (kind < 30) {
			epochs[0]++;
			epoch_unattached(&f, 20 + vu_below(&f.rng, 60));
		} else if (kind < 60) {
			epochs[1]++;
			epoch_attached(&f, 20 + vu_below(&f.rng, 60));
		} else if (kind < 75) {
			epochs[2]++;
			epoch_race(&f, 30 + vu_below(&f.rng, 90));
		} else if (kind < 90) {
			epochs[3]++;
			epoch_processes(&f, 10 + vu_below(&f.rng, 30));
		} else {
			epochs[4]++;
			epoch_munmap(&f);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (f.srv.pid > 0)
		vu_server_stop(&f.srv);

	printf("# epochs: %u unattached, %u attached, %u racing threads, %u other processes, %u munmap under DMA; %.1f s\n",
	       epochs[0], epochs[1], epochs[2], epochs[3], epochs[4],
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("# fuzz-figures: ioctls=%" PRIu64 "\n", f.sh->calls);
	fflush(stdout);
	if (f.sh->failures > MAX_REPORTED)
		printf("# ... %" PRIu64 " failures in all\n", f.sh->failures);
	EXPECT_EQ(0ULL, f.sh->failures);
	EXPECT_LE(budget, f.sh->calls);
}

/*
 * The harness's bound on the run (a hang catcher, not a speed test) grows
 * with the count asked for: make fuzz asks for ten times the default.
 */
static void __attribute__((constructor)) scale_timeout(void)
{
	uint64_t n = vu_env_u64("VFIO_USER_FUZZ_IOCTLS", DEFAULT_IOCTLS);

	if (n > DEFAULT_IOCTLS)
		_vmm_hostile_vmm_object.timeout *= (n + DEFAULT_IOCTLS - 1) / DEFAULT_IOCTLS;
}

TEST_HARNESS_MAIN
