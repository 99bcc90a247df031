// SPDX-License-Identifier: BSD-3-Clause
/*
 * Migration and dirty tracking in the library, against two sample servers
 * (samples/server) on the userspace backend: state arcs and refusals,
 * stream chunking within both sides' limits, a device moved byte for byte
 * with pre-copy while BAR2 changes, corrupt, truncated and foreign streams
 * leaving the destination in ERROR until reset, and the server's DMA log.
 *
 * The server comes from $VFIO_USER_SAMPLE_SERVER, else
 * ../bin/vfio-user-sample-server next to this program; without it the
 * tests are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "test_common.h"
#include "sample-device.h"

#define BAR0	VFIO_PCI_BAR0_REGION_INDEX
#define BAR2	VFIO_PCI_BAR2_REGION_INDEX

static bool find_server(char *path, size_t len)
{
	const char *env = getenv("VFIO_USER_SAMPLE_SERVER");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(path, len, "%s", env);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return false;
		exe[n] = '\0';
		snprintf(path, len, "%s/../bin/vfio-user-sample-server",
			 dirname(exe));
	}
	return access(path, X_OK) == 0;
}

/* A growing buffer: the saved stream. */
struct stream {
	uint8_t *data;
	size_t len;
	size_t cap;
};

static int sink(void *opaque, const void *buf, size_t len)
{
	struct stream *s = opaque;

	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1 << 20;
		uint8_t *p;

		while (cap < s->len + len)
			cap *= 2;
		p = realloc(s->data, cap);
		if (!p)
			return -ENOMEM;
		s->data = p;
		s->cap = cap;
	}
	memcpy(s->data + s->len, buf, len);
	s->len += len;
	return 0;
}

FIXTURE(mig) {
	struct fsrv *s;		/* unused; CHECK_CLEAN wants it */
	struct vuc_device *dev;	/* the source; freed by CHECK_CLEAN */
	struct vuc_device *dst;
	pid_t pid[2];
	struct stream st;
	int fds_before;
	unsigned int flags; /* more VUC_OPT_* for start() */
};

FIXTURE_SETUP(mig)
{
	self->fds_before = count_open_fds();
	self->pid[0] = self->pid[1] = -1;
}

static int reap(pid_t pid)
{
	int status, i;

	for (i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		fsrv_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

FIXTURE_TEARDOWN(mig)
{
	unsigned int i;

	vuc_device_free(self->dev);
	self->dev = NULL;
	vuc_device_free(self->dst);
	self->dst = NULL;
	for (i = 0; i < 2; i++)
		if (self->pid[i] > 0)
			EXPECT_EQ(0, reap(self->pid[i]));
	free(self->st.data);
	CHECK_CLEAN(self);
}

/*
 * Start server @which (0 source, 1 destination) with up to two extra
 * options and connect with a receive limit of @xfer (0: default).
 * Returns 1 if there is no server to test.
 */
static int start(FIXTURE_DATA(mig) *self, int which, uint32_t xfer,
		 const char *a1, const char *a2)
{
	struct vuc_options opts = {
		.timeout_ms = 5000, .flags = VUC_OPT_USERSPACE | self->flags,
		.max_data_xfer_size = xfer,
	};
	char path[PATH_MAX], fdarg[32];
	struct vuc_device **dev = which ? &self->dst : &self->dev;
	int sv[2];
	pid_t pid;

	if (!find_server(path, sizeof(path)))
		return 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (!getenv("VUC_TEST_SERVER_LOG") && null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		fcntl(sv[1], F_SETFD, 0);
		snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[1]);
		execl(path, path, fdarg, a1, a2, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -errno;
	}
	self->pid[which] = pid;
	*dev = vuc_device_new(&opts);
	if (!*dev) {
		close(sv[0]);
		return -errno;
	}
	return vuc_connect_fd(*dev, sv[0]);
}

#define START(self, which, xfer, a1, a2) do {				\
	int __ret = start(self, which, xfer, a1, a2);			\
									\
	if (__ret == 1)							\
		SKIP(return, "no sample server (set VFIO_USER_SAMPLE_SERVER)"); \
	ASSERT_EQ(0, __ret) TH_LOG("%s",				\
		vuc_strerror((which) ? (self)->dst : (self)->dev));	\
} while (0)

static uint32_t state_of(struct vuc_device *dev)
{
	uint32_t s = 0xffff;

	if (vuc_mig_get_state(dev, &s))
		return 0xffff;
	return s;
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

/* Put recognisable state in the device: BAR2, scratch registers, RAM. */
static void dirty_device(struct __test_metadata *_metadata,
			 struct vuc_device *dev, uint32_t seed)
{
	uint8_t *buf = malloc(SAMPLE_BAR2_SIZE);
	uint64_t v64 = 0x1122334455667788ULL ^ seed;
	uint32_t v = 0xabcd0000 | seed;

	ASSERT_NE(NULL, buf);
	fill_pattern(buf, SAMPLE_BAR2_SIZE, seed);
	ASSERT_EQ(SAMPLE_BAR2_SIZE,
		  vuc_region_write(dev, BAR2, 0, buf, SAMPLE_BAR2_SIZE));
	ASSERT_EQ(4, vuc_region_write(dev, BAR0, SAMPLE_REG_SCRATCH, &v, 4));
	ASSERT_EQ(8, vuc_region_write(dev, BAR0, SAMPLE_REG_SCRATCH64, &v64, 8));
	ASSERT_EQ(SAMPLE_SCRATCH_RAM_SIZE,
		  vuc_region_write(dev, BAR0, SAMPLE_SCRATCH_RAM_OFFSET, buf,
				   SAMPLE_SCRATCH_RAM_SIZE));
	free(buf);
}

/* BAR2, BAR0 scratch registers and RAM of both devices are equal. */
static void expect_same(struct __test_metadata *_metadata,
			struct vuc_device *a, struct vuc_device *b)
{
	uint8_t *x = malloc(SAMPLE_BAR2_SIZE), *y = malloc(SAMPLE_BAR2_SIZE);
	uint64_t ra, rb;

	ASSERT_NE(NULL, x);
	ASSERT_NE(NULL, y);
	ASSERT_EQ(SAMPLE_BAR2_SIZE, vuc_region_read(a, BAR2, 0, x, SAMPLE_BAR2_SIZE));
	ASSERT_EQ(SAMPLE_BAR2_SIZE, vuc_region_read(b, BAR2, 0, y, SAMPLE_BAR2_SIZE));
	EXPECT_EQ(0, memcmp(x, y, SAMPLE_BAR2_SIZE));
	ASSERT_EQ(SAMPLE_SCRATCH_RAM_SIZE,
		  vuc_region_read(a, BAR0, SAMPLE_SCRATCH_RAM_OFFSET, x,
				  SAMPLE_SCRATCH_RAM_SIZE));
	ASSERT_EQ(SAMPLE_SCRATCH_RAM_SIZE,
		  vuc_region_read(b, BAR0, SAMPLE_SCRATCH_RAM_OFFSET, y,
				  SAMPLE_SCRATCH_RAM_SIZE));
	EXPECT_EQ(0, memcmp(x, y, SAMPLE_SCRATCH_RAM_SIZE));
	ra = rb = 0;
	ASSERT_EQ(8, vuc_region_read(a, BAR0, SAMPLE_REG_SCRATCH64, &ra, 8));
	ASSERT_EQ(8, vuc_region_read(b, BAR0, SAMPLE_REG_SCRATCH64, &rb, 8));
	EXPECT_EQ(ra, rb);
	ra = rb = 0;
	ASSERT_EQ(4, vuc_region_read(a, BAR0, SAMPLE_REG_SCRATCH, &ra, 4));
	ASSERT_EQ(4, vuc_region_read(b, BAR0, SAMPLE_REG_SCRATCH, &rb, 4));
	EXPECT_EQ(ra, rb);
	free(x);
	free(y);
}

/* Save the whole stream of the source (STOP_COPY) into self->st. */
static void save_all(struct __test_metadata *_metadata,
		     FIXTURE_DATA(mig) *self)
{
	uint64_t bytes = 0;

	ASSERT_EQ(0, vuc_mig_set_state(self->dev,
				       VFIO_USER_DEVICE_STATE_STOP_COPY))
		TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_EQ(0, vuc_mig_save(self->dev, sink, &self->st, &bytes))
		TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_EQ(self->st.len, bytes);
	ASSERT_LT(SAMPLE_BAR2_SIZE, self->st.len);
}

/* Load @len bytes of self->st into the destination; 0 or the -errno. */
static int load(FIXTURE_DATA(mig) *self, size_t len)
{
	int ret;

	ret = vuc_mig_set_state(self->dst, VFIO_USER_DEVICE_STATE_RESUMING);
	if (ret)
		return ret;
	ret = vuc_mig_write(self->dst, self->st.data, len);
	if (ret)
		return ret;
	return vuc_mig_set_state(self->dst, VFIO_USER_DEVICE_STATE_RUNNING);
}

TEST_F(mig, flags_and_arcs)
{
	uint64_t flags = 0;

	START(self, 0, 0, NULL, NULL);
	ASSERT_EQ(0, vuc_mig_get_flags(self->dev, &flags));
	EXPECT_EQ(VFIO_USER_MIGRATION_STOP_COPY | VFIO_USER_MIGRATION_PRE_COPY,
		  flags);
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(self->dev));

	/* A combination arc, walked through STOP. */
	ASSERT_EQ(0, vuc_mig_set_state(self->dev,
				       VFIO_USER_DEVICE_STATE_STOP_COPY))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_STOP_COPY, state_of(self->dev));

	/* Forbidden and non-existent targets: EINVAL, state unchanged. */
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->dev,
					     VFIO_USER_DEVICE_STATE_PRE_COPY));
	ASSERT_MSG(self->dev, "STOP_COPY to PRE_COPY");
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_STOP_COPY, state_of(self->dev));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->dev,
					     VFIO_USER_DEVICE_STATE_ERROR));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->dev,
					     VFIO_USER_DEVICE_STATE_RUNNING_P2P));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->dev, 8));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_STOP_COPY, state_of(self->dev));

	/* Data in the wrong state. */
	EXPECT_EQ(-EINVAL, vuc_mig_write(self->dev, "x", 1));

	/* Back to RUNNING through STOP; PRE_COPY and back. */
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_RUNNING));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(self->dev));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_PRE_COPY));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_RESUMING))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RESUMING, state_of(self->dev));

	/* The server refuses RESUMING -> STOP without a stream: ERROR. */
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->dev,
					     VFIO_USER_DEVICE_STATE_STOP));
	ASSERT_MSG(self->dev, "server refused the move from RESUMING to STOP");
	ASSERT_MSG(self->dev, "in ERROR now");
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_ERROR, vuc_mig_state(self->dev));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(self->dev,
					     VFIO_USER_DEVICE_STATE_RUNNING));
	ASSERT_MSG(self->dev, "only a reset");
	ASSERT_EQ(0, vuc_reset(self->dev));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(self->dev));
}

/* Pre-copy context: the stream goes to @st and into @dst; @src changes. */
struct move {
	struct stream *st;
	struct vuc_device *src;
	struct vuc_device *dst;
};

static int sink_and_load(void *opaque, const void *buf, size_t len)
{
	struct move *m = opaque;
	int ret = sink(m->st, buf, len);

	return ret ? ret : vuc_mig_write(m->dst, buf, len);
}

/* After each round the guest writes a page of BAR2; three rounds. */
static bool stop_after_3(void *opaque, unsigned int round, uint64_t bytes)
{
	struct move *m = opaque;
	uint8_t page[4096];

	(void)bytes;
	memset(page, 0x40 + (int)round, sizeof(page));
	if (vuc_region_write(m->src, BAR2, (uint64_t)round * 3 * 4096, page,
			     sizeof(page)) != sizeof(page))
		return true;
	return round >= 3;
}

/*
 * Pre-copy rounds straight into the destination while the source's BAR2
 * changes (--busy writes after every message, and the test's own between
 * rounds), then stop-and-copy: the destination equals the source byte for
 * byte. The destination's limit (700 bytes) and the source's receive
 * limit (1024) force small chunks on both sides.
 */
TEST_F(mig, precopy_moves_everything)
{
	struct move m = { .st = &self->st };
	uint64_t bytes = 0;
	int rounds;

	START(self, 0, 1024, "--busy", NULL);
	START(self, 1, 0, "--max-data-xfer-size=700", NULL);
	m.src = self->dev;
	m.dst = self->dst;
	dirty_device(_metadata, self->dev, 7);
	ASSERT_EQ(0, vuc_mig_set_state(self->dst,
				       VFIO_USER_DEVICE_STATE_RESUMING));

	rounds = vuc_mig_precopy(self->dev, sink_and_load, stop_after_3, &m,
				 &bytes);
	ASSERT_EQ(3, rounds) TH_LOG("%s / %s", vuc_strerror(self->dev),
				    vuc_strerror(self->dst));
	EXPECT_LT(SAMPLE_BAR2_SIZE, bytes);
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_PRE_COPY, state_of(self->dev));

	ASSERT_EQ(0, vuc_mig_set_state(self->dev,
				       VFIO_USER_DEVICE_STATE_STOP_COPY));
	ASSERT_EQ(0, vuc_mig_save(self->dev, sink_and_load, &m, &bytes))
		TH_LOG("%s / %s", vuc_strerror(self->dev), vuc_strerror(self->dst));
	EXPECT_EQ(self->st.len, bytes);
	ASSERT_EQ(0, vuc_mig_set_state(self->dst, VFIO_USER_DEVICE_STATE_RUNNING))
		TH_LOG("%s", vuc_strerror(self->dst));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_STOP));
	expect_same(_metadata, self->dev, self->dst);
}

static bool never_stop(void *opaque, unsigned int round, uint64_t bytes)
{
	uint64_t *per_round = opaque;

	if (round <= 4)
		per_round[round - 1] = bytes;
	return false;
}

static int discard(void *opaque, const void *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
	return 0;
}

/* An idle device: the second round is empty and pre-copy ends by itself. */
TEST_F(mig, precopy_ends_without_data)
{
	uint64_t per_round[4] = { 0 };

	START(self, 0, 0, NULL, NULL);
	ASSERT_EQ(2, vuc_mig_precopy(self->dev, discard, never_stop, per_round,
				     NULL)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_LT(SAMPLE_BAR2_SIZE, per_round[0]);
	EXPECT_EQ(0, per_round[1]);
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_PRE_COPY, state_of(self->dev));
}

/* A stream saved without pre-copy loads as well; STOP_COPY then ends. */
TEST_F(mig, stop_copy_round_trip)
{
	uint8_t more[16];

	START(self, 0, 0, NULL, NULL);
	START(self, 1, 0, NULL, NULL);
	dirty_device(_metadata, self->dev, 11);
	save_all(_metadata, self);
	/* The stream is complete: nothing more to read. */
	EXPECT_EQ(0, vuc_mig_read(self->dev, more, sizeof(more)));
	ASSERT_EQ(0, load(self, self->st.len)) TH_LOG("%s", vuc_strerror(self->dst));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(self->dst));
	expect_same(_metadata, self->dev, self->dst);
}

/*
 * An interrupt raised while masked is pending; it moves with the device and
 * fires at the destination when unmasked there.
 */
TEST_F(mig, pending_interrupt_moves)
{
	struct pollfd pfd = { .events = POLLIN };
	uint32_t one = 1, count = 0;
	uint64_t n = 0;
	int32_t efd;

	START(self, 0, 0, NULL, NULL);
	START(self, 1, 0, NULL, NULL);
	ASSERT_EQ(0, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_NONE |
				  VFIO_IRQ_SET_ACTION_MASK,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL))
		TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_EQ(4, vuc_region_write(self->dev, BAR0, SAMPLE_REG_IRQ_TRIGGER,
				      &one, 4));
	save_all(_metadata, self);
	ASSERT_EQ(0, load(self, self->st.len)) TH_LOG("%s", vuc_strerror(self->dst));

	efd = make_eventfd();
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, vuc_set_irqs(self->dst, VFIO_IRQ_SET_DATA_EVENTFD |
				  VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd));
	pfd.fd = efd;
	EXPECT_EQ(0, poll(&pfd, 1, 0));		/* still masked */
	ASSERT_EQ(0, vuc_set_irqs(self->dst, VFIO_IRQ_SET_DATA_NONE |
				  VFIO_IRQ_SET_ACTION_UNMASK,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL));
	EXPECT_EQ(1, poll(&pfd, 1, 5000));
	EXPECT_EQ(8, read(efd, &n, sizeof(n)));
	EXPECT_EQ(1, n);
	ASSERT_EQ(4, vuc_region_read(self->dst, BAR0, SAMPLE_REG_IRQ_COUNT,
				     &count, 4));
	EXPECT_EQ(1, count);
	efd = -1;
	EXPECT_EQ(0, vuc_set_irqs(self->dst, VFIO_IRQ_SET_DATA_EVENTFD |
				  VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd));
	close((int)pfd.fd);
}

/* Ends in ERROR; only reset leaves it, and the device works again. */
static void expect_error_then_reset(struct __test_metadata *_metadata,
				    struct vuc_device *dst)
{
	uint32_t v = 5;

	EXPECT_EQ(VFIO_USER_DEVICE_STATE_ERROR, state_of(dst));
	EXPECT_EQ(-EINVAL, vuc_mig_set_state(dst, VFIO_USER_DEVICE_STATE_RESUMING));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_ERROR, state_of(dst));
	ASSERT_EQ(0, vuc_reset(dst));
	EXPECT_EQ(-1, vuc_mig_state(dst));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, state_of(dst));
	ASSERT_EQ(4, vuc_region_write(dst, BAR0, SAMPLE_REG_SCRATCH, &v, 4));
}

TEST_F(mig, truncated_stream_ends_in_error)
{
	START(self, 0, 0, NULL, NULL);
	START(self, 1, 0, NULL, NULL);
	save_all(_metadata, self);
	EXPECT_EQ(-EINVAL, load(self, self->st.len - 3));
	ASSERT_MSG(self->dst, "server refused the move from RESUMING to STOP");
	expect_error_then_reset(_metadata, self->dst);
}

TEST_F(mig, corrupt_stream_ends_in_error)
{
	START(self, 0, 0, NULL, NULL);
	START(self, 1, 0, NULL, NULL);
	save_all(_metadata, self);
	self->st.data[self->st.len / 2] ^= 0x01;
	EXPECT_EQ(-EINVAL, load(self, self->st.len));
	expect_error_then_reset(_metadata, self->dst);
}

TEST_F(mig, record_header_corruption_ends_in_error)
{
	START(self, 0, 0, NULL, NULL);
	START(self, 1, 0, NULL, NULL);
	save_all(_metadata, self);
	/* The first record's type, right after the 32-byte stream header. */
	self->st.data[32] = 0x7f;
	EXPECT_EQ(-EINVAL, load(self, self->st.len));
	ASSERT_MSG(self->dst, "server refused MIG_DATA_WRITE");
	expect_error_then_reset(_metadata, self->dst);
}

TEST_F(mig, other_device_refused)
{
	START(self, 0, 0, "--msix-vectors=8", NULL);
	START(self, 1, 0, NULL, NULL);
	save_all(_metadata, self);
	EXPECT_EQ(-EINVAL, load(self, self->st.len));
	ASSERT_MSG(self->dst, "server refused MIG_DATA_WRITE");
	expect_error_then_reset(_metadata, self->dst);
}

TEST_F(mig, other_version_refused)
{
	START(self, 0, 0, "--mig-version=2", NULL);
	START(self, 1, 0, NULL, NULL);
	save_all(_metadata, self);
	EXPECT_EQ(-EINVAL, load(self, self->st.len));
	expect_error_then_reset(_metadata, self->dst);
}

static void reg_write(struct __test_metadata *_metadata,
		      struct vuc_device *dev, uint64_t off, uint64_t v,
		      size_t width)
{
	ASSERT_EQ((ssize_t)width, vuc_region_write(dev, BAR0, off, &v, width));
}

/* DMA engine FILL of @len bytes at @dst; returns its status register. */
static uint32_t dma_fill(struct __test_metadata *_metadata,
			 struct vuc_device *dev, uint64_t dst, uint32_t len)
{
	uint32_t status = 0xffff;

	reg_write(_metadata, dev, SAMPLE_REG_DMA_DST, dst, 8);
	reg_write(_metadata, dev, SAMPLE_REG_DMA_LEN, len, 4);
	reg_write(_metadata, dev, SAMPLE_REG_DMA_FILL, 0x5a, 4);
	reg_write(_metadata, dev, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_CMD_FILL, 4);
	vuc_region_read(dev, BAR0, SAMPLE_REG_DMA_STATUS, &status, 4);
	return status;
}

/*
 * The server's DMA log over a window it reaches through its mapping:
 * exactly the pages the DMA engine wrote, cleared by reading; and the
 * engine does not run while the device is stopped.
 */
TEST_F(mig, server_dma_log)
{
	const uint64_t iova = 0x100000, size = 16 * 4096;
	uint64_t bitmap[1] = { 0 };
	void *mem;
	int fd;

	START(self, 0, 0, NULL, NULL);
	ASSERT_EQ(1, vuc_dirty_supported(self->dev));
	fd = memfd_create("guest", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, size));
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, vuc_dma_map(self->dev, iova, size, mem,
				 VUC_DMA_READ | VUC_DMA_WRITE, fd, 0))
		TH_LOG("%s", vuc_strerror(self->dev));

	/* Bad page sizes and ranges are refused before the server sees them. */
	EXPECT_EQ(-EINVAL, vuc_dirty_start(self->dev, 4096 + 1, NULL, 0));
	EXPECT_EQ(-EINVAL, vuc_dirty_start(self->dev, 2048, NULL, 0));
	ASSERT_EQ(0, vuc_dirty_start(self->dev, 4096, NULL, 0))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(-EBUSY, vuc_dirty_start(self->dev, 4096, NULL, 0));

	/* Page 1 whole, and the end of page 4 into page 5. */
	EXPECT_EQ(0, dma_fill(_metadata, self->dev, iova + 4096, 4096));
	EXPECT_EQ(0, dma_fill(_metadata, self->dev, iova + 5 * 4096 - 8, 16));
	ASSERT_EQ(0, vuc_dirty_report(self->dev, iova, size, bitmap,
				      sizeof(bitmap)))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ((1ULL << 1) | (1ULL << 4) | (1ULL << 5), bitmap[0]);
	EXPECT_EQ(0x5a, ((uint8_t *)mem)[4096]);

	/* A window mapped after the start is logged as well. */
	{
		const uint64_t iova2 = 0x400000;
		void *mem2;
		int fd2 = memfd_create("guest2", MFD_CLOEXEC);

		ASSERT_LE(0, fd2);
		ASSERT_EQ(0, ftruncate(fd2, size));
		mem2 = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
		ASSERT_NE(MAP_FAILED, mem2);
		ASSERT_EQ(0, vuc_dma_map(self->dev, iova2, size, mem2,
					 VUC_DMA_READ | VUC_DMA_WRITE, fd2, 0));
		EXPECT_EQ(0, dma_fill(_metadata, self->dev, iova2 + 7 * 4096, 1));
		ASSERT_EQ(0, vuc_dirty_report(self->dev, iova2, size, bitmap,
					      sizeof(bitmap)));
		EXPECT_EQ(1ULL << 7, bitmap[0]);
		EXPECT_EQ(0, vuc_dma_unmap(self->dev, iova2, size));
		munmap(mem2, size);
		close(fd2);
	}

	/* Read clears. */
	ASSERT_EQ(0, vuc_dirty_report(self->dev, iova, size, bitmap,
				      sizeof(bitmap)));
	EXPECT_EQ(0, bitmap[0]);
	EXPECT_EQ(-EINVAL, vuc_dirty_report(self->dev, iova + 1, size, bitmap,
					    sizeof(bitmap)));

	/* Stopped: the engine refuses, nothing is written or logged. */
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_STOP));
	EXPECT_EQ(EBUSY, dma_fill(_metadata, self->dev, iova, 4096));
	ASSERT_EQ(0, vuc_dirty_report(self->dev, iova, size, bitmap,
				      sizeof(bitmap)));
	EXPECT_EQ(0, bitmap[0]);
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_RUNNING));

	ASSERT_EQ(0, vuc_dirty_stop(self->dev));
	EXPECT_EQ(-EINVAL, vuc_dirty_report(self->dev, iova, size, bitmap,
					    sizeof(bitmap)));
	EXPECT_EQ(0, vuc_dma_unmap(self->dev, iova, size));
	munmap(mem, size);
	close(fd);
}

/*
 * Windows without an fd: the server writes them with DMA_WRITE, which the
 * library's receive thread serves and logs (the server's own log sees
 * only its mappings). At the page size asked for, cleared by reading.
 */
TEST_F(mig, library_dma_log)
{
	const uint64_t iova = 0x100000, size = 16 * 4096;
	uint64_t bitmap[1] = { 0 };
	uint8_t *mem;

	START(self, 0, 0, NULL, NULL);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, vuc_dma_map(self->dev, iova, size, mem,
				 VUC_DMA_READ | VUC_DMA_WRITE, -1, 0));
	ASSERT_EQ(0, vuc_dirty_start(self->dev, 4096, NULL, 0))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(0, dma_fill(_metadata, self->dev, iova + 4096, 4096));
	EXPECT_EQ(0, dma_fill(_metadata, self->dev, iova + 5 * 4096 - 8, 16));
	EXPECT_EQ(0x5a, mem[4096]);
	ASSERT_EQ(0, vuc_dirty_report(self->dev, iova, size, bitmap,
				      sizeof(bitmap)))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ((1ULL << 1) | (1ULL << 4) | (1ULL << 5), bitmap[0]);
	ASSERT_EQ(0, vuc_dirty_report(self->dev, iova, size, bitmap,
				      sizeof(bitmap)));
	EXPECT_EQ(0, bitmap[0]);
	ASSERT_EQ(0, vuc_dirty_stop(self->dev));

	/* Larger pages; a window mapped while logging is logged too. */
	ASSERT_EQ(0, vuc_dirty_start(self->dev, 8192, NULL, 0));
	EXPECT_EQ(0, vuc_dma_unmap(self->dev, iova, size));
	ASSERT_EQ(0, vuc_dma_map(self->dev, iova, size, mem,
				 VUC_DMA_READ | VUC_DMA_WRITE, -1, 0));
	EXPECT_EQ(0, dma_fill(_metadata, self->dev, iova + 3 * 4096, 1));
	ASSERT_EQ(0, vuc_dirty_report(self->dev, iova, size, bitmap,
				      sizeof(bitmap)));
	EXPECT_EQ(1ULL << 1, bitmap[0]);
	ASSERT_EQ(0, vuc_dirty_stop(self->dev));
	EXPECT_EQ(-EINVAL, vuc_dirty_report(self->dev, iova, size, bitmap,
					    sizeof(bitmap)));
	EXPECT_EQ(0, vuc_dma_unmap(self->dev, iova, size));
	munmap(mem, size);
}

/*
 * A server without DMA logging: with fds it could write what nobody logs,
 * so logging is refused; with VUC_OPT_NO_FD_SHARING it gets no fd and
 * the library's log alone sees every write.
 */
TEST_F(mig, library_dma_log_alone)
{
	const uint64_t iova = 0x100000, size = 4 * 4096;
	uint64_t bitmap[1] = { 0 };
	uint32_t path = 0;
	uint8_t *mem;
	int fd;

	START(self, 0, 0, "--no-dma-logging", NULL);
	EXPECT_EQ(0, vuc_dirty_supported(self->dev));
	EXPECT_EQ(-ENOTSUP, vuc_dirty_start(self->dev, 4096, NULL, 0));
	vuc_device_free(self->dev);
	self->dev = NULL;
	EXPECT_EQ(0, reap(self->pid[0]));
	self->pid[0] = -1;

	self->flags = VUC_OPT_NO_FD_SHARING;
	START(self, 0, 0, "--no-dma-logging", NULL);
	fd = memfd_create("guest", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, size));
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	/* The fd stays here: the server reaches the window through us. */
	ASSERT_EQ(0, vuc_dma_map(self->dev, iova, size, mem,
				 VUC_DMA_READ | VUC_DMA_WRITE, fd, 0));
	ASSERT_EQ(0, vuc_dirty_start(self->dev, 4096, NULL, 0))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(0, dma_fill(_metadata, self->dev, iova + 2 * 4096, 8));
	vuc_region_read(self->dev, BAR0, SAMPLE_REG_DMA_PATH, &path, 4);
	EXPECT_EQ(SAMPLE_DMA_PATH_MESSAGES, path);
	ASSERT_EQ(0, vuc_dirty_report(self->dev, iova, size, bitmap,
				      sizeof(bitmap)));
	EXPECT_EQ(1ULL << 2, bitmap[0]);
	ASSERT_EQ(0, vuc_dirty_stop(self->dev));
	EXPECT_EQ(0, vuc_dma_unmap(self->dev, iova, size));
	munmap(mem, size);
	close(fd);
}

TEST_HARNESS_MAIN
