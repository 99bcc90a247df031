// SPDX-License-Identifier: BSD-3-Clause
/*
 * The buffered reader (struct vu_reader, lib/wire.c) on a socketpair:
 * messages queued back to back come out one by one from fewer recvmsg()
 * calls; fds stay with the message whose header they came with; a message
 * split across reads is put together again; a 1 MiB body goes straight
 * into its own buffer; every error of vu_recv() is kept, with the stream
 * left unusable after one; and thousands of messages cut at random places
 * come out whole, each with its own fds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "kselftest_harness.h"
#include "test_common.h"

#define TIMEOUT_MS 2000
#define MAX_PAYLOAD (2u << 20)

FIXTURE(reader) {
	int sv[2]; /* sv[0]: the sender, sv[1]: read by @r */
	struct vu_reader r;
	int fds_before;
};

FIXTURE_SETUP(reader)
{
	self->fds_before = count_open_fds();
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				self->sv));
	vu_reader_init(&self->r, self->sv[1]);
}

FIXTURE_TEARDOWN(reader)
{
	vu_reader_release(&self->r);
	if (self->sv[0] >= 0)
		close(self->sv[0]);
	close(self->sv[1]);
	EXPECT_EQ(self->fds_before, count_open_fds());
	EXPECT_EQ(0, __lsan_do_recoverable_leak_check());
}

/* A command @id of @len payload bytes, each (id + i), with @fds. */
static int send_cmd(int sock, uint16_t id, size_t len, const int *fds,
		    unsigned int nr_fds)
{
	struct vfio_user_header hdr = {
		.msg_id = id,
		.cmd = VFIO_USER_REGION_READ,
		.msg_size = (uint32_t)(sizeof(hdr) + len),
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	uint8_t *body = malloc(len ? len : 1);
	size_t i;
	int ret;

	if (!body)
		return -ENOMEM;
	for (i = 0; i < len; i++)
		body[i] = (uint8_t)(id + i);
	ret = vu_send(sock, &hdr, body, len, fds, nr_fds, TIMEOUT_MS);
	free(body);
	return ret;
}

/* Raw bytes in one sendmsg(), with @nr_fds copies of @fd on them. */
static int send_raw(int sock, const void *buf, size_t len, int fd,
		    unsigned int nr_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 100)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;
	unsigned int i;

	if (nr_fds > 100)
		return -EINVAL;
	if (nr_fds) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		for (i = 0; i < nr_fds; i++)
			memcpy(CMSG_DATA(cmsg) + i * sizeof(int), &fd,
			       sizeof(fd));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* A header saying @msg_size, as raw bytes. */
static void make_hdr(void *buf, uint16_t id, uint32_t msg_size)
{
	struct vfio_user_header hdr = {
		.msg_id = id,
		.cmd = VFIO_USER_REGION_READ,
		.msg_size = msg_size,
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};

	memcpy(buf, &hdr, sizeof(hdr));
}

/* Is @fd the same open file as @orig? */
static bool same_file(int fd, int orig)
{
	struct stat a, b;

	return fd >= 0 && !fstat(fd, &a) && !fstat(orig, &b) &&
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* The next message must be command @id with @len bytes and @nr_fds fds. */
static void expect_msg(struct __test_metadata *_metadata,
		       struct vu_reader *r, uint16_t id, size_t len,
		       unsigned int nr_fds, struct vu_msg *msg)
{
	const uint8_t *body;
	size_t i, bad = 0;

	ASSERT_EQ(0, vu_recv_buffered(r, msg, MAX_PAYLOAD, VU_WIRE_MAX_FDS,
				      TIMEOUT_MS));
	EXPECT_EQ(id, msg->hdr.msg_id);
	EXPECT_EQ(VFIO_USER_REGION_READ, msg->hdr.cmd);
	ASSERT_EQ(len, msg->len);
	EXPECT_EQ(nr_fds, msg->nr_fds) TH_LOG("message #%u", id);
	body = msg->payload;
	for (i = 0; i < len; i++)
		if (body[i] != (uint8_t)(id + i))
			bad++;
	EXPECT_EQ(0, bad) TH_LOG("message #%u: %zu bytes differ", id, bad);
}

TEST_F(reader, small_messages_come_out_one_by_one_from_one_read)
{
	struct vu_msg msg;

	ASSERT_EQ(0, send_cmd(self->sv[0], 1, 16, NULL, 0));
	ASSERT_EQ(0, send_cmd(self->sv[0], 2, 0, NULL, 0));
	ASSERT_EQ(0, send_cmd(self->sv[0], 3, 100, NULL, 0));

	expect_msg(_metadata, &self->r, 1, 16, 0, &msg);
	vu_msg_release(&msg);
	/* All three came with the first read; two wait in the buffer. */
	EXPECT_EQ(1, self->r.reads);
	EXPECT_EQ(16 + 116, vu_reader_buffered(&self->r));
	expect_msg(_metadata, &self->r, 2, 0, 0, &msg);
	EXPECT_EQ(NULL, msg.payload);
	vu_msg_release(&msg);
	expect_msg(_metadata, &self->r, 3, 100, 0, &msg);
	vu_msg_release(&msg);
	EXPECT_EQ(1, self->r.reads);
	EXPECT_EQ(0, vu_reader_buffered(&self->r));

	/* EOF at a message boundary, after all of them. */
	close(self->sv[0]);
	self->sv[0] = -1;
	EXPECT_EQ(-ECONNRESET, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
						VU_WIRE_MAX_FDS, TIMEOUT_MS));
	EXPECT_EQ(2, self->r.reads);
}

/*
 * The kernel ends a read after the skb whose fds it took: A and B come in
 * one read with B's fd, C in the next with its two, D after that. (A
 * kernel that also stopped before an skb with fds would need one more
 * read: the counts are bounds, the attribution is exact.)
 */
TEST_F(reader, fds_stay_with_their_message)
{
	int efd1 = make_eventfd(), efd2 = make_eventfd();
	int two[2] = { efd2, efd2 };
	struct vu_msg msg;

	ASSERT_LE(0, efd1);
	ASSERT_LE(0, efd2);
	ASSERT_EQ(0, send_cmd(self->sv[0], 1, 8, NULL, 0));
	ASSERT_EQ(0, send_cmd(self->sv[0], 2, 24, &efd1, 1));
	ASSERT_EQ(0, send_cmd(self->sv[0], 3, 0, two, 2));
	ASSERT_EQ(0, send_cmd(self->sv[0], 4, 40, NULL, 0));

	expect_msg(_metadata, &self->r, 1, 8, 0, &msg);
	vu_msg_release(&msg);
	expect_msg(_metadata, &self->r, 2, 24, 1, &msg);
	EXPECT_TRUE(same_file(msg.fds[0], efd1));
	vu_msg_release(&msg);
	EXPECT_GE(2, self->r.reads);
	expect_msg(_metadata, &self->r, 3, 0, 2, &msg);
	EXPECT_TRUE(same_file(msg.fds[0], efd2));
	EXPECT_TRUE(same_file(msg.fds[1], efd2));
	vu_msg_release(&msg);
	expect_msg(_metadata, &self->r, 4, 40, 0, &msg);
	vu_msg_release(&msg);
	/* vu_recv() would have made 8. */
	EXPECT_GE(4, self->r.reads);
	TH_LOG("4 messages in %lu reads", self->r.reads);
	close(efd1);
	close(efd2);
}

/* fds taken with vu_msg_take_fd() are the caller's; the rest are closed. */
TEST_F(reader, fds_taken_and_released)
{
	int efd = make_eventfd(), fd;
	struct vu_msg msg;
	int three[3] = { efd, efd, efd };

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, send_cmd(self->sv[0], 7, 4, three, 3));
	expect_msg(_metadata, &self->r, 7, 4, 3, &msg);
	fd = vu_msg_take_fd(&msg, 1);
	EXPECT_TRUE(same_file(fd, efd));
	vu_msg_release(&msg);
	close(fd);
	close(efd);
}

struct sender {
	int sock; /* sends here */
	int peer; /* the reader's end, to see what it has taken */
	uint8_t *buf;
	size_t len;
	size_t split; /* bytes sent first; the rest once they are taken */
	int fd_first; /* attached to the first part if >= 0 */
	int fd_second; /* attached to the second part if >= 0 */
	bool eof; /* shut down instead of sending the second part */
	int ret;
};

/* Wait until the reader's end @peer has taken everything sent so far. */
static void wait_drained(int peer)
{
	int queued;

	while (!ioctl(peer, SIOCINQ, &queued) && queued > 0)
		fsrv_sleep_ms(1);
}

static void *send_split(void *arg)
{
	struct sender *s = arg;

	s->ret = send_raw(s->sock, s->buf, s->split, s->fd_first,
			  s->fd_first >= 0);
	if (s->ret)
		return NULL;
	/* So the reader gets the first part in a read of its own. */
	wait_drained(s->peer);
	if (s->eof) {
		s->ret = shutdown(s->sock, SHUT_WR) ? -errno : 0;
		return NULL;
	}
	/* Blocks as needed: a big rest is more than the socket holds. */
	s->ret = send_raw(s->sock, s->buf + s->split, s->len - s->split,
			  s->fd_second, s->fd_second >= 0);
	return NULL;
}

/* Message @id of @size bytes in all, its body as send_cmd() makes it. */
static uint8_t *make_msg(uint16_t id, size_t size)
{
	uint8_t *buf = malloc(size);
	size_t i;

	if (!buf)
		return NULL;
	make_hdr(buf, id, (uint32_t)size);
	for (i = sizeof(struct vfio_user_header); i < size; i++)
		buf[i] = (uint8_t)(id + i - sizeof(struct vfio_user_header));
	return buf;
}

/*
 * Send message @id of @size bytes as @split bytes, then (once read) the
 * rest or EOF; the reader must return @want, and with 0 the whole message
 * with @nr_fds fds.
 */
static void run_split(struct __test_metadata *_metadata,
		      FIXTURE_DATA(reader) *self, struct sender *s,
		      uint16_t id, int want, unsigned int nr_fds)
{
	struct vu_msg msg;
	pthread_t t;
	int ret;

	s->sock = self->sv[0];
	s->peer = self->sv[1];
	s->buf = make_msg(id, s->len);
	ASSERT_NE(NULL, s->buf);
	ASSERT_EQ(0, pthread_create(&t, NULL, send_split, s));
	ret = vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD, VU_WIRE_MAX_FDS,
			       TIMEOUT_MS);
	pthread_join(t, NULL);
	free(s->buf);
	EXPECT_EQ(0, s->ret);
	ASSERT_EQ(want, ret);
	if (ret) {
		EXPECT_EQ(NULL, msg.payload);
		EXPECT_EQ(0, msg.nr_fds);
		/* Broken for good: the same error again. */
		EXPECT_EQ(want, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
						 VU_WIRE_MAX_FDS, TIMEOUT_MS));
		return;
	}
	EXPECT_EQ(id, msg.hdr.msg_id);
	ASSERT_EQ(s->len - sizeof(msg.hdr), msg.len);
	EXPECT_EQ(nr_fds, msg.nr_fds);
	if (nr_fds)
		EXPECT_TRUE(same_file(msg.fds[0], s->fd_first));
	{
		const uint8_t *body = msg.payload;
		size_t i, bad = 0;

		for (i = 0; i < msg.len; i++)
			if (body[i] != (uint8_t)(id + i))
				bad++;
		EXPECT_EQ(0, bad);
	}
	vu_msg_release(&msg);
	EXPECT_EQ(0, vu_reader_buffered(&self->r));
}

TEST_F(reader, header_split_across_reads)
{
	struct sender s = { .len = 64, .split = 10, .fd_first = -1,
			    .fd_second = -1 };

	run_split(_metadata, self, &s, 5, 0, 0);
	EXPECT_EQ(2, self->r.reads);
}

TEST_F(reader, body_after_header_with_its_fd)
{
	int efd = make_eventfd();
	struct sender s = { .len = 200, .split = 16, .fd_first = efd,
			    .fd_second = -1 };

	ASSERT_LE(0, efd);
	run_split(_metadata, self, &s, 6, 0, 1);
	EXPECT_EQ(2, self->r.reads);
	close(efd);
}

/* Bigger than the buffer: the body is read into its own allocation. */
TEST_F(reader, one_mib_body)
{
	int efd = make_eventfd();
	struct sender s = { .len = 16 + (1 << 20), .split = 100,
			    .fd_first = efd, .fd_second = -1 };

	ASSERT_LE(0, efd);
	run_split(_metadata, self, &s, 8, 0, 1);
	close(efd);
}

struct burst {
	int sock;
	int ret;
};

static void *send_burst(void *arg)
{
	struct burst *b = arg;

	b->ret = send_cmd(b->sock, 1, 4, NULL, 0);
	if (!b->ret)
		b->ret = send_cmd(b->sock, 2, 1 << 20, NULL, 0);
	if (!b->ret)
		b->ret = send_cmd(b->sock, 3, 4000, NULL, 0);
	if (!b->ret)
		b->ret = send_cmd(b->sock, 4, 5000, NULL, 0);
	return NULL;
}

TEST_F(reader, big_and_small_messages_in_a_row)
{
	struct burst b = { .sock = self->sv[0] };
	struct vu_msg msg;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, send_burst, &b));
	expect_msg(_metadata, &self->r, 1, 4, 0, &msg);
	vu_msg_release(&msg);
	expect_msg(_metadata, &self->r, 2, 1 << 20, 0, &msg);
	vu_msg_release(&msg);
	expect_msg(_metadata, &self->r, 3, 4000, 0, &msg);
	vu_msg_release(&msg);
	expect_msg(_metadata, &self->r, 4, 5000, 0, &msg);
	vu_msg_release(&msg);
	pthread_join(t, NULL);
	EXPECT_EQ(0, b.ret);
	EXPECT_EQ(0, vu_reader_buffered(&self->r));
}

/* ---- Errors, each as vu_recv() gives it ---- */

/* fds on a read that holds no message's start belong to nothing. */
TEST_F(reader, fd_in_the_middle_of_a_body_refused)
{
	int efd = make_eventfd();
	struct sender s = { .len = 200, .split = 50, .fd_first = -1,
			    .fd_second = efd };

	ASSERT_LE(0, efd);
	run_split(_metadata, self, &s, 9, -EPROTO, 0);
	close(efd);
}

TEST_F(reader, fd_in_the_middle_of_a_big_body_refused)
{
	int efd = make_eventfd();
	struct sender s = { .len = 16 + (1 << 20), .split = 5000,
			    .fd_first = -1, .fd_second = efd };

	ASSERT_LE(0, efd);
	run_split(_metadata, self, &s, 10, -EPROTO, 0);
	close(efd);
}

TEST_F(reader, eof_in_the_header)
{
	struct sender s = { .len = 64, .split = 10, .fd_first = -1,
			    .fd_second = -1, .eof = true };

	run_split(_metadata, self, &s, 11, -EPIPE, 0);
}

TEST_F(reader, eof_in_the_body)
{
	int efd = make_eventfd();
	struct sender s = { .len = 200, .split = 50, .fd_first = efd,
			    .fd_second = -1, .eof = true };

	ASSERT_LE(0, efd);
	run_split(_metadata, self, &s, 12, -EPIPE, 0);
	close(efd);
}

TEST_F(reader, eof_in_a_big_body)
{
	struct sender s = { .len = 16 + (1 << 20), .split = 5000,
			    .fd_first = -1, .fd_second = -1, .eof = true };

	run_split(_metadata, self, &s, 13, -EPIPE, 0);
}

TEST_F(reader, eof_before_a_header)
{
	struct vu_msg msg;

	shutdown(self->sv[0], SHUT_WR);
	EXPECT_EQ(-ECONNRESET, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
						VU_WIRE_MAX_FDS, TIMEOUT_MS));
}

TEST_F(reader, payload_beyond_max)
{
	uint8_t buf[16 + 8];
	struct vu_msg msg;

	make_hdr(buf, 1, 16 + 4096 + 1);
	memset(buf + 16, 0, 8);
	ASSERT_EQ(0, send_raw(self->sv[0], buf, sizeof(buf), -1, 0));
	EXPECT_EQ(-EMSGSIZE, vu_recv_buffered(&self->r, &msg, 4096,
					      VU_WIRE_MAX_FDS, TIMEOUT_MS));
	EXPECT_EQ(NULL, msg.payload);
	EXPECT_EQ(-EMSGSIZE, vu_recv_buffered(&self->r, &msg, 4096,
					      VU_WIRE_MAX_FDS, TIMEOUT_MS));
	/* Exactly the limit is fine (on a fresh stream). */
	vu_reader_release(&self->r);
	close(self->sv[1]);
	close(self->sv[0]);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				self->sv));
	vu_reader_init(&self->r, self->sv[1]);
	ASSERT_EQ(0, send_cmd(self->sv[0], 2, 4096, NULL, 0));
	EXPECT_EQ(0, vu_recv_buffered(&self->r, &msg, 4096, VU_WIRE_MAX_FDS,
				      TIMEOUT_MS));
	EXPECT_EQ(4096, msg.len);
	vu_msg_release(&msg);
}

TEST_F(reader, msg_size_below_header)
{
	uint8_t buf[16];
	struct vu_msg msg;

	make_hdr(buf, 1, 8);
	ASSERT_EQ(0, send_raw(self->sv[0], buf, sizeof(buf), -1, 0));
	EXPECT_EQ(-EPROTO, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
					    VU_WIRE_MAX_FDS, TIMEOUT_MS));
}

TEST_F(reader, more_fds_than_allowed)
{
	int efd = make_eventfd();
	int three[3] = { efd, efd, efd };
	struct vu_msg msg;

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, send_cmd(self->sv[0], 1, 4, three, 3));
	EXPECT_EQ(-EPROTO, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD, 2,
					    TIMEOUT_MS));
	EXPECT_EQ(0, msg.nr_fds);
	close(efd);
}

/* More than VU_WIRE_MAX_FDS: the kernel drops some; the message before
 * them is still whole. */
TEST_F(reader, dropped_fds_fail_their_message_only)
{
	int efd = make_eventfd();
	uint8_t buf[16 + 4];
	struct vu_msg msg;

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, send_cmd(self->sv[0], 1, 4, NULL, 0));
	make_hdr(buf, 2, sizeof(buf));
	memset(buf + 16, 0, 4);
	ASSERT_EQ(0, send_raw(self->sv[0], buf, sizeof(buf), efd,
			      VU_WIRE_MAX_FDS + 1));
	expect_msg(_metadata, &self->r, 1, 4, 0, &msg);
	vu_msg_release(&msg);
	EXPECT_EQ(-EPROTO, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
					    VU_WIRE_MAX_FDS, TIMEOUT_MS));
	EXPECT_GE(2, self->r.reads);
	close(efd);
}

/* Nothing yet is no harm: the reader waits again later. */
TEST_F(reader, timeout_before_a_message)
{
	struct vu_msg msg;

	EXPECT_EQ(-ETIMEDOUT, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
					       VU_WIRE_MAX_FDS, 50));
	ASSERT_EQ(0, send_cmd(self->sv[0], 1, 4, NULL, 0));
	expect_msg(_metadata, &self->r, 1, 4, 0, &msg);
	vu_msg_release(&msg);
}

/* Part of a message, then silence: the stream is out of step for good. */
TEST_F(reader, timeout_in_the_header)
{
	uint8_t buf[16 + 4];
	struct vu_msg msg;

	make_hdr(buf, 1, sizeof(buf));
	memset(buf + 16, 0, 4);
	ASSERT_EQ(0, send_raw(self->sv[0], buf, 10, -1, 0));
	EXPECT_EQ(-ETIMEDOUT, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
					       VU_WIRE_MAX_FDS, 50));
	ASSERT_EQ(0, send_raw(self->sv[0], buf + 10, sizeof(buf) - 10, -1, 0));
	EXPECT_EQ(-ETIMEDOUT, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
					       VU_WIRE_MAX_FDS, 50));
}

TEST_F(reader, timeout_in_the_body)
{
	int efd = make_eventfd();
	uint8_t buf[16 + 10];
	struct vu_msg msg;

	ASSERT_LE(0, efd);
	make_hdr(buf, 1, 100);
	memset(buf + 16, 0, 10);
	ASSERT_EQ(0, send_raw(self->sv[0], buf, sizeof(buf), efd, 1));
	EXPECT_EQ(-ETIMEDOUT, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
					       VU_WIRE_MAX_FDS, 50));
	EXPECT_EQ(0, msg.nr_fds);
	close(efd);
}

/* ---- Random framing ---- */

#define RANDOM_MSGS 3000
#define RANDOM_POOL 4

struct stream {
	int sock;
	int pool[RANDOM_POOL];
	uint32_t size[RANDOM_MSGS]; /* msg_size of each */
	uint8_t nr_fds[RANDOM_MSGS]; /* copies of pool[i % RANDOM_POOL] */
	int ret;
};

static uint32_t rnd(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

/*
 * Send the messages cut at random places, as any sender may: a piece
 * with fds starts at a header and stays inside its message; a piece
 * without fds may span messages, up to the next header that has fds.
 */
static void *send_stream(void *arg)
{
	struct stream *st = arg;
	uint32_t seed = 0x9e3779b9;
	unsigned int i = 0;
	size_t off = 0; /* into message i */
	uint8_t *piece = malloc(1 << 16);

	st->ret = piece ? 0 : -ENOMEM;
	while (!st->ret && i < RANDOM_MSGS) {
		size_t len = 0, want = 1 + rnd(&seed) % 9000;
		int fd = -1;
		unsigned int nr = 0;

		if (!off && st->nr_fds[i]) {
			fd = st->pool[i % RANDOM_POOL];
			nr = st->nr_fds[i];
		}
		while (len < want && i < RANDOM_MSGS) {
			size_t step = st->size[i] - off, j;

			if (step > want - len)
				step = want - len;
			for (j = 0; j < step; j++) {
				size_t at = off + j;

				piece[len + j] = at < 16 ? 0 : (uint8_t)(i + at - 16);
			}
			if (off < 16) {
				uint8_t hdr[16];
				size_t n = 16 - off < step ? 16 - off : step;

				make_hdr(hdr, (uint16_t)i, st->size[i]);
				memcpy(piece + len, hdr + off, n);
			}
			len += step;
			off += step;
			if (off < st->size[i])
				break;
			i++;
			off = 0;
			/* A piece with fds ends with its message; none runs
			 * into a header that has fds. */
			if (nr || (i < RANDOM_MSGS && st->nr_fds[i]))
				break;
		}
		st->ret = send_raw(st->sock, piece, len, fd, nr);
	}
	free(piece);
	return NULL;
}

TEST_F(reader, random_framing)
{
	struct stream *st = calloc(1, sizeof(*st));
	uint32_t seed = 12345;
	unsigned int i, j, wrong = 0;
	struct vu_msg msg;
	pthread_t t;

	ASSERT_NE(NULL, st);
	st->sock = self->sv[0];
	for (i = 0; i < RANDOM_POOL; i++) {
		st->pool[i] = make_eventfd();
		ASSERT_LE(0, st->pool[i]);
	}
	for (i = 0; i < RANDOM_MSGS; i++) {
		uint32_t r = rnd(&seed);

		/* Mostly small, some past the buffer, now and then 64 KiB. */
		st->size[i] = 16 + (r % 8 == 0 ? r % 70000 :
				    r % 4 == 0 ? r % 6000 : r % 200);
		st->nr_fds[i] = rnd(&seed) % 4 == 0 ? 1 + rnd(&seed) % 3 : 0;
	}
	ASSERT_EQ(0, pthread_create(&t, NULL, send_stream, st));
	for (i = 0; i < RANDOM_MSGS; i++) {
		const uint8_t *body;
		size_t k, bad = 0;

		ASSERT_EQ(0, vu_recv_buffered(&self->r, &msg, MAX_PAYLOAD,
					      VU_WIRE_MAX_FDS, TIMEOUT_MS))
			TH_LOG("message %u", i);
		EXPECT_EQ((uint16_t)i, msg.hdr.msg_id);
		EXPECT_EQ(st->size[i], msg.hdr.msg_size);
		body = msg.payload;
		for (k = 0; k < msg.len; k++)
			if (body[k] != (uint8_t)(i + k))
				bad++;
		if (bad || msg.nr_fds != st->nr_fds[i])
			wrong++;
		for (j = 0; j < msg.nr_fds; j++)
			if (!same_file(msg.fds[j], st->pool[i % RANDOM_POOL]))
				wrong++;
		if (wrong)
			TH_LOG("message %u: %zu bytes differ, %u fds for %u", i,
			       bad, msg.nr_fds, st->nr_fds[i]);
		vu_msg_release(&msg);
		if (wrong)
			break;
	}
	if (wrong) /* unblock the sender */
		shutdown(self->sv[1], SHUT_RDWR);
	pthread_join(t, NULL);
	EXPECT_EQ(0, wrong);
	if (!wrong)
		EXPECT_EQ(0, st->ret);
	TH_LOG("%u messages in %lu reads", RANDOM_MSGS, self->r.reads);
	for (i = 0; i < RANDOM_POOL; i++)
		close(st->pool[i]);
	free(st);
}

TEST_HARNESS_MAIN
