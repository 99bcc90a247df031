/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the vfio_user selftests: sample-server instances, a
 * scriptable misbehaving server, attaching through libvfio-user-client.
 */
#ifndef VFIO_USER_SELFTEST_UTIL_H
#define VFIO_USER_SELFTEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/vfio.h>
#include <linux/vfio_user.h>

#include "vfio-user-client.h"

#define VFIO_USER_DEV	"/dev/vfio-user"

/*
 * How long a test waits for something that must happen: long enough for a
 * debug kernel under full load, so that only a hang runs into it. A test
 * asserts what happened and in which order, never how fast.
 */
#define VU_WAIT_MS	30000

/*
 * The per-device reply timeout of a test that expects no timeout: a
 * legitimate reply never takes this long, however busy the machine.
 */
#define VU_LONG_TIMEOUT_MS	60000

/* A sample server in its own process, listening on a temporary socket. */
struct vu_server {
	pid_t pid;
	char path[108];
	int notify_fd;	/* fake server: a byte per region access it got */
};

/* Start `vfio-user-sample-server --socket-path=... [args]`; 0 or -errno. */
int vu_server_start(struct vu_server *srv, const char *const *args);

/* SIGTERM the server and reap it; returns its exit status, or -1. */
int vu_server_stop(struct vu_server *srv);

/*
 * Behaviours of the misbehaving server. It negotiates and describes a small
 * non-PCI device honestly (one 4 KiB read/write region whose bytes read as
 * their offset, no IRQs), then answers every REGION_READ as told.
 */
enum vu_fake_mode {
	VU_FAKE_GOOD,		/* correct replies */
	VU_FAKE_WRONG_ID,	/* reply carries another id */
	VU_FAKE_WRONG_CMD,	/* reply names another command */
	VU_FAKE_DUP_REPLY,	/* correct reply, sent twice */
	VU_FAKE_OVERSIZE,	/* header announces a 64 MiB reply */
	VU_FAKE_SHORT_EOF,	/* half a reply, then end of file */
	VU_FAKE_FDS,		/* correct reply with an fd attached */
	VU_FAKE_NO_REPLY,	/* never answers */
	VU_FAKE_LATE_REPLY,	/* answers after VU_FAKE_LATE_MS */
	VU_FAKE_ERROR_PAYLOAD,	/* error reply (EIO) that carries a payload */
	VU_FAKE_UNEXPECTED_CMD,	/* sends DMA_READ first, expects its error reply */
	VU_FAKE_STALL,		/* stops reading at the first REGION_WRITE */
};

#define VU_FAKE_REGION_SIZE	4096
#define VU_FAKE_LATE_MS		700

/* The fake server in a child process; socket path in srv->path. */
int vu_fake_start(struct vu_server *srv, enum vu_fake_mode mode);

/*
 * Wait up to @ms for the fake server to receive its next REGION_READ or
 * REGION_WRITE; 1 when it did, 0 on timeout. Once it has, the client's call
 * is in flight (waiting in the kernel for the reply).
 */
int vu_fake_wait_access(struct vu_server *srv, int ms);

/*
 * Connect to @path with libvfio-user-client and attach to the kernel, with
 * VU_LONG_TIMEOUT_MS unless @opts sets a timeout. Returns the handle or
 * NULL (with the reason printed).
 */
struct vuc_device *vu_attach(const char *path, const struct vuc_options *opts);

/* Wait up to @ms for @fd to become readable; 1 readable, 0 timeout. */
int vu_wait_readable(int fd, int ms);

/*
 * Wait up to @ms for a device fd to report a broken connection; returns
 * its POLLHUP | POLLERR bits, 0 on timeout. (A healthy device fd is always
 * ready for I/O, so waiting for POLLIN would not wait at all.)
 */
int vu_wait_broken(int fd, int ms);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t vu_now_ms(void);

/* VFIO_USER_SET_TIMEOUT on a device fd; 0 or -errno. */
int vu_set_timeout(int fd, unsigned int ms);

/* Read an eventfd's counter (non-blocking); 0 when nothing was signalled. */
uint64_t vu_eventfd_read(int fd);

/* Region offsets on the device fd. */
static inline off_t vu_region_off(unsigned int index, uint64_t offset)
{
	return (off_t)(VFIO_USER_REGION_OFFSET(index) + offset);
}

#endif /* VFIO_USER_SELFTEST_UTIL_H */
