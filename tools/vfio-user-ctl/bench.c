// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl bench: doorbell writes per second, the same register
 * written three ways in one run: signalled by the kernel through the
 * server's ioeventfd, sent as REGION_WRITE waiting for each reply, and
 * sent as posted REGION_WRITE. The doorbell is the first ioeventfd
 * sub-region the server offers. Figures are printed, never asserted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

struct doorbell {
	unsigned int region;
	uint64_t offset;
	uint64_t value;
	size_t width;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int find_doorbell(struct vuc_device *dev, struct doorbell *db)
{
	const struct vfio_user_device_info *info = vuc_get_device_info(dev);
	unsigned int i, j;

	for (i = 0; i < info->num_regions; i++) {
		const struct vuc_region *r = vuc_get_region(dev, i);

		for (j = 0; r && j < r->nr_io_fds; j++) {
			const struct vuc_io_fd *io = &r->io_fds[j];

			if (io->type != VFIO_USER_IO_FD_TYPE_IOEVENTFD)
				continue;
			db->region = i;
			db->offset = io->offset;
			db->width = io->size ? io->size : 4;
			db->value = io->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH ?
				    io->datamatch : 1;
			return 0;
		}
	}
	return -ENOENT;
}

/* Writes per second of @db for @seconds through a fresh connection. */
static int measure(const struct ctl_opts *base, const char *path,
		   unsigned int flags, uint32_t posted, const struct doorbell *db,
		   double seconds, double *rate)
{
	struct ctl_opts o = *base;
	struct vuc_device *dev;
	uint64_t n = 0;
	double t0, t;
	int fd, ret = 0;

	o.vuc.flags |= flags | VUC_OPT_KERNEL;
	o.vuc.posted_write_regions = posted;
	dev = ctl_connect(&o, path);
	if (!dev)
		return -1;
	fd = vuc_device_fd(dev);
	t0 = now();
	do {
		unsigned int i;

		for (i = 0; i < 256; i++, n++) {
			if (pwrite(fd, &db->value, db->width,
				   (off_t)(VFIO_USER_REGION_OFFSET(db->region) +
					   db->offset)) != (ssize_t)db->width) {
				ctl_err("bench: doorbell write: %s", strerror(errno));
				ret = -1;
				break;
			}
		}
		t = now() - t0;
	} while (!ret && t < seconds);
	/* A read waits for every posted write before it to be served. */
	if (!ret && posted) {
		uint32_t v;

		vuc_region_read(dev, db->region, 0, &v, sizeof(v));
		t = now() - t0;
	}
	*rate = n / t;
	vuc_device_free(dev);
	return ret;
}

void ctl_usage_bench(FILE *out)
{
	fprintf(out,
		"Usage: " CTL_NAME " bench [--seconds N] SOCKET_PATH\n"
		"Measure doorbell writes per second through the kernel, three ways:\n"
		"the server's ioeventfd, REGION_WRITE, posted REGION_WRITE.\n"
		"Needs /dev/vfio-user and a server that offers an ioeventfd.\n\n"
		"  --seconds N        measure each way for N seconds (default 1)\n"
		CTL_COMMON_OPTIONS_HELP);
}

int ctl_cmd_bench(int argc, char **argv, struct ctl_opts *opts)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		CTL_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	double seconds = 1, ioev, msg, posted;
	struct vuc_device *dev;
	struct doorbell db;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds > 0 && seconds <= 600)) {
				ctl_err("--seconds: '%s' is not between 0 and 600", optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'h':
			ctl_usage_bench(stdout);
			return CTL_EXIT_OK;
		default:
			if (ctl_common_option(opts, opt, optarg) == 0)
				break;
			fputs("Try '" CTL_NAME " help bench'.\n", stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		ctl_err("bench: %s", optind == argc ? "missing SOCKET_PATH" :
			"too many arguments");
		return CTL_EXIT_USAGE;
	}

	dev = ctl_connect(opts, argv[optind]);
	if (!dev)
		return CTL_EXIT_FAILURE;
	if (find_doorbell(dev, &db)) {
		ctl_err("bench: the server offers no ioeventfd sub-region to use as a doorbell");
		vuc_device_free(dev);
		return CTL_EXIT_FAILURE;
	}
	vuc_device_free(dev);

	if (measure(opts, argv[optind], 0, 0, &db, seconds, &ioev) ||
	    measure(opts, argv[optind], VUC_OPT_NO_IO_FDS, 0, &db, seconds, &msg) ||
	    measure(opts, argv[optind], VUC_OPT_NO_IO_FDS, 1U << db.region, &db,
		    seconds, &posted))
		return CTL_EXIT_FAILURE;

	printf("Doorbell: region %u offset 0x%llx, %zu-byte writes, %.1f s each way\n",
	       db.region, (unsigned long long)db.offset, db.width, seconds);
	printf("  ioeventfd (kernel signals, no message)  %12.0f writes/s\n", ioev);
	printf("  REGION_WRITE, waiting for each reply     %12.0f writes/s\n", msg);
	printf("  REGION_WRITE, posted                     %12.0f writes/s\n", posted);
	printf("  ioeventfd / REGION_WRITE: %.1fx; posted / REGION_WRITE: %.1fx\n",
	       ioev / msg, posted / msg);
	return CTL_EXIT_OK;
}
