// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user-ctl info: connect to a server, negotiate, discover the device
 * and describe all of it for a person: negotiated capabilities, device,
 * regions (with sparse areas and io-fd sub-regions), IRQs, and the PCI
 * config space the way lspci -vv would show it.
 *
 * Everything printed comes from the server. The library has checked the
 * discovery answers; the config space is checked by pci.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <linux/pci_regs.h>
#include <json-c/json.h>

#include "ctl.h"
#include "format.h"
#include "pci.h"

/* Bytes of config space the default hex dump shows, as lspci -x. */
#define INFO_HEX_DEFAULT 64

/* Region capability chains are short; more than this is a loop. */
#define INFO_MAX_REGION_CAPS 32

enum {
	OPT_NO_BAR_SIZING = 0x200, /* above the CTL_OPT_* values */
	OPT_JSON,
};

/**
 * struct info_opts - what the info command was asked for
 * @hex: -x count: 0 dumps the header, 1 the conventional config space,
 *	2 or more everything read
 * @size_bars: size the BARs by writing to them (not with --no-bar-sizing)
 * @json: one JSON object instead of text (no BAR sizing)
 */
struct info_opts {
	unsigned int hex;
	bool size_bars;
	bool json;
};

/*
 * Usage text is laid out as it prints, one output line per source line;
 * clang-format would join the lines around the macros spliced into it.
 */
/* clang-format off */
void ctl_usage_info(FILE *out)
{
	fprintf(out,
		"Usage: " CTL_NAME " [OPTIONS] info [-x] [--no-bar-sizing] [--json]\n"
		"                     SOCKET_PATH | --fd N\n"
		"\n"
		"Connect to the vfio-user server listening at SOCKET_PATH, negotiate,\n"
		"discover the device and describe it: negotiated capabilities, device,\n"
		"regions, interrupts and PCI config space (lspci -vv style).\n"
		"\n"
		"Options:\n"
		"  -x, --hex          dump all 256 bytes of config space, not just the\n"
		"                     64-byte header; -xx: all of it (up to 4096)\n"
		"  --no-bar-sizing    do not size the BARs by writing all-ones to them;\n"
		"                     show the vfio region sizes instead\n"
		"  --json             one JSON object: capabilities, device, regions\n"
		"                     (a region of size 0 is \"present\": false),\n"
		"                     IRQs and the config space bytes; no BAR sizing\n"
		CTL_COMMON_OPTIONS_HELP
		"  -h, --help         show this help\n");
}
/* clang-format on */

/* ---- Negotiation and device ------------------------------------------- */

static void print_negotiated(FILE *out, const struct vuc_caps *c)
{
	char s[FMT_SIZE_LEN];

	fputs("Negotiated capabilities:\n", out);
	fprintf(out, "\tProtocol version:    %u.%u\n", c->major, c->minor);
	fprintf(out, "\tmax_msg_fds:         %" PRIu32 "\n", c->max_msg_fds);
	fprintf(out, "\tmax_data_xfer_size:  %" PRIu32 " (%s)\n",
		c->max_data_xfer_size, fmt_size(c->max_data_xfer_size, s));
	fprintf(out, "\tmax_dma_maps:        %" PRIu32 "\n", c->max_dma_maps);
	fputs("\tDMA page sizes:      ", out);
	fmt_size_mask(out, c->pgsizes);
	fprintf(out, " (0x%" PRIx64 ")\n", c->pgsizes);
	fprintf(out, "\tTwin socket:         %s\n",
		c->twin_socket ? "yes" : "no");
	fprintf(out, "\twrite_multiple:      %s\n",
		c->write_multiple ? "yes" : "no");
	if (c->migration_pgsize)
		fprintf(out, "\tMigration page size: %s (0x%" PRIx64 ")\n",
			fmt_size(c->migration_pgsize, s), c->migration_pgsize);
	else
		fputs("\tMigration page size: not announced\n", out);
}

static const struct fmt_flag device_flags[] = {
	{ VFIO_DEVICE_FLAGS_RESET, "RESET" },
	{ VFIO_DEVICE_FLAGS_PCI, "PCI" },
	{ VFIO_DEVICE_FLAGS_PLATFORM, "PLATFORM" },
	{ VFIO_DEVICE_FLAGS_AMBA, "AMBA" },
	{ VFIO_DEVICE_FLAGS_CCW, "CCW" },
	{ VFIO_DEVICE_FLAGS_AP, "AP" },
	{ VFIO_DEVICE_FLAGS_FSL_MC, "FSL_MC" },
	{ VFIO_DEVICE_FLAGS_CAPS, "CAPS" },
#ifdef VFIO_DEVICE_FLAGS_CDX
	{ VFIO_DEVICE_FLAGS_CDX, "CDX" },
#endif
	{ 0, NULL },
};

static void print_device(FILE *out, const struct vfio_user_device_info *info)
{
	fputs("\nDevice:\n\tFlags:   ", out);
	fmt_flags(out, info->flags, device_flags);
	fprintf(out, "\n\tRegions: %" PRIu32 "\n\tIRQs:    %" PRIu32 "\n",
		info->num_regions, info->num_irqs);
}

/* ---- Regions ------------------------------------------------------------ */

static const struct fmt_flag region_flags[] = {
	{ VFIO_REGION_INFO_FLAG_READ, "read" },
	{ VFIO_REGION_INFO_FLAG_WRITE, "write" },
	{ VFIO_REGION_INFO_FLAG_MMAP, "mmap" },
	{ VFIO_REGION_INFO_FLAG_CAPS, "caps" },
	{ 0, NULL },
};

static const char *region_name(unsigned int i, bool pci, char *buf, size_t len)
{
	static const char *const names[VFIO_PCI_NUM_REGIONS] = {
		[VFIO_PCI_BAR0_REGION_INDEX] = "BAR0",
		[VFIO_PCI_BAR1_REGION_INDEX] = "BAR1",
		[VFIO_PCI_BAR2_REGION_INDEX] = "BAR2",
		[VFIO_PCI_BAR3_REGION_INDEX] = "BAR3",
		[VFIO_PCI_BAR4_REGION_INDEX] = "BAR4",
		[VFIO_PCI_BAR5_REGION_INDEX] = "BAR5",
		[VFIO_PCI_ROM_REGION_INDEX] = "ROM",
		[VFIO_PCI_CONFIG_REGION_INDEX] = "CONFIG",
		[VFIO_PCI_VGA_REGION_INDEX] = "VGA",
	};

	if (pci && i < VFIO_PCI_NUM_REGIONS)
		return names[i];
	snprintf(buf, len, "region %u", i);
	return buf;
}

static const char *region_cap_name(uint16_t id)
{
	switch (id) {
	case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
		return "sparse-mmap";
	case VFIO_REGION_INFO_CAP_TYPE:
		return "type";
	case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
		return "msix-mappable";
	default:
		return "unknown";
	}
}

/*
 * The capability chain as the server sent it, to show ids the library
 * does not interpret. Offsets count from the start of struct
 * vfio_region_info, which precedes r->caps.
 */
static void print_region_caps(FILE *out, const struct vuc_region *r)
{
	const uint32_t base = sizeof(struct vfio_region_info);
	struct vfio_info_cap_header h;
	uint32_t off = r->info.cap_offset;
	unsigned int n;

	if (!(r->info.flags & VFIO_REGION_INFO_FLAG_CAPS) || !r->caps)
		return;
	fputs("\t\tCapabilities:", out);
	for (n = 0; off; n++) {
		if (n == INFO_MAX_REGION_CAPS) {
			fputs(" [stopped: too many]", out);
			break;
		}
		if (off < base || off - base > r->caps_size ||
		    r->caps_size - (off - base) < sizeof(h)) {
			fprintf(out, " [INVALID offset 0x%" PRIx32 "]", off);
			break;
		}
		memcpy(&h, (const uint8_t *)r->caps + (off - base), sizeof(h));
		fprintf(out, " [0x%" PRIx32 "] %s (id %u) v%u", off,
			region_cap_name(h.id), h.id, h.version);
		off = h.next;
	}
	fputc('\n', out);
}

static void print_region_type(FILE *out, const struct vuc_region *r)
{
	if (!r->has_type)
		return;
	fprintf(out, "\t\tType:    0x%" PRIx32 " subtype 0x%" PRIx32, r->type,
		r->subtype);
	if (r->type & VFIO_REGION_TYPE_PCI_VENDOR_TYPE)
		fprintf(out, " (PCI vendor %04x specific)",
			r->type & VFIO_REGION_TYPE_PCI_VENDOR_MASK);
	else if (r->type == VFIO_REGION_TYPE_GFX)
		fputs(" (graphics)", out);
	else if (r->type == VFIO_REGION_TYPE_CCW)
		fputs(" (CCW)", out);
	else if (r->type == VFIO_REGION_TYPE_MIGRATION_DEPRECATED)
		fputs(" (migration v1, deprecated)", out);
	fputc('\n', out);
}

static void print_sparse_areas(FILE *out, const struct vuc_region *r)
{
	char s[FMT_SIZE_LEN];
	unsigned int i;

	if (!(r->info.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return;
	fprintf(out, "\t\tmmap:    offset 0x%" PRIx64 "%s\n",
		(uint64_t)r->info.offset,
		r->fd >= 0 ? "" : " (but no fd received)");
	fprintf(out, "\t\tSparse mmap areas: %u\n", r->nr_areas);
	for (i = 0; i < r->nr_areas; i++) {
		const struct vuc_sparse_area *a = &r->areas[i];

		/* The library checked that the area lies in the region. */
		fprintf(out,
			"\t\t\t[%u] offset 0x%" PRIx64 " size 0x%" PRIx64
			" (%s)\n",
			i, a->offset, a->size, fmt_size(a->size, s));
	}
}

static const struct fmt_flag ioeventfd_flags[] = {
	{ VFIO_USER_IOEVENTFD_FLAG_DATAMATCH, "datamatch" },
	{ VFIO_USER_IOEVENTFD_FLAG_PIO, "pio" },
	{ VFIO_USER_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY, "virtio-ccw-notify" },
	{ 0, NULL },
};

static const struct fmt_flag ioregionfd_flags[] = {
	{ VFIO_USER_IOREGIONFD_FLAG_PIO, "pio" },
	{ VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES, "posted-writes" },
	{ 0, NULL },
};

static void print_io_fd(FILE *out, const struct vuc_io_fd *f)
{
	fputs("\t\t\t", out);
	switch (f->type) {
	case VFIO_USER_IO_FD_TYPE_IOEVENTFD:
		fputs("ioeventfd  ", out);
		break;
	case VFIO_USER_IO_FD_TYPE_IOREGIONFD:
		fputs("ioregionfd ", out);
		break;
	case VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW:
		fputs("shadow ioeventfd ", out);
		break;
	default:
		fprintf(out, "type %" PRIu32 " (unknown) ", f->type);
		break;
	}
	fprintf(out, "offset 0x%" PRIx64 " size ", f->offset);
	if (!f->size && f->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD)
		fputs("any", out);
	else
		fprintf(out, "0x%" PRIx64, f->size);

	fputs(", flags ", out);
	if (f->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD) {
		fmt_flags(out, f->flags, ioeventfd_flags);
		if (f->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH)
			fprintf(out, ", datamatch value 0x%" PRIx64,
				f->datamatch);
	} else if (f->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW) {
		fmt_flags(out, f->flags, ioeventfd_flags);
		if (f->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH)
			fprintf(out, ", datamatch value 0x%" PRIx64,
				f->datamatch);
		fprintf(out,
			", value stored at 0x%" PRIx64 " of its shadow memory",
			f->shadow_offset);
	} else if (f->type == VFIO_USER_IO_FD_TYPE_IOREGIONFD) {
		fmt_flags(out, f->flags, ioregionfd_flags);
		fprintf(out, ", user_data 0x%" PRIx64, f->user_data);
	} else {
		fprintf(out, "0x%" PRIx32, f->flags);
	}
	fputc('\n', out);
}

static void print_region(FILE *out, const struct vuc_device *dev,
			 unsigned int i, bool pci)
{
	const struct vuc_region *r = vuc_get_region(dev, i);
	char name[32], s[FMT_SIZE_LEN];
	unsigned int j;

	fprintf(out, "\tRegion %u (%s): ", i,
		region_name(i, pci, name, sizeof(name)));
	if (!r) {
		fputs("not described\n", out);
		return;
	}
	if (!r->info.size) {
		fputs("size 0 (not present)\n", out);
		return;
	}
	fprintf(out, "size 0x%" PRIx64 " (%s)\n", (uint64_t)r->info.size,
		fmt_size(r->info.size, s));
	fputs("\t\tFlags:   ", out);
	fmt_flags(out, r->info.flags, region_flags);
	fputc('\n', out);
	print_sparse_areas(out, r);
	print_region_type(out, r);
	print_region_caps(out, r);
	if (r->nr_io_fds) {
		fprintf(out, "\t\tI/O fd sub-regions: %u\n", r->nr_io_fds);
		for (j = 0; j < r->nr_io_fds; j++)
			print_io_fd(out, &r->io_fds[j]);
	}
}

static void print_regions(FILE *out, const struct vuc_device *dev,
			  unsigned int nr, bool pci)
{
	unsigned int i;

	fprintf(out, "\nRegions (%u):\n", nr);
	for (i = 0; i < nr; i++)
		print_region(out, dev, i, pci);
}

/* ---- IRQs --------------------------------------------------------------- */

static const struct fmt_flag irq_flags[] = {
	{ VFIO_IRQ_INFO_EVENTFD, "eventfd" },
	{ VFIO_IRQ_INFO_MASKABLE, "maskable" },
	{ VFIO_IRQ_INFO_AUTOMASKED, "automasked" },
	{ VFIO_IRQ_INFO_NORESIZE, "noresize" },
	{ 0, NULL },
};

static const char *irq_name(unsigned int i, bool pci, char *buf, size_t len)
{
	static const char *const names[VFIO_PCI_NUM_IRQS] = {
		[VFIO_PCI_INTX_IRQ_INDEX] = "INTx",
		[VFIO_PCI_MSI_IRQ_INDEX] = "MSI",
		[VFIO_PCI_MSIX_IRQ_INDEX] = "MSI-X",
		[VFIO_PCI_ERR_IRQ_INDEX] = "ERR",
		[VFIO_PCI_REQ_IRQ_INDEX] = "REQ",
	};

	if (pci && i < VFIO_PCI_NUM_IRQS)
		return names[i];
	snprintf(buf, len, "IRQ %u", i);
	return buf;
}

static void print_irqs(FILE *out, const struct vuc_device *dev, unsigned int nr,
		       bool pci)
{
	char name[32];
	unsigned int i;

	fprintf(out, "\nIRQs (%u):\n", nr);
	for (i = 0; i < nr; i++) {
		const struct vfio_irq_info *irq = vuc_get_irq_info(dev, i);

		fprintf(out, "\tIRQ %u (%s): ", i,
			irq_name(i, pci, name, sizeof(name)));
		if (!irq) {
			fputs("not described\n", out);
			continue;
		}
		fprintf(out, "count %" PRIu32 ", flags ", irq->count);
		fmt_flags(out, irq->flags, irq_flags);
		fputc('\n', out);
	}
}

/* ---- PCI config space --------------------------------------------------- */

static int cfg_read(void *ctx, unsigned int off, void *buf, size_t len)
{
	ssize_t n = vuc_region_read(ctx, VFIO_PCI_CONFIG_REGION_INDEX, off, buf,
				    len);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

static int cfg_write(void *ctx, unsigned int off, const void *buf, size_t len)
{
	ssize_t n = vuc_region_write(ctx, VFIO_PCI_CONFIG_REGION_INDEX, off,
				     buf, len);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * vfio-pci gives BAR i region i (a 64-bit BAR's upper slot has a zero-size
 * region) and the ROM region 6: hand those sizes to the decoder so that it
 * can show disagreements with what sizing found.
 */
static void set_region_sizes(struct pci_cfg *cfg, const struct vuc_device *dev)
{
	const struct vuc_region *r;
	unsigned int i;

	for (i = 0; i < cfg->nr_bars; i++) {
		r = vuc_get_region(dev, VFIO_PCI_BAR0_REGION_INDEX + i);
		if (!r || cfg->bars[i].upper)
			continue;
		cfg->bars[i].region_size = r->info.size;
		cfg->bars[i].has_region_size = true;
	}
	r = vuc_get_region(dev, VFIO_PCI_ROM_REGION_INDEX);
	if (cfg->rom_reg == PCI_ROM_ADDRESS && r) {
		cfg->rom.region_size = r->info.size;
		cfg->rom.has_region_size = true;
	}
}

static void print_hexdump(FILE *out, const struct pci_cfg *cfg,
			  const struct info_opts *o)
{
	size_t len = o->hex >= 2 ? cfg->size :
		     o->hex == 1 ? PCI_CFG_STD_SIZE :
				   INFO_HEX_DEFAULT;

	if (len > cfg->size)
		len = cfg->size;
	fprintf(out, "\tHex dump (%zu of %zu bytes%s):\n", len, cfg->size,
		len < cfg->size ? (o->hex ? "; -xx for all" : "; -x for more") :
				  "");
	pci_hexdump(out, cfg->data, len, "\t");
}

/*
 * Read the config space, size the BARs on the live device unless told not
 * to, and decode. Returns an exit status.
 */
static int print_config(FILE *out, struct vuc_device *dev,
			const struct info_opts *o)
{
	const struct vuc_region *r =
		vuc_get_region(dev, VFIO_PCI_CONFIG_REGION_INDEX);
	const struct pci_cfg_io io = { cfg_read, cfg_write, dev };
	uint8_t buf[PCI_CFG_EXT_SIZE];
	struct pci_cfg cfg;
	char what[64];
	size_t len;
	int err, rc = CTL_EXIT_OK;

	fputs("\nPCI configuration space", out);
	if (!r || !r->info.size ||
	    !(r->info.flags & VFIO_REGION_INFO_FLAG_READ)) {
		fputs(": none readable (no config region)\n", out);
		return CTL_EXIT_OK;
	}
	len = r->info.size < sizeof(buf) ? r->info.size : sizeof(buf);
	err = cfg_read(dev, 0, buf, len);
	if (err) {
		fputc('\n', out);
		ctl_dev_err(dev, "reading %zu bytes of PCI config space", len);
		return CTL_EXIT_FAILURE;
	}
	fprintf(out, " (region %u, %zu bytes):\n", VFIO_PCI_CONFIG_REGION_INDEX,
		len);
	pci_cfg_init(&cfg, buf, len);
	set_region_sizes(&cfg, dev);

	if (!o->size_bars) {
		fputs("\t(BARs not sized: --no-bar-sizing)\n", out);
	} else if (!(r->info.flags & VFIO_REGION_INFO_FLAG_WRITE)) {
		fputs("\t(BARs not sized: config space is read-only)\n", out);
	} else if (pci_size_bars(&cfg, &io, what, sizeof(what))) {
		/* Say what failed, then show what is known anyway. */
		ctl_dev_err(dev, "%s", what);
		rc = CTL_EXIT_FAILURE;
	}
	pci_print(out, &cfg);
	print_hexdump(out, &cfg, o);
	return rc;
}

/* ---- JSON ------------------------------------------------------------- */

static json_object *json_flags(uint64_t flags, const struct fmt_flag *names)
{
	json_object *arr = json_object_new_array();

	for (; names->name; names++)
		if (flags & names->bit)
			json_object_array_add(
				arr, json_object_new_string(names->name));
	return arr;
}

static void jadd(json_object *o, const char *key, json_object *v)
{
	json_object_object_add(o, key, v);
}

static json_object *json_u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static json_object *json_negotiated(const struct vuc_caps *c)
{
	json_object *o = json_object_new_object();

	jadd(o, "major", json_u64(c->major));
	jadd(o, "minor", json_u64(c->minor));
	jadd(o, "max_msg_fds", json_u64(c->max_msg_fds));
	jadd(o, "max_data_xfer_size", json_u64(c->max_data_xfer_size));
	jadd(o, "max_dma_maps", json_u64(c->max_dma_maps));
	jadd(o, "pgsizes", json_u64(c->pgsizes));
	jadd(o, "twin_socket", json_object_new_boolean(c->twin_socket));
	jadd(o, "write_multiple", json_object_new_boolean(c->write_multiple));
	jadd(o, "migration_pgsize", json_u64(c->migration_pgsize));
	return o;
}

static json_object *json_io_fd(const struct vuc_io_fd *f)
{
	json_object *o = json_object_new_object();
	const char *type =
		f->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD  ? "ioeventfd" :
		f->type == VFIO_USER_IO_FD_TYPE_IOREGIONFD ? "ioregionfd" :
							     "unknown";

	jadd(o, "type", json_object_new_string(type));
	jadd(o, "offset", json_u64(f->offset));
	jadd(o, "size", json_u64(f->size));
	jadd(o, "flags_value", json_u64(f->flags));
	if (f->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD) {
		jadd(o, "flags", json_flags(f->flags, ioeventfd_flags));
		if (f->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH)
			jadd(o, "datamatch", json_u64(f->datamatch));
	} else if (f->type == VFIO_USER_IO_FD_TYPE_IOREGIONFD) {
		jadd(o, "flags", json_flags(f->flags, ioregionfd_flags));
		jadd(o, "user_data", json_u64(f->user_data));
	}
	return o;
}

static json_object *json_region(const struct vuc_device *dev, unsigned int i,
				bool pci)
{
	const struct vuc_region *r = vuc_get_region(dev, i);
	json_object *o = json_object_new_object(), *arr;
	char name[32];
	unsigned int j;

	jadd(o, "index", json_u64(i));
	jadd(o, "name",
	     json_object_new_string(region_name(i, pci, name, sizeof(name))));
	/* Size 0 is absent, whatever flags the server set on it. */
	jadd(o, "present", json_object_new_boolean(r && r->info.size));
	if (!r || !r->info.size)
		return o;
	jadd(o, "size", json_u64(r->info.size));
	jadd(o, "flags", json_flags(r->info.flags, region_flags));
	jadd(o, "flags_value", json_u64(r->info.flags));
	if (r->info.flags & VFIO_REGION_INFO_FLAG_MMAP) {
		jadd(o, "mmap_offset", json_u64(r->info.offset));
		arr = json_object_new_array();
		for (j = 0; j < r->nr_areas; j++) {
			json_object *a = json_object_new_object();

			jadd(a, "offset", json_u64(r->areas[j].offset));
			jadd(a, "size", json_u64(r->areas[j].size));
			json_object_array_add(arr, a);
		}
		jadd(o, "sparse_areas", arr);
	}
	if (r->has_type) {
		jadd(o, "type", json_u64(r->type));
		jadd(o, "subtype", json_u64(r->subtype));
	}
	arr = json_object_new_array();
	for (j = 0; j < r->nr_io_fds; j++)
		json_object_array_add(arr, json_io_fd(&r->io_fds[j]));
	jadd(o, "io_fds", arr);
	return o;
}

static json_object *json_irq(const struct vuc_device *dev, unsigned int i,
			     bool pci)
{
	const struct vfio_irq_info *irq = vuc_get_irq_info(dev, i);
	json_object *o = json_object_new_object();
	char name[32];

	jadd(o, "index", json_u64(i));
	jadd(o, "name",
	     json_object_new_string(irq_name(i, pci, name, sizeof(name))));
	if (!irq)
		return o;
	jadd(o, "count", json_u64(irq->count));
	jadd(o, "flags", json_flags(irq->flags, irq_flags));
	jadd(o, "flags_value", json_u64(irq->flags));
	return o;
}

/* The config space as read, in hex: no BAR sizing, which writes. */
static int json_config(json_object *root, struct vuc_device *dev)
{
	const struct vuc_region *r =
		vuc_get_region(dev, VFIO_PCI_CONFIG_REGION_INDEX);
	uint8_t buf[PCI_CFG_EXT_SIZE];
	char hex[2 * PCI_CFG_EXT_SIZE + 1];
	size_t len, i;

	if (!r || !r->info.size ||
	    !(r->info.flags & VFIO_REGION_INFO_FLAG_READ))
		return 0;
	len = r->info.size < sizeof(buf) ? r->info.size : sizeof(buf);
	if (cfg_read(dev, 0, buf, len)) {
		ctl_dev_err(dev, "reading %zu bytes of PCI config space", len);
		return -1;
	}
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", buf[i]);
	jadd(root, "config_space", json_object_new_string(hex));
	return 0;
}

static int describe_json(FILE *out, struct vuc_device *dev, const char *server)
{
	const struct vfio_user_device_info *info = vuc_get_device_info(dev);
	json_object *root, *d, *arr;
	unsigned int i;
	int rc = CTL_EXIT_OK;
	bool pci;

	if (!info) {
		ctl_dev_err(dev, "getting the device info");
		return CTL_EXIT_FAILURE;
	}
	pci = info->flags & VFIO_DEVICE_FLAGS_PCI;
	root = json_object_new_object();
	jadd(root, "server", json_object_new_string(server));
	jadd(root, "backend",
	     json_object_new_string(vuc_device_fd(dev) >= 0 ? "kernel" :
							      "userspace"));
	jadd(root, "negotiated", json_negotiated(vuc_get_caps(dev)));
	d = json_object_new_object();
	jadd(d, "flags", json_flags(info->flags, device_flags));
	jadd(d, "flags_value", json_u64(info->flags));
	jadd(d, "num_regions", json_u64(info->num_regions));
	jadd(d, "num_irqs", json_u64(info->num_irqs));
	jadd(root, "device", d);
	arr = json_object_new_array();
	for (i = 0; i < info->num_regions; i++)
		json_object_array_add(arr, json_region(dev, i, pci));
	jadd(root, "regions", arr);
	arr = json_object_new_array();
	for (i = 0; i < info->num_irqs; i++)
		json_object_array_add(arr, json_irq(dev, i, pci));
	jadd(root, "irqs", arr);
	if (pci && json_config(root, dev))
		rc = CTL_EXIT_FAILURE;
	fprintf(out, "%s\n",
		json_object_to_json_string_ext(
			root, JSON_C_TO_STRING_PRETTY |
				      JSON_C_TO_STRING_SPACED |
				      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return rc;
}

/* ---- The command -------------------------------------------------------- */

static int describe(FILE *out, struct vuc_device *dev, const char *socket_path,
		    const struct info_opts *o)
{
	const struct vfio_user_device_info *info = vuc_get_device_info(dev);
	bool pci;

	if (!info) { /* cannot happen after vuc_connect() succeeded */
		ctl_dev_err(dev, "getting the device info");
		return CTL_EXIT_FAILURE;
	}
	pci = info->flags & VFIO_DEVICE_FLAGS_PCI;
	fprintf(out, "Server: %s\n", socket_path);
	print_negotiated(out, vuc_get_caps(dev));
	print_device(out, info);
	print_regions(out, dev, info->num_regions, pci);
	print_irqs(out, dev, info->num_irqs, pci);
	if (!pci)
		return CTL_EXIT_OK;
	return print_config(out, dev, o);
}

int ctl_cmd_info(int argc, char **argv, struct ctl_opts *opts)
{
	static const struct option longopts[] = {
		{ "hex", no_argument, NULL, 'x' },
		{ "no-bar-sizing", no_argument, NULL, OPT_NO_BAR_SIZING },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		CTL_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct info_opts o = { .size_bars = true };
	struct vuc_device *dev;
	const char *path;
	char label[128];
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "xh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'x':
			o.hex++;
			break;
		case OPT_NO_BAR_SIZING:
			o.size_bars = false;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case 'h':
			ctl_usage_info(stdout);
			return CTL_EXIT_OK;
		default:
			if (ctl_common_option(opts, opt, optarg) == 0)
				break;
			fputs("Try '" CTL_NAME " help info'.\n", stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc - (opts->fd >= 0 ? 0 : 1)) {
		ctl_err("info: %s",
			optind == argc ? "missing SOCKET_PATH (or --fd N)" :
			opts->fd >= 0  ? "--fd and a SOCKET_PATH: give one" :
					 "too many arguments");
		fputs("Try '" CTL_NAME " help info'.\n", stderr);
		return CTL_EXIT_USAGE;
	}

	path = opts->fd >= 0 ? NULL : argv[optind];
	dev = ctl_connect(opts, path);
	if (!dev)
		return CTL_EXIT_FAILURE;
	ctl_target(opts, path, label, sizeof(label));
	if (o.json)
		rc = describe_json(stdout, dev, label);
	else
		rc = describe(stdout, dev, label, &o);
	vuc_device_free(dev);
	if (fflush(stdout) || ferror(stdout)) {
		ctl_err("writing the output: %s", strerror(errno));
		rc = CTL_EXIT_FAILURE;
	}
	return rc;
}
