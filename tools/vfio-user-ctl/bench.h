/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user-ctl bench: what its parts share. Every figure a part prints is
 * also recorded, so that --json can write them all at the end.
 */
#ifndef VFIO_USER_CTL_BENCH_H
#define VFIO_USER_CTL_BENCH_H

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

/*
 * Record @value (in @unit) as @name in @section.
 */
void bench_figure(const char *section, const char *name, double value,
		  const char *unit);

/* Write every figure recorded as one JSON document to @path; 0 or -1. */
int bench_write_json(const char *path);

#include <stddef.h>
#include <sys/types.h>

/* A process at the other end of an AF_UNIX socket pair. */
struct bench_peer {
	pid_t pid;
	int fd; /* our end */
};

/*
 * Fork a peer that echoes @size-byte messages (at most 64 bytes) until end
 * of file; 0, or -1 after saying why.
 */
int bench_echo_start(struct bench_peer *p, size_t size);

/* Close our end and reap the peer. */
void bench_peer_stop(struct bench_peer *p);

/*
 * The floor: AF_UNIX ping-pong with 20- and 36-byte messages, stream
 * throughput at 8 B to 1 MiB, and an eventfd signal and wake-up between
 * two processes; @seconds per figure. 0, or -1 after saying why.
 */
int bench_floor(double seconds);

#endif /* VFIO_USER_CTL_BENCH_H */
