/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user-ctl: formatting helpers for people (sizes, flag words).
 */
#ifndef VFIO_USER_CTL_FORMAT_H
#define VFIO_USER_CTL_FORMAT_H

#include <stdint.h>
#include <stdio.h>

/* Room for any fmt_size() result: "18446744073709551615" and a NUL. */
#define FMT_SIZE_LEN 24

/*
 * @v in the largest binary unit that divides it exactly ("4K", "1M",
 * "1536", "0"), as lspci prints BAR sizes: never rounded, so never wrong.
 * Returns @buf.
 */
const char *fmt_size(uint64_t v, char buf[FMT_SIZE_LEN]);

/* One named bit of a flag word; tables end with a NULL name. */
struct fmt_flag {
	uint64_t bit;
	const char *name;
};

/*
 * The names of the bits set in @flags, space-separated, then bits without
 * a name as "+0x...", then the raw value: "read write mmap (0x7)". "none
 * (0x0)" when no bit is set.
 */
void fmt_flags(FILE *out, uint64_t flags, const struct fmt_flag *names);

/* A mask of power-of-two sizes as a list: 0x201000 -> "4K 2M"; "none". */
void fmt_size_mask(FILE *out, uint64_t mask);

#endif /* VFIO_USER_CTL_FORMAT_H */
