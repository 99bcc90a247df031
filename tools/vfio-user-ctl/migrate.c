// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl migrate, save and load: move a device's state between two
 * servers (pre-copy rounds, stop-and-copy, resume at the destination), or
 * into a file and back.
 *
 * A saved file is a 64-byte header, then the device's migration stream as
 * the server produced it. The header names the device (PCI ids, class,
 * numbers of regions and IRQs) and carries the stream's length and FNV-1a
 * checksum, so a wrong or damaged file is refused before the device sees
 * any of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define FILE_MAGIC "VUCMIGF1"
#define FILE_VERSION 1
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Who the device is, as the file header records it. */
struct identity {
	uint16_t vendor;
	uint16_t device;
	uint16_t subsys_vendor;
	uint16_t subsys;
	uint32_t class_rev; /* class code << 8 | revision */
	uint32_t num_regions;
	uint32_t num_irqs;
} __attribute__((packed));

struct file_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	struct identity id;
	uint64_t stream_len;
	uint64_t stream_fnv;
	uint8_t reserved[64 - 8 - 4 - 4 - 20 - 16];
} __attribute__((packed));

_Static_assert(sizeof(struct file_header) == 64, "file header");

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t fnv(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len--) {
		h ^= *p++;
		h *= FNV_PRIME;
	}
	return h;
}

static int get_identity(struct vuc_device *dev, struct identity *id)
{
	const struct vfio_user_device_info *info = vuc_get_device_info(dev);
	uint8_t cfg[0x30];

	memset(id, 0, sizeof(*id));
	if (vuc_region_read(dev, VFIO_PCI_CONFIG_REGION_INDEX, 0, cfg,
			    sizeof(cfg)) != sizeof(cfg)) {
		ctl_dev_err(dev, "reading the device's config space");
		return -1;
	}
	memcpy(&id->vendor, cfg + 0x00, 2);
	memcpy(&id->device, cfg + 0x02, 2);
	memcpy(&id->class_rev, cfg + 0x08, 4);
	memcpy(&id->subsys_vendor, cfg + 0x2c, 2);
	memcpy(&id->subsys, cfg + 0x2e, 2);
	id->num_regions = info->num_regions;
	id->num_irqs = info->num_irqs;
	return 0;
}

/* The device must be able to migrate; *@precopy says if it pre-copies. */
static int check_migratable(struct vuc_device *dev, const char *path,
			    bool *precopy)
{
	uint64_t flags;

	if (vuc_mig_get_flags(dev, &flags)) {
		ctl_dev_err(dev, "%s", path);
		return -1;
	}
	if (precopy)
		*precopy = flags & VFIO_USER_MIGRATION_PRE_COPY;
	return 0;
}

static int set_state(struct vuc_device *dev, const char *path, uint32_t s)
{
	if (!vuc_mig_set_state(dev, s))
		return 0;
	ctl_dev_err(dev, "%s", path);
	return -1;
}

/*
 * A stream must be read from its start: a device left saving by an earlier
 * run (PRE_COPY or STOP_COPY) is taken out of it first.
 */
static int fresh_stream(struct vuc_device *dev, const char *path)
{
	uint32_t s;

	if (vuc_mig_get_state(dev, &s)) {
		ctl_dev_err(dev, "%s", path);
		return -1;
	}
	if (s == VFIO_USER_DEVICE_STATE_PRE_COPY)
		return set_state(dev, path, VFIO_USER_DEVICE_STATE_RUNNING);
	if (s == VFIO_USER_DEVICE_STATE_STOP_COPY)
		return set_state(dev, path, VFIO_USER_DEVICE_STATE_STOP);
	return 0;
}

/* ---- migrate ---- */

struct mover {
	struct vuc_device *dst;
	const char *dst_path;
	bool tty;
	unsigned int max_rounds;
	uint64_t min_round_bytes;
	uint64_t bytes; /* moved so far */
	unsigned int rounds;
	int dst_err; /* the destination failed a write */
};

static int to_dst(void *opaque, const void *buf, size_t len)
{
	struct mover *m = opaque;
	int ret = vuc_mig_write(m->dst, buf, len);

	if (ret)
		m->dst_err = ret;
	else
		m->bytes += len;
	return ret;
}

static bool round_done(void *opaque, unsigned int round, uint64_t bytes)
{
	struct mover *m = opaque;

	m->rounds = round;
	if (m->tty)
		fprintf(stderr,
			"\rpre-copy round %u: %llu bytes, %llu in all   ",
			round, (unsigned long long)bytes,
			(unsigned long long)m->bytes);
	return round >= m->max_rounds || bytes <= m->min_round_bytes;
}

/*
 * Usage text is laid out as it prints, one output line per source line;
 * clang-format would join the lines around the macros spliced into it.
 */
/* clang-format off */
void ctl_usage_migrate(FILE *out)
{
	fprintf(out,
		"Usage: " CTL_NAME " migrate [--rounds N] [--min-round-bytes N] SRC_SOCKET DST_SOCKET\n"
		"Move the running device of the server at SRC_SOCKET to the server at\n"
		"DST_SOCKET: pre-copy rounds while it runs (if the device can), then\n"
		"stop-and-copy, then resume at the destination. The source is left\n"
		"stopped; if the move fails before the destination runs, the source\n"
		"runs again. Progress on a terminal, a summary line otherwise.\n\n"
		"  --rounds N           at most N pre-copy rounds (default 8; 0: none)\n"
		"  --min-round-bytes N  stop pre-copy once a round moves at most N bytes\n"
		"                       (default 65536)\n"
		CTL_COMMON_OPTIONS_HELP);
}
/* clang-format on */

static int parse_u64(const char *opt, const char *s, uint64_t max,
		     uint64_t *out)
{
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		goto bad;
	*out = strtoull(s, &end, 10);
	if (errno || *end || *out > max)
		goto bad;
	return 0;
bad:
	ctl_err("%s: '%s' is not a number between 0 and %llu", opt, s,
		(unsigned long long)max);
	return -1;
}

/* Common option parsing for the three commands; returns argv index. */
static int parse(int argc, char **argv, struct ctl_opts *opts, const char *name,
		 struct mover *m, int nargs, void (*usage)(FILE *out))
{
	static const struct option longopts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "min-round-bytes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		CTL_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
		case 'b':
			if (!m) {
				ctl_err("%s: no such option", name);
				return -CTL_EXIT_USAGE;
			}
			if (parse_u64(opt == 'r' ? "--rounds" :
						   "--min-round-bytes",
				      optarg, opt == 'r' ? 1000000 : UINT64_MAX,
				      &v))
				return -CTL_EXIT_USAGE;
			if (opt == 'r')
				m->max_rounds = (unsigned int)v;
			else
				m->min_round_bytes = v;
			break;
		case 'h':
			usage(stdout);
			return -CTL_EXIT_OK - 100;
		default:
			if (ctl_common_option(opts, opt, optarg) == 0)
				break;
			fprintf(stderr, "Try '" CTL_NAME " help %s'.\n", name);
			return -CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != nargs) {
		ctl_err("%s: %s", name,
			argc - optind < nargs ? "missing arguments" :
						"too many arguments");
		fprintf(stderr, "Try '" CTL_NAME " help %s'.\n", name);
		return -CTL_EXIT_USAGE;
	}
	return optind;
}

static int parse_result(int r)
{
	return r == -CTL_EXIT_OK - 100 ? CTL_EXIT_OK : -r;
}

int ctl_cmd_migrate(int argc, char **argv, struct ctl_opts *opts)
{
	struct mover m = { .max_rounds = 8, .min_round_bytes = 65536 };
	struct vuc_device *src = NULL, *dst = NULL;
	const char *sp, *dp;
	struct identity is, id;
	double t0, t_stop, t_run;
	uint64_t precopy_bytes = 0;
	bool precopy;
	int first, ret = CTL_EXIT_FAILURE, r;

	first = parse(argc, argv, opts, "migrate", &m, 2, ctl_usage_migrate);
	if (first < 0)
		return parse_result(first);
	sp = argv[first];
	dp = argv[first + 1];
	m.dst_path = dp;
	m.tty = isatty(STDERR_FILENO);

	src = ctl_connect(opts, sp);
	if (!src)
		return CTL_EXIT_FAILURE;
	dst = ctl_connect(opts, dp);
	if (!dst)
		goto out;
	m.dst = dst;
	if (check_migratable(src, sp, &precopy) ||
	    check_migratable(dst, dp, NULL) || get_identity(src, &is) ||
	    get_identity(dst, &id))
		goto out;
	if (memcmp(&is, &id, sizeof(is))) {
		ctl_err("migrate: %s has device %04x:%04x, %s has %04x:%04x (or their layouts differ): refusing",
			sp, is.vendor, is.device, dp, id.vendor, id.device);
		goto out;
	}
	if (fresh_stream(src, sp) ||
	    set_state(dst, dp, VFIO_USER_DEVICE_STATE_RESUMING))
		goto out;

	t0 = now();
	if (precopy && m.max_rounds) {
		r = vuc_mig_precopy(src, to_dst, round_done, &m,
				    &precopy_bytes);
		if (m.tty)
			fputc('\n', stderr);
		if (r < 0) {
			if (m.dst_err)
				ctl_dev_err(dst, "migrate: pre-copy into %s",
					    dp);
			else
				ctl_dev_err(src, "migrate: pre-copy from %s",
					    sp);
			goto out_resume_src;
		}
	}

	t_stop = now();
	if (set_state(src, sp, VFIO_USER_DEVICE_STATE_STOP_COPY))
		goto out_resume_src;
	r = vuc_mig_save(src, to_dst, &m, NULL);
	if (r) {
		if (m.dst_err)
			ctl_dev_err(dst, "migrate: stop-and-copy into %s", dp);
		else
			ctl_dev_err(src, "migrate: stop-and-copy from %s", sp);
		goto out_resume_src;
	}
	if (set_state(dst, dp, VFIO_USER_DEVICE_STATE_RUNNING))
		goto out_resume_src;
	t_run = now();
	/* The device runs at the destination now: the source stays stopped. */
	if (set_state(src, sp, VFIO_USER_DEVICE_STATE_STOP))
		goto out;
	printf("migrated %s -> %s: %llu bytes, %u pre-copy rounds (%llu bytes), stop-and-copy %llu bytes, downtime %.1f ms, total %.1f ms\n",
	       sp, dp, (unsigned long long)m.bytes, m.rounds,
	       (unsigned long long)precopy_bytes,
	       (unsigned long long)(m.bytes - precopy_bytes),
	       (t_run - t_stop) * 1e3, (t_run - t0) * 1e3);
	ret = CTL_EXIT_OK;
	goto out;

out_resume_src:
	if (vuc_mig_state(src) != VFIO_USER_DEVICE_STATE_ERROR &&
	    !vuc_mig_set_state(src, VFIO_USER_DEVICE_STATE_RUNNING))
		ctl_err("migrate: failed; the device runs at %s again", sp);
out:
	vuc_device_free(dst);
	vuc_device_free(src);
	return ret;
}

/* ---- save and load ---- */

struct file_sink {
	int fd;
	uint64_t len;
	uint64_t hash;
};

static int to_file(void *opaque, const void *buf, size_t len)
{
	struct file_sink *f = opaque;
	const uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(f->fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	f->len += len;
	f->hash = fnv(f->hash, buf, len);
	return 0;
}

/*
 * Usage text is laid out as it prints, one output line per source line;
 * clang-format would join the lines around the macros spliced into it.
 */
/* clang-format off */
void ctl_usage_save(FILE *out)
{
	fprintf(out,
		"Usage: " CTL_NAME " save SOCKET_PATH FILE\n"
		"Stop the device of the server at SOCKET_PATH and write its state to\n"
		"FILE (created or replaced), with a header naming the device. The\n"
		"device is left stopped.\n\n"
		CTL_COMMON_OPTIONS_HELP);
}
/* clang-format on */

int ctl_cmd_save(int argc, char **argv, struct ctl_opts *opts)
{
	struct file_sink f = { .fd = -1, .hash = FNV_OFFSET };
	struct file_header h = { .version = FILE_VERSION,
				 .header_size = sizeof(h) };
	struct vuc_device *dev;
	const char *path, *file;
	int first, ret = CTL_EXIT_FAILURE;

	first = parse(argc, argv, opts, "save", NULL, 2, ctl_usage_save);
	if (first < 0)
		return parse_result(first);
	path = argv[first];
	file = argv[first + 1];
	dev = ctl_connect(opts, path);
	if (!dev)
		return CTL_EXIT_FAILURE;
	if (check_migratable(dev, path, NULL) || get_identity(dev, &h.id))
		goto out;
	f.fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f.fd < 0) {
		ctl_err("save: %s: %s", file, strerror(errno));
		goto out;
	}
	memcpy(h.magic, FILE_MAGIC, sizeof(h.magic));
	/* The header is written last, once the stream is known. */
	if (lseek(f.fd, sizeof(h), SEEK_SET) != sizeof(h)) {
		ctl_err("save: %s: %s", file, strerror(errno));
		goto out;
	}
	if (fresh_stream(dev, path) ||
	    set_state(dev, path, VFIO_USER_DEVICE_STATE_STOP_COPY))
		goto out;
	if (vuc_mig_save(dev, to_file, &f, NULL)) {
		ctl_dev_err(dev, "save: %s to %s", path, file);
		goto out;
	}
	if (set_state(dev, path, VFIO_USER_DEVICE_STATE_STOP))
		goto out;
	h.stream_len = f.len;
	h.stream_fnv = f.hash;
	if (pwrite(f.fd, &h, sizeof(h), 0) != sizeof(h) || fsync(f.fd)) {
		ctl_err("save: %s: %s", file, strerror(errno));
		goto out;
	}
	printf("saved %s to %s: %llu bytes of device state (device %04x:%04x, left stopped)\n",
	       path, file, (unsigned long long)f.len, h.id.vendor, h.id.device);
	ret = CTL_EXIT_OK;
out:
	if (f.fd >= 0) {
		close(f.fd);
		if (ret)
			unlink(file);
	}
	vuc_device_free(dev);
	return ret;
}

/*
 * Usage text is laid out as it prints, one output line per source line;
 * clang-format would join the lines around the macros spliced into it.
 */
/* clang-format off */
void ctl_usage_load(FILE *out)
{
	fprintf(out,
		"Usage: " CTL_NAME " load SOCKET_PATH FILE\n"
		"Load the device state saved in FILE (by '" CTL_NAME " save') into the\n"
		"device of the server at SOCKET_PATH and run it. A file for another\n"
		"device, or a damaged one, is refused before the device sees it.\n\n"
		CTL_COMMON_OPTIONS_HELP);
}
/* clang-format on */

/* The whole file, checked; the stream starts at sizeof(header). */
static uint8_t *read_file(const char *file, struct file_header *h)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n = 0;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ctl_err("load: %s: %s", file, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *p =
				realloc(buf, cap = cap ? cap * 2 : 1 << 20);

			if (!p)
				break;
			buf = p;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (n < 0 || len == cap) {
		ctl_err("load: reading %s: %s", file,
			n < 0 ? strerror(errno) : "out of memory");
		free(buf);
		return NULL;
	}
	if (len < sizeof(*h) || memcmp(buf, FILE_MAGIC, 8)) {
		ctl_err("load: %s is not a saved device state (no " CTL_NAME
			" header)",
			file);
		goto bad;
	}
	memcpy(h, buf, sizeof(*h));
	if (h->version != FILE_VERSION || h->header_size != sizeof(*h)) {
		ctl_err("load: %s is of format version %u; this tool reads version %u",
			file, h->version, FILE_VERSION);
		goto bad;
	}
	if (h->stream_len != len - sizeof(*h) ||
	    h->stream_fnv !=
		    fnv(FNV_OFFSET, buf + sizeof(*h), len - sizeof(*h))) {
		ctl_err("load: %s is damaged: its length or checksum does not match its header",
			file);
		goto bad;
	}
	return buf;
bad:
	free(buf);
	return NULL;
}

int ctl_cmd_load(int argc, char **argv, struct ctl_opts *opts)
{
	struct vuc_device *dev = NULL;
	const char *path, *file;
	struct file_header h;
	struct identity id;
	uint8_t *buf;
	int first, ret = CTL_EXIT_FAILURE;

	first = parse(argc, argv, opts, "load", NULL, 2, ctl_usage_load);
	if (first < 0)
		return parse_result(first);
	path = argv[first];
	file = argv[first + 1];
	buf = read_file(file, &h);
	if (!buf)
		return CTL_EXIT_FAILURE;
	dev = ctl_connect(opts, path);
	if (!dev)
		goto out;
	if (check_migratable(dev, path, NULL) || get_identity(dev, &id))
		goto out;
	if (memcmp(&id, &h.id, sizeof(id))) {
		ctl_err("load: %s holds the state of device %04x:%04x (class 0x%06x, %u regions, %u irqs); %s has %04x:%04x (class 0x%06x, %u regions, %u irqs): refusing",
			file, h.id.vendor, h.id.device, h.id.class_rev >> 8,
			h.id.num_regions, h.id.num_irqs, path, id.vendor,
			id.device, id.class_rev >> 8, id.num_regions,
			id.num_irqs);
		goto out;
	}
	if (set_state(dev, path, VFIO_USER_DEVICE_STATE_RESUMING))
		goto out;
	if (vuc_mig_write(dev, buf + sizeof(h), h.stream_len)) {
		ctl_dev_err(dev, "load: %s into %s", file, path);
		goto out;
	}
	if (set_state(dev, path, VFIO_USER_DEVICE_STATE_RUNNING))
		goto out;
	printf("loaded %s into %s: %llu bytes of device state, device running\n",
	       file, path, (unsigned long long)h.stream_len);
	ret = CTL_EXIT_OK;
out:
	free(buf);
	vuc_device_free(dev);
	return ret;
}
