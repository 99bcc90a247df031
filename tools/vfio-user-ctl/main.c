// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl: talk to a vfio-user server from the command line.
 *
 *	vfio-user-ctl [COMMON OPTIONS] COMMAND [COMMAND OPTIONS] [ARGS]
 *
 * Each sub-command has an entry in the table below and parses its own
 * options; the common options (how to reach the server) are accepted both
 * before the command name and among the command's options.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

struct ctl_command {
	const char *name;
	const char *args; /* synopsis after the name, for the usage */
	const char *summary;
	int (*run)(int argc, char **argv, struct ctl_opts *opts);
	void (*usage)(FILE *out);
};

static int cmd_help(int argc, char **argv, struct ctl_opts *opts);
static void usage_help(FILE *out);

static const struct ctl_command commands[] = {
	{ "info", "[-x] [--json] SOCKET_PATH|--fd N",
	  "connect to a server and describe its device", ctl_cmd_info,
	  ctl_usage_info },
	{ "bench", "[--seconds N] SOCKET_PATH",
	  "measure round trips, io_uring, DMA maps, doorbells", ctl_cmd_bench,
	  ctl_usage_bench },
	{ "migrate", "SRC_SOCKET DST_SOCKET",
	  "move a running device's state to another server", ctl_cmd_migrate,
	  ctl_usage_migrate },
	{ "save", "SOCKET_PATH FILE",
	  "stop a device and save its state to FILE", ctl_cmd_save,
	  ctl_usage_save },
	{ "load", "SOCKET_PATH FILE",
	  "load a device's state from FILE and run it", ctl_cmd_load,
	  ctl_usage_load },
	{ "list", "[--json]", "list the attached devices and their servers",
	  ctl_cmd_list, ctl_usage_list },
	{ "stats", "[--watch [S]] [--json] [DEVICE]",
	  "an attached device's counters", ctl_cmd_stats, ctl_usage_stats },
	{ "help", "[COMMAND]", "show this help, or a command's", cmd_help,
	  usage_help },
};

#define NR_COMMANDS ARRAY_SIZE(commands)

static const struct ctl_command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/*
 * Usage text is laid out as it prints, one output line per source line;
 * clang-format would join the lines around the macros spliced into it.
 */
/* clang-format off */
static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"Usage: " CTL_NAME " [OPTIONS] COMMAND [ARGS...]\n"
		"\n"
		"Talk to a vfio-user server over its UNIX socket.\n"
		"\n"
		"Options:\n"
		CTL_COMMON_OPTIONS_HELP
		"  -h, --help         show this help\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < NR_COMMANDS; i++) {
		int w = (int)(strlen(commands[i].name) +
			      strlen(commands[i].args) + 1);

		fprintf(out, "  %s %s%*s%s\n", commands[i].name,
			commands[i].args, w < 24 ? 24 - w : 1, "",
			commands[i].summary);
	}
	fprintf(out,
		"\n"
		"'" CTL_NAME " help COMMAND' shows a command's options.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n");
}
/* clang-format on */

static void usage_help(FILE *out)
{
	fprintf(out, "Usage: " CTL_NAME " help [COMMAND]\n"
		     "\n"
		     "Show the general help, or COMMAND's.\n");
}

static int cmd_help(int argc, char **argv, struct ctl_opts *opts)
{
	const struct ctl_command *cmd;

	(void)opts;
	if (argc < 2) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	if (argc > 2) {
		usage_help(stderr);
		return CTL_EXIT_USAGE;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		ctl_err("unknown command '%s'", argv[1]);
		return CTL_EXIT_USAGE;
	}
	cmd->usage(stdout);
	return CTL_EXIT_OK;
}

/*
 * Options before the command name. '+' stops at the first non-option (the
 * command), so that the command's own options are left to it.
 */
static int parse_global_options(int argc, char **argv, struct ctl_opts *opts)
{
	static const struct option longopts[] = {
		CTL_COMMON_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			if (ctl_common_option(opts, opt, optarg) == 0)
				break;
			/* getopt_long() or ctl_common_option() said why */
			fputs("Try '" CTL_NAME " --help'.\n", stderr);
			exit(CTL_EXIT_USAGE);
		}
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct ctl_opts opts = {
		.vuc = { .timeout_ms = VUC_DEFAULT_TIMEOUT_MS },
		.fd = -1,
	};
	const struct ctl_command *cmd;
	static char cmd_prog[64];
	int first;

	/* getopt_long() names argv[0] in its complaints: the tool's name. */
	argv[0] = (char *)CTL_NAME;
	first = parse_global_options(argc, argv, &opts);
	if (first >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	cmd = find_command(argv[first]);
	if (!cmd) {
		ctl_err("unknown command '%s'", argv[first]);
		fputs("Try '" CTL_NAME " --help'.\n", stderr);
		return CTL_EXIT_USAGE;
	}

	/*
	 * The command sees argv from its own name on. getopt_long() prefixes
	 * its complaints with argv[0], so name the command there; optind 0
	 * makes glibc's getopt start over.
	 */
	snprintf(cmd_prog, sizeof(cmd_prog), CTL_NAME " %s", cmd->name);
	argv[first] = cmd_prog;
	optind = 0;
	return cmd->run(argc - first, argv + first, &opts);
}
