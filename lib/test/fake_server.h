/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A scripted vfio-user server for the library's host tests.
 *
 * It runs in a thread on one end of a socketpair(); the test hands the other
 * end to vuc_connect_fd(). Every message is passed to the handler set for
 * its command, or to fsrv_default(), a well-behaved model of a PCI device
 * (shaped like libvfio-user's servers). A test scripts a misbehaviour by
 * setting a handler that answers with arbitrary bytes, fds, delays or EOF.
 *
 * Handlers run in the server thread: they must not use the harness's
 * ASSERT/EXPECT; fsrv_fail() records a failed check instead, and the test
 * checks fsrv_failure() after fsrv_stop().
 */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio-user-client.h"
#include "wire.h"

/* What a handler returns: go on reading, or stop (the client sees EOF). */
#define FSRV_CONTINUE 0
#define FSRV_STOP 1

#define FSRV_NUM_REGIONS 9
#define FSRV_NUM_IRQS 5
#define FSRV_MAX_LOG 512

struct fsrv;
typedef int (*fsrv_handler_fn)(struct fsrv *s, struct vu_msg *m);

/* A region of the default device. */
struct fsrv_region {
	uint32_t flags; /* VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP */
	uint64_t size;
	uint8_t *mem; /* backing for REGION_READ/WRITE */
	int fd; /* memfd behind mem if MMAP, else -1 */
	unsigned int nr_areas;
	struct vuc_sparse_area areas[4];
};

/* One message the server saw (for requests with a region/irq shape). */
struct fsrv_log {
	uint16_t cmd;
	uint16_t msg_id;
	uint32_t msg_size;
	uint32_t flags; /* SET_IRQS flags */
	uint32_t index; /* region or irq index */
	uint64_t offset; /* REGION_*: offset; SET_IRQS: start */
	uint32_t count;
	uint32_t argsz; /* SET_IRQS */
	unsigned int nr_fds;
};

struct fsrv {
	int sock; /* the server's end */
	int client; /* the client's end until fsrv_take_client() */
	int listen_fd; /* fsrv_listen(): accept the client first */
	pthread_t thread;
	bool running;

	fsrv_handler_fn handler[VFIO_USER_MAX_COMMAND];
	void *priv; /* for the test's handlers */
	int step; /* for the test's handlers: free-running counter */

	/* VERSION: reply JSON (NULL: no JSON at all); twin socket offer */
	const char *version_json;
	bool give_twin; /* answer twin_socket with a socketpair end */
	int twin_peer; /* our end of the twin socket, or -1 */
	char client_json[2048]; /* the JSON the client offered */
	uint16_t client_major, client_minor;

	/* default device */
	struct vfio_user_device_info info;
	struct fsrv_region regions[FSRV_NUM_REGIONS];
	struct vfio_irq_info irqs[FSRV_NUM_IRQS];

	/* what happened */
	unsigned int nr_msgs[VFIO_USER_MAX_COMMAND];
	struct fsrv_log log[FSRV_MAX_LOG];
	unsigned int nr_log;
	char failure[512]; /* first failed check, "" if none */
};

/* A server with the default device; NULL on failure. */
struct fsrv *fsrv_new(void);
/* Start serving (after the test set its handlers). */
int fsrv_start(struct fsrv *s);
/* The client's end of the socket; the caller owns it from now on. */
int fsrv_take_client(struct fsrv *s);
/* Serve a client that connects to @path instead of the socketpair. */
int fsrv_listen(struct fsrv *s, const char *path);
/* vuc_device_new(@opts), fsrv_start(), vuc_connect_fd(); -errno or 0. */
int fsrv_connect(struct fsrv *s, const struct vuc_options *opts,
		 struct vuc_device **devp);
/* Stop serving: the server's end is shut down, the thread joined. */
void fsrv_stop(struct fsrv *s);
/* Stop if needed, close every fd, free. */
void fsrv_free(struct fsrv *s);
/* The first failed server-side check, or NULL. */
const char *fsrv_failure(const struct fsrv *s);

/* For handlers */
void fsrv_fail(struct fsrv *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int fsrv_default(struct fsrv *s, struct vu_msg *m);
/* A reply to @req (flags REPLY) with @payload and @fds. */
int fsrv_reply(struct fsrv *s, const struct vu_msg *req, const void *payload,
	       size_t len, const int *fds, unsigned int nr_fds);
/* An error reply to @req, with an optional payload. */
int fsrv_reply_error(struct fsrv *s, const struct vu_msg *req, uint32_t err,
		     const void *payload, size_t len);
/* A message with every header field chosen by the caller. */
int fsrv_send(struct fsrv *s, uint16_t msg_id, uint16_t cmd, uint32_t flags,
	      uint32_t error_no, const void *payload, size_t len,
	      const int *fds, unsigned int nr_fds);
/* Raw bytes (header or not), with fds attached to the first byte. */
int fsrv_send_raw(struct fsrv *s, const void *buf, size_t len, const int *fds,
		  unsigned int nr_fds);
/* A VERSION reply: major/minor and @json (NULL: no JSON). */
int fsrv_version_reply(struct fsrv *s, const struct vu_msg *req, uint16_t major,
		       uint16_t minor, const char *json, const int *fds,
		       unsigned int nr_fds);
/* Receive the next message from the client (for scripted exchanges). */
int fsrv_recv(struct fsrv *s, struct vu_msg *m, int timeout_ms);
void fsrv_sleep_ms(unsigned int ms);

/* Test helpers */

/* Open fds of this process. */
int count_open_fds(void);
/* A fresh eventfd, or -1. */
int make_eventfd(void);

#endif /* FAKE_SERVER_H */
