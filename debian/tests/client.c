// SPDX-License-Identifier: BSD-3-Clause
/*
 * A program written against the installed libvfio-user-client, built with
 * nothing but the flags of "pkg-config --cflags --libs vfio-user-client":
 *
 *	client [-k] SOCKET_PATH
 *
 * Connects to the vfio-user server at SOCKET_PATH (through /dev/vfio-user
 * with -k; otherwise as the library chooses), prints the device's region
 * and IRQ counts, the backend, and the 32-bit register at offset 0 of BAR0,
 * read with vuc_region_read() and, on the kernel backend, also with pread()
 * on the VFIO device fd.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vfio-user-client.h>

int main(int argc, char **argv)
{
	struct vuc_options opts = { .timeout_ms = VUC_DEFAULT_TIMEOUT_MS };
	const struct vfio_user_device_info *info;
	struct vuc_device *dev;
	uint32_t reg, reg2;
	const char *path;
	int ret, fd;

	if (argc == 3 && !strcmp(argv[1], "-k")) {
		opts.flags |= VUC_OPT_KERNEL;
		path = argv[2];
	} else if (argc == 2) {
		path = argv[1];
	} else {
		fprintf(stderr, "usage: client [-k] SOCKET_PATH\n");
		return 2;
	}

	dev = vuc_device_new(&opts);
	if (!dev) {
		fprintf(stderr, "client: vuc_device_new: %s\n", strerror(errno));
		return 1;
	}
	ret = vuc_connect(dev, path);
	if (ret < 0) {
		fprintf(stderr, "client: %s: %s\n", path, vuc_strerror(dev));
		goto fail;
	}
	info = vuc_get_device_info(dev);
	ret = (int)vuc_region_read(dev, VFIO_PCI_BAR0_REGION_INDEX, 0, &reg,
				   sizeof(reg));
	if (ret < 0) {
		fprintf(stderr, "client: BAR0 read: %s\n", vuc_strerror(dev));
		goto fail;
	}
	fd = vuc_device_fd(dev);
	if (fd >= 0) {
		if (pread(fd, &reg2, sizeof(reg2),
			  VFIO_USER_REGION_OFFSET(VFIO_PCI_BAR0_REGION_INDEX)) !=
		    sizeof(reg2)) {
			fprintf(stderr, "client: pread of BAR0: %s\n",
				strerror(errno));
			goto fail;
		}
		if (reg2 != reg) {
			fprintf(stderr, "client: pread of BAR0 gave 0x%08" PRIx32
				", vuc_region_read() 0x%08" PRIx32 "\n", reg2, reg);
			goto fail;
		}
	}
	printf("regions %" PRIu32 " irqs %" PRIu32 " backend %s bar0 0x%08" PRIx32 "\n",
	       info->num_regions, info->num_irqs, fd >= 0 ? "kernel" : "userspace",
	       reg);
	vuc_device_free(dev);
	return 0;
fail:
	vuc_device_free(dev);
	return 1;
}
