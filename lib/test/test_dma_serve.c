// SPDX-License-Identifier: BSD-3-Clause
/*
 * The userspace backend's receive thread against a scripted server: the
 * server's DMA_READ and DMA_WRITE served from the caller's DMA map, with
 * the twin socket and on the main socket; requests outside the map, with
 * a forbidden access, too long, malformed or with unknown flags answered
 * with an error reply and the connection kept; garbage breaking the
 * connection without hanging the caller; callers on several threads at
 * once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "test_common.h"

#define TIMEOUT_MS 1000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
#define IOVA 0x10000ULL
#define MAP_SIZE (3 * 4096)

/* DMA_MAP and DMA_UNMAP accepted, nothing else about them checked. */
static int accept_map(struct fsrv *s, struct vu_msg *m)
{
	return fsrv_reply(s, m, NULL, 0, NULL, 0) ? FSRV_STOP : FSRV_CONTINUE;
}

FIXTURE(dma) {
	struct fsrv *s;
	struct vuc_device *dev;
	struct vuc_options opts;
	uint8_t *mem; /* MAP_SIZE bytes mapped at IOVA */
	uint8_t *ro; /* 4096 bytes mapped read-only at IOVA + 1 MiB */
	int fds_before;
};

FIXTURE_SETUP(dma)
{
	self->fds_before = count_open_fds();
	self->s = fsrv_new();
	ASSERT_NE(NULL, self->s);
	self->s->handler[VFIO_USER_DMA_MAP] = accept_map;
	self->s->handler[VFIO_USER_DMA_UNMAP] = accept_map;
	self->opts.timeout_ms = TIMEOUT_MS;
	self->opts.flags = VUC_OPT_USERSPACE;
	self->opts.max_data_xfer_size = 4096;
	self->mem = calloc(1, MAP_SIZE);
	self->ro = calloc(1, 4096);
	ASSERT_NE(NULL, self->mem);
	ASSERT_NE(NULL, self->ro);
}

FIXTURE_TEARDOWN(dma)
{
	CHECK_CLEAN(self);
	free(self->mem);
	free(self->ro);
}

/* Connect (with the twin socket if @twin) and map the fixture's memory. */
static int connect_mapped(FIXTURE_DATA(dma) *self, bool twin)
{
	int ret;

	self->s->give_twin = twin;
	if (!twin)
		self->opts.flags |= VUC_OPT_NO_TWIN_SOCKET;
	ret = fsrv_connect(self->s, &self->opts, &self->dev);
	if (!ret)
		ret = vuc_dma_map(self->dev, IOVA, MAP_SIZE, self->mem,
				  VUC_DMA_READ | VUC_DMA_WRITE, -1, 0);
	if (!ret)
		ret = vuc_dma_map(self->dev, IOVA + (1 << 20), 4096, self->ro,
				  VUC_DMA_READ, -1, 0);
	return ret;
}

/*
 * Send a DMA request on the twin socket and receive the answer (0), or
 * -errno. @data (@dlen bytes) follows the access header.
 */
static int twin_dma(FIXTURE_DATA(dma) *self, uint16_t cmd, uint32_t flags,
		    uint64_t addr, uint64_t count, const void *data,
		    size_t dlen, struct vu_msg *ans)
{
	struct vfio_user_header hdr = {
		.msg_id = 0x4000 + cmd,
		.cmd = cmd,
		.flags = flags,
	};
	struct vfio_user_dma_region_access *acc;
	size_t len = sizeof(*acc) + dlen;
	int ret;

	acc = malloc(len);
	if (!acc)
		return -ENOMEM;
	acc->addr = addr;
	acc->count = count;
	if (dlen)
		memcpy(acc->data, data, dlen);
	hdr.msg_size = sizeof(hdr) + len;
	ret = vu_send(self->s->twin_peer, &hdr, acc, len, NULL, 0, TIMEOUT_MS);
	free(acc);
	if (!ret)
		ret = vu_recv(self->s->twin_peer, ans, 1 << 21, 0, TIMEOUT_MS);
	if (!ret && (ans->hdr.msg_id != hdr.msg_id || ans->hdr.cmd != cmd ||
		     (ans->hdr.flags & VFIO_USER_F_TYPE_MASK) !=
			     VFIO_USER_F_TYPE_REPLY)) {
		vu_msg_release(ans);
		ret = -EPROTO;
	}
	return ret;
}

/* The errno of the error reply to a request, 0 for success, or -errno. */
static int twin_refused(FIXTURE_DATA(dma) *self, uint16_t cmd, uint32_t flags,
			uint64_t addr, uint64_t count, size_t dlen)
{
	static uint8_t junk[8192];
	struct vu_msg ans;
	int ret;

	memset(junk, 0xee, sizeof(junk));
	ret = twin_dma(self, cmd, flags, addr, count, junk, dlen, &ans);
	if (ret)
		return ret;
	ret = ans.hdr.flags & VFIO_USER_F_ERROR ? (int)ans.hdr.error_no : 0;
	if (ret && ans.len)
		ret = -EBADMSG; /* an error reply carries no payload */
	vu_msg_release(&ans);
	return ret;
}

static ssize_t read4(FIXTURE_DATA(dma) *self, uint32_t *v)
{
	return vuc_region_read(self->dev, 0, 0, v, sizeof(*v));
}

TEST_F(dma, twin_read_and_write_move_the_bytes)
{
	uint8_t data[200], expect[200];
	struct vfio_user_dma_region_access echo;
	struct vu_msg ans;
	unsigned int i;
	uint32_t v;

	ASSERT_EQ(0, connect_mapped(self, true)) TH_LOG("%s", vuc_strerror(self->dev));
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	/* Across the boundary of the first page. */
	ASSERT_EQ(0, twin_dma(self, VFIO_USER_DMA_WRITE,
			      VFIO_USER_F_TYPE_COMMAND, IOVA + 4000,
			      sizeof(data), data, sizeof(data), &ans));
	EXPECT_EQ(0, ans.hdr.flags & VFIO_USER_F_ERROR);
	ASSERT_EQ(sizeof(echo), ans.len);
	memcpy(&echo, ans.payload, sizeof(echo));
	EXPECT_EQ(IOVA + 4000, echo.addr);
	EXPECT_EQ(sizeof(data), echo.count);
	vu_msg_release(&ans);
	EXPECT_EQ(0, memcmp(self->mem + 4000, data, sizeof(data)));
	EXPECT_EQ(0, self->mem[3999]);
	EXPECT_EQ(0, self->mem[4200]);

	for (i = 0; i < sizeof(expect); i++)
		self->mem[8000 + i] = expect[i] = (uint8_t)(i ^ 0x5a);
	ASSERT_EQ(0, twin_dma(self, VFIO_USER_DMA_READ,
			      VFIO_USER_F_TYPE_COMMAND, IOVA + 8000,
			      sizeof(expect), NULL, 0, &ans));
	EXPECT_EQ(0, ans.hdr.flags & VFIO_USER_F_ERROR);
	ASSERT_EQ(sizeof(echo) + sizeof(expect), ans.len);
	memcpy(&echo, ans.payload, sizeof(echo));
	EXPECT_EQ(IOVA + 8000, echo.addr);
	EXPECT_EQ(0, memcmp((uint8_t *)ans.payload + sizeof(echo), expect,
			    sizeof(expect)));
	vu_msg_release(&ans);

	/* No reply wanted: none comes, and the write is done. */
	self->mem[0] = 0;
	{
		struct vfio_user_header hdr = {
			.msg_id = 9,
			.cmd = VFIO_USER_DMA_WRITE,
			.msg_size = sizeof(hdr) + 17,
			.flags = VFIO_USER_F_TYPE_COMMAND |
				 VFIO_USER_F_NO_REPLY,
		};
		uint8_t body[17] = { 0 };
		uint64_t addr = IOVA, count = 1;

		memcpy(body, &addr, 8);
		memcpy(body + 8, &count, 8);
		body[16] = 0x77;
		ASSERT_EQ(0, vu_send(self->s->twin_peer, &hdr, body,
				     sizeof(body), NULL, 0, TIMEOUT_MS));
	}
	/* A read after it is answered, so the write was served before. */
	ASSERT_EQ(0, twin_dma(self, VFIO_USER_DMA_READ,
			      VFIO_USER_F_TYPE_COMMAND, IOVA, 1, NULL, 0,
			      &ans));
	EXPECT_EQ(0x77, ((uint8_t *)ans.payload)[16]);
	vu_msg_release(&ans);
	EXPECT_EQ(0x77, self->mem[0]);
	EXPECT_EQ(4, read4(self, &v));
}

TEST_F(dma, twin_refusals_keep_the_connection)
{
	uint32_t v;

	ASSERT_EQ(0, connect_mapped(self, true)) TH_LOG("%s", vuc_strerror(self->dev));
	/* Outside the map, before and after it, and across its end. */
	EXPECT_EQ(EFAULT, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA - 8,
				       8, 0));
	EXPECT_EQ(EFAULT, twin_refused(self, VFIO_USER_DMA_READ, 0,
				       IOVA + MAP_SIZE, 8, 0));
	EXPECT_EQ(EFAULT, twin_refused(self, VFIO_USER_DMA_WRITE, 0,
				       IOVA + MAP_SIZE - 4, 8, 8));
	EXPECT_EQ(EFAULT, twin_refused(self, VFIO_USER_DMA_READ, 0,
				       UINT64_MAX - 3, 8, 0));
	EXPECT_EQ(0, self->mem[MAP_SIZE - 4]);
	/* The read-only mapping. */
	EXPECT_EQ(0, twin_refused(self, VFIO_USER_DMA_READ, 0,
				  IOVA + (1 << 20), 16, 0));
	EXPECT_EQ(EPERM, twin_refused(self, VFIO_USER_DMA_WRITE, 0,
				      IOVA + (1 << 20), 16, 16));
	EXPECT_EQ(0, self->ro[0]);
	/* More than our max_data_xfer_size, none, a payload that lies. */
	EXPECT_EQ(E2BIG, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA,
				      4097, 0));
	EXPECT_EQ(E2BIG, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA,
				      UINT64_MAX, 0));
	EXPECT_EQ(EINVAL, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA, 0,
				       0));
	EXPECT_EQ(EINVAL, twin_refused(self, VFIO_USER_DMA_WRITE, 0, IOVA, 8,
				       7));
	EXPECT_EQ(EINVAL, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA, 8,
				       8));
	/* Flags that are not ours to take. */
	EXPECT_EQ(EINVAL, twin_refused(self, VFIO_USER_DMA_READ, 0x40, IOVA,
				       8, 0));
	EXPECT_EQ(EINVAL, twin_refused(self, VFIO_USER_DMA_WRITE,
				       VFIO_USER_F_ERROR, IOVA, 8, 8));
	EXPECT_EQ(0, self->mem[0]);
	/* Unmapped: served no more. */
	EXPECT_EQ(0, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA, 8, 0));
	ASSERT_EQ(0, vuc_dma_unmap(self->dev, IOVA, MAP_SIZE));
	EXPECT_EQ(EFAULT, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA, 8,
				       0));
	ASSERT_EQ(0, vuc_dma_unmap_all(self->dev));
	EXPECT_EQ(EFAULT, twin_refused(self, VFIO_USER_DMA_READ, 0,
				       IOVA + (1 << 20), 8, 0));
	EXPECT_EQ(4, read4(self, &v)) TH_LOG("%s", vuc_strerror(self->dev));
}

TEST_F(dma, map_table_checks)
{
	ASSERT_EQ(0, connect_mapped(self, true)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(-EEXIST, vuc_dma_map(self->dev, IOVA + 4096, 4096, self->mem,
				       VUC_DMA_READ, -1, 0));
	EXPECT_EQ(-EEXIST, vuc_dma_map(self->dev, IOVA - 4096, 8192, self->mem,
				       VUC_DMA_READ, -1, 0));
	ASSERT_MSG(self->dev, "overlaps an existing mapping");
	/* Neighbours on both sides are fine, and served. */
	EXPECT_EQ(0, vuc_dma_map(self->dev, IOVA - 4096, 4096, self->mem,
				 VUC_DMA_READ, -1, 0));
	EXPECT_EQ(0, vuc_dma_map(self->dev, IOVA + MAP_SIZE, 4096, self->mem,
				 VUC_DMA_READ, -1, 0));
	EXPECT_EQ(0, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA - 8, 16,
				  0));
	/* The next one along is read-only. */
	EXPECT_EQ(EPERM, twin_refused(self, VFIO_USER_DMA_WRITE, 0,
				      IOVA + MAP_SIZE - 8, 16, 16));
	EXPECT_EQ(0, twin_refused(self, VFIO_USER_DMA_WRITE, 0,
				  IOVA + MAP_SIZE - 16, 16, 16));
}

/* The server refuses a map: the library does not serve it either. */
static int refuse_map(struct fsrv *s, struct vu_msg *m)
{
	return fsrv_reply_error(s, m, ENOSPC, NULL, 0) ? FSRV_STOP :
							 FSRV_CONTINUE;
}

TEST_F(dma, refused_map_is_not_served)
{
	self->s->handler[VFIO_USER_DMA_MAP] = refuse_map;
	self->s->give_twin = true;
	ASSERT_EQ(0, fsrv_connect(self->s, &self->opts, &self->dev));
	EXPECT_EQ(-ENOSPC, vuc_dma_map(self->dev, IOVA, MAP_SIZE, self->mem,
				       VUC_DMA_READ | VUC_DMA_WRITE, -1, 0));
	EXPECT_EQ(EFAULT, twin_refused(self, VFIO_USER_DMA_READ, 0, IOVA, 8,
				       0));
}

/* Garbage on the twin socket breaks the connection; nobody hangs. */
TEST_F(dma, twin_garbage_breaks_the_connection)
{
	struct vfio_user_header hdr = {
		.msg_size = 8, /* less than a header */
	};
	int64_t t0;
	uint32_t v;

	ASSERT_EQ(0, connect_mapped(self, true)) TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_EQ(sizeof(hdr), send(self->s->twin_peer, &hdr, sizeof(hdr),
				    MSG_NOSIGNAL));
	t0 = now_ms();
	/* The break may land while this read waits, or before it. */
	while (read4(self, &v) == 4 && now_ms() - t0 < 5000)
		fsrv_sleep_ms(5);
	EXPECT_GT(5000, now_ms() - t0);
	EXPECT_EQ(-ENOTCONN, read4(self, &v));
	ASSERT_MSG(self->dev, "msg_size 8 (less than the 16-byte header) on the twin socket");
}

TEST_F(dma, twin_reply_breaks_the_connection)
{
	struct vfio_user_header hdr = {
		.msg_id = 1,
		.cmd = VFIO_USER_DMA_READ,
		.msg_size = sizeof(hdr),
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	int64_t t0;
	uint32_t v;

	ASSERT_EQ(0, connect_mapped(self, true)) TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_EQ(0, vu_send(self->s->twin_peer, &hdr, NULL, 0, NULL, 0,
			     TIMEOUT_MS));
	t0 = now_ms();
	while (read4(self, &v) == 4 && now_ms() - t0 < 5000)
		fsrv_sleep_ms(5);
	EXPECT_EQ(-ENOTCONN, read4(self, &v));
	ASSERT_MSG(self->dev, "on the twin socket, where it sends commands only");
}

/*
 * No twin socket: on every 8-byte REGION_READ the server first reads the
 * 8 bytes at IOVA + its offset through DMA_READ and answers with them, so
 * each reply depends on a DMA served while its caller waits. Commands of
 * other callers that arrive meanwhile are parked and answered after.
 */
struct parked {
	struct vu_msg q[16];
	unsigned int n;
};

static int answer_through_dma(struct fsrv *s, struct vu_msg *m)
{
	struct parked *p = s->priv;
	struct vfio_user_region_access acc;
	struct vfio_user_dma_region_access dma;
	uint8_t reply[sizeof(acc) + 8];
	struct vu_msg ans;
	uint16_t id;

	if (m->hdr.cmd != VFIO_USER_REGION_READ || m->len != sizeof(acc))
		return fsrv_default(s, m);
	memcpy(&acc, m->payload, sizeof(acc));
	if (acc.count != 8)
		return fsrv_default(s, m);
	dma.addr = IOVA + acc.offset;
	dma.count = 8;
	id = (uint16_t)(0x8000 + s->step++);
	if (fsrv_send(s, id, VFIO_USER_DMA_READ, VFIO_USER_F_TYPE_COMMAND, 0,
		      &dma, sizeof(dma), NULL, 0))
		return FSRV_STOP;
	for (;;) {
		if (fsrv_recv(s, &ans, 2000)) {
			fsrv_fail(s, "no answer to DMA_READ");
			return FSRV_STOP;
		}
		if ((ans.hdr.flags & VFIO_USER_F_TYPE_MASK) !=
		    VFIO_USER_F_TYPE_COMMAND)
			break;
		if (p->n == 16) {
			fsrv_fail(s, "too many commands parked");
			vu_msg_release(&ans);
			return FSRV_STOP;
		}
		p->q[p->n++] = ans;
	}
	if (ans.hdr.msg_id != id || ans.hdr.flags != VFIO_USER_F_TYPE_REPLY ||
	    ans.len != sizeof(dma) + 8) {
		fsrv_fail(s, "DMA_READ answered with id 0x%x flags 0x%x errno %u, %zu bytes",
			  ans.hdr.msg_id, ans.hdr.flags, ans.hdr.error_no,
			  ans.len);
		vu_msg_release(&ans);
		return FSRV_STOP;
	}
	memcpy(reply, &acc, sizeof(acc));
	memcpy(reply + sizeof(acc), (uint8_t *)ans.payload + sizeof(dma), 8);
	vu_msg_release(&ans);
	return fsrv_reply(s, m, reply, sizeof(reply), NULL, 0) ? FSRV_STOP :
								 FSRV_CONTINUE;
}

static int read_through_dma(struct fsrv *s, struct vu_msg *m)
{
	struct parked *p = s->priv;
	int ret = answer_through_dma(s, m);

	while (ret == FSRV_CONTINUE && p->n) {
		struct vu_msg next = p->q[0];

		memmove(&p->q[0], &p->q[1], --p->n * sizeof(p->q[0]));
		ret = answer_through_dma(s, &next);
		vu_msg_release(&next);
	}
	return ret;
}

#define THREADS 4
#define CALLS 200

struct caller {
	struct vuc_device *dev;
	unsigned int index;
	unsigned int bad;
};

static void *caller_main(void *arg)
{
	struct caller *c = arg;
	unsigned int i;

	for (i = 0; i < CALLS; i++) {
		uint64_t off = (uint64_t)((c->index * CALLS + i) % 512) * 8, v;

		if (vuc_region_read(c->dev, 0, off, &v, sizeof(v)) != 8 ||
		    v != off * 3 + 1)
			c->bad++;
	}
	return NULL;
}

TEST_F(dma, main_socket_callers_on_threads)
{
	struct caller c[THREADS];
	struct parked parked = { .n = 0 };
	pthread_t t[THREADS];
	unsigned int i;

	self->s->priv = &parked;
	self->s->handler[VFIO_USER_REGION_READ] = read_through_dma;
	ASSERT_EQ(0, connect_mapped(self, false)) TH_LOG("%s", vuc_strerror(self->dev));
	ASSERT_GT(0, vuc_twin_socket_fd(self->dev));
	for (i = 0; i < 4096 / 8; i++) {
		uint64_t v = (uint64_t)i * 8 * 3 + 1;

		memcpy(self->mem + i * 8, &v, 8);
	}
	for (i = 0; i < THREADS; i++) {
		c[i] = (struct caller){ .dev = self->dev, .index = i };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, caller_main, &c[i]));
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, c[i].bad) TH_LOG("thread %u", i);
	}
	EXPECT_EQ(THREADS * CALLS, self->s->step);
}

/* Within the scripted server's log of 512 messages. */
#define READS 100

static void *reader_main(void *arg)
{
	struct caller *c = arg;
	unsigned int i;

	for (i = 0; i < READS; i++) {
		uint32_t v;

		if (vuc_region_read(c->dev, 0, (c->index * 4) % 4096, &v,
				    sizeof(v)) != 4)
			c->bad++;
	}
	return NULL;
}

/*
 * With the twin socket: callers on several threads read their replies
 * from the main socket one at a time while the thread serves DMA on the
 * twin socket meanwhile.
 */
TEST_F(dma, twin_callers_on_threads_while_serving)
{
	struct caller c[THREADS];
	pthread_t t[THREADS];
	unsigned int i, served = 0;

	ASSERT_EQ(0, connect_mapped(self, true)) TH_LOG("%s", vuc_strerror(self->dev));
	for (i = 0; i < THREADS; i++) {
		c[i] = (struct caller){ .dev = self->dev, .index = i };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, reader_main, &c[i]));
	}
	for (i = 0; i < 100; i++) {
		if (twin_refused(self, VFIO_USER_DMA_WRITE, 0, IOVA + i, 1,
				 1) == 0 &&
		    self->mem[i] == 0xee)
			served++;
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, c[i].bad) TH_LOG("thread %u", i);
	}
	EXPECT_EQ(100, served);
}

/* A header that promises more than our limit, on the main socket. */
static int oversized_command(struct fsrv *s, struct vu_msg *m)
{
	uint8_t buf[16] = { 0 };
	struct vfio_user_header *hdr = (void *)buf;

	(void)m;
	hdr->msg_id = 1;
	hdr->cmd = VFIO_USER_DMA_WRITE;
	hdr->msg_size = 64 << 20;
	fsrv_send_raw(s, buf, sizeof(buf), NULL, 0);
	return FSRV_CONTINUE;
}

TEST_F(dma, main_socket_garbage_wakes_the_caller)
{
	int64_t t0;
	uint32_t v;

	self->s->handler[VFIO_USER_REGION_READ] = oversized_command;
	ASSERT_EQ(0, connect_mapped(self, false)) TH_LOG("%s", vuc_strerror(self->dev));
	t0 = now_ms();
	EXPECT_EQ(-EMSGSIZE, read4(self, &v));
	/* Woken by the break, not by the timeout. */
	EXPECT_GT(TIMEOUT_MS, now_ms() - t0);
	ASSERT_MSG(self->dev, "while we waited for the reply to REGION_READ; at most");
	EXPECT_EQ(-ENOTCONN, read4(self, &v));
}

/* No reply at all: the caller gives up at its deadline. */
static int silence(struct fsrv *s, struct vu_msg *m)
{
	(void)s;
	(void)m;
	return FSRV_CONTINUE;
}

TEST_F(dma, main_socket_silence_times_out)
{
	int64_t t0;
	uint32_t v;

	self->s->handler[VFIO_USER_REGION_READ] = silence;
	ASSERT_EQ(0, connect_mapped(self, false)) TH_LOG("%s", vuc_strerror(self->dev));
	t0 = now_ms();
	EXPECT_EQ(-ETIMEDOUT, read4(self, &v));
	EXPECT_LE(TIMEOUT_MS - 10, now_ms() - t0);
	ASSERT_MSG(self->dev, "no complete reply to REGION_READ within 1000 ms");
	EXPECT_EQ(-ENOTCONN, read4(self, &v));
}

TEST_HARNESS_MAIN
