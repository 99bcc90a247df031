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

/*
 * The floor: AF_UNIX ping-pong with 20- and 36-byte messages, stream
 * throughput at 8 B to 1 MiB, and an eventfd signal and wake-up between
 * two processes; @seconds per figure. 0, or -1 after saying why.
 */
int bench_floor(double seconds);

#endif /* VFIO_USER_CTL_BENCH_H */
