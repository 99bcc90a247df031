/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user-sample-server: internal interfaces.
 *
 * The server is one process, one thread, one poll() loop (main.c). It
 * serves one client at a time and emulates the PCI device described in
 * samples/sample-device.h:
 *
 *   main.c     options, signals, listen/accept, the poll loop, the
 *              lifetime of a connection
 *   version.c  VERSION negotiation (JSON capabilities, twin socket)
 *   proto.c    message dispatch and every other command's wire format
 *   pci.c      the device model: config space, BAR0 registers, BAR1
 *              (MSI-X table and PBA), BAR2 (memfd), reset
 *   irq.c      interrupt eventfds, masks, pending bits, SET_IRQS
 *   io_fds.c   doorbell ioeventfds and the mailbox ioregionfd
 *   dma.c      the DMA_MAP window table
 *   dma_engine.c  the device's DMA engine: transfers through mappings or
 *              DMA_READ/DMA_WRITE messages
 *   migration.c  migration v2 (device states, the state stream, pre-copy
 *              of BAR2) and DMA logging of what the device writes through
 *              its mappings
 *
 * Everything lives in one struct server, passed explicitly; there is no
 * other mutable state.
 */
#ifndef VFIO_USER_SAMPLE_SERVER_H
#define VFIO_USER_SAMPLE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio_user.h>

#include "sample-device.h"
#include "wire.h"

/*
 * What the server advertises in its VERSION reply. --max-msg-fds and
 * --max-data-xfer-size lower the first two (down to 0 fds, 1 byte), so that
 * tests can make a client split its messages.
 */
#define SERVER_MAX_MSG_FDS 8
#define SERVER_MAX_DATA_XFER VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE
#define SERVER_MAX_DMA_MAPS VFIO_USER_DEFAULT_MAX_DMA_MAPS
#define SERVER_PGSIZES 4096

/*
 * Largest payload accepted: a REGION_WRITE of SERVER_MAX_DATA_XFER bytes
 * plus its 16-byte access header (libvfio-user's limit too). A longer
 * message is not read: the connection is closed. With a lower
 * --max-data-xfer-size, an access past that limit but within this one is
 * still read, then refused and counted (SAMPLE_REG_XFER_REFUSED).
 */
#define SERVER_MAX_PAYLOAD (SERVER_MAX_DATA_XFER + 16)

/* How long a message may take to arrive or leave once started. */
#define SERVER_IO_TIMEOUT_MS 5000

/* Most fds the server attaches to one reply (GET_REGION_IO_FDS). */
#define SERVER_MAX_REPLY_FDS 5

/* Most vectors of any IRQ index: INTx, MSI, MSI-X, ERR, REQ. */
#define IRQ_MAX_VECTORS SAMPLE_MSIX_MAX_VECTORS

enum io_fds_layout {
	IO_FDS_LAYOUT_SPEC, /* 40-byte ioeventfd entries, as specified */
	IO_FDS_LAYOUT_LVU, /* 48-byte entries, as libvfio-user sends */
};

struct options {
	const char *socket_path; /* --socket-path, or NULL */
	int fd; /* --fd, or -1 */
	bool once;
	bool verbose;
	bool no_twin_socket;
	enum io_fds_layout io_fds_layout;
	unsigned int max_msg_fds; /* advertised and enforced */
	uint32_t max_data_xfer; /* advertised and enforced */
	unsigned int msix_vectors; /* of the device */
	bool busy; /* --busy: write BAR2 while running */
	bool no_dma_logging; /* --no-dma-logging */
	uint32_t mig_version; /* --mig-version: stream version */
	bool no_write_multiple; /* --no-write-multiple */
};

/* One interrupt vector as the client configured it. */
struct irq_vector {
	int efd; /* client's eventfd, -1 if none */
	bool masked; /* VFIO_IRQ_SET_ACTION_MASK */
	bool pending; /* raised while masked; delivered on unmask */
	bool pending_counts; /* ...by the device: count it in IRQ_COUNT */
	int mask_efd; /* ACTION_MASK | DATA_EVENTFD (INTx), -1 if none */
	int unmask_efd; /* ACTION_UNMASK | DATA_EVENTFD (INTx), -1 if none */
};

/* Migration page: the unit of BAR2 pre-copy. */
#define MIG_PAGE 4096
#define MIG_BAR2_PAGES (SAMPLE_BAR2_SIZE / MIG_PAGE)
/* Largest record body in the stream. */
#define MIG_MAX_RECORD 8192

/* A growing byte queue. */
struct mig_buf {
	uint8_t *data;
	size_t len; /* bytes queued */
	size_t pos; /* bytes already taken */
	size_t cap;
};

/* Migration state of the device (migration.c). */
struct migration {
	uint32_t state; /* enum vfio_user_device_mig_state */
	/* Saving: PRE_COPY and STOP_COPY. */
	bool saving;
	bool final_done; /* device record and END queued */
	bool round_open; /* a pre-copy round is being read */
	uint8_t *shadow; /* BAR2 as last put in the stream */
	uint8_t sent[MIG_BAR2_PAGES / 8]; /* pages in the stream */
	struct mig_buf out;
	uint64_t out_hash; /* FNV-1a of every byte queued */
	/* Loading: RESUMING. */
	bool loading;
	bool load_done; /* END seen, checked, state applied */
	uint8_t *stage; /* BAR2 being loaded */
	uint8_t *rec; /* the part of the record read so far */
	size_t rec_len;
	size_t rec_want; /* bytes the current part needs */
	int phase; /* what rec holds: header, record head, body */
	uint32_t rec_type;
	uint64_t rec_offset;
	uint64_t in_hash;
	bool have_dev;
	void *staged_dev; /* the device record, applied at END */
	/* --busy */
	uint64_t tick;
};

/* The emulated device. Persists across clients. */
struct device {
	unsigned int msix_vectors; /* fixed at start (--msix-vectors) */
	uint8_t config[SAMPLE_CONFIG_SIZE];
	uint8_t config_wmask[SAMPLE_CONFIG_SIZE]; /* writable bits per byte */

	struct {
		uint32_t scratch;
		uint64_t scratch64;
		uint32_t irq_count;
		uint32_t doorbell_count;
		uint32_t doorbell_dm_count;
		uint32_t shadow_count;
		uint32_t shadow_value;
		uint32_t reset_count;
		uint32_t set_irqs_count;
		uint32_t set_irqs_max_fds;
		uint32_t xfer_max;
		uint32_t xfer_refused;
		uint32_t write_multi_count;
		uint64_t dma_src;
		uint64_t dma_dst;
		uint64_t dma_result;
		uint32_t dma_len;
		uint32_t dma_fill;
		uint32_t dma_status;
		uint32_t dma_count;
		uint32_t dma_path;
		uint32_t dma_chunk;
	} regs;
	uint8_t mailbox[SAMPLE_MAILBOX_SIZE];
	uint8_t scratch_ram[SAMPLE_SCRATCH_RAM_SIZE];

	uint8_t bar1[SAMPLE_BAR1_SIZE]; /* MSI-X table; PBA is computed */

	int bar2_fd; /* sealed memfd, sent to clients */
	uint8_t *bar2; /* our shared mapping of it */

	struct irq_vector irq[SAMPLE_NUM_IRQS][IRQ_MAX_VECTORS];

	struct migration mig;
};

/* One window of DMA_MAP. */
struct dma_region {
	uint64_t addr;
	uint64_t size;
	uint64_t offset; /* in fd */
	uint32_t flags; /* VFIO_USER_F_DMA_REGION_* */
	bool fd_backed; /* false: reachable by DMA_READ/WRITE only */
	int fd; /* kept for FILE_IO only, else -1 */
	dev_t st_dev; /* identity of the file, for idempotent re-maps */
	ino_t st_ino;
	void *map; /* mmap() of fd, or NULL (FILE_IO, no fd) */
	size_t map_len;
	void *base; /* map + (offset - page-aligned offset) */
};

struct dma_table {
	struct dma_region *regions;
	unsigned int nr;
	unsigned int cap;
	unsigned int last; /* where dma_find() found the last address */
};

/* Doorbells and mailbox of one connection. */
struct io_fds {
	int doorbell_efd; /* ioeventfd of SAMPLE_REG_DOORBELL */
	int doorbell_dm_efd; /* ioeventfd of SAMPLE_REG_DOORBELL_DM */
	int shadow_efd; /* shadow ioeventfd of SAMPLE_REG_DOORBELL_SHADOW */
	int shadow_memfd; /* its shadow memory */
	volatile uint32_t *shadow; /* the value in it, mapped */
	int mailbox_fd; /* our end of the ioregionfd socket pair */
	int mailbox_peer; /* the client's end, kept to send again */
	uint8_t cmd_buf[32]; /* partial struct ioregionfd_cmd */
	size_t cmd_len;
};

/* Commands that arrived on the main socket while the server waited there
 * for the reply to its own DMA request (no twin socket): served next. */
#define CONN_MAX_DEFERRED 16

/* One IOVA range of the DMA log: a bit per page written. */
struct dma_log_range {
	uint64_t iova;
	uint64_t length;
	uint64_t *bitmap;
};

/* DMA logging of the device's writes through mappings (migration.c). */
struct dma_log {
	bool on;
	bool all; /* no ranges given: every window, later ones too */
	uint64_t page_size;
	struct dma_log_range *ranges;
	unsigned int nr;
};

/*
 * The client currently served. Each socket is read through its reader
 * only: a read takes whatever is queued, and what it took beyond one
 * message waits there, unseen by poll().
 */
struct conn {
	int sock; /* -1: no client */
	int twin; /* our end of the twin socket, or -1 */
	struct vu_reader rd; /* reads @sock */
	struct vu_reader twin_rd; /* reads @twin */
	bool negotiated; /* VERSION done */
	unsigned int client_max_fds; /* fds the client takes per message */
	uint64_t client_max_xfer; /* for DMA_READ/WRITE, later */
	struct io_fds io;
	struct dma_table dma;
	struct dma_log log;
	uint16_t next_dma_id; /* ids of our DMA_READ/DMA_WRITE */
	struct vu_msg *deferred[CONN_MAX_DEFERRED];
	unsigned int nr_deferred;
};

struct server {
	struct options opts;
	int sigfd; /* SIGINT/SIGTERM */
	int listen_fd; /* -1 with --fd */
	struct device dev;
	struct conn conn;
};

/*
 * A reply under construction. Handlers fill @payload (malloc'ed, freed by
 * the dispatcher) and @fds; the fds are borrowed unless @fds_owned.
 */
struct reply {
	void *payload;
	size_t len;
	int fds[SERVER_MAX_REPLY_FDS];
	unsigned int nr_fds;
	bool fds_owned; /* close @fds once sent */
	bool close_conn; /* close the connection after the reply */
};

/* main.c */
void srv_log(const struct server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void srv_debug(const struct server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* proto.c */
int proto_handle_client(struct server *srv);
void proto_drop_deferred(struct conn *conn);
void proto_handle_twin(struct server *srv);
void *reply_alloc(struct reply *reply, size_t len);

/* version.c */
int version_negotiate(struct server *srv, const struct vu_msg *msg,
		      struct reply *reply);

/* pci.c */
struct sparse_area {
	uint64_t offset;
	uint64_t size;
};

struct region_desc {
	uint64_t size;
	uint32_t flags; /* VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP */
	const struct sparse_area *areas;
	unsigned int nr_areas;
};

int dev_init(struct device *dev, unsigned int msix_vectors);
void dev_destroy(struct device *dev);
void dev_reset(struct device *dev);
const struct region_desc *dev_region(unsigned int index);
int dev_region_access(struct device *dev, unsigned int index, uint64_t offset,
		      void *buf, uint32_t count, bool write);
bool dev_msix_enabled(const struct device *dev);
bool dev_msix_function_masked(const struct device *dev);
bool dev_intx_disabled(const struct device *dev);
void dev_doorbell(struct device *dev, uint64_t n);
void dev_doorbell_dm(struct device *dev, uint64_t n);
void dev_doorbell_shadow(struct device *dev, uint64_t n, uint32_t value);
int dev_mailbox_access(struct device *dev, uint64_t offset, void *buf,
		       uint32_t count, bool write);

/* irq.c */
unsigned int irq_count(const struct device *dev, unsigned int index);
uint32_t irq_info_flags(unsigned int index);
void irq_init(struct device *dev);
void irq_reset(struct device *dev);
void irq_release(struct device *dev);
int irq_set(struct device *dev, struct vu_msg *msg);
bool irq_raise(struct device *dev, unsigned int index, unsigned int vec);
void irq_deliver_pending(struct device *dev);
void irq_note_set_irqs(struct device *dev, unsigned int nr_fds);
void irq_poll_actions(struct device *dev);
uint64_t irq_msix_pending(const struct device *dev);

/* io_fds.c */
void io_fds_init(struct io_fds *io);
int io_fds_open(struct io_fds *io);
void io_fds_close(struct io_fds *io);
void io_fds_doorbell_ready(struct server *srv, bool dm);
void io_fds_shadow_ready(struct server *srv);
void io_fds_mailbox_ready(struct server *srv);
void io_fds_drain(struct server *srv);
int io_fds_get(struct server *srv, const struct vu_msg *msg,
	       struct reply *reply);

/* dma_engine.c */
int dma_engine_command(struct server *srv, uint32_t cmd);

/* migration.c */
int mig_init(struct device *dev);
void mig_destroy(struct device *dev);
void mig_reset(struct device *dev);
bool mig_running(const struct device *dev);
void mig_tick(struct server *srv);
int mig_device_feature(struct server *srv, const struct vu_msg *msg,
		       struct reply *reply);
int mig_data_read(struct server *srv, const struct vu_msg *msg,
		  struct reply *reply);
int mig_data_write(struct server *srv, const struct vu_msg *msg,
		   struct reply *reply);
void mig_dma_written(struct server *srv, uint64_t addr, uint64_t len);
void mig_dma_mapped(struct server *srv, uint64_t addr, uint64_t size);
void mig_conn_end(struct server *srv);

/* dma.c */
const struct dma_region *dma_find(struct dma_table *tbl, uint64_t addr);
void dma_init(struct dma_table *tbl);
int dma_map(struct dma_table *tbl, const struct vfio_user_dma_map *req, int fd);
int dma_unmap(struct dma_table *tbl, uint64_t addr, uint64_t size);
void dma_unmap_all(struct dma_table *tbl);

#endif /* VFIO_USER_SAMPLE_SERVER_H */
