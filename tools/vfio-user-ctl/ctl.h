/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user-ctl: what the sub-commands share (options common to every
 * command that talks to a server, error reporting, connecting).
 */
#ifndef VFIO_USER_CTL_H
#define VFIO_USER_CTL_H

#include <getopt.h>
#include <stdio.h>

#include "vfio-user-client.h"

#define CTL_NAME "vfio-user-ctl"

/* Exit statuses: success, a failure talking to the server, bad usage. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE 2

/* How to reach the server: set by the options every command accepts. */
struct ctl_opts {
	struct vuc_options vuc;
	int fd; /* --fd: a connected socket to use, or -1 */
};

/*
 * getopt_long() values of the common options, above any character so that
 * they cannot collide with a sub-command's short options.
 */
enum {
	CTL_OPT_TIMEOUT_MS = 0x100,
	CTL_OPT_NO_TWIN_SOCKET,
	CTL_OPT_USERSPACE,
	CTL_OPT_FD,
	CTL_OPT_NO_FD_SHARING,
	CTL_OPT_POSTED_WRITES,
};

/* The common options, to splice into a sub-command's struct option table. */
/* One initializer a line; clang-format would take the braces for a block. */
/* clang-format off */
#define CTL_COMMON_LONG_OPTIONS						\
	{ "timeout-ms", required_argument, NULL, CTL_OPT_TIMEOUT_MS },	\
	{ "timeout", required_argument, NULL, CTL_OPT_TIMEOUT_MS },	\
	{ "no-twin-socket", no_argument, NULL, CTL_OPT_NO_TWIN_SOCKET },	\
	{ "userspace", no_argument, NULL, CTL_OPT_USERSPACE },		\
	{ "fd", required_argument, NULL, CTL_OPT_FD },			\
	{ "no-fd-sharing", no_argument, NULL, CTL_OPT_NO_FD_SHARING },	\
	{ "posted-writes", required_argument, NULL, CTL_OPT_POSTED_WRITES }
/* clang-format on */

/* Their help text, for usage messages. */
/* clang-format off */
#define CTL_COMMON_OPTIONS_HELP						\
	"  --timeout MS, --timeout-ms MS\n"				\
	"                     wait at most MS ms for each answer of the server\n" \
	"                     (default 5000; the kernel's bound as well)\n"	\
	"  --no-twin-socket   do not offer the server a twin socket\n"		\
	"  --userspace        drive the device from userspace, not through\n"	\
	"                     /dev/vfio-user (used when it exists)\n"		\
	"  --fd N             use the connected socket N (inherited) instead\n" \
	"                     of a SOCKET_PATH (info only)\n"			\
	"  --no-fd-sharing    never pass memory fds to the server: it reaches\n" \
	"                     memory by DMA_READ/DMA_WRITE through the kernel\n" \
	"  --posted-writes REGIONS\n"					\
	"                     post writes to these regions (comma-separated\n" \
	"                     indexes or BAR0..BAR5, ROM; 'none'), kernel only\n"
/* clang-format on */

/*
 * Apply common option @opt (a getopt_long() result) with argument @arg.
 * Returns 0 if applied, 1 if @opt is not a common option, -1 if its
 * argument is invalid (after saying so on stderr).
 */
int ctl_common_option(struct ctl_opts *opts, int opt, const char *arg);

/* "vfio-user-ctl: <message>" on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "vfio-user-ctl: <message>: <what the library says went wrong>". */
void ctl_dev_err(const struct vuc_device *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A handle connected to the server at @socket_path, negotiated and
 * discovered; NULL after reporting the failure on stderr.
 */
struct vuc_device *ctl_connect(const struct ctl_opts *opts,
			       const char *socket_path);

/*
 * The server a single-server command talks to: @path, or the --fd socket
 * when @path is NULL. A label for messages in @label.
 */
const char *ctl_target(const struct ctl_opts *opts, const char *path,
		       char *label, size_t len);

/* Sub-commands: each parses its own options from argv[1] on. */
int ctl_cmd_info(int argc, char **argv, struct ctl_opts *opts);
void ctl_usage_info(FILE *out);
int ctl_cmd_bench(int argc, char **argv, struct ctl_opts *opts);
void ctl_usage_bench(FILE *out);
int ctl_cmd_migrate(int argc, char **argv, struct ctl_opts *opts);
void ctl_usage_migrate(FILE *out);
int ctl_cmd_save(int argc, char **argv, struct ctl_opts *opts);
void ctl_usage_save(FILE *out);
int ctl_cmd_load(int argc, char **argv, struct ctl_opts *opts);
void ctl_usage_load(FILE *out);
int ctl_cmd_list(int argc, char **argv, struct ctl_opts *opts);
void ctl_usage_list(FILE *out);
int ctl_cmd_stats(int argc, char **argv, struct ctl_opts *opts);
void ctl_usage_stats(FILE *out);

#endif /* VFIO_USER_CTL_H */
