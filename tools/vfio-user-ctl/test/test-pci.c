// SPDX-License-Identifier: BSD-3-Clause
/*
 * Unit test of vfio-user-ctl's PCI config space decoder (pci.c) and
 * formatting helpers (format.c), without a server: a simulated device
 * whose BARs honour size masks, and config spaces a hostile server could
 * send (capability loops, bad pointers, truncated capabilities, BARs in
 * impossible places, random bytes). Build it with ASan/UBSan:
 *
 *   gcc -std=gnu11 -D_GNU_SOURCE -fsanitize=address,undefined \
 *	tools/vfio-user-ctl/test/test-pci.c tools/vfio-user-ctl/pci.c \
 *	tools/vfio-user-ctl/format.c -o test-pci
 *
 * KTAP output; exit status 0 if every test passed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/pci_regs.h>

#include "../format.h"
#include "../pci.h"
#include "../util.h"

/* ---- The simulated device ------------------------------------------------ */

#define SIM_ROM 6 /* index of the ROM BAR in sim.mask */

static struct {
	uint8_t cfg[PCI_CFG_EXT_SIZE];
	uint32_t mask[7]; /* writable bits of BAR0-5 and the ROM BAR */
	int fail_write; /* index of the write that fails, or -1 */
	int writes;
	int sticky; /* BAR that ignores writes once probed, or -1 */
	bool probed;
	bool decode_on_probe; /* a BAR got all-ones while decoding was on */
} sim;

static void put16(unsigned int off, uint16_t v)
{
	sim.cfg[off] = v;
	sim.cfg[off + 1] = v >> 8;
}

static void put32(unsigned int off, uint32_t v)
{
	put16(off, v);
	put16(off + 2, v >> 16);
}

static uint32_t get32(unsigned int off)
{
	return sim.cfg[off] | sim.cfg[off + 1] << 8 | sim.cfg[off + 2] << 16 |
	       (uint32_t)sim.cfg[off + 3] << 24;
}

static int bar_index(unsigned int off)
{
	if (off >= PCI_BASE_ADDRESS_0 && off <= PCI_BASE_ADDRESS_5)
		return (off - PCI_BASE_ADDRESS_0) / 4;
	if (off == PCI_ROM_ADDRESS)
		return SIM_ROM;
	return -1;
}

static int sim_read(void *ctx, unsigned int off, void *buf, size_t len)
{
	(void)ctx;
	if (off + len > sizeof(sim.cfg))
		return -EINVAL;
	memcpy(buf, sim.cfg + off, len);
	return 0;
}

/* BAR registers keep their read-only type bits and take only mask bits. */
static int sim_write(void *ctx, unsigned int off, const void *buf, size_t len)
{
	int i = bar_index(off);
	uint32_t v, old;

	(void)ctx;
	if (sim.writes++ == sim.fail_write)
		return -EIO;
	if (i < 0 || len != 4) {
		memcpy(sim.cfg + off, buf, len);
		return 0;
	}
	memcpy(&v, buf, 4);
	old = get32(off);
	if (i == sim.sticky && sim.probed)
		return 0;
	if (i == sim.sticky)
		sim.probed = true;
	if (v == 0xffffffff && (sim.cfg[PCI_COMMAND] & 3))
		sim.decode_on_probe = true;
	put32(off, (v & sim.mask[i]) | (old & ~sim.mask[i]));
	return 0;
}

static const struct pci_cfg_io sim_io = { sim_read, sim_write, NULL };

/*
 * A device like the sample one, and more: BAR0/1 4K, BAR2+3 a 64-bit 1M
 * prefetchable BAR, BAR4 32 bytes of I/O, a 64K ROM; capabilities MSI-X
 * (0x40), vendor (0x50), PM (0x60), MSI (0x70), Express (0x90), unknown
 * (0xc0).
 */
static void sim_reset(void)
{
	memset(&sim, 0, sizeof(sim));
	sim.fail_write = -1;
	sim.sticky = -1;
	put16(PCI_VENDOR_ID, 0x5655);
	put16(PCI_DEVICE_ID, 0x0001);
	put16(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	put16(PCI_STATUS, PCI_STATUS_CAP_LIST);
	sim.cfg[PCI_REVISION_ID] = 1;
	sim.cfg[PCI_CLASS_DEVICE + 1] = 0xff;
	put16(PCI_SUBSYSTEM_VENDOR_ID, 0x5655);
	put16(PCI_SUBSYSTEM_ID, 0x0100);
	sim.cfg[PCI_INTERRUPT_PIN] = 1;

	put32(PCI_BASE_ADDRESS_0, 0xfe000000);
	sim.mask[0] = ~0xfffu;
	put32(PCI_BASE_ADDRESS_1, 0xfe001000);
	sim.mask[1] = ~0xfffu;
	put32(PCI_BASE_ADDRESS_2,
	      PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	sim.mask[2] = ~0xfffffu;
	put32(PCI_BASE_ADDRESS_3, 0);
	sim.mask[3] = 0xffffffff;
	put32(PCI_BASE_ADDRESS_4, 0xc000 | PCI_BASE_ADDRESS_SPACE_IO);
	sim.mask[4] = ~0x1fu;
	sim.mask[SIM_ROM] = 0xffff0001;

	sim.cfg[PCI_CAPABILITY_LIST] = 0x40;
	sim.cfg[0x40] = PCI_CAP_ID_MSIX;
	sim.cfg[0x41] = 0x50;
	put16(0x42, 3);
	put32(0x44, 1);
	put32(0x48, 0x801);
	sim.cfg[0x50] = PCI_CAP_ID_VNDR;
	sim.cfg[0x51] = 0x60;
	sim.cfg[0x52] = 8;
	sim.cfg[0x60] = PCI_CAP_ID_PM;
	sim.cfg[0x61] = 0x70;
	put16(0x62, 0xc803);
	put16(0x64, PCI_PM_CTRL_NO_SOFT_RESET);
	sim.cfg[0x70] = PCI_CAP_ID_MSI;
	sim.cfg[0x71] = 0x90;
	put16(0x72, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
	sim.cfg[0x90] = PCI_CAP_ID_EXP;
	sim.cfg[0x91] = 0xc0;
	put16(0x92, 2);
	put32(0x94, PCI_EXP_DEVCAP_FLR | 1);
	put16(0x98, 0x2810);
	put32(0x9c, 0x43);
	put16(0xa2, 0x1043);
	sim.cfg[0xc0] = 0x42;
}

/* ---- Running the decoder ------------------------------------------------- */

static struct pci_cfg cfg;
static char *text; /* pci_print() output of the last decode() */
static char what[64];

/* Print @cfg into @text. */
static void reprint(void)
{
	size_t len;
	FILE *f;

	free(text);
	f = open_memstream(&text, &len);
	if (!f)
		abort();
	pci_print(f, &cfg);
	fclose(f);
}

/* Snapshot @size bytes, size the BARs unless told not to, print. */
static int decode(size_t size, bool size_bars)
{
	int err = 0;

	pci_cfg_init(&cfg, sim.cfg, size);
	what[0] = '\0';
	if (size_bars)
		err = pci_size_bars(&cfg, &sim_io, what, sizeof(what));
	reprint();
	return err;
}

/* ---- KTAP ---------------------------------------------------------------- */

static unsigned int nr_tests, nr_failed;

static bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %u ", ok ? "" : "not ", ++nr_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		nr_failed++;
	return ok;
}

/* @s with newlines and tabs as \n and \t, to fit on a KTAP line. */
static const char *escaped(const char *s)
{
	static char buf[512];
	size_t n = 0;

	for (; *s && n + 3 < sizeof(buf); s++) {
		if (*s == '\n' || *s == '\t') {
			buf[n++] = '\\';
			buf[n++] = *s == '\n' ? 'n' : 't';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* The last decode printed @needle (else show what it printed). */
static void has(const char *needle)
{
	if (check(strstr(text, needle), "prints \"%s\"", escaped(needle)))
		return;
	printf("# output was:\n");
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		printf("# | %.*s\n", n, p);
		p += n + (nl != NULL);
	}
}

static void hasnt(const char *needle)
{
	check(!strstr(text, needle), "does not print \"%s\"", escaped(needle));
}

/* ---- Tests --------------------------------------------------------------- */

static void test_normal(void)
{
	uint8_t before[PCI_CFG_STD_SIZE];
	int err;

	sim_reset();
	memcpy(before, sim.cfg, sizeof(before));
	err = decode(PCI_CFG_STD_SIZE, true);
	check(err == 0, "sizing succeeds (%d, %s)", err, what);
	check(!memcmp(before, sim.cfg, sizeof(before)),
	      "sizing leaves the config space as it found it");
	check(!sim.decode_on_probe, "decoding is off while BARs hold all-ones");
	has("Device:      5655:0001, revision 01");
	has("Subsystem:   5655:0100");
	has("Class:       ff0000 (Unassigned class;");
	has("Control: I/O- Mem+ BusMaster+");
	has("Interrupt: pin A routed to IRQ 0");
	has("BAR0: Memory at fe000000 (32-bit, non-prefetchable) [size=4K]\n");
	has("BAR1: Memory at fe001000 (32-bit, non-prefetchable) [size=4K]\n");
	has("BAR2: Memory at <unassigned> (64-bit, prefetchable) [size=1M]\n");
	hasnt("BAR3");
	has("BAR4: I/O ports at c000 [size=32]\n");
	has("Expansion ROM at <unassigned> [disabled] [size=64K]\n");
	has("[40] MSI-X: Enable- Count=4 Masked-\n");
	has("Vector table: BAR=1 offset=00000000\n");
	has("PBA: BAR=1 offset=00000800\n");
	has("[50] Vendor Specific Information: Len=08\n\t\t50: 09 60 08 00");
	has("[60] Power Management version 3\n");
	has("Status: D0 NoSoftRst+");
	has("[70] MSI: Enable- Count=1/1 Maskable+ 64bit+\n");
	has("Masking: 00000000  Pending: 00000000");
	has("[90] Express (v2) Endpoint, MSI 00\n");
	has("DevCap: MaxPayload 256 bytes, PhantFunc 0, FLReset+");
	has("LnkCap: Port #0, Speed 8GT/s, Width x4");
	has("LnkSta: Speed 8GT/s, Width x4");
	has("[c0] Unknown capability 0x42\n");
	hasnt("INVALID");
	hasnt("WARNING");
}

static void test_no_sizing(void)
{
	sim_reset();
	decode(PCI_CFG_STD_SIZE, false);
	cfg.bars[0].region_size = 0x1000;
	cfg.bars[0].has_region_size = true;
	reprint();
	has("BAR0: Memory at fe000000 (32-bit, non-prefetchable) [size=4K, from the region, not sized]");
	has("BAR4: I/O ports at c000 [size unknown]");
}

static void test_region_mismatch(void)
{
	sim_reset();
	decode(PCI_CFG_STD_SIZE, true);
	cfg.bars[1].region_size = 0x2000;
	cfg.bars[1].has_region_size = true;
	reprint();
	has("[size=4K] (MISMATCH: the region is 8K)");
}

static void test_big_64bit_bar(void)
{
	sim_reset();
	sim.mask[2] = 0; /* low half: no address bits */
	sim.mask[3] = 0xfffffffe; /* 8G */
	decode(PCI_CFG_STD_SIZE, true);
	has("BAR2: Memory at <unassigned> (64-bit, prefetchable) [size=8G]");
}

/* A server that keeps the all-ones: sizing says it could not restore. */
static void test_not_restored(void)
{
	sim_reset();
	sim.sticky = 1;
	decode(PCI_CFG_STD_SIZE, true);
	has("BAR1: Memory at fe001000 (32-bit, non-prefetchable) [size=4K] (WARNING: value not restored after sizing)");
	hasnt("BAR0: Memory at fe000000 (32-bit, non-prefetchable) [size=4K] (WARNING");
}

static void test_write_failure(void)
{
	uint8_t before[PCI_CFG_STD_SIZE];
	int err;

	sim_reset();
	memcpy(before, sim.cfg, sizeof(before));
	/* Writes: 0 command off, 1-2 BAR0 probe/restore, 3 BAR1 probe. */
	sim.fail_write = 3;
	err = decode(PCI_CFG_STD_SIZE, true);
	check(err == -EIO, "a failed write fails sizing (%d)", err);
	check(!strcmp(what, "sizing BAR1"), "and names the BAR (%s)", what);
	check(!memcmp(before, sim.cfg, sizeof(before)),
	      "everything touched is restored, the command register too");
	has("BAR0: Memory at fe000000 (32-bit, non-prefetchable) [size=4K]");
	has("BAR2: Memory at <unassigned> (64-bit, prefetchable) [size unknown]");
}

static void test_cap_loop(void)
{
	sim_reset();
	sim.cfg[0xc1] = 0x40;
	decode(PCI_CFG_STD_SIZE, false);
	has("[c0] Unknown capability 0x42\n\tCapabilities: [LOOP: back to 40]\n");
}

static void test_self_loop(void)
{
	sim_reset();
	sim.cfg[0x41] = 0x40;
	decode(PCI_CFG_STD_SIZE, false);
	has("[40] MSI-X");
	has("[LOOP: back to 40]");
	hasnt("[50]");
}

static void test_bad_pointers(void)
{
	sim_reset();
	sim.cfg[0x51] = 0x61;
	decode(PCI_CFG_STD_SIZE, false);
	has("[50] Vendor Specific");
	has("Capabilities: [INVALID pointer 0x61]");

	sim_reset();
	sim.cfg[PCI_CAPABILITY_LIST] = 0x20;
	decode(PCI_CFG_STD_SIZE, false);
	has("Capabilities: [INVALID pointer 0x20]");
	hasnt("MSI-X");

	sim_reset();
	put16(PCI_STATUS, 0);
	decode(PCI_CFG_STD_SIZE, false);
	has("Capabilities: none");
}

static void test_short_config(void)
{
	sim_reset();
	decode(0x52, false);
	has("[40] MSI-X");
	has("Capabilities: [INVALID pointer 0x50]");

	sim_reset();
	decode(0x30, true);
	has("not decoded");
}

static void test_bad_vendor_cap(void)
{
	sim_reset();
	sim.cfg[0x52] = 0xff;
	decode(PCI_CFG_STD_SIZE, false);
	has("Len=ff (INVALID: runs past the end of config space; showing 176)");

	sim_reset();
	sim.cfg[0x52] = 2;
	decode(PCI_CFG_STD_SIZE, false);
	has("Len=02 (INVALID: shorter than its own header)");
}

static void test_truncated_cap(void)
{
	sim_reset();
	sim.cfg[0xc1] = 0xfc;
	sim.cfg[0xfc] = PCI_CAP_ID_EXP;
	decode(PCI_CFG_STD_SIZE, false);
	has("[fc] Express");
	has("[truncated: needs 12 bytes, only 4 left in config space]");
}

static void test_msix_outside_bar(void)
{
	sim_reset();
	put16(0x42, PCI_MSIX_FLAGS_QSIZE); /* 2048 vectors */
	put32(0x48, 0x7ff801);
	decode(PCI_CFG_STD_SIZE, true);
	has("Count=2048");
	has("Vector table: BAR=1 offset=00000000 (INVALID: 32768 bytes do not fit in BAR1 of 4K)");
	has("PBA: BAR=1 offset=007ff800 (INVALID: 256 bytes do not fit in BAR1 of 4K)");

	sim_reset();
	put32(0x44, 3); /* BAR3: upper half of BAR2 */
	put32(0x48, 7); /* BIR 7: reserved */
	decode(PCI_CFG_STD_SIZE, true);
	has("Vector table: BAR=3 offset=00000000 (INVALID: no such BAR)");
	has("PBA: BAR=7 offset=00000000 (INVALID: no such BAR)");
}

static void test_64bit_last_bar(void)
{
	sim_reset();
	put32(PCI_BASE_ADDRESS_5, PCI_BASE_ADDRESS_MEM_TYPE_64);
	sim.mask[5] = ~0xfffu;
	decode(PCI_CFG_STD_SIZE, true);
	has("BAR5: Memory at <unassigned> (64-bit, non-prefetchable) [size=4K] (INVALID: 64-bit BAR in the last slot)");
}

static void test_48_caps(void)
{
	unsigned int off;

	/* The longest legal list: every dword from 0x40 to 0xfc. */
	sim_reset();
	for (off = 0x40; off < PCI_CFG_STD_SIZE; off += 4) {
		sim.cfg[off] = 0x42;
		sim.cfg[off + 1] = off + 4 < PCI_CFG_STD_SIZE ? off + 4 : 0;
	}
	decode(PCI_CFG_STD_SIZE, false);
	has("[40] Unknown");
	has("[fc] Unknown");
	hasnt("stopped");
	hasnt("LOOP");
}

static void test_ext_caps(void)
{
	sim_reset();
	put32(0x100, 0x14010001); /* AER v1, next 0x140 */
	put32(0x140, 0x0001000b); /* vendor v1, end */
	decode(PCI_CFG_EXT_SIZE, false);
	has("[100 v1] Advanced Error Reporting\n\tCapabilities: [140 v1] Vendor Specific Information\n");

	put32(0x140, 0x1001000b); /* back to 0x100 */
	decode(PCI_CFG_EXT_SIZE, false);
	has("[LOOP: back to 100]");

	put32(0x140, 0x0421000b); /* misaligned 0x42 */
	decode(PCI_CFG_EXT_SIZE, false);
	has("[INVALID pointer 0x042]");

	/* No Express capability: the extended space is not looked at. */
	sim.cfg[0x71] = 0;
	decode(PCI_CFG_EXT_SIZE, false);
	hasnt("[100");
}

static void test_formats(void)
{
	char buf[FMT_SIZE_LEN];
	static const struct {
		uint64_t v;
		const char *s;
	} sizes[] = {
		{ 0, "0" },
		{ 100, "100" },
		{ 1536, "1536" },
		{ 4096, "4K" },
		{ 0x100000, "1M" },
		{ 0x100400, "1025K" },
		{ 3ULL << 30, "3G" },
		{ 1ULL << 63, "8E" },
		{ UINT64_MAX, "18446744073709551615" },
	};
	static const struct fmt_flag names[] = {
		{ 1, "read" },
		{ 2, "write" },
		{ 0, NULL },
	};
	unsigned int i;
	size_t len;
	FILE *f;

	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		check(!strcmp(fmt_size(sizes[i].v, buf), sizes[i].s),
		      "fmt_size(%#llx) is %s (%s)",
		      (unsigned long long)sizes[i].v, sizes[i].s, buf);

	free(text);
	f = open_memstream(&text, &len);
	fmt_size_mask(f, 0x201000);
	fputc('|', f);
	fmt_size_mask(f, 0);
	fputc('|', f);
	fmt_flags(f, 0, names);
	fputc('|', f);
	fmt_flags(f, 0x13, names);
	fclose(f);
	has("4K 2M|none|none (0x0)|read write +0x10 (0x13)");
}

/* Random config spaces: whatever they hold, nothing reads out of bounds. */
static void test_fuzz(void)
{
	unsigned int i, j, seed = 1;
	size_t size;

	for (i = 0; i < 5000; i++) {
		sim_reset();
		for (j = 0; j < PCI_CFG_EXT_SIZE; j++)
			sim.cfg[j] = rand_r(&seed);
		put16(PCI_STATUS, sim.cfg[PCI_STATUS] | PCI_STATUS_CAP_LIST);
		/* Steer some pointers to plausible places. */
		if (i % 2)
			sim.cfg[PCI_CAPABILITY_LIST] &= 0xfc;
		for (j = 0; j < 7; j++)
			sim.mask[j] = rand_r(&seed);
		size = i % 3 ? PCI_CFG_STD_SIZE :
			       (size_t)(rand_r(&seed) % PCI_CFG_EXT_SIZE + 1);
		if (i % 5 == 0)
			size = PCI_CFG_EXT_SIZE;
		decode(size, i % 2);
	}
	check(true, "5000 random config spaces decode without a fault");
}

int main(void)
{
	printf("TAP version 13\n");
	test_normal();
	test_no_sizing();
	test_region_mismatch();
	test_big_64bit_bar();
	test_not_restored();
	test_write_failure();
	test_cap_loop();
	test_self_loop();
	test_bad_pointers();
	test_short_config();
	test_bad_vendor_cap();
	test_truncated_cap();
	test_msix_outside_bar();
	test_64bit_last_bar();
	test_48_caps();
	test_ext_caps();
	test_formats();
	test_fuzz();
	printf("1..%u\n", nr_tests);
	free(text);
	printf("# %u passed, %u failed\n", nr_tests - nr_failed, nr_failed);
	return nr_failed ? 1 : 0;
}
