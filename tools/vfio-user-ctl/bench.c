// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl bench, two tables measured in one run:
 *
 * Round trips: a 4-byte config-space read and a 4-byte doorbell write that
 * waits for its reply, through the kernel and through the library's
 * userspace backend, against the floor: the same sizes (a 16-byte header
 * and 4 bytes each way) ping-ponged between two processes over an AF_UNIX
 * socket pair. Rounds alternate between the paths, so that a machine
 * busy for a moment slows all of them alike.
 *
 * Doorbells: the same register written three ways: signalled by the
 * kernel through the server's ioeventfd, sent as REGION_WRITE waiting for
 * each reply, and sent as posted REGION_WRITE. The doorbell is the first
 * ioeventfd sub-region the server offers. A shadow ioeventfd, if the server
 * offers one, is measured too (the value stored in the server's memory,
 * then the signal).
 *
 * DMA maps: DMA_PAIRS map+unmap pairs of one page each, one call at a
 * time, against the same in two batch calls.
 *
 * Queue depth: 4-byte reads through the kernel submitted with io_uring,
 * QUEUE_DEPTH in flight, against the same reads one at a time.
 *
 * DMA service, the same with 10,000 maps, and kernel memory per device
 * and per 10,000 maps: bench-dma.c.
 *
 * Figures are printed, never asserted.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "ctl.h"
#include "util.h"

struct doorbell {
	unsigned int region;
	uint64_t offset;
	uint64_t value;
	size_t width;
};

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define BENCH_MAX_FIGURES 128

static struct bench_fig {
	const char *section;
	char name[64];
	double value;
	const char *unit;
} figures[BENCH_MAX_FIGURES];
static unsigned int nr_figures;

void bench_figure(const char *section, const char *name, double value,
		  const char *unit)
{
	struct bench_fig *f;

	if (nr_figures == BENCH_MAX_FIGURES)
		return;
	f = &figures[nr_figures++];
	f->section = section;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->value = value;
	f->unit = unit;
}

double bench_lookup(const char *section, const char *name)
{
	unsigned int i;

	for (i = 0; i < nr_figures; i++)
		if (!strcmp(figures[i].section, section) &&
		    !strcmp(figures[i].name, name))
			return figures[i].value;
	return 0;
}

int bench_write_json(const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned int i;

	if (!f) {
		ctl_err("bench: %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\n  \"figures\": [\n");
	for (i = 0; i < nr_figures; i++)
		fprintf(f,
			"    { \"section\": \"%s\", \"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\" }%s\n",
			figures[i].section, figures[i].name, figures[i].value,
			figures[i].unit, i + 1 < nr_figures ? "," : "");
	fprintf(f, "  ]\n}\n");
	if (fclose(f)) {
		ctl_err("bench: %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The first sub-region of @type (an ioeventfd kind) to use as a doorbell. */
static int find_doorbell(struct vuc_device *dev, uint32_t type,
			 struct doorbell *db)
{
	const struct vfio_user_device_info *info = vuc_get_device_info(dev);
	unsigned int i, j;

	for (i = 0; i < info->num_regions; i++) {
		const struct vuc_region *r = vuc_get_region(dev, i);

		for (j = 0; r && j < r->nr_io_fds; j++) {
			const struct vuc_io_fd *io = &r->io_fds[j];

			if (io->type != type)
				continue;
			db->region = i;
			db->offset = io->offset;
			db->width = io->size ? io->size : 4;
			db->value =
				io->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH ?
					io->datamatch :
					1;
			return 0;
		}
	}
	return -ENOENT;
}

/* Writes per second of @db for @seconds through a fresh connection. */
static int measure(const struct ctl_opts *base, const char *path,
		   unsigned int flags, uint32_t posted,
		   const struct doorbell *db, double seconds, double *rate)
{
	struct ctl_opts o = *base;
	struct vuc_device *dev;
	uint64_t n = 0;
	double t0, t;
	int fd, ret = 0;

	o.vuc.flags |= flags | VUC_OPT_KERNEL;
	o.vuc.posted_write_regions = posted;
	dev = ctl_connect(&o, path);
	if (!dev)
		return -1;
	fd = vuc_device_fd(dev);
	t0 = bench_now();
	do {
		unsigned int i;

		for (i = 0; i < 256; i++, n++) {
			if (pwrite(fd, &db->value, db->width,
				   (off_t)(VFIO_USER_REGION_OFFSET(db->region) +
					   db->offset)) != (ssize_t)db->width) {
				ctl_err("bench: doorbell write: %s",
					strerror(errno));
				ret = -1;
				break;
			}
		}
		t = bench_now() - t0;
	} while (!ret && t < seconds);
	/* A read waits for every posted write before it to be served. */
	if (!ret && posted) {
		uint32_t v;

		vuc_region_read(dev, db->region, 0, &v, sizeof(v));
		t = bench_now() - t0;
	}
	*rate = n / t;
	vuc_device_free(dev);
	return ret;
}

/* The round-trip paths, in the order they are measured in each round. */
enum rt_path {
	RT_FLOOR,
	RT_RAW_READ,
	RT_KERNEL_READ,
	RT_KERNEL_WRITE,
	RT_USER_READ,
	RT_USER_WRITE,
	RT_NR_PATHS,
};

static const char *const rt_names[RT_NR_PATHS] = {
	[RT_FLOOR] = "AF_UNIX ping-pong, 20 bytes each way (floor)",
	[RT_RAW_READ] = "bare client: REGION_READ by send() and recv()",
	[RT_KERNEL_READ] = "kernel: 4-byte region read",
	[RT_KERNEL_WRITE] = "kernel: 4-byte region write, with reply",
	[RT_USER_READ] = "userspace backend: 4-byte region read",
	[RT_USER_WRITE] = "userspace backend: 4-byte region write",
};

#define RT_MSG_SIZE (sizeof(struct vfio_user_header) + 4)
#define RT_BATCH 64

struct rt_ctx {
	int floor_fd;
	struct vuc_device *kdev;
	struct vuc_device *udev;
	const struct doorbell *db;
};

/*
 * The least any client can do for a 4-byte read: one send() of the
 * command, one recv() of the reply, nothing checked but its size. What the
 * server itself costs per message is in this figure too.
 */
static int rt_raw_read(int sock)
{
	struct {
		struct vfio_user_header hdr;
		struct vfio_user_region_access acc;
		uint32_t data;
	} __attribute__((packed)) msg = {
		.hdr = {
			.msg_id = 0x8000,
			.cmd = VFIO_USER_REGION_READ,
			.msg_size = sizeof(msg.hdr) + sizeof(msg.acc),
			.flags = VFIO_USER_F_TYPE_COMMAND,
		},
		.acc = {
			.region = VFIO_PCI_CONFIG_REGION_INDEX,
			.count = sizeof(msg.data),
		},
	};
	size_t len = sizeof(msg.hdr) + sizeof(msg.acc);

	if (send(sock, &msg, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    recv(sock, &msg, sizeof(msg), MSG_WAITALL) != sizeof(msg))
		return -1;
	return msg.hdr.flags & VFIO_USER_F_ERROR ? (errno = EIO, -1) : 0;
}

/* One round trip on @path; 0 or -1 after saying why. */
static int rt_once(const struct rt_ctx *c, enum rt_path path)
{
	off_t cfg =
		(off_t)VFIO_USER_REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX);
	off_t db =
		(off_t)(VFIO_USER_REGION_OFFSET(c->db->region) + c->db->offset);
	char msg[RT_MSG_SIZE] = { 0 };
	uint32_t v = 0;
	ssize_t ret;

	switch (path) {
	case RT_FLOOR:
		ret = send(c->floor_fd, msg, sizeof(msg), MSG_NOSIGNAL);
		if (ret == (ssize_t)sizeof(msg))
			ret = recv(c->floor_fd, msg, sizeof(msg), MSG_WAITALL);
		ret = ret == (ssize_t)sizeof(msg) ? 0 : -1;
		break;
	case RT_RAW_READ:
		ret = rt_raw_read(vuc_socket_fd(c->udev));
		break;
	case RT_KERNEL_READ:
		ret = pread(vuc_device_fd(c->kdev), &v, sizeof(v), cfg);
		ret = ret == sizeof(v) ? 0 : -1;
		break;
	case RT_KERNEL_WRITE:
		ret = pwrite(vuc_device_fd(c->kdev), &c->db->value,
			     c->db->width, db);
		ret = ret == (ssize_t)c->db->width ? 0 : -1;
		break;
	case RT_USER_READ:
		ret = vuc_region_read(c->udev, VFIO_PCI_CONFIG_REGION_INDEX, 0,
				      &v, sizeof(v));
		ret = ret == sizeof(v) ? 0 : (errno = (int)-ret, -1);
		break;
	default:
		ret = vuc_region_write(c->udev, c->db->region, c->db->offset,
				       &c->db->value, c->db->width);
		ret = ret == (ssize_t)c->db->width ? 0 :
						     (errno = (int)-ret, -1);
		break;
	}
	if (ret)
		ctl_err("bench: %s: %s", rt_names[path], strerror(errno));
	return (int)ret;
}

/*
 * Round trips per second of each path: @rounds rounds, each giving every
 * path @seconds / @rounds of time in turn.
 */
static int rt_measure(const struct ctl_opts *base, const char *path,
		      const struct doorbell *db, double seconds,
		      unsigned int rounds, double *rate)
{
	double elapsed[RT_NR_PATHS] = { 0 }, count[RT_NR_PATHS] = { 0 };
	struct ctl_opts ko = *base, uo = *base;
	struct rt_ctx c = { .db = db };
	struct bench_peer echo;
	unsigned int r, p;
	int ret = -1;

	if (bench_echo_start(&echo, RT_MSG_SIZE))
		return -1;
	c.floor_fd = echo.fd;

	/* Writes wait for their replies: no io fds, no posted writes. */
	ko.vuc.flags |= VUC_OPT_KERNEL | VUC_OPT_NO_IO_FDS;
	ko.vuc.posted_write_regions = 0;
	uo.vuc.flags = (uo.vuc.flags & ~VUC_OPT_KERNEL) | VUC_OPT_USERSPACE |
		       VUC_OPT_NO_IO_FDS;
	uo.vuc.posted_write_regions = 0;
	/*
	 * Servers may take one client at a time: each round connects each
	 * backend afresh, outside the measured time.
	 */
	for (r = 0; r < rounds; r++) {
		for (p = 0; p < RT_NR_PATHS; p++) {
			double t0, t;

			if (p == RT_RAW_READ || p == RT_USER_READ) {
				vuc_device_free(c.kdev);
				c.kdev = NULL;
				c.udev = ctl_connect(&uo, path);
				if (!c.udev)
					goto out;
			} else if (p == RT_KERNEL_READ) {
				vuc_device_free(c.udev);
				c.udev = NULL;
				c.kdev = ctl_connect(&ko, path);
				if (!c.kdev)
					goto out;
			}
			t0 = bench_now();
			do {
				unsigned int i;

				for (i = 0; i < RT_BATCH; i++)
					if (rt_once(&c, p))
						goto out;
				count[p] += RT_BATCH;
				t = bench_now() - t0;
			} while (t < seconds / rounds);
			elapsed[p] += t;
		}
		vuc_device_free(c.udev);
		c.udev = NULL;
	}
	for (p = 0; p < RT_NR_PATHS; p++)
		rate[p] = count[p] / elapsed[p];
	ret = 0;
out:
	vuc_device_free(c.udev);
	vuc_device_free(c.kdev);
	bench_peer_stop(&echo);
	return ret;
}

static void rt_print(const double *rate, double seconds, unsigned int rounds)
{
	unsigned int p;

	printf("Round trips: %u alternating rounds, %.1f s per path\n", rounds,
	       seconds);
	printf("  %-46s %10s %9s %13s\n", "path", "per s", "us each",
	       "time / floor");
	for (p = 0; p < RT_NR_PATHS; p++) {
		printf("  %-46s %10.0f %9.2f %12.2fx\n", rt_names[p], rate[p],
		       1e6 / rate[p], rate[RT_FLOOR] / rate[p]);
		bench_figure("round trip", rt_names[p], rate[p],
			     "round trips/s");
	}
	printf("  kernel read / bare client: %.2fx the time; kernel read / userspace read: %.2fx; kernel write / userspace write: %.2fx\n",
	       rate[RT_RAW_READ] / rate[RT_KERNEL_READ],
	       rate[RT_USER_READ] / rate[RT_KERNEL_READ],
	       rate[RT_USER_WRITE] / rate[RT_KERNEL_WRITE]);
}

#define QUEUE_DEPTH 32

/* 4-byte config-space reads per second with @depth in flight on @fd. */
static int qd_measure(int fd, unsigned int depth, double seconds, double *rate)
{
	off_t cfg =
		(off_t)VFIO_USER_REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX);
	uint32_t buf[QUEUE_DEPTH];
	struct io_uring ring;
	double t0, t = 0;
	uint64_t n = 0;
	unsigned int i;
	int ret;

	ret = io_uring_queue_init(QUEUE_DEPTH, &ring, 0);
	if (ret) {
		ctl_err("bench: io_uring: %s", strerror(-ret));
		return -1;
	}
	t0 = bench_now();
	for (i = 0; i < depth; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_read(sqe, fd, &buf[i], sizeof(buf[i]), cfg);
		sqe->user_data = i;
	}
	ret = io_uring_submit(&ring) == (int)depth ? 0 : -1;
	/* Reap what completed, refill as many, submit them together. */
	while (!ret && depth) {
		struct io_uring_cqe *cqe;
		unsigned int refill = 0;

		ret = io_uring_wait_cqe(&ring, &cqe);
		while (!ret && cqe) {
			if (cqe->res != sizeof(uint32_t)) {
				ret = cqe->res < 0 ? cqe->res : -EIO;
				break;
			}
			i = (unsigned int)cqe->user_data;
			io_uring_cqe_seen(&ring, cqe);
			n++;
			t = bench_now() - t0;
			if (t < seconds) {
				struct io_uring_sqe *sqe =
					io_uring_get_sqe(&ring);

				io_uring_prep_read(sqe, fd, &buf[i],
						   sizeof(buf[i]), cfg);
				sqe->user_data = i;
				refill++;
			} else {
				depth--;
			}
			if (io_uring_peek_cqe(&ring, &cqe))
				cqe = NULL;
		}
		if (ret) {
			ctl_err("bench: io_uring read: %s", strerror(-ret));
			ret = -1;
			break;
		}
		if (refill && io_uring_submit(&ring) != (int)refill)
			ret = -1;
	}
	io_uring_queue_exit(&ring);
	*rate = n / t;
	return ret;
}

/*
 * Reads per second at queue depths 1, 8 and QUEUE_DEPTH, alternating;
 * against @sync_rate, that of pread() measured in the same run.
 */
static int qd_bench(const struct ctl_opts *base, const char *path,
		    double seconds, unsigned int rounds, double sync_rate)
{
	static const unsigned int depths[] = { 1, 8, QUEUE_DEPTH };
	double sum[ARRAY_SIZE(depths)] = { 0 }, rate;
	struct ctl_opts o = *base;
	struct vuc_device *dev;
	unsigned int r, d;
	int ret = 0;

	o.vuc.flags |= VUC_OPT_KERNEL;
	dev = ctl_connect(&o, path);
	if (!dev)
		return -1;
	for (r = 0; r < rounds && !ret; r++)
		for (d = 0; d < ARRAY_SIZE(depths) && !ret; d++) {
			ret = qd_measure(vuc_device_fd(dev), depths[d],
					 seconds / rounds, &rate);
			sum[d] += rate;
		}
	vuc_device_free(dev);
	if (ret)
		return ret;
	printf("Queue depth: 4-byte region reads through the kernel with io_uring\n");
	printf("  %-46s %10.0f reads/s\n",
	       "pread(), from the round trips above", sync_rate);
	for (d = 0; d < ARRAY_SIZE(depths); d++) {
		char name[48];

		snprintf(name, sizeof(name), "io_uring, %u in flight",
			 depths[d]);
		printf("  %-46s %10.0f reads/s %8.2fx pread\n", name,
		       sum[d] / rounds, sum[d] / rounds / sync_rate);
		bench_figure("queue depth", name, sum[d] / rounds, "reads/s");
	}
	bench_figure("queue depth", "pread()", sync_rate, "reads/s");
	return 0;
}

#define DMA_PAIRS 1000
#define DMA_PAGE 4096UL
#define DMA_IOVA 0x100000000ULL

/* Seconds for DMA_PAIRS map+unmap pairs, one by one or in two batches. */
static int dma_pairs(int fd, void *mem, bool batched, double *secs)
{
	static struct vfio_user_map_dma maps[DMA_PAIRS];
	static struct vfio_user_unmap_dma unmaps[DMA_PAIRS];
	struct vfio_user_dma_batch b = { .argsz = sizeof(b),
					 .count = DMA_PAIRS };
	double t0 = bench_now();
	unsigned int i;

	for (i = 0; i < DMA_PAIRS; i++) {
		maps[i] = (struct vfio_user_map_dma){
			.argsz = sizeof(maps[i]),
			.flags = VFIO_USER_MAP_DMA_READ |
				 VFIO_USER_MAP_DMA_WRITE,
			.vaddr = (uintptr_t)mem,
			.iova = DMA_IOVA + i * DMA_PAGE,
			.size = DMA_PAGE,
		};
		unmaps[i] = (struct vfio_user_unmap_dma){
			.argsz = sizeof(unmaps[i]),
			.iova = maps[i].iova,
			.size = DMA_PAGE,
		};
	}
	t0 = bench_now();
	if (batched) {
		b.entries = (uintptr_t)maps;
		if (ioctl(fd, VFIO_USER_MAP_DMA_BATCH, &b))
			goto fail;
		b.entries = (uintptr_t)unmaps;
		if (ioctl(fd, VFIO_USER_UNMAP_DMA_BATCH, &b))
			goto fail;
	} else {
		for (i = 0; i < DMA_PAIRS; i++)
			if (ioctl(fd, VFIO_USER_MAP_DMA, &maps[i]))
				goto fail;
		for (i = 0; i < DMA_PAIRS; i++)
			if (ioctl(fd, VFIO_USER_UNMAP_DMA, &unmaps[i]))
				goto fail;
	}
	*secs = bench_now() - t0;
	return 0;
fail:
	ctl_err("bench: DMA %s: %s", batched ? "batch" : "map",
		strerror(errno));
	return -1;
}

/* Map+unmap pairs per second, one by one and batched, alternating. */
static int dma_bench(const struct ctl_opts *base, const char *path,
		     unsigned int rounds)
{
	double one = 0, batched = 0, t;
	struct ctl_opts o = *base;
	struct vuc_device *dev;
	unsigned int r;
	int ret = 0;
	void *mem;

	mem = mmap(NULL, DMA_PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		ctl_err("bench: mmap: %s", strerror(errno));
		return -1;
	}
	o.vuc.flags |= VUC_OPT_KERNEL;
	dev = ctl_connect(&o, path);
	if (!dev) {
		munmap(mem, DMA_PAGE);
		return -1;
	}
	for (r = 0; r < rounds && !ret; r++) {
		ret = dma_pairs(vuc_device_fd(dev), mem, false, &t);
		one += t;
		if (!ret)
			ret = dma_pairs(vuc_device_fd(dev), mem, true, &t);
		batched += t;
	}
	vuc_device_free(dev);
	munmap(mem, DMA_PAGE);
	if (ret)
		return ret;
	printf("DMA maps: %u map+unmap pairs of one page, %u rounds\n",
	       DMA_PAIRS, rounds);
	printf("  %-46s %10.0f pairs/s\n", "one call each",
	       rounds * DMA_PAIRS / one);
	printf("  %-46s %10.0f pairs/s %8.2fx\n", "two batch calls",
	       rounds * DMA_PAIRS / batched, one / batched);
	bench_figure("dma maps", "one call each", rounds * DMA_PAIRS / one,
		     "pairs/s");
	bench_figure("dma maps", "two batch calls",
		     rounds * DMA_PAIRS / batched, "pairs/s");
	return 0;
}

/*
 * Usage text is laid out as it prints, one output line per source line;
 * clang-format would join the lines around the macros spliced into it.
 */
/* clang-format off */
void ctl_usage_bench(FILE *out)
{
	fprintf(out,
		"Usage: " CTL_NAME " bench [--seconds N] [--rounds N] [--json FILE]\n"
		"                     SOCKET_PATH\n"
		"Measure, in one run: the floor (AF_UNIX ping-pong and stream,\n"
		"eventfd wake-ups); 4-byte round trips through the kernel and\n"
		"through the userspace backend against an AF_UNIX ping-pong floor;\n"
		"4-byte reads with io_uring, 1, 8 and 32 in flight;\n"
		"1000 DMA map+unmap pairs, one call each and in two batches;\n"
		"the server's DMA_READ/DMA_WRITE served by the kernel and by the\n"
		"userspace backend, 8 B to 1 MiB per request, with 1 and 10,001 maps;\n"
		"kernel memory per attached idle device and per 10,000 maps;\n"
		"doorbell writes per second three ways: the server's ioeventfd,\n"
		"REGION_WRITE, posted REGION_WRITE; and its shadow ioeventfd, if any.\n"
		"Needs /dev/vfio-user and a server that offers an ioeventfd and\n"
		"the sample device's DMA engine.\n\n"
		"  --seconds N        measure each way for N seconds (default 1)\n"
		"  --rounds N         alternate the round-trip paths N times\n"
		"                     (default 3)\n"
		"  --json FILE        also write every figure to FILE as JSON\n"
		"  --compare-posted SOCKET_PATH\n"
		"                     measure posted writes also against the server\n"
		"                     at SOCKET_PATH (one without write_multiple)\n"
		"  --memory-devices N attach N idle devices, each served by a\n"
		"                     vfio-user-sample-server from PATH, to measure\n"
		"                     kernel memory (default 32; 0: skip)\n"
		CTL_COMMON_OPTIONS_HELP);
}
/* clang-format on */

int ctl_cmd_bench(int argc, char **argv, struct ctl_opts *opts)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "compare-posted", required_argument, NULL, 'p' },
		{ "memory-devices", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		CTL_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	double seconds = 1, ioev, msg, posted, posted_plain = 0, shadow = 0,
	       rt[RT_NR_PATHS];
	bool have_shadow;
	const char *plain_server = NULL;
	unsigned long rounds = 3, mem_devices = 32;
	const char *json = NULL;
	struct vuc_device *dev;
	struct doorbell db, shadow_db;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:r:j:p:m:h", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds > 0 && seconds <= 600)) {
				ctl_err("--seconds: '%s' is not between 0 and 600",
					optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'r':
			errno = 0;
			rounds = strtoul(optarg, &end, 10);
			if (errno || *end || !rounds || rounds > 100) {
				ctl_err("--rounds: '%s' is not between 1 and 100",
					optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'j':
			json = optarg;
			break;
		case 'p':
			plain_server = optarg;
			break;
		case 'm':
			errno = 0;
			mem_devices = strtoul(optarg, &end, 10);
			if (errno || *end || mem_devices > 1000) {
				ctl_err("--memory-devices: '%s' is not between 0 and 1000",
					optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'h':
			ctl_usage_bench(stdout);
			return CTL_EXIT_OK;
		default:
			if (ctl_common_option(opts, opt, optarg) == 0)
				break;
			fputs("Try '" CTL_NAME " help bench'.\n", stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		ctl_err("bench: %s", optind == argc ? "missing SOCKET_PATH" :
						      "too many arguments");
		return CTL_EXIT_USAGE;
	}

	dev = ctl_connect(opts, argv[optind]);
	if (!dev)
		return CTL_EXIT_FAILURE;
	if (find_doorbell(dev, VFIO_USER_IO_FD_TYPE_IOEVENTFD, &db)) {
		ctl_err("bench: the server offers no ioeventfd sub-region to use as a doorbell");
		vuc_device_free(dev);
		return CTL_EXIT_FAILURE;
	}
	have_shadow = !find_doorbell(dev, VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW,
				     &shadow_db);
	vuc_device_free(dev);

	if (bench_floor(seconds))
		return CTL_EXIT_FAILURE;
	if (rt_measure(opts, argv[optind], &db, seconds, rounds, rt))
		return CTL_EXIT_FAILURE;
	rt_print(rt, seconds, rounds);
	if (qd_bench(opts, argv[optind], seconds, rounds, rt[RT_KERNEL_READ]) ||
	    dma_bench(opts, argv[optind], rounds))
		return CTL_EXIT_FAILURE;
	if (bench_dma_service(opts, argv[optind], seconds, rounds) ||
	    bench_dma_maps(opts, argv[optind], seconds, rounds))
		return CTL_EXIT_FAILURE;
	if (mem_devices && bench_memory(opts, (unsigned int)mem_devices))
		return CTL_EXIT_FAILURE;

	if (measure(opts, argv[optind], 0, 0, &db, seconds, &ioev) ||
	    measure(opts, argv[optind], VUC_OPT_NO_IO_FDS, 0, &db, seconds,
		    &msg) ||
	    measure(opts, argv[optind], VUC_OPT_NO_IO_FDS, 1U << db.region, &db,
		    seconds, &posted))
		return CTL_EXIT_FAILURE;
	if (have_shadow &&
	    measure(opts, argv[optind], 0, 0, &shadow_db, seconds, &shadow))
		return CTL_EXIT_FAILURE;
	/* The same posted writes to a server that takes no REGION_WRITE_MULTI. */
	if (plain_server &&
	    measure(opts, plain_server, VUC_OPT_NO_IO_FDS, 1U << db.region, &db,
		    seconds, &posted_plain))
		return CTL_EXIT_FAILURE;

	printf("Doorbell: region %u offset 0x%llx, %zu-byte writes, %.1f s each way\n",
	       db.region, (unsigned long long)db.offset, db.width, seconds);
	bench_figure("doorbell", "ioeventfd", ioev, "writes/s");
	bench_figure("doorbell", "REGION_WRITE, waiting for each reply", msg,
		     "writes/s");
	bench_figure("doorbell", "REGION_WRITE, posted", posted, "writes/s");
	printf("  ioeventfd (kernel signals, no message)  %12.0f writes/s\n",
	       ioev);
	if (have_shadow) {
		printf("  shadow ioeventfd at 0x%llx (value stored, then signalled)\n"
		       "                                           %12.0f writes/s\n",
		       (unsigned long long)shadow_db.offset, shadow);
		bench_figure("doorbell", "shadow ioeventfd", shadow,
			     "writes/s");
	} else {
		printf("  shadow ioeventfd: the server offers none\n");
	}
	printf("  REGION_WRITE, waiting for each reply     %12.0f writes/s\n",
	       msg);
	printf("  REGION_WRITE, posted                     %12.0f writes/s\n",
	       posted);
	if (plain_server) {
		printf("  REGION_WRITE, posted, no WRITE_MULTI     %12.0f writes/s\n",
		       posted_plain);
		bench_figure("doorbell", "REGION_WRITE, posted, no WRITE_MULTI",
			     posted_plain, "writes/s");
	}
	printf("  ioeventfd / REGION_WRITE: %.1fx; posted / REGION_WRITE: %.1fx\n",
	       ioev / msg, posted / msg);
	if (have_shadow)
		printf("  shadow ioeventfd / REGION_WRITE: %.1fx; / ioeventfd: %.2fx\n",
		       shadow / msg, shadow / ioev);
	if (json && bench_write_json(json))
		return CTL_EXIT_FAILURE;
	return CTL_EXIT_OK;
}
