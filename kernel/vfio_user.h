/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio-user client in the kernel: internal definitions.
 */
#ifndef _VFIO_USER_INTERNAL_H
#define _VFIO_USER_INTERNAL_H

#include <linux/kref.h>

/**
 * struct vfio_user_device - one open of /dev/vfio-user, one device connection
 * @kref: object lifetime; the open file holds one reference, later users
 *	(workers, the VFIO front-end) take their own
 * @timeout_ms: bound on every wait for the server, in milliseconds; starts
 *	at the module default and is immutable for now
 */
struct vfio_user_device {
	struct kref kref;
	unsigned int timeout_ms;
};

unsigned int vfio_user_default_timeout_ms(void);

#endif /* _VFIO_USER_INTERNAL_H */
