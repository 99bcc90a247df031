// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile server, fuzzed: a server process negotiates honestly, lets the
 * client attach through libvfio-user-client, and from then on answers the
 * kernel's requests with seeded mutations of valid traffic: every header
 * field, sizes off by one and huge, other requests' ids, duplicates, wrong
 * types and commands, frames cut at any byte (then end of file or silence),
 * unexpected fds, slow and missing replies, and DMA_READ/DMA_WRITE of its
 * own with wild addresses and counts into and around the client's mappings.
 *
 * The client (this process, plus a helper thread for concurrent requests)
 * drives the device through the kernel: region reads and writes, DMA map
 * and unmap, reset, SET_IRQS. It reconnects whenever the connection breaks.
 * What must hold, whatever the server does:
 *
 *  - every call succeeds or fails with an errno of its documented set (or
 *    one the server itself sent), and never with an errno >= 512;
 *  - the pages around every mapping (PROT_NONE guards and accessible but
 *    unmapped sentinels) and every read-only mapping stay untouched;
 *  - in clean rounds, where the server behaves, what it acknowledged reads
 *    back intact, and its own DMA lands where and only where it may;
 *  - nothing hangs (the harness timeout) and the kernel stays quiet (the VM
 *    runner fails the run on any splat or leak).
 *
 * Env: VFIO_USER_FUZZ_SEED (printed as "# seed: N"), VFIO_USER_FUZZ_MESSAGES
 * (mutated messages to send, default 100000). Ends with the line
 * "# fuzz-figures: messages=N".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_user_util.h"

#define PAGE			4096UL

/* The fuzzed device: region 0 read/write, region 1 read-only, one IRQ. */
#define REGION0_SIZE		0x10000
#define HALF			(REGION0_SIZE / 2)	/* upper half: clean rounds only */
#define REGION1_SIZE		0x1000
#define CLIENT_XFER		0x10000		/* our max_data_xfer_size */
#define MAX_MSG_SIZE		(16 + CLIENT_XFER + 4096)

/* Short bound in mutated rounds (missing replies), long in clean ones. */
#define SHORT_TIMEOUT_MS	100
#define LONG_TIMEOUT_MS		60000
#define SERVER_IDLE_MS		30000

/* DMA buffers: guard | sentinel | BUF_PAGES mapped | sentinel | guard */
#define NR_BUFS			6
#define BUF_PAGES		4
#define BUF_SIZE		(BUF_PAGES * PAGE)
#define BUF_STRIDE		((BUF_PAGES + 4) * PAGE)
#define IOVA_BASE		0x40000000ULL
#define GUARD_BYTE		0xa5
#define SENTINEL_BYTE		0x5a

#define DEFAULT_MESSAGES	100000
#define MAX_REPORTED		20

/* What region 1 (read-only) holds, and a read-only DMA buffer's pattern. */
static uint8_t ro_byte(uint64_t off, unsigned int salt)
{
	return (uint8_t)(off * 7 + (off >> 8) + salt * 29 + 1);
}

enum phase { PHASE_NEGOTIATE, PHASE_FUZZ, PHASE_CLEAN };

/* Shared by client and server (MAP_SHARED); the region is the device's. */
struct fuzz_shared {
	uint8_t region0[REGION0_SIZE];
	int phase;
	int doomed;		/* the server sent what must end the session */
	uint64_t sent;		/* messages sent after attach */
	uint64_t mutated;	/* of them mutated or the server's own commands */
	uint64_t sessions;
	uint64_t dma_checks;	/* server's DMA results checked in clean rounds */
	uint64_t server_failures;
	char server_failure[256];
	uint8_t errnos_sent[4096 / 8];	/* error_no values put in replies */
	uint64_t mutation_counts[32];
	uint8_t cut_offsets[4096 / 8];	/* where frames were cut (EOF) */
};

static int load_int(int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_int(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------------
 * The hostile server
 */

enum mutation {
	MUT_NONE,
	MUT_ERRNO,		/* error reply, any error_no, maybe a payload */
	MUT_ERRNO_NO_FLAG,	/* error_no without the error flag */
	MUT_HOLD,		/* answer after the next request (reorder) */
	MUT_SLOW,		/* answer late, maybe after the timeout */
	MUT_ID,			/* another id */
	MUT_CMD,		/* another command */
	MUT_SIZE,		/* msg_size off by one, tiny or huge */
	MUT_FLAGS,		/* wrong type, unknown bits */
	MUT_PAYLOAD,		/* echo wrong, payload too short or long */
	MUT_DUP,		/* the reply twice */
	MUT_CUT_EOF,		/* first k bytes, then end of file */
	MUT_CUT_STALL,		/* first k bytes, then silence */
	MUT_FDS,		/* the reply with fds attached */
	MUT_MISSING,		/* no reply at all */
	MUT_INJECT,		/* counted per server command sent */
	NR_MUTATIONS,
};

static const char *const mutation_names[NR_MUTATIONS] = {
	"none", "errno", "errno_no_flag", "hold", "slow", "id", "cmd", "size",
	"flags", "payload", "dup", "cut_eof", "cut_stall", "fds", "missing",
	"server_cmd",
};

/* Per mille of reply mutations; the rest are valid replies. */
static const unsigned int mutation_weights[NR_MUTATIONS] = {
	[MUT_NONE] = 440, [MUT_ERRNO] = 400, [MUT_ERRNO_NO_FLAG] = 40,
	[MUT_HOLD] = 60, [MUT_SLOW] = 6, [MUT_ID] = 6, [MUT_CMD] = 5,
	[MUT_SIZE] = 7, [MUT_FLAGS] = 4, [MUT_PAYLOAD] = 6, [MUT_DUP] = 4,
	[MUT_CUT_EOF] = 10, [MUT_CUT_STALL] = 2, [MUT_FDS] = 5,
	[MUT_MISSING] = 2,
};

struct msg {
	struct vfio_user_header hdr;
	uint8_t payload[MAX_MSG_SIZE];
};

struct window {
	uint64_t iova;
	uint64_t size;
	uint32_t flags;
};

/* One of our DMA commands whose reply is checked (clean rounds). */
struct dma_check {
	bool used;
	uint16_t id;
	uint16_t cmd;
	bool expect_ok;
	bool check_data;
	uint64_t addr;
	uint64_t count;
	uint8_t data[BUF_SIZE];
};

#define NR_CHECKS	4
#define MAX_WINDOWS	(NR_BUFS + 2)

struct server {
	struct fuzz_shared *sh;
	struct vu_rng rng;
	int sock;
	int twin;
	int twin_peer;		/* our end of the twin, kept for fd games */
	uint32_t xfer;		/* our max_data_xfer_size */
	bool doomed;
	bool closed;
	uint16_t next_id;
	uint16_t last_request_id;
	struct window win[MAX_WINDOWS];
	unsigned int nr_win;
	struct window saved_win[MAX_WINDOWS];	/* before the last request */
	unsigned int saved_nr_win;
	struct dma_check checks[NR_CHECKS];
	struct msg *held;	/* a request whose answer waits (MUT_HOLD) */
	struct msg *in;
	struct msg *out;
	struct msg *aux;	/* for srv_drain(), which runs while @in is used */
};

static void server_fail(struct server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void server_fail(struct server *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->sh->server_failures++) {
		va_start(ap, fmt);
		vsnprintf(s->sh->server_failure, sizeof(s->sh->server_failure),
			  fmt, ap);
		va_end(ap);
	}
}

static void doom(struct server *s)
{
	s->doomed = true;
	store_int(&s->sh->doomed, 1);
}

/* Receive a whole message; fds are closed. -1 at end of file or error. */
static int srv_recv(int sock, struct msg *m)
{
	return vu_msg_recv(sock, &m->hdr, m->payload, sizeof(m->payload));
}

static void srv_close(struct server *s)
{
	if (s->closed)
		return;
	s->closed = true;
	shutdown(s->sock, SHUT_RDWR);
	if (s->twin >= 0)
		shutdown(s->twin, SHUT_RDWR);
}

static void note_errno(struct server *s, uint32_t error_no)
{
	if (error_no < 4096)
		__atomic_fetch_or(&s->sh->errnos_sent[error_no / 8],
				  1 << (error_no % 8), __ATOMIC_RELEASE);
}

static uint32_t pick_errno(struct vu_rng *r)
{
	static const uint32_t odd[] = {
		0, 512, 513, 514, 515, 516, 517, 518, 519, 520, 521, 522, 523,
		524, 525, 526, 527, 528, 529, 530, 4094, 4095, 4096, 65535,
		0x7fffffff, 0x80000000, 0xffffffff, (uint32_t)-EINVAL, 134, 511,
	};

	switch (vu_below(r, 4)) {
	case 0:
		return odd[vu_below(r, ARRAY_SIZE(odd))];
	case 1:
		return (uint32_t)vu_rnd(r);
	default:
		return 1 + vu_below(r, 133);
	}
}

/* Send one message built in s->out, mutated by @mut. */
static void srv_send_mutated(struct server *s, int sock, enum mutation mut)
{
	struct vfio_user_header *h = &s->out->hdr;
	size_t len = h->msg_size;
	int fds[8], nr_fds = 0, i;
	bool ok = true;

	switch (mut) {
	case MUT_SIZE: {
		static const int64_t deltas[] = { -1, 1, -2, 2, -8, 8, -16, 4096 };
		uint32_t orig = h->msg_size;

		switch (vu_below(&s->rng, 4)) {
		case 0:
			h->msg_size = orig + deltas[vu_below(&s->rng, 8)];
			break;
		case 1:
			h->msg_size = vu_below(&s->rng, 16);
			break;
		case 2: {
			static const uint32_t huge[] = {
				0xffffffff, 0x80000000, 64 << 20,
				16 + CLIENT_XFER + 4096 + 1, 0x7fffffff,
			};

			h->msg_size = huge[vu_below(&s->rng, 5)];
			break;
		}
		default:
			h->msg_size = (uint32_t)vu_rnd(&s->rng);
			break;
		}
		if (h->msg_size == orig)
			h->msg_size = orig + 1;
		/* What follows the real bytes: end of file or silence. */
		ok = !vu_send_fds(sock, s->out, len, NULL, 0);
		if (vu_chance(&s->rng, 500))
			srv_close(s);
		break;
	}
	case MUT_DUP:
		ok = !vu_send_fds(sock, s->out, len, NULL, 0) &&
		     !vu_send_fds(sock, s->out, len, NULL, 0);
		break;
	case MUT_CUT_EOF:
	case MUT_CUT_STALL:
		/* Every byte offset: 0 .. len - 1 (the stall needs one byte). */
		len = mut == MUT_CUT_EOF ? vu_below(&s->rng, len) :
					      1 + vu_below(&s->rng, len - 1);
		if (mut == MUT_CUT_EOF && len < 4096)
			s->sh->cut_offsets[len / 8] |= 1 << (len % 8);
		if (len)
			ok = !vu_send_fds(sock, s->out, len, NULL, 0);
		if (mut == MUT_CUT_EOF)
			srv_close(s);
		break;
	case MUT_FDS: {
		int n = 1 + vu_below(&s->rng, 4);

		for (i = 0; i < n; i++) {
			switch (vu_below(&s->rng, 5)) {
			case 0:
				fds[nr_fds] = eventfd(0, EFD_CLOEXEC);
				break;
			case 1:
				fds[nr_fds] = memfd_create("fuzz", MFD_CLOEXEC);
				break;
			case 2:
				fds[nr_fds] = open("/dev/null", O_RDWR | O_CLOEXEC);
				break;
			case 3:
				/* The very socket the kernel reads. */
				fds[nr_fds] = dup(sock);
				break;
			default:
				fds[nr_fds] = s->twin_peer >= 0 ?
					      dup(s->twin_peer) : dup(s->sock);
				break;
			}
			if (fds[nr_fds] >= 0)
				nr_fds++;
		}
		ok = !vu_send_fds(sock, s->out, len, fds, nr_fds);
		for (i = 0; i < nr_fds; i++)
			close(fds[i]);
		break;
	}
	case MUT_MISSING:
		break;
	case MUT_SLOW:
		usleep(vu_below(&s->rng, SHORT_TIMEOUT_MS * 3 / 2) * 1000);
		ok = !vu_send_fds(sock, s->out, len, NULL, 0);
		break;
	default:
		ok = !vu_send_fds(sock, s->out, len, NULL, 0);
		break;
	}
	if (!ok)
		srv_close(s);
	s->sh->sent++;
	if (mut != MUT_NONE) {
		s->sh->mutated++;
		s->sh->mutation_counts[mut]++;
	}
}

static struct window *find_window(struct server *s, uint64_t iova,
				  uint64_t size)
{
	unsigned int i;

	for (i = 0; i < s->nr_win; i++)
		if (s->win[i].iova == iova && s->win[i].size == size)
			return &s->win[i];
	return NULL;
}

/* The window that holds @iova, if any. */
static struct window *window_at(struct server *s, uint64_t iova)
{
	unsigned int i;

	for (i = 0; i < s->nr_win; i++)
		if (iova >= s->win[i].iova &&
		    iova - s->win[i].iova < s->win[i].size)
			return &s->win[i];
	return NULL;
}

static uint64_t pick_dma_addr(struct server *s, uint64_t count)
{
	struct vu_rng *r = &s->rng;
	struct window *w;
	uint64_t end;

	if (s->nr_win && vu_chance(r, 700)) {
		w = &s->win[vu_below(r, s->nr_win)];
		end = w->iova + w->size;
		switch (vu_below(r, 10)) {
		case 0:
			return w->iova - 1 - vu_below(r, 8);
		case 1:
			return w->iova - PAGE;
		case 2:
			return end - 1 - vu_below(r, 16);
		case 3:
			return end;
		case 4:
			return end + vu_below(r, PAGE);
		case 5:
			return end - (count <= w->size ? count : 0);
		case 6:
			return w->iova;
		default:
			return w->iova + vu_below(r, w->size);
		}
	}
	switch (vu_below(r, 6)) {
	case 0:
		return 0;
	case 1:
		return ~0ULL - vu_below(r, 16);
	case 2:
		return 1ULL << 63;
	case 3:
		return IOVA_BASE - PAGE + vu_below(r, NR_BUFS * BUF_STRIDE);
	case 4:
		return -count;	/* ends exactly at the top */
	default:
		return vu_rnd(r);
	}
}

static uint64_t pick_dma_count(struct server *s)
{
	struct vu_rng *r = &s->rng;

	switch (vu_below(r, 14)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return 8;
	case 3:
		return PAGE;
	case 4:
		return PAGE + 1;
	case 5:
		return BUF_SIZE;
	case 6:
		return BUF_SIZE + 1;
	case 7:
		return CLIENT_XFER;
	case 8:
		return CLIENT_XFER + 1;
	case 9:
		return 1ULL << 32;
	case 10:
		return ~0ULL - vu_below(r, 8);
	default:
		return 1 + vu_below(r, 2 * PAGE);
	}
}

static void srv_dma_reply(struct server *s, const struct msg *m);

/*
 * Take in the client's answers to our commands that are already there, so
 * that neither side blocks on a full socket while the other does too. A
 * request of the client's stays queued for the main loop.
 */
static void srv_drain(struct server *s)
{
	int socks[2] = { s->sock, s->twin };
	struct vfio_user_header hdr;
	struct pollfd pfd;
	int i;

	for (i = 0; i < 2 && !s->closed; i++) {
		pfd.fd = socks[i];
		pfd.events = POLLIN;
		while (socks[i] >= 0 && poll(&pfd, 1, 0) == 1) {
			if (recv(socks[i], &hdr, sizeof(hdr),
				 MSG_PEEK | MSG_DONTWAIT) != sizeof(hdr) ||
			    (hdr.flags & VFIO_USER_F_TYPE_MASK) !=
			    VFIO_USER_F_TYPE_REPLY)
				break;
			if (srv_recv(socks[i], s->aux)) {
				srv_close(s);
				break;
			}
			srv_dma_reply(s, s->aux);
		}
	}
}

/* Would a well-behaved server send this DMA command? */
static bool dma_allowed(struct server *s, const struct vfio_user_header *h,
			const struct vfio_user_dma_region_access *acc,
			size_t body)
{
	bool write = h->cmd == VFIO_USER_DMA_WRITE;
	struct window *w;

	if ((h->cmd != VFIO_USER_DMA_READ && !write) ||
	    h->flags != VFIO_USER_F_TYPE_COMMAND || !acc->count ||
	    acc->count > CLIENT_XFER ||
	    body != sizeof(*acc) + (write ? acc->count : 0))
		return false;
	w = window_at(s, acc->addr);
	return w && acc->count <= w->iova + w->size - acc->addr &&
	       (w->flags & (write ? VFIO_USER_F_DMA_REGION_WRITE :
				    VFIO_USER_F_DMA_REGION_READ));
}

/*
 * One command of the server's own: mostly DMA_READ/DMA_WRITE aimed at and
 * around the mappings; now and then another command, or a malformed frame
 * (which dooms the session).
 */
static void srv_inject_one(struct server *s)
{
	static const uint16_t other_cmds[] = {
		0, VFIO_USER_VERSION, VFIO_USER_DMA_MAP, VFIO_USER_REGION_READ,
		VFIO_USER_REGION_WRITE, VFIO_USER_DEVICE_RESET, 14, 19, 0xffff,
	};
	struct vu_rng *r = &s->rng;
	struct vfio_user_header *h = &s->out->hdr;
	struct vfio_user_dma_region_access acc;
	int sock = s->sock;
	size_t body = sizeof(acc);
	enum mutation how = MUT_NONE;
	unsigned int kind = vu_below(r, 100);

	if (s->twin >= 0 && !vu_chance(r, 100))
		sock = s->twin;
	h->msg_id = vu_chance(r, 50) ? s->next_id - 1 : s->next_id++;
	h->flags = VFIO_USER_F_TYPE_COMMAND;
	if (vu_chance(r, 50))
		h->flags |= VFIO_USER_F_NO_REPLY;
	h->error_no = 0;
	acc.count = pick_dma_count(s);
	acc.addr = pick_dma_addr(s, acc.count);
	memcpy(s->out->payload, &acc, sizeof(acc));
	if (kind < 45) {
		h->cmd = VFIO_USER_DMA_READ;
		if (vu_chance(r, 30))
			body = vu_below(r, sizeof(acc) + 8);	/* malformed body */
	} else if (kind < 92) {
		h->cmd = VFIO_USER_DMA_WRITE;
		if (acc.count <= CLIENT_XFER && vu_chance(r, 900))
			body += acc.count;
		else
			body += vu_below(r, 64);
		vu_fill_random(r, s->out->payload + sizeof(acc), body - sizeof(acc));
	} else {
		h->cmd = other_cmds[vu_below(r, ARRAY_SIZE(other_cmds))];
		body = vu_below(r, 64);
		vu_fill_random(r, s->out->payload, body);
	}
	h->msg_size = sizeof(*h) + body;

	/* Malformed frames: the kernel must drop the connection. */
	if (vu_chance(r, 2)) {
		switch (vu_below(r, 7)) {
		case 0:
			h->flags |= 1u << (6 + vu_below(r, 26));
			break;
		case 1:
			h->flags = VFIO_USER_F_TYPE_REPLY;	/* to nothing */
			h->msg_id = s->next_id + 0x4000;
			break;
		case 2:
			h->flags |= VFIO_USER_F_ERROR;
			break;
		case 3:
			h->flags = (h->flags & ~VFIO_USER_F_TYPE_MASK) |
				   (2 + vu_below(r, 14));
			break;
		case 4:
			how = MUT_CUT_EOF;
			break;
		case 5:
			how = MUT_FDS;
			break;
		default:
			/* Longer than any message the client takes. */
			h->msg_size = 16 + CLIENT_XFER + 4096 + 1 + vu_below(r, 1 << 20);
			how = MUT_SIZE;
			break;
		}
		doom(s);
	}
	if (how == MUT_SIZE) {
		/* The header only; the kernel refuses before reading on. */
		s->sh->sent++;
		s->sh->mutated++;
		s->sh->mutation_counts[MUT_SIZE]++;
		if (vu_send_fds(sock, h, sizeof(*h), NULL, 0))
			srv_close(s);
		return;
	}
	srv_drain(s);
	srv_send_mutated(s, sock, how);
	/*
	 * srv_send_mutated() counted it as "none". It is the server's own:
	 * mutated unless it is a well-formed access that a mapping allows.
	 */
	if (how == MUT_NONE && !dma_allowed(s, h, &acc, body)) {
		s->sh->mutated++;
		s->sh->mutation_counts[MUT_INJECT]++;
	}
}

/* Send a DMA command whose reply is checked; false if no slot or peer. */
static bool srv_checked_dma(struct server *s, uint16_t cmd, uint64_t addr,
			    uint64_t count, bool expect_ok, const void *data)
{
	struct vfio_user_dma_region_access acc = { .addr = addr, .count = count };
	struct vfio_user_header *h = &s->out->hdr;
	struct dma_check *c = NULL;
	size_t body = sizeof(acc);
	unsigned int i;

	for (i = 0; i < NR_CHECKS; i++)
		if (!s->checks[i].used)
			c = &s->checks[i];
	if (!c || count > BUF_SIZE)
		return false;
	c->used = true;
	c->id = s->next_id++;
	c->cmd = cmd;
	c->expect_ok = expect_ok;
	c->count = count;
	c->addr = addr;
	c->check_data = data;
	if (data)
		memcpy(c->data, data, count);
	h->msg_id = c->id;
	h->cmd = cmd;
	h->flags = VFIO_USER_F_TYPE_COMMAND;
	h->error_no = 0;
	memcpy(s->out->payload, &acc, sizeof(acc));
	if (cmd == VFIO_USER_DMA_WRITE) {
		memcpy(s->out->payload + sizeof(acc), data, count);
		body += count;
	}
	h->msg_size = sizeof(*h) + body;
	s->sh->sent++;
	if (vu_send_fds(s->twin >= 0 ? s->twin : s->sock, s->out,
			h->msg_size, NULL, 0)) {
		srv_close(s);
		return false;
	}
	return true;
}

/* The client's answer to one of our commands. */
static void srv_dma_reply(struct server *s, const struct msg *m)
{
	struct dma_check *c = NULL;
	bool error = m->hdr.flags & VFIO_USER_F_ERROR;
	unsigned int i;

	if (error && (m->hdr.error_no == 0 || m->hdr.error_no >= 512))
		server_fail(s, "the kernel answered our command %u with error_no %u",
			    m->hdr.cmd, m->hdr.error_no);
	for (i = 0; i < NR_CHECKS; i++)
		if (s->checks[i].used && s->checks[i].id == m->hdr.msg_id)
			c = &s->checks[i];
	if (!c)
		return;		/* a wild one: any answer will do */
	c->used = false;
	s->sh->dma_checks++;
	if (m->hdr.cmd != c->cmd) {
		server_fail(s, "reply to our command %u names command %u",
			    c->cmd, m->hdr.cmd);
		return;
	}
	if (!c->expect_ok) {
		if (!error)
			server_fail(s, "DMA %s of %" PRIu64 " bytes outside what the mappings allow succeeded",
				    c->cmd == VFIO_USER_DMA_READ ? "read" : "write",
				    c->count);
		return;
	}
	if (error) {
		server_fail(s, "DMA %s of %" PRIu64 " bytes inside a mapping failed with %u",
			    c->cmd == VFIO_USER_DMA_READ ? "read" : "write",
			    c->count, m->hdr.error_no);
		return;
	}
	if (c->cmd == VFIO_USER_DMA_READ && c->check_data &&
	    (m->hdr.msg_size != sizeof(m->hdr) + 16 + c->count ||
	     memcmp(m->payload + 16, c->data, c->count))) {
		uint64_t k = 0;

		while (k < c->count && m->payload[16 + k] == c->data[k])
			k++;
		server_fail(s, "DMA read of %" PRIu64 " bytes at %#" PRIx64 " did not return what we wrote there (reply %u bytes, first difference at %" PRIu64 ", id %u, twin %d)",
			    c->count, c->addr, m->hdr.msg_size, k, c->id,
			    s->twin >= 0);
	}
	if (c->cmd == VFIO_USER_DMA_WRITE && m->hdr.msg_size != sizeof(m->hdr) + 16)
		server_fail(s, "DMA write reply is %u bytes", m->hdr.msg_size);
}

static bool checks_pending(struct server *s)
{
	unsigned int i;

	for (i = 0; i < NR_CHECKS; i++)
		if (s->checks[i].used)
			return true;
	return false;
}

static int srv_pump(struct server *s, int timeout_ms);

/*
 * Clean rounds: the server's own DMA, checked. A write and a read-back in
 * a writable window, a read of a read-only one, a write to it that must
 * fail, and a read outside every window that must fail too.
 */
static void srv_clean_dma(struct server *s)
{
	uint8_t data[PAGE];
	struct window *w;
	uint64_t off, len;
	unsigned int i;

	for (i = 0; i < s->nr_win && !s->closed; i++) {
		w = &s->win[i];
		len = 1 + vu_below(&s->rng, PAGE);
		off = vu_below(&s->rng, w->size - len + 1);
		if (w->flags & VFIO_USER_F_DMA_REGION_WRITE) {
			vu_fill_random(&s->rng, data, len);
			srv_checked_dma(s, VFIO_USER_DMA_WRITE, w->iova + off,
					len, true, data);
			srv_checked_dma(s, VFIO_USER_DMA_READ, w->iova + off,
					len, true, data);
		} else {
			srv_checked_dma(s, VFIO_USER_DMA_READ, w->iova + off,
					len, true, NULL);
			srv_checked_dma(s, VFIO_USER_DMA_WRITE, w->iova + off,
					len, false, data);
		}
		/* Wait for the answers before anything can change the map. */
		while (checks_pending(s) && !s->closed)
			if (srv_pump(s, SERVER_IDLE_MS) <= 0)
				break;
	}
	/* Just below the lowest window and just past the highest, if free. */
	for (i = 0; i < 2 && s->nr_win && !s->closed; i++) {
		uint64_t at = i ? s->win[0].iova + s->win[0].size :
				  s->win[0].iova - 8;

		if (window_at(s, at) || window_at(s, at + 7))
			continue;
		srv_checked_dma(s, VFIO_USER_DMA_READ, at, 8, false, NULL);
		while (checks_pending(s) && !s->closed)
			if (srv_pump(s, SERVER_IDLE_MS) <= 0)
				break;
	}
}

/* Negotiation and discovery: honest. */
static void srv_negotiate(struct server *s, const struct msg *m)
{
	struct vfio_user_header *h = &s->out->hdr;
	uint8_t *p = s->out->payload;
	size_t len = 0;
	int fds[1], nr_fds = 0;

	*h = m->hdr;
	h->flags = VFIO_USER_F_TYPE_REPLY;
	h->error_no = 0;
	switch (m->hdr.cmd) {
	case VFIO_USER_VERSION: {
		struct vfio_user_version v = { .major = 0, .minor = 2 };
		bool offered = memmem(m->payload, m->hdr.msg_size - sizeof(*h),
				      "twin_socket", 11);
		int sv[2];

		memcpy(p, &v, sizeof(v));
		len = sizeof(v);
		len += sprintf((char *)p + len,
			       "{\"capabilities\":{\"max_msg_fds\":8,"
			       "\"max_data_xfer_size\":%u,\"max_dma_maps\":%u,"
			       "\"pgsizes\":4096", s->xfer, NR_BUFS);
		if (offered && vu_chance(&s->rng, 600) &&
		    !socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
			len += sprintf((char *)p + len,
				       ",\"twin_socket\":{\"supported\":true,\"fd_index\":0}");
			const struct timeval send_timeout = { .tv_sec = 10 };

			setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
				   sizeof(send_timeout));
			s->twin = sv[0];
			s->twin_peer = sv[1];
			fds[nr_fds++] = sv[1];
		}
		len += sprintf((char *)p + len, "}}") + 1;
		break;
	}
	case VFIO_USER_DEVICE_GET_INFO: {
		struct vfio_user_device_info info = {
			.argsz = sizeof(info), .flags = VFIO_DEVICE_FLAGS_RESET,
			.num_regions = 2, .num_irqs = 1,
		};

		memcpy(p, &info, sizeof(info));
		len = sizeof(info);
		break;
	}
	case VFIO_USER_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info info;

		memcpy(&info, m->payload, sizeof(info));
		if (info.index > 1)
			goto refuse;
		info.argsz = sizeof(info);
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     (info.index ? 0 : VFIO_REGION_INFO_FLAG_WRITE);
		info.cap_offset = 0;
		info.size = info.index ? REGION1_SIZE : REGION0_SIZE;
		info.offset = 0;
		memcpy(p, &info, sizeof(info));
		len = sizeof(info);
		break;
	}
	case VFIO_USER_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info info;

		memcpy(&info, m->payload, sizeof(info));
		if (info.index)
			goto refuse;
		info.argsz = sizeof(info);
		info.flags = VFIO_IRQ_INFO_EVENTFD;
		info.count = 1;
		memcpy(p, &info, sizeof(info));
		len = sizeof(info);
		break;
	}
	default:
		goto refuse;
	}
	h->msg_size = sizeof(*h) + len;
	if (vu_send_fds(s->sock, s->out, h->msg_size, fds, nr_fds))
		srv_close(s);
	return;
refuse:
	h->flags |= VFIO_USER_F_ERROR;
	h->error_no = EINVAL;
	h->msg_size = sizeof(*h);
	if (vu_send_fds(s->sock, s->out, sizeof(*h), NULL, 0))
		srv_close(s);
}

/*
 * Build the valid reply to @m in s->out and apply its effect on the device
 * (unless @apply is false). Returns the offset of the bytes the kernel
 * checks in the reply payload and their length, for MUT_PAYLOAD.
 */
static void srv_build_reply(struct server *s, const struct msg *m,
			    size_t *echo_off, size_t *echo_len)
{
	struct vfio_user_header *h = &s->out->hdr;
	uint8_t *p = s->out->payload;
	size_t len = 0;

	*h = m->hdr;
	h->flags = VFIO_USER_F_TYPE_REPLY;
	h->error_no = 0;
	*echo_off = 0;
	*echo_len = 0;
	switch (m->hdr.cmd) {
	case VFIO_USER_REGION_READ:
	case VFIO_USER_REGION_WRITE: {
		struct vfio_user_region_access acc;
		bool write = m->hdr.cmd == VFIO_USER_REGION_WRITE;
		uint64_t i;

		memcpy(&acc, m->payload, sizeof(acc));
		memcpy(p, &acc, sizeof(acc));
		len = sizeof(acc);
		*echo_len = sizeof(acc);
		if (acc.count > s->xfer ||
		    acc.region > 1 || (write && acc.region) ||
		    acc.offset + acc.count >
		    (acc.region ? REGION1_SIZE : REGION0_SIZE)) {
			server_fail(s, "kernel sent region %u access [%" PRIu64 ", +%u) past the region or our limit",
				    acc.region, (uint64_t)acc.offset, acc.count);
			h->flags |= VFIO_USER_F_ERROR;
			h->error_no = EINVAL;
			len = 0;
			break;
		}
		if (write) {
			memcpy(s->sh->region0 + acc.offset, m->payload + sizeof(acc),
			       acc.count);
		} else {
			for (i = 0; i < acc.count; i++)
				p[len + i] = acc.region ?
					ro_byte(acc.offset + i, 0) :
					s->sh->region0[acc.offset + i];
			len += acc.count;
		}
		break;
	}
	case VFIO_USER_DMA_MAP: {
		struct vfio_user_dma_map map;

		memcpy(&map, m->payload, sizeof(map));
		/* Recorded as the kernel will have it once we say yes. */
		if (!find_window(s, map.addr, map.size) && s->nr_win < MAX_WINDOWS)
			s->win[s->nr_win++] = (struct window){
				.iova = map.addr, .size = map.size,
				.flags = map.flags,
			};
		break;
	}
	case VFIO_USER_DMA_UNMAP: {
		struct vfio_user_dma_unmap unmap;
		struct window *w;

		memcpy(&unmap, m->payload, sizeof(unmap));
		memcpy(p, &unmap, sizeof(unmap));
		len = sizeof(unmap);
		*echo_off = 8;
		*echo_len = 16;
		if (unmap.flags & VFIO_USER_F_DMA_UNMAP_ALL) {
			s->nr_win = 0;
		} else {
			w = find_window(s, unmap.addr, unmap.size);
			if (w)
				*w = s->win[--s->nr_win];
		}
		break;
	}
	case VFIO_USER_DEVICE_RESET:
	case VFIO_USER_DEVICE_SET_IRQS:
		break;
	default:
		server_fail(s, "kernel sent command %u after attach (id %u, size %u, flags %#x)",
			    m->hdr.cmd, m->hdr.msg_id, m->hdr.msg_size,
			    m->hdr.flags);
		h->flags |= VFIO_USER_F_ERROR;
		h->error_no = EINVAL;
		break;
	}
	h->msg_size = sizeof(*h) + len;
}

/*
 * An error reply undoes the request's effect on the map as the kernel
 * sees it: a refused DMA_MAP is not mapped, a refused DMA_UNMAP stays.
 */
static void srv_undo(struct server *s)
{
	memcpy(s->win, s->saved_win, sizeof(s->win));
	s->nr_win = s->saved_nr_win;
}

static enum mutation pick_mutation(struct vu_rng *r)
{
	unsigned int x = vu_below(r, 1000), acc = 0;
	int i;

	for (i = 0; i < NR_MUTATIONS; i++) {
		acc += mutation_weights[i];
		if (x < acc)
			return i;
	}
	return MUT_NONE;
}

static void srv_answer(struct server *s, const struct msg *m, bool clean);

/* A request from the kernel after attach. */
static void srv_request(struct server *s, struct msg *m)
{
	int phase = load_int(&s->sh->phase);
	struct msg *held;

	if (phase == PHASE_NEGOTIATE) {
		srv_negotiate(s, m);
		return;
	}
	if (s->doomed)
		return;		/* silence from now on */
	if (phase == PHASE_CLEAN) {
		if (m->hdr.cmd == VFIO_USER_REGION_READ && vu_chance(&s->rng, 500)) {
			/* srv_clean_dma() receives into s->in: keep @m. */
			struct msg *copy = malloc(m->hdr.msg_size);

			if (!copy) {
				server_fail(s, "out of memory");
				return;
			}
			memcpy(copy, m, m->hdr.msg_size);
			srv_clean_dma(s);
			srv_answer(s, copy, true);
			free(copy);
			return;
		}
		srv_answer(s, m, true);
		return;
	}
	s->last_request_id = m->hdr.msg_id;
	if (s->held) {
		/* Answer the newer one first, then the one we held. */
		held = s->held;
		s->held = NULL;
		srv_answer(s, m, false);
		if (!s->doomed && !s->closed)
			srv_answer(s, held, false);
		free(held);
		return;
	}
	srv_answer(s, m, false);
}

static void srv_answer(struct server *s, const struct msg *m, bool clean)
{
	struct vfio_user_header *h = &s->out->hdr;
	enum mutation mut = clean ? MUT_NONE : pick_mutation(&s->rng);
	size_t echo_off, echo_len, i;
	uint16_t id = m->hdr.msg_id;
	unsigned int n;

	if (mut == MUT_HOLD) {
		if (!s->held) {
			s->held = malloc(sizeof(*m));
			if (s->held) {
				memcpy(s->held, m, sizeof(m->hdr) +
				       m->hdr.msg_size - sizeof(m->hdr));
				s->sh->mutated++;
				s->sh->mutation_counts[MUT_HOLD]++;
				return;
			}
		}
		mut = MUT_NONE;
	}

	/* The server's own commands first, in about half the rounds. */
	if (!clean && vu_chance(&s->rng, 700)) {
		n = 1 + vu_below(&s->rng, 48);
		while (n-- && !s->doomed && !s->closed)
			srv_inject_one(s);
		if (s->doomed || s->closed)
			return;
	}

	memcpy(s->saved_win, s->win, sizeof(s->win));
	s->saved_nr_win = s->nr_win;
	srv_build_reply(s, m, &echo_off, &echo_len);
	switch (mut) {
	case MUT_ERRNO:
		h->flags |= VFIO_USER_F_ERROR;
		h->error_no = pick_errno(&s->rng);
		note_errno(s, h->error_no);
		if (vu_chance(&s->rng, 600))
			h->msg_size = sizeof(*h);
		srv_undo(s);
		break;
	case MUT_ERRNO_NO_FLAG:
		h->error_no = pick_errno(&s->rng) | 1;
		break;
	case MUT_ID:
		switch (vu_below(&s->rng, 5)) {
		case 0:
			h->msg_id = id + 1;
			break;
		case 1:
			h->msg_id = id - 1;
			break;
		case 2:
			h->msg_id = id ^ 0x8000;
			break;
		case 3:
			h->msg_id = s->last_request_id;
			break;
		default:
			h->msg_id = (uint16_t)vu_rnd(&s->rng);
			break;
		}
		if (h->msg_id == id)
			h->msg_id = id + 7;
		break;
	case MUT_CMD:
		h->cmd = vu_below(&s->rng, 3) ? vu_below(&s->rng, 21) :
						(uint16_t)vu_rnd(&s->rng);
		if (h->cmd == m->hdr.cmd)
			h->cmd ^= 0x100;
		break;
	case MUT_FLAGS:
		switch (vu_below(&s->rng, 3)) {
		case 0:
			h->flags = VFIO_USER_F_TYPE_COMMAND;
			break;
		case 1:
			h->flags = 2 + vu_below(&s->rng, 14);
			break;
		default:
			h->flags |= 1u << (6 + vu_below(&s->rng, 26));
			break;
		}
		break;
	case MUT_PAYLOAD:
		if (echo_len && vu_chance(&s->rng, 600)) {
			i = echo_off + vu_below(&s->rng, echo_len);
			s->out->payload[i] ^= 1 << vu_below(&s->rng, 8);
		} else if (h->msg_size > sizeof(*h) && vu_chance(&s->rng, 500)) {
			h->msg_size -= 1 + vu_below(&s->rng, h->msg_size - sizeof(*h));
		} else {
			n = 1 + vu_below(&s->rng, 64);
			vu_fill_random(&s->rng, (uint8_t *)h + h->msg_size, n);
			h->msg_size += n;
		}
		break;
	default:
		break;
	}
	/* Anything the kernel must refuse ends the session: silence after. */
	if (mut >= MUT_ID)
		doom(s);
	srv_send_mutated(s, s->sock, mut);
}

/*
 * Wait up to @timeout_ms for a message on either socket and handle it.
 * Returns 1 if one was handled, 0 on timeout, -1 when the session is over.
 */
static int srv_pump(struct server *s, int timeout_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = s->sock, .events = POLLIN },
		{ .fd = s->twin, .events = POLLIN },
	};
	int i, n = s->twin >= 0 ? 2 : 1;

	if (poll(pfd, n, timeout_ms) <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (srv_recv(pfd[i].fd, s->in))
			return -1;
		if ((s->in->hdr.flags & VFIO_USER_F_TYPE_MASK) ==
		    VFIO_USER_F_TYPE_REPLY)
			srv_dma_reply(s, s->in);
		else if (i == 0)
			srv_request(s, s->in);
		else
			server_fail(s, "kernel sent command %u on the twin socket",
				    s->in->hdr.cmd);
		return 1;
	}
	return 0;
}

static void srv_session(struct server *s, int sock)
{
	/* Our max_data_xfer_size: below, at and above the client's pages. */
	static const uint32_t xfers[] = { 512, 4096, 4096, 65536 };
	const struct timeval send_timeout = { .tv_sec = 10 };
	int ret;

	s->sock = sock;
	s->twin = -1;
	s->twin_peer = -1;
	s->doomed = false;
	s->closed = false;
	s->nr_win = 0;
	memset(s->checks, 0, sizeof(s->checks));
	s->xfer = xfers[vu_below(&s->rng, ARRAY_SIZE(xfers))];
	store_int(&s->sh->doomed, 0);
	s->sh->sessions++;
	/* Never stuck on a full socket for good. */
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
		   sizeof(send_timeout));

	for (;;) {
		ret = srv_pump(s, s->held ? 20 : SERVER_IDLE_MS);
		if (ret < 0)
			break;
		if (!ret && s->held) {
			/* Nobody came: answer what we held, late. */
			struct msg *held = s->held;

			s->held = NULL;
			srv_answer(s, held, false);
			free(held);
		} else if (!ret) {
			break;	/* the client went quiet: give up */
		}
	}
	free(s->held);
	s->held = NULL;
	close(sock);
	if (s->twin >= 0)
		close(s->twin);
	if (s->twin_peer >= 0)
		close(s->twin_peer);
}

static void server_main(struct fuzz_shared *sh, int ctl, uint64_t seed)
{
	struct server s = {
		.sh = sh, .rng = { seed ^ 0x5e7e75e7e75e7e75ULL }, .next_id = 1,
	};
	char done = 'd';
	int sock;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	s.in = malloc(sizeof(*s.in));
	s.out = malloc(sizeof(*s.out));
	s.aux = malloc(sizeof(*s.aux));
	if (!s.in || !s.out || !s.aux)
		_exit(1);
	while ((sock = vu_recv_fd(ctl)) >= 0) {
		srv_session(&s, sock);
		if (write(ctl, &done, 1) != 1)
			break;
	}
	_exit(0);
}

/* ------------------------------------------------------------------------
 * The client
 */

struct dma_buf {
	uint8_t *mem;
	uint64_t iova;
	bool mapped;
	bool ro_valid;		/* holds its read-only pattern */
};

struct racer_job {
	int fd;
	off_t off;
	size_t len;
	ssize_t ret;
	int err;
};

struct client {
	struct fuzz_shared *sh;
	struct vu_rng rng;
	int ctl;
	pid_t server;
	uint8_t *area;
	size_t area_size;
	struct dma_buf bufs[NR_BUFS];
	uint8_t shadow[HALF];	/* region 0's upper half, as acknowledged */
	uint8_t *io;
	struct vuc_device *dev;
	int fd;
	int efd;
	uint32_t xfer;
	uint64_t rounds;
	uint64_t clean_rounds;
	uint64_t calls;
	unsigned int failures;
	double t_attach, t_detach, t_doomed;	/* seconds spent there */
	/* the helper thread, for two requests in flight */
	pthread_t racer;
	int racer_go[2];
	int racer_done[2];
	uint8_t *racer_buf;
};

static void client_fail(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void client_fail(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failures++ < MAX_REPORTED) {
		va_start(ap, fmt);
		printf("# FAIL (session %" PRIu64 ", round %" PRIu64 "): ",
		       c->sh->sessions, c->rounds);
		vprintf(fmt, ap);
		printf("\n");
		fflush(stdout);
		va_end(ap);
	}
}

static const int transport_errnos[] = {
	ETIMEDOUT, ENOTCONN, EPROTO, EPIPE, ECONNRESET, EIO, ENOMEM, 0,
};

/*
 * Is @err a documented failure of this call? Its own set, the transport's,
 * or a value the server put in an error reply; never 512 and up, which are
 * the kernel's own.
 */
static bool errno_ok(struct client *c, int err, const int *own)
{
	int i;

	if (!vu_errno_ordinary(err))
		return false;
	for (i = 0; transport_errnos[i]; i++)
		if (err == transport_errnos[i])
			return true;
	for (i = 0; own && own[i]; i++)
		if (err == own[i])
			return true;
	return __atomic_load_n(&c->sh->errnos_sent[err / 8], __ATOMIC_ACQUIRE) &
	       (1 << (err % 8));
}

static const int rw_errnos[] = { EINVAL, EFAULT, 0 };
static const int map_errnos[] = { EINVAL, EEXIST, ENOSPC, EFAULT, EACCES,
				  EPERM, 0 };
static const int unmap_errnos[] = { ENOENT, EINVAL, 0 };
static const int reset_errnos[] = { EINVAL, 0 };
static const int irq_errnos[] = { EINVAL, EBADF, EOPNOTSUPP, 0 };

/* Check one call's outcome; returns true if it failed. */
static bool check_call(struct client *c, const char *what, long ret, int err,
		       const int *own)
{
	c->calls++;
	if (ret >= 0)
		return false;
	if (!errno_ok(c, err, own))
		client_fail(c, "%s failed with errno %d (%s), not a documented one",
			    what, err, strerror(err));
	return true;
}

static bool conn_broken(struct client *c)
{
	struct vfio_user_stats st = { .argsz = sizeof(st) };

	if (ioctl(c->fd, VFIO_USER_GET_STATS, &st)) {
		client_fail(c, "GET_STATS: %s", strerror(errno));
		return true;
	}
	return st.flags & VFIO_USER_STATS_BROKEN;
}

static void set_timeout(struct client *c, unsigned int ms)
{
	struct vfio_user_timeout t = { .argsz = sizeof(t), .timeout_ms = ms };

	if (ioctl(c->fd, VFIO_USER_SET_TIMEOUT, &t))
		client_fail(c, "SET_TIMEOUT %u: %s", ms, strerror(errno));
}

static uint8_t *guard_before(struct dma_buf *b)
{
	return b->mem - 2 * PAGE;
}

static void setup_buffers(struct client *c)
{
	unsigned int i;

	c->area_size = NR_BUFS * BUF_STRIDE;
	c->area = mmap(NULL, c->area_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->area == MAP_FAILED) {
		client_fail(c, "mmap: %s", strerror(errno));
		exit(1);
	}
	for (i = 0; i < NR_BUFS; i++) {
		struct dma_buf *b = &c->bufs[i];
		uint8_t *base = c->area + i * BUF_STRIDE;

		b->mem = base + 2 * PAGE;
		/* Pairs of windows touch in IOVA space, far apart in memory. */
		b->iova = IOVA_BASE + i * BUF_SIZE + (i / 2) * PAGE;
		memset(base, GUARD_BYTE, PAGE);
		memset(base + PAGE, SENTINEL_BYTE, PAGE);
		memset(b->mem, 0, BUF_SIZE);
		memset(b->mem + BUF_SIZE, SENTINEL_BYTE, PAGE);
		memset(b->mem + BUF_SIZE + PAGE, GUARD_BYTE, PAGE);
		mprotect(base, PAGE, PROT_NONE);
		mprotect(b->mem + BUF_SIZE + PAGE, PAGE, PROT_NONE);
	}
}

static bool all_bytes(const uint8_t *p, uint8_t v, size_t len)
{
	while (len--)
		if (*p++ != v)
			return false;
	return true;
}

/* Nothing outside a mapping, and nothing in a read-only one, changed. */
static void check_memory(struct client *c, const char *when)
{
	unsigned int i;
	size_t k;

	for (i = 0; i < NR_BUFS; i++) {
		struct dma_buf *b = &c->bufs[i];
		uint8_t *guard0 = guard_before(b);
		uint8_t *guard1 = b->mem + BUF_SIZE + PAGE;

		if (!all_bytes(b->mem - PAGE, SENTINEL_BYTE, PAGE) ||
		    !all_bytes(b->mem + BUF_SIZE, SENTINEL_BYTE, PAGE))
			client_fail(c, "%s: the page next to DMA buffer %u changed", when, i);
		mprotect(guard0, PAGE, PROT_READ);
		mprotect(guard1, PAGE, PROT_READ);
		if (!all_bytes(guard0, GUARD_BYTE, PAGE) ||
		    !all_bytes(guard1, GUARD_BYTE, PAGE))
			client_fail(c, "%s: a guard page of DMA buffer %u changed", when, i);
		mprotect(guard0, PAGE, PROT_NONE);
		mprotect(guard1, PAGE, PROT_NONE);
		if (!b->ro_valid)
			continue;
		for (k = 0; k < BUF_SIZE; k++) {
			if (b->mem[k] != ro_byte(k, i + 1)) {
				client_fail(c, "%s: read-only DMA buffer %u changed at %zu",
					    when, i, k);
				break;
			}
		}
	}
}

static void *racer_main(void *arg)
{
	struct client *c = arg;
	struct racer_job job;

	while (read(c->racer_go[0], &job, sizeof(job)) == sizeof(job)) {
		job.ret = pread(job.fd, c->racer_buf, job.len, job.off);
		job.err = errno;
		if (write(c->racer_done[1], &job, sizeof(job)) != sizeof(job))
			break;
	}
	return NULL;
}

static bool start_session(struct client *c)
{
	struct vuc_options opts = {
		.timeout_ms = LONG_TIMEOUT_MS,
		.flags = VUC_OPT_KERNEL | VUC_OPT_NO_IO_FDS,
		.max_data_xfer_size = CLIENT_XFER,
	};
	unsigned int i;
	int sv[2], ret;

	if (vu_chance(&c->rng, 300))
		opts.flags |= VUC_OPT_NO_TWIN_SOCKET;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		client_fail(c, "socketpair: %s", strerror(errno));
		return false;
	}
	store_int(&c->sh->phase, PHASE_NEGOTIATE);
	/* The errnos the server may make calls fail with: this session's. */
	memset(c->sh->errnos_sent, 0, sizeof(c->sh->errnos_sent));
	if (vu_send_fd(c->ctl, sv[1])) {
		client_fail(c, "cannot hand the socket to the server: %s",
			    strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	close(sv[1]);

	c->dev = vuc_device_new(&opts);
	if (!c->dev) {
		client_fail(c, "vuc_device_new: %s", strerror(errno));
		close(sv[0]);
		return false;
	}
	ret = vuc_connect_fd(c->dev, sv[0]);
	if (ret) {
		client_fail(c, "attach to the honest server failed: %s",
			    vuc_strerror(c->dev));
		vuc_device_free(c->dev);
		c->dev = NULL;
		return false;
	}
	c->fd = vuc_device_fd(c->dev);
	c->xfer = vuc_get_caps(c->dev)->max_data_xfer_size;
	for (i = 0; i < NR_BUFS; i++)
		c->bufs[i].mapped = false;
	set_timeout(c, SHORT_TIMEOUT_MS);
	store_int(&c->sh->phase, PHASE_FUZZ);
	return true;
}

static void end_session(struct client *c)
{
	struct pollfd pfd = { .fd = c->ctl, .events = POLLIN };
	char done;

	check_memory(c, "end of session");
	vuc_device_free(c->dev);
	c->dev = NULL;
	c->fd = -1;
	/* The server sees the end of file and says so. */
	if (poll(&pfd, 1, 2 * SERVER_IDLE_MS) != 1 ||
	    read(c->ctl, &done, 1) != 1)
		client_fail(c, "the server did not finish its session");
}

static void map_buf(struct client *c, struct dma_buf *b, bool ro, bool clean)
{
	struct vfio_user_map_dma map = {
		.argsz = sizeof(map),
		.flags = VFIO_USER_MAP_DMA_READ | (ro ? 0 : VFIO_USER_MAP_DMA_WRITE),
		.vaddr = (uintptr_t)b->mem, .iova = b->iova, .size = BUF_SIZE,
		.fd = -1,
	};
	unsigned int i = b - c->bufs;
	size_t k;
	int ret;

	if (ro) {
		for (k = 0; k < BUF_SIZE; k++)
			b->mem[k] = ro_byte(k, i + 1);
		b->ro_valid = true;
	} else {
		b->ro_valid = false;
	}
	ret = ioctl(c->fd, VFIO_USER_MAP_DMA, &map);
	if (!check_call(c, "MAP_DMA", ret, errno, map_errnos))
		b->mapped = true;
	else if (clean)
		client_fail(c, "clean MAP_DMA failed: %s", strerror(errno));
}

static void unmap_buf(struct client *c, struct dma_buf *b, bool clean)
{
	struct vfio_user_unmap_dma unmap = {
		.argsz = sizeof(unmap), .iova = b->iova, .size = BUF_SIZE,
	};
	unsigned int i;
	int ret;

	if (!clean && vu_chance(&c->rng, 100)) {
		unmap.iova = 0;
		unmap.size = 0;
		unmap.flags = VFIO_USER_UNMAP_DMA_ALL;
	}
	ret = ioctl(c->fd, VFIO_USER_UNMAP_DMA, &unmap);
	if (check_call(c, "UNMAP_DMA", ret, errno, unmap_errnos)) {
		if (clean)
			client_fail(c, "clean UNMAP_DMA failed: %s", strerror(errno));
		return;
	}
	if (unmap.flags)
		for (i = 0; i < NR_BUFS; i++)
			c->bufs[i].mapped = false;
	b->mapped = false;
}

static struct dma_buf *pick_buf(struct client *c, bool mapped)
{
	unsigned int i, start = vu_below(&c->rng, NR_BUFS);

	for (i = 0; i < NR_BUFS; i++) {
		struct dma_buf *b = &c->bufs[(start + i) % NR_BUFS];

		if (b->mapped == mapped)
			return b;
	}
	return NULL;
}

/* A region access in region 0's lower half (mutated rounds only). */
static void pick_lower(struct client *c, off_t *off, size_t *len)
{
	*off = vu_below(&c->rng, HALF);
	*len = 1 + vu_below(&c->rng, vu_chance(&c->rng, 200) ? 3 * c->xfer : 64);
	if (*len > HALF - (size_t)*off)
		*len = HALF - *off;
}

static void check_rw(struct client *c, const char *what, ssize_t ret, int err,
		     size_t len)
{
	if (check_call(c, what, ret, err, rw_errnos))
		return;
	if (ret == 0 || (size_t)ret > len)
		client_fail(c, "%s of %zu bytes returned %zd", what, len, ret);
}

/* One mutated round: one operation, sometimes with a second in flight. */
static void mutated_round(struct client *c)
{
	struct racer_job job = { .fd = c->fd };
	bool racing = vu_chance(&c->rng, 150);
	struct dma_buf *b;
	unsigned int op = vu_below(&c->rng, 100);
	off_t off;
	size_t len;
	ssize_t ret;

	if (racing) {
		pick_lower(c, &job.off, &job.len);
		job.off = vu_region_off(0, job.off);
		if (write(c->racer_go[1], &job, sizeof(job)) != sizeof(job))
			racing = false;
	}

	if (op < 30) {
		pick_lower(c, &off, &len);
		ret = pread(c->fd, c->io, len, vu_region_off(0, off));
		check_rw(c, "pread", ret, errno, len);
	} else if (op < 50) {
		pick_lower(c, &off, &len);
		vu_fill_random(&c->rng, c->io, len);
		ret = pwrite(c->fd, c->io, len, vu_region_off(0, off));
		check_rw(c, "pwrite", ret, errno, len);
	} else if (op < 58) {
		off = vu_below(&c->rng, REGION1_SIZE);
		len = 1 + vu_below(&c->rng, REGION1_SIZE - off);
		ret = pread(c->fd, c->io, len, vu_region_off(1, off));
		check_rw(c, "pread (region 1)", ret, errno, len);
	} else if (op < 72) {
		b = pick_buf(c, false);
		if (b)
			map_buf(c, b, vu_chance(&c->rng, 500), false);
	} else if (op < 84) {
		b = pick_buf(c, true);
		if (b)
			unmap_buf(c, b, false);
	} else if (op < 92) {
		ret = ioctl(c->fd, VFIO_DEVICE_RESET);
		check_call(c, "VFIO_DEVICE_RESET", ret, errno, reset_errnos);
	} else {
		uint8_t buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
		struct vfio_irq_set *set = (void *)buf;
		int32_t efd = vu_chance(&c->rng, 800) ? c->efd : -1;

		set->argsz = sizeof(buf);
		set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		set->index = 0;
		set->start = 0;
		set->count = 1;
		memcpy(set->data, &efd, sizeof(efd));
		ret = ioctl(c->fd, VFIO_DEVICE_SET_IRQS, set);
		check_call(c, "VFIO_DEVICE_SET_IRQS", ret, errno, irq_errnos);
	}

	if (racing) {
		if (read(c->racer_done[0], &job, sizeof(job)) != sizeof(job))
			client_fail(c, "the helper thread is gone");
		else
			check_rw(c, "pread (second in flight)", job.ret,
				 job.err, job.len);
	}
}

/* A clean round: the server behaves, so everything must work exactly. */
static void clean_round(struct client *c)
{
	size_t len, k, limit = 3 * c->xfer < HALF ? 3 * c->xfer : HALF;
	struct dma_buf *b;
	off_t off;
	ssize_t ret;

	c->clean_rounds++;
	store_int(&c->sh->phase, PHASE_CLEAN);
	set_timeout(c, LONG_TIMEOUT_MS);

	off = vu_below(&c->rng, HALF);
	len = 1 + vu_below(&c->rng, limit);
	if (len > HALF - (size_t)off)
		len = HALF - off;
	vu_fill_random(&c->rng, c->io, len);
	ret = pwrite(c->fd, c->io, len, vu_region_off(0, HALF + off));
	if (ret != (ssize_t)len)
		client_fail(c, "clean pwrite of %zu bytes at %#zx: %zd (%s)",
			    len, (size_t)(HALF + off), ret, strerror(errno));
	else
		memcpy(c->shadow + off, c->io, len);

	/* Everything acknowledged so far, in one read. */
	off = vu_below(&c->rng, HALF);
	len = 1 + vu_below(&c->rng, limit);
	if (len > HALF - (size_t)off)
		len = HALF - off;
	ret = pread(c->fd, c->io, len, vu_region_off(0, HALF + off));
	if (ret != (ssize_t)len)
		client_fail(c, "clean pread of %zu bytes at %#zx: %zd (%s)",
			    len, (size_t)(HALF + off), ret, strerror(errno));
	else if (memcmp(c->io, c->shadow + off, len))
		client_fail(c, "clean pread at %#zx does not return what the server acknowledged",
			    (size_t)(HALF + off));

	off = vu_below(&c->rng, REGION1_SIZE);
	len = 1 + vu_below(&c->rng, REGION1_SIZE - off);
	ret = pread(c->fd, c->io, len, vu_region_off(1, off));
	if (ret != (ssize_t)len) {
		client_fail(c, "clean pread of region 1: %zd (%s)", ret,
			    strerror(errno));
	} else {
		for (k = 0; k < len; k++)
			if (c->io[k] != ro_byte(off + k, 0))
				break;
		if (k < len)
			client_fail(c, "clean pread of region 1 returned wrong data");
	}

	/* Keep some windows for the server's DMA. */
	b = pick_buf(c, vu_chance(&c->rng, 300));
	if (b && b->mapped)
		unmap_buf(c, b, true);
	else if (b)
		map_buf(c, b, vu_chance(&c->rng, 500), true);

	if (c->sh->server_failures)
		client_fail(c, "the server saw: %s", c->sh->server_failure);
	c->sh->server_failures = 0;
	set_timeout(c, SHORT_TIMEOUT_MS);
	store_int(&c->sh->phase, PHASE_FUZZ);
	check_memory(c, "clean round");
}

/*
 * After the server doomed the session the connection must end: at once for
 * most frames, after the kernel's timeout for a cut one. The server is
 * silent from now on, so one more call ends it if nothing else did.
 */
static void wait_broken(struct client *c)
{
	uint8_t byte;

	if (conn_broken(c))
		return;
	pread(c->fd, &byte, 1, vu_region_off(0, 0));
	if (!conn_broken(c))
		client_fail(c, "the connection survives a server that stopped answering");
}

FIXTURE(fuzz)
{
	struct client c;
};

FIXTURE_SETUP(fuzz)
{
	memset(&self->c, 0, sizeof(self->c));
}

FIXTURE_TEARDOWN(fuzz)
{
}

/*
 * A hang catcher with a wide margin: the default count took from 1150 to
 * 1900 s on the emulated debug kernel, by seed and by load.
 */
TEST_F_TIMEOUT(fuzz, hostile_server, 3600)
{
	struct client *c = &self->c;
	uint64_t seed, budget;
	struct timespec t0, t1;
	uint64_t progress = 0;
	int sv[2], i, cuts;
	double start;

	if (access(VFIO_USER_DEV, F_OK))
		SKIP(return, "%s missing: vfio_user module not loaded", VFIO_USER_DEV);

	seed = vu_fuzz_seed();
	budget = vu_env_u64("VFIO_USER_FUZZ_MESSAGES", DEFAULT_MESSAGES);
	printf("# seed: %" PRIu64 "\n", seed);
	printf("# messages: %" PRIu64 " mutated messages to send\n", budget);
	fflush(stdout);
	c->rng.s = seed;
	c->fd = -1;

	c->sh = mmap(NULL, sizeof(*c->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->sh);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	c->server = fork();
	ASSERT_LE(0, c->server);
	if (!c->server) {
		close(sv[0]);
		server_main(c->sh, sv[1], seed);
	}
	close(sv[1]);
	c->ctl = sv[0];

	setup_buffers(c);
	c->io = malloc(REGION0_SIZE);
	c->racer_buf = malloc(REGION0_SIZE);
	ASSERT_NE(NULL, c->io);
	ASSERT_NE(NULL, c->racer_buf);
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, c->efd);
	ASSERT_EQ(0, pipe(c->racer_go));
	ASSERT_EQ(0, pipe(c->racer_done));
	ASSERT_EQ(0, pthread_create(&c->racer, NULL, racer_main, c));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	start = now();
	while (c->sh->mutated < budget) {
		double t = now();

		if (!start_session(c))
			break;
		c->t_attach += now() - t;
		for (;;) {
			c->rounds++;
			if (vu_chance(&c->rng, 100) && !load_int(&c->sh->doomed) &&
			    !conn_broken(c))
				clean_round(c);
			else
				mutated_round(c);
			if (load_int(&c->sh->doomed)) {
				t = now();
				wait_broken(c);
				c->t_doomed += now() - t;
				break;
			}
			if (conn_broken(c))
				break;
			if (c->sh->mutated >= budget)
				break;
		}
		t = now();
		end_session(c);
		c->t_detach += now() - t;
		if (c->sh->mutated * 10 / budget > progress) {
			progress = c->sh->mutated * 10 / budget;
			printf("# progress: %" PRIu64 " messages, %" PRIu64 " sessions, %.0f s\n",
			       c->sh->mutated, c->sh->sessions, now() - start);
			fflush(stdout);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	close(c->racer_go[1]);
	pthread_join(c->racer, NULL);
	close(c->ctl);
	waitpid(c->server, NULL, 0);

	printf("# %" PRIu64 " sessions, %" PRIu64 " rounds (%" PRIu64 " clean), %" PRIu64
	       " calls, %" PRIu64 " server DMA results checked, %.1f s\n",
	       c->sh->sessions, c->rounds, c->clean_rounds, c->calls,
	       c->sh->dma_checks,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("# time in attach %.1f s, detach %.1f s, ending doomed sessions %.1f s\n",
	       c->t_attach, c->t_detach, c->t_doomed);
	printf("# sent %" PRIu64 " messages after attach, %" PRIu64 " mutated:",
	       c->sh->sent, c->sh->mutated);
	for (i = 1; i < NR_MUTATIONS; i++)
		printf(" %s=%" PRIu64, mutation_names[i], c->sh->mutation_counts[i]);
	for (i = 0, cuts = 0; i < 4096; i++)
		cuts += !!(c->sh->cut_offsets[i / 8] & (1 << (i % 8)));
	printf("\n# frames cut short then closed at %d distinct byte offsets\n", cuts);
	printf("# fuzz-figures: messages=%" PRIu64 "\n", c->sh->mutated);
	fflush(stdout);

	if (c->sh->server_failures)
		client_fail(c, "the server saw: %s", c->sh->server_failure);
	if (c->failures > MAX_REPORTED)
		printf("# ... %u failures in all\n", c->failures);
	EXPECT_EQ(0U, c->failures);
	EXPECT_LE(budget, c->sh->mutated);
}

/*
 * The harness's bound on the run (a hang catcher, not a speed test) grows
 * with the count asked for: make fuzz asks for ten times the default.
 */
static void __attribute__((constructor)) scale_timeout(void)
{
	uint64_t n = vu_env_u64("VFIO_USER_FUZZ_MESSAGES", DEFAULT_MESSAGES);

	if (n > DEFAULT_MESSAGES)
		_fuzz_hostile_server_object.timeout *= (n + DEFAULT_MESSAGES - 1) / DEFAULT_MESSAGES;
}

TEST_HARNESS_MAIN
