// SPDX-License-Identifier: BSD-3-Clause
/*
 * Driving the device: region access split by the negotiated limits, reply
 * echo checks, SET_IRQS chunking and validation, reset.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "test_common.h"

#define BAR0 0
#define BAR2 2
#define MSIX VFIO_PCI_MSIX_IRQ_INDEX
#define EVENTFD_TRIGGER (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)

FIXTURE(reg) {
	struct fsrv *s;
	struct vuc_device *dev;
	struct vuc_options opts;
	int efd[3];
	int fds_before;
};

FIXTURE_SETUP(reg)
{
	unsigned int i;

	self->fds_before = count_open_fds();
	self->s = fsrv_new();
	ASSERT_NE(NULL, self->s);
	self->opts.timeout_ms = 2000;
	for (i = 0; i < 3; i++) {
		self->efd[i] = make_eventfd();
		ASSERT_LE(0, self->efd[i]);
	}
}

FIXTURE_TEARDOWN(reg)
{
	unsigned int i;

	for (i = 0; i < 3; i++)
		if (self->efd[i] >= 0)
			close(self->efd[i]);
	CHECK_CLEAN(self);
}

static int connect_json(FIXTURE_DATA(reg) *self, const char *json)
{
	if (json)
		self->s->version_json = json;
	return fsrv_connect(self->s, &self->opts, &self->dev);
}

/* Log entries of command @cmd, in order. */
static unsigned int logged(FIXTURE_DATA(reg) *self, uint16_t cmd,
			   const struct fsrv_log **out, unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < self->s->nr_log; i++)
		if (self->s->log[i].cmd == cmd && n < max)
			out[n++] = &self->s->log[i];
	return n;
}

static void fill(uint8_t *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + seed);
}

/* Region access ------------------------------------------------------------ */

/* Each piece at most the server's max_data_xfer_size, in order, whole. */
TEST_F(reg, split_by_server_limit)
{
	const struct fsrv_log *l[32];
	uint8_t out[10000], in[10000];
	unsigned int i, n;

	ASSERT_EQ(0, connect_json(self, "{\"capabilities\":{\"max_msg_fds\":8,"
				  "\"max_data_xfer_size\":1024}}"));
	EXPECT_EQ(1024, vuc_get_caps(self->dev)->max_data_xfer_size);
	fill(out, sizeof(out), 3);
	ASSERT_EQ(sizeof(out), vuc_region_write(self->dev, BAR2, 0x100, out,
						sizeof(out)))
		TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(0, memcmp(self->s->regions[BAR2].mem + 0x100, out, sizeof(out)));
	ASSERT_EQ(sizeof(in), vuc_region_read(self->dev, BAR2, 0x100, in,
					      sizeof(in)));
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));

	n = logged(self, VFIO_USER_REGION_WRITE, l, 32);
	ASSERT_EQ(10, n);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(BAR2, l[i]->index);
		EXPECT_EQ(0x100 + 1024 * i, l[i]->offset);
		EXPECT_EQ(i < 9 ? 1024 : 784, l[i]->count);
		EXPECT_EQ(16 + 16 + l[i]->count, l[i]->msg_size);
	}
	n = logged(self, VFIO_USER_REGION_READ, l, 32);
	ASSERT_EQ(10, n);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(0x100 + 1024 * i, l[i]->offset);
		EXPECT_EQ(i < 9 ? 1024 : 784, l[i]->count);
		EXPECT_EQ(32, l[i]->msg_size);
	}
}

/* Read replies carry the data, so our own limit splits reads too. */
TEST_F(reg, reads_split_by_our_limit)
{
	const struct fsrv_log *l[8];
	uint8_t buf[5000];

	self->opts.max_data_xfer_size = 2048;
	ASSERT_EQ(0, connect_json(self, NULL));
	fill(buf, sizeof(buf), 1);
	ASSERT_EQ(sizeof(buf), vuc_region_write(self->dev, BAR2, 0, buf,
						sizeof(buf)));
	ASSERT_EQ(1, logged(self, VFIO_USER_REGION_WRITE, l, 8));
	EXPECT_EQ(5000, l[0]->count);
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(sizeof(buf), vuc_region_read(self->dev, BAR2, 0, buf,
					       sizeof(buf)));
	ASSERT_EQ(3, logged(self, VFIO_USER_REGION_READ, l, 8));
	EXPECT_EQ(2048, l[0]->count);
	EXPECT_EQ(2048, l[1]->count);
	EXPECT_EQ(904, l[2]->count);
	EXPECT_EQ(4096, l[2]->offset);
	EXPECT_EQ((uint8_t)(4999 * 7 + 1), buf[4999]);
}

/* 1 MiB in one message each way (the socket takes it in several sends). */
TEST_F(reg, one_mib_in_one_message)
{
	const size_t len = 1 << 20;
	const struct fsrv_log *l[4];
	uint8_t *out = malloc(len), *in = malloc(len);

	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	fill(out, len, 9);
	ASSERT_EQ(0, connect_json(self, NULL));
	EXPECT_EQ(len, vuc_region_write(self->dev, BAR2, 0, out, len));
	EXPECT_EQ(len, vuc_region_read(self->dev, BAR2, 0, in, len));
	EXPECT_EQ(0, memcmp(in, out, len));
	EXPECT_EQ(1, logged(self, VFIO_USER_REGION_WRITE, l, 4));
	EXPECT_EQ(1, logged(self, VFIO_USER_REGION_READ, l, 4));
	free(out);
	free(in);
}

TEST_F(reg, local_range_checks)
{
	uint8_t buf[8];

	ASSERT_EQ(0, connect_json(self, NULL));
	EXPECT_EQ(-EINVAL, vuc_region_read(self->dev, BAR0, 0xfff, buf, 2));
	ASSERT_MSG(self->dev, "2 bytes at offset 0xfff do not fit in region 0 (size 0x1000)");
	EXPECT_EQ(-EINVAL, vuc_region_write(self->dev, BAR0,
					    0xffffffffffffffffULL, buf, 2));
	EXPECT_EQ(-EINVAL, vuc_region_read(self->dev, 9, 0, buf, 1));
	ASSERT_MSG(self->dev, "no region 9");
	EXPECT_EQ(-EINVAL, vuc_region_read(self->dev, 3, 0, buf, 0));
	ASSERT_MSG(self->dev, "region 3 does not allow it");
	EXPECT_EQ(-EINVAL, vuc_region_read(self->dev, BAR0, 0, NULL, 4));
	EXPECT_EQ(0, vuc_region_read(self->dev, BAR0, 0x1000, buf, 0));
	EXPECT_EQ(0, self->s->nr_msgs[VFIO_USER_REGION_READ]);
	EXPECT_EQ(0, self->s->nr_msgs[VFIO_USER_REGION_WRITE]);
}

/* Scripted replies for the echo checks: s->step picks the flaw. */
enum echo_flaw { ECHO_OFFSET, ECHO_SHORT, ECHO_COUNT, ECHO_ERROR };

static int flawed_access(struct fsrv *s, struct vu_msg *m)
{
	enum echo_flaw flaw = *(enum echo_flaw *)s->priv;
	struct vfio_user_region_access acc;
	uint8_t buf[64] = { 0 };
	size_t len;

	if (s->step++)
		return fsrv_default(s, m);
	memcpy(&acc, m->payload, sizeof(acc));
	len = sizeof(acc) +
	      (m->hdr.cmd == VFIO_USER_REGION_READ ? acc.count : 0);
	switch (flaw) {
	case ECHO_OFFSET:
		acc.offset += 4;
		break;
	case ECHO_SHORT:
		len--;
		break;
	case ECHO_COUNT:
		acc.count++;
		break;
	case ECHO_ERROR:
		return fsrv_reply_error(s, m, EFAULT, NULL, 0) ? FSRV_STOP : 0;
	}
	memcpy(buf, &acc, sizeof(acc));
	return fsrv_reply(s, m, buf, len, NULL, 0) ? FSRV_STOP : FSRV_CONTINUE;
}

static int connect_flawed(FIXTURE_DATA(reg) *self, uint16_t cmd,
			  enum echo_flaw *flaw)
{
	self->s->priv = flaw;
	self->s->handler[cmd] = flawed_access;
	return connect_json(self, NULL);
}

TEST_F(reg, read_echo_wrong_offset)
{
	enum echo_flaw flaw = ECHO_OFFSET;
	uint32_t v;

	ASSERT_EQ(0, connect_flawed(self, VFIO_USER_REGION_READ, &flaw));
	EXPECT_EQ(-EPROTO, vuc_region_read(self->dev, BAR0, 8, &v, 4));
	ASSERT_MSG(self->dev, "REGION_READ reply echoes offset 0xc region 0 count 4; we asked for offset 0x8");
	/* Read whole, so the connection is fine. */
	EXPECT_EQ(4, vuc_region_read(self->dev, BAR0, 8, &v, 4));
}

TEST_F(reg, read_reply_short)
{
	enum echo_flaw flaw = ECHO_SHORT;
	uint32_t v;

	ASSERT_EQ(0, connect_flawed(self, VFIO_USER_REGION_READ, &flaw));
	EXPECT_EQ(-EPROTO, vuc_region_read(self->dev, BAR0, 8, &v, 4));
	ASSERT_MSG(self->dev, "has a 19-byte payload; must be 20");
}

TEST_F(reg, write_echo_wrong_count)
{
	enum echo_flaw flaw = ECHO_COUNT;
	uint32_t v = 1;

	ASSERT_EQ(0, connect_flawed(self, VFIO_USER_REGION_WRITE, &flaw));
	EXPECT_EQ(-EPROTO, vuc_region_write(self->dev, BAR0, 8, &v, 4));
	ASSERT_MSG(self->dev, "REGION_WRITE reply echoes offset 0x8 region 0 count 5");
}

TEST_F(reg, write_error_reply)
{
	enum echo_flaw flaw = ECHO_ERROR;
	uint32_t v = 1;

	ASSERT_EQ(0, connect_flawed(self, VFIO_USER_REGION_WRITE, &flaw));
	EXPECT_EQ(-EFAULT, vuc_region_write(self->dev, BAR0, 8, &v, 4));
	ASSERT_MSG(self->dev, "server failed REGION_WRITE: Bad address (EFAULT)");
	EXPECT_EQ(4, vuc_region_write(self->dev, BAR0, 8, &v, 4));
}

/* Interrupts ------------------------------------------------------------------ */

/*
 * max_msg_fds 2: assigned runs go two fds a message, runs of -1 go whole
 * and without fds.
 */
TEST_F(reg, set_irqs_chunked)
{
	static const struct { uint32_t start, count, nr_fds; } want[] = {
		{ 0, 2, 2 }, { 2, 1, 1 }, { 3, 2, 0 }, { 5, 2, 2 },
		{ 7, 2, 2 }, { 9, 1, 0 },
	};
	const struct fsrv_log *l[16];
	int32_t fds[10];
	unsigned int i, n;

	self->s->irqs[MSIX].count = 10;
	ASSERT_EQ(0, connect_json(self, "{\"capabilities\":{\"max_msg_fds\":2}}"));
	fds[0] = self->efd[0]; fds[1] = self->efd[1]; fds[2] = self->efd[2];
	fds[3] = -1; fds[4] = -1;
	fds[5] = self->efd[0]; fds[6] = self->efd[1]; fds[7] = self->efd[2];
	fds[8] = self->efd[0]; fds[9] = -1;
	ASSERT_EQ(0, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX, 0, 10, fds))
		TH_LOG("%s", vuc_strerror(self->dev));
	n = logged(self, VFIO_USER_DEVICE_SET_IRQS, l, 16);
	ASSERT_EQ(6, n);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(EVENTFD_TRIGGER, l[i]->flags);
		EXPECT_EQ(MSIX, l[i]->index);
		EXPECT_EQ(want[i].start, l[i]->offset);
		EXPECT_EQ(want[i].count, l[i]->count);
		EXPECT_EQ(want[i].nr_fds, l[i]->nr_fds);
		EXPECT_EQ(20, l[i]->argsz);
		EXPECT_EQ(36, l[i]->msg_size);
	}
}

/* No JSON: the spec's default of 1 fd per message. */
TEST_F(reg, set_irqs_default_one_fd)
{
	const struct fsrv_log *l[8];
	int32_t fds[3];
	unsigned int i;

	self->s->version_json = NULL;
	ASSERT_EQ(0, connect_json(self, NULL));
	EXPECT_EQ(1, vuc_get_caps(self->dev)->max_msg_fds);
	for (i = 0; i < 3; i++)
		fds[i] = self->efd[i];
	ASSERT_EQ(0, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX, 1, 3, fds));
	ASSERT_EQ(3, logged(self, VFIO_USER_DEVICE_SET_IRQS, l, 8));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(1 + i, l[i]->offset);
		EXPECT_EQ(1, l[i]->count);
		EXPECT_EQ(1, l[i]->nr_fds);
	}
}

TEST_F(reg, set_irqs_server_takes_no_fds)
{
	const struct fsrv_log *l[4];
	int32_t fds[2] = { -1, -1 };

	ASSERT_EQ(0, connect_json(self, "{\"capabilities\":{\"max_msg_fds\":0}}"));
	EXPECT_EQ(-EOPNOTSUPP, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX,
					    0, 1, &self->efd[0]));
	ASSERT_MSG(self->dev, "server advertised max_msg_fds=0; it cannot receive eventfds, so interrupts cannot be set up");
	EXPECT_EQ(0, self->s->nr_msgs[VFIO_USER_DEVICE_SET_IRQS]);
	/* De-assigning needs no fds. */
	EXPECT_EQ(0, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX, 2, 2, fds));
	ASSERT_EQ(1, logged(self, VFIO_USER_DEVICE_SET_IRQS, l, 4));
	EXPECT_EQ(0, l[0]->nr_fds);
	EXPECT_EQ(2, l[0]->count);
}

TEST_F(reg, set_irqs_bool_and_none)
{
	const struct fsrv_log *l[4];
	uint8_t mask[4] = { 1, 0, 1, 1 };

	ASSERT_EQ(0, connect_json(self, NULL));
	ASSERT_EQ(0, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_BOOL |
				  VFIO_IRQ_SET_ACTION_MASK, MSIX, 0, 4, mask));
	ASSERT_EQ(0, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_NONE |
				  VFIO_IRQ_SET_ACTION_TRIGGER, MSIX, 0, 0, NULL));
	ASSERT_EQ(2, logged(self, VFIO_USER_DEVICE_SET_IRQS, l, 4));
	EXPECT_EQ(24, l[0]->argsz);
	EXPECT_EQ(16 + 24, l[0]->msg_size);
	EXPECT_EQ(4, l[0]->count);
	EXPECT_EQ(20, l[1]->argsz);
	EXPECT_EQ(0, l[1]->count);
}

/* Every malformed request is refused before anything is sent. */
TEST_F(reg, set_irqs_bad_arguments)
{
	const uint32_t trig = VFIO_IRQ_SET_ACTION_TRIGGER;
	uint8_t two = 2, one = 1;
	int32_t bad = -2, closed = 1000;

	ASSERT_EQ(0, connect_json(self, NULL));
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_NONE |
					VFIO_IRQ_SET_DATA_BOOL | trig, 0, 0, 1,
					&one));
	ASSERT_MSG(self->dev, "exactly one VFIO_IRQ_SET_DATA_* and one VFIO_IRQ_SET_ACTION_*");
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, trig, 0, 0, 1, NULL));
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_NONE, 0,
					0, 1, NULL));
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_NONE |
					trig | VFIO_IRQ_SET_ACTION_MASK, 0, 0,
					1, NULL));
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_NONE |
					trig | 0x100, 0, 0, 1, NULL));
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_NONE |
					trig, 5, 0, 1, NULL));
	ASSERT_MSG(self->dev, "no IRQ index 5");
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX, 3,
					2, self->efd));
	ASSERT_MSG(self->dev, "IRQ index 2 has 4");
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, EVENTFD_TRIGGER,
					VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX, 0,
					0, NULL));
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_BOOL |
					trig, 0, 0, 1, &two));
	ASSERT_MSG(self->dev, "bool 0 is 2; must be 0 or 1");
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, VFIO_IRQ_SET_DATA_BOOL |
					trig, 0, 0, 1, NULL));
	EXPECT_EQ(-EBADF, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX, 0, 1,
				       &bad));
	ASSERT_MSG(self->dev, "eventfd 0 is -2");
	EXPECT_EQ(-EBADF, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX, 0, 1,
				       &closed));
	EXPECT_EQ(0, self->s->nr_msgs[VFIO_USER_DEVICE_SET_IRQS]);
}

static int refuse(struct fsrv *s, struct vu_msg *m)
{
	return fsrv_reply_error(s, m, *(uint32_t *)s->priv, NULL, 0) ?
	       FSRV_STOP : FSRV_CONTINUE;
}

TEST_F(reg, set_irqs_server_error)
{
	uint32_t err = EINVAL;

	self->s->priv = &err;
	self->s->handler[VFIO_USER_DEVICE_SET_IRQS] = refuse;
	ASSERT_EQ(0, connect_json(self, NULL));
	EXPECT_EQ(-EINVAL, vuc_set_irqs(self->dev, EVENTFD_TRIGGER, MSIX, 1, 1,
					&self->efd[0]));
	ASSERT_MSG(self->dev, "server failed DEVICE_SET_IRQS: Invalid argument (EINVAL) (flags 0x24, index 2, vectors 1+1, 1 fds)");
}

/* Reset ------------------------------------------------------------------ */

TEST_F(reg, reset)
{
	uint32_t err = EBUSY;

	ASSERT_EQ(0, connect_json(self, NULL));
	EXPECT_EQ(0, vuc_reset(self->dev)) TH_LOG("%s", vuc_strerror(self->dev));
	EXPECT_EQ(1, self->s->nr_msgs[VFIO_USER_DEVICE_RESET]);
	self->s->priv = &err;
	self->s->handler[VFIO_USER_DEVICE_RESET] = refuse;
	EXPECT_EQ(-EBUSY, vuc_reset(self->dev));
	ASSERT_MSG(self->dev, "server failed DEVICE_RESET: Device or resource busy (EBUSY)");
}

TEST_HARNESS_MAIN
