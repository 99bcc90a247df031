/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user-ctl: PCI configuration space decoding, lspci -vv style.
 *
 * Decoding works on a snapshot of the config space (struct pci_cfg) and
 * never reads outside it, whatever the pointers in it say: the snapshot
 * comes from a server we do not trust. Sizing the BARs needs the live
 * device and goes through struct pci_cfg_io, so this file knows nothing of
 * vfio-user.
 */
#ifndef VFIO_USER_CTL_PCI_H
#define VFIO_USER_CTL_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCI_CFG_STD_SIZE 256 /* conventional config space */
#define PCI_CFG_EXT_SIZE 4096 /* PCI Express extended config space */
#define PCI_CFG_NUM_BARS 6

/**
 * struct pci_bar - one base address register, decoded
 * @raw: the register as read
 * @addr: base address (both halves for a 64-bit BAR)
 * @size: found by the sizing protocol; 0 if unimplemented or not sized
 * @region_size: the size the transport gives this BAR (e.g. the vfio
 *	region's), to cross-check @size; valid if @has_region_size
 * @io: I/O space (else memory)
 * @is64: 64-bit memory BAR; the next slot is its upper half
 * @prefetch: prefetchable memory
 * @upper: this slot is the upper half of the 64-bit BAR before it
 * @no_upper: a 64-bit BAR in the last slot, with no upper half
 * @sized: @size comes from the sizing protocol
 * @not_restored: after sizing, the register did not read back as before
 */
struct pci_bar {
	uint32_t raw;
	uint64_t addr;
	uint64_t size;
	uint64_t region_size;
	bool io;
	bool is64;
	bool prefetch;
	bool upper;
	bool no_upper;
	bool sized;
	bool has_region_size;
	bool not_restored;
};

/**
 * struct pci_cfg - a config space snapshot and what was learnt about it
 * @data: the bytes read; the rest is zero
 * @size: bytes valid in @data
 * @nr_bars: BAR slots of this header type (6 normal, 2 bridge, 1 CardBus)
 * @bars: the BARs, decoded by pci_cfg_init(), sized by pci_size_bars()
 * @rom_reg: offset of the expansion ROM BAR, 0 if the header has none
 * @rom: the expansion ROM BAR (@rom.addr, @rom.size; enable bit in @rom.raw)
 */
struct pci_cfg {
	uint8_t data[PCI_CFG_EXT_SIZE];
	size_t size;
	unsigned int nr_bars;
	struct pci_bar bars[PCI_CFG_NUM_BARS];
	unsigned int rom_reg;
	struct pci_bar rom;
};

/* Take @size bytes of @data (at most PCI_CFG_EXT_SIZE) and decode the BARs. */
void pci_cfg_init(struct pci_cfg *cfg, const void *data, size_t size);

/**
 * struct pci_cfg_io - access to the live config space, for BAR sizing
 * @read: read @len bytes at @off; 0 or a negative errno
 * @write: write @len bytes at @off; 0 or a negative errno
 * @ctx: passed to both
 */
struct pci_cfg_io {
	int (*read)(void *ctx, unsigned int off, void *buf, size_t len);
	int (*write)(void *ctx, unsigned int off, const void *buf, size_t len);
	void *ctx;
};

/*
 * Size every BAR and the expansion ROM BAR the standard way: with memory
 * and I/O decoding off, write all-ones, read back, restore. Every register
 * touched is restored even when something fails. Returns 0, or a negative
 * errno with @what (of @what_len bytes) naming the register that failed.
 */
int pci_size_bars(struct pci_cfg *cfg, const struct pci_cfg_io *io, char *what,
		  size_t what_len);

/* The header, the BARs and every capability, lspci -vv style. */
void pci_print(FILE *out, const struct pci_cfg *cfg);

/* @len bytes of @data as lspci -x does: "00: 55 56 01 00 ...". */
void pci_hexdump(FILE *out, const uint8_t *data, size_t len,
		 const char *indent);

/* The name of a base class code ("Network controller"), or NULL. */
const char *pci_class_name(uint8_t base_class);

#endif /* VFIO_USER_CTL_PCI_H */
