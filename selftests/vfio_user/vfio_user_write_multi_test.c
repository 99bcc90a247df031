// SPDX-License-Identifier: GPL-2.0
/*
 * Posted writes and REGION_WRITE_MULTI. With a server that advertises
 * write_multiple (the sample server), small posted writes that gather
 * while the server is behind, or while another thread is sending, go out
 * together as REGION_WRITE_MULTI; every one of them arrives, in order,
 * before anything sent after it. Without write_multiple
 * (--no-write-multiple) none is ever coalesced. The server is made slow
 * with SIGSTOP, so nothing depends on the machine's speed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sample-device.h"
#include "vfio_user_util.h"

/* More posted writes than a quarter of the send buffer holds. */
#define NR_WRITES	4000
#define NR_THREADS	4

#define NEED_MODULE()							\
	do {								\
		if (!self->dev)						\
			SKIP(return, VFIO_USER_DEV " not present");	\
	} while (0)

static off_t bar0(uint64_t off)
{
	return (off_t)vu_region_off(VFIO_PCI_BAR0_REGION_INDEX, off);
}

static uint32_t reg(int fd, uint64_t off)
{
	uint32_t v = UINT32_MAX;

	if (pread(fd, &v, sizeof(v), bar0(off)) != sizeof(v))
		return UINT32_MAX;
	return v;
}

struct writer {
	pthread_t thread;
	pid_t tid;
	int fd;
	unsigned int n;
	uint64_t offset;
	int ret;
	int done;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned int i;

	__atomic_store_n(&w->tid, gettid(), __ATOMIC_SEQ_CST);
	for (i = 0; i < w->n; i++) {
		uint32_t v = i + 1;

		if (pwrite(w->fd, &v, sizeof(v), bar0(w->offset)) != sizeof(v)) {
			w->ret = -errno;
			break;
		}
	}
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Is thread @tid of this process asleep in the kernel (state D or S)? */
static bool asleep(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	bool ret = false;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		ret = p && (p[2] == 'D' || p[2] == 'S');
	}
	fclose(f);
	return ret;
}

/* Wait until each writer is done or stuck behind the stopped server. */
static int wait_stuck_or_done(struct writer *w, unsigned int n)
{
	int64_t deadline = vu_now_ms() + VU_WAIT_MS;
	unsigned int i, settled;

	do {
		for (i = 0, settled = 0; i < n; i++) {
			pid_t tid = __atomic_load_n(&w[i].tid, __ATOMIC_SEQ_CST);

			if (__atomic_load_n(&w[i].done, __ATOMIC_SEQ_CST) ||
			    (tid && asleep(tid)))
				settled++;
		}
		if (settled == n)
			return 0;
		usleep(10000);
	} while (vu_now_ms() < deadline);
	return -1;
}

FIXTURE(multi)
{
	struct vu_server srv;
	struct vuc_device *dev;
	int fd;
};

FIXTURE_VARIANT(multi)
{
	bool write_multiple;
};

FIXTURE_VARIANT_ADD(multi, offered)
{
	.write_multiple = true,
};

FIXTURE_VARIANT_ADD(multi, not_offered)
{
	.write_multiple = false,
};

FIXTURE_SETUP(multi)
{
	static const char *const plain[] = { "--max-data-xfer-size=4096", NULL };
	static const char *const none[] = { "--max-data-xfer-size=4096",
					    "--no-write-multiple", NULL };
	/* Posted BAR0 writes, all as messages; a small send buffer. */
	struct vuc_options o = {
		.flags = VUC_OPT_NO_IO_FDS,
		.max_data_xfer_size = 4096,
		.posted_write_regions = 1U << VFIO_PCI_BAR0_REGION_INDEX,
	};

	self->dev = NULL;
	self->srv.pid = 0;
	if (access(VFIO_USER_DEV, F_OK))
		return;
	ASSERT_EQ(0, vu_server_start(&self->srv,
				     variant->write_multiple ? plain : none));
	self->dev = vu_attach(self->srv.path, &o);
	ASSERT_NE(NULL, self->dev);
	self->fd = vuc_device_fd(self->dev);
}

FIXTURE_TEARDOWN(multi)
{
	if (self->srv.pid > 0)
		kill(self->srv.pid, SIGCONT);
	if (self->dev)
		vuc_device_free(self->dev);
	if (self->srv.pid > 0)
		vu_server_stop(&self->srv);
}

/* @nr threads post NR_WRITES doorbell writes each behind a stopped server. */
static void post_behind_stopped_server(struct __test_metadata *_metadata,
				       FIXTURE_DATA(multi) *self,
				       unsigned int nr)
{
	struct writer w[NR_THREADS] = { 0 };
	unsigned int i;

	ASSERT_EQ(0, kill(self->srv.pid, SIGSTOP));
	for (i = 0; i < nr; i++) {
		w[i].fd = self->fd;
		w[i].n = NR_WRITES;
		w[i].offset = SAMPLE_REG_DOORBELL;
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, writer_main,
					    &w[i]));
	}
	ASSERT_EQ(0, wait_stuck_or_done(w, nr));
	ASSERT_EQ(0, kill(self->srv.pid, SIGCONT));
	for (i = 0; i < nr; i++) {
		ASSERT_EQ(0, pthread_join(w[i].thread, NULL));
		ASSERT_EQ(0, w[i].ret);
	}
}

TEST_F_TIMEOUT(multi, every_posted_write_arrives, 600)
{
	uint32_t doorbells, multis;

	NEED_MODULE();
	doorbells = reg(self->fd, SAMPLE_REG_DOORBELL_COUNT);
	multis = reg(self->fd, SAMPLE_REG_WRITE_MULTI_COUNT);
	ASSERT_NE(UINT32_MAX, doorbells);
	post_behind_stopped_server(_metadata, self, 1);
	/* The read comes after every write: they are all counted. */
	EXPECT_EQ(doorbells + NR_WRITES,
		  reg(self->fd, SAMPLE_REG_DOORBELL_COUNT));
	/* Behind a server that stopped reading, they went out together. */
	if (variant->write_multiple) {
		EXPECT_LT(multis, reg(self->fd, SAMPLE_REG_WRITE_MULTI_COUNT));
	} else {
		EXPECT_EQ(0U, reg(self->fd, SAMPLE_REG_WRITE_MULTI_COUNT));
	}
}

TEST_F_TIMEOUT(multi, threads_posting_together, 600)
{
	uint32_t doorbells;

	NEED_MODULE();
	doorbells = reg(self->fd, SAMPLE_REG_DOORBELL_COUNT);
	post_behind_stopped_server(_metadata, self, NR_THREADS);
	EXPECT_EQ(doorbells + NR_THREADS * NR_WRITES,
		  reg(self->fd, SAMPLE_REG_DOORBELL_COUNT));
	if (!variant->write_multiple) {
		EXPECT_EQ(0U, reg(self->fd, SAMPLE_REG_WRITE_MULTI_COUNT));
	}
}

TEST_F_TIMEOUT(multi, writes_keep_their_order, 600)
{
	struct writer w = {
		.fd = self->fd, .n = NR_WRITES, .offset = SAMPLE_REG_SCRATCH,
	};

	NEED_MODULE();
	ASSERT_EQ(0, kill(self->srv.pid, SIGSTOP));
	ASSERT_EQ(0, pthread_create(&w.thread, NULL, writer_main, &w));
	ASSERT_EQ(0, wait_stuck_or_done(&w, 1));
	ASSERT_EQ(0, kill(self->srv.pid, SIGCONT));
	ASSERT_EQ(0, pthread_join(w.thread, NULL));
	ASSERT_EQ(0, w.ret);
	/* The last value written is the one that stays. */
	EXPECT_EQ((uint32_t)NR_WRITES, reg(self->fd, SAMPLE_REG_SCRATCH));
}

TEST_HARNESS_MAIN
