// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl: PCI configuration space decoding, lspci -vv style.
 *
 * Everything here reads the snapshot through rd8()/rd16()/rd32(), which
 * return 0 outside the bytes that were read, so a hostile pointer can at
 * worst produce a wrong line, never a wrong memory access. Decoders still
 * check that their registers fit, to say so instead of printing zeros.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <linux/pci_regs.h>

#include "format.h"
#include "pci.h"
#include "util.h"

/*
 * Capability pointers live in dwords 0x40..0xfc: at most 48 distinct
 * capabilities, so a longer walk is a loop.
 */
#define PCI_MAX_CAPS 48
#define PCI_CAP_FIRST PCI_STD_HEADER_SIZEOF
#define PCI_EXT_CAP_FIRST PCI_CFG_STD_SIZE
#define PCI_MAX_EXT_CAPS ((PCI_CFG_EXT_SIZE - PCI_CFG_STD_SIZE) / 4)

/* ---- Reading the snapshot -------------------------------------------- */

/* Config space is little-endian whatever the host is: assemble bytes. */
static uint8_t rd8(const struct pci_cfg *cfg, unsigned int off)
{
	return off < cfg->size ? cfg->data[off] : 0;
}

static uint16_t rd16(const struct pci_cfg *cfg, unsigned int off)
{
	return rd8(cfg, off) | (uint16_t)rd8(cfg, off + 1) << 8;
}

static uint32_t rd32(const struct pci_cfg *cfg, unsigned int off)
{
	return rd16(cfg, off) | (uint32_t)rd16(cfg, off + 2) << 16;
}

static uint8_t header_type(const struct pci_cfg *cfg)
{
	return rd8(cfg, PCI_HEADER_TYPE) & PCI_HEADER_TYPE_MASK;
}

/* ---- BARs ------------------------------------------------------------- */

static void decode_bar(struct pci_cfg *cfg, unsigned int i)
{
	struct pci_bar *b = &cfg->bars[i];
	struct pci_bar *hi;

	b->raw = rd32(cfg, PCI_BASE_ADDRESS_0 + 4 * i);
	if (b->raw & PCI_BASE_ADDRESS_SPACE_IO) {
		b->io = true;
		b->addr = b->raw & (uint32_t)PCI_BASE_ADDRESS_IO_MASK;
		return;
	}
	b->prefetch = b->raw & PCI_BASE_ADDRESS_MEM_PREFETCH;
	b->addr = b->raw & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
	if ((b->raw & PCI_BASE_ADDRESS_MEM_TYPE_MASK) !=
	    PCI_BASE_ADDRESS_MEM_TYPE_64)
		return;
	b->is64 = true;
	if (i + 1 >= cfg->nr_bars) {
		b->no_upper = true;
		return;
	}
	hi = &cfg->bars[i + 1];
	hi->upper = true;
	hi->raw = rd32(cfg, PCI_BASE_ADDRESS_0 + 4 * (i + 1));
	b->addr |= (uint64_t)hi->raw << 32;
}

void pci_cfg_init(struct pci_cfg *cfg, const void *data, size_t size)
{
	unsigned int i;

	memset(cfg, 0, sizeof(*cfg));
	if (size > sizeof(cfg->data))
		size = sizeof(cfg->data);
	memcpy(cfg->data, data, size);
	cfg->size = size;

	/* Without the whole header the BAR registers mean nothing. */
	if (size < PCI_STD_HEADER_SIZEOF)
		return;
	switch (header_type(cfg)) {
	case PCI_HEADER_TYPE_NORMAL:
		cfg->nr_bars = 6;
		cfg->rom_reg = PCI_ROM_ADDRESS;
		break;
	case PCI_HEADER_TYPE_BRIDGE:
		cfg->nr_bars = 2;
		cfg->rom_reg = PCI_ROM_ADDRESS1;
		break;
	case PCI_HEADER_TYPE_CARDBUS:
		cfg->nr_bars = 1;
		break;
	}
	for (i = 0; i < cfg->nr_bars; i++) {
		if (cfg->bars[i].upper)
			continue;
		decode_bar(cfg, i);
	}
	if (cfg->rom_reg) {
		cfg->rom.raw = rd32(cfg, cfg->rom_reg);
		cfg->rom.addr = cfg->rom.raw & PCI_ROM_ADDRESS_MASK;
	}
}

/* ---- Sizing the BARs on the live device ------------------------------ */

static int io_rd(const struct pci_cfg_io *io, unsigned int off, uint32_t *v,
		 size_t len)
{
	uint8_t b[4] = { 0 };
	int err;

	err = io->read(io->ctx, off, b, len);
	if (err)
		return err;
	*v = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	     (uint32_t)b[3] << 24;
	return 0;
}

static int io_wr(const struct pci_cfg_io *io, unsigned int off, uint32_t v,
		 size_t len)
{
	uint8_t b[4] = { v, v >> 8, v >> 16, v >> 24 };

	return io->write(io->ctx, off, b, len);
}

/* The size a BAR decodes: the lowest address bit that stuck. */
static uint64_t size_from_mask(uint64_t mask)
{
	return mask & (~mask + 1);
}

/*
 * Write @probe[i] to the @n (1 or 2) dwords at @regs[i], read them back into
 * @rb, and restore the original values. Both halves of a 64-bit BAR hold
 * all-ones at the same time, as Linux does it, so that a device which
 * latches the pair together sizes correctly. Every register written is
 * written back, even after a failure; @not_restored says if one then reads
 * differently from before.
 */
static int probe_regs(const struct pci_cfg_io *io, const unsigned int *regs,
		      const uint32_t *probe, unsigned int n, uint32_t *rb,
		      bool *not_restored)
{
	uint32_t orig[2], now;
	unsigned int i, written = 0;
	int err = 0, err2;

	for (i = 0; i < n; i++) {
		err = io_rd(io, regs[i], &orig[i], 4);
		if (err)
			return err; /* nothing written yet */
	}
	for (i = 0; i < n && !err; i++) {
		written++; /* a failed write may still have landed */
		err = io_wr(io, regs[i], probe[i], 4);
	}
	for (i = 0; i < n && !err; i++)
		err = io_rd(io, regs[i], &rb[i], 4);

	for (i = 0; i < written; i++) {
		err2 = io_wr(io, regs[i], orig[i], 4);
		if (!err2)
			err2 = io_rd(io, regs[i], &now, 4);
		if (!err2 && now != orig[i])
			*not_restored = true;
		if (!err)
			err = err2;
	}
	return err;
}

static int size_bar(struct pci_cfg *cfg, const struct pci_cfg_io *io,
		    unsigned int i)
{
	struct pci_bar *b = &cfg->bars[i];
	unsigned int regs[2] = { PCI_BASE_ADDRESS_0 + 4 * i,
				 PCI_BASE_ADDRESS_0 + 4 * (i + 1) };
	const uint32_t ones[2] = { 0xffffffff, 0xffffffff };
	uint32_t rb[2] = { 0, 0 };
	bool pair = b->is64 && !b->no_upper;
	uint64_t mask;
	int err;

	err = probe_regs(io, regs, ones, pair ? 2 : 1, rb, &b->not_restored);
	if (err)
		return err;
	if (b->io)
		mask = rb[0] & (uint32_t)PCI_BASE_ADDRESS_IO_MASK;
	else
		mask = ((uint64_t)rb[1] << 32) |
		       (rb[0] & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
	b->size = size_from_mask(mask);
	b->sized = true;
	return 0;
}

static int size_rom(struct pci_cfg *cfg, const struct pci_cfg_io *io)
{
	/* All address bits, enable bit clear: no ROM decode while probing. */
	const uint32_t probe = PCI_ROM_ADDRESS_MASK;
	uint32_t rb = 0;
	int err;

	err = probe_regs(io, &cfg->rom_reg, &probe, 1, &rb,
			 &cfg->rom.not_restored);
	if (err)
		return err;
	cfg->rom.size = size_from_mask(rb & PCI_ROM_ADDRESS_MASK);
	cfg->rom.sized = true;
	return 0;
}

static int size_all(struct pci_cfg *cfg, const struct pci_cfg_io *io,
		    char *what, size_t what_len)
{
	unsigned int i;
	int err;

	for (i = 0; i < cfg->nr_bars; i++) {
		if (cfg->bars[i].upper)
			continue;
		err = size_bar(cfg, io, i);
		if (err) {
			snprintf(what, what_len, "sizing BAR%u", i);
			return err;
		}
	}
	if (cfg->rom_reg) {
		err = size_rom(cfg, io);
		if (err) {
			snprintf(what, what_len,
				 "sizing the expansion ROM BAR");
			return err;
		}
	}
	return 0;
}

int pci_size_bars(struct pci_cfg *cfg, const struct pci_cfg_io *io, char *what,
		  size_t what_len)
{
	const uint32_t decode = PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
	uint32_t cmd;
	int err, err2;

	if (!cfg->nr_bars && !cfg->rom_reg)
		return 0;
	err = io_rd(io, PCI_COMMAND, &cmd, 2);
	if (err) {
		snprintf(what, what_len, "reading the command register");
		return err;
	}
	/*
	 * While a BAR holds all-ones the device would claim addresses it does
	 * not own: turn decoding off first, as the PCI specification asks.
	 */
	if (cmd & decode) {
		err = io_wr(io, PCI_COMMAND, cmd & ~decode, 2);
		if (err)
			snprintf(what, what_len,
				 "disabling decoding in the command register");
	}
	if (!err)
		err = size_all(cfg, io, what, what_len);
	if (cmd & decode) {
		err2 = io_wr(io, PCI_COMMAND, cmd, 2);
		if (err2 && !err) {
			snprintf(what, what_len,
				 "restoring the command register");
			err = err2;
		}
	}
	return err;
}

/* ---- Printing helpers --------------------------------------------------- */

/* lspci's "Name+" / "Name-" flag notation. */
static void plus_minus(FILE *out, const char *name, bool on)
{
	fprintf(out, " %s%c", name, on ? '+' : '-');
}

static void hexdump_at(FILE *out, const uint8_t *base, size_t start, size_t len,
		       const char *indent)
{
	size_t i;

	for (i = 0; i < len; i++) {
		size_t off = start + i;

		if (i == 0 || off % 16 == 0)
			fprintf(out, "%s%s%02zx:", i ? "\n" : "", indent, off);
		fprintf(out, " %02x", base[off]);
	}
	if (len)
		fputc('\n', out);
}

void pci_hexdump(FILE *out, const uint8_t *data, size_t len, const char *indent)
{
	hexdump_at(out, data, 0, len, indent);
}

/* ---- The header --------------------------------------------------------- */

const char *pci_class_name(uint8_t base_class)
{
	static const char *const names[] = {
		[0x00] = "Unclassified device",
		[0x01] = "Mass storage controller",
		[0x02] = "Network controller",
		[0x03] = "Display controller",
		[0x04] = "Multimedia controller",
		[0x05] = "Memory controller",
		[0x06] = "Bridge",
		[0x07] = "Communication controller",
		[0x08] = "Generic system peripheral",
		[0x09] = "Input device controller",
		[0x0a] = "Docking station",
		[0x0b] = "Processor",
		[0x0c] = "Serial bus controller",
		[0x0d] = "Wireless controller",
		[0x0e] = "Intelligent controller",
		[0x0f] = "Satellite communications controller",
		[0x10] = "Encryption controller",
		[0x11] = "Signal processing controller",
		[0x12] = "Processing accelerators",
		[0x13] = "Non-Essential Instrumentation",
	};

	if (base_class < ARRAY_SIZE(names))
		return names[base_class];
	if (base_class == 0x40)
		return "Coprocessor";
	if (base_class == 0xff)
		return "Unassigned class";
	return NULL;
}

static void print_identity(FILE *out, const struct pci_cfg *cfg)
{
	uint8_t base = rd8(cfg, PCI_CLASS_DEVICE + 1);
	const char *name = pci_class_name(base);
	unsigned int htype = header_type(cfg);
	static const char *const htypes[] = { "normal", "PCI bridge",
					      "CardBus bridge" };

	fprintf(out, "\tDevice:      %04x:%04x, revision %02x\n",
		rd16(cfg, PCI_VENDOR_ID), rd16(cfg, PCI_DEVICE_ID),
		rd8(cfg, PCI_REVISION_ID));
	if (htype == PCI_HEADER_TYPE_NORMAL)
		fprintf(out, "\tSubsystem:   %04x:%04x\n",
			rd16(cfg, PCI_SUBSYSTEM_VENDOR_ID),
			rd16(cfg, PCI_SUBSYSTEM_ID));
	fprintf(out,
		"\tClass:       %02x%02x%02x (%s; subclass %02x, prog-if %02x)\n",
		base, rd8(cfg, PCI_CLASS_DEVICE), rd8(cfg, PCI_CLASS_PROG),
		name ? name : "unknown class", rd8(cfg, PCI_CLASS_DEVICE),
		rd8(cfg, PCI_CLASS_PROG));
	fprintf(out, "\tHeader type: %02x (%s), %s\n",
		rd8(cfg, PCI_HEADER_TYPE),
		htype < 3 ? htypes[htype] : "unknown",
		rd8(cfg, PCI_HEADER_TYPE) & 0x80 ? "multi-function" :
						   "single-function");
}

static void print_command_status(FILE *out, const struct pci_cfg *cfg)
{
	static const char *const devsel[] = { "fast", "medium", "slow", "??" };
	uint16_t cmd = rd16(cfg, PCI_COMMAND);
	uint16_t sta = rd16(cfg, PCI_STATUS);

	fputs("\tControl:", out);
	plus_minus(out, "I/O", cmd & PCI_COMMAND_IO);
	plus_minus(out, "Mem", cmd & PCI_COMMAND_MEMORY);
	plus_minus(out, "BusMaster", cmd & PCI_COMMAND_MASTER);
	plus_minus(out, "SpecCycle", cmd & PCI_COMMAND_SPECIAL);
	plus_minus(out, "MemWINV", cmd & PCI_COMMAND_INVALIDATE);
	plus_minus(out, "VGASnoop", cmd & PCI_COMMAND_VGA_PALETTE);
	plus_minus(out, "ParErr", cmd & PCI_COMMAND_PARITY);
	plus_minus(out, "Stepping", cmd & PCI_COMMAND_WAIT);
	plus_minus(out, "SERR", cmd & PCI_COMMAND_SERR);
	plus_minus(out, "FastB2B", cmd & PCI_COMMAND_FAST_BACK);
	plus_minus(out, "DisINTx", cmd & PCI_COMMAND_INTX_DISABLE);
	fprintf(out, " (0x%04x)\n", cmd);

	fputs("\tStatus:", out);
	plus_minus(out, "Cap", sta & PCI_STATUS_CAP_LIST);
	plus_minus(out, "66MHz", sta & PCI_STATUS_66MHZ);
	plus_minus(out, "UDF", sta & PCI_STATUS_UDF);
	plus_minus(out, "FastB2B", sta & PCI_STATUS_FAST_BACK);
	plus_minus(out, "ParErr", sta & PCI_STATUS_PARITY);
	fprintf(out, " DEVSEL=%s", devsel[(sta & PCI_STATUS_DEVSEL_MASK) >> 9]);
	plus_minus(out, ">TAbort", sta & PCI_STATUS_SIG_TARGET_ABORT);
	plus_minus(out, "<TAbort", sta & PCI_STATUS_REC_TARGET_ABORT);
	plus_minus(out, "<MAbort", sta & PCI_STATUS_REC_MASTER_ABORT);
	plus_minus(out, ">SERR", sta & PCI_STATUS_SIG_SYSTEM_ERROR);
	plus_minus(out, "<PERR", sta & PCI_STATUS_DETECTED_PARITY);
	plus_minus(out, "INTx", sta & PCI_STATUS_INTERRUPT);
	fprintf(out, " (0x%04x)\n", sta);
}

static void print_misc(FILE *out, const struct pci_cfg *cfg)
{
	uint8_t pin = rd8(cfg, PCI_INTERRUPT_PIN);
	uint8_t bist = rd8(cfg, PCI_BIST);

	fprintf(out, "\tLatency: %u, Cache Line Size: %u bytes\n",
		rd8(cfg, PCI_LATENCY_TIMER), rd8(cfg, PCI_CACHE_LINE_SIZE) * 4);
	if (bist & PCI_BIST_CAPABLE)
		fprintf(out, "\tBIST: capable, result %02x\n",
			bist & PCI_BIST_CODE_MASK);
	if (!pin)
		fprintf(out, "\tInterrupt: none (line %u)\n",
			rd8(cfg, PCI_INTERRUPT_LINE));
	else if (pin <= 4)
		fprintf(out, "\tInterrupt: pin %c routed to IRQ %u\n",
			'A' + pin - 1, rd8(cfg, PCI_INTERRUPT_LINE));
	else
		fprintf(out, "\tInterrupt: invalid pin %u, line %u\n", pin,
			rd8(cfg, PCI_INTERRUPT_LINE));
}

/* Is there something behind this BAR worth a line? */
static bool bar_present(const struct pci_bar *b)
{
	/* A value that sizes to 0 is inconsistent: show it too. */
	if (b->sized)
		return b->size != 0 || b->raw != 0;
	return b->raw != 0 || (b->has_region_size && b->region_size);
}

/*
 * "[size=4K]", or the transport's size when the BAR was not sized, and
 * whatever disagrees.
 */
static void print_bar_size(FILE *out, const struct pci_bar *b)
{
	char s1[FMT_SIZE_LEN], s2[FMT_SIZE_LEN];

	if (b->sized)
		fprintf(out, " [size=%s]", fmt_size(b->size, s1));
	else if (b->has_region_size)
		fprintf(out, " [size=%s, from the region, not sized]",
			fmt_size(b->region_size, s1));
	else
		fputs(" [size unknown]", out);
	if (b->sized && b->has_region_size && b->region_size != b->size)
		fprintf(out, " (MISMATCH: the region is %s)",
			fmt_size(b->region_size, s2));
	if (b->not_restored)
		fputs(" (WARNING: value not restored after sizing)", out);
}

static void print_addr(FILE *out, uint64_t addr, int digits)
{
	if (addr)
		fprintf(out, "%0*" PRIx64, digits, addr);
	else
		fputs("<unassigned>", out);
}

static void print_bars(FILE *out, const struct pci_cfg *cfg)
{
	unsigned int i;

	for (i = 0; i < cfg->nr_bars; i++) {
		const struct pci_bar *b = &cfg->bars[i];

		if (b->upper || !bar_present(b))
			continue;
		fprintf(out, "\tBAR%u: ", i);
		if (b->io) {
			fputs("I/O ports at ", out);
			print_addr(out, b->addr, 4);
		} else {
			fputs("Memory at ", out);
			print_addr(out, b->addr, b->is64 ? 16 : 8);
			fprintf(out, " (%s, %sprefetchable)",
				b->is64 ? "64-bit" :
				(b->raw & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
						PCI_BASE_ADDRESS_MEM_TYPE_1M ?
					  "low-1M" :
					  "32-bit",
				b->prefetch ? "" : "non-");
		}
		print_bar_size(out, b);
		if (b->no_upper)
			fputs(" (INVALID: 64-bit BAR in the last slot)", out);
		fputc('\n', out);
	}
	if (cfg->rom_reg && bar_present(&cfg->rom)) {
		fputs("\tExpansion ROM at ", out);
		print_addr(out, cfg->rom.addr, 8);
		fprintf(out, " [%s]",
			cfg->rom.raw & PCI_ROM_ADDRESS_ENABLE ? "enabled" :
								"disabled");
		print_bar_size(out, &cfg->rom);
		fputc('\n', out);
	}
}

/* ---- Capabilities ------------------------------------------------------- */

/**
 * struct cap - one capability being decoded
 * @cfg: the snapshot
 * @off: offset of its header
 * @end: end of the space it lives in (conventional or extended)
 */
struct cap {
	const struct pci_cfg *cfg;
	unsigned int off;
	unsigned int end;
};

/* Do @len bytes from the capability's start lie in its space? Says so if not. */
static bool cap_fits(FILE *out, const struct cap *c, unsigned int len)
{
	if (c->off + len <= c->end)
		return true;
	fprintf(out,
		"\t\t[truncated: needs %u bytes, only %u left in config space]\n",
		len, c->end - c->off);
	return false;
}

static uint16_t cap16(const struct cap *c, unsigned int rel)
{
	return rd16(c->cfg, c->off + rel);
}

static uint32_t cap32(const struct cap *c, unsigned int rel)
{
	return rd32(c->cfg, c->off + rel);
}

static void decode_pm(FILE *out, const struct cap *c)
{
	static const unsigned int aux_ma[] = { 0,   55,	 100, 160,
					       220, 270, 320, 375 };
	uint16_t pmc, ctl;

	if (!cap_fits(out, c, PCI_PM_CTRL + 2)) {
		fputc('\n', out);
		return;
	}
	pmc = cap16(c, PCI_PM_PMC);
	ctl = cap16(c, PCI_PM_CTRL);
	fprintf(out, " version %u\n", pmc & PCI_PM_CAP_VER_MASK);
	fputs("\t\tFlags:", out);
	plus_minus(out, "PMEClk", pmc & PCI_PM_CAP_PME_CLOCK);
	plus_minus(out, "DSI", pmc & PCI_PM_CAP_DSI);
	plus_minus(out, "D1", pmc & PCI_PM_CAP_D1);
	plus_minus(out, "D2", pmc & PCI_PM_CAP_D2);
	fprintf(out, " AuxCurrent=%umA PME(D0%c,D1%c,D2%c,D3hot%c,D3cold%c)\n",
		aux_ma[(pmc & PCI_PM_CAP_AUX_POWER) >> 6],
		pmc & PCI_PM_CAP_PME_D0 ? '+' : '-',
		pmc & PCI_PM_CAP_PME_D1 ? '+' : '-',
		pmc & PCI_PM_CAP_PME_D2 ? '+' : '-',
		pmc & PCI_PM_CAP_PME_D3hot ? '+' : '-',
		pmc & PCI_PM_CAP_PME_D3cold ? '+' : '-');
	fprintf(out, "\t\tStatus: D%u", ctl & PCI_PM_CTRL_STATE_MASK);
	plus_minus(out, "NoSoftRst", ctl & PCI_PM_CTRL_NO_SOFT_RESET);
	plus_minus(out, "PME-Enable", ctl & PCI_PM_CTRL_PME_ENABLE);
	fprintf(out, " DSel=%u DScale=%u",
		(ctl & PCI_PM_CTRL_DATA_SEL_MASK) >> 9,
		(ctl & PCI_PM_CTRL_DATA_SCALE_MASK) >> 13);
	plus_minus(out, "PME", ctl & PCI_PM_CTRL_PME_STATUS);
	fputc('\n', out);
}

static void decode_msi(FILE *out, const struct cap *c)
{
	uint16_t ctl;
	bool is64, maskable;
	unsigned int need, data_off, mask_off;

	if (!cap_fits(out, c, PCI_MSI_FLAGS + 2)) {
		fputc('\n', out);
		return;
	}
	ctl = cap16(c, PCI_MSI_FLAGS);
	is64 = ctl & PCI_MSI_FLAGS_64BIT;
	maskable = ctl & PCI_MSI_FLAGS_MASKBIT;
	/* Shifts of at most 7: the 3-bit fields cannot overflow. */
	fputs(":", out);
	plus_minus(out, "Enable", ctl & PCI_MSI_FLAGS_ENABLE);
	fprintf(out, " Count=%u/%u", 1u << ((ctl & PCI_MSI_FLAGS_QSIZE) >> 4),
		1u << ((ctl & PCI_MSI_FLAGS_QMASK) >> 1));
	plus_minus(out, "Maskable", maskable);
	plus_minus(out, "64bit", is64);
	fputc('\n', out);

	data_off = is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32;
	mask_off = is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32;
	need = maskable ? mask_off + 8 : data_off + 2;
	if (!cap_fits(out, c, need))
		return;
	fputs("\t\tAddress: ", out);
	if (is64)
		fprintf(out, "%08x%08x", cap32(c, PCI_MSI_ADDRESS_HI),
			cap32(c, PCI_MSI_ADDRESS_LO));
	else
		fprintf(out, "%08x", cap32(c, PCI_MSI_ADDRESS_LO));
	fprintf(out, "  Data: %04x\n", cap16(c, data_off));
	if (maskable)
		fprintf(out, "\t\tMasking: %08x  Pending: %08x\n",
			cap32(c, mask_off), cap32(c, mask_off + 4));
}

/*
 * Where an MSI-X structure lives, checked against the BAR it names: a
 * table outside its BAR is a broken device, which a person wants to see.
 */
static void print_msix_place(FILE *out, const struct pci_cfg *cfg,
			     const char *what, uint32_t reg, uint64_t len)
{
	unsigned int bir = reg & PCI_MSIX_TABLE_BIR;
	uint32_t off = reg & PCI_MSIX_TABLE_OFFSET;
	const struct pci_bar *b;
	uint64_t bar_size = 0;
	char s[FMT_SIZE_LEN];

	fprintf(out, "\t\t%s: BAR=%u offset=%08x", what, bir, off);
	if (bir >= cfg->nr_bars || cfg->bars[bir].upper) {
		fputs(" (INVALID: no such BAR)\n", out);
		return;
	}
	b = &cfg->bars[bir];
	if (b->sized)
		bar_size = b->size;
	else if (b->has_region_size)
		bar_size = b->region_size;
	if (bar_size && (off >= bar_size || len > bar_size - off))
		fprintf(out,
			" (INVALID: %" PRIu64
			" bytes do not fit in BAR%u of %s)",
			len, bir, fmt_size(bar_size, s));
	fputc('\n', out);
}

static void decode_msix(FILE *out, const struct cap *c)
{
	uint16_t ctl;
	unsigned int n;

	if (!cap_fits(out, c, PCI_CAP_MSIX_SIZEOF)) {
		fputc('\n', out);
		return;
	}
	ctl = cap16(c, PCI_MSIX_FLAGS);
	n = (ctl & PCI_MSIX_FLAGS_QSIZE) + 1;
	fputs(":", out);
	plus_minus(out, "Enable", ctl & PCI_MSIX_FLAGS_ENABLE);
	fprintf(out, " Count=%u", n);
	plus_minus(out, "Masked", ctl & PCI_MSIX_FLAGS_MASKALL);
	fputc('\n', out);
	print_msix_place(out, c->cfg, "Vector table", cap32(c, PCI_MSIX_TABLE),
			 (uint64_t)n * PCI_MSIX_ENTRY_SIZE);
	/* One pending bit per vector, in whole qwords. */
	print_msix_place(out, c->cfg, "PBA", cap32(c, PCI_MSIX_PBA),
			 (uint64_t)(n + 63) / 64 * 8);
}

static const char *exp_type_name(unsigned int type)
{
	static const char *const names[] = {
		[PCI_EXP_TYPE_ENDPOINT] = "Endpoint",
		[PCI_EXP_TYPE_LEG_END] = "Legacy Endpoint",
		[PCI_EXP_TYPE_ROOT_PORT] = "Root Port",
		[PCI_EXP_TYPE_UPSTREAM] = "Upstream Port",
		[PCI_EXP_TYPE_DOWNSTREAM] = "Downstream Port",
		[PCI_EXP_TYPE_PCI_BRIDGE] = "PCI-Express to PCI/PCI-X Bridge",
		[PCI_EXP_TYPE_PCIE_BRIDGE] = "PCI/PCI-X to PCI-Express Bridge",
		[PCI_EXP_TYPE_RC_END] = "Root Complex Integrated Endpoint",
		[PCI_EXP_TYPE_RC_EC] = "Root Complex Event Collector",
	};

	if (type < ARRAY_SIZE(names) && names[type])
		return names[type];
	return "Unknown type";
}

static const char *link_speed(unsigned int speed)
{
	static const char *const names[] = {
		"unknown", "2.5GT/s", "5GT/s",	"8GT/s",
		"16GT/s",  "32GT/s",  "64GT/s",
	};

	return speed < ARRAY_SIZE(names) ? names[speed] : "unknown";
}

static void decode_exp(FILE *out, const struct cap *c)
{
	uint16_t flags, ctl, sta;
	uint32_t dcap, lcap;
	unsigned int type;

	if (!cap_fits(out, c, PCI_EXP_FLAGS + 2)) {
		fputc('\n', out);
		return;
	}
	flags = cap16(c, PCI_EXP_FLAGS);
	type = (flags & PCI_EXP_FLAGS_TYPE) >> 4;
	fprintf(out, " (v%u) %s, MSI %02x\n", flags & PCI_EXP_FLAGS_VERS,
		exp_type_name(type), (flags & PCI_EXP_FLAGS_IRQ) >> 9);

	if (!cap_fits(out, c, PCI_EXP_DEVSTA + 2))
		return;
	dcap = cap32(c, PCI_EXP_DEVCAP);
	ctl = cap16(c, PCI_EXP_DEVCTL);
	sta = cap16(c, PCI_EXP_DEVSTA);
	/* 3-bit size fields: shifts of at most 7. */
	fprintf(out,
		"\t\tDevCap: MaxPayload %u bytes, PhantFunc %u, FLReset%c\n",
		128u << (dcap & PCI_EXP_DEVCAP_PAYLOAD),
		(dcap & PCI_EXP_DEVCAP_PHANTOM) >> 3,
		dcap & PCI_EXP_DEVCAP_FLR ? '+' : '-');
	fputs("\t\tDevCtl:", out);
	plus_minus(out, "CorrErr", ctl & PCI_EXP_DEVCTL_CERE);
	plus_minus(out, "NonFatalErr", ctl & PCI_EXP_DEVCTL_NFERE);
	plus_minus(out, "FatalErr", ctl & PCI_EXP_DEVCTL_FERE);
	plus_minus(out, "UnsupReq", ctl & PCI_EXP_DEVCTL_URRE);
	fprintf(out, "\n\t\t\tMaxPayload %u bytes, MaxReadReq %u bytes\n",
		128u << ((ctl & PCI_EXP_DEVCTL_PAYLOAD) >> 5),
		128u << ((ctl & PCI_EXP_DEVCTL_READRQ) >> 12));
	fputs("\t\tDevSta:", out);
	plus_minus(out, "CorrErr", sta & PCI_EXP_DEVSTA_CED);
	plus_minus(out, "NonFatalErr", sta & PCI_EXP_DEVSTA_NFED);
	plus_minus(out, "FatalErr", sta & PCI_EXP_DEVSTA_FED);
	plus_minus(out, "UnsupReq", sta & PCI_EXP_DEVSTA_URD);
	plus_minus(out, "AuxPwr", sta & PCI_EXP_DEVSTA_AUXPD);
	plus_minus(out, "TransPend", sta & PCI_EXP_DEVSTA_TRPND);
	fputc('\n', out);

	/* Root-complex-integrated functions have no link. */
	if (type == PCI_EXP_TYPE_RC_END || type == PCI_EXP_TYPE_RC_EC)
		return;
	if (!cap_fits(out, c, PCI_EXP_LNKSTA + 2))
		return;
	lcap = cap32(c, PCI_EXP_LNKCAP);
	sta = cap16(c, PCI_EXP_LNKSTA);
	fprintf(out, "\t\tLnkCap: Port #%u, Speed %s, Width x%u\n",
		(lcap & PCI_EXP_LNKCAP_PN) >> 24,
		link_speed(lcap & PCI_EXP_LNKCAP_SLS),
		(lcap & PCI_EXP_LNKCAP_MLW) >> 4);
	fprintf(out, "\t\tLnkSta: Speed %s, Width x%u",
		link_speed(sta & PCI_EXP_LNKSTA_CLS),
		(sta & PCI_EXP_LNKSTA_NLW) >> PCI_EXP_LNKSTA_NLW_SHIFT);
	plus_minus(out, "Train", sta & PCI_EXP_LNKSTA_LT);
	plus_minus(out, "DLActive", sta & PCI_EXP_LNKSTA_DLLLA);
	fputc('\n', out);
}

static void decode_vndr(FILE *out, const struct cap *c)
{
	unsigned int len, avail = c->end - c->off;

	/* The length byte (offset 2) counts the whole capability. */
	if (!cap_fits(out, c, 3)) {
		fputc('\n', out);
		return;
	}
	len = rd8(c->cfg, c->off + 2);
	fprintf(out, ": Len=%02x", len);
	if (len < 3) {
		fputs(" (INVALID: shorter than its own header)\n", out);
		return;
	}
	if (len > avail) {
		fprintf(out,
			" (INVALID: runs past the end of config space; showing %u)",
			avail);
		len = avail;
	}
	fputc('\n', out);
	hexdump_at(out, c->cfg->data, c->off, len, "\t\t");
}

struct cap_type {
	const char *name;
	void (*decode)(FILE *out, const struct cap *c);
};

static const struct cap_type std_caps[] = {
	[PCI_CAP_ID_PM] = { "Power Management", decode_pm },
	[PCI_CAP_ID_AGP] = { "AGP", NULL },
	[PCI_CAP_ID_VPD] = { "Vital Product Data", NULL },
	[PCI_CAP_ID_SLOTID] = { "Slot ID", NULL },
	[PCI_CAP_ID_MSI] = { "MSI", decode_msi },
	[PCI_CAP_ID_CHSWP] = { "CompactPCI hot-swap", NULL },
	[PCI_CAP_ID_PCIX] = { "PCI-X", NULL },
	[PCI_CAP_ID_HT] = { "HyperTransport", NULL },
	[PCI_CAP_ID_VNDR] = { "Vendor Specific Information", decode_vndr },
	[PCI_CAP_ID_DBG] = { "Debug port", NULL },
	[PCI_CAP_ID_CCRC] = { "CompactPCI central resource control", NULL },
	[PCI_CAP_ID_SHPC] = { "Hot-plug capable", NULL },
	[PCI_CAP_ID_SSVID] = { "Subsystem", NULL },
	[PCI_CAP_ID_AGP3] = { "AGP3", NULL },
	[PCI_CAP_ID_SECDEV] = { "Secure device", NULL },
	[PCI_CAP_ID_EXP] = { "Express", decode_exp },
	[PCI_CAP_ID_MSIX] = { "MSI-X", decode_msix },
	[PCI_CAP_ID_SATA] = { "SATA HBA", NULL },
	[PCI_CAP_ID_AF] = { "PCI Advanced Features", NULL },
	[PCI_CAP_ID_EA] = { "Enhanced Allocation", NULL },
};

static void print_std_cap(FILE *out, const struct cap *c, uint8_t id)
{
	const struct cap_type *t = NULL;

	if (id < ARRAY_SIZE(std_caps) && std_caps[id].name)
		t = &std_caps[id];
	fprintf(out, "\tCapabilities: [%02x] ", c->off);
	if (!t) {
		fprintf(out, "Unknown capability 0x%02x\n", id);
		return;
	}
	fputs(t->name, out);
	if (t->decode)
		t->decode(out, c);
	else
		fputc('\n', out);
}

/*
 * Walk the conventional capability list. Every pointer must be 4-byte
 * aligned, past the header and inside what was read; a pointer seen twice
 * is a loop. Returns whether a PCI Express capability was found (which
 * makes the extended space meaningful).
 */
static bool print_std_caps(FILE *out, const struct pci_cfg *cfg)
{
	struct cap c = { .cfg = cfg };
	uint64_t seen = 0; /* one bit per dword from 0x40 */
	unsigned int ptr, n;
	bool has_exp = false;

	c.end = cfg->size < PCI_CFG_STD_SIZE ? cfg->size : PCI_CFG_STD_SIZE;
	if (!(rd16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
		fputs("\tCapabilities: none\n", out);
		return false;
	}
	ptr = rd8(cfg, header_type(cfg) == PCI_HEADER_TYPE_CARDBUS ?
			       PCI_CB_CAPABILITY_LIST :
			       PCI_CAPABILITY_LIST);
	for (n = 0; ptr; n++) {
		uint64_t bit;

		if (n == PCI_MAX_CAPS) {
			fprintf(out, "\tCapabilities: [stopped after %u]\n", n);
			break;
		}
		if (ptr < PCI_CAP_FIRST || ptr % 4 ||
		    ptr + PCI_CAP_SIZEOF > c.end) {
			fprintf(out,
				"\tCapabilities: [INVALID pointer 0x%02x]\n",
				ptr);
			break;
		}
		bit = UINT64_C(1) << ((ptr - PCI_CAP_FIRST) / 4);
		if (seen & bit) {
			fprintf(out, "\tCapabilities: [LOOP: back to %02x]\n",
				ptr);
			break;
		}
		seen |= bit;
		c.off = ptr;
		if (rd8(cfg, ptr) == PCI_CAP_ID_EXP)
			has_exp = true;
		print_std_cap(out, &c, rd8(cfg, ptr));
		ptr = rd8(cfg, ptr + PCI_CAP_LIST_NEXT);
	}
	return has_exp;
}

static const char *ext_cap_name(unsigned int id)
{
	static const char *const names[] = {
		[PCI_EXT_CAP_ID_ERR] = "Advanced Error Reporting",
		[PCI_EXT_CAP_ID_VC] = "Virtual Channel",
		[PCI_EXT_CAP_ID_DSN] = "Device Serial Number",
		[PCI_EXT_CAP_ID_PWR] = "Power Budgeting",
		[PCI_EXT_CAP_ID_RCLD] = "Root Complex Link",
		[PCI_EXT_CAP_ID_RCILC] = "Root Complex Internal Link Control",
		[PCI_EXT_CAP_ID_RCEC] = "Root Complex Event Collector",
		[PCI_EXT_CAP_ID_MFVC] = "Multi-Function Virtual Channel",
		[PCI_EXT_CAP_ID_VC9] = "Virtual Channel",
		[PCI_EXT_CAP_ID_RCRB] = "Root Complex Register Block",
		[PCI_EXT_CAP_ID_VNDR] = "Vendor Specific Information",
		[PCI_EXT_CAP_ID_ACS] = "Access Control Services",
		[PCI_EXT_CAP_ID_ARI] =
			"Alternative Routing-ID Interpretation (ARI)",
		[PCI_EXT_CAP_ID_ATS] = "Address Translation Service (ATS)",
		[PCI_EXT_CAP_ID_SRIOV] =
			"Single Root I/O Virtualization (SR-IOV)",
		[PCI_EXT_CAP_ID_MRIOV] =
			"Multi-Root I/O Virtualization (MR-IOV)",
		[PCI_EXT_CAP_ID_MCAST] = "Multicast",
		[PCI_EXT_CAP_ID_PRI] = "Page Request Interface (PRI)",
		[PCI_EXT_CAP_ID_REBAR] = "Physical Resizable BAR",
		[PCI_EXT_CAP_ID_DPA] = "Dynamic Power Allocation",
		[PCI_EXT_CAP_ID_TPH] = "Transaction Processing Hints",
		[PCI_EXT_CAP_ID_LTR] = "Latency Tolerance Reporting",
		[PCI_EXT_CAP_ID_SECPCI] = "Secondary PCI Express",
		[PCI_EXT_CAP_ID_PMUX] = "Protocol Multiplexing",
		[PCI_EXT_CAP_ID_PASID] = "Process Address Space ID (PASID)",
		[PCI_EXT_CAP_ID_DPC] = "Downstream Port Containment",
		[PCI_EXT_CAP_ID_L1SS] = "L1 PM Substates",
		[PCI_EXT_CAP_ID_PTM] = "Precision Time Measurement",
		[PCI_EXT_CAP_ID_DVSEC] = "Designated Vendor-Specific",
		[PCI_EXT_CAP_ID_DLF] = "Data Link Feature",
		[PCI_EXT_CAP_ID_PL_16GT] = "Physical Layer 16.0 GT/s",
		[PCI_EXT_CAP_ID_DOE] = "Data Object Exchange",
	};

	if (id < ARRAY_SIZE(names) && names[id])
		return names[id];
	return NULL;
}

/* The extended list at 0x100, with the same checks as the conventional one. */
static void print_ext_caps(FILE *out, const struct pci_cfg *cfg)
{
	uint64_t seen[PCI_MAX_EXT_CAPS / 64] = { 0 };
	unsigned int off = PCI_EXT_CAP_FIRST, n;
	uint32_t hdr = rd32(cfg, off);

	/* All-zeros or all-ones at 0x100: no extended capabilities. */
	if (!hdr || hdr == 0xffffffff)
		return;
	for (n = 0; off; n++) {
		unsigned int slot = (off - PCI_EXT_CAP_FIRST) / 4;
		const char *name;

		if (n == PCI_MAX_EXT_CAPS) {
			fprintf(out, "\tCapabilities: [stopped after %u]\n", n);
			break;
		}
		if (off < PCI_EXT_CAP_FIRST || off % 4 || off + 4 > cfg->size) {
			fprintf(out,
				"\tCapabilities: [INVALID pointer 0x%03x]\n",
				off);
			break;
		}
		if (seen[slot / 64] & UINT64_C(1) << (slot % 64)) {
			fprintf(out, "\tCapabilities: [LOOP: back to %03x]\n",
				off);
			break;
		}
		seen[slot / 64] |= UINT64_C(1) << (slot % 64);
		hdr = rd32(cfg, off);
		name = ext_cap_name(PCI_EXT_CAP_ID(hdr));
		fprintf(out, "\tCapabilities: [%03x v%u] ", off,
			PCI_EXT_CAP_VER(hdr));
		if (name)
			fprintf(out, "%s\n", name);
		else
			fprintf(out, "Unknown extended capability 0x%04x\n",
				PCI_EXT_CAP_ID(hdr));
		off = hdr >> 20; /* unmasked, so misalignment is caught */
	}
}

void pci_print(FILE *out, const struct pci_cfg *cfg)
{
	if (cfg->size < PCI_STD_HEADER_SIZEOF) {
		fprintf(out,
			"\t[only %zu bytes, less than the %u-byte header: not decoded]\n",
			cfg->size, PCI_STD_HEADER_SIZEOF);
		return;
	}
	print_identity(out, cfg);
	print_command_status(out, cfg);
	print_misc(out, cfg);
	print_bars(out, cfg);
	if (print_std_caps(out, cfg) && cfg->size > PCI_CFG_STD_SIZE)
		print_ext_caps(out, cfg);
}
