// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl: what the sub-commands share.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

int ctl_common_option(struct ctl_opts *opts, int opt, const char *arg)
{
	unsigned long v;

	switch (opt) {
	case CTL_OPT_TIMEOUT_MS:
		/*
		 * 0 would mean "library default" to vuc_options, which is
		 * not what someone typing 0 expects; INT_MAX keeps the value
		 * valid for poll().
		 */
		if (parse_uint(arg, 1, INT_MAX, &v)) {
			ctl_err("--timeout-ms: '%s' is not a number of milliseconds between 1 and %d",
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

struct vuc_device *ctl_connect(const struct ctl_opts *opts,
			       const char *socket_path)
{
	struct vuc_device *dev;

	dev = vuc_device_new(&opts->vuc);
	if (!dev) {
		ctl_err("creating a device handle: %s", strerror(errno));
		return NULL;
	}
	if (vuc_connect(dev, socket_path) < 0) {
		/* The library's text names the path and the step that failed. */
		ctl_dev_err(dev, "attaching to the server");
		vuc_device_free(dev);
		return NULL;
	}
	return dev;
}
