// SPDX-License-Identifier: BSD-3-Clause
/*
 * Migration on the wire, against a scripted server: the arcs actually sent
 * for combination moves, chunk sizes within both sides' limits, padded
 * MIG_DATA_READ replies (as libvfio-user sends them) and size fields that
 * lie, state values and echoes that are wrong, refusals named in the
 * error, and dirty bitmaps with bits past their range.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "test_common.h"

enum mode {
	M_GOOD,
	M_PAD,			/* READ replies padded to the size asked */
	M_SIZE_TOO_BIG,		/* READ size field beyond what was asked */
	M_SIZE_PAST_END,	/* READ size field beyond the payload */
	M_STATE_P2P,		/* GET state says RUNNING_P2P */
	M_STATE_BOGUS,		/* GET state says 42 */
	M_BAD_ECHO,		/* SET state reply names another state */
	M_REFUSE_STOP,		/* SET STOP refused with EBUSY */
	M_NO_STOP_COPY,		/* migration flags lack STOP_COPY */
	M_NO_FEATURE,		/* DEVICE_FEATURE refused (EINVAL) */
	M_BITMAP_EXTRA,		/* dirty report sets a bit past the range */
	M_DIE_ON_STOP,		/* SET STOP: the server goes away */
};

#define STREAM_LEN	3000

struct fake {
	enum mode mode;
	uint32_t state;
	uint32_t sets[16];	/* SET states in order */
	unsigned int nr_sets;
	uint32_t sizes[64];	/* MIG_DATA_* size fields in order */
	unsigned int nr_sizes;
	size_t pos;		/* of the stream read so far */
	uint8_t in[STREAM_LEN];	/* what was written */
	size_t in_len;
};

static uint8_t stream_byte(size_t i)
{
	return (uint8_t)(i * 13 + 5);
}

static int feature(struct fsrv *s, struct vu_msg *m, struct fake *f)
{
	struct vfio_user_device_feature *req = m->payload;
	uint32_t idx = req->flags & VFIO_DEVICE_FEATURE_MASK;
	uint8_t out[256] = { 0 };
	struct vfio_user_device_feature *rep = (void *)out;
	size_t len = 16;

	if (m->len < sizeof(*req) || f->mode == M_NO_FEATURE)
		return fsrv_reply_error(s, m, EINVAL, NULL, 0);
	rep->flags = req->flags;
	if (req->flags & VFIO_DEVICE_FEATURE_PROBE) {
		memcpy(out, m->payload, m->len < sizeof(out) ? m->len : sizeof(out));
		len = m->len;
	} else if (idx == VFIO_DEVICE_FEATURE_MIGRATION) {
		uint64_t fl = f->mode == M_NO_STOP_COPY ? VFIO_USER_MIGRATION_PRE_COPY :
			      VFIO_USER_MIGRATION_STOP_COPY |
			      VFIO_USER_MIGRATION_PRE_COPY | (1ULL << 40);

		memcpy(rep->data, &fl, 8);
	} else if (idx == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE &&
		   (req->flags & VFIO_DEVICE_FEATURE_GET)) {
		uint32_t st = f->mode == M_STATE_P2P ? 5 :
			      f->mode == M_STATE_BOGUS ? 42 : f->state;

		memcpy(rep->data, &st, 4);
	} else if (idx == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE) {
		uint32_t st;

		memcpy(&st, req->data, 4);
		if (f->nr_sets < 16)
			f->sets[f->nr_sets++] = st;
		if (f->mode == M_REFUSE_STOP && st == VFIO_USER_DEVICE_STATE_STOP)
			return fsrv_reply_error(s, m, EBUSY, NULL, 0);
		if (f->mode == M_DIE_ON_STOP && st == VFIO_USER_DEVICE_STATE_STOP)
			return -1;
		f->state = st;
		memcpy(out, m->payload, m->len);
		if (f->mode == M_BAD_ECHO)
			((struct vfio_user_device_feature_mig_state *)rep->data)->device_state ^= 1;
		len = m->len;
	} else if (idx == VFIO_DEVICE_FEATURE_DMA_LOGGING_START ||
		   idx == VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP) {
		memcpy(out, m->payload, m->len < sizeof(out) ? m->len : sizeof(out));
		len = m->len;
	} else if (idx == VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT) {
		struct vfio_user_device_feature_dma_logging_report *r =
			(void *)rep->data;

		memcpy(r, req->data, sizeof(*r));
		/* 10 pages: bits 0 and 9, and (M_BITMAP_EXTRA) bit 10. */
		r->bitmap[0] = 1 | 1 << 9 | (f->mode == M_BITMAP_EXTRA ? 1 << 10 : 0);
		len = 8 + 24 + 8;
	} else {
		return fsrv_reply_error(s, m, EINVAL, NULL, 0);
	}
	rep->argsz = (uint32_t)len;
	return fsrv_reply(s, m, out, len, NULL, 0);
}

static int mig_read(struct fsrv *s, struct vu_msg *m, struct fake *f)
{
	struct vfio_user_mig_data *req = m->payload, *rep;
	size_t n, len, i;
	int ret;

	if (m->len != sizeof(*req))
		return fsrv_reply_error(s, m, EINVAL, NULL, 0);
	if (f->nr_sizes < 64)
		f->sizes[f->nr_sizes++] = req->size;
	n = STREAM_LEN - f->pos < req->size ? STREAM_LEN - f->pos : req->size;
	len = sizeof(*rep) + (f->mode == M_PAD ? req->size : n);
	rep = calloc(1, len + 64);
	if (!rep)
		return FSRV_STOP;
	rep->argsz = (uint32_t)(sizeof(*rep) + n);
	rep->size = (uint32_t)n;
	for (i = 0; i < n; i++)
		rep->data[i] = stream_byte(f->pos + i);
	f->pos += n;
	if (f->mode == M_SIZE_TOO_BIG) {
		rep->size = req->size + 1;
		len = sizeof(*rep) + req->size + 1;
	} else if (f->mode == M_SIZE_PAST_END) {
		len = sizeof(*rep) + n / 2;
	}
	ret = fsrv_reply(s, m, rep, len, NULL, 0);
	free(rep);
	return ret;
}

static int mig_write(struct fsrv *s, struct vu_msg *m, struct fake *f)
{
	struct vfio_user_mig_data *req = m->payload;

	if (m->len < sizeof(*req) || req->size != m->len - sizeof(*req))
		return fsrv_reply_error(s, m, EINVAL, NULL, 0);
	if (f->nr_sizes < 64)
		f->sizes[f->nr_sizes++] = req->size;
	if (f->in_len + req->size <= STREAM_LEN)
		memcpy(f->in + f->in_len, req->data, req->size);
	f->in_len += req->size;
	return fsrv_reply(s, m, NULL, 0, NULL, 0);
}

static int handler(struct fsrv *s, struct vu_msg *m)
{
	struct fake *f = s->priv;
	int ret;

	switch (m->hdr.cmd) {
	case VFIO_USER_DEVICE_FEATURE:
		ret = feature(s, m, f);
		break;
	case VFIO_USER_MIG_DATA_READ:
		ret = mig_read(s, m, f);
		break;
	default:
		ret = mig_write(s, m, f);
		break;
	}
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

FIXTURE(mw) {
	struct fsrv *s;
	struct vuc_device *dev;
	struct vuc_options opts;
	struct fake f;
	int fds_before;
};

FIXTURE_SETUP(mw)
{
	self->fds_before = count_open_fds();
	self->s = fsrv_new();
	ASSERT_NE(NULL, self->s);
	self->opts.timeout_ms = 2000;
	self->opts.flags = VUC_OPT_USERSPACE;
	self->f.state = VFIO_USER_DEVICE_STATE_RUNNING;
	self->s->priv = &self->f;
	self->s->handler[VFIO_USER_DEVICE_FEATURE] = handler;
	self->s->handler[VFIO_USER_MIG_DATA_READ] = handler;
	self->s->handler[VFIO_USER_MIG_DATA_WRITE] = handler;
}

FIXTURE_TEARDOWN(mw)
{
	CHECK_CLEAN(self);
}

static int go(FIXTURE_DATA(mw) *self, enum mode mode, const char *json)
{
	self->f.mode = mode;
	if (json)
		self->s->version_json = json;
	return fsrv_connect(self->s, &self->opts, &self->dev);
}

#define SERVER_1000 \
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1000}}"

/* Combination moves are sent as their direct arcs, in order. */
TEST_F(mw, arcs_walked)
{
	static const uint32_t want[] = {
		VFIO_USER_DEVICE_STATE_PRE_COPY, VFIO_USER_DEVICE_STATE_RUNNING,
		VFIO_USER_DEVICE_STATE_STOP, VFIO_USER_DEVICE_STATE_RESUMING,
		VFIO_USER_DEVICE_STATE_STOP, VFIO_USER_DEVICE_STATE_STOP_COPY,
	};
	unsigned int i;

	ASSERT_EQ(0, go(self, M_GOOD, NULL));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_PRE_COPY));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_RESUMING));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_STOP_COPY));
	ASSERT_EQ(sizeof(want) / sizeof(want[0]), self->f.nr_sets);
	for (i = 0; i < self->f.nr_sets; i++)
		EXPECT_EQ(want[i], self->f.sets[i]) TH_LOG("arc %u", i);
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_STOP_COPY, vuc_mig_state(self->dev));
}

/* Known flags pass, unknown bits are dropped. */
TEST_F(mw, flags)
{
	uint64_t flags = 0;

	ASSERT_EQ(0, go(self, M_GOOD, NULL));
	ASSERT_EQ(0, vuc_mig_get_flags(self->dev, &flags));
	EXPECT_EQ(VFIO_USER_MIGRATION_STOP_COPY | VFIO_USER_MIGRATION_PRE_COPY,
		  flags);
	/* Asked once. */
	ASSERT_EQ(0, vuc_mig_get_flags(self->dev, &flags));
	EXPECT_EQ(1, self->s->nr_msgs[VFIO_USER_DEVICE_FEATURE]);
}

/* Reads in pieces of the server's 1000, padded replies trusted by size. */
TEST_F(mw, read_chunks_and_padding)
{
	uint8_t buf[STREAM_LEN + 100];
	unsigned int i;
	ssize_t n;

	ASSERT_EQ(0, go(self, M_PAD, SERVER_1000));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_STOP_COPY));
	n = vuc_mig_read(self->dev, buf, sizeof(buf));
	ASSERT_EQ(STREAM_LEN, n) TH_LOG("%s", vuc_strerror(self->dev));
	for (i = 0; i < STREAM_LEN; i++)
		ASSERT_EQ(stream_byte(i), buf[i]) TH_LOG("byte %u", i);
	/* 1000, 1000, 1000, then the 100 left of the buffer (0 returned). */
	ASSERT_EQ(4, self->f.nr_sizes);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(1000, self->f.sizes[i]);
	EXPECT_EQ(100, self->f.sizes[3]);
}

/* Writes within the smaller limit: our 600 below the server's 1000. */
TEST_F(mw, write_chunks_within_both_limits)
{
	uint8_t buf[STREAM_LEN];
	unsigned int i;

	self->opts.max_data_xfer_size = 600;
	ASSERT_EQ(0, go(self, M_GOOD, SERVER_1000));
	for (i = 0; i < STREAM_LEN; i++)
		buf[i] = stream_byte(i);
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_RESUMING));
	ASSERT_EQ(0, vuc_mig_write(self->dev, buf, sizeof(buf)));
	ASSERT_EQ(STREAM_LEN, self->f.in_len);
	EXPECT_EQ(0, memcmp(buf, self->f.in, STREAM_LEN));
	ASSERT_EQ(5, self->f.nr_sizes);
	for (i = 0; i < self->f.nr_sizes; i++)
		EXPECT_EQ(600, self->f.sizes[i]);
}

TEST_F(mw, read_size_beyond_request)
{
	uint8_t buf[512];

	ASSERT_EQ(0, go(self, M_SIZE_TOO_BIG, NULL));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_STOP_COPY));
	EXPECT_EQ(-EPROTO, vuc_mig_read(self->dev, buf, sizeof(buf)));
	ASSERT_MSG(self->dev, "reply to MIG_DATA_READ has 521 bytes");
}

TEST_F(mw, read_size_beyond_payload)
{
	uint8_t buf[512];

	ASSERT_EQ(0, go(self, M_SIZE_PAST_END, NULL));
	ASSERT_EQ(0, vuc_mig_set_state(self->dev, VFIO_USER_DEVICE_STATE_STOP_COPY));
	EXPECT_EQ(-EPROTO, vuc_mig_read(self->dev, buf, sizeof(buf)));
}

TEST_F(mw, state_values_checked)
{
	uint32_t st;

	ASSERT_EQ(0, go(self, M_STATE_P2P, NULL));
	EXPECT_EQ(-EPROTO, vuc_mig_get_state(self->dev, &st));
	ASSERT_MSG(self->dev, "RUNNING_P2P");
	EXPECT_EQ(-1, vuc_mig_state(self->dev));
	self->f.mode = M_STATE_BOGUS;
	EXPECT_EQ(-EPROTO, vuc_mig_get_state(self->dev, &st));
	EXPECT_EQ(-EPROTO, vuc_mig_set_state(self->dev,
					     VFIO_USER_DEVICE_STATE_STOP));
	EXPECT_EQ(0, self->f.nr_sets);
}

TEST_F(mw, set_echo_checked)
{
	ASSERT_EQ(0, go(self, M_BAD_ECHO, NULL));
	EXPECT_EQ(-EPROTO, vuc_mig_set_state(self->dev,
					     VFIO_USER_DEVICE_STATE_STOP));
	ASSERT_MSG(self->dev, "does not repeat");
}

/* A refused arc: the server's errno, what it refused, where it is now. */
TEST_F(mw, refusal_named_state_known)
{
	ASSERT_EQ(0, go(self, M_REFUSE_STOP, NULL));
	EXPECT_EQ(-EBUSY, vuc_mig_set_state(self->dev,
					    VFIO_USER_DEVICE_STATE_STOP_COPY));
	ASSERT_MSG(self->dev, "server refused the move from RUNNING to STOP");
	ASSERT_MSG(self->dev, "EBUSY");
	ASSERT_MSG(self->dev, "in RUNNING now");
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, vuc_mig_state(self->dev));
}

/* The server dies in the middle of an arc: a clean error, state unknown. */
TEST_F(mw, server_gone_mid_arc)
{
	uint32_t st;

	ASSERT_EQ(0, go(self, M_DIE_ON_STOP, NULL));
	ASSERT_EQ(0, vuc_mig_get_state(self->dev, &st));
	EXPECT_EQ(VFIO_USER_DEVICE_STATE_RUNNING, vuc_mig_state(self->dev));
	EXPECT_GT(0, vuc_mig_set_state(self->dev,
				       VFIO_USER_DEVICE_STATE_STOP_COPY));
	ASSERT_MSG(self->dev, "state is unknown now");
	EXPECT_EQ(-1, vuc_mig_state(self->dev));
	EXPECT_EQ(-ENOTCONN, vuc_mig_get_state(self->dev, &st));
}

TEST_F(mw, no_migration)
{
	uint64_t flags;

	ASSERT_EQ(0, go(self, M_NO_STOP_COPY, NULL));
	EXPECT_EQ(-ENOTSUP, vuc_mig_get_flags(self->dev, &flags));
	ASSERT_MSG(self->dev, "lack STOP_COPY");
	EXPECT_EQ(-ENOTSUP, vuc_mig_set_state(self->dev,
					      VFIO_USER_DEVICE_STATE_STOP));
}

TEST_F(mw, feature_refused)
{
	uint64_t flags;

	ASSERT_EQ(0, go(self, M_NO_FEATURE, NULL));
	EXPECT_EQ(-ENOTSUP, vuc_mig_get_flags(self->dev, &flags));
	ASSERT_MSG(self->dev, "cannot migrate");
	EXPECT_EQ(0, vuc_dirty_supported(self->dev));
	/* Userspace backend and no DMA logging: nothing can log. */
	EXPECT_EQ(-ENOTSUP, vuc_dirty_start(self->dev, 4096, NULL, 0));
}

TEST_F(mw, dirty_bitmap_checked)
{
	uint64_t bm[1];

	struct vfio_user_device_feature_dma_logging_range bad[2] = {
		{ .iova = 0x10000, .length = 4096 },
		{ .iova = 0x20000, .length = 100 },
	};
	unsigned int nr_msgs;

	ASSERT_EQ(0, go(self, M_GOOD, NULL));
	EXPECT_EQ(-EINVAL, vuc_dirty_stop(self->dev));
	/* Checked before anything is sent. */
	nr_msgs = self->s->nr_msgs[VFIO_USER_DEVICE_FEATURE];
	EXPECT_EQ(-EINVAL, vuc_dirty_start(self->dev, 4096, bad, 2));
	ASSERT_MSG(self->dev, "dirty range 1");
	EXPECT_EQ(-EINVAL, vuc_dirty_start(self->dev, 3 * 4096, NULL, 0));
	EXPECT_EQ(-EINVAL, vuc_dirty_start(self->dev, 4096, NULL, 1));
	EXPECT_EQ(-EINVAL, vuc_dirty_report(self->dev, 0, 4096, bm, sizeof(bm)));
	EXPECT_EQ(nr_msgs, self->s->nr_msgs[VFIO_USER_DEVICE_FEATURE]);

	ASSERT_EQ(0, vuc_dirty_start(self->dev, 4096, bad, 1));
	EXPECT_EQ(-EBUSY, vuc_dirty_start(self->dev, 4096, NULL, 0));
	EXPECT_EQ(-EINVAL, vuc_dirty_report(self->dev, 0x10000, 10 * 4096, bm, 4));
	EXPECT_EQ(-EINVAL, vuc_dirty_report(self->dev, 0x10001, 4096, bm, 8));
	EXPECT_EQ(-EINVAL, vuc_dirty_report(self->dev, ~0ULL & ~4095ULL, 8192,
					    bm, 8));
	/* A bitmap larger than one reply can carry. */
	EXPECT_EQ(-E2BIG, vuc_dirty_report(self->dev, 0, 1ULL << 46,
					   (uint64_t *)bm, SIZE_MAX));
	ASSERT_EQ(0, vuc_dirty_report(self->dev, 0x10000, 10 * 4096, bm,
				      sizeof(bm)));
	EXPECT_EQ(1 | 1 << 9, bm[0]);
	self->f.mode = M_BITMAP_EXTRA;
	EXPECT_EQ(-EPROTO, vuc_dirty_report(self->dev, 0x10000, 10 * 4096, bm,
					    sizeof(bm)));
	ASSERT_MSG(self->dev, "past the end");
	EXPECT_EQ(0, vuc_dirty_stop(self->dev));
}

TEST_HARNESS_MAIN
