// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-sample-server: a vfio-user server emulating the PCI device of
 * samples/sample-device.h, for the tests and the demo of the vfio-user
 * client.
 *
 * It follows the specification's backend program conventions: it listens
 * on --socket-path=PATH or serves the connected socket --fd=N, in the
 * foreground, and exits with status 0 on SIGINT or SIGTERM. One client at
 * a time; the device state outlives a client, its DMA windows and
 * interrupt eventfds do not.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/vfio.h>

#include "server.h"

#define PROG "vfio-user-sample-server"

/* ---- Logging ---- */

static __attribute__((format(printf, 1, 0))) void vlog(const char *fmt,
						       va_list ap)
{
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void srv_log(const struct server *srv, const char *fmt, ...)
{
	va_list ap;

	(void)srv;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void srv_debug(const struct server *srv, const char *fmt, ...)
{
	va_list ap;

	if (!srv->opts.verbose)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

/* ---- Options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --socket-path=PATH | --fd=N [OPTION]...\n"
		"Serve the vfio-user sample PCI device (samples/sample-device.h).\n"
		"\n"
		"  --socket-path=PATH   listen on the UNIX socket PATH (a stale socket\n"
		"                       file is replaced; PATH is removed on exit)\n"
		"  --fd=N               serve the connected socket N, exit when it closes\n"
		"  --once               with --socket-path, exit after the first client\n"
		"  --no-twin-socket     never offer the twin socket\n"
		"  --io-fds-layout=L    ioeventfd entries of GET_REGION_IO_FDS: 'spec'\n"
		"                       (40 bytes, default) or 'lvu' (48, libvfio-user)\n"
		"  --max-msg-fds=N      advertise and accept at most N fds per message\n"
		"                       (0 to %u, default %u)\n"
		"  --max-data-xfer-size=N  advertise and accept at most N bytes of data\n"
		"                       per region access (1 to %u, default %u)\n"
		"  --msix-vectors=N     MSI-X vectors of the device (1 to %u, default %u)\n"
		"  --busy               while running, write BAR2 after every message\n"
		"                       (so that pre-copy has changing memory to move)\n"
		"  --no-dma-logging     offer no DMA logging (DEVICE_FEATURE DMA_LOGGING_*)\n"
		"  --mig-version=N      version of the migration stream (default 1); a\n"
		"                       stream of another version is refused\n"
		"  --no-write-multiple  do not offer REGION_WRITE_MULTI\n"
		"  -v, --verbose        log every message on stderr\n"
		"  -h, --help           show this help\n"
		"\n"
		"SIGINT and SIGTERM end the server with status 0.\n",
		VU_WIRE_MAX_FDS, SERVER_MAX_MSG_FDS, SERVER_MAX_DATA_XFER,
		SERVER_MAX_DATA_XFER, SAMPLE_MSIX_MAX_VECTORS,
		SAMPLE_MSIX_VECTORS);
}

/* A decimal number within [min, max]. */
static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_fd(const char *s, int *fd)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -1;
	*fd = (int)v;
	return 0;
}

/* 0: run; 1: exit with success (--help); -1: usage error. */
static int parse_options(int argc, char **argv, struct options *opts)
{
	enum {
		OPT_SOCKET_PATH = 256,
		OPT_FD,
		OPT_ONCE,
		OPT_NO_TWIN,
		OPT_LAYOUT,
		OPT_MAX_MSG_FDS,
		OPT_MAX_XFER,
		OPT_MSIX_VECTORS,
		OPT_BUSY,
		OPT_MIG_VERSION,
		OPT_NO_DMA_LOGGING,
		OPT_NO_WRITE_MULTIPLE,
	};
	static const struct option longopts[] = {
		{ "socket-path", required_argument, NULL, OPT_SOCKET_PATH },
		{ "fd", required_argument, NULL, OPT_FD },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "no-twin-socket", no_argument, NULL, OPT_NO_TWIN },
		{ "io-fds-layout", required_argument, NULL, OPT_LAYOUT },
		{ "max-msg-fds", required_argument, NULL, OPT_MAX_MSG_FDS },
		{ "max-data-xfer-size", required_argument, NULL, OPT_MAX_XFER },
		{ "msix-vectors", required_argument, NULL, OPT_MSIX_VECTORS },
		{ "busy", no_argument, NULL, OPT_BUSY },
		{ "mig-version", required_argument, NULL, OPT_MIG_VERSION },
		{ "no-dma-logging", no_argument, NULL, OPT_NO_DMA_LOGGING },
		{ "no-write-multiple", no_argument, NULL,
		  OPT_NO_WRITE_MULTIPLE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	*opts = (struct options){
		.fd = -1,
		.io_fds_layout = IO_FDS_LAYOUT_SPEC,
		.max_msg_fds = SERVER_MAX_MSG_FDS,
		.max_data_xfer = SERVER_MAX_DATA_XFER,
		.msix_vectors = SAMPLE_MSIX_VECTORS,
		.mig_version = 1,
	};
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET_PATH:
			opts->socket_path = optarg;
			break;
		case OPT_FD:
			if (parse_fd(optarg, &opts->fd)) {
				fprintf(stderr, PROG ": bad --fd '%s'\n",
					optarg);
				return -1;
			}
			break;
		case OPT_ONCE:
			opts->once = true;
			break;
		case OPT_NO_TWIN:
			opts->no_twin_socket = true;
			break;
		case OPT_LAYOUT:
			if (!strcmp(optarg, "spec")) {
				opts->io_fds_layout = IO_FDS_LAYOUT_SPEC;
			} else if (!strcmp(optarg, "lvu")) {
				opts->io_fds_layout = IO_FDS_LAYOUT_LVU;
			} else {
				fprintf(stderr,
					PROG ": bad --io-fds-layout '%s'\n",
					optarg);
				return -1;
			}
			break;
		case OPT_MAX_MSG_FDS:
			if (parse_uint(optarg, 0, VU_WIRE_MAX_FDS, &v)) {
				fprintf(stderr,
					PROG ": bad --max-msg-fds '%s'\n",
					optarg);
				return -1;
			}
			opts->max_msg_fds = (unsigned int)v;
			break;
		case OPT_MAX_XFER:
			if (parse_uint(optarg, 1, SERVER_MAX_DATA_XFER, &v)) {
				fprintf(stderr,
					PROG
					": bad --max-data-xfer-size '%s'\n",
					optarg);
				return -1;
			}
			opts->max_data_xfer = (uint32_t)v;
			break;
		case OPT_MSIX_VECTORS:
			if (parse_uint(optarg, 1, SAMPLE_MSIX_MAX_VECTORS,
				       &v)) {
				fprintf(stderr,
					PROG ": bad --msix-vectors '%s'\n",
					optarg);
				return -1;
			}
			opts->msix_vectors = (unsigned int)v;
			break;
		case OPT_BUSY:
			opts->busy = true;
			break;
		case OPT_NO_DMA_LOGGING:
			opts->no_dma_logging = true;
			break;
		case OPT_NO_WRITE_MULTIPLE:
			opts->no_write_multiple = true;
			break;
		case OPT_MIG_VERSION:
			if (parse_uint(optarg, 1, UINT32_MAX, &v)) {
				fprintf(stderr,
					PROG ": bad --mig-version '%s'\n",
					optarg);
				return -1;
			}
			opts->mig_version = (uint32_t)v;
			break;
		case 'v':
			opts->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if ((opts->socket_path != NULL) == (opts->fd >= 0)) {
		fprintf(stderr, PROG ": give one of --socket-path and --fd\n");
		return -1;
	}
	return 0;
}

/* ---- Sockets ---- */

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/*
 * Remove a socket file left by a dead server, but neither a file that is
 * not a socket nor the socket of a live server.
 */
static int remove_stale_socket(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, ret;

	if (lstat(sun->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (!ret)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED)
		return -errno;
	return unlink(sun->sun_path) ? -errno : 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sun;
	int fd, ret;

	ret = unix_addr(path, &sun);
	if (!ret)
		ret = remove_stale_socket(&sun);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (listen(fd, 4)) {
		ret = -errno;
		unlink(path);
		close(fd);
		return ret;
	}
	return fd;
}

/* --fd must be a connected UNIX stream socket. */
static int check_client_fd(int fd)
{
	int type, domain;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len))
		return -errno;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len))
		return -errno;
	if (type != SOCK_STREAM || domain != AF_UNIX)
		return -EPROTOTYPE;
	return fcntl(fd, F_SETFD, FD_CLOEXEC) ? -errno : 0;
}

/* SIGINT and SIGTERM arrive on a signalfd, polled like everything else. */
static int signals_setup(void)
{
	sigset_t set;
	int fd;

	/* We write to fds the client gave us: a closed pipe must not kill us. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* ---- Connections ---- */

static void conn_init(struct conn *conn)
{
	conn->sock = -1;
	conn->twin = -1;
	vu_reader_init(&conn->rd, -1);
	vu_reader_init(&conn->twin_rd, -1);
	conn->negotiated = false;
	conn->client_max_fds = VFIO_USER_DEFAULT_MAX_MSG_FDS;
	conn->client_max_xfer = VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE;
	io_fds_init(&conn->io);
	dma_init(&conn->dma);
	conn->next_dma_id = 0;
	conn->nr_deferred = 0;
}

/* Takes @sock, closed on failure. */
static int conn_start(struct server *srv, int sock)
{
	int ret;

	conn_init(&srv->conn);
	ret = io_fds_open(&srv->conn.io);
	if (ret) {
		srv_log(srv, "cannot create the io fds: %s", strerror(-ret));
		close(sock);
		return ret;
	}
	srv->conn.sock = sock;
	vu_reader_init(&srv->conn.rd, sock);
	srv_log(srv, "client connected");
	return 0;
}

/* Drop everything the client set up; the device itself stays as it is. */
static void conn_end(struct server *srv)
{
	struct conn *conn = &srv->conn;

	proto_drop_deferred(conn);
	mig_conn_end(srv);
	dma_unmap_all(&conn->dma);
	irq_release(&srv->dev);
	io_fds_close(&conn->io);
	vu_reader_release(&conn->twin_rd);
	vu_reader_release(&conn->rd);
	if (conn->twin >= 0)
		close(conn->twin);
	if (conn->sock >= 0)
		close(conn->sock);
	conn_init(conn);
}

static void accept_client(struct server *srv)
{
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		/* The client may have given up already: wait for the next. */
		srv_log(srv, "accept: %s", strerror(errno));
		return;
	}
	conn_start(srv, fd);
}

/* ---- The loop ---- */

enum {
	PFD_SIGNAL,
	PFD_LISTEN,
	PFD_CLIENT,
	PFD_TWIN,
	PFD_DOORBELL,
	PFD_DOORBELL_DM,
	PFD_DOORBELL_SHADOW,
	PFD_MAILBOX,
	PFD_INTX_MASK,
	PFD_INTX_UNMASK,
	PFD_NR,
};

/* poll() skips negative fds: whatever does not exist now is left out. */
static void pollset(const struct server *srv, struct pollfd *pfd)
{
	const struct conn *conn = &srv->conn;
	unsigned int i;

	pfd[PFD_SIGNAL].fd = srv->sigfd;
	pfd[PFD_LISTEN].fd = conn->sock < 0 ? srv->listen_fd : -1;
	pfd[PFD_CLIENT].fd = conn->sock;
	pfd[PFD_TWIN].fd = conn->twin;
	pfd[PFD_DOORBELL].fd = conn->io.doorbell_efd;
	pfd[PFD_DOORBELL_DM].fd = conn->io.doorbell_dm_efd;
	pfd[PFD_DOORBELL_SHADOW].fd = conn->io.shadow_efd;
	pfd[PFD_MAILBOX].fd = conn->io.mailbox_fd;
	pfd[PFD_INTX_MASK].fd =
		srv->dev.irq[VFIO_PCI_INTX_IRQ_INDEX][0].mask_efd;
	pfd[PFD_INTX_UNMASK].fd =
		srv->dev.irq[VFIO_PCI_INTX_IRQ_INDEX][0].unmask_efd;
	for (i = 0; i < PFD_NR; i++) {
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
}

static void log_signal(const struct server *srv)
{
	struct signalfd_siginfo si;

	if (read(srv->sigfd, &si, sizeof(si)) == sizeof(si))
		srv_log(srv, "%s, exiting", strsignal((int)si.ssi_signo));
}

/*
 * Bytes a socket's reader already took count as the socket being readable,
 * though poll() cannot see them: with some, poll() only looks (timeout 0),
 * so the io fds still go first, as they would with the bytes in the socket.
 */
static bool buffered(const struct server *srv)
{
	return vu_reader_buffered(&srv->conn.rd) ||
	       vu_reader_buffered(&srv->conn.twin_rd);
}

static void mark_buffered(const struct server *srv, struct pollfd *pfd)
{
	if (vu_reader_buffered(&srv->conn.rd))
		pfd[PFD_CLIENT].revents |= POLLIN;
	if (vu_reader_buffered(&srv->conn.twin_rd))
		pfd[PFD_TWIN].revents |= POLLIN;
}

/* Returns the exit status. */
static int run(struct server *srv)
{
	/* With --fd there is no next client; with --once we want none. */
	bool one_client = srv->listen_fd < 0 || srv->opts.once;
	struct pollfd pfd[PFD_NR];

	for (;;) {
		pollset(srv, pfd);
		if (poll(pfd, PFD_NR, buffered(srv) ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			srv_log(srv, "poll: %s", strerror(errno));
			return EXIT_FAILURE;
		}
		mark_buffered(srv, pfd);
		if (pfd[PFD_SIGNAL].revents) {
			log_signal(srv);
			return EXIT_SUCCESS;
		}
		/* Accesses through the io fds may precede the next message. */
		if (pfd[PFD_DOORBELL].revents)
			io_fds_doorbell_ready(srv, false);
		if (pfd[PFD_DOORBELL_DM].revents)
			io_fds_doorbell_ready(srv, true);
		if (pfd[PFD_DOORBELL_SHADOW].revents)
			io_fds_shadow_ready(srv);
		if (pfd[PFD_MAILBOX].revents)
			io_fds_mailbox_ready(srv);
		if (pfd[PFD_INTX_MASK].revents || pfd[PFD_INTX_UNMASK].revents)
			irq_poll_actions(&srv->dev);
		if (pfd[PFD_TWIN].revents)
			proto_handle_twin(srv);
		/* proto_handle_client() said why, in one line. */
		if (pfd[PFD_CLIENT].revents && proto_handle_client(srv)) {
			conn_end(srv);
			if (one_client)
				return EXIT_SUCCESS;
		}
		if (pfd[PFD_LISTEN].revents)
			accept_client(srv);
	}
}

static int server_setup(struct server *srv)
{
	int ret;

	srv->sigfd = -1;
	srv->listen_fd = -1;
	conn_init(&srv->conn);

	/* First: teardown expects a device, even a half-made one. */
	ret = dev_init(&srv->dev, srv->opts.msix_vectors);
	if (ret) {
		srv_log(srv, "cannot create the device: %s", strerror(-ret));
		return ret;
	}
	ret = mig_init(&srv->dev);
	if (ret) {
		srv_log(srv, "cannot set up migration: %s", strerror(-ret));
		return ret;
	}

	ret = signals_setup();
	if (ret < 0) {
		srv_log(srv, "signals: %s", strerror(-ret));
		return ret;
	}
	srv->sigfd = ret;

	if (srv->opts.fd >= 0) {
		ret = check_client_fd(srv->opts.fd);
		if (ret) {
			srv_log(srv, "--fd=%d: %s", srv->opts.fd,
				strerror(-ret));
			return ret;
		}
		return conn_start(srv, srv->opts.fd);
	}

	ret = listen_on(srv->opts.socket_path);
	if (ret < 0) {
		srv_log(srv, "%s: %s", srv->opts.socket_path,
			ret == -EEXIST ? "exists and is not a socket" :
			ret == -EADDRINUSE ?
					 "another server is listening there" :
					 strerror(-ret));
		return ret;
	}
	srv->listen_fd = ret;
	srv_log(srv, "listening on %s", srv->opts.socket_path);
	return 0;
}

static void server_teardown(struct server *srv)
{
	conn_end(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->opts.socket_path);
	}
	mig_destroy(&srv->dev);
	dev_destroy(&srv->dev);
	if (srv->sigfd >= 0)
		close(srv->sigfd);
}

int main(int argc, char **argv)
{
	struct server srv;
	int status;

	memset(&srv, 0, sizeof(srv));
	switch (parse_options(argc, argv, &srv.opts)) {
	case 0:
		break;
	case 1:
		return EXIT_SUCCESS;
	default:
		usage(stderr);
		return 2;
	}

	if (server_setup(&srv))
		status = EXIT_FAILURE;
	else
		status = run(&srv);
	server_teardown(&srv);
	return status;
}
