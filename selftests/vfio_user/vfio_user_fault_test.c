// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection: every slab allocation a call makes on the way through
 * the module fails in turn (failslab with the per-task fail-nth counter),
 * n = 1, 2, 3 ... until the call gets through without one. An injected
 * failure must come back as an error, with the device still working or
 * broken cleanly (every later call fails, poll() says so); a call that
 * succeeds despite the fault (kvmalloc falling back to vmalloc, say) must
 * have done exactly its job. Leaks and splats are the VM runner's to find
 * (kmemleak, console), so the injected faults must stay quiet: verbose 0.
 *
 * Needs CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS; skips without.
 * Ends with "# fuzz-figures: faults=N", the faults injected in all tests.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define FAILSLAB_DIR	"/sys/kernel/debug/failslab"
#define FAIL_NTH	"/proc/thread-self/fail-nth"

#define PAGE		4096ULL
#define IOVA_BASE	0x100000000ULL
#define DMA_BUF_SIZE	(1 << 20)
#define CFG		VFIO_PCI_CONFIG_REGION_INDEX
#define BULK_SIZE	(64 << 10)
#define NR_DIRTY_MAPS	3
#define DIRTY_MAP_SIZE	(DMA_BUF_SIZE / NR_DIRTY_MAPS & ~(PAGE - 1))

/* A walk that never gets through is a failure, not a loop. */
#define WALK_MAX_STEPS	20000
/* Bound on every wait for the server: wide, the debug kernel is slow. */
#define TIMEOUT_MS	20000

/* Faults injected by all tests, summed over the harness's child processes. */
static unsigned long *faults_total;
static pid_t harness_pid;

/* failslab ------------------------------------------------------------- */

static int write_knob(const char *name, const char *value)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), FAILSLAB_DIR "/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -EIO;
}

/*
 * Only fail-nth decides: no random failures (probability 0), GFP_KERNEL
 * allocations count (ignore-gfp-wait N), every cache counts, and nothing
 * on the console (a stack dump would read as a splat).
 */
static int failslab_setup(void)
{
	static const char *const knobs[][2] = {
		{ "verbose", "0" },
		{ "probability", "0" },
		{ "ignore-gfp-wait", "N" },
		{ "cache-filter", "N" },
	};
	unsigned int i;
	int ret;

	if (access(FAILSLAB_DIR, F_OK) || access(FAIL_NTH, F_OK))
		return -ENOENT;
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		ret = write_knob(knobs[i][0], knobs[i][1]);
		if (ret)
			return ret;
	}
	return 0;
}

static int read_knob(const char *name, long *value)
{
	char path[128], buf[32] = { 0 };
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), FAILSLAB_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	*value = strtol(buf, NULL, 10);
	return 0;
}

/* The calling thread's next @n-th slab allocation will fail. */
static int fail_nth_arm(int nth_fd, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(nth_fd, buf, len, 0) == len ? 0 : -errno;
}

/* Disarm; returns 1 when the armed fault was injected, 0 if not, -1 error. */
static int fail_nth_disarm(int nth_fd)
{
	char buf[16] = { 0 };
	unsigned long left;

	if (pread(nth_fd, buf, sizeof(buf) - 1, 0) <= 0)
		return -1;
	left = strtoul(buf, NULL, 10);
	if (left && pwrite(nth_fd, "0", 1, 0) != 1)
		return -1;
	return left == 0;
}

/* Open fds of this process: a failed call must not leave one behind. */
static int count_fds(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * Mark the receive kthreads of the devices for failslab's task filter.
 * Returns how many were marked.
 */
static int mark_device_kthreads(void)
{
	pid_t pids[256];
	char path[64];
	int i, n, fd, marked = 0;

	n = vu_device_kthreads(pids, 256);
	for (i = 0; i < n && i < 256; i++) {
		snprintf(path, sizeof(path), "/proc/%d/make-it-fail", pids[i]);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		marked += write(fd, "1", 1) == 1;
		close(fd);
	}
	return marked;
}

/* The device and the helpers every path uses ------------------------------ */

struct fault_ctx {
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;			/* the attached device fd */
	int nth_fd;		/* this thread's fail-nth */
	unsigned int step;	/* n of the walk in progress */
	unsigned int reconnects;
	uint8_t *dma_va;	/* DMA memory */
	int dma_memfd;		/* its memfd, or -1 for anonymous memory */
	int efd[SAMPLE_MSIX_VECTORS];
	void *mapped;		/* mmap of BAR2 */
	struct vfio_user_ioeventfd ioev[8];
	uint32_t ioev_count;
	uint64_t bitmap[64];
	int last_ret;		/* what the call under test returned */
	bool dirty_ready;	/* maps made and logging started */
	struct vuc_device *probe_dev;	/* the connect path's handle */
	unsigned int lib_flags;		/* VUC_OPT_* of every connection */
	uint32_t posted_regions;	/* regions with posted writes */
};

/* One DMA engine command; its STATUS (0 or an errno), ~0 if unreachable. */
static uint32_t dma_run(int fd, uint32_t cmd, uint64_t src, uint64_t dst,
			uint32_t len, uint8_t fill)
{
	uint32_t status = ~0U;

	if (vu_reg_write64(fd, SAMPLE_REG_DMA_SRC, src) ||
	    vu_reg_write64(fd, SAMPLE_REG_DMA_DST, dst) ||
	    vu_reg_write32(fd, SAMPLE_REG_DMA_LEN, len) ||
	    vu_reg_write32(fd, SAMPLE_REG_DMA_FILL, fill) ||
	    vu_reg_write32(fd, SAMPLE_REG_DMA_CMD, cmd) ||
	    vu_reg_read32(fd, SAMPLE_REG_DMA_STATUS, &status))
		return ~0U;
	return status;
}

/* Map the DMA memory at @offset (of its memfd too, if it has one). */
static int map_dma_at(struct fault_ctx *c, uint64_t iova, uint64_t offset,
		      uint64_t size)
{
	return vu_map_dma(c->fd, c->dma_va + offset, iova, size, c->dma_memfd,
			  offset);
}

static int set_msix_eventfds(int fd, const int32_t *efds, uint32_t count)
{
	char buf[sizeof(struct vfio_irq_set) + 8 * sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;

	set->argsz = sizeof(*set) + count * sizeof(int32_t);
	set->flags = (count ? VFIO_IRQ_SET_DATA_EVENTFD :
			      VFIO_IRQ_SET_DATA_NONE) |
		     VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = count;
	if (count)
		memcpy(set->data, efds, count * sizeof(int32_t));
	return ioctl(fd, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

static int dirty_log(int fd, uint32_t flags)
{
	struct vfio_user_dirty_log log = { .argsz = sizeof(log), .flags = flags };

	return ioctl(fd, VFIO_USER_DIRTY_LOG, &log) ? -errno : 0;
}

static int dirty_report(struct fault_ctx *c)
{
	struct vfio_user_dirty_report rep = {
		.argsz = sizeof(rep), .iova = IOVA_BASE,
		.size = NR_DIRTY_MAPS * DIRTY_MAP_SIZE,
		.pgsize = PAGE, .bitmap = (uintptr_t)c->bitmap,
		.bitmap_size = sizeof(c->bitmap),
	};

	memset(c->bitmap, 0, sizeof(c->bitmap));
	return ioctl(c->fd, VFIO_USER_DIRTY_REPORT, &rep) ? -errno : 0;
}

static bool bitmap_has(const uint64_t *bitmap, unsigned int page)
{
	return bitmap[page / 64] & (1ULL << (page % 64));
}

static int attach_device(struct fault_ctx *c)
{
	struct vuc_options opts = {
		.timeout_ms = TIMEOUT_MS, .flags = c->lib_flags,
		.posted_write_regions = c->posted_regions,
	};

	c->dev = vu_attach(c->srv.path, &opts);
	if (!c->dev)
		return -1;
	c->fd = vuc_device_fd(c->dev);
	return 0;
}

/*
 * After an injected failure: 1 if the device still works, 0 if it broke
 * cleanly (calls fail, the kernel says broken, poll() reports a hang-up),
 * -1 for anything else.
 */
static int device_state(struct fault_ctx *c)
{
	struct vfio_user_stats st = { .argsz = sizeof(st) };
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	uint32_t id = 0;
	int ret;

	ret = vu_reg_read32(c->fd, SAMPLE_REG_ID, &id);
	if (!ret)
		return id == SAMPLE_ID_VALUE ? 1 : -1;
	if (!vu_errno_ordinary(-ret))
		return -1;
	if (ioctl(c->fd, VFIO_USER_GET_STATS, &st) ||
	    !(st.flags & VFIO_USER_STATS_BROKEN))
		return -1;
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & (POLLHUP | POLLERR)))
		return -1;
	return 0;
}

/* A broken device is replaced; the server takes the next client. */
static int reconnect(struct fault_ctx *c)
{
	vuc_device_free(c->dev);
	c->dev = NULL;
	c->reconnects++;
	c->dirty_ready = false;
	return attach_device(c);
}

/* The walk ------------------------------------------------------------- */

/*
 * One path: @prepare sets up what the call needs (no faults), @call is the
 * call under test (0 or -errno), @on_success checks its effect, @on_failure
 * checks a still-working device after a failed call, @cleanup undoes all of
 * it. Each returns 0 when fine; a message on stderr says why not.
 */
struct fault_path {
	const char *name;
	int (*prepare)(struct fault_ctx *c);
	int (*call)(struct fault_ctx *c);
	int (*on_success)(struct fault_ctx *c);
	int (*on_failure)(struct fault_ctx *c);
	void (*cleanup)(struct fault_ctx *c);
	bool no_device;		/* the path makes its own connection */
};

#define walk_fail(c, p, fmt, ...)					\
	({								\
		fprintf(stderr, "# %s n=%u: " fmt "\n", (p)->name,	\
			(c)->step, ##__VA_ARGS__);			\
		-1;							\
	})

static int walk(struct fault_ctx *c, const struct fault_path *p)
{
	unsigned int injected = 0, absorbed = 0;
	int fds_before, fired, ret, state;

	for (c->step = 1; c->step <= WALK_MAX_STEPS; c->step++) {
		fds_before = count_fds();
		if (p->prepare && p->prepare(c))
			return walk_fail(c, p, "cannot prepare the call");
		if (fail_nth_arm(c->nth_fd, c->step))
			return walk_fail(c, p, "cannot arm fail-nth: %s",
					 strerror(errno));
		ret = p->call(c);
		fired = fail_nth_disarm(c->nth_fd);
		c->last_ret = ret;
		if (fired < 0)
			return walk_fail(c, p, "cannot read fail-nth");
		injected += fired;

		if (!ret) {
			/* Absorbed by a fallback, or past the last allocation. */
			if (p->on_success && p->on_success(c))
				return walk_fail(c, p, "succeeded%s, wrong effect",
						 fired ? " despite the fault" : "");
			absorbed += fired;
		} else if (!fired) {
			return walk_fail(c, p, "failed with no fault: %s",
					 strerror(-ret));
		} else if (!vu_errno_ordinary(-ret)) {
			return walk_fail(c, p, "errno %d reached userspace", -ret);
		} else if (!p->no_device) {
			state = device_state(c);
			if (state < 0)
				return walk_fail(c, p, "failed (%s); the device neither works nor is broken",
						 strerror(-ret));
			if (state == 0 && reconnect(c))
				return walk_fail(c, p, "the server takes no new client");
			if (state == 1 && p->on_failure && p->on_failure(c))
				return walk_fail(c, p, "failed (%s), left bad state",
						 strerror(-ret));
		}
		if (p->cleanup)
			p->cleanup(c);
		if (count_fds() != fds_before)
			return walk_fail(c, p, "%d fds before, %d after", fds_before,
					 count_fds());
		if (!fired)
			break;
	}
	if (c->step > WALK_MAX_STEPS)
		return walk_fail(c, p, "still failing after %u faults", injected);
	/* After the walk the device does its job. */
	if (!p->no_device && device_state(c) != 1)
		return walk_fail(c, p, "the device is gone after the walk");
	fprintf(stderr, "# %s: %u faults injected (%u absorbed), %u reconnects\n",
		p->name, injected, absorbed, c->reconnects);
	if (faults_total)
		__atomic_add_fetch(faults_total, injected, __ATOMIC_RELAXED);
	return 0;
}

/* The paths ------------------------------------------------------------- */

/* Connect: negotiation, discovery, opening /dev/vfio-user, the attach. */
static int connect_prepare(struct fault_ctx *c)
{
	struct vuc_options opts = { .timeout_ms = TIMEOUT_MS,
				    .flags = VUC_OPT_KERNEL | c->lib_flags };

	c->probe_dev = vuc_device_new(&opts);
	return c->probe_dev ? 0 : -1;
}

static int connect_call(struct fault_ctx *c)
{
	return vuc_connect(c->probe_dev, c->srv.path);
}

static int connect_check(struct fault_ctx *c)
{
	int fd = vuc_device_fd(c->probe_dev);
	uint32_t id = 0;

	return fd >= 0 && !vu_reg_read32(fd, SAMPLE_REG_ID, &id) &&
	       id == SAMPLE_ID_VALUE ? 0 : -1;
}

static void connect_cleanup(struct fault_ctx *c)
{
	vuc_device_free(c->probe_dev);
	c->probe_dev = NULL;
}

/* MAP_DMA: the range works after success and is free after failure. */
static int map_call(struct fault_ctx *c)
{
	return map_dma_at(c, IOVA_BASE, 0, DMA_BUF_SIZE);
}

static int map_check(struct fault_ctx *c)
{
	uint8_t fill = (uint8_t)(c->step | 1);
	uint32_t off = (c->step * 64) % (DMA_BUF_SIZE - 64);
	unsigned int i;

	memset(c->dma_va + off, 0, 64);
	if (dma_run(c->fd, SAMPLE_DMA_CMD_FILL, 0, IOVA_BASE + off, 64, fill))
		return -1;
	for (i = 0; i < 64; i++)
		if (c->dma_va[off + i] != fill)
			return -1;
	return 0;
}

static int map_check_failed(struct fault_ctx *c)
{
	/* Neither the kernel nor the server kept the range. */
	if (map_dma_at(c, IOVA_BASE, 0, DMA_BUF_SIZE))
		return -1;
	c->last_ret = 0;
	return map_check(c);
}

static void map_cleanup(struct fault_ctx *c)
{
	if (!c->last_ret)
		vu_unmap_dma(c->fd, IOVA_BASE, DMA_BUF_SIZE);
}

/* UNMAP_DMA: gone after success, still whole after failure. */
static int unmap_prepare(struct fault_ctx *c)
{
	return map_dma_at(c, IOVA_BASE, 0, DMA_BUF_SIZE);
}

static int unmap_call(struct fault_ctx *c)
{
	return vu_unmap_dma(c->fd, IOVA_BASE, DMA_BUF_SIZE);
}

static int unmap_check(struct fault_ctx *c)
{
	/* The kernel refuses the server's DMA there now. */
	if (c->dma_memfd < 0 &&
	    !dma_run(c->fd, SAMPLE_DMA_CMD_FILL, 0, IOVA_BASE, 64, 1))
		return -1;
	/* And the range can be mapped again. */
	if (map_dma_at(c, IOVA_BASE, 0, DMA_BUF_SIZE))
		return -1;
	return vu_unmap_dma(c->fd, IOVA_BASE, DMA_BUF_SIZE);
}

static int unmap_check_failed(struct fault_ctx *c)
{
	/* Still mapped and served, then unmapped for good. */
	if (map_check(c))
		return -1;
	return vu_unmap_dma(c->fd, IOVA_BASE, DMA_BUF_SIZE);
}

/* SET_IRQS with eventfds (SCM_RIGHTS to the server). */
static int irqs_prepare(struct fault_ctx *c)
{
	unsigned int i;

	for (i = 0; i < SAMPLE_MSIX_VECTORS; i++) {
		c->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->efd[i] < 0)
			return -1;
	}
	return 0;
}

static int irqs_call(struct fault_ctx *c)
{
	return set_msix_eventfds(c->fd, c->efd, SAMPLE_MSIX_VECTORS);
}

static int irqs_check(struct fault_ctx *c)
{
	unsigned int vector = c->step % SAMPLE_MSIX_VECTORS;
	uint16_t ctrl = 0x8000 | (SAMPLE_MSIX_VECTORS - 1);

	/* MSI-X on (again: a reconnect may have reset it), then one vector. */
	if (pwrite(c->fd, &ctrl, 2,
		   vu_region_off(CFG, SAMPLE_CAP_MSIX_OFFSET + 2)) != 2 ||
	    vu_reg_write32(c->fd, SAMPLE_REG_IRQ_TRIGGER, vector))
		return -1;
	if (vu_wait_readable(c->efd[vector], TIMEOUT_MS) != 1)
		return -1;
	return vu_eventfd_read(c->efd[vector]) ? 0 : -1;
}

static void irqs_cleanup(struct fault_ctx *c)
{
	unsigned int i;

	set_msix_eventfds(c->fd, NULL, 0);
	for (i = 0; i < SAMPLE_MSIX_VECTORS; i++)
		close(c->efd[i]);
}

/* mmap of BAR2: the mapping is the server's memory. */
static int mmap_call(struct fault_ctx *c)
{
	c->mapped = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 c->fd, vu_region_off(2, SAMPLE_BAR2_AREA0_OFFSET));
	return c->mapped == MAP_FAILED ? -errno : 0;
}

static int mmap_check(struct fault_ctx *c)
{
	uint32_t v = 0x6d6d0000 | c->step, back = 0;

	memcpy((uint8_t *)c->mapped + 3 * PAGE + 8, &v, 4);
	if (pread(c->fd, &back, 4, vu_region_off(2, 3 * PAGE + 8)) != 4)
		return -1;
	return back == v ? 0 : -1;
}

static void mmap_cleanup(struct fault_ctx *c)
{
	if (c->mapped != MAP_FAILED)
		munmap(c->mapped, 4 * PAGE);
	c->mapped = MAP_FAILED;
}

/* Region reads and writes: one register, and a bulk transfer. */
static uint32_t reg_value;

static int reg_read_call(struct fault_ctx *c)
{
	reg_value = 0;
	return vu_reg_read32(c->fd, SAMPLE_REG_ID, &reg_value);
}

static int reg_read_check(struct fault_ctx *c)
{
	(void)c;
	return reg_value == SAMPLE_ID_VALUE ? 0 : -1;
}

static int reg_write_call(struct fault_ctx *c)
{
	return vu_reg_write32(c->fd, SAMPLE_REG_SCRATCH, 0x5c000000 | c->step);
}

static int reg_write_check(struct fault_ctx *c)
{
	uint32_t v = 0;

	if (vu_reg_read32(c->fd, SAMPLE_REG_SCRATCH, &v))
		return -1;
	return v == (0x5c000000 | c->step) ? 0 : -1;
}

static uint8_t bulk_out[BULK_SIZE], bulk_in[BULK_SIZE];

static void bulk_pattern(unsigned int step)
{
	unsigned int i;

	for (i = 0; i < BULK_SIZE; i++)
		bulk_out[i] = (uint8_t)(i * 7 + step);
}

static int bulk_read_prepare(struct fault_ctx *c)
{
	bulk_pattern(c->step);
	return pwrite(c->fd, bulk_out, BULK_SIZE, vu_region_off(2, PAGE)) ==
	       BULK_SIZE ? 0 : -1;
}

static int bulk_read_call(struct fault_ctx *c)
{
	ssize_t n;

	memset(bulk_in, 0, BULK_SIZE);
	n = pread(c->fd, bulk_in, BULK_SIZE, vu_region_off(2, PAGE));
	if (n < 0)
		return -errno;
	return n == BULK_SIZE ? 0 : -EIO;
}

static int bulk_compare(struct fault_ctx *c)
{
	(void)c;
	return memcmp(bulk_in, bulk_out, BULK_SIZE) ? -1 : 0;
}

static int bulk_write_call(struct fault_ctx *c)
{
	ssize_t n;

	bulk_pattern(c->step);
	n = pwrite(c->fd, bulk_out, BULK_SIZE, vu_region_off(2, PAGE));
	if (n < 0)
		return -errno;
	return n == BULK_SIZE ? 0 : -EIO;
}

static int bulk_write_check(struct fault_ctx *c)
{
	memset(bulk_in, 0, BULK_SIZE);
	if (pread(c->fd, bulk_in, BULK_SIZE, vu_region_off(2, PAGE)) !=
	    BULK_SIZE)
		return -1;
	return bulk_compare(c);
}

/* The mailbox: 8-byte accesses over the ioregionfd, not the socket. */
static uint64_t mailbox_value(const struct fault_ctx *c)
{
	return 0x6d61696c00000000ULL | c->step;
}

static int mailbox_write_call(struct fault_ctx *c)
{
	uint64_t v = mailbox_value(c);

	return pwrite(c->fd, &v, 8, vu_region_off(0, SAMPLE_MAILBOX_OFFSET + 8)) ==
	       8 ? 0 : -errno;
}

static int mailbox_write_check(struct fault_ctx *c)
{
	uint64_t v = 0;

	if (pread(c->fd, &v, 8, vu_region_off(0, SAMPLE_MAILBOX_OFFSET + 8)) != 8)
		return -1;
	return v == mailbox_value(c) ? 0 : -1;
}

/* A failed access must not take the sub-region down with it. */
static int mailbox_check_failed(struct fault_ctx *c)
{
	if (mailbox_write_call(c))
		return -1;
	return mailbox_write_check(c);
}

static int mailbox_read_prepare(struct fault_ctx *c)
{
	return mailbox_write_call(c);
}

static uint64_t mailbox_read;

static int mailbox_read_call(struct fault_ctx *c)
{
	mailbox_read = 0;
	return pread(c->fd, &mailbox_read, 8,
		     vu_region_off(0, SAMPLE_MAILBOX_OFFSET + 8)) == 8 ? 0 : -errno;
}

static int mailbox_read_check(struct fault_ctx *c)
{
	return mailbox_read == mailbox_value(c) ? 0 : -1;
}

/* GET_IOEVENTFDS: fds installed on success, none on failure. */
static int ioev_call(struct fault_ctx *c)
{
	struct vfio_user_ioeventfds req = {
		.argsz = sizeof(req), .index = 0,
		.count = ARRAY_SIZE(c->ioev),
		.entries = (uintptr_t)c->ioev,
	};

	memset(c->ioev, 0xff, sizeof(c->ioev));
	c->ioev_count = 0;
	if (ioctl(c->fd, VFIO_USER_GET_IOEVENTFDS, &req))
		return -errno;
	c->ioev_count = req.count;
	return 0;
}

static int ioev_check(struct fault_ctx *c)
{
	uint32_t i;

	if (!c->ioev_count || c->ioev_count > ARRAY_SIZE(c->ioev))
		return -1;
	for (i = 0; i < c->ioev_count; i++)
		if (c->ioev[i].fd < 0 || fcntl(c->ioev[i].fd, F_GETFD) < 0)
			return -1;
	return 0;
}

static void ioev_cleanup(struct fault_ctx *c)
{
	uint32_t i;

	for (i = 0; i < c->ioev_count && i < ARRAY_SIZE(c->ioev); i++)
		if (c->ioev[i].fd >= 0)
			close(c->ioev[i].fd);
	c->ioev_count = 0;
}

/* Dirty logging over NR_DIRTY_MAPS fd-less maps (DMA through the kernel). */

static int dirty_maps(struct fault_ctx *c)
{
	unsigned int i;

	for (i = 0; i < NR_DIRTY_MAPS; i++)
		if (map_dma_at(c, IOVA_BASE + i * DIRTY_MAP_SIZE,
			       i * DIRTY_MAP_SIZE, DIRTY_MAP_SIZE))
			return -1;
	return 0;
}

/* A page written by the server's DMA_WRITE, different in every step. */
static unsigned int dirty_page(const struct fault_ctx *c)
{
	return (c->step * 37) % (NR_DIRTY_MAPS * DIRTY_MAP_SIZE / PAGE);
}

static int dirty_write_page(struct fault_ctx *c)
{
	return dma_run(c->fd, SAMPLE_DMA_CMD_FILL, 0,
		       IOVA_BASE + dirty_page(c) * PAGE + 100, 8, 0xd1) ? -1 : 0;
}

/* Exactly the page written since the last report is dirty. */
static int dirty_check_report(struct fault_ctx *c)
{
	unsigned int page, nr = NR_DIRTY_MAPS * DIRTY_MAP_SIZE / PAGE;

	for (page = 0; page < nr; page++)
		if (bitmap_has(c->bitmap, page) != (page == dirty_page(c)))
			return -1;
	return 0;
}

static int dirty_start_prepare(struct fault_ctx *c)
{
	/* A reconnect dropped the maps: make them again. */
	vu_unmap_dma(c->fd, IOVA_BASE, DIRTY_MAP_SIZE);
	vu_unmap_dma(c->fd, IOVA_BASE + DIRTY_MAP_SIZE, DIRTY_MAP_SIZE);
	vu_unmap_dma(c->fd, IOVA_BASE + 2 * DIRTY_MAP_SIZE, DIRTY_MAP_SIZE);
	return dirty_maps(c);
}

static int dirty_start_call(struct fault_ctx *c)
{
	return dirty_log(c->fd, VFIO_USER_DIRTY_LOG_START);
}

static int dirty_start_check(struct fault_ctx *c)
{
	if (dirty_write_page(c) || dirty_report(c))
		return -1;
	return dirty_check_report(c);
}

static int dirty_start_check_failed(struct fault_ctx *c)
{
	/* Logging stayed off: a report is refused, and a start works. */
	if (dirty_report(c) != -EINVAL)
		return -1;
	if (dirty_start_call(c))
		return -1;
	return dirty_start_check(c);
}

static void dirty_stop(struct fault_ctx *c)
{
	dirty_log(c->fd, VFIO_USER_DIRTY_LOG_STOP);
}

static int dirty_report_prepare(struct fault_ctx *c)
{
	/* Once, and again after a reconnect: the maps, then the log. */
	if (!c->dirty_ready) {
		if (dirty_start_prepare(c) ||
		    dirty_log(c->fd, VFIO_USER_DIRTY_LOG_START))
			return -1;
		c->dirty_ready = true;
	}
	/* Whatever the last step left, then one fresh page. */
	if (dirty_report(c))
		return -1;
	return dirty_write_page(c);
}

static int dirty_report_call(struct fault_ctx *c)
{
	return dirty_report(c);
}

/* A failed report loses nothing: the page is still in the next one. */
static int dirty_report_check_failed(struct fault_ctx *c)
{
	if (dirty_report(c))
		return -1;
	return dirty_check_report(c);
}

/* VFIO_DEVICE_RESET: the server counted it. */
static uint32_t resets_before;

static int reset_prepare(struct fault_ctx *c)
{
	return vu_reg_read32(c->fd, SAMPLE_REG_RESET_COUNT, &resets_before);
}

static int reset_call(struct fault_ctx *c)
{
	return ioctl(c->fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

static int reset_check(struct fault_ctx *c)
{
	uint32_t now = 0;

	if (vu_reg_read32(c->fd, SAMPLE_REG_RESET_COUNT, &now))
		return -1;
	return now == resets_before + 1 ? 0 : -1;
}

/*
 * VFIO_USER_RAW_MSG: a feature index the sample does not have, so its
 * answer is EINVAL.
 */
static int raw_call(struct fault_ctx *c)
{
	struct vfio_user_device_feature feat = {
		.argsz = sizeof(feat) + 8,
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 0x7ff,
	};
	uint8_t reply[64];
	struct vfio_user_raw_msg m = {
		.argsz = sizeof(m), .cmd = VFIO_USER_DEVICE_FEATURE,
		.request_size = sizeof(feat), .reply_size = sizeof(reply),
		.request = (uintptr_t)&feat, .reply = (uintptr_t)reply,
	};

	if (!ioctl(c->fd, VFIO_USER_RAW_MSG, &m))
		return -EPROTO;	/* the server cannot have said yes */
	return errno == EINVAL ? 0 : -errno;
}

static int healthy(struct fault_ctx *c)
{
	return device_state(c) == 1 ? 0 : -1;
}

/* GET_REGION_INFO with the capability chain (BAR2's sparse areas). */
static int region_info_call(struct fault_ctx *c)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	struct vfio_region_info *info = (void *)buf;

	memset(buf, 0, sizeof(buf));
	info->argsz = sizeof(buf);
	info->index = 2;
	if (ioctl(c->fd, VFIO_DEVICE_GET_REGION_INFO, info))
		return -errno;
	if (info->size != SAMPLE_BAR2_SIZE ||
	    !(info->flags & VFIO_REGION_INFO_FLAG_CAPS) ||
	    info->cap_offset < sizeof(*info) || info->cap_offset >= sizeof(buf))
		return -EPROTO;
	return 0;
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

FIXTURE(fault)
{
	struct fault_ctx c;
};

FIXTURE_VARIANT(fault)
{
	bool memfd;		/* DMA memory with an fd the server may map */
};

/* DMA through the server's own mapping of the memfd... */
FIXTURE_VARIANT_ADD(fault, memfd)
{
	.memfd = true,
};

/* ...and through DMA_READ/DMA_WRITE served by the kernel. */
FIXTURE_VARIANT_ADD(fault, anon)
{
	.memfd = false,
};

FIXTURE_SETUP(fault)
{
	struct fault_ctx *c = &self->c;
	int ret;

	memset(c, 0, sizeof(*c));
	c->nth_fd = -1;
	c->dma_memfd = -1;
	c->mapped = MAP_FAILED;
	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ret = failslab_setup();
	if (ret == -ENOENT)
		SKIP(return, "no failslab with fail-nth (CONFIG_FAILSLAB, debugfs)");
	ASSERT_EQ(0, ret);
	c->nth_fd = open(FAIL_NTH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->nth_fd);

	if (variant->memfd) {
		c->dma_memfd = memfd_create("vu-fault-dma", MFD_CLOEXEC);
		ASSERT_LE(0, c->dma_memfd);
		ASSERT_EQ(0, ftruncate(c->dma_memfd, DMA_BUF_SIZE));
		c->dma_va = mmap(NULL, DMA_BUF_SIZE, PROT_READ | PROT_WRITE,
				 MAP_SHARED, c->dma_memfd, 0);
	} else {
		c->dma_va = mmap(NULL, DMA_BUF_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	ASSERT_NE(MAP_FAILED, c->dma_va);
	ASSERT_EQ(0, vu_server_start(&c->srv, NULL));
	ASSERT_EQ(0, attach_device(c));
}

FIXTURE_TEARDOWN(fault)
{
	struct fault_ctx *c = &self->c;

	if (c->nth_fd >= 0) {
		fail_nth_disarm(c->nth_fd);
		/* Back to failslab's defaults after the task-filter test. */
		write_knob("probability", "0");
		write_knob("task-filter", "N");
		write_knob("space", "0");
		write_knob("times", "1");
	}
	if (c->dev)
		vuc_device_free(c->dev);
	if (c->srv.pid > 0)
		EXPECT_EQ(0, vu_server_stop(&c->srv));
	if (c->dma_va && c->dma_va != MAP_FAILED)
		munmap(c->dma_va, DMA_BUF_SIZE);
	if (c->dma_memfd >= 0)
		close(c->dma_memfd);
	if (c->nth_fd >= 0)
		close(c->nth_fd);
}

/* The fixture's device would hold the server's one client slot. */
TEST_F_TIMEOUT(fault, connect_and_attach, 900)
{
	static const struct fault_path p = {
		.name = "connect+attach", .prepare = connect_prepare,
		.call = connect_call, .on_success = connect_check,
		.cleanup = connect_cleanup, .no_device = true,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	vuc_device_free(self->c.dev);
	self->c.dev = NULL;
	ASSERT_EQ(0, walk(&self->c, &p));
	/* One socket, one receive kthread. */
	self->c.lib_flags = VUC_OPT_NO_TWIN_SOCKET;
	ASSERT_EQ(0, walk(&self->c, &p));
	/* The server still serves. */
	ASSERT_EQ(0, attach_device(&self->c));
	EXPECT_EQ(1, device_state(&self->c));
}

TEST_F_TIMEOUT(fault, map_dma, 600)
{
	static const struct fault_path p = {
		.name = "MAP_DMA", .call = map_call, .on_success = map_check,
		.on_failure = map_check_failed, .cleanup = map_cleanup,
	};

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, unmap_dma, 600)
{
	static const struct fault_path p = {
		.name = "UNMAP_DMA", .prepare = unmap_prepare,
		.call = unmap_call, .on_success = unmap_check,
		.on_failure = unmap_check_failed,
	};

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, set_irqs_eventfds, 600)
{
	static const struct fault_path p = {
		.name = "SET_IRQS", .prepare = irqs_prepare, .call = irqs_call,
		.on_success = irqs_check, .cleanup = irqs_cleanup,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, mmap_region, 600)
{
	static const struct fault_path p = {
		.name = "mmap", .call = mmap_call, .on_success = mmap_check,
		.cleanup = mmap_cleanup,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, region_rw, 600)
{
	static const struct fault_path paths[] = {
		{ .name = "pread register", .call = reg_read_call,
		  .on_success = reg_read_check },
		{ .name = "pwrite register", .call = reg_write_call,
		  .on_success = reg_write_check },
		{ .name = "pread 64 KiB", .prepare = bulk_read_prepare,
		  .call = bulk_read_call, .on_success = bulk_compare },
		{ .name = "pwrite 64 KiB", .call = bulk_write_call,
		  .on_success = bulk_write_check },
	};
	unsigned int i;

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	for (i = 0; i < ARRAY_SIZE(paths); i++)
		ASSERT_EQ(0, walk(&self->c, &paths[i]));
}

/*
 * Accesses over the ioregionfd socket. A failure before the first byte
 * left (memory for the frame) keeps the stream in step: the sub-region
 * must go on working.
 */
TEST_F_TIMEOUT(fault, ioregionfd_access, 600)
{
	static const struct fault_path paths[] = {
		{ .name = "pwrite ioregionfd", .call = mailbox_write_call,
		  .on_success = mailbox_write_check,
		  .on_failure = mailbox_check_failed },
		{ .name = "pread ioregionfd", .prepare = mailbox_read_prepare,
		  .call = mailbox_read_call, .on_success = mailbox_read_check,
		  .on_failure = mailbox_check_failed },
	};
	unsigned int i;

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	for (i = 0; i < ARRAY_SIZE(paths); i++)
		EXPECT_EQ(0, walk(&self->c, &paths[i]));
}

/* Posted writes go out without a reply; a later read still sees them. */
TEST_F_TIMEOUT(fault, posted_region_writes, 600)
{
	static const struct fault_path paths[] = {
		{ .name = "posted pwrite register", .call = reg_write_call,
		  .on_success = reg_write_check },
		{ .name = "posted pwrite 64 KiB", .call = bulk_write_call,
		  .on_success = bulk_write_check },
	};
	unsigned int i;

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	vuc_device_free(self->c.dev);
	self->c.posted_regions = 1U << 0 | 1U << 2;
	ASSERT_EQ(0, attach_device(&self->c));
	for (i = 0; i < ARRAY_SIZE(paths); i++)
		ASSERT_EQ(0, walk(&self->c, &paths[i]));
}

TEST_F_TIMEOUT(fault, raw_message, 600)
{
	static const struct fault_path p = {
		.name = "RAW_MSG", .call = raw_call, .on_success = healthy,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, region_info, 600)
{
	static const struct fault_path p = {
		.name = "GET_REGION_INFO", .call = region_info_call,
		.on_success = healthy,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, get_ioeventfds, 600)
{
	static const struct fault_path p = {
		.name = "GET_IOEVENTFDS", .call = ioev_call,
		.on_success = ioev_check, .cleanup = ioev_cleanup,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, dirty_log_start, 600)
{
	static const struct fault_path p = {
		.name = "DIRTY_LOG start", .prepare = dirty_start_prepare,
		.call = dirty_start_call, .on_success = dirty_start_check,
		.on_failure = dirty_start_check_failed, .cleanup = dirty_stop,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (variant->memfd)
		SKIP(return, "the kernel logs only the DMA it serves");
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, dirty_report, 600)
{
	static const struct fault_path p = {
		.name = "DIRTY_REPORT", .prepare = dirty_report_prepare,
		.call = dirty_report_call, .on_success = dirty_check_report,
		.on_failure = dirty_report_check_failed,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (variant->memfd)
		SKIP(return, "the kernel logs only the DMA it serves");
	ASSERT_EQ(0, walk(&self->c, &p));
}

TEST_F_TIMEOUT(fault, device_reset, 600)
{
	static const struct fault_path p = {
		.name = "RESET", .prepare = reset_prepare, .call = reset_call,
		.on_success = reset_check,
	};

	RETURN_IF_SETUP_SKIPPED();
	if (!variant->memfd)
		SKIP(return, "DMA memory plays no part: run in the memfd variant");
	ASSERT_EQ(0, walk(&self->c, &p));
}

/*
 * The server's DMA_READ/DMA_WRITE are served by the device's kthread, out
 * of reach of fail-nth (a counter of the calling task). Failslab's task
 * filter reaches it: one failure armed (times 1), and a budget of bytes
 * ("space") the kthread allocates first, walked upwards so the failure
 * lands on each allocation in turn until a copy needs less.
 */
#define SPACE_STEP	64
#define SPACE_MAX	(1 << 20)
#define COPY_LEN	(64 << 10)

static int kthread_fault_arm(long space)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", space);
	if (write_knob("space", buf) || write_knob("times", "1") ||
	    write_knob("interval", "1") || write_knob("task-filter", "Y"))
		return -1;
	return write_knob("probability", "100");
}

/* Disarm; 1 if the fault was injected, 0 if not, -1 on error. */
static int kthread_fault_disarm(void)
{
	long times = -1;

	if (write_knob("probability", "0") || read_knob("times", &times))
		return -1;
	return times == 0;
}

TEST_F_TIMEOUT(fault, dma_service_in_kthread, 600)
{
	struct fault_ctx *c = &self->c;
	unsigned int injected = 0, failed = 0;
	uint8_t *src, *dst;
	uint32_t status;
	long space;
	int fired, state;
	size_t i;

	RETURN_IF_SETUP_SKIPPED();
	if (variant->memfd)
		SKIP(return, "with an fd the server DMAs through its own mapping");
	src = c->dma_va;
	dst = c->dma_va + DMA_BUF_SIZE / 2;
	for (i = 0; i < COPY_LEN; i++)
		src[i] = (uint8_t)(i * 11 + 3);
	ASSERT_EQ(0, map_dma_at(c, IOVA_BASE, 0, DMA_BUF_SIZE));
	ASSERT_LT(0, mark_device_kthreads());

	for (space = 0; space < SPACE_MAX; space += SPACE_STEP) {
		memset(dst, 0, COPY_LEN);
		ASSERT_EQ(0, kthread_fault_arm(space));
		status = dma_run(c->fd, SAMPLE_DMA_CMD_COPY, IOVA_BASE,
				 IOVA_BASE + DMA_BUF_SIZE / 2, COPY_LEN, 0);
		fired = kthread_fault_disarm();
		ASSERT_LE(0, fired);
		injected += fired;
		if (!status) {
			/* Done, or the fault was absorbed: the copy is exact. */
			ASSERT_EQ(0, memcmp(dst, src, COPY_LEN)) TH_LOG("space %ld", space);
			if (!fired)
				break;
			continue;
		}
		ASSERT_TRUE(fired) TH_LOG("space %ld: DMA failed (%u) with no fault",
					  space, status);
		failed++;
		/* The server was told, or the connection broke cleanly. */
		state = device_state(c);
		ASSERT_LE(0, state) TH_LOG("space %ld", space);
		if (!state) {
			ASSERT_EQ(0, reconnect(c));
			ASSERT_EQ(0, map_dma_at(c, IOVA_BASE, 0, DMA_BUF_SIZE));
			ASSERT_LT(0, mark_device_kthreads());
		}
	}
	ASSERT_LT(space, SPACE_MAX);
	fprintf(stderr, "# DMA service (kthread): %u faults injected (%u failed the copy), %u reconnects\n",
		injected, failed, c->reconnects);
	if (faults_total)
		__atomic_add_fetch(faults_total, injected, __ATOMIC_RELAXED);
}

static void print_figures(void)
{
	if (getpid() == harness_pid && faults_total)
		printf("# fuzz-figures: faults=%lu\n", *faults_total);
}

/* The harness's main, with a counter its test processes share. */
static void __attribute__((constructor)) __constructor_order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

int main(int argc, char **argv)
{
	faults_total = mmap(NULL, sizeof(*faults_total), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (faults_total == MAP_FAILED)
		faults_total = NULL;
	harness_pid = getpid();
	atexit(print_figures);
	return test_harness_run(argc, argv);
}
