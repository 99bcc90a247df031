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

/* The figure recorded as @name in @section, or 0. */
double bench_lookup(const char *section, const char *name);

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
 * Bytes per second streamed between two processes in @size-byte sends
 * (at most 1 MiB), for @seconds, with a send buffer of @sndbuf bytes (0:
 * the default); 0 or -1 after saying why.
 */
int bench_stream(size_t size, double seconds, int sndbuf, double *rate);

/*
 * The floor: AF_UNIX ping-pong with 20- and 36-byte messages, stream
 * throughput at 8 B to 1 MiB, and an eventfd signal and wake-up between
 * two processes; @seconds per figure. 0, or -1 after saying why.
 */
int bench_floor(double seconds);

struct ctl_opts;

/*
 * The server's DMA_READ/DMA_WRITE served by the kernel and by the
 * userspace backend, 8 B to 1 MiB per request, against the floor's stream
 * (bench_floor() first); @rounds alternations of @seconds in all.
 */
int bench_dma_service(const struct ctl_opts *opts, const char *path,
		      double seconds, unsigned int rounds);

/* The same with 1 map and with 10,000 more, on both backends. */
int bench_dma_maps(const struct ctl_opts *opts, const char *path,
		   double seconds, unsigned int rounds);

/*
 * Kernel memory per attached idle device (@ndev of them, each with a
 * sample server of its own) and per 10,000 maps.
 */
int bench_memory(const struct ctl_opts *opts, unsigned int ndev);

#endif /* VFIO_USER_CTL_BENCH_H */
