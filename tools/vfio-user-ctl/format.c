// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl: formatting helpers for people.
 */
#include <inttypes.h>
#include <stdbool.h>

#include "format.h"

const char *fmt_size(uint64_t v, char buf[FMT_SIZE_LEN])
{
	static const char units[] = "KMGTPE";
	unsigned int u = 0;

	/* Climb while the next unit still divides exactly. */
	while (v && !(v & 1023) && units[u]) {
		v >>= 10;
		u++;
	}
	if (u)
		snprintf(buf, FMT_SIZE_LEN, "%" PRIu64 "%c", v, units[u - 1]);
	else
		snprintf(buf, FMT_SIZE_LEN, "%" PRIu64, v);
	return buf;
}

void fmt_flags(FILE *out, uint64_t flags, const struct fmt_flag *names)
{
	uint64_t unnamed = flags;
	bool first = true;

	for (; names->name; names++) {
		if (!(flags & names->bit))
			continue;
		fprintf(out, "%s%s", first ? "" : " ", names->name);
		unnamed &= ~names->bit;
		first = false;
	}
	if (unnamed) {
		fprintf(out, "%s+0x%" PRIx64, first ? "" : " ", unnamed);
		first = false;
	}
	fprintf(out, "%s(0x%" PRIx64 ")", first ? "none " : " ", flags);
}

void fmt_size_mask(FILE *out, uint64_t mask)
{
	char buf[FMT_SIZE_LEN];
	bool first = true;
	unsigned int bit;

	for (bit = 0; bit < 64; bit++) {
		if (!(mask & (UINT64_C(1) << bit)))
			continue;
		fprintf(out, "%s%s", first ? "" : " ",
			fmt_size(UINT64_C(1) << bit, buf));
		first = false;
	}
	if (first)
		fputs("none", out);
}
