// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl: what the sub-commands share.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"

/* A decimal number in [min, max], nothing else (no sign, no suffix). */
static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * --posted-writes: region indexes (0..31, not the config space) or PCI
 * names, comma-separated; "none" for no region.
 */
static int parse_regions(const char *arg, uint32_t *mask)
{
	static const char *const names[] = { "BAR0", "BAR1", "BAR2", "BAR3",
					     "BAR4", "BAR5", "ROM" };
	char buf[256], *tok, *save = NULL;
	unsigned long idx;
	size_t i;

	*mask = 0;
	if (!strcmp(arg, "none"))
		return 0;
	if (strlen(arg) >= sizeof(buf) || !*arg)
		return -1;
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcasecmp(tok, names[i]))
				break;
		if (i < sizeof(names) / sizeof(names[0]))
			idx = i;
		else if (parse_uint(tok, 0, 31, &idx))
			return -1;
		if (idx == VFIO_PCI_CONFIG_REGION_INDEX) {
			ctl_err("--posted-writes: region %lu is the PCI config space, whose writes are never posted; leave it out",
				idx);
			return -2;
		}
		*mask |= 1U << idx;
	}
	return 0;
}

int ctl_common_option(struct ctl_opts *opts, int opt, const char *arg)
{
	unsigned long v;
	int ret;

	switch (opt) {
	case CTL_OPT_TIMEOUT_MS:
		/*
		 * 0 would mean "library default" to vuc_options, which is
		 * not what someone typing 0 expects; INT_MAX keeps the value
		 * valid for poll().
		 */
		if (parse_uint(arg, 1, INT_MAX, &v)) {
			ctl_err("--timeout: '%s' is not a number of milliseconds between 1 and %d",
				arg, INT_MAX);
			return -1;
		}
		opts->vuc.timeout_ms = v;
		return 0;
	case CTL_OPT_NO_TWIN_SOCKET:
		opts->vuc.flags |= VUC_OPT_NO_TWIN_SOCKET;
		return 0;
	case CTL_OPT_USERSPACE:
		opts->vuc.flags |= VUC_OPT_USERSPACE;
		return 0;
	case CTL_OPT_NO_FD_SHARING:
		opts->vuc.flags |= VUC_OPT_NO_FD_SHARING;
		return 0;
	case CTL_OPT_FD:
		if (parse_uint(arg, 0, INT_MAX, &v)) {
			ctl_err("--fd: '%s' is not a file descriptor number",
				arg);
			return -1;
		}
		opts->fd = (int)v;
		return 0;
	case CTL_OPT_POSTED_WRITES:
		ret = parse_regions(arg, &opts->vuc.posted_write_regions);
		if (ret == -1)
			ctl_err("--posted-writes: '%s' is not a list of regions (indexes 0..31 or BAR0..BAR5, ROM, comma-separated; or 'none')",
				arg);
		return ret ? -1 : 0;
	default:
		return 1;
	}
}

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout); /* keep stderr after what was already printed */
	fputs(CTL_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void ctl_dev_err(const struct vuc_device *dev, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(CTL_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", vuc_strerror(dev));
}

const char *ctl_target(const struct ctl_opts *opts, const char *path,
		       char *label, size_t len)
{
	if (path)
		snprintf(label, len, "%s", path);
	else
		snprintf(label, len, "socket fd %d", opts->fd);
	return label;
}

struct vuc_device *ctl_connect(const struct ctl_opts *opts,
			       const char *socket_path)
{
	struct vuc_device *dev;
	int ret;

	if (socket_path && opts->fd >= 0) {
		ctl_err("--fd %d and a SOCKET_PATH: give one of them (--fd works with info only)",
			opts->fd);
		return NULL;
	}
	if ((opts->vuc.flags & VUC_OPT_USERSPACE) &&
	    opts->vuc.posted_write_regions) {
		ctl_err("--posted-writes needs the kernel: drop --userspace");
		return NULL;
	}

	dev = vuc_device_new(&opts->vuc);
	if (!dev) {
		ctl_err("creating a device handle: %s", strerror(errno));
		return NULL;
	}
	if (socket_path)
		ret = vuc_connect(dev, socket_path);
	else
		ret = vuc_connect_fd(dev, opts->fd);
	if (ret < 0) {
		/* The library's text names the path and the step that failed. */
		if (socket_path)
			ctl_dev_err(dev, "attaching to the server");
		else
			ctl_dev_err(
				dev,
				"attaching to the server on fd %d (is it a connected vfio-user socket?)",
				opts->fd);
		vuc_device_free(dev);
		return NULL;
	}
	return dev;
}
