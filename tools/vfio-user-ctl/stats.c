// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl list and stats: the devices attached through /dev/vfio-user
 * and their counters, as the kernel shows them in the fdinfo of each open
 * /dev/vfio-user file (/proc/PID/fdinfo/FD). Those are readable by the
 * VMM's own user and by root, so a VMM user needs no debugfs (which shows
 * the same text in /sys/kernel/debug/vfio_user/NAME/stats, for root).
 *
 * A device is found by scanning /proc/[0-9]* /fd for the character device
 * of /dev/vfio-user; it is named by the kernel's name for it (vfio-userN)
 * or by PID:FD.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "ctl.h"

#define STATS_MAX_FIELDS 96
#define STATS_KEY_LEN 48
#define STATS_VALUE_LEN 64
#define STATS_MAX_DEVICES 1024
#define STATS_WATCH_MAX 3600

enum {
	OPT_JSON = 0x200, /* above the CTL_OPT_* values */
	OPT_WATCH,
};

/* One "key: value" line of a device's fdinfo. */
struct stat_field {
	char key[STATS_KEY_LEN];
	char value[STATS_VALUE_LEN];
};

/* A device as one open file of it shows it. */
struct dev_stats {
	pid_t pid; /* a process that has it open */
	int fd; /* and the fd there */
	unsigned int nr;
	struct stat_field f[STATS_MAX_FIELDS];
};

/* clang-format off */
void ctl_usage_list(FILE *out)
{
	fprintf(out,
		"Usage: " CTL_NAME " list [--json]\n"
		"\n"
		"List the devices attached through /dev/vfio-user by the processes\n"
		"this user may inspect (all of them as root): name, state, the VMM's\n"
		"process and fd, the server's process.\n"
		"\n"
		"Options:\n"
		"  --json             one JSON array of objects\n"
		"  -h, --help         show this help\n");
}

void ctl_usage_stats(FILE *out)
{
	fprintf(out,
		"Usage: " CTL_NAME " stats [--watch [SECONDS]] [--json] [DEVICE]\n"
		"\n"
		"Print the kernel's counters of an attached device. DEVICE is its name\n"
		"as 'list' shows it (vfio-userN) or PID:FD; it may be left out when\n"
		"exactly one device is attached.\n"
		"\n"
		"Options:\n"
		"  -w, --watch [SECONDS]  print them again every SECONDS (default 1,\n"
		"                     at most 3600), with the change per second\n"
		"  --json             one JSON object (one per line with --watch)\n"
		"  -h, --help         show this help\n");
}
/* clang-format on */

static const char *field(const struct dev_stats *d, const char *key)
{
	unsigned int i;

	for (i = 0; i < d->nr; i++)
		if (!strcmp(d->f[i].key, key))
			return d->f[i].value;
	return NULL;
}

/* A counter: a decimal number, not a word. */
static bool numeric(const char *v, long long *out)
{
	char *end;

	if (!*v || (!isdigit((unsigned char)*v) && *v != '-'))
		return false;
	errno = 0;
	*out = strtoll(v, &end, 10);
	return !errno && !*end;
}

/* The character device /dev/vfio-user is, from sysfs or the node. */
static int vfio_user_rdev(dev_t *rdev)
{
	unsigned int maj, min;
	struct stat st;
	FILE *f;
	int n = 0;

	f = fopen("/sys/class/misc/vfio-user/dev", "r");
	if (f) {
		n = fscanf(f, "%u:%u", &maj, &min);
		fclose(f);
	}
	if (n == 2) {
		*rdev = makedev(maj, min);
		return 0;
	}
	if (!stat("/dev/vfio-user", &st) && S_ISCHR(st.st_mode)) {
		*rdev = st.st_rdev;
		return 0;
	}
	return -1;
}

/*
 * Read the fdinfo of PID's fd FD into @d: the lines from "name:" on (the
 * kernel's own pos/flags/mnt_id/ino come first). 0, or -errno.
 */
static int read_fdinfo(pid_t pid, int fd, struct dev_stats *d)
{
	char path[64], line[STATS_KEY_LEN + STATS_VALUE_LEN + 8];
	bool ours = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	d->pid = pid;
	d->fd = fd;
	d->nr = 0;
	while (fgets(line, sizeof(line), f) && d->nr < STATS_MAX_FIELDS) {
		char *colon = strchr(line, ':'), *v;
		size_t klen;

		if (!colon)
			continue;
		klen = (size_t)(colon - line);
		if (klen == 4 && !strncmp(line, "name", 4))
			ours = true;
		if (!ours || klen >= STATS_KEY_LEN)
			continue;
		v = colon + 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		memcpy(d->f[d->nr].key, line, klen);
		d->f[d->nr].key[klen] = '\0';
		snprintf(d->f[d->nr].value, STATS_VALUE_LEN, "%s", v);
		d->nr++;
	}
	fclose(f);
	return ours ? 0 : -ENODATA;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/*
 * Every open /dev/vfio-user file of the processes we may inspect, one
 * entry per device (the first fd found of it). Returns how many, or -1
 * after saying why; *@denied counts processes whose fds were hidden.
 */
static int find_devices(struct dev_stats **out, unsigned int *denied)
{
	struct dev_stats *devs = NULL;
	struct dirent *p, *e;
	unsigned int nr = 0, i;
	DIR *proc, *fds;
	dev_t rdev;

	*denied = 0;
	if (vfio_user_rdev(&rdev)) {
		ctl_err("/dev/vfio-user not found: is the vfio_user module loaded? (modprobe vfio_user)");
		return -1;
	}
	proc = opendir("/proc");
	if (!proc) {
		ctl_err("reading /proc: %s (is procfs mounted?)",
			strerror(errno));
		return -1;
	}
	devs = calloc(STATS_MAX_DEVICES, sizeof(*devs));
	if (!devs) {
		closedir(proc);
		ctl_err("out of memory");
		return -1;
	}
	while ((p = readdir(proc)) && nr < STATS_MAX_DEVICES) {
		char path[600];

		if (!all_digits(p->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fds = opendir(path);
		if (!fds) {
			if (errno == EACCES)
				(*denied)++;
			continue;
		}
		while ((e = readdir(fds)) && nr < STATS_MAX_DEVICES) {
			struct stat st;
			bool dup = false;

			if (!all_digits(e->d_name))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s",
				 p->d_name, e->d_name);
			if (stat(path, &st) || !S_ISCHR(st.st_mode) ||
			    st.st_rdev != rdev)
				continue;
			if (read_fdinfo(atoi(p->d_name), atoi(e->d_name),
					&devs[nr]))
				continue;
			for (i = 0; i < nr && !dup; i++)
				dup = !strcmp(field(&devs[i], "name"),
					      field(&devs[nr], "name"));
			if (!dup)
				nr++;
		}
		closedir(fds);
	}
	closedir(proc);
	*out = devs;
	return (int)nr;
}

static const char *value_or(const struct dev_stats *d, const char *key,
			    const char *def)
{
	const char *v = field(d, key);

	return v ? v : def;
}

static int cmd_list_run(bool json)
{
	struct dev_stats *devs;
	unsigned int denied, i;
	int nr;

	nr = find_devices(&devs, &denied);
	if (nr < 0)
		return CTL_EXIT_FAILURE;
	if (json) {
		json_object *arr = json_object_new_array();

		for (i = 0; i < (unsigned int)nr; i++) {
			json_object *o = json_object_new_object();
			const struct dev_stats *d = &devs[i];
			long long v;

			json_object_object_add(
				o, "name",
				json_object_new_string(field(d, "name")));
			json_object_object_add(o, "state",
					       json_object_new_string(value_or(
						       d, "state", "unknown")));
			json_object_object_add(o, "vmm_pid",
					       json_object_new_int(d->pid));
			json_object_object_add(o, "fd",
					       json_object_new_int(d->fd));
			if (numeric(value_or(d, "server_pid", ""), &v))
				json_object_object_add(
					o, "server_pid",
					json_object_new_int64(v));
			json_object_array_add(arr, o);
		}
		puts(json_object_to_json_string_ext(
			arr, JSON_C_TO_STRING_PLAIN |
				     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	} else {
		printf("%-14s %-22s %8s %5s %10s\n", "NAME", "STATE", "VMM_PID",
		       "FD", "SERVER_PID");
		for (i = 0; i < (unsigned int)nr; i++) {
			const struct dev_stats *d = &devs[i];

			printf("%-14s %-22s %8d %5d %10s\n", field(d, "name"),
			       value_or(d, "state", "unknown"), (int)d->pid,
			       d->fd, value_or(d, "server_pid", "-"));
		}
	}
	if (!nr && denied && geteuid())
		fprintf(stderr,
			CTL_NAME
			": note: %u processes of other users were not looked at; run as root to see their devices\n",
			denied);
	free(devs);
	return CTL_EXIT_OK;
}

int ctl_cmd_list(int argc, char **argv, struct ctl_opts *opts)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int opt;

	(void)opts;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			ctl_usage_list(stdout);
			return CTL_EXIT_OK;
		default:
			fputs("Try '" CTL_NAME " help list'.\n", stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		ctl_err("list: too many arguments");
		fputs("Try '" CTL_NAME " help list'.\n", stderr);
		return CTL_EXIT_USAGE;
	}
	return cmd_list_run(json);
}

/* PID:FD, or the device's name among those found. 0, or an exit status. */
static int resolve(const char *spec, struct dev_stats *d)
{
	struct dev_stats *devs;
	unsigned int denied, i;
	int pid, fd, nr, rc, len = 0;

	if (spec && sscanf(spec, "%d:%d%n", &pid, &fd, &len) == 2 &&
	    !spec[len]) {
		rc = read_fdinfo(pid, fd, d);
		if (!rc)
			return 0;
		if (rc == -ENODATA)
			ctl_err("stats: fd %d of process %d is not a /dev/vfio-user device",
				fd, pid);
		else
			ctl_err("stats: reading /proc/%d/fdinfo/%d: %s%s", pid,
				fd, strerror(-rc),
				rc == -EACCES || rc == -EPERM ?
					" (run as the VMM's user or as root)" :
					" (is the process running and the fd open?)");
		return CTL_EXIT_FAILURE;
	}
	nr = find_devices(&devs, &denied);
	if (nr < 0)
		return CTL_EXIT_FAILURE;
	rc = CTL_EXIT_FAILURE;
	if (!spec) {
		if (nr == 1) {
			*d = devs[0];
			rc = 0;
		} else if (!nr) {
			ctl_err("stats: no attached device found%s",
				denied && geteuid() ?
					" (devices of other users are seen as root only)" :
					"");
		} else {
			ctl_err("stats: %d devices attached: name one (see '" CTL_NAME
				" list')",
				nr);
			rc = CTL_EXIT_USAGE;
		}
		free(devs);
		return rc;
	}
	for (i = 0; i < (unsigned int)nr; i++) {
		if (!strcmp(field(&devs[i], "name"), spec)) {
			*d = devs[i];
			rc = 0;
			break;
		}
	}
	if (rc)
		ctl_err("stats: no device '%s' found: '" CTL_NAME
			" list' shows the attached ones%s",
			spec,
			denied && geteuid() ? " (other users' only to root)" :
					      "");
	free(devs);
	return rc;
}

static void print_text(const struct dev_stats *d, const struct dev_stats *prev,
		       unsigned int interval)
{
	unsigned int i;

	printf("device: %s (pid %d fd %d)\n", field(d, "name"), (int)d->pid,
	       d->fd);
	for (i = 0; i < d->nr; i++) {
		const char *old;
		long long v, o;

		if (!strcmp(d->f[i].key, "name"))
			continue;
		printf("  %-26s %s", d->f[i].key, d->f[i].value);
		old = prev ? field(prev, d->f[i].key) : NULL;
		if (!old)
			old = "0";
		if (prev && interval && numeric(d->f[i].value, &v) &&
		    numeric(old, &o) && strcmp(d->f[i].key, "server_pid") &&
		    strcmp(d->f[i].key, "owner_pid") &&
		    strcmp(d->f[i].key, "timeout_ms") && v != o)
			printf("  (%+.1f/s)", (double)(v - o) / interval);
		putchar('\n');
	}
}

static void print_json(const struct dev_stats *d)
{
	json_object *o = json_object_new_object();
	unsigned int i;

	json_object_object_add(o, "vmm_pid", json_object_new_int(d->pid));
	json_object_object_add(o, "fd", json_object_new_int(d->fd));
	for (i = 0; i < d->nr; i++) {
		long long v;

		json_object_object_add(
			o, d->f[i].key,
			numeric(d->f[i].value, &v) ?
				json_object_new_int64(v) :
				json_object_new_string(d->f[i].value));
	}
	puts(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

int ctl_cmd_stats(int argc, char **argv, struct ctl_opts *opts)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "watch", optional_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *watch_arg = NULL, *spec = NULL;
	struct dev_stats *d, *prev;
	unsigned long interval = 0;
	bool json = false, watch = false;
	int opt, rc;

	(void)opts;
	while ((opt = getopt_long(argc, argv, "w::h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			json = true;
			break;
		case 'w':
			watch = true;
			watch_arg = optarg;
			break;
		case 'h':
			ctl_usage_stats(stdout);
			return CTL_EXIT_OK;
		default:
			fputs("Try '" CTL_NAME " help stats'.\n", stderr);
			return CTL_EXIT_USAGE;
		}
	}
	/* "--watch 2": the number is the interval, not a device. */
	if (watch && !watch_arg && optind < argc && all_digits(argv[optind]))
		watch_arg = argv[optind++];
	if (argc - optind > 1) {
		ctl_err("stats: too many arguments");
		fputs("Try '" CTL_NAME " help stats'.\n", stderr);
		return CTL_EXIT_USAGE;
	}
	if (optind < argc)
		spec = argv[optind];
	if (spec && !*spec) {
		ctl_err("stats: DEVICE is empty: give a name as 'vfio-user-ctl list' shows it, or PID:FD");
		return CTL_EXIT_USAGE;
	}
	if (watch) {
		char *end;

		interval = 1;
		if (watch_arg) {
			errno = 0;
			interval = all_digits(watch_arg) ?
					   strtoul(watch_arg, &end, 10) :
					   0;
			if (errno || !interval || interval > STATS_WATCH_MAX) {
				ctl_err("stats: --watch: '%s' is not a number of seconds between 1 and %d",
					watch_arg, STATS_WATCH_MAX);
				return CTL_EXIT_USAGE;
			}
		}
	}

	d = calloc(2, sizeof(*d));
	if (!d) {
		ctl_err("out of memory");
		return CTL_EXIT_FAILURE;
	}
	prev = &d[1];
	rc = resolve(spec, d);
	if (rc) {
		free(d);
		return rc;
	}
	for (;;) {
		if (json)
			print_json(d);
		else
			print_text(d, prev->nr ? prev : NULL,
				   (unsigned int)interval);
		if (fflush(stdout) || ferror(stdout)) {
			ctl_err("writing the output: %s", strerror(errno));
			rc = CTL_EXIT_FAILURE;
			break;
		}
		if (!watch)
			break;
		sleep((unsigned int)interval);
		*prev = *d;
		rc = read_fdinfo(prev->pid, prev->fd, d);
		if (rc) {
			/* The VMM closed it, or exited: the device is gone. */
			ctl_err("stats: %s is gone (process %d, fd %d: %s)",
				field(prev, "name"), (int)prev->pid, prev->fd,
				strerror(-rc));
			rc = CTL_EXIT_FAILURE;
			break;
		}
		if (strcmp(field(d, "name"), field(prev, "name"))) {
			ctl_err("stats: %s is gone (its fd is now another device)",
				field(prev, "name"));
			rc = CTL_EXIT_FAILURE;
			break;
		}
		if (!json)
			putchar('\n');
	}
	free(d);
	return rc;
}
