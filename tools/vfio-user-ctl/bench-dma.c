// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl bench: the server's DMA.
 *
 * DMA service: the sample server's DMA engine reads (DMA_READ) or fills
 * (DMA_WRITE) memory the client mapped without an fd, so that every byte
 * goes through the client, in requests of 8 B to 1 MiB
 * (SAMPLE_REG_DMA_CHUNK); served by the kernel and by the library's
 * userspace backend, against the raw stream at the same sizes, measured
 * in the same alternating rounds.
 * The time is the client's, from the command register write to its
 * reply: the transfer runs before the write completes.
 *
 * Many maps: the same service with 10,000 more mappings around the one
 * the requests hit, bracketed by runs with that one alone.
 *
 * Kernel memory: what attaching idle devices to the kernel costs, and
 * 10,000 maps on one of them, from the counters of /proc/meminfo and, when
 * the bench can make a cgroup of its own, the kernel memory charged to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ctl.h"
#include "sample-device.h"
#include "util.h"

#define DMA_IOVA 0x200000000ULL
#define DMA_MEM SAMPLE_DMA_MAX_LEN
#define MANY_MAPS 10000
#define PAGE 4096ULL
#define DMA_TIMEOUT_MS 60000
/*
 * The stream's send buffer: what the kernel gives its own sockets (two
 * messages of the most data either side takes), so that the floor is not
 * slowed by a smaller buffer than the path it is the floor of.
 */
#define STREAM_SNDBUF (2 * ((1 << 20) + 64))

static const size_t dma_sizes[] = { 8, 4096, 65536, 1 << 20 };

struct dma_conn {
	struct vuc_device *dev;
	bool kernel;
};

static int bar0_write(const struct dma_conn *c, uint64_t off, uint64_t val,
		      size_t width)
{
	ssize_t n;

	if (c->kernel)
		n = pwrite(vuc_device_fd(c->dev), &val, width,
			   (off_t)(VFIO_USER_REGION_OFFSET(
					   VFIO_PCI_BAR0_REGION_INDEX) +
				   off));
	else
		n = vuc_region_write(c->dev, VFIO_PCI_BAR0_REGION_INDEX, off,
				     &val, width);
	return n == (ssize_t)width ? 0 : -1;
}

static int bar0_read(const struct dma_conn *c, uint64_t off, uint64_t *val,
		     size_t width)
{
	ssize_t n;

	*val = 0;
	if (c->kernel)
		n = pread(vuc_device_fd(c->dev), val, width,
			  (off_t)(VFIO_USER_REGION_OFFSET(
					  VFIO_PCI_BAR0_REGION_INDEX) +
				  off));
	else
		n = vuc_region_read(c->dev, VFIO_PCI_BAR0_REGION_INDEX, off,
				    val, width);
	return n == (ssize_t)width ? 0 : -1;
}

static int dma_connect(const struct ctl_opts *base, const char *path,
		       bool kernel, void *mem, struct dma_conn *c)
{
	struct ctl_opts o = *base;
	int ret;

	o.vuc.flags &= ~(VUC_OPT_KERNEL | VUC_OPT_USERSPACE);
	o.vuc.flags |= kernel ? VUC_OPT_KERNEL : VUC_OPT_USERSPACE;
	/* A command register write waits for a whole transfer. */
	if (o.vuc.timeout_ms < DMA_TIMEOUT_MS)
		o.vuc.timeout_ms = DMA_TIMEOUT_MS;
	c->kernel = kernel;
	c->dev = ctl_connect(&o, path);
	if (!c->dev)
		return -1;
	/* No fd: the server reaches the memory through us alone. */
	ret = vuc_dma_map(c->dev, DMA_IOVA, DMA_MEM, mem,
			  VUC_DMA_READ | VUC_DMA_WRITE, -1, 0);
	if (ret) {
		ctl_err("bench: DMA map: %s", vuc_strerror(c->dev));
		vuc_device_free(c->dev);
		c->dev = NULL;
		return -1;
	}
	return 0;
}

/*
 * Bytes per second the server moves in @size-byte requests, reading
 * (DMA_READ) or writing (DMA_WRITE), for @seconds.
 */
static int dma_rate(const struct dma_conn *c, size_t size, bool write,
		    double seconds, double *rate)
{
	uint32_t len = size * 64 < DMA_MEM ? size * 64 : DMA_MEM;
	uint64_t before, after, status, n = 0;
	double t0, t;

	if (bar0_write(c, SAMPLE_REG_DMA_CHUNK, size, 4) ||
	    bar0_write(c, SAMPLE_REG_DMA_SRC, DMA_IOVA, 8) ||
	    bar0_write(c, SAMPLE_REG_DMA_DST, DMA_IOVA, 8) ||
	    bar0_write(c, SAMPLE_REG_DMA_LEN, len, 4) ||
	    bar0_read(c, SAMPLE_REG_DMA_COUNT, &before, 4))
		goto fail;
	t0 = bench_now();
	do {
		if (bar0_write(c, SAMPLE_REG_DMA_CMD,
			       write ? SAMPLE_DMA_CMD_FILL :
				       SAMPLE_DMA_CMD_READ,
			       4))
			goto fail;
		n++;
		t = bench_now() - t0;
	} while (t < seconds);
	if (bar0_read(c, SAMPLE_REG_DMA_COUNT, &after, 4) ||
	    bar0_read(c, SAMPLE_REG_DMA_STATUS, &status, 4))
		goto fail;
	if (status || (uint32_t)(after - before) != n) {
		ctl_err("bench: the server's DMA failed: %s (%llu of %llu transfers done)",
			strerror((int)status),
			(unsigned long long)(uint32_t)(after - before),
			(unsigned long long)n);
		return -1;
	}
	*rate = (double)n * len / t;
	return 0;
fail:
	ctl_err("bench: DMA engine register: %s",
		c->kernel ? strerror(errno) : vuc_strerror(c->dev));
	return -1;
}

static const char *backend_name(bool kernel)
{
	return kernel ? "kernel" : "userspace backend";
}

static void size_name(size_t size, char *buf, size_t len)
{
	if (size >= (1 << 20))
		snprintf(buf, len, "%zu MiB", size >> 20);
	else if (size >= 1024)
		snprintf(buf, len, "%zu KiB", size >> 10);
	else
		snprintf(buf, len, "%zu B", size);
}

int bench_dma_service(const struct ctl_opts *opts, const char *path,
		      double seconds, unsigned int rounds)
{
	double rate[2][2][ARRAY_SIZE(dma_sizes)] = { 0 };
	double stream[ARRAY_SIZE(dma_sizes)] = { 0 };
	struct dma_conn c;
	unsigned int r, k, w, i;
	void *mem;

	mem = mmap(NULL, DMA_MEM, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		ctl_err("bench: mmap: %s", strerror(errno));
		return -1;
	}
	memset(mem, 0x5a, DMA_MEM);
	/*
	 * Rounds alternate the stream and the backends (the server takes one
	 * client at a time), so that a busy moment slows all alike.
	 */
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < ARRAY_SIZE(dma_sizes); i++) {
			double x;

			if (bench_stream(dma_sizes[i], seconds / rounds,
					 STREAM_SNDBUF, &x))
				goto fail;
			stream[i] += x / rounds;
		}
		for (k = 0; k < 2; k++) {
			if (dma_connect(opts, path, k, mem, &c))
				goto fail;
			for (i = 0; i < ARRAY_SIZE(dma_sizes); i++)
				for (w = 0; w < 2; w++) {
					double x;

					if (dma_rate(&c, dma_sizes[i], w,
						     seconds / rounds, &x)) {
						vuc_device_free(c.dev);
						goto fail;
					}
					rate[k][w][i] += x / rounds;
				}
			vuc_device_free(c.dev);
		}
	}
	munmap(mem, DMA_MEM);

	printf("DMA service: the server's DMA_READ/DMA_WRITE of memory mapped without an fd,\n"
	       "  %u alternating rounds, %.1f s per figure (KB/s: 1000 bytes per second);\n"
	       "  stream: two processes, a %d-byte send buffer as the kernel's sockets have\n",
	       rounds, seconds, STREAM_SNDBUF);
	printf("  %-22s %12s %12s %12s %8s %8s %8s\n", "request size",
	       "kernel KB/s", "user KB/s", "stream KB/s", "k/strm", "k/user",
	       "u/strm");
	for (i = 0; i < ARRAY_SIZE(dma_sizes); i++) {
		char sz[32], name[64];

		size_name(dma_sizes[i], sz, sizeof(sz));
		snprintf(name, sizeof(name), "stream, %s sends", sz);
		bench_figure("dma service", name, stream[i], "bytes/s");
	}
	for (w = 0; w < 2; w++)
		for (i = 0; i < ARRAY_SIZE(dma_sizes); i++) {
			double s = stream[i];
			char sz[32], name[64];

			size_name(dma_sizes[i], sz, sizeof(sz));
			printf("  %-10s %-11s %12.1f %12.1f %12.1f %7.2fx %7.2fx %7.2fx\n",
			       w ? "DMA_WRITE" : "DMA_READ", sz,
			       rate[1][w][i] / 1e3, rate[0][w][i] / 1e3,
			       s / 1e3, rate[1][w][i] / s,
			       rate[1][w][i] / rate[0][w][i],
			       rate[0][w][i] / s);
			for (k = 0; k < 2; k++) {
				snprintf(name, sizeof(name), "%s: %s, %s",
					 backend_name(k),
					 w ? "DMA_WRITE" : "DMA_READ", sz);
				bench_figure("dma service", name, rate[k][w][i],
					     "bytes/s");
			}
		}
	printf("  targets: kernel >= 0.9x stream at 1 MiB (read %.2fx, write %.2fx); kernel >= 1.5x userspace at 8 B (read %.2fx, write %.2fx)\n",
	       rate[1][0][3] / stream[3], rate[1][1][3] / stream[3],
	       rate[1][0][0] / rate[0][0][0], rate[1][1][0] / rate[0][1][0]);
	return 0;
fail:
	munmap(mem, DMA_MEM);
	return -1;
}

static uint64_t many_iova(unsigned int i)
{
	return i < MANY_MAPS / 2 ?
		       DMA_IOVA - (MANY_MAPS / 2 - i) * PAGE :
		       DMA_IOVA + DMA_MEM + (i - MANY_MAPS / 2) * PAGE;
}

/* The kernel's batch calls, VFIO_USER_DMA_BATCH_MAX entries at a time. */
static int many_maps_batched(struct vuc_device *dev, void *page, bool map)
{
	static struct vfio_user_map_dma maps[VFIO_USER_DMA_BATCH_MAX];
	static struct vfio_user_unmap_dma unmaps[VFIO_USER_DMA_BATCH_MAX];
	unsigned int i, j, n;

	for (i = 0; i < MANY_MAPS; i += n) {
		struct vfio_user_dma_batch b = { .argsz = sizeof(b) };

		n = MANY_MAPS - i < VFIO_USER_DMA_BATCH_MAX ?
			    MANY_MAPS - i :
			    VFIO_USER_DMA_BATCH_MAX;
		for (j = 0; j < n; j++) {
			maps[j] = (struct vfio_user_map_dma){
				.argsz = sizeof(maps[j]),
				.flags = VFIO_USER_MAP_DMA_READ |
					 VFIO_USER_MAP_DMA_WRITE,
				.vaddr = (uintptr_t)page,
				.iova = many_iova(i + j),
				.size = PAGE,
			};
			unmaps[j] = (struct vfio_user_unmap_dma){
				.argsz = sizeof(unmaps[j]),
				.iova = many_iova(i + j),
				.size = PAGE,
			};
		}
		b.count = n;
		b.entries = map ? (uintptr_t)maps : (uintptr_t)unmaps;
		if (ioctl(vuc_device_fd(dev),
			  map ? VFIO_USER_MAP_DMA_BATCH :
				VFIO_USER_UNMAP_DMA_BATCH,
			  &b)) {
			ctl_err("bench: DMA %s batch: %s",
				map ? "map" : "unmap", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * MANY_MAPS one-page mappings of @page, half below DMA_IOVA and half
 * above, in ascending order; or unmap them.
 */
static int many_maps(struct vuc_device *dev, void *page, bool map)
{
	unsigned int i;

	if (vuc_device_fd(dev) >= 0)
		return many_maps_batched(dev, page, map);
	for (i = 0; i < MANY_MAPS; i++) {
		uint64_t iova = many_iova(i);
		int ret = map ? vuc_dma_map(dev, iova, PAGE, page,
					    VUC_DMA_READ | VUC_DMA_WRITE, -1,
					    0) :
				vuc_dma_unmap(dev, iova, PAGE);

		if (ret) {
			ctl_err("bench: %s %u of %u: %s", map ? "map" : "unmap",
				i + 1, MANY_MAPS, vuc_strerror(dev));
			return -1;
		}
	}
	return 0;
}

#define NR_MAP_SIZES 2

/*
 * DMA_READ at 8 B and 4 KiB with one map and with MANY_MAPS more, in
 * turns: one, many, one, ... one, so that drift shows in neither side
 * alone. The kernel maps in batches and alternates @rounds times; the
 * userspace backend maps one call at a time and alternates once.
 */
int bench_dma_maps(const struct ctl_opts *opts, const char *path,
		   double seconds, unsigned int rounds)
{
	/* [backend][size][0: one map, 1: many] */
	double rate[2][NR_MAP_SIZES][2] = { 0 };
	struct dma_conn c;
	unsigned int k, i, step, turns;
	void *mem, *page;
	int ret = -1;

	mem = mmap(NULL, DMA_MEM + PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		ctl_err("bench: mmap: %s", strerror(errno));
		return -1;
	}
	memset(mem, 0x5a, DMA_MEM + PAGE);
	page = (uint8_t *)mem + DMA_MEM;
	for (k = 0; k < 2; k++) {
		turns = k ? rounds : 1;
		if (dma_connect(opts, path, k, mem, &c))
			goto out;
		for (step = 0; step <= 2 * turns; step++) {
			bool many = step & 1;

			if (many && many_maps(c.dev, page, true))
				goto out_free;
			for (i = 0; i < NR_MAP_SIZES; i++) {
				double x;

				if (dma_rate(&c, dma_sizes[i], false,
					     seconds / (turns + 1), &x))
					goto out_free;
				rate[k][i][many] +=
					x / (many ? turns : turns + 1);
			}
			if (many && many_maps(c.dev, page, false))
				goto out_free;
		}
		vuc_device_free(c.dev);
	}
	ret = 0;

	printf("DMA service with many maps: DMA_READ into one mapping, alone and with %u more\n",
	       MANY_MAPS);
	printf("  %-34s %12s %12s %10s\n", "", "1 map KB/s", "10001 KB/s",
	       "many/one");
	for (k = 2; k-- > 0;)
		for (i = 0; i < NR_MAP_SIZES; i++) {
			char sz[32], name[80];

			size_name(dma_sizes[i], sz, sizeof(sz));
			snprintf(name, sizeof(name), "%s, %s requests",
				 backend_name(k), sz);
			printf("  %-34s %12.1f %12.1f %9.3fx\n", name,
			       rate[k][i][0] / 1e3, rate[k][i][1] / 1e3,
			       rate[k][i][1] / rate[k][i][0]);
			snprintf(name, sizeof(name), "%s: DMA_READ %s, 1 map",
				 backend_name(k), sz);
			bench_figure("dma maps cost", name, rate[k][i][0],
				     "bytes/s");
			snprintf(name, sizeof(name),
				 "%s: DMA_READ %s, 10001 maps", backend_name(k),
				 sz);
			bench_figure("dma maps cost", name, rate[k][i][1],
				     "bytes/s");
		}
	printf("  target: 10,000 maps cost the kernel <= 10%% (8 B: %.1f%%, 4 KiB: %.1f%%)\n",
	       100 * (1 - rate[1][0][1] / rate[1][0][0]),
	       100 * (1 - rate[1][1][1] / rate[1][1][0]));
	goto out;
out_free:
	vuc_device_free(c.dev);
out:
	munmap(mem, DMA_MEM + PAGE);
	return ret;
}

/* Kernel memory ----------------------------------------------------------- */

struct mem_counters {
	double meminfo_kernel; /* Slab + KernelStack + VmallocUsed + Percpu */
	double kernel_stack;
	double mem_free;
	double memcg_kernel; /* memory.stat "kernel", < 0 without a cgroup */
};

static double meminfo_field(const char *text, const char *field)
{
	const char *p = strstr(text, field);

	return p ? strtod(p + strlen(field), NULL) * 1024 : 0;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void read_counters(const char *cg, struct mem_counters *m)
{
	char buf[8192], path[256];

	/* Let RCU-freed objects and per-cpu caches settle a little. */
	usleep(200 * 1000);
	memset(m, 0, sizeof(*m));
	if (!read_file("/proc/meminfo", buf, sizeof(buf))) {
		m->kernel_stack = meminfo_field(buf, "\nKernelStack:");
		m->meminfo_kernel = meminfo_field(buf, "\nSlab:") +
				    m->kernel_stack +
				    meminfo_field(buf, "\nVmallocUsed:") +
				    meminfo_field(buf, "\nPercpu:");
		m->mem_free = meminfo_field(buf, "MemFree:");
	}
	m->memcg_kernel = -1;
	if (!cg)
		return;
	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	if (!read_file(path, buf, sizeof(buf))) {
		char *p = strstr(buf, "\nkernel ");

		if (p)
			m->memcg_kernel = strtod(p + 8, NULL);
	}
}

/* A cgroup of our own, so that what is charged to us can be read. */
static const char *cgroup_enter(char *dir, size_t len)
{
	char pid[32], procs[300], stat[300];

	snprintf(dir, len, "/sys/fs/cgroup/vfio-user-bench.%d", (int)getpid());
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	snprintf(stat, sizeof(stat), "%s/memory.stat", dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	/* Fails harmlessly if it is on already, or cannot be. */
	(void)write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (mkdir(dir, 0755))
		return NULL;
	if (access(stat, R_OK) || write_file(procs, pid)) {
		rmdir(dir);
		return NULL;
	}
	return dir;
}

static void cgroup_leave(const char *dir)
{
	char pid[32];

	if (!dir)
		return;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	(void)write_file("/sys/fs/cgroup/cgroup.procs", pid);
	rmdir(dir);
}

/* A sample server on a socket pair, found on PATH; our end, or -1. */
static int server_start(pid_t *pid)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	*pid = fork();
	if (*pid == 0) {
		char arg[32];
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		fcntl(sv[1], F_SETFD, 0);
		snprintf(arg, sizeof(arg), "--fd=%d", sv[1]);
		execlp("vfio-user-sample-server", "vfio-user-sample-server",
		       arg, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	if (*pid < 0) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

static void print_mem(const char *what, const struct mem_counters *a,
		      const struct mem_counters *b, double n, const char *name)
{
	char fig[96];
	double cg = b->memcg_kernel - a->memcg_kernel;

	printf("  %-26s %12.1f %12.1f %12.1f %12.1f\n", what,
	       a->memcg_kernel >= 0 ? cg / n / 1024 : -1,
	       (b->meminfo_kernel - a->meminfo_kernel) / n / 1024,
	       (b->kernel_stack - a->kernel_stack) / n / 1024,
	       (a->mem_free - b->mem_free) / n / 1024);
	if (a->memcg_kernel >= 0) {
		snprintf(fig, sizeof(fig), "%s, charged to the cgroup", name);
		bench_figure("kernel memory", fig, cg / n, "bytes");
	}
	snprintf(fig, sizeof(fig), "%s, meminfo kernel counters", name);
	bench_figure("kernel memory", fig,
		     (b->meminfo_kernel - a->meminfo_kernel) / n, "bytes");
	snprintf(fig, sizeof(fig), "%s, MemFree drop", name);
	bench_figure("kernel memory", fig, (a->mem_free - b->mem_free) / n,
		     "bytes");
}

int bench_memory(const struct ctl_opts *opts, unsigned int ndev)
{
	struct mem_counters before, attached, mapped;
	struct vuc_device **devs;
	struct ctl_opts o = *opts;
	char dir[256];
	const char *cg;
	unsigned int i, up = 0;
	pid_t *pids;
	int *socks, ret = -1;
	void *page;

	devs = calloc(ndev, sizeof(*devs));
	pids = calloc(ndev, sizeof(*pids));
	socks = calloc(ndev, sizeof(*socks));
	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!devs || !pids || !socks || page == MAP_FAILED) {
		ctl_err("bench: out of memory");
		goto out_free;
	}
	/* The servers first, outside our cgroup. */
	for (up = 0; up < ndev; up++) {
		socks[up] = server_start(&pids[up]);
		if (socks[up] < 0) {
			ctl_err("bench: starting vfio-user-sample-server: %s",
				strerror(errno));
			goto out;
		}
	}
	cg = cgroup_enter(dir, sizeof(dir));
	o.vuc.flags &= ~VUC_OPT_USERSPACE;
	o.vuc.flags |= VUC_OPT_KERNEL;
	read_counters(cg, &before);
	for (i = 0; i < ndev; i++) {
		devs[i] = vuc_device_new(&o.vuc);
		if (!devs[i]) {
			ctl_err("bench: %s", strerror(errno));
			goto out_cg;
		}
		/* The handle owns the socket from here on, even on failure. */
		ret = vuc_connect_fd(devs[i], socks[i]);
		socks[i] = -1;
		if (ret) {
			ctl_err("bench: attaching device %u: %s", i,
				vuc_strerror(devs[i]));
			ret = -1;
			goto out_cg;
		}
	}
	read_counters(cg, &attached);
	if (many_maps(devs[0], page, true))
		goto out_cg;
	read_counters(cg, &mapped);
	ret = 0;

	printf("Kernel memory: %u idle devices attached, then %u maps on one (KiB)\n",
	       ndev, MANY_MAPS);
	printf("  %-26s %12s %12s %12s %12s\n", "", "memcg kernel", "meminfo",
	       "KernelStack", "MemFree drop");
	print_mem("per idle device", &before, &attached, ndev,
		  "per idle device");
	print_mem("per 10,000 maps", &attached, &mapped, 1, "per 10000 maps");
	printf("  memcg kernel: memory.stat \"kernel\" of a cgroup the bench made for itself%s;\n"
	       "  meminfo: Slab + KernelStack + VmallocUsed + Percpu of the whole VM (the servers' share too);\n"
	       "  target: <= 16 KiB per idle device\n",
	       cg ? "" : " (none could be made: -1)");
out_cg:
	for (i = 0; i < ndev; i++)
		vuc_device_free(devs[i]);
	cgroup_leave(cg);
out:
	for (i = 0; i < up; i++) {
		int status;

		if (socks[i] >= 0)
			close(socks[i]);
		waitpid(pids[i], &status, 0);
	}
out_free:
	if (page != MAP_FAILED)
		munmap(page, PAGE);
	free(devs);
	free(pids);
	free(socks);
	return ret;
}
