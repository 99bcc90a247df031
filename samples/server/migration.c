// SPDX-License-Identifier: BSD-3-Clause
/*
 * Migration v2 of the sample device, and DMA logging.
 *
 * States and arcs are the specification's; a request for a state that is
 * not one arc away walks the shortest path that does not pass through a
 * saving state, as VFIO does. The device runs (the DMA engine takes
 * commands, --busy writes BAR2) in RUNNING and PRE_COPY only.
 *
 * The stream: a 32-byte header (magic, version, device identity), then
 * records of a 16-byte head (type, length, offset) and a body:
 *
 *   BAR2    one MIG_PAGE of BAR2 at offset; a page may come many times
 *   DEVICE  registers, config space, BAR0 memories, MSI-X table,
 *           interrupt masks and pending bits (the DMA engine's state is in
 *           its registers)
 *   END     FNV-1a 64 of every byte before this record
 *
 * PRE_COPY sends the pages of BAR2 that changed since they were last sent
 * (against a shadow copy, so writes through the client's mapping count
 * too); STOP_COPY sends what is left, the device record and END. The
 * destination stages everything and applies it only at a valid END; a
 * wrong header, a malformed record, a bad checksum or a stream that ends
 * early (RESUMING to STOP before END) puts the device in ERROR, which only
 * a reset leaves.
 *
 * DMA logging (DMA_LOGGING_START/STOP/REPORT) marks the pages the DMA
 * engine writes through its mappings of the client's memory; what it
 * writes with DMA_WRITE messages the client logs itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "server.h"

#define S_ERROR VFIO_USER_DEVICE_STATE_ERROR
#define S_STOP VFIO_USER_DEVICE_STATE_STOP
#define S_RUNNING VFIO_USER_DEVICE_STATE_RUNNING
#define S_STOP_COPY VFIO_USER_DEVICE_STATE_STOP_COPY
#define S_RESUMING VFIO_USER_DEVICE_STATE_RESUMING
#define S_PRE_COPY VFIO_USER_DEVICE_STATE_PRE_COPY

#define MIG_MAGIC "VUSMPMIG"
#define REC_BAR2 1
#define REC_DEVICE 2
#define REC_END 3

#define MAX_LOG_RANGES 1024
#define MAX_LOG_BITS (1ULL << 28)

enum { PH_HEADER, PH_HEAD, PH_BODY };

struct stream_header {
	char magic[8];
	uint32_t version;
	uint16_t vendor;
	uint16_t device;
	uint32_t bar2_size;
	uint32_t msix_vectors;
	uint32_t config_size;
	uint32_t reserved;
} __attribute__((packed));

struct rec_head {
	uint32_t type;
	uint32_t len;
	uint64_t offset;
} __attribute__((packed));

struct dev_record {
	uint8_t config[SAMPLE_CONFIG_SIZE];
	uint8_t regs[sizeof(((struct device *)0)->regs)];
	uint8_t mailbox[SAMPLE_MAILBOX_SIZE];
	uint8_t scratch_ram[SAMPLE_SCRATCH_RAM_SIZE];
	uint8_t bar1[SAMPLE_BAR1_SIZE];
	uint64_t masked[SAMPLE_NUM_IRQS];
	uint64_t pending[SAMPLE_NUM_IRQS];
	uint64_t pending_counts[SAMPLE_NUM_IRQS];
} __attribute__((packed));

_Static_assert(sizeof(struct dev_record) <= MIG_MAX_RECORD, "record size");
_Static_assert(IRQ_MAX_VECTORS <= 64, "a u64 per IRQ index");

static const char *state_name(uint32_t s)
{
	static const char *const names[] = {
		"ERROR",    "STOP",	   "RUNNING",  "STOP_COPY",
		"RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P",
	};

	return s < 8 ? names[s] : "(invalid)";
}

static uint64_t fnv(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len--) {
		h ^= *p++;
		h *= SAMPLE_FNV64_PRIME;
	}
	return h;
}

/* ---- Life of the migration state ---- */

int mig_init(struct device *dev)
{
	struct migration *m = &dev->mig;

	memset(m, 0, sizeof(*m));
	m->state = S_RUNNING;
	m->shadow = malloc(SAMPLE_BAR2_SIZE);
	m->stage = malloc(SAMPLE_BAR2_SIZE);
	m->rec = malloc(MIG_MAX_RECORD);
	m->staged_dev = malloc(sizeof(struct dev_record));
	if (!m->shadow || !m->stage || !m->rec || !m->staged_dev)
		return -ENOMEM;
	return 0;
}

static void save_end(struct migration *m)
{
	free(m->out.data);
	memset(&m->out, 0, sizeof(m->out));
	m->saving = false;
	m->final_done = false;
	m->round_open = false;
}

static void load_end(struct migration *m)
{
	m->loading = false;
	m->load_done = false;
	m->have_dev = false;
}

void mig_destroy(struct device *dev)
{
	struct migration *m = &dev->mig;

	save_end(m);
	free(m->shadow);
	free(m->stage);
	free(m->rec);
	free(m->staged_dev);
	m->shadow = m->stage = m->rec = NULL;
	m->staged_dev = NULL;
}

/* Device reset: the only way out of ERROR. */
void mig_reset(struct device *dev)
{
	save_end(&dev->mig);
	load_end(&dev->mig);
	dev->mig.state = S_RUNNING;
}

bool mig_running(const struct device *dev)
{
	return dev->mig.state == S_RUNNING || dev->mig.state == S_PRE_COPY;
}

/* --busy: after every message served while running, one BAR2 write. */
void mig_tick(struct server *srv)
{
	struct migration *m = &srv->dev.mig;
	uint64_t page, slot;

	if (!srv->opts.busy || !mig_running(&srv->dev))
		return;
	m->tick++;
	page = m->tick % MIG_BAR2_PAGES;
	slot = (m->tick / MIG_BAR2_PAGES) % (MIG_PAGE / 8);
	memcpy(srv->dev.bar2 + page * MIG_PAGE + slot * 8, &m->tick,
	       sizeof(m->tick));
}

/* ---- Saving ---- */

static int queue(struct migration *m, const void *buf, size_t len)
{
	struct mig_buf *b = &m->out;

	if (b->pos && b->pos == b->len)
		b->pos = b->len = 0;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 64 * 1024;
		uint8_t *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	m->out_hash = fnv(m->out_hash, buf, len);
	return 0;
}

static int queue_rec(struct migration *m, uint32_t type, uint64_t offset,
		     const void *body, uint32_t len)
{
	struct rec_head h = { .type = type, .len = len, .offset = offset };
	int ret = queue(m, &h, sizeof(h));

	return ret ? ret : queue(m, body, len);
}

static int save_start(struct server *srv)
{
	struct migration *m = &srv->dev.mig;
	struct stream_header h = {
		.version = srv->opts.mig_version,
		.vendor = SAMPLE_VENDOR_ID,
		.device = SAMPLE_DEVICE_ID,
		.bar2_size = SAMPLE_BAR2_SIZE,
		.msix_vectors = srv->dev.msix_vectors,
		.config_size = SAMPLE_CONFIG_SIZE,
	};

	save_end(m);
	memcpy(h.magic, MIG_MAGIC, sizeof(h.magic));
	memset(m->sent, 0, sizeof(m->sent));
	m->out_hash = SAMPLE_FNV64_OFFSET;
	m->saving = true;
	return queue(m, &h, sizeof(h));
}

static size_t pending(const struct migration *m)
{
	return m->out.len - m->out.pos;
}

/* Queue changed pages of BAR2 until @want bytes wait (all with want 0). */
static int queue_pages(struct device *dev, size_t want)
{
	struct migration *m = &dev->mig;
	unsigned int p;
	int ret;

	for (p = 0; p < MIG_BAR2_PAGES; p++) {
		uint8_t *mem = dev->bar2 + (size_t)p * MIG_PAGE;
		uint8_t *sh = m->shadow + (size_t)p * MIG_PAGE;
		bool sent = m->sent[p / 8] & (1u << (p % 8));

		if (want && pending(m) >= want)
			break;
		if (sent && !memcmp(mem, sh, MIG_PAGE))
			continue;
		memcpy(sh, mem, MIG_PAGE);
		m->sent[p / 8] |= 1u << (p % 8);
		ret = queue_rec(m, REC_BAR2, (uint64_t)p * MIG_PAGE, sh,
				MIG_PAGE);
		if (ret)
			return ret;
	}
	return 0;
}

static void dev_record_fill(const struct device *dev, struct dev_record *r)
{
	unsigned int i, v;

	memset(r, 0, sizeof(*r));
	memcpy(r->config, dev->config, sizeof(r->config));
	memcpy(r->regs, &dev->regs, sizeof(r->regs));
	memcpy(r->mailbox, dev->mailbox, sizeof(r->mailbox));
	memcpy(r->scratch_ram, dev->scratch_ram, sizeof(r->scratch_ram));
	memcpy(r->bar1, dev->bar1, sizeof(r->bar1));
	for (i = 0; i < SAMPLE_NUM_IRQS; i++)
		for (v = 0; v < IRQ_MAX_VECTORS; v++) {
			const struct irq_vector *vec = &dev->irq[i][v];

			r->masked[i] |= (uint64_t)vec->masked << v;
			r->pending[i] |= (uint64_t)vec->pending << v;
			r->pending_counts[i] |= (uint64_t)vec->pending_counts
						<< v;
		}
}

static void dev_record_apply(struct device *dev, const struct dev_record *r)
{
	unsigned int i, v;

	memcpy(dev->config, r->config, sizeof(r->config));
	memcpy(&dev->regs, r->regs, sizeof(r->regs));
	memcpy(dev->mailbox, r->mailbox, sizeof(r->mailbox));
	memcpy(dev->scratch_ram, r->scratch_ram, sizeof(r->scratch_ram));
	memcpy(dev->bar1, r->bar1, sizeof(r->bar1));
	for (i = 0; i < SAMPLE_NUM_IRQS; i++)
		for (v = 0; v < IRQ_MAX_VECTORS; v++) {
			struct irq_vector *vec = &dev->irq[i][v];

			vec->masked = r->masked[i] >> v & 1;
			vec->pending = r->pending[i] >> v & 1;
			vec->pending_counts = r->pending_counts[i] >> v & 1;
		}
}

/* The rest of the stream: last pages, the device, END. */
static int queue_final(struct device *dev)
{
	struct migration *m = &dev->mig;
	struct dev_record *r;
	uint64_t h;
	int ret;

	ret = queue_pages(dev, 0);
	if (ret)
		return ret;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	dev_record_fill(dev, r);
	ret = queue_rec(m, REC_DEVICE, 0, r, sizeof(*r));
	free(r);
	if (ret)
		return ret;
	h = m->out_hash;
	ret = queue_rec(m, REC_END, 0, &h, sizeof(h));
	if (!ret)
		m->final_done = true;
	return ret;
}

int mig_data_read(struct server *srv, const struct vu_msg *msg,
		  struct reply *reply)
{
	const struct vfio_user_mig_data *req = msg->payload;
	struct migration *m = &srv->dev.mig;
	struct vfio_user_mig_data *out;
	size_t n;
	int ret = 0;

	if (msg->len != sizeof(*req) || req->size > srv->opts.max_data_xfer ||
	    req->size > srv->conn.client_max_xfer ||
	    req->argsz < sizeof(*req) + (uint64_t)req->size)
		return -EINVAL;
	if (m->state != S_PRE_COPY && m->state != S_STOP_COPY) {
		srv_log(srv, "MIG_DATA_READ in %s", state_name(m->state));
		return -EINVAL;
	}
	/*
	 * A round of pre-copy is what changed when the last one was drained:
	 * pages changing meanwhile wait for the next, so a round ends even
	 * when the device keeps writing.
	 */
	if (m->state == S_STOP_COPY) {
		if (!m->final_done && pending(m) < req->size)
			ret = queue_final(&srv->dev);
	} else if (!m->round_open) {
		ret = queue_pages(&srv->dev, 0);
		m->round_open = pending(m) > 0;
	} else if (!pending(m)) {
		/* A round drained by a full read ends with an empty one. */
		m->round_open = false;
	}
	if (ret)
		return ret;
	n = pending(m) < req->size ? pending(m) : req->size;
	out = reply_alloc(reply, sizeof(*out) + n);
	if (!out)
		return -ENOMEM;
	out->argsz = (uint32_t)(sizeof(*out) + n);
	out->size = (uint32_t)n;
	memcpy(out->data, m->out.data + m->out.pos, n);
	m->out.pos += n;
	if (!pending(m) && n < req->size)
		m->round_open = false;
	return 0;
}

/* ---- Loading ---- */

static void load_start(struct device *dev)
{
	struct migration *m = &dev->mig;

	load_end(m);
	m->loading = true;
	memcpy(m->stage, dev->bar2, SAMPLE_BAR2_SIZE);
	m->phase = PH_HEADER;
	m->rec_len = 0;
	m->rec_want = sizeof(struct stream_header);
	m->in_hash = SAMPLE_FNV64_OFFSET;
}

/* The stream is wrong: the device goes to ERROR. */
static int load_fail(struct server *srv, const char *why)
{
	srv_log(srv,
		"migration stream refused: %s; device in ERROR until reset",
		why);
	load_end(&srv->dev.mig);
	srv->dev.mig.state = S_ERROR;
	return -EINVAL;
}

static int load_header(struct server *srv, const struct stream_header *h)
{
	if (memcmp(h->magic, MIG_MAGIC, sizeof(h->magic)))
		return load_fail(srv, "not a sample device stream (bad magic)");
	if (h->version != srv->opts.mig_version)
		return load_fail(srv, "stream version differs from ours");
	if (h->vendor != SAMPLE_VENDOR_ID || h->device != SAMPLE_DEVICE_ID ||
	    h->bar2_size != SAMPLE_BAR2_SIZE ||
	    h->config_size != SAMPLE_CONFIG_SIZE || h->reserved ||
	    h->msix_vectors != srv->dev.msix_vectors)
		return load_fail(srv, "stream is from a different device");
	return 0;
}

static int load_head(struct server *srv, const struct rec_head *h)
{
	struct migration *m = &srv->dev.mig;

	if (m->load_done)
		return load_fail(srv, "data after the end of the stream");
	switch (h->type) {
	case REC_BAR2:
		if (h->len != MIG_PAGE || h->offset % MIG_PAGE ||
		    h->offset >= SAMPLE_BAR2_SIZE)
			return load_fail(srv, "malformed BAR2 record");
		break;
	case REC_DEVICE:
		if (h->len != sizeof(struct dev_record) || h->offset)
			return load_fail(srv, "malformed device record");
		break;
	case REC_END:
		if (h->len != sizeof(uint64_t) || h->offset)
			return load_fail(srv, "malformed end record");
		break;
	default:
		return load_fail(srv, "unknown record type");
	}
	m->rec_type = h->type;
	m->rec_offset = h->offset;
	return 0;
}

static int load_body(struct server *srv, uint64_t head_hash)
{
	struct migration *m = &srv->dev.mig;
	struct device *dev = &srv->dev;
	uint64_t h;

	switch (m->rec_type) {
	case REC_BAR2:
		memcpy(m->stage + m->rec_offset, m->rec, MIG_PAGE);
		return 0;
	case REC_DEVICE: {
		const struct dev_record *r = (const void *)m->rec;
		uint16_t vendor, device;

		/* The config space names the device too: it must be ours. */
		memcpy(&vendor, r->config + PCI_VENDOR_ID, 2);
		memcpy(&device, r->config + PCI_DEVICE_ID, 2);
		if (vendor != SAMPLE_VENDOR_ID || device != SAMPLE_DEVICE_ID)
			return load_fail(srv,
					 "device record of another device");
		memcpy(m->staged_dev, m->rec, sizeof(struct dev_record));
		m->have_dev = true;
		return 0;
	}
	default:
		memcpy(&h, m->rec, sizeof(h));
		if (h != head_hash)
			return load_fail(srv, "checksum mismatch");
		if (!m->have_dev)
			return load_fail(srv, "no device record");
		memcpy(dev->bar2, m->stage, SAMPLE_BAR2_SIZE);
		dev_record_apply(dev, m->staged_dev);
		m->load_done = true;
		srv_log(srv, "migration stream loaded");
		return 0;
	}
}

static int load_feed(struct server *srv, const uint8_t *p, size_t len)
{
	struct migration *m = &srv->dev.mig;
	uint64_t head_hash = m->in_hash;
	int ret = 0;

	while (len && !ret) {
		size_t take = m->rec_want - m->rec_len;

		if (take > len)
			take = len;
		memcpy(m->rec + m->rec_len, p, take);
		m->rec_len += take;
		p += take;
		len -= take;
		if (m->rec_len < m->rec_want)
			break;
		switch (m->phase) {
		case PH_HEADER:
			m->in_hash = fnv(m->in_hash, m->rec, m->rec_len);
			ret = load_header(srv, (const void *)m->rec);
			m->phase = PH_HEAD;
			m->rec_want = sizeof(struct rec_head);
			break;
		case PH_HEAD:
			head_hash = m->in_hash;
			m->in_hash = fnv(m->in_hash, m->rec, m->rec_len);
			ret = load_head(srv, (const void *)m->rec);
			m->phase = PH_BODY;
			m->rec_want = ((const struct rec_head *)m->rec)->len;
			break;
		default:
			m->in_hash = fnv(m->in_hash, m->rec, m->rec_len);
			ret = load_body(srv, head_hash);
			m->phase = PH_HEAD;
			m->rec_want = sizeof(struct rec_head);
			break;
		}
		m->rec_len = 0;
	}
	return ret;
}

int mig_data_write(struct server *srv, const struct vu_msg *msg,
		   struct reply *reply)
{
	const struct vfio_user_mig_data *req = msg->payload;
	struct migration *m = &srv->dev.mig;

	(void)reply;
	if (msg->len < sizeof(*req) || req->size != msg->len - sizeof(*req) ||
	    req->size > srv->opts.max_data_xfer || req->argsz < msg->len)
		return -EINVAL;
	if (m->state != S_RESUMING || !m->loading) {
		srv_log(srv, "MIG_DATA_WRITE in %s", state_name(m->state));
		return -EINVAL;
	}
	return load_feed(srv, req->data, req->size);
}

/* ---- States ---- */

static uint32_t next_state(uint32_t cur, uint32_t target)
{
	static const uint8_t next[8][8] = {
		[S_STOP] = {
			[S_STOP] = S_STOP, [S_RUNNING] = S_RUNNING,
			[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_RESUMING,
			[S_PRE_COPY] = S_RUNNING,
		},
		[S_RUNNING] = {
			[S_STOP] = S_STOP, [S_RUNNING] = S_RUNNING,
			[S_STOP_COPY] = S_STOP, [S_RESUMING] = S_STOP,
			[S_PRE_COPY] = S_PRE_COPY,
		},
		[S_STOP_COPY] = {
			[S_STOP] = S_STOP, [S_RUNNING] = S_STOP,
			[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_STOP,
		},
		[S_RESUMING] = {
			[S_STOP] = S_STOP, [S_RUNNING] = S_STOP,
			[S_STOP_COPY] = S_STOP, [S_RESUMING] = S_RESUMING,
			[S_PRE_COPY] = S_STOP,
		},
		[S_PRE_COPY] = {
			[S_STOP] = S_RUNNING, [S_RUNNING] = S_RUNNING,
			[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_RUNNING,
			[S_PRE_COPY] = S_PRE_COPY,
		},
	};

	return cur < 8 && target < 8 ? next[cur][target] : S_ERROR;
}

/* One direct arc @from -> @to. */
static int arc(struct server *srv, uint32_t from, uint32_t to)
{
	struct migration *m = &srv->dev.mig;

	if (from == S_RUNNING && to == S_PRE_COPY)
		return save_start(srv);
	if (from == S_STOP && to == S_STOP_COPY)
		return save_start(srv);
	if ((from == S_PRE_COPY && to == S_RUNNING) ||
	    (from == S_STOP_COPY && to == S_STOP))
		save_end(m);
	if (from == S_STOP && to == S_RESUMING)
		load_start(&srv->dev);
	if (from == S_RESUMING && to == S_STOP) {
		if (!m->load_done)
			return load_fail(
				srv, "the stream ended before its end record");
		load_end(m);
	}
	return 0;
}

static int set_state(struct server *srv, uint32_t target)
{
	struct migration *m = &srv->dev.mig;
	uint32_t next;
	int ret;

	if (target >= VFIO_USER_DEVICE_NUM_STATES || target == S_ERROR ||
	    target == VFIO_USER_DEVICE_STATE_RUNNING_P2P ||
	    target == VFIO_USER_DEVICE_STATE_PRE_COPY_P2P ||
	    m->state == S_ERROR)
		return -EINVAL;
	while (m->state != target) {
		next = next_state(m->state, target);
		if (next == S_ERROR)
			return -EINVAL;
		ret = arc(srv, m->state, next);
		if (ret)
			return ret;
		srv_debug(srv, "migration state %s -> %s", state_name(m->state),
			  state_name(next));
		m->state = next;
	}
	return 0;
}

/* ---- DMA logging ---- */

static void log_free(struct dma_log *log)
{
	unsigned int i;

	for (i = 0; i < log->nr; i++)
		free(log->ranges[i].bitmap);
	free(log->ranges);
	memset(log, 0, sizeof(*log));
}

void mig_conn_end(struct server *srv)
{
	log_free(&srv->conn.log);
}

void mig_dma_written(struct server *srv, uint64_t addr, uint64_t len)
{
	struct dma_log *log = &srv->conn.log;
	uint64_t end = addr + len, ps = log->page_size;
	unsigned int i;

	if (!log->on || !len)
		return;
	for (i = 0; i < log->nr; i++) {
		struct dma_log_range *r = &log->ranges[i];
		uint64_t from = addr > r->iova ? addr : r->iova;
		uint64_t to = end < r->iova + r->length ? end :
							  r->iova + r->length;
		uint64_t pg;

		for (pg = (from - r->iova) / ps;
		     from < to && pg <= (to - 1 - r->iova) / ps; pg++)
			r->bitmap[pg / 64] |= 1ULL << (pg % 64);
	}
}

/* Widened to whole pages of the log. */
static void window_range(uint64_t addr, uint64_t size, uint64_t ps,
			 uint64_t *iova, uint64_t *length)
{
	*iova = addr & ~(ps - 1);
	*length = ((addr + size + ps - 1) & ~(ps - 1)) - *iova;
}

static bool range_ok(uint64_t iova, uint64_t length, uint64_t ps)
{
	return length && !((iova | length) & (ps - 1)) &&
	       iova + length - 1 >= iova;
}

static int log_add(struct dma_log *log, uint64_t iova, uint64_t length,
		   uint64_t *bits)
{
	struct dma_log_range *r = &log->ranges[log->nr];
	uint64_t n = length / log->page_size;

	*bits += n;
	if (*bits > MAX_LOG_BITS)
		return -E2BIG;
	r->iova = iova;
	r->length = length;
	r->bitmap = calloc((n + 63) / 64, 8);
	if (!r->bitmap)
		return -ENOMEM;
	log->nr++;
	return 0;
}

/* A window mapped while logging every window is logged too. */
void mig_dma_mapped(struct server *srv, uint64_t addr, uint64_t size)
{
	struct dma_log *log = &srv->conn.log;
	struct dma_log_range *r;
	uint64_t iova, length, bits = 0;
	unsigned int i;

	if (!log->on || !log->all || log->nr >= MAX_LOG_RANGES)
		return;
	for (i = 0; i < log->nr; i++)
		bits += log->ranges[i].length / log->page_size;
	r = realloc(log->ranges, (log->nr + 1) * sizeof(*r));
	if (!r)
		return;
	log->ranges = r;
	window_range(addr, size, log->page_size, &iova, &length);
	if (log_add(log, iova, length, &bits))
		srv_log(srv, "DMA log: cannot log the window at %#llx",
			(unsigned long long)addr);
}

static int log_start(struct server *srv, const struct vu_msg *msg)
{
	const struct vfio_user_device_feature *f = msg->payload;
	const struct vfio_user_device_feature_dma_logging_control *c =
		(const void *)f->data;
	struct dma_log *log = &srv->conn.log;
	const struct dma_table *tbl = &srv->conn.dma;
	uint64_t bits = 0;
	unsigned int i, n;
	int ret = 0;

	if (msg->len < sizeof(*f) + sizeof(*c) || c->reserved ||
	    c->num_ranges > MAX_LOG_RANGES ||
	    msg->len != sizeof(*f) + sizeof(*c) +
				(size_t)c->num_ranges * sizeof(c->ranges[0]))
		return -EINVAL;
	if (c->page_size < SERVER_PGSIZES || c->page_size & (c->page_size - 1))
		return -EINVAL;
	if (log->on)
		return -EBUSY;
	for (i = 0; i < c->num_ranges; i++)
		if (!range_ok(c->ranges[i].iova, c->ranges[i].length,
			      c->page_size))
			return -EINVAL;
	n = c->num_ranges ? c->num_ranges : tbl->nr;
	log->ranges = calloc(n ? n : 1, sizeof(log->ranges[0]));
	if (!log->ranges)
		return -ENOMEM;
	log->page_size = c->page_size;
	for (i = 0; i < n && !ret; i++) {
		uint64_t iova, length;

		if (c->num_ranges) {
			iova = c->ranges[i].iova;
			length = c->ranges[i].length;
		} else {
			window_range(tbl->regions[i].addr, tbl->regions[i].size,
				     c->page_size, &iova, &length);
		}
		ret = log_add(log, iova, length, &bits);
	}
	if (ret) {
		log_free(log);
		return ret;
	}
	log->on = true;
	log->all = !c->num_ranges;
	srv_debug(srv, "DMA logging on: %u ranges, pages of %llu bytes",
		  log->nr, (unsigned long long)log->page_size);
	return 0;
}

/* GET reply for DMA_LOGGING_REPORT: the range's bits, cleared as read. */
static int log_report(struct server *srv, const struct vu_msg *msg,
		      struct reply *reply)
{
	const struct vfio_user_device_feature *f = msg->payload;
	const struct vfio_user_device_feature_dma_logging_report *q =
		(const void *)f->data;
	struct vfio_user_device_feature_dma_logging_report *rep;
	struct vfio_user_device_feature *out;
	struct dma_log *log = &srv->conn.log;
	uint64_t pages, bytes, pg, ps;
	unsigned int i;

	if (msg->len != sizeof(*f) + sizeof(*q) || !log->on ||
	    q->page_size != log->page_size)
		return -EINVAL;
	ps = q->page_size;
	if (!range_ok(q->iova, q->length, ps))
		return -EINVAL;
	pages = q->length / ps;
	bytes = (pages + 63) / 64 * 8;
	if (f->argsz < sizeof(*f) + sizeof(*q) + bytes ||
	    sizeof(*f) + sizeof(*q) + bytes > srv->conn.client_max_xfer)
		return -EINVAL;
	out = reply_alloc(reply, sizeof(*f) + sizeof(*q) + bytes);
	if (!out)
		return -ENOMEM;
	out->argsz = (uint32_t)reply->len;
	out->flags = f->flags;
	rep = (void *)out->data;
	*rep = *q;
	for (i = 0; i < log->nr; i++) {
		struct dma_log_range *r = &log->ranges[i];
		uint64_t from = q->iova > r->iova ? q->iova : r->iova;
		uint64_t to = q->iova + q->length < r->iova + r->length ?
				      q->iova + q->length :
				      r->iova + r->length;

		for (; from < to; from += ps) {
			pg = (from - r->iova) / ps;
			if (!(r->bitmap[pg / 64] & (1ULL << (pg % 64))))
				continue;
			r->bitmap[pg / 64] &= ~(1ULL << (pg % 64));
			pg = (from - q->iova) / ps;
			rep->bitmap[pg / 64] |= 1ULL << (pg % 64);
		}
	}
	return 0;
}

/* ---- DEVICE_FEATURE ---- */

static uint32_t feature_ops(uint32_t index)
{
	switch (index) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
		return VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE;
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		return VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |
		       VFIO_DEVICE_FEATURE_PROBE;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		return VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE;
	default:
		return 0;
	}
}

/* The reply repeats the request. */
static int echo(struct reply *reply, const struct vu_msg *msg)
{
	struct vfio_user_device_feature *out = reply_alloc(reply, msg->len);

	if (!out)
		return -ENOMEM;
	memcpy(out, msg->payload, msg->len);
	out->argsz = (uint32_t)msg->len;
	return 0;
}

/* A GET reply of 8 bytes of data. */
static int get_reply(struct reply *reply, uint32_t flags, uint64_t data)
{
	struct vfio_user_device_feature *out;

	out = reply_alloc(reply, sizeof(*out) + sizeof(data));
	if (!out)
		return -ENOMEM;
	out->argsz = (uint32_t)reply->len;
	out->flags = flags;
	memcpy(out->data, &data, sizeof(data));
	return 0;
}

int mig_device_feature(struct server *srv, const struct vu_msg *msg,
		       struct reply *reply)
{
	const uint32_t any = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_PROBE;
	const struct vfio_user_device_feature *f = msg->payload;
	struct vfio_user_device_feature_mig_state st;
	uint32_t index, ops;
	int ret;

	if (msg->len < sizeof(*f) ||
	    f->flags & ~(VFIO_DEVICE_FEATURE_MASK | any))
		return -EINVAL;
	index = f->flags & VFIO_DEVICE_FEATURE_MASK;
	ops = f->flags & any;
	if (srv->opts.no_dma_logging &&
	    index >= VFIO_DEVICE_FEATURE_DMA_LOGGING_START &&
	    index <= VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT)
		return -EINVAL;
	if (!ops || (ops & ~feature_ops(index)) ||
	    ((ops & VFIO_DEVICE_FEATURE_GET) &&
	     (ops & VFIO_DEVICE_FEATURE_SET) &&
	     !(ops & VFIO_DEVICE_FEATURE_PROBE)))
		return -EINVAL;
	if (ops & VFIO_DEVICE_FEATURE_PROBE)
		return echo(reply, msg);

	switch (index) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
		if (f->argsz < sizeof(*f) + sizeof(uint64_t))
			return -EINVAL;
		return get_reply(reply, f->flags,
				 VFIO_USER_MIGRATION_STOP_COPY |
					 VFIO_USER_MIGRATION_PRE_COPY);
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		if (ops & VFIO_DEVICE_FEATURE_GET) {
			if (f->argsz < sizeof(*f) + sizeof(st))
				return -EINVAL;
			return get_reply(reply, f->flags, srv->dev.mig.state);
		}
		if (msg->len != sizeof(*f) + sizeof(st))
			return -EINVAL;
		memcpy(&st, f->data, sizeof(st));
		ret = set_state(srv, st.device_state);
		if (ret) {
			srv_log(srv, "refused migration state %s in %s",
				state_name(st.device_state),
				state_name(srv->dev.mig.state));
			return ret;
		}
		return echo(reply, msg);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		ret = log_start(srv, msg);
		return ret ? ret : echo(reply, msg);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		log_free(&srv->conn.log);
		return echo(reply, msg);
	default:
		return log_report(srv, msg, reply);
	}
}
