// SPDX-License-Identifier: GPL-2.0
/*
 * Observability: the vfio_user tracepoints (a region read's round trip,
 * a DMA request served, the end of a connection), the per-device counters
 * in debugfs and in the device fd's fdinfo, and the debugfs file of a
 * device that goes away while the file is open.
 *
 * Tracing goes to an instance of its own, so that nothing else enabled in
 * the global buffer mixes in.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

#define TRACEFS		"/sys/kernel/tracing"
#define DEBUGFS		"/sys/kernel/debug"
#define INSTANCE	TRACEFS "/instances/vfio_user_observe"
#define IOVA		0x100000000ULL
#define BUF_SIZE	(1 << 20)

/* Mount @type at @dir unless it is there already; 0 or -errno. */
static int ensure_mounted(const char *type, const char *dir,
			  const char *probe)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, probe);
	if (!access(path, F_OK))
		return 0;
	if (mount("nodev", dir, type, 0, NULL) && errno != EBUSY)
		return -errno;
	return access(path, F_OK) ? -ENOENT : 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

/* All of a file (a few pages at most here), NUL-terminated; free() it. */
static char *read_file(const char *path)
{
	size_t len = 0, room = 65536;
	char *buf = malloc(room);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0 || !buf) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	for (;;) {
		if (room - len < 4096) {
			char *bigger = realloc(buf, room * 2);

			if (!bigger)
				break;
			buf = bigger;
			room *= 2;
		}
		n = read(fd, buf + len, room - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* The value of "key: value" in @text, or -1. */
static long long stat_value(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* A per-command counter: shown only once it is not 0. */
static long long cmd_value(const char *text, const char *key)
{
	long long v = stat_value(text, key);

	return v < 0 ? 0 : v;
}

static char *fdinfo(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return read_file(path);
}

/* The device's name ("vfio-user<N>") from its fdinfo, into @name. */
static int device_name(int fd, char *name, size_t len)
{
	char *info = fdinfo(fd), *p, *end;
	int ret = -ENOENT;

	if (!info)
		return -errno;
	p = strstr(info, "\nname: ");
	if (p) {
		p += strlen("\nname: ");
		end = strchr(p, '\n');
		if (end && (size_t)(end - p) < len) {
			memcpy(name, p, end - p);
			name[end - p] = '\0';
			ret = 0;
		}
	}
	free(info);
	return ret;
}

/* The numeric value of "key=" in one trace line, or -1. */
static long long field(const char *line, const char *key)
{
	char pat[32];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	return p ? strtoll(p + strlen(pat), NULL, 0) : -1;
}

/* Lines of @trace holding @what, for device @dev, one by one. */
static const char *next_event(const char *trace, const char *what, int dev,
			      const char **line_end)
{
	const char *p = trace;
	char tag[64];

	snprintf(tag, sizeof(tag), "%s: dev=%d ", what, dev);
	while ((p = strstr(p, tag))) {
		*line_end = strchr(p, '\n');
		return p + strlen(what) + 1;
	}
	return NULL;
}

FIXTURE(observe)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
	int id;
	char name[32];
	bool tracing;
	uint8_t *buf;
};

FIXTURE_SETUP(observe)
{
	struct vuc_options opts = { .flags = VUC_OPT_KERNEL };

	self->tracing = false;
	self->buf = MAP_FAILED;
	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	self->dev = vu_attach(self->srv.path, &opts);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
	ASSERT_EQ(0, device_name(self->fd, self->name, sizeof(self->name)));
	ASSERT_EQ(1, sscanf(self->name, "vfio-user%d", &self->id));
	/* Fd-less memory: the server reaches it with DMA_READ/DMA_WRITE. */
	self->buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	ASSERT_EQ(0, vu_map_dma(self->fd, self->buf, IOVA, BUF_SIZE, -1, 0));
}

FIXTURE_TEARDOWN(observe)
{
	if (self->tracing) {
		write_file(INSTANCE "/events/vfio_user/enable", "0");
		rmdir(INSTANCE);
	}
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, BUF_SIZE);
	if (self->srv.pid > 0)
		vu_server_stop(&self->srv);
}

/*
 * A tracing instance with the vfio_user events on: 0, -ENOTSUP without
 * tracefs, another -errno when the events are missing or cannot be set.
 */
static int start_tracing(struct __test_metadata *_metadata,
			 FIXTURE_DATA(observe) *self)
{
	/* A kernel without tracing (CONFIG_TRACING) has no tracefs: skip. */
	if (ensure_mounted("tracefs", TRACEFS, "instances"))
		return -ENOTSUP;
	if (mkdir(INSTANCE, 0700) && errno != EEXIST)
		return -errno;
	self->tracing = true;
	if (access(INSTANCE "/events/vfio_user/enable", F_OK))
		return -ENOENT;
	EXPECT_EQ(0, write_file(INSTANCE "/trace", ""));
	return write_file(INSTANCE "/events/vfio_user/enable", "1");
}

/*
 * One region read: the trace shows its REGION_READ sent, and the reply
 * with the same id and its round-trip latency. A DMA of the server's,
 * served in the kernel, shows as a vfio_user_dma event.
 */
TEST_F(observe, trace_round_trip_and_dma)
{
	long long id, size, lat = -1;
	const char *p, *end, *send_line = NULL;
	uint32_t v = 0, status = ~0U;
	char *trace;
	int ret;

	ret = start_tracing(_metadata, self);
	if (ret == -ENOTSUP)
		SKIP(return, "no tracefs");
	ASSERT_EQ(0, ret) TH_LOG("enabling the vfio_user events: %s",
				 strerror(-ret));

	ASSERT_EQ(0, vu_reg_read32(self->fd, SAMPLE_REG_ID, &v));
	ASSERT_EQ(SAMPLE_ID_VALUE, v);
	ASSERT_EQ(0, vu_reg_write64(self->fd, SAMPLE_REG_DMA_DST, IOVA + 64));
	ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_DMA_LEN, 32));
	ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_DMA_FILL, 0x5a));
	ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_DMA_CMD,
				    SAMPLE_DMA_CMD_FILL));
	ASSERT_EQ(0, vu_reg_read32(self->fd, SAMPLE_REG_DMA_STATUS, &status));
	ASSERT_EQ(0U, status);
	ASSERT_EQ(0x5a, self->buf[64]);
	ASSERT_EQ(0, write_file(INSTANCE "/tracing_on", "0"));

	trace = read_file(INSTANCE "/trace");
	ASSERT_NE(NULL, trace);

	/* The first REGION_READ sent, and the reply with its id. */
	for (p = trace; (p = next_event(p, "vfio_user_msg_send", self->id,
					&end)); p = end) {
		if (field(p, "cmd") == VFIO_USER_REGION_READ) {
			send_line = p;
			break;
		}
	}
	ASSERT_NE(NULL, send_line) TH_LOG("no REGION_READ sent in:\n%s", trace);
	id = field(send_line, "id");
	size = field(send_line, "size");
	EXPECT_EQ((long long)(sizeof(struct vfio_user_header) +
			      sizeof(struct vfio_user_region_access)), size);
	EXPECT_EQ(0, field(send_line, "flags"));
	for (p = send_line; (p = next_event(p, "vfio_user_msg_recv", self->id,
					    &end)); p = end) {
		if (field(p, "cmd") == VFIO_USER_REGION_READ &&
		    field(p, "id") == id) {
			lat = field(p, "latency_ns");
			EXPECT_EQ(size + 4, field(p, "size"));
			EXPECT_EQ(VFIO_USER_F_TYPE_REPLY, field(p, "flags"));
			break;
		}
	}
	EXPECT_GT(lat, 0) TH_LOG("no reply to id %lld with a latency in:\n%s",
				 id, trace);

	/* The fill went out as DMA_WRITE of 32 bytes at IOVA + 64. */
	p = strstr(trace, "DMA_WRITE addr=");
	ASSERT_NE(NULL, p) TH_LOG("no DMA event in:\n%s", trace);
	EXPECT_EQ((long long)(IOVA + 64), strtoll(p + strlen("DMA_WRITE addr="),
						  NULL, 16));
	EXPECT_EQ(32, field(p, "count"));
	EXPECT_EQ(0, field(p, "result"));
	free(trace);
}

/* A server that dies breaks the connection: the event names why. */
TEST_F(observe, trace_conn_broken)
{
	const char *p, *end;
	char *trace;
	int ret;

	ret = start_tracing(_metadata, self);
	if (ret == -ENOTSUP)
		SKIP(return, "no tracefs");
	ASSERT_EQ(0, ret) TH_LOG("enabling the vfio_user events: %s",
				 strerror(-ret));
	vu_server_stop(&self->srv);
	self->srv.pid = 0;
	ASSERT_NE(0, vu_wait_broken(self->fd, VU_WAIT_MS));
	trace = read_file(INSTANCE "/trace");
	ASSERT_NE(NULL, trace);
	p = next_event(trace, "vfio_user_conn_broken", self->id, &end);
	ASSERT_NE(NULL, p) TH_LOG("no conn_broken event in:\n%s", trace);
	EXPECT_EQ(-ENOTCONN, field(p, "err"));
	free(trace);
}

/*
 * The module's debug messages name the device: with dynamic debug on, a
 * broken connection is logged as "vfio_user: vfio-user<N>: ...".
 */
TEST_F(observe, debug_messages_name_the_device)
{
	const char *ctl = DEBUGFS "/dynamic_debug/control";
	char rec[1024], want[128];
	bool found = false;
	ssize_t n;
	int kmsg;

	if (ensure_mounted("debugfs", DEBUGFS, "dynamic_debug/control"))
		SKIP(return, "no dynamic debug (CONFIG_DYNAMIC_DEBUG)");
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, kmsg);
	ASSERT_EQ(0, (int)lseek(kmsg, 0, SEEK_END));
	ASSERT_EQ(0, write_file(ctl, "module vfio_user +p"));
	vu_server_stop(&self->srv);
	self->srv.pid = 0;
	ASSERT_NE(0, vu_wait_broken(self->fd, VU_WAIT_MS));
	write_file(ctl, "module vfio_user -p");

	snprintf(want, sizeof(want), "vfio_user: %s: connection broken: -ENOTCONN",
		 self->name);
	while ((n = read(kmsg, rec, sizeof(rec) - 1)) > 0 || errno == EPIPE) {
		if (n <= 0)
			continue;	/* overwritten records: go on */
		rec[n] = '\0';
		if (strstr(rec, want)) {
			found = true;
			break;
		}
	}
	close(kmsg);
	EXPECT_TRUE(found) TH_LOG("no '%s' in the kernel log", want);
}

/* The counters move as the device is used, in fdinfo and in debugfs. */
TEST_F(observe, stats_count)
{
	char path[128], *before, *after, *dbg;
	uint32_t v, status = ~0U;
	int i;

	before = fdinfo(self->fd);
	ASSERT_NE(NULL, before);
	EXPECT_EQ(0, strncmp(strstr(before, "name: "), "name: vfio-user", 15));
	EXPECT_NE(NULL, strstr(before, "\nstate: connected\n"));
	EXPECT_EQ(getpid(), stat_value(before, "owner_pid"));
	EXPECT_EQ(self->srv.pid, stat_value(before, "server_pid"));

	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, vu_reg_read32(self->fd, SAMPLE_REG_ID, &v));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_SCRATCH, i));
	/* The doorbell is an ioeventfd: no message. */
	ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_DOORBELL, 1));
	ASSERT_EQ(0, vu_reg_write64(self->fd, SAMPLE_REG_DMA_DST, IOVA));
	ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_DMA_LEN, 100));
	ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_DMA_CMD,
				    SAMPLE_DMA_CMD_FILL));
	ASSERT_EQ(0, vu_reg_read32(self->fd, SAMPLE_REG_DMA_STATUS, &status));
	ASSERT_EQ(0U, status);
	/* A DMA outside every mapping is refused. */
	ASSERT_EQ(0, vu_reg_write64(self->fd, SAMPLE_REG_DMA_DST, 0x1000));
	ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_DMA_LEN, 8));
	ASSERT_EQ(0, vu_reg_write32(self->fd, SAMPLE_REG_DMA_CMD,
				    SAMPLE_DMA_CMD_FILL));

	after = fdinfo(self->fd);
	ASSERT_NE(NULL, after);
	/* 5 + 1 status reads; 3 + 3 + 3 writes; ioeventfd not a message */
	EXPECT_EQ(stat_value(before, "region_reads") + 6,
		  stat_value(after, "region_reads"));
	EXPECT_EQ(stat_value(before, "region_writes") + 9,
		  stat_value(after, "region_writes"));
	EXPECT_EQ(stat_value(before, "ioeventfd_signals") + 1,
		  stat_value(after, "ioeventfd_signals"));
	EXPECT_EQ(cmd_value(before, "sent_region_read") + 6,
		  cmd_value(after, "sent_region_read"));
	EXPECT_EQ(cmd_value(after, "sent_region_read"),
		  cmd_value(after, "received_region_read"));
	EXPECT_LE(cmd_value(before, "received_dma_write") + 2,
		  cmd_value(after, "received_dma_write"));
	EXPECT_LE(stat_value(before, "dma_writes") + 1,
		  stat_value(after, "dma_writes"));
	EXPECT_LE(stat_value(before, "dma_bytes") + 100,
		  stat_value(after, "dma_bytes"));
	EXPECT_LE(stat_value(before, "dma_errors") + 1,
		  stat_value(after, "dma_errors"));
	EXPECT_EQ(0, stat_value(after, "timeouts"));
	EXPECT_EQ(0, stat_value(after, "in_flight_async"));
	EXPECT_LT(stat_value(before, "msgs_sent"), stat_value(after, "msgs_sent"));

	/* debugfs says the same (as root; mounted if need be). */
	if (ensure_mounted("debugfs", DEBUGFS, "vfio_user")) {
		TH_LOG("no debugfs: its stats file not checked");
	} else {
		snprintf(path, sizeof(path), DEBUGFS "/vfio_user/%s/stats",
			 self->name);
		dbg = read_file(path);
		ASSERT_NE(NULL, dbg) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_EQ(stat_value(after, "region_writes"),
			  stat_value(dbg, "region_writes"));
		EXPECT_EQ(stat_value(after, "dma_bytes"),
			  stat_value(dbg, "dma_bytes"));
		free(dbg);
	}
	free(before);
	free(after);
}

struct reader {
	int fd;
	volatile bool stop;
	unsigned long reads, failures;
};

static void *reader_loop(void *arg)
{
	struct reader *r = arg;
	char buf[4096];

	while (!r->stop) {
		if (pread(r->fd, buf, sizeof(buf), 0) < 0)
			r->failures++;
		r->reads++;
	}
	return NULL;
}

/*
 * The debugfs file of a device outlives it: reads racing the release,
 * and reads after it, fail cleanly (EIO) or see the old text, never freed
 * memory (the debug kernel's KASAN would say so).
 */
TEST_F(observe, stats_file_outlives_device)
{
	struct reader r = { .fd = -1 };
	char path[128], buf[256];
	pthread_t thread;
	int i;

	if (ensure_mounted("debugfs", DEBUGFS, "vfio_user"))
		SKIP(return, "no debugfs with vfio_user");
	snprintf(path, sizeof(path), DEBUGFS "/vfio_user/%s/stats", self->name);
	r.fd = open(path, O_RDONLY);
	ASSERT_LE(0, r.fd) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_LT(0, pread(r.fd, buf, sizeof(buf), 0));
	ASSERT_EQ(0, pthread_create(&thread, NULL, reader_loop, &r));
	/* Let the reader get going; then release the device under it. */
	for (i = 0; i < 100 && r.reads < 20; i++)
		usleep(10000);
	vuc_device_free(self->dev);
	self->dev = NULL;
	usleep(50000);
	r.stop = true;
	pthread_join(thread, NULL);
	EXPECT_GT(r.reads, 0UL);
	errno = 0;
	EXPECT_EQ(-1, pread(r.fd, buf, sizeof(buf), 0));
	EXPECT_EQ(EIO, errno);
	close(r.fd);
	EXPECT_NE(0, access(path, F_OK));
}

TEST_HARNESS_MAIN
