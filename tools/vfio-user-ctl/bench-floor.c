// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl bench: the floor, what the machine itself costs with no
 * vfio-user in the way: two processes ping-ponging messages of a
 * vfio-user header plus 4 bytes (REGION_READ's reply) and plus 16+4
 * bytes (REGION_WRITE's request) over an AF_UNIX socket pair, streaming
 * at several sizes, and signalling each other through eventfds. The other
 * figures of a run are judged against these.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ctl.h"

#define FLOOR_MAX_MSG (1U << 20)

/* Fork @fn(@fd's other end), keeping @fd; 0 or -1. */
static int peer_start(struct bench_peer *p, void (*fn)(int fd, size_t arg),
		      size_t arg)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		ctl_err("bench: socketpair: %s", strerror(errno));
		return -1;
	}
	p->pid = fork();
	if (p->pid < 0) {
		ctl_err("bench: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (!p->pid) {
		close(sv[0]);
		fn(sv[1], arg);
		_exit(0);
	}
	close(sv[1]);
	p->fd = sv[0];
	return 0;
}

void bench_peer_stop(struct bench_peer *p)
{
	int status;

	close(p->fd);
	waitpid(p->pid, &status, 0);
}

/* Echo messages of @size bytes until end of file. */
static void echo_main(int fd, size_t size)
{
	char msg[64];

	while (recv(fd, msg, size, MSG_WAITALL) == (ssize_t)size &&
	       send(fd, msg, size, MSG_NOSIGNAL) == (ssize_t)size)
		;
}

int bench_echo_start(struct bench_peer *p, size_t size)
{
	return peer_start(p, echo_main, size);
}

/* Round trips per second with @size-byte messages each way. */
static int ping_pong(size_t size, double seconds, double *rate)
{
	char msg[64] = { 0 };
	struct bench_peer p;
	double t0, t = 0;
	uint64_t n = 0;
	int ret = 0;

	if (bench_echo_start(&p, size))
		return -1;
	t0 = bench_now();
	do {
		if (send(p.fd, msg, size, MSG_NOSIGNAL) != (ssize_t)size ||
		    recv(p.fd, msg, size, MSG_WAITALL) != (ssize_t)size) {
			ctl_err("bench: ping-pong: %s", strerror(errno));
			ret = -1;
			break;
		}
		n++;
		t = bench_now() - t0;
	} while (t < seconds);
	bench_peer_stop(&p);
	*rate = n / t;
	return ret;
}

/* Take everything until end of file, then say so with one byte. */
static void sink_main(int fd, size_t size)
{
	char *buf = malloc(size);
	char done = 1;

	if (!buf)
		return;
	while (recv(fd, buf, size, 0) > 0)
		;
	(void)!send(fd, &done, 1, MSG_NOSIGNAL);
	free(buf);
}

/*
 * Bytes per second streamed in @size-byte sends, until all arrived; with
 * a send buffer of @sndbuf bytes (0: the default).
 */
static int stream(size_t size, double seconds, int sndbuf, double *rate)
{
	uint64_t bytes = 0;
	struct bench_peer p;
	double t0, t = 0;
	char *buf, done;
	int ret = 0;

	buf = calloc(1, size);
	if (!buf)
		return -1;
	if (peer_start(&p, sink_main, size)) {
		free(buf);
		return -1;
	}
	/*
	 * The kernel doubles what it is asked for; beyond net.core.wmem_max
	 * only as root.
	 */
	sndbuf /= 2;
	if (sndbuf &&
	    setsockopt(p.fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
		       sizeof(sndbuf)) &&
	    setsockopt(p.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)))
		ctl_err("bench: stream: SO_SNDBUF: %s", strerror(errno));
	t0 = bench_now();
	do {
		if (send(p.fd, buf, size, MSG_NOSIGNAL) != (ssize_t)size) {
			ctl_err("bench: stream: %s", strerror(errno));
			ret = -1;
			break;
		}
		bytes += size;
	} while (bench_now() - t0 < seconds);
	/* Counted once the peer has it all. */
	shutdown(p.fd, SHUT_WR);
	if (recv(p.fd, &done, 1, MSG_WAITALL) != 1)
		ret = -1;
	t = bench_now() - t0;
	bench_peer_stop(&p);
	free(buf);
	*rate = bytes / t;
	return ret;
}

int bench_stream(size_t size, double seconds, int sndbuf, double *rate)
{
	return size && size <= FLOOR_MAX_MSG ?
		       stream(size, seconds, sndbuf, rate) :
		       -1;
}

static int efd_ping = -1, efd_pong = -1;

/* Answer every signal on efd_ping with one on efd_pong. */
static void efd_main(int fd, size_t arg)
{
	uint64_t v;

	(void)fd;
	(void)arg;
	while (read(efd_ping, &v, sizeof(v)) == sizeof(v) &&
	       v != UINT64_MAX - 1)
		if (write(efd_pong, &(uint64_t){ 1 }, sizeof(v)) != sizeof(v))
			break;
}

/* Signal-and-wake-ups per second between two processes, one way each. */
static int eventfd_wake(double seconds, double *rate)
{
	uint64_t v = 1, n = 0;
	struct bench_peer p;
	double t0, t = 0;
	int ret = 0;

	efd_ping = eventfd(0, EFD_CLOEXEC);
	efd_pong = eventfd(0, EFD_CLOEXEC);
	if (efd_ping < 0 || efd_pong < 0 || peer_start(&p, efd_main, 0)) {
		ctl_err("bench: eventfd: %s", strerror(errno));
		ret = -1;
		goto out;
	}
	t0 = bench_now();
	do {
		if (write(efd_ping, &v, sizeof(v)) != sizeof(v) ||
		    read(efd_pong, &v, sizeof(v)) != sizeof(v)) {
			ret = -1;
			break;
		}
		v = 1;
		n += 2;
		t = bench_now() - t0;
	} while (t < seconds);
	v = UINT64_MAX - 1;
	(void)!write(efd_ping, &v, sizeof(v));
	bench_peer_stop(&p);
	*rate = n / t;
out:
	if (efd_ping >= 0)
		close(efd_ping);
	if (efd_pong >= 0)
		close(efd_pong);
	return ret;
}

int bench_floor(double seconds)
{
	static const size_t sizes[] = { 8, 4096, 65536, FLOOR_MAX_MSG };
	double rt20, rt36, wake, rate[4];
	unsigned int i;

	if (ping_pong(20, seconds, &rt20) || ping_pong(36, seconds, &rt36) ||
	    eventfd_wake(seconds, &wake))
		return -1;
	for (i = 0; i < 4; i++)
		if (stream(sizes[i], seconds, 0, &rate[i]))
			return -1;

	printf("Floor: two processes, no vfio-user\n");
	printf("  %-46s %10.0f /s %9.2f us\n", "AF_UNIX ping-pong, 16+4 bytes",
	       rt20, 1e6 / rt20);
	printf("  %-46s %10.0f /s %9.2f us\n", "AF_UNIX ping-pong, 32+4 bytes",
	       rt36, 1e6 / rt36);
	printf("  %-46s %10.0f /s %9.2f us\n", "eventfd signal and wake-up",
	       wake, 1e6 / wake);
	bench_figure("floor", "ping-pong 16+4 B", rt20, "round trips/s");
	bench_figure("floor", "ping-pong 32+4 B", rt36, "round trips/s");
	bench_figure("floor", "eventfd signal and wake-up", wake, "wake-ups/s");
	for (i = 0; i < 4; i++) {
		char name[48];

		snprintf(name, sizeof(name), "stream, %zu-byte sends",
			 sizes[i]);
		printf("  %-46s %10.1f MB/s\n", name, rate[i] / 1e6);
		bench_figure("floor", name, rate[i], "bytes/s");
	}
	return 0;
}
