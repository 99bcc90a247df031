/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user-ctl: small helpers every file may use.
 */
#ifndef VFIO_USER_CTL_UTIL_H
#define VFIO_USER_CTL_UTIL_H

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* VFIO_USER_CTL_UTIL_H */
