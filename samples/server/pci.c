// SPDX-License-Identifier: BSD-3-Clause
/*
 * The sample device: a conventional PCI function with the regions,
 * registers and capabilities of samples/sample-device.h.
 *
 * Every multi-byte value of config space and BAR0 is little-endian, as on
 * a PCI bus; on the x86 hosts this runs on that is also the host order the
 * protocol uses.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "server.h"

/* Sizes of the regions that the config space's BARs decode. */
#define BAR0_MASK (~(uint32_t)(SAMPLE_BAR0_SIZE - 1))
#define BAR1_MASK (~(uint32_t)(SAMPLE_BAR1_SIZE - 1))
#define BAR2_MASK (~(uint32_t)(SAMPLE_BAR2_SIZE - 1))

#define MSIX_CAP_LEN 12
#define VNDR_CAP_LEN 8
#define VNDR_CAP_VERSION 1

/* Command register bits the driver may change. */
#define COMMAND_WMASK                                               \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
	 PCI_COMMAND_INTX_DISABLE)

/* MSI-X Message Control bits the driver may change. */
#define MSIX_FLAGS_WMASK (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL)

/* The PBA holds one bit per vector, in whole QWORDs: one is enough here. */
#define MSIX_PBA_SIZE 8

_Static_assert(SAMPLE_MSIX_VECTORS >= 1 &&
		       SAMPLE_MSIX_VECTORS <= SAMPLE_MSIX_MAX_VECTORS &&
		       SAMPLE_MSIX_MAX_VECTORS <= 64,
	       "one PBA QWORD covers up to 64 vectors");

_Static_assert(SAMPLE_CAP_MSIX_OFFSET + MSIX_CAP_LEN <= SAMPLE_CAP_VNDR_OFFSET,
	       "MSI-X capability overlaps the vendor capability");
_Static_assert(SAMPLE_CAP_VNDR_OFFSET + VNDR_CAP_LEN <= SAMPLE_CONFIG_SIZE,
	       "vendor capability past the end of config space");
_Static_assert(SAMPLE_CAP_MSIX_OFFSET >= PCI_STD_HEADER_SIZEOF,
	       "capability inside the standard header");
_Static_assert(SAMPLE_MSIX_TABLE_OFFSET +
			       SAMPLE_MSIX_MAX_VECTORS * PCI_MSIX_ENTRY_SIZE <=
		       SAMPLE_MSIX_PBA_OFFSET,
	       "MSI-X table overlaps the PBA");
_Static_assert(SAMPLE_MSIX_PBA_OFFSET + MSIX_PBA_SIZE <= SAMPLE_BAR1_SIZE,
	       "PBA past the end of BAR1");
_Static_assert(SAMPLE_MSIX_TABLE_BAR == 1 && SAMPLE_MSIX_PBA_BAR == 1,
	       "pci.c emulates the MSI-X table and PBA in BAR1");
_Static_assert((SAMPLE_MSIX_TABLE_OFFSET & 7) == 0 &&
		       (SAMPLE_MSIX_PBA_OFFSET & 7) == 0,
	       "MSI-X offsets need 8-byte alignment");

/* Regions, by VFIO PCI index. BAR3 is the upper half of 64-bit BAR2. */
static const struct sparse_area bar2_areas[] = {
	{ SAMPLE_BAR2_AREA0_OFFSET, SAMPLE_BAR2_AREA0_SIZE },
	{ SAMPLE_BAR2_AREA1_OFFSET, SAMPLE_BAR2_AREA1_SIZE },
};

#define RW (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)

static const struct region_desc regions[SAMPLE_NUM_REGIONS] = {
	[VFIO_PCI_BAR0_REGION_INDEX] = { SAMPLE_BAR0_SIZE, RW, NULL, 0 },
	[VFIO_PCI_BAR1_REGION_INDEX] = { SAMPLE_BAR1_SIZE, RW, NULL, 0 },
	[VFIO_PCI_BAR2_REGION_INDEX] = {
		SAMPLE_BAR2_SIZE, RW | VFIO_REGION_INFO_FLAG_MMAP,
		bar2_areas, sizeof(bar2_areas) / sizeof(bar2_areas[0]),
	},
	[VFIO_PCI_CONFIG_REGION_INDEX] = { SAMPLE_CONFIG_SIZE, RW, NULL, 0 },
	/* BAR3-5, ROM and VGA: size 0, flags 0 */
};

_Static_assert(SAMPLE_NUM_REGIONS == VFIO_PCI_NUM_REGIONS,
	       "sample-device.h and <linux/vfio.h> disagree on regions");

const struct region_desc *dev_region(unsigned int index)
{
	return index < SAMPLE_NUM_REGIONS ? &regions[index] : NULL;
}

/* Little-endian loads and stores of 1 to 8 bytes. */
static uint64_t load_le(const uint8_t *p, unsigned int len)
{
	uint64_t v = 0;

	while (len--)
		v = (v << 8) | p[len];
	return v;
}

static void store_le(uint8_t *p, uint64_t v, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Is [off, off + len) inside [start, start + size)? (No overflow.) */
static bool range_in(uint64_t off, uint64_t len, uint64_t start, uint64_t size)
{
	return off >= start && off - start <= size &&
	       len <= size - (off - start);
}

/* ---- Config space ---- */

static void cfg_set(struct device *dev, unsigned int off, uint64_t val,
		    unsigned int len, uint64_t wmask)
{
	store_le(&dev->config[off], val, len);
	store_le(&dev->config_wmask[off], wmask, len);
}

/* The power-on image of config space, and which bits are writable. */
static void config_init(struct device *dev)
{
	const unsigned int msix = SAMPLE_CAP_MSIX_OFFSET;
	const unsigned int vndr = SAMPLE_CAP_VNDR_OFFSET;

	memset(dev->config, 0, sizeof(dev->config));
	memset(dev->config_wmask, 0, sizeof(dev->config_wmask));

	cfg_set(dev, PCI_VENDOR_ID, SAMPLE_VENDOR_ID, 2, 0);
	cfg_set(dev, PCI_DEVICE_ID, SAMPLE_DEVICE_ID, 2, 0);
	cfg_set(dev, PCI_COMMAND, 0, 2, COMMAND_WMASK);
	cfg_set(dev, PCI_STATUS, PCI_STATUS_CAP_LIST, 2, 0);
	cfg_set(dev, PCI_REVISION_ID, SAMPLE_REVISION, 1, 0);
	cfg_set(dev, PCI_CLASS_PROG, SAMPLE_CLASS_CODE, 3, 0);
	cfg_set(dev, PCI_CACHE_LINE_SIZE, 0, 1, 0xff);
	cfg_set(dev, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL, 1, 0);

	/*
	 * BARs: the flag bits are read-only and the bits below the size read
	 * as 0, so writing all-ones reads back the size mask.
	 */
	cfg_set(dev, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_TYPE_32, 4,
		BAR0_MASK);
	cfg_set(dev, PCI_BASE_ADDRESS_1, PCI_BASE_ADDRESS_MEM_TYPE_32, 4,
		BAR1_MASK);
	cfg_set(dev, PCI_BASE_ADDRESS_2,
		PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH, 4,
		BAR2_MASK);
	cfg_set(dev, PCI_BASE_ADDRESS_3, 0, 4, 0xffffffff);
	/* BAR4, BAR5 and the ROM BAR are not implemented: all zeroes. */

	cfg_set(dev, PCI_SUBSYSTEM_VENDOR_ID, SAMPLE_SUBSYS_VENDOR_ID, 2, 0);
	cfg_set(dev, PCI_SUBSYSTEM_ID, SAMPLE_SUBSYS_ID, 2, 0);
	cfg_set(dev, PCI_CAPABILITY_LIST, msix, 1, 0);
	cfg_set(dev, PCI_INTERRUPT_LINE, 0, 1, 0xff);
	cfg_set(dev, PCI_INTERRUPT_PIN, 1, 1, 0); /* INTA# */

	cfg_set(dev, msix + PCI_CAP_LIST_ID, PCI_CAP_ID_MSIX, 1, 0);
	cfg_set(dev, msix + PCI_CAP_LIST_NEXT, vndr, 1, 0);
	cfg_set(dev, msix + PCI_MSIX_FLAGS, dev->msix_vectors - 1, 2,
		MSIX_FLAGS_WMASK);
	cfg_set(dev, msix + PCI_MSIX_TABLE,
		SAMPLE_MSIX_TABLE_OFFSET | SAMPLE_MSIX_TABLE_BAR, 4, 0);
	cfg_set(dev, msix + PCI_MSIX_PBA,
		SAMPLE_MSIX_PBA_OFFSET | SAMPLE_MSIX_PBA_BAR, 4, 0);

	/* Vendor-specific: id, next, length, then a version and the ID. */
	cfg_set(dev, vndr + PCI_CAP_LIST_ID, PCI_CAP_ID_VNDR, 1, 0);
	cfg_set(dev, vndr + PCI_CAP_LIST_NEXT, 0, 1, 0);
	cfg_set(dev, vndr + PCI_CAP_FLAGS, VNDR_CAP_LEN, 1, 0);
	cfg_set(dev, vndr + 3, VNDR_CAP_VERSION, 1, 0);
	cfg_set(dev, vndr + 4, SAMPLE_ID_VALUE, 4, 0);
}

static uint16_t cfg_word(const struct device *dev, unsigned int off)
{
	return (uint16_t)load_le(&dev->config[off], 2);
}

bool dev_msix_enabled(const struct device *dev)
{
	return cfg_word(dev, SAMPLE_CAP_MSIX_OFFSET + PCI_MSIX_FLAGS) &
	       PCI_MSIX_FLAGS_ENABLE;
}

bool dev_msix_function_masked(const struct device *dev)
{
	return cfg_word(dev, SAMPLE_CAP_MSIX_OFFSET + PCI_MSIX_FLAGS) &
	       PCI_MSIX_FLAGS_MASKALL;
}

bool dev_intx_disabled(const struct device *dev)
{
	return cfg_word(dev, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
}

static int config_access(struct device *dev, uint64_t off, uint8_t *buf,
			 uint32_t count, bool write)
{
	uint32_t i;

	if (!write) {
		memcpy(buf, &dev->config[off], count);
		return 0;
	}
	for (i = 0; i < count; i++) {
		uint8_t wmask = dev->config_wmask[off + i];
		uint8_t *b = &dev->config[off + i];

		*b = (uint8_t)((*b & ~wmask) | (buf[i] & wmask));
	}
	/* Clearing INTx Disable or an MSI-X mask releases pending IRQs. */
	irq_deliver_pending(dev);
	return 0;
}

/* ---- BAR0: registers, mailbox, scratch RAM ---- */

/* Width of the register at @off, or 0 if there is none. */
static unsigned int bar0_reg_width(uint64_t off)
{
	switch (off) {
	case SAMPLE_REG_ID:
	case SAMPLE_REG_VERSION:
	case SAMPLE_REG_SCRATCH:
	case SAMPLE_REG_IRQ_TRIGGER:
	case SAMPLE_REG_IRQ_COUNT:
	case SAMPLE_REG_DOORBELL_COUNT:
	case SAMPLE_REG_DOORBELL_DM_COUNT:
	case SAMPLE_REG_RESET_COUNT:
	case SAMPLE_REG_SHADOW_COUNT:
	case SAMPLE_REG_SHADOW_VALUE:
	case SAMPLE_REG_DOORBELL_SHADOW:
	case SAMPLE_REG_SET_IRQS_COUNT:
	case SAMPLE_REG_SET_IRQS_MAX_FDS:
	case SAMPLE_REG_XFER_MAX:
	case SAMPLE_REG_XFER_REFUSED:
	case SAMPLE_REG_WRITE_MULTI_COUNT:
	case SAMPLE_REG_DOORBELL:
	case SAMPLE_REG_DOORBELL_DM:
	case SAMPLE_REG_DMA_LEN:
	case SAMPLE_REG_DMA_FILL:
	case SAMPLE_REG_DMA_STATUS:
	case SAMPLE_REG_DMA_COUNT:
	case SAMPLE_REG_DMA_PATH:
	case SAMPLE_REG_DMA_CHUNK:
		return 4;
	case SAMPLE_REG_SCRATCH64:
	case SAMPLE_REG_DMA_SRC:
	case SAMPLE_REG_DMA_DST:
	case SAMPLE_REG_DMA_RESULT:
		return 8;
	default:
		return 0;
	}
}

static int bar0_reg_read(const struct device *dev, uint64_t off, uint64_t *val)
{
	switch (off) {
	case SAMPLE_REG_ID:
		*val = SAMPLE_ID_VALUE;
		return 0;
	case SAMPLE_REG_VERSION:
		*val = 1;
		return 0;
	case SAMPLE_REG_SCRATCH:
		*val = dev->regs.scratch;
		return 0;
	case SAMPLE_REG_SCRATCH64:
		*val = dev->regs.scratch64;
		return 0;
	case SAMPLE_REG_IRQ_COUNT:
		*val = dev->regs.irq_count;
		return 0;
	case SAMPLE_REG_DOORBELL_COUNT:
		*val = dev->regs.doorbell_count;
		return 0;
	case SAMPLE_REG_DOORBELL_DM_COUNT:
		*val = dev->regs.doorbell_dm_count;
		return 0;
	case SAMPLE_REG_RESET_COUNT:
		*val = dev->regs.reset_count;
		return 0;
	case SAMPLE_REG_SHADOW_COUNT:
		*val = dev->regs.shadow_count;
		return 0;
	case SAMPLE_REG_SHADOW_VALUE:
		*val = dev->regs.shadow_value;
		return 0;
	case SAMPLE_REG_SET_IRQS_COUNT:
		*val = dev->regs.set_irqs_count;
		return 0;
	case SAMPLE_REG_SET_IRQS_MAX_FDS:
		*val = dev->regs.set_irqs_max_fds;
		return 0;
	case SAMPLE_REG_XFER_MAX:
		*val = dev->regs.xfer_max;
		return 0;
	case SAMPLE_REG_XFER_REFUSED:
		*val = dev->regs.xfer_refused;
		return 0;
	case SAMPLE_REG_WRITE_MULTI_COUNT:
		*val = dev->regs.write_multi_count;
		return 0;
	case SAMPLE_REG_DMA_SRC:
		*val = dev->regs.dma_src;
		return 0;
	case SAMPLE_REG_DMA_DST:
		*val = dev->regs.dma_dst;
		return 0;
	case SAMPLE_REG_DMA_LEN:
		*val = dev->regs.dma_len;
		return 0;
	case SAMPLE_REG_DMA_FILL:
		*val = dev->regs.dma_fill;
		return 0;
	case SAMPLE_REG_DMA_STATUS:
		*val = dev->regs.dma_status;
		return 0;
	case SAMPLE_REG_DMA_RESULT:
		*val = dev->regs.dma_result;
		return 0;
	case SAMPLE_REG_DMA_COUNT:
		*val = dev->regs.dma_count;
		return 0;
	case SAMPLE_REG_DMA_PATH:
		*val = dev->regs.dma_path;
		return 0;
	case SAMPLE_REG_DMA_CHUNK:
		*val = dev->regs.dma_chunk;
		return 0;
	default:
		return -EINVAL; /* write-only */
	}
}

/*
 * IRQ_TRIGGER: with MSI-X enabled the value is an MSI-X vector (one the
 * device does not have raises nothing); otherwise it raises INTx whatever
 * the value.
 */
static void bar0_irq_trigger(struct device *dev, uint32_t vec)
{
	if (!dev_msix_enabled(dev)) {
		irq_raise(dev, VFIO_PCI_INTX_IRQ_INDEX, 0);
		return;
	}
	if (vec < dev->msix_vectors)
		irq_raise(dev, VFIO_PCI_MSIX_IRQ_INDEX, vec);
}

static int bar0_reg_write(struct device *dev, uint64_t off, uint64_t val)
{
	switch (off) {
	case SAMPLE_REG_SCRATCH:
		dev->regs.scratch = (uint32_t)val;
		return 0;
	case SAMPLE_REG_SCRATCH64:
		dev->regs.scratch64 = val;
		return 0;
	case SAMPLE_REG_DMA_SRC:
		dev->regs.dma_src = val;
		return 0;
	case SAMPLE_REG_DMA_DST:
		dev->regs.dma_dst = val;
		return 0;
	case SAMPLE_REG_DMA_LEN:
		dev->regs.dma_len = (uint32_t)val;
		return 0;
	case SAMPLE_REG_DMA_FILL:
		dev->regs.dma_fill = (uint32_t)val & 0xff;
		return 0;
	case SAMPLE_REG_DMA_CHUNK:
		dev->regs.dma_chunk = (uint32_t)val;
		return 0;
	case SAMPLE_REG_IRQ_TRIGGER:
		bar0_irq_trigger(dev, (uint32_t)val);
		return 0;
	case SAMPLE_REG_DOORBELL:
		dev_doorbell(dev, 1);
		return 0;
	case SAMPLE_REG_DOORBELL_DM:
		/* The same rule as the ioeventfd's datamatch. */
		if (val == SAMPLE_DOORBELL_DM_VALUE)
			dev_doorbell_dm(dev, 1);
		return 0;
	case SAMPLE_REG_DOORBELL_SHADOW:
		dev_doorbell_shadow(dev, 1, (uint32_t)val);
		return 0;
	default:
		return -EINVAL; /* read-only */
	}
}

/*
 * Registers take exactly their own width at their own offset; the mailbox
 * and the scratch RAM are memory and take anything inside them. Every
 * other access (holes, straddling two areas) fails, so that a client bug
 * shows up as an error instead of a silently dropped write.
 */
static int bar0_access(struct device *dev, uint64_t off, uint8_t *buf,
		       uint32_t count, bool write)
{
	unsigned int width;
	uint64_t val;
	int ret;

	if (range_in(off, count, SAMPLE_MAILBOX_OFFSET, SAMPLE_MAILBOX_SIZE))
		return dev_mailbox_access(dev, off - SAMPLE_MAILBOX_OFFSET, buf,
					  count, write);
	if (range_in(off, count, SAMPLE_SCRATCH_RAM_OFFSET,
		     SAMPLE_SCRATCH_RAM_SIZE)) {
		uint8_t *mem =
			&dev->scratch_ram[off - SAMPLE_SCRATCH_RAM_OFFSET];

		if (write)
			memcpy(mem, buf, count);
		else
			memcpy(buf, mem, count);
		return 0;
	}

	width = bar0_reg_width(off);
	if (!width || count != width)
		return -EINVAL;
	if (write)
		return bar0_reg_write(dev, off, load_le(buf, width));
	ret = bar0_reg_read(dev, off, &val);
	if (!ret)
		store_le(buf, val, width);
	return ret;
}

int dev_mailbox_access(struct device *dev, uint64_t offset, void *buf,
		       uint32_t count, bool write)
{
	if (!range_in(offset, count, 0, SAMPLE_MAILBOX_SIZE))
		return -EINVAL;
	if (write)
		memcpy(&dev->mailbox[offset], buf, count);
	else
		memcpy(buf, &dev->mailbox[offset], count);
	return 0;
}

void dev_doorbell(struct device *dev, uint64_t n)
{
	dev->regs.doorbell_count += (uint32_t)n;
}

void dev_doorbell_dm(struct device *dev, uint64_t n)
{
	dev->regs.doorbell_dm_count += (uint32_t)n;
}

void dev_doorbell_shadow(struct device *dev, uint64_t n, uint32_t value)
{
	dev->regs.shadow_count += (uint32_t)n;
	dev->regs.shadow_value = value;
}

/* ---- BAR1: MSI-X table (memory) and PBA (read-only, computed) ---- */

static int bar1_access(struct device *dev, uint64_t off, uint8_t *buf,
		       uint32_t count, bool write)
{
	uint8_t pba[MSIX_PBA_SIZE];
	uint32_t i;

	store_le(pba, irq_msix_pending(dev), sizeof(pba));
	for (i = 0; i < count; i++) {
		uint64_t o = off + i;
		bool in_pba = o >= SAMPLE_MSIX_PBA_OFFSET &&
			      o < SAMPLE_MSIX_PBA_OFFSET + MSIX_PBA_SIZE;

		if (!write)
			buf[i] = in_pba ? pba[o - SAMPLE_MSIX_PBA_OFFSET] :
					  dev->bar1[o];
		else if (!in_pba)
			dev->bar1[o] = buf[i];
	}
	return 0;
}

/* Vectors come out of reset masked (PCI Local Bus 3.0, 6.8.2.9). */
static void msix_table_init(struct device *dev)
{
	unsigned int v;

	memset(dev->bar1, 0, sizeof(dev->bar1));
	for (v = 0; v < dev->msix_vectors; v++)
		store_le(&dev->bar1[SAMPLE_MSIX_TABLE_OFFSET +
				    v * PCI_MSIX_ENTRY_SIZE +
				    PCI_MSIX_ENTRY_VECTOR_CTRL],
			 PCI_MSIX_ENTRY_CTRL_MASKBIT, 4);
}

/* ---- Region access entry point ---- */

int dev_region_access(struct device *dev, unsigned int index, uint64_t offset,
		      void *buf, uint32_t count, bool write)
{
	const struct region_desc *r = dev_region(index);

	if (!r || !range_in(offset, count, 0, r->size))
		return -EINVAL;
	if (!count)
		return 0;

	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		return bar0_access(dev, offset, buf, count, write);
	case VFIO_PCI_BAR1_REGION_INDEX:
		return bar1_access(dev, offset, buf, count, write);
	case VFIO_PCI_BAR2_REGION_INDEX:
		/* The very bytes the client sees through its mmap(). */
		if (write)
			memcpy(dev->bar2 + offset, buf, count);
		else
			memcpy(buf, dev->bar2 + offset, count);
		return 0;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return config_access(dev, offset, buf, count, write);
	default:
		return -EINVAL;
	}
}

/* ---- Lifetime ---- */

/*
 * BAR2 is a memfd that every client mmaps. It is sealed against resizing:
 * a client that shrank it would make our own accesses fault (SIGBUS).
 */
static int bar2_create(struct device *dev)
{
	int fd, err;
	void *p;

	fd = memfd_create("vfio-user-sample-bar2",
			  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, SAMPLE_BAR2_SIZE) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		err = -errno;
		close(fd);
		return err;
	}
	p = mmap(NULL, SAMPLE_BAR2_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (p == MAP_FAILED) {
		err = -errno;
		close(fd);
		return err;
	}
	dev->bar2_fd = fd;
	dev->bar2 = p;
	return 0;
}

/* Everything a reset restores; BAR2 memory and RESET_COUNT survive it. */
static void dev_power_on_state(struct device *dev)
{
	uint32_t reset_count = dev->regs.reset_count;

	config_init(dev);
	memset(&dev->regs, 0, sizeof(dev->regs));
	dev->regs.reset_count = reset_count;
	memset(dev->mailbox, 0, sizeof(dev->mailbox));
	memset(dev->scratch_ram, 0, sizeof(dev->scratch_ram));
	msix_table_init(dev);
}

int dev_init(struct device *dev, unsigned int msix_vectors)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	dev->msix_vectors = msix_vectors;
	dev->bar2_fd = -1;
	irq_init(dev);
	ret = bar2_create(dev);
	if (ret)
		return ret;
	dev_power_on_state(dev);
	return 0;
}

void dev_reset(struct device *dev)
{
	dev_power_on_state(dev);
	dev->regs.reset_count++;
	irq_reset(dev); /* eventfds stay assigned */
}

void dev_destroy(struct device *dev)
{
	irq_release(dev);
	if (dev->bar2)
		munmap(dev->bar2, SAMPLE_BAR2_SIZE);
	if (dev->bar2_fd >= 0)
		close(dev->bar2_fd);
	dev->bar2 = NULL;
	dev->bar2_fd = -1;
}
