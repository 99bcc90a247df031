/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the vfio_user selftests: sample-server instances, a
 * scriptable misbehaving server, attaching through libvfio-user-client,
 * playing the server on a socket by hand, the sample server's registers,
 * DMA maps, the device's kthreads and seeded randomness.
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

/* Playing the server by hand --------------------------------------------- */

/* The most fds vu_send_fds() and vu_msg_send_fds() send with one message. */
#define VU_MAX_SEND_FDS	8

/*
 * vu_msg_recv() - receive one whole vfio-user message from @sock: its
 * header into @hdr, its payload into @payload, which has @room bytes. Fds
 * that came with it are closed.
 *
 * Return: 0, or -1 at end of file, on an error, for a header whose size is
 * less than a header, or for a payload larger than @room (then the stream
 * is left in the middle of the message).
 */
int vu_msg_recv(int sock, struct vfio_user_header *hdr, void *payload,
		size_t room);

/*
 * vu_msg_send() - send one vfio-user message with a single sendmsg(): a
 * header made of @id, @cmd, @flags and @error_no (its size counting @len),
 * then @len bytes of @payload.
 *
 * Return: 0 when all of it was sent, else -1.
 */
int vu_msg_send(int sock, uint16_t id, uint16_t cmd, uint32_t flags,
		uint32_t error_no, const void *payload, size_t len);

/* vu_msg_send() with @nr_fds fds (at most VU_MAX_SEND_FDS) from @fds. */
int vu_msg_send_fds(int sock, uint16_t id, uint16_t cmd, uint32_t flags,
		    uint32_t error_no, const void *payload, size_t len,
		    const int *fds, unsigned int nr_fds);

/*
 * vu_send_fds() - send @len raw bytes of @buf (a message already framed,
 * or not quite) with @nr_fds fds from @fds alongside, at most
 * VU_MAX_SEND_FDS. Return: 0 when all of it was sent, else -1.
 */
int vu_send_fds(int sock, const void *buf, size_t len, const int *fds,
		unsigned int nr_fds);

/* Pass @fd over @sock with one byte of data; 0 or -1. */
int vu_send_fd(int sock, int fd);

/* Receive an fd that vu_send_fd() passed (close-on-exec); the fd or -1. */
int vu_recv_fd(int sock);

/* The sample server's registers and DMA maps ------------------------------ */

/*
 * Read or write a register of region 0 (the sample server's BAR0, see
 * samples/server/sample.h). Return: 0 or -errno.
 */
int vu_reg_read32(int fd, uint32_t off, uint32_t *v);
int vu_reg_write32(int fd, uint32_t off, uint32_t v);
int vu_reg_write64(int fd, uint32_t off, uint64_t v);

/*
 * vu_map_dma() - VFIO_USER_MAP_DMA of @size bytes at @va to @iova, for
 * reading and writing; backed by @memfd at @fd_offset when @memfd >= 0.
 * Return: 0 or -errno.
 */
int vu_map_dma(int fd, void *va, uint64_t iova, uint64_t size, int memfd,
	       uint64_t fd_offset);

/* VFIO_USER_UNMAP_DMA of @size bytes at @iova; 0 or -errno. */
int vu_unmap_dma(int fd, uint64_t iova, uint64_t size);

/*
 * An errno a syscall may return to userspace: positive and below 512, the
 * first of the kernel's own (ERESTARTSYS, EIOCBQUEUED, ...).
 */
static inline bool vu_errno_ordinary(int err)
{
	return err > 0 && err < 512;
}

/*
 * vu_device_kthreads() - the receive kthreads of every attached device:
 * children of kthreadd named vfio-user-<pid> (cut to 15 characters, so
 * they are told from the sample server's threads by their parent). Their pids go to @pids, at most @max of them (@pids may
 * be NULL when @max is 0).
 *
 * Return: how many there are (even past @max), or -1 without /proc.
 */
int vu_device_kthreads(pid_t *pids, unsigned int max);

/* Seeded randomness ------------------------------------------------------- */

/*
 * splitmix64: small, seedable, the same sequence on every machine, so that
 * a printed seed replays a run. Seed it by setting @s.
 */
struct vu_rng {
	uint64_t s;
};

/* The next 64 random bits. */
uint64_t vu_rnd(struct vu_rng *r);

/* A number below @n; 0 when @n is 0. */
uint64_t vu_below(struct vu_rng *r, uint64_t n);

/* True with probability @per_mille / 1000. */
bool vu_chance(struct vu_rng *r, unsigned int per_mille);

/* Fill @len bytes at @buf. */
void vu_fill_random(struct vu_rng *r, void *buf, size_t len);

/* A number from the environment variable @name; @def when unset or empty. */
uint64_t vu_env_u64(const char *name, uint64_t def);

/*
 * A fuzzer's seed: VFIO_USER_FUZZ_SEED, or one made of the time and the
 * pid when that is unset or 0. Print it, so that the run can be replayed.
 */
uint64_t vu_fuzz_seed(void);

/* Region offsets on the device fd. */
static inline off_t vu_region_off(unsigned int index, uint64_t offset)
{
	return (off_t)(VFIO_USER_REGION_OFFSET(index) + offset);
}

#endif /* VFIO_USER_SELFTEST_UTIL_H */
