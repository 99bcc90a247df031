/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sample server's PCI device, as seen by a client: ids, regions, BAR0
 * registers, interrupts. Shared by the sample server, the tests and the
 * demo; a client needs nothing else to drive it.
 */
#ifndef VFIO_USER_SAMPLE_DEVICE_H
#define VFIO_USER_SAMPLE_DEVICE_H

/*
 * The device's register map is a table: names, values and comments stay in
 * columns, which clang-format would collapse and wrap.
 */
/* clang-format off */

/* PCI identity */
#define SAMPLE_VENDOR_ID		0x5655	/* "VU" */
#define SAMPLE_DEVICE_ID		0x0001
#define SAMPLE_SUBSYS_VENDOR_ID		0x5655
#define SAMPLE_SUBSYS_ID		0x0100
#define SAMPLE_REVISION			0x01
#define SAMPLE_CLASS_CODE		0xff0000	/* unassigned class */

/* Regions (VFIO PCI indexes) */
#define SAMPLE_NUM_REGIONS		9	/* BAR0-5, ROM, config, VGA */
#define SAMPLE_BAR0_SIZE		0x1000	/* registers, message access only */
#define SAMPLE_BAR1_SIZE		0x1000	/* MSI-X table and PBA */
#define SAMPLE_BAR2_SIZE		0x100000 /* memory, 64-bit prefetchable, memfd-backed */
#define SAMPLE_CONFIG_SIZE		0x100	/* conventional PCI config space */

/*
 * BAR2 is mappable only in two sparse areas; the hole between them is
 * reachable through REGION_READ/REGION_WRITE only, and reads the same
 * memory.
 */
#define SAMPLE_BAR2_AREA0_OFFSET	0x00000
#define SAMPLE_BAR2_AREA0_SIZE		0x40000
#define SAMPLE_BAR2_AREA1_OFFSET	0x80000
#define SAMPLE_BAR2_AREA1_SIZE		0x80000

/* Config space capabilities */
#define SAMPLE_CAP_MSIX_OFFSET		0x40
#define SAMPLE_CAP_VNDR_OFFSET		0x50	/* vendor-specific, 8 bytes */
#define SAMPLE_MSIX_VECTORS		4	/* default; the server's --msix-vectors=N */
#define SAMPLE_MSIX_MAX_VECTORS		64	/* most --msix-vectors takes */
#define SAMPLE_MSIX_TABLE_BAR		1
#define SAMPLE_MSIX_TABLE_OFFSET	0x000
#define SAMPLE_MSIX_PBA_BAR		1
#define SAMPLE_MSIX_PBA_OFFSET		0x800

/*
 * IRQ indexes: INTx 1 vector, MSI none, MSI-X SAMPLE_MSIX_VECTORS (or as
 * set by --msix-vectors), ERR 1, REQ 1. INTx and MSI-X are maskable with
 * SET_IRQS ACTION_MASK/ACTION_UNMASK and DATA_NONE or DATA_BOOL; INTx also
 * takes a mask and an unmask eventfd (DATA_EVENTFD): a signal on it masks
 * or unmasks INTx, and an interrupt raised while masked fires on unmask.
 */
#define SAMPLE_NUM_IRQS			5

/* BAR0 registers; accesses are 4 bytes wide unless noted */
#define SAMPLE_REG_ID			0x00	/* RO: SAMPLE_ID_VALUE */
#define SAMPLE_REG_VERSION		0x04	/* RO: 1 */
#define SAMPLE_REG_SCRATCH		0x08	/* RW */
#define SAMPLE_REG_SCRATCH64		0x10	/* RW, 8 bytes */
#define SAMPLE_REG_IRQ_TRIGGER		0x18	/* WO: raise the vector written (MSI-X if enabled, else INTx) */
#define SAMPLE_REG_IRQ_COUNT		0x1c	/* RO: interrupts raised since reset */
#define SAMPLE_REG_DOORBELL_COUNT	0x20	/* RO: doorbell writes seen, any path */
#define SAMPLE_REG_DOORBELL_DM_COUNT	0x24	/* RO: doorbell writes that matched the datamatch */
#define SAMPLE_REG_RESET_COUNT		0x28	/* RO: device resets since start */
#define SAMPLE_REG_SHADOW_COUNT		0x2c	/* RO: shadow doorbell writes seen, any path */
#define SAMPLE_REG_SHADOW_VALUE		0x34	/* RO: value of the last shadow doorbell write */
#define SAMPLE_REG_DOORBELL		0x40	/* WO: ioeventfd sub-region, 4 bytes, any value */
#define SAMPLE_REG_DOORBELL_DM		0x48	/* WO: ioeventfd sub-region, 4 bytes, datamatch below */
#define SAMPLE_DOORBELL_DM_VALUE	0x0000c0de
/*
 * WO: shadow ioeventfd sub-region, 4 bytes, any value, offered with the
 * libvfio-user entry layout only (--io-fds-layout=lvu): the client stores
 * the value at SAMPLE_SHADOW_OFFSET of the shadow memory, then signals.
 */
#define SAMPLE_REG_DOORBELL_SHADOW	0x50
#define SAMPLE_SHADOW_OFFSET		0x100

/*
 * What the server received, for tests of the client's message limits
 * (zeroed by reset): the server's own limits are its --max-msg-fds and
 * --max-data-xfer-size; the client's receive limit is the max_data_xfer_size
 * it offered in VERSION. A REGION_READ or REGION_WRITE over a limit is
 * refused (EINVAL) and counted in XFER_REFUSED; a SET_IRQS with more fds
 * than --max-msg-fds is refused too.
 */
#define SAMPLE_REG_SET_IRQS_COUNT	0x60	/* RO: SET_IRQS messages received */
#define SAMPLE_REG_SET_IRQS_MAX_FDS	0x64	/* RO: most fds one SET_IRQS carried */
#define SAMPLE_REG_XFER_MAX		0x68	/* RO: largest REGION_READ/WRITE count */
#define SAMPLE_REG_XFER_REFUSED		0x6c	/* RO: accesses over a transfer limit */
#define SAMPLE_REG_WRITE_MULTI_COUNT	0x70	/* RO: REGION_WRITE_MULTI messages received */

#define SAMPLE_MAILBOX_OFFSET		0x80	/* ioregionfd sub-region: 0x80 bytes of mailbox memory */
#define SAMPLE_MAILBOX_SIZE		0x80
#define SAMPLE_MAILBOX_USER_DATA	0x6d61696cULL	/* "mail" */
#define SAMPLE_SCRATCH_RAM_OFFSET	0x800	/* RW memory, any width, for bulk access tests */
#define SAMPLE_SCRATCH_RAM_SIZE		0x800

#define SAMPLE_ID_VALUE			0x56555345	/* "VUSE" */

/*
 * DMA engine. Program SRC/DST/LEN (and FILL), then write a command to CMD:
 * the transfer runs before the write completes, through the mapping when
 * the client's DMA_MAP carried an fd, else with DMA_READ/DMA_WRITE
 * messages (on the twin socket when there is one). On completion STATUS
 * holds 0 or the errno of the failure, and MSI-X vector
 * SAMPLE_DMA_MSIX_VECTOR fires when MSI-X is enabled and it has an eventfd.
 */
#define SAMPLE_REG_DMA_SRC		0x200	/* RW, 8 bytes: source DMA address */
#define SAMPLE_REG_DMA_DST		0x208	/* RW, 8 bytes: destination DMA address */
#define SAMPLE_REG_DMA_LEN		0x210	/* RW: bytes, at most SAMPLE_DMA_MAX_LEN */
#define SAMPLE_REG_DMA_FILL		0x214	/* RW: fill byte (low 8 bits) */
#define SAMPLE_REG_DMA_CMD		0x218	/* WO: SAMPLE_DMA_CMD_* */
#define SAMPLE_REG_DMA_STATUS		0x21c	/* RO: 0, or the errno of the last transfer */
#define SAMPLE_REG_DMA_RESULT		0x220	/* RO, 8 bytes: checksum of the last CHECKSUM */
#define SAMPLE_REG_DMA_COUNT		0x228	/* RO: transfers completed without error */
#define SAMPLE_REG_DMA_PATH		0x22c	/* RO: SAMPLE_DMA_PATH_* bits of the last transfer */
#define SAMPLE_REG_DMA_CHUNK		0x230	/* RW: most bytes per DMA_READ/DMA_WRITE message; 0: the client's max_data_xfer_size */

#define SAMPLE_DMA_CMD_COPY		1	/* DST <- SRC, LEN bytes */
#define SAMPLE_DMA_CMD_FILL		2	/* DST <- LEN bytes of FILL */
#define SAMPLE_DMA_CMD_CHECKSUM		3	/* RESULT <- FNV-1a 64 of LEN bytes at SRC */
#define SAMPLE_DMA_CMD_READ		4	/* read LEN bytes at SRC, keep nothing (benchmarks) */

#define SAMPLE_DMA_PATH_MMAP		(1 << 0)	/* moved data through a mapping */
#define SAMPLE_DMA_PATH_MESSAGES	(1 << 1)	/* moved data with DMA_READ/DMA_WRITE */

#define SAMPLE_DMA_MAX_LEN		(16 << 20)
#define SAMPLE_DMA_MSIX_VECTOR		3

/* FNV-1a, 64-bit: the checksum SAMPLE_DMA_CMD_CHECKSUM computes. */
#define SAMPLE_FNV64_OFFSET		0xcbf29ce484222325ULL
#define SAMPLE_FNV64_PRIME		0x100000001b3ULL
/* clang-format on */

#endif /* VFIO_USER_SAMPLE_DEVICE_H */
