// SPDX-License-Identifier: GPL-2.0
/*
 * Kill tests: SIGKILL at random points on either side of the connection.
 *
 * The server dies during region I/O, while the kernel serves its
 * DMA_READ/DMA_WRITE, or during a reset: every VMM thread waiting on it
 * must come back with an error within a wide bound (never hang: the debug
 * kernel reports a task blocked for 30 s), the device stays broken, and
 * closing it ends its kthreads.
 *
 * The VMM dies (a child that attached and is doing I/O, DMA or map/unmap):
 * the kernel must release everything (its kthreads vfio-user-<pid> go
 * away; the VM runner unloads the module at the end), and the sample server sees the end of that client and serves the
 * next one.
 *
 * Rounds per test: VFIO_USER_KILL_ROUNDS (default 50). The random points
 * come from the seed printed as "# seed: N"; VFIO_USER_FUZZ_SEED replays
 * one. Ends with "# fuzz-figures: kills=N", the kills survived.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define DEFAULT_ROUNDS	50
#define PAGE		4096ULL
#define IOVA_BASE	0x100000000ULL
#define DMA_SIZE	(8 << 20)
#define BULK_SIZE	(64 << 10)
#define CFG		VFIO_PCI_CONFIG_REGION_INDEX

/* The device's bound on every wait for the server. */
#define REPLY_TIMEOUT_MS	20000
/*
 * How long a waiter, a dying process or a kthread may take: far past the
 * reply timeout, so only a real hang fails, never a slow machine.
 */
#define WAIT_BOUND_MS		(6 * REPLY_TIMEOUT_MS + 30000)
/* Random kill points fall this long after the work started, at most. */
#define MAX_KILL_DELAY_US	40000

/* What the kills hit and what the waiters got back, for the log. */
struct kill_stats {
	unsigned int work[8];
	unsigned int econnreset, epipe, enotconn, etimedout, other;
	/* Rounds in which the kernel counted a protocol error: it must not. */
	unsigned int blamed;
};

static void count_errno(struct kill_stats *ks, int err)
{
	if (err == -ECONNRESET)
		ks->econnreset++;
	else if (err == -EPIPE)
		ks->epipe++;
	else if (err == -ENOTCONN)
		ks->enotconn++;
	else if (err == -ETIMEDOUT)
		ks->etimedout++;
	else
		ks->other++;
}

static uint64_t seed;
static unsigned int rounds;
static unsigned long *kills_total;	/* shared by the test processes */
static pid_t harness_pid;

/* One DMA engine command: 0, -errno of the call, or 1 if it was refused. */
static int dma_run(int fd, uint32_t cmd, uint64_t src, uint64_t dst,
		   uint32_t len)
{
	uint32_t status = 0;
	int ret;

	ret = vu_reg_write64(fd, SAMPLE_REG_DMA_SRC, src);
	ret = ret ?: vu_reg_write64(fd, SAMPLE_REG_DMA_DST, dst);
	ret = ret ?: vu_reg_write32(fd, SAMPLE_REG_DMA_LEN, len);
	ret = ret ?: vu_reg_write32(fd, SAMPLE_REG_DMA_CMD, cmd);
	ret = ret ?: vu_reg_read32(fd, SAMPLE_REG_DMA_STATUS, &status);
	return ret ?: (status ? 1 : 0);
}

/* Wait (bounded) until no device kthread is left; 0 or -ETIMEDOUT. */
static int wait_kthreads_gone(void)
{
	int64_t deadline = vu_now_ms() + WAIT_BOUND_MS;

	while (vu_device_kthreads(NULL, 0) > 0) {
		if (vu_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(10 * 1000);
	}
	return 0;
}

/* Wait (bounded) for @pid to end; its wait status, or -ETIMEDOUT. */
static int wait_child(pid_t pid)
{
	int64_t deadline = vu_now_ms() + WAIT_BOUND_MS;
	int status;

	for (;;) {
		pid_t ret = waitpid(pid, &status, WNOHANG);

		if (ret == pid)
			return status;
		if (ret < 0)
			return -errno;
		if (vu_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(5 * 1000);
	}
}

/* The server dies ------------------------------------------------------- */

enum server_work {
	WORK_REGION_IO,		/* register and bulk reads and writes */
	WORK_DMA,		/* the server's DMA_READ/WRITE, served by the kernel */
	WORK_RESET,		/* resets */
	WORK_NO_REPLY,		/* a fake server that never answers a read */
	WORK_STALLED,		/* a fake server that stops reading */
	WORK_NR,
};

static const char *const work_names[WORK_NR] = {
	"region I/O", "DMA service", "reset", "waiting for a reply",
	"a server that stopped reading",
};

static bool fake_work(enum server_work work)
{
	return work == WORK_NO_REPLY || work == WORK_STALLED;
}

struct waiter {
	pthread_t tid;
	int fd;
	enum server_work work;
	unsigned int nr;	/* which waiter of the round */
	uint8_t *bulk;
	int started;		/* one call got through */
	int err;		/* -errno of the call that failed */
	int done;
};

/* Run calls until one fails; with the server alive none should. */
static void *waiter_run(void *arg)
{
	struct waiter *w = arg;
	uint32_t v = 0;
	int ret = 0;

	while (!ret) {
		switch (w->work) {
		case WORK_REGION_IO:
			if (w->nr % 2)
				ret = pread(w->fd, w->bulk, BULK_SIZE,
					    vu_region_off(2, 0)) == BULK_SIZE ?
				      0 : -errno;
			else
				ret = vu_reg_write32(w->fd, SAMPLE_REG_SCRATCH, v++) ?:
				      vu_reg_read32(w->fd, SAMPLE_REG_ID, &v);
			break;
		case WORK_DMA:
			/* 4 MiB in DMA_READ/DMA_WRITE messages. */
			ret = dma_run(w->fd, SAMPLE_DMA_CMD_COPY, IOVA_BASE,
				      IOVA_BASE + DMA_SIZE / 2, DMA_SIZE / 2);
			if (ret > 0)
				ret = -EREMOTEIO;	/* refused while alive */
			break;
		case WORK_RESET:
			ret = ioctl(w->fd, VFIO_DEVICE_RESET) ? -errno : 0;
			ret = ret ?: vu_reg_read32(w->fd, SAMPLE_REG_RESET_COUNT, &v);
			break;
		case WORK_NO_REPLY:
			ret = pread(w->fd, w->bulk, 8, vu_region_off(0, 8 * w->nr)) ==
			      8 ? 0 : -errno;
			break;
		default:
			/* Queued behind the write the server stopped at. */
			ret = pwrite(w->fd, w->bulk, VU_FAKE_REGION_SIZE,
				     vu_region_off(0, 0)) ==
			      VU_FAKE_REGION_SIZE ? 0 : -errno;
			break;
		}
		if (!ret)
			__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	}
	w->err = ret;
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool all_started(struct waiter *w, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!__atomic_load_n(&w[i].started, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

#define NR_WAITERS	3

/* pthread_timedjoin_np() takes a CLOCK_REALTIME deadline. */
static struct timespec join_deadline(unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_nsec -= 1000000000;
		ts.tv_sec++;
	}
	return ts;
}

/* One round; 0 or -1 with the reason on stderr. */
static int server_kill_round(unsigned int round, struct vu_rng *rng, uint8_t *dma_va,
			     uint8_t *bulk, struct kill_stats *ks)
{
	enum server_work work = vu_below(rng, WORK_NR);
	unsigned int delay_us = vu_below(rng, MAX_KILL_DELAY_US);
	struct vuc_options opts = {
		.timeout_ms = REPLY_TIMEOUT_MS,
		.flags = vu_below(rng, 2) ? VUC_OPT_NO_TWIN_SOCKET : 0,
	};
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	struct waiter w[NR_WAITERS];
	struct pollfd pfd;
	struct vu_server srv;
	struct vuc_device *dev;
	struct timespec join_by;
	int64_t deadline;
	unsigned int i, started = 0;
	int fd, ret = -1, status;
	uint32_t v;

#define round_fail(fmt, ...)						\
	fprintf(stderr, "# server kill round %u (%s, %u us): " fmt "\n",	\
		round, work_names[work], delay_us, ##__VA_ARGS__)

	if (fake_work(work) ?
	    vu_fake_start(&srv, work == WORK_NO_REPLY ? VU_FAKE_NO_REPLY :
			  VU_FAKE_STALL) :
	    vu_server_start(&srv, NULL)) {
		round_fail("cannot start the server");
		return -1;
	}
	dev = vu_attach(srv.path, &opts);
	if (!dev) {
		round_fail("cannot attach");
		vu_server_stop(&srv);
		return -1;
	}
	fd = vuc_device_fd(dev);
	/* Fd-less: the server must ask the kernel for every byte. */
	if (work == WORK_DMA && vu_map_dma(fd, dma_va, IOVA_BASE, DMA_SIZE, -1, 0)) {
		round_fail("cannot map");
		goto out_free;
	}

	memset(w, 0, sizeof(w));
	for (i = 0; i < NR_WAITERS; i++) {
		w[i].fd = fd;
		/*
		 * One waiter on the round's work, the others on registers (the
		 * fake server has one small region: all on the work there).
		 */
		w[i].work = i == 0 || fake_work(work) ? work : WORK_REGION_IO;
		w[i].nr = i;
		w[i].bulk = bulk + i * BULK_SIZE;
		if (pthread_create(&w[i].tid, NULL, waiter_run, &w[i]))
			break;
		started++;
	}
	if (started < NR_WAITERS) {
		round_fail("cannot start the waiters");
		kill(srv.pid, SIGKILL);
		goto out_join;
	}

	/*
	 * The work is under way; the kill lands somewhere in it. Against the
	 * fake servers nothing gets through: the waiters are stuck already.
	 */
	deadline = vu_now_ms() + WAIT_BOUND_MS;
	while (!fake_work(work) && !all_started(w, NR_WAITERS) &&
	       vu_now_ms() < deadline)
		usleep(1000);
	usleep(delay_us);
	kill(srv.pid, SIGKILL);

out_join:
	/* A waiter stuck in the kernel fails the round. */
	join_by = join_deadline(WAIT_BOUND_MS);
	for (i = 0; i < started; i++) {
		if (pthread_timedjoin_np(w[i].tid, NULL, &join_by)) {
			round_fail("waiter %u (%s) still waiting after %u ms: hung in the kernel?",
				   i, work_names[w[i].work], WAIT_BOUND_MS);
			/* It cannot be freed under a live thread: give up. */
			abort();
		}
	}
	status = wait_child(srv.pid);
	srv.pid = 0;
	unlink(srv.path);
	if (started < NR_WAITERS)
		goto out_free;
	/* The fake server runs in a child of ours, the sample in a grandchild. */
	if (status < 0 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		round_fail("the server did not die of the kill (status %d)", status);
		goto out_free;
	}
	for (i = 0; i < NR_WAITERS; i++) {
		if (!vu_errno_ordinary(-w[i].err)) {
			round_fail("waiter %u (%s) ended with %d", i,
				   work_names[w[i].work], w[i].err);
			goto out_free;
		}
		/* Ended by the server's end, not by running out of time. */
		if (w[i].err == -ETIMEDOUT) {
			round_fail("waiter %u (%s) waited out the timeout", i,
				   work_names[w[i].work]);
			goto out_free;
		}
		count_errno(ks, w[i].err);
	}
	ks->work[work]++;
	/* Broken for good: calls fail, the kernel and poll() say so. */
	if (!vu_reg_read32(fd, SAMPLE_REG_ID, &v)) {
		round_fail("a read succeeded with the server dead");
		goto out_free;
	}
	if (ioctl(fd, VFIO_USER_GET_STATS, &st) ||
	    !(st.flags & VFIO_USER_STATS_BROKEN)) {
		round_fail("not marked broken");
		goto out_free;
	}
	/*
	 * Neither server sends anything malformed; a reply the kernel no
	 * longer waits for, once the connection broke, is not their fault.
	 */
	if (st.protocol_errors) {
		ks->blamed++;
		if (getenv("VFIO_USER_KILL_STRICT")) {
			round_fail("%llu protocol errors blamed on the server (broken: %s)",
				   (unsigned long long)st.protocol_errors,
				   strerror(st.broken_errno));
			goto out_free;
		}
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & (POLLHUP | POLLERR))) {
		round_fail("poll() does not report the hang-up");
		goto out_free;
	}
	ret = 0;
out_free:
	vuc_device_free(dev);
	if (srv.pid > 0) {
		kill(srv.pid, SIGKILL);
		wait_child(srv.pid);
		unlink(srv.path);
	}
	if (!ret && wait_kthreads_gone()) {
		round_fail("the device's kthreads outlive it");
		ret = -1;
	}
	return ret;
#undef round_fail
}

/* The VMM dies ---------------------------------------------------------- */

enum vmm_work {
	VMM_REGION_IO,
	VMM_DMA,		/* the kernel serving the server's DMA */
	VMM_DMA_MMAP,		/* the server DMAs through its mapping */
	VMM_MAP_UNMAP,
	VMM_IRQS,
	VMM_STUCK,		/* waiting on a fake server that never answers */
	VMM_NR,
};

static const char *const vmm_work_names[VMM_NR] = {
	"region I/O", "DMA service", "DMA by mapping", "map/unmap", "SET_IRQS",
	"waiting for a reply",
};

/* The child: attach, tell the parent, then work until killed. */
static void __attribute__((noreturn))
vmm_child(const char *path, enum vmm_work work, bool twin, int ready_fd)
{
	struct vuc_options opts = {
		.timeout_ms = REPLY_TIMEOUT_MS,
		.flags = twin ? 0 : VUC_OPT_NO_TWIN_SOCKET,
	};
	struct vuc_device *dev;
	int fd, memfd = -1, efd[SAMPLE_MSIX_VECTORS], i;
	uint8_t *va, bulk[BULK_SIZE];
	char one = 1;
	uint32_t v = 0;

	dev = vu_attach(path, &opts);
	if (!dev)
		_exit(2);
	fd = vuc_device_fd(dev);
	if (work == VMM_STUCK) {
		/* Blocked in the kernel until the kill: no answer comes. */
		if (write(ready_fd, &one, 1) != 1)
			_exit(6);
		for (;;)
			pread(fd, bulk, 8, vu_region_off(0, 0));
	}
	if (work == VMM_DMA_MMAP) {
		memfd = memfd_create("vu-kill-dma", MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, DMA_SIZE))
			_exit(3);
		va = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			  memfd, 0);
	} else {
		va = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (va == MAP_FAILED)
		_exit(3);
	if (work != VMM_MAP_UNMAP && vu_map_dma(fd, va, IOVA_BASE, DMA_SIZE, memfd, 0))
		_exit(4);
	for (i = 0; i < SAMPLE_MSIX_VECTORS; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vu_reg_read32(fd, SAMPLE_REG_ID, &v) || v != SAMPLE_ID_VALUE)
		_exit(5);
	if (write(ready_fd, &one, 1) != 1)
		_exit(6);

	for (i = 0;; i++) {
		switch (work) {
		case VMM_REGION_IO:
			vu_reg_write32(fd, SAMPLE_REG_SCRATCH, i);
			pread(fd, bulk, sizeof(bulk), vu_region_off(2, 0));
			break;
		case VMM_DMA:
		case VMM_DMA_MMAP:
			dma_run(fd, SAMPLE_DMA_CMD_COPY, IOVA_BASE,
				IOVA_BASE + DMA_SIZE / 2, DMA_SIZE / 2);
			break;
		case VMM_MAP_UNMAP:
			vu_map_dma(fd, va + (i % 16) * PAGE * 16,
				   IOVA_BASE + (i % 16) * PAGE * 16, PAGE * 16,
				   -1, 0);
			if (i % 3 == 2)
				vu_unmap_dma(fd, IOVA_BASE + ((i - 2) % 16) * PAGE * 16,
					     PAGE * 16);
			break;
		default: {
			char buf[sizeof(struct vfio_irq_set) +
				 SAMPLE_MSIX_VECTORS * sizeof(int32_t)];
			struct vfio_irq_set *set = (void *)buf;

			set->argsz = sizeof(buf);
			set->flags = VFIO_IRQ_SET_DATA_EVENTFD |
				     VFIO_IRQ_SET_ACTION_TRIGGER;
			set->index = VFIO_PCI_MSIX_IRQ_INDEX;
			set->start = 0;
			set->count = SAMPLE_MSIX_VECTORS;
			memcpy(set->data, efd, sizeof(efd));
			ioctl(fd, VFIO_DEVICE_SET_IRQS, set);
			vu_reg_write32(fd, SAMPLE_REG_IRQ_TRIGGER,
				       i % SAMPLE_MSIX_VECTORS);
			break;
		}
		}
	}
}

static int vmm_kill_round(unsigned int round, struct vu_rng *rng,
			  const struct vu_server *sample, struct kill_stats *ks)
{
	enum vmm_work work = vu_below(rng, VMM_NR);
	unsigned int delay_us = vu_below(rng, MAX_KILL_DELAY_US);
	bool twin = vu_below(rng, 2);
	int pipefd[2], status, ret = -1;
	struct vu_server fake = { 0 };
	const struct vu_server *srv = sample;
	char ready = 0;
	pid_t pid;

#define round_fail(fmt, ...)						\
	fprintf(stderr, "# VMM kill round %u (%s, %u us): " fmt "\n",	\
		round, vmm_work_names[work], delay_us, ##__VA_ARGS__)

	if (work == VMM_STUCK) {
		if (vu_fake_start(&fake, VU_FAKE_NO_REPLY))
			return -1;
		srv = &fake;
	}
	if (pipe2(pipefd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		close(pipefd[0]);
		vmm_child(srv->path, work, twin, pipefd[1]);
	}
	close(pipefd[1]);
	/* Attached and working: the server took this client. */
	if (!vu_wait_readable(pipefd[0], WAIT_BOUND_MS) ||
	    read(pipefd[0], &ready, 1) != 1) {
		round_fail("the child did not attach");
		kill(pid, SIGKILL);
		wait_child(pid);
		goto out;
	}
	usleep(delay_us);
	kill(pid, SIGKILL);
	status = wait_child(pid);
	if (status < 0) {
		round_fail("the VMM does not die of SIGKILL within %u ms",
			   WAIT_BOUND_MS);
		goto out;
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		round_fail("the VMM ended otherwise (status 0x%x)", status);
		goto out;
	}
	if (wait_kthreads_gone()) {
		round_fail("the device's kthreads outlive the VMM (%d left)",
			   vu_device_kthreads(NULL, 0));
		goto out;
	}
	/* The fake server sees the end of its client and exits. */
	if (fake.pid > 0) {
		status = wait_child(fake.pid);
		fake.pid = 0;
		if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			round_fail("the server never saw the VMM go (status %d)",
				   status);
			goto out;
		}
	}
	ks->work[work]++;
	ret = 0;
out:
	close(pipefd[0]);
	if (fake.pid > 0) {
		kill(fake.pid, SIGKILL);
		wait_child(fake.pid);
	}
	if (srv == &fake)
		unlink(fake.path);
	return ret;
#undef round_fail
}

/* A process sharing the device fd dies --------------------------------- */

/* The child: I/O and DMA on the inherited fd until killed. */
static void __attribute__((noreturn)) sharer_child(int fd, uint64_t seed_bits)
{
	struct vu_rng rng = { seed_bits };
	uint8_t buf[BULK_SIZE];
	uint32_t v = 0;

	for (;;) {
		switch (vu_below(&rng, 4)) {
		case 0:
			pread(fd, buf, sizeof(buf), vu_region_off(2, 0));
			break;
		case 1:
			vu_reg_write32(fd, SAMPLE_REG_SCRATCH, v++);
			break;
		case 2:
			ioctl(fd, VFIO_DEVICE_RESET);
			break;
		default:
			dma_run(fd, SAMPLE_DMA_CMD_COPY, IOVA_BASE,
				IOVA_BASE + DMA_SIZE / 2, 1 << 20);
			break;
		}
	}
}

/*
 * One round: a child inherits the attached fd and works on it; it dies of
 * SIGKILL, likely with a request in flight. The device is the parent's
 * too and must not suffer: the dead waiter's reply is dropped when it
 * comes, the connection stays up.
 */
static int sharer_kill_round(unsigned int round, struct vu_rng *rng, int fd)
{
	unsigned int delay_us = vu_below(rng, MAX_KILL_DELAY_US);
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	uint32_t id = 0, scratch = 0;
	int status;
	pid_t pid;

#define round_fail(fmt, ...)						\
	fprintf(stderr, "# sharer kill round %u (%u us): " fmt "\n",	\
		round, delay_us, ##__VA_ARGS__)

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid)
		sharer_child(fd, vu_rnd(rng));
	usleep(delay_us);
	kill(pid, SIGKILL);
	status = wait_child(pid);
	if (status < 0 || !WIFSIGNALED(status)) {
		round_fail("the sharer does not die of SIGKILL (%d)", status);
		return -1;
	}
	if (vu_reg_read32(fd, SAMPLE_REG_ID, &id) || id != SAMPLE_ID_VALUE ||
	    vu_reg_write32(fd, SAMPLE_REG_SCRATCH, round) ||
	    vu_reg_read32(fd, SAMPLE_REG_SCRATCH, &scratch) || scratch != round) {
		round_fail("the device no longer works for its owner");
		return -1;
	}
	if (ioctl(fd, VFIO_USER_GET_STATS, &st) ||
	    (st.flags & VFIO_USER_STATS_BROKEN)) {
		round_fail("the connection broke (%s)", strerror(st.broken_errno));
		return -1;
	}
	return 0;
#undef round_fail
}

/* The tests ------------------------------------------------------------- */

/*
 * The 6.1 harness runs a test's body even when its setup said SKIP: every
 * body starts with this.
 */
#define RETURN_IF_SETUP_SKIPPED()		\
	do {					\
		if (_metadata->skip)		\
			return;			\
	} while (0)

FIXTURE(kill)
{
	struct vu_rng rng;
};

FIXTURE_SETUP(kill)
{
	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	/* Device kthreads of an earlier test are not this one's business. */
	ASSERT_EQ(0, wait_kthreads_gone());
}

FIXTURE_TEARDOWN(kill)
{
}

/* Rounds take a second or less; allow far more. */
TEST_F_TIMEOUT(kill, server_killed, 3600)
{
	struct kill_stats ks = { 0 };
	uint8_t *dma_va, *bulk;
	unsigned int i;

	RETURN_IF_SETUP_SKIPPED();
	self->rng.s = seed ^ 0x5e4e4ULL;
	dma_va = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dma_va);
	bulk = malloc(NR_WAITERS * BULK_SIZE);
	ASSERT_NE(NULL, bulk);
	for (i = 0; i < rounds; i++) {
		ASSERT_EQ(0, server_kill_round(i, &self->rng, dma_va, bulk, &ks));
		if (kills_total)
			__atomic_add_fetch(kills_total, 1, __ATOMIC_RELAXED);
	}
	free(bulk);
	munmap(dma_va, DMA_SIZE);
	fprintf(stderr, "# server kills: %u in region I/O, %u in DMA service, %u in reset, %u waiting for a reply, %u with the server not reading\n",
		ks.work[WORK_REGION_IO], ks.work[WORK_DMA], ks.work[WORK_RESET],
		ks.work[WORK_NO_REPLY], ks.work[WORK_STALLED]);
	fprintf(stderr, "# waiters got: ECONNRESET %u, EPIPE %u, ENOTCONN %u, ETIMEDOUT %u, other %u\n",
		ks.econnreset, ks.epipe, ks.enotconn, ks.etimedout, ks.other);
	fprintf(stderr, "# rounds with a protocol error wrongly counted: %u (VFIO_USER_KILL_STRICT=1 fails them)\n",
		ks.blamed);
}

TEST_F_TIMEOUT(kill, vmm_killed, 3600)
{
	struct kill_stats ks = { 0 };
	struct vu_server srv;
	struct vuc_device *dev;
	unsigned int i;
	uint32_t id = 0;

	RETURN_IF_SETUP_SKIPPED();
	self->rng.s = seed ^ 0x7e3e3ULL;
	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	for (i = 0; i < rounds; i++) {
		EXPECT_EQ(0, vmm_kill_round(i, &self->rng, &srv, &ks));
		if (_metadata->passed == 0)
			break;
		if (kills_total)
			__atomic_add_fetch(kills_total, 1, __ATOMIC_RELAXED);
	}
	fprintf(stderr, "# VMM kills: %u in region I/O, %u in DMA service, %u in DMA by mapping, %u in map/unmap, %u in SET_IRQS, %u waiting for a reply\n",
		ks.work[VMM_REGION_IO], ks.work[VMM_DMA], ks.work[VMM_DMA_MMAP],
		ks.work[VMM_MAP_UNMAP], ks.work[VMM_IRQS], ks.work[VMM_STUCK]);
	/* After all those deaths the same server serves a client. */
	dev = vu_attach(srv.path, NULL);
	ASSERT_NE(NULL, dev);
	EXPECT_EQ(0, vu_reg_read32(vuc_device_fd(dev), SAMPLE_REG_ID, &id));
	EXPECT_EQ(SAMPLE_ID_VALUE, id);
	vuc_device_free(dev);
	EXPECT_EQ(0, wait_kthreads_gone());
	EXPECT_EQ(0, vu_server_stop(&srv));
}

TEST_F_TIMEOUT(kill, sharer_killed, 3600)
{
	struct vu_server srv;
	struct vuc_device *dev;
	struct vuc_options opts = { .timeout_ms = REPLY_TIMEOUT_MS };
	uint8_t *dma_va;
	unsigned int i;
	int fd;

	RETURN_IF_SETUP_SKIPPED();
	self->rng.s = seed ^ 0x54a4e4ULL;
	dma_va = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dma_va);
	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	dev = vu_attach(srv.path, &opts);
	ASSERT_NE(NULL, dev);
	fd = vuc_device_fd(dev);
	/* The children's DMA lands in the owner's memory. */
	ASSERT_EQ(0, vu_map_dma(fd, dma_va, IOVA_BASE, DMA_SIZE, -1, 0));
	for (i = 0; i < rounds; i++) {
		ASSERT_EQ(0, sharer_kill_round(i, &self->rng, fd));
		if (kills_total)
			__atomic_add_fetch(kills_total, 1, __ATOMIC_RELAXED);
	}
	vuc_device_free(dev);
	EXPECT_EQ(0, wait_kthreads_gone());
	EXPECT_EQ(0, vu_server_stop(&srv));
	munmap(dma_va, DMA_SIZE);
}

static void print_figures(void)
{
	if (getpid() == harness_pid && kills_total)
		printf("# fuzz-figures: kills=%lu\n", *kills_total);
}

/* The harness's main, with the seed and a counter the tests share. */
static void __attribute__((constructor)) __constructor_order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

int main(int argc, char **argv)
{
	const char *env;

	env = getenv("VFIO_USER_FUZZ_SEED");
	seed = env ? strtoull(env, NULL, 0) :
	       (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	env = getenv("VFIO_USER_KILL_ROUNDS");
	rounds = env ? (unsigned int)strtoul(env, NULL, 0) : DEFAULT_ROUNDS;
	printf("# seed: %llu\n# rounds: %u\n", (unsigned long long)seed, rounds);
	fflush(stdout);
	kills_total = mmap(NULL, sizeof(*kills_total), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (kills_total == MAP_FAILED)
		kills_total = NULL;
	harness_pid = getpid();
	atexit(print_figures);
	return test_harness_run(argc, argv);
}
