/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vfio-user: PCI devices emulated in another process, reached over a UNIX
 * socket.
 *
 * This header has two parts:
 *
 *  1. The vfio-user wire protocol: the message header, the command ids and
 *     every command payload exchanged between a vfio-user client and a
 *     vfio-user server on an AF_UNIX SOCK_STREAM socket.
 *  2. The ioctls of /dev/vfio-user, the in-kernel vfio-user client.
 *
 * The protocol is specified in QEMU's docs/interop/vfio-user.rst (formerly
 * docs/vfio-user.rst in libvfio-user). Where the specification and the known
 * implementations (the libvfio-user server library and QEMU's hw/vfio-user
 * client) disagree, the definitions below follow what interoperates with
 * libvfio-user, and the kernel-doc says so.
 *
 * Rules that apply to every message:
 *
 *  - All multi-byte fields are in the byte order of the host (the 2021 drafts
 *    of the specification said little-endian).
 *  - A message is a struct vfio_user_header followed by a command-specific
 *    payload. Payload offsets in this header are relative to the end of the
 *    16-byte message header.
 *  - The vfio-user structs are packed: they have alignment 1 and can be laid
 *    over any byte buffer. The VFIO structs that vfio-user reuses (struct
 *    vfio_region_info and its capabilities, struct vfio_irq_info, struct
 *    vfio_irq_set) are not packed; their wire layout is the one asserted
 *    here, but they need a naturally aligned buffer (or a memcpy()).
 *  - File descriptors travel as SCM_RIGHTS ancillary data attached to the
 *    sendmsg() that carries the header. Send the header and the payload in
 *    one sendmsg(): libvfio-user takes fds only with the header and reads the
 *    body with a single recv() without MSG_WAITALL.
 *
 * Every size and field offset of the wire structs is checked at compile time.
 */
#ifndef _UAPI_LINUX_VFIO_USER_H
#define _UAPI_LINUX_VFIO_USER_H

#include <linux/types.h>
#include <linux/vfio.h>

/*
 * Compile-time checks that work in kernel C, userspace C (C11, or older GNU
 * C as an extension) and C++11 or later, without <stddef.h>. They are
 * #undef'd at the end of this header.
 */
#ifdef __cplusplus
#define VFIO_USER_STATIC_ASSERT(expr, msg)	static_assert(expr, msg)
#else
#define VFIO_USER_STATIC_ASSERT(expr, msg)	_Static_assert(expr, msg)
#endif

#define VFIO_USER_ASSERT_SIZE(type, size)				\
	VFIO_USER_STATIC_ASSERT(sizeof(type) == (size),			\
				"sizeof(" #type ") != " #size)

#define VFIO_USER_ASSERT_OFFSET(type, member, offset)			\
	VFIO_USER_STATIC_ASSERT(__builtin_offsetof(type, member) == (offset), \
				"offsetof(" #type ", " #member ") != " #offset)

#define VFIO_USER_ASSERT_VALUE(a, b)					\
	VFIO_USER_STATIC_ASSERT((long long)(a) == (long long)(b),	\
				#a " != " #b)

/* -------- vfio-user wire protocol -------- */

/**
 * DOC: Protocol version and default limits
 *
 * VFIO_USER_VERSION_MAJOR and VFIO_USER_VERSION_MINOR are the protocol
 * version this client implements and proposes in VFIO_USER_VERSION. The
 * server replies with the same major and a minor no higher than the proposed
 * one; both sides must support every lower minor. libvfio-user speaks 0.2
 * (minor 2 came with the twin socket) and answers MIN(client minor, 2);
 * QEMU's client speaks 0.0. No feature is gated on the minor.
 *
 * The VFIO_USER_DEFAULT_* values are the ones a peer assumes for a
 * capability the other side did not send (see "VERSION capabilities"):
 *
 * - VFIO_USER_DEFAULT_MAX_MSG_FDS: fds the peer can receive in one message.
 *   QEMU assumes 8 instead of the specified 1; libvfio-user always sends 8.
 * - VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE: largest data count of
 *   REGION_READ/WRITE and DMA_READ/WRITE (libvfio-user also applies it to
 *   MIG_DATA_READ/WRITE). The limit is the receiving peer's.
 * - VFIO_USER_DEFAULT_MAX_DMA_MAPS: simultaneous DMA_MAP windows.
 * - VFIO_USER_DEFAULT_PGSIZES: OR of the page sizes the server supports for
 *   DMA_MAP (4 KiB only).
 *
 * Limits of the libvfio-user server, for a client that talks to it:
 *
 * - VFIO_USER_LIBVFIO_USER_MAX_MSG_SIZE: largest message (header included) it
 *   accepts, 1 MiB + 32. A longer one gets an error reply and its body is not
 *   drained, which desynchronises the stream.
 * - VFIO_USER_LIBVFIO_USER_MAX_MSG_FDS: largest "max_msg_fds" a client may
 *   advertise; a larger value fails the negotiation.
 */
#define VFIO_USER_VERSION_MAJOR			0
#define VFIO_USER_VERSION_MINOR			2

#define VFIO_USER_DEFAULT_MAX_MSG_FDS		1
#define VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE	(1024 * 1024)
#define VFIO_USER_DEFAULT_MAX_DMA_MAPS		65535
#define VFIO_USER_DEFAULT_PGSIZES		4096

#define VFIO_USER_LIBVFIO_USER_MAX_MSG_SIZE	(VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE + 32)
#define VFIO_USER_LIBVFIO_USER_MAX_MSG_FDS	1024

VFIO_USER_ASSERT_VALUE(VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE, 1048576);
VFIO_USER_ASSERT_VALUE(VFIO_USER_LIBVFIO_USER_MAX_MSG_SIZE, 1048608);

/**
 * enum vfio_user_command - command ids, in &vfio_user_header.cmd
 * @VFIO_USER_VERSION: client to server, and the first message on a
 *	connection. Payload struct vfio_user_version both ways. The request
 *	carries no fds; the reply carries one fd (the client end of the twin
 *	socket) only if the twin socket was negotiated.
 * @VFIO_USER_DMA_MAP: client to server. Payload struct vfio_user_dma_map,
 *	with 0 or 1 fd (the memory backing the window). No reply payload.
 * @VFIO_USER_DMA_UNMAP: client to server. Payload struct
 *	vfio_user_dma_unmap; the reply echoes it (followed by a struct
 *	vfio_user_bitmap with the legacy GET_DIRTY_BITMAP flag). No fds.
 * @VFIO_USER_DEVICE_GET_INFO: client to server. Payload struct
 *	vfio_user_device_info both ways. No fds.
 * @VFIO_USER_DEVICE_GET_REGION_INFO: client to server. Payload struct
 *	vfio_region_info both ways, followed by capabilities in the reply. The
 *	reply may carry one fd (to mmap) for an mmappable region.
 * @VFIO_USER_DEVICE_GET_REGION_IO_FDS: client to server. Request struct
 *	vfio_user_region_io_fds_request; reply struct
 *	vfio_user_region_io_fds_reply and sub-regions, with at least one fd
 *	when it has sub-regions.
 * @VFIO_USER_DEVICE_GET_IRQ_INFO: client to server. Payload struct
 *	vfio_irq_info both ways. No fds.
 * @VFIO_USER_DEVICE_SET_IRQS: client to server. Payload struct vfio_irq_set
 *	and its data. With VFIO_IRQ_SET_DATA_EVENTFD the request carries
 *	&vfio_irq_set.count eventfds, or none to de-assign. No reply payload.
 * @VFIO_USER_REGION_READ: client to server. Payload struct
 *	vfio_user_region_access; the reply appends the data. No fds.
 * @VFIO_USER_REGION_WRITE: client to server. Payload struct
 *	vfio_user_region_access and the data; the reply echoes the 16-byte
 *	access header. No fds.
 * @VFIO_USER_DMA_READ: server to client, on the twin socket if negotiated.
 *	Payload struct vfio_user_dma_region_access; the reply appends the data.
 *	No fds.
 * @VFIO_USER_DMA_WRITE: server to client, on the twin socket if negotiated.
 *	Payload struct vfio_user_dma_region_access and the data; the reply is
 *	the 16-byte access header {addr, count}. No fds.
 * @VFIO_USER_DEVICE_RESET: client to server. No payload either way; the only
 *	command whose request may be a bare header. No fds.
 * @VFIO_USER_REGION_WRITE_MULTI: client to server, only if the server
 *	advertised "write_multiple": true. Payload struct vfio_user_wr_multi;
 *	the reply is the 8-byte count of completed writes. No fds.
 * @VFIO_USER_DEVICE_FEATURE: client to server. Payload struct
 *	vfio_user_device_feature (migration and DMA logging). No fds.
 * @VFIO_USER_MIG_DATA_READ: client to server. Payload struct
 *	vfio_user_mig_data; the reply carries the data. No fds.
 * @VFIO_USER_MIG_DATA_WRITE: client to server. Payload struct
 *	vfio_user_mig_data and the data. No reply payload. No fds.
 * @VFIO_USER_MAX_COMMAND: one more than the highest command id; not a
 *	command.
 *
 * Id 14 is reserved: it was VFIO_USER_DIRTY_PAGES (migration v1), removed
 * with migration v2. It is not a valid command; QEMU still lists it and never
 * sends it, libvfio-user rejects it.
 *
 * Interrupts have no message: the server signals the eventfds set up with
 * VFIO_USER_DEVICE_SET_IRQS. A reply carries the command id of its request.
 */
enum vfio_user_command {
	VFIO_USER_VERSION			= 1,
	VFIO_USER_DMA_MAP			= 2,
	VFIO_USER_DMA_UNMAP			= 3,
	VFIO_USER_DEVICE_GET_INFO		= 4,
	VFIO_USER_DEVICE_GET_REGION_INFO	= 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS	= 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO		= 7,
	VFIO_USER_DEVICE_SET_IRQS		= 8,
	VFIO_USER_REGION_READ			= 9,
	VFIO_USER_REGION_WRITE			= 10,
	VFIO_USER_DMA_READ			= 11,
	VFIO_USER_DMA_WRITE			= 12,
	VFIO_USER_DEVICE_RESET			= 13,
	/* 14 is reserved (formerly VFIO_USER_DIRTY_PAGES) */
	VFIO_USER_REGION_WRITE_MULTI		= 15,
	VFIO_USER_DEVICE_FEATURE		= 16,
	VFIO_USER_MIG_DATA_READ			= 17,
	VFIO_USER_MIG_DATA_WRITE		= 18,
	VFIO_USER_MAX_COMMAND			= 19,
};

/**
 * struct vfio_user_header - header of every message, command or reply
 * @msg_id: chosen by the sender of a command and echoed in its reply. Ids
 *	belong to the sender: the receiver must not assume they are unique.
 *	Ids of server commands (DMA_READ/DMA_WRITE) are independent of the
 *	client's (libvfio-user counts from 1); reply with the server's id.
 * @cmd: command id (enum vfio_user_command), also set in the reply.
 * @msg_size: size of the whole message, this header included, so at least
 *	16. Only VFIO_USER_DEVICE_RESET may be a bare 16-byte header;
 *	libvfio-user rejects any other command without a payload, and any
 *	message longer than VFIO_USER_LIBVFIO_USER_MAX_MSG_SIZE.
 * @flags: message type (VFIO_USER_F_TYPE_*) and VFIO_USER_F_* bits.
 * @error_no: in a reply with VFIO_USER_F_ERROR, a positive errno (it may be
 *	0 even then: treat that as a failure of unknown cause). Must be 0 in
 *	commands. libvfio-user, as a receiver, maps values <= 0 or > 4096 to
 *	EINVAL.
 *
 * Every command gets a reply unless it sets VFIO_USER_F_NO_REPLY; then no
 * reply is sent, not even on error. The specification says an error reply
 * is a bare header, but libvfio-user can send a payload with
 * VFIO_USER_F_ERROR set: a receiver must always consume @msg_size - 16
 * payload bytes. Replies are matched to commands by @msg_id only.
 */
struct vfio_user_header {
	__u16	msg_id;
	__u16	cmd;
	__u32	msg_size;
	__u32	flags;
	__u32	error_no;
} __attribute__((packed));

/*
 * Bits of vfio_user_header.flags. Bits 0-3 are the message type. Bit 4 is
 * valid in commands, bit 5 in replies; bits 6-31 are reserved and 0.
 * (libvfio-user still defines a stale VFIO_USER_FLAGS_NO_REPLY of 0x1; the
 * no-reply bit is 0x10.)
 */
#define VFIO_USER_F_TYPE_MASK		0xf
#define VFIO_USER_F_TYPE_COMMAND	0x0
#define VFIO_USER_F_TYPE_REPLY		0x1
#define VFIO_USER_F_NO_REPLY		0x10
#define VFIO_USER_F_ERROR		0x20

VFIO_USER_ASSERT_SIZE(struct vfio_user_header, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_header, msg_id, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_header, cmd, 2);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_header, msg_size, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_header, flags, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_header, error_no, 12);

/**
 * struct vfio_user_version - VFIO_USER_VERSION payload, request and reply
 * @major: protocol major version; the reply must repeat the proposed one.
 * @minor: protocol minor version; in the reply, at most the proposed one.
 * @data: optional UTF-8 JSON capabilities (see "VERSION capabilities"),
 *	NUL-terminated: the NUL is the last byte of the payload. libvfio-user
 *	rejects JSON without it and QEMU requires it in a reply.
 *
 * Direction: client to server, and the first message on the connection.
 * The request carries no fds (libvfio-user fails the negotiation if it
 * does). The reply carries one fd, the client end of the twin socket, if and
 * only if the reply's "twin_socket" has "supported": true and an "fd_index".
 * The reply's capabilities are a subset of the proposed ones; a server that
 * needs a capability the client did not offer closes the connection. The
 * payload is at least 4 bytes.
 */
struct vfio_user_version {
	__u16	major;
	__u16	minor;
	char	data[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_version, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_version, major, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_version, minor, 2);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_version, data, 4);

/**
 * DOC: VERSION capabilities
 *
 * The JSON in &vfio_user_version.data is an object with one member,
 * VFIO_USER_CAP_CAPABILITIES ("capabilities"), whose value is an object with
 * these optional members:
 *
 * - VFIO_USER_CAP_MAX_MSG_FDS ("max_msg_fds"), number: most fds the sender
 *   can receive in one message. Default VFIO_USER_DEFAULT_MAX_MSG_FDS.
 * - VFIO_USER_CAP_MAX_DATA_XFER_SIZE ("max_data_xfer_size"), number: most
 *   data bytes the sender accepts in one REGION/DMA READ/WRITE. Default
 *   VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE.
 * - VFIO_USER_CAP_MAX_DMA_MAPS ("max_dma_maps"), number: most DMA windows the
 *   server can hold. Default VFIO_USER_DEFAULT_MAX_DMA_MAPS.
 * - VFIO_USER_CAP_PGSIZES ("pgsizes"), number: OR of the DMA page sizes the
 *   server supports. Default VFIO_USER_DEFAULT_PGSIZES.
 * - VFIO_USER_CAP_TWIN_SOCKET ("twin_socket"), object: the client offers
 *   {"supported": true}; a server that accepts replies {"supported": true,
 *   "fd_index": N} and sends the client end of a new socket pair as fd N of
 *   the reply. Missing or false means no twin socket; anything else is
 *   inconsistent and the client must drop the connection. With a twin
 *   socket, server commands (DMA_READ/DMA_WRITE) and their replies use the
 *   twin; client commands stay on the main socket. Members:
 *   VFIO_USER_CAP_SUPPORTED ("supported", boolean) and
 *   VFIO_USER_CAP_FD_INDEX ("fd_index", number).
 * - VFIO_USER_CAP_WRITE_MULTIPLE ("write_multiple"), boolean: the server
 *   accepts VFIO_USER_REGION_WRITE_MULTI. Default false.
 * - VFIO_USER_CAP_MIGRATION ("migration"), object: legacy (migration v1,
 *   removed from the specification) but still exchanged by libvfio-user and
 *   QEMU. Members VFIO_USER_CAP_PGSIZE ("pgsize", number) and
 *   VFIO_USER_CAP_MAX_BITMAP_SIZE ("max_bitmap_size", number). A
 *   libvfio-user server with migration enabled fails the negotiation if a
 *   client sends a non-zero "pgsize" other than its own page size: omit
 *   "migration", or send the host page size.
 *
 * Unknown members are ignored by libvfio-user.
 */
#define VFIO_USER_CAP_CAPABILITIES		"capabilities"
#define VFIO_USER_CAP_MAX_MSG_FDS		"max_msg_fds"
#define VFIO_USER_CAP_MAX_DATA_XFER_SIZE	"max_data_xfer_size"
#define VFIO_USER_CAP_MAX_DMA_MAPS		"max_dma_maps"
#define VFIO_USER_CAP_PGSIZES			"pgsizes"
#define VFIO_USER_CAP_TWIN_SOCKET		"twin_socket"
#define VFIO_USER_CAP_SUPPORTED			"supported"
#define VFIO_USER_CAP_FD_INDEX			"fd_index"
#define VFIO_USER_CAP_WRITE_MULTIPLE		"write_multiple"
#define VFIO_USER_CAP_MIGRATION			"migration"
#define VFIO_USER_CAP_PGSIZE			"pgsize"
#define VFIO_USER_CAP_MAX_BITMAP_SIZE		"max_bitmap_size"

/**
 * struct vfio_user_dma_map - VFIO_USER_DMA_MAP request payload
 * @argsz: size of this struct, 32 (DMA_MAP has no reply payload).
 * @flags: VFIO_USER_F_DMA_REGION_* bits.
 * @offset: offset of the window in the passed fd; 0 without an fd.
 * @addr: base DMA address (IOVA, typically guest-physical) of the window.
 * @size: length of the window in bytes.
 *
 * Direction: client to server. Carries 0 or 1 fd. With an fd the server may
 * mmap() it (or pread()/pwrite() it, see VFIO_USER_F_DMA_REGION_FILE_IO);
 * without one, the server reaches the window only through DMA_READ and
 * DMA_WRITE messages. No reply payload.
 *
 * Mapping over an existing window fails: EEXIST in the specification, while
 * libvfio-user accepts an identical re-map and fails an overlapping one with
 * EINVAL.
 */
struct vfio_user_dma_map {
	__u32	argsz;
	__u32	flags;
	__u64	offset;
	__u64	addr;
	__u64	size;
} __attribute__((packed));

/*
 * Bits of vfio_user_dma_map.flags. READ and WRITE are the specified access
 * permissions. MMAP (mmap the fd; an fd is required) and FILE_IO (access the
 * fd with pread()/pwrite(), for fds that cannot be mmapped; an fd is
 * required) are libvfio-user extensions: other servers may reject them as
 * unknown bits. With neither, libvfio-user mmaps the fd if there is one.
 */
#define VFIO_USER_F_DMA_REGION_READ	(1 << 0)
#define VFIO_USER_F_DMA_REGION_WRITE	(1 << 1)
#define VFIO_USER_F_DMA_REGION_MMAP	(1 << 2)
#define VFIO_USER_F_DMA_REGION_FILE_IO	(1 << 3)

VFIO_USER_ASSERT_SIZE(struct vfio_user_dma_map, 32);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_map, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_map, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_map, offset, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_map, addr, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_map, size, 24);

/**
 * struct vfio_user_dma_unmap - VFIO_USER_DMA_UNMAP payload, request and reply
 * @argsz: in the request, the largest reply payload the client accepts (at
 *	least 24); in the reply, the size of the full reply payload.
 * @flags: 0, or one of the VFIO_USER_F_DMA_UNMAP_* values (libvfio-user
 *	rejects combinations).
 * @addr: base of the window; must exactly match an earlier DMA_MAP.
 * @size: size of the window; must exactly match an earlier DMA_MAP.
 *
 * Direction: client to server; no fds. The reply echoes the request (24
 * bytes). With VFIO_USER_F_DMA_UNMAP_GET_DIRTY_BITMAP a struct
 * vfio_user_bitmap follows at payload offset 24, in the request (pgsize,
 * size) and in the reply (with the bitmap). Before replying, the server
 * drops every reference to the window, including its mmap(). An unknown
 * window fails with ENOENT in libvfio-user.
 */
struct vfio_user_dma_unmap {
	__u32	argsz;
	__u32	flags;
	__u64	addr;
	__u64	size;
} __attribute__((packed));

/*
 * Values of vfio_user_dma_unmap.flags, equal to the VFIO_DMA_UNMAP_FLAG_*
 * values of <linux/vfio.h>. GET_DIRTY_BITMAP is legacy dirty tracking
 * (migration v1). ALL unmaps every window; addr and size must then be 0.
 */
#define VFIO_USER_F_DMA_UNMAP_GET_DIRTY_BITMAP	(1 << 0)
#define VFIO_USER_F_DMA_UNMAP_ALL		(1 << 1)

VFIO_USER_ASSERT_SIZE(struct vfio_user_dma_unmap, 24);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_unmap, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_unmap, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_unmap, addr, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_unmap, size, 16);
#ifdef VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
VFIO_USER_ASSERT_VALUE(VFIO_USER_F_DMA_UNMAP_GET_DIRTY_BITMAP,
		       VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP);
#endif
#ifdef VFIO_DMA_UNMAP_FLAG_ALL
VFIO_USER_ASSERT_VALUE(VFIO_USER_F_DMA_UNMAP_ALL, VFIO_DMA_UNMAP_FLAG_ALL);
#endif

/**
 * struct vfio_user_bitmap - dirty bitmap of VFIO_USER_DMA_UNMAP (legacy)
 * @pgsize: page size in bytes that one bit stands for.
 * @size: size of @data in bytes.
 * @data: the bitmap; only present in the reply.
 *
 * Follows struct vfio_user_dma_unmap when
 * VFIO_USER_F_DMA_UNMAP_GET_DIRTY_BITMAP is set. Dirty logging must be
 * active. The reply payload is 24 + 16 + @size bytes.
 */
struct vfio_user_bitmap {
	__u64	pgsize;
	__u64	size;
	__u8	data[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_bitmap, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_bitmap, pgsize, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_bitmap, size, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_bitmap, data, 16);

/**
 * struct vfio_user_device_info - VFIO_USER_DEVICE_GET_INFO payload
 * @argsz: in the request, the largest reply payload accepted (at least 16);
 *	in the reply, 16.
 * @flags: VFIO_DEVICE_FLAGS_* of <linux/vfio.h>; libvfio-user replies
 *	VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET. 0 in the request.
 * @num_regions: number of regions (libvfio-user: 9, VFIO_PCI_NUM_REGIONS
 *	layout). 0 in the request.
 * @num_irqs: number of IRQ indexes (libvfio-user: 5, VFIO_PCI_NUM_IRQS
 *	layout). 0 in the request.
 *
 * Direction: client to server, same payload both ways; no fds. The first
 * 16 bytes of struct vfio_device_info; VFIO's struct has grown since
 * (cap_offset), so it cannot be used on the wire. The specification only
 * supports PCI devices. Bound @num_regions and @num_irqs before sizing
 * anything with them (QEMU rejects more than 100 and 50).
 */
struct vfio_user_device_info {
	__u32	argsz;
	__u32	flags;
	__u32	num_regions;
	__u32	num_irqs;
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_device_info, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_info, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_info, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_info, num_regions, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_info, num_irqs, 12);
VFIO_USER_ASSERT_OFFSET(struct vfio_device_info, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_device_info, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_device_info, num_regions, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_device_info, num_irqs, 12);

/**
 * DOC: VFIO_USER_DEVICE_GET_REGION_INFO
 *
 * Payload: struct vfio_region_info of <linux/vfio.h> (32 bytes), both ways.
 * Direction: client to server. In the request only argsz (largest reply
 * payload accepted, at least 32) and index are set. The reply's argsz is
 * 32 plus the size of the capability chain, which follows the struct
 * (cap_offset and vfio_info_cap_header.next count from the start of the
 * struct vfio_region_info). VFIO_REGION_INFO_CAP_SPARSE_MMAP (id 1) and
 * VFIO_REGION_INFO_CAP_TYPE (id 2) are the capabilities in use.
 *
 * The reply carries an fd when the region is mmappable: mmap it at the
 * offset field (plus a sparse area's offset). libvfio-user sets
 * VFIO_REGION_INFO_FLAG_MMAP for every fd-backed region but sends the fd and
 * the capabilities only when the request's argsz is large enough for all of
 * them: a first request with argsz 32 returns the needed argsz, and a
 * second one gets the fd and the sparse areas.
 */
VFIO_USER_ASSERT_SIZE(struct vfio_region_info, 32);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info, index, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info, cap_offset, 12);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info, size, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info, offset, 24);
VFIO_USER_ASSERT_SIZE(struct vfio_info_cap_header, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_info_cap_header, id, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_info_cap_header, version, 2);
VFIO_USER_ASSERT_OFFSET(struct vfio_info_cap_header, next, 4);
VFIO_USER_ASSERT_SIZE(struct vfio_region_info_cap_sparse_mmap, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info_cap_sparse_mmap, header, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info_cap_sparse_mmap, nr_areas, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info_cap_sparse_mmap, reserved, 12);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info_cap_sparse_mmap, areas, 16);
VFIO_USER_ASSERT_SIZE(struct vfio_region_sparse_mmap_area, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_sparse_mmap_area, offset, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_sparse_mmap_area, size, 8);
VFIO_USER_ASSERT_SIZE(struct vfio_region_info_cap_type, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info_cap_type, header, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info_cap_type, type, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_region_info_cap_type, subtype, 12);
VFIO_USER_ASSERT_VALUE(VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1);
VFIO_USER_ASSERT_VALUE(VFIO_REGION_INFO_CAP_TYPE, 2);

/**
 * struct vfio_user_region_io_fds_request - VFIO_USER_DEVICE_GET_REGION_IO_FDS
 *	request payload
 * @argsz: largest reply payload the client accepts (at least 16).
 * @flags: 0.
 * @index: region index.
 * @count: 0.
 *
 * Direction: client to server; no fds. See struct
 * vfio_user_region_io_fds_reply for the reply.
 */
struct vfio_user_region_io_fds_request {
	__u32	argsz;
	__u32	flags;
	__u32	index;
	__u32	count;
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_region_io_fds_request, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_request, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_request, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_request, index, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_request, count, 12);

/**
 * struct vfio_user_region_io_fds_reply - VFIO_USER_DEVICE_GET_REGION_IO_FDS
 *	reply payload
 * @argsz: payload size needed for every sub-region: 16 + @count * stride.
 * @flags: 0.
 * @index: region index.
 * @count: number of sub-regions of the region.
 * @sub_regions: @count sub-regions, if they fit in the request's argsz.
 *
 * Direction: server to client, in reply to struct
 * vfio_user_region_io_fds_request. If the request's argsz is too small, the
 * reply is these 16 bytes only, with @argsz and @count set, and no fds:
 * retry with a larger argsz. Otherwise @sub_regions holds @count entries and
 * the message carries at least one fd; &vfio_user_sub_region_ioeventfd.fd_index
 * (and the other fd indexes) index the received fds, which entries may
 * share. Check every index and every offset/size against the region.
 *
 * With a non-zero @count, the entry stride is (@argsz - 16) / @count. The
 * specification says (argsz - 32) / count and "currently 40 bytes", but
 * libvfio-user sends 48-byte entries (struct
 * vfio_user_sub_region_ioeventfd_lvu) for every type. Accept a stride of 40
 * or 48. &vfio_user_sub_region_ioeventfd.type is
 * at offset 20 in every layout: read it first, then interpret the entry.
 */
struct vfio_user_region_io_fds_reply {
	__u32	argsz;
	__u32	flags;
	__u32	index;
	__u32	count;
	__u8	sub_regions[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_region_io_fds_reply, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_reply, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_reply, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_reply, index, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_reply, count, 12);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_io_fds_reply, sub_regions, 16);

/*
 * Sub-region types (the type field of every sub-region layout).
 * VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW is an experimental libvfio-user
 * extension that needs out-of-tree KVM and QEMU patches.
 */
#define VFIO_USER_IO_FD_TYPE_IOEVENTFD		0
#define VFIO_USER_IO_FD_TYPE_IOREGIONFD		1
#define VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW	2

/*
 * Flags of an ioeventfd sub-region; the values of KVM_IOEVENTFD_FLAG_* in
 * <linux/kvm.h>. The specification questions VIRTIO_CCW_NOTIFY ("FIXME:
 * makes sense?").
 */
#define VFIO_USER_IOEVENTFD_FLAG_DATAMATCH		(1 << 0)
#define VFIO_USER_IOEVENTFD_FLAG_PIO			(1 << 1)
#define VFIO_USER_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY	(1 << 3)

#ifdef KVM_IOEVENTFD_FLAG_DATAMATCH
VFIO_USER_ASSERT_VALUE(VFIO_USER_IOEVENTFD_FLAG_DATAMATCH, KVM_IOEVENTFD_FLAG_DATAMATCH);
VFIO_USER_ASSERT_VALUE(VFIO_USER_IOEVENTFD_FLAG_PIO, KVM_IOEVENTFD_FLAG_PIO);
VFIO_USER_ASSERT_VALUE(VFIO_USER_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY,
		       KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY);
#endif

/*
 * Flags of an ioregionfd sub-region; the values of KVM_IOREGION_PIO and
 * KVM_IOREGION_POSTED_WRITES of the (unmerged) KVM ioregionfd RFC v3.
 */
#define VFIO_USER_IOREGIONFD_FLAG_PIO		(1 << 0)
#define VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES	(1 << 1)

/**
 * struct vfio_user_sub_region_ioeventfd - ioeventfd sub-region, as specified
 * @offset: start of the sub-region within the region.
 * @size: length of the access to match; 0 means any size.
 * @fd_index: index, in the fds of the reply, of the eventfd to signal.
 * @type: VFIO_USER_IO_FD_TYPE_IOEVENTFD.
 * @flags: VFIO_USER_IOEVENTFD_FLAG_* bits.
 * @padding: 0.
 * @datamatch: value to match with VFIO_USER_IOEVENTFD_FLAG_DATAMATCH.
 *
 * The 40-byte entry of the specification, in
 * &vfio_user_region_io_fds_reply.sub_regions. The fields map onto struct
 * kvm_ioeventfd (addr = guest address of the region + @offset, len = @size).
 * libvfio-user sends struct vfio_user_sub_region_ioeventfd_lvu instead.
 */
struct vfio_user_sub_region_ioeventfd {
	__u64	offset;
	__u64	size;
	__u32	fd_index;
	__u32	type;
	__u32	flags;
	__u32	padding;
	__u64	datamatch;
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_sub_region_ioeventfd, 40);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd, offset, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd, size, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd, fd_index, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd, type, 20);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd, flags, 24);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd, padding, 28);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd, datamatch, 32);

/**
 * struct vfio_user_sub_region_ioeventfd_lvu - ioeventfd sub-region, as
 *	libvfio-user sends it
 * @gpa_offset: start of the sub-region within the region.
 * @size: length of the access to match; 0 means any size.
 * @fd_index: index, in the fds of the reply, of the eventfd to signal.
 * @type: VFIO_USER_IO_FD_TYPE_IOEVENTFD or
 *	VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW.
 * @flags: VFIO_USER_IOEVENTFD_FLAG_* bits.
 * @shadow_mem_fd_index: VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW only: index,
 *	in the fds of the reply, of the shadow memory fd that KVM writes the
 *	written value into.
 * @shadow_offset: VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW only: offset of
 *	the value in the shadow memory fd.
 * @datamatch: value to match with VFIO_USER_IOEVENTFD_FLAG_DATAMATCH.
 *
 * The 48-byte entry that libvfio-user puts in
 * &vfio_user_region_io_fds_reply.sub_regions for every type ("lvu":
 * libvfio-user); entries of other types are padded to 48 bytes. It differs
 * from struct vfio_user_sub_region_ioeventfd from offset 28 on: @datamatch
 * is at 40, not 32.
 */
struct vfio_user_sub_region_ioeventfd_lvu {
	__u64	gpa_offset;
	__u64	size;
	__u32	fd_index;
	__u32	type;
	__u32	flags;
	__u32	shadow_mem_fd_index;
	__u64	shadow_offset;
	__u64	datamatch;
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_sub_region_ioeventfd_lvu, 48);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd_lvu, gpa_offset, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd_lvu, size, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd_lvu, fd_index, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd_lvu, type, 20);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd_lvu, flags, 24);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd_lvu, shadow_mem_fd_index, 28);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd_lvu, shadow_offset, 32);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioeventfd_lvu, datamatch, 40);

/**
 * struct vfio_user_sub_region_ioregionfd - ioregionfd sub-region
 * @offset: start of the sub-region within the region.
 * @size: length of the sub-region; 0 requires
 *	VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES.
 * @fd_index: index, in the fds of the reply, of the ioregionfd.
 * @type: VFIO_USER_IO_FD_TYPE_IOREGIONFD.
 * @flags: VFIO_USER_IOREGIONFD_FLAG_* bits.
 * @padding: 0.
 * @user_data: opaque value that KVM passes back to the server in every
 *	command on the fd.
 *
 * An entry of &vfio_user_region_io_fds_reply.sub_regions (40 bytes in the
 * specification and in libvfio-user's definition, which pads it to a
 * 48-byte stride). It maps onto the KVM_SET_IOREGION of the ioregionfd RFC,
 * which was never merged; no known server sends it.
 */
struct vfio_user_sub_region_ioregionfd {
	__u64	offset;
	__u64	size;
	__u32	fd_index;
	__u32	type;
	__u32	flags;
	__u32	padding;
	__u64	user_data;
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_sub_region_ioregionfd, 40);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioregionfd, offset, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioregionfd, size, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioregionfd, fd_index, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioregionfd, type, 20);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioregionfd, flags, 24);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioregionfd, padding, 28);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_sub_region_ioregionfd, user_data, 32);

/**
 * DOC: VFIO_USER_DEVICE_GET_IRQ_INFO and VFIO_USER_DEVICE_SET_IRQS
 *
 * GET_IRQ_INFO: payload struct vfio_irq_info of <linux/vfio.h> (16 bytes),
 * both ways; client to server; no fds. The request sets argsz and index.
 * libvfio-user replies with VFIO_IRQ_INFO_EVENTFD as the only flag.
 *
 * SET_IRQS: payload struct vfio_irq_set of <linux/vfio.h> (20 bytes) and its
 * data; client to server; no reply payload. argsz is the size of the
 * request payload. With VFIO_IRQ_SET_DATA_EVENTFD the eventfds travel as
 * SCM_RIGHTS, not in data: either count fds or none, which de-assigns
 * [start, start + count). Send at most the server's "max_msg_fds" fds per
 * message, splitting the range into several requests. With
 * VFIO_IRQ_SET_DATA_BOOL, data holds count bytes.
 */
VFIO_USER_ASSERT_SIZE(struct vfio_irq_info, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_info, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_info, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_info, index, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_info, count, 12);
VFIO_USER_ASSERT_SIZE(struct vfio_irq_set, 20);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_set, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_set, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_set, index, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_set, start, 12);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_set, count, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_irq_set, data, 20);

/**
 * struct vfio_user_region_access - VFIO_USER_REGION_READ and
 *	VFIO_USER_REGION_WRITE payload
 * @offset: offset of the access within the region.
 * @region: region index.
 * @count: number of bytes; at most the server's "max_data_xfer_size".
 * @data: @count bytes, in the READ reply and in the WRITE request.
 *
 * Direction: client to server; no fds. READ: the request is these 16 bytes,
 * the reply repeats them followed by the data. WRITE: the request is 16 +
 * @count bytes, the reply echoes the 16 bytes. A posted write may be sent
 * with VFIO_USER_F_NO_REPLY. libvfio-user answers a @count of 0 with an
 * empty reply payload (a bare header), and its error replies may carry a
 * payload.
 */
struct vfio_user_region_access {
	__u64	offset;
	__u32	region;
	__u32	count;
	__u8	data[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_region_access, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_access, offset, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_access, region, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_access, count, 12);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_region_access, data, 16);

/**
 * struct vfio_user_dma_region_access - VFIO_USER_DMA_READ and
 *	VFIO_USER_DMA_WRITE payload
 * @addr: DMA address; the access must lie inside a window of DMA_MAP.
 * @count: number of bytes; at most the client's "max_data_xfer_size".
 * @data: @count bytes, in the READ reply and in the WRITE request.
 *
 * Direction: server to client, on the twin socket if one was negotiated,
 * else on the main socket; no fds. READ: the request is these 16 bytes, the
 * reply repeats them followed by the data. WRITE: the request is 16 +
 * @count bytes, and the reply must be exactly the 16 bytes {@addr, @count}
 * of the request: libvfio-user checks both. (The specification's table shows
 * a 4-byte count in the WRITE reply; QEMU uses a different layout, a u32
 * count with the data at offset 12. Both are wrong for libvfio-user.)
 *
 * libvfio-user waits synchronously for the reply, so serve these requests
 * from a context that never waits for a reply on the main socket. Pages the
 * server writes through DMA_WRITE are not in the server's dirty log: the
 * client tracks them.
 */
struct vfio_user_dma_region_access {
	__u64	addr;
	__u64	count;
	__u8	data[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_dma_region_access, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_region_access, addr, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_region_access, count, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_dma_region_access, data, 16);

/*
 * Limits of VFIO_USER_REGION_WRITE_MULTI: VFIO_USER_MULTI_DATA data bytes per
 * write, VFIO_USER_MULTI_MAX writes per message (QEMU's values).
 */
#define VFIO_USER_MULTI_DATA	8
#define VFIO_USER_MULTI_MAX	200

/**
 * struct vfio_user_wr_one - one write of VFIO_USER_REGION_WRITE_MULTI
 * @offset: offset of the write within the region.
 * @region: region index.
 * @count: number of bytes, at most VFIO_USER_MULTI_DATA.
 * @data: the bytes to write; the first @count are used.
 */
struct vfio_user_wr_one {
	__u64	offset;
	__u32	region;
	__u32	count;
	__u8	data[VFIO_USER_MULTI_DATA];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_wr_one, 24);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_wr_one, offset, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_wr_one, region, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_wr_one, count, 12);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_wr_one, data, 16);

/**
 * struct vfio_user_wr_multi - VFIO_USER_REGION_WRITE_MULTI payload
 * @wr_cnt: in the request, the number of entries in @wrs (at most
 *	VFIO_USER_MULTI_MAX); in the reply, the number of writes completed.
 * @wrs: the writes, applied in order.
 *
 * Direction: client to server; no fds. Only for servers that advertised
 * "write_multiple": true (libvfio-user does not, and rejects the command).
 * The request is 8 + 24 * @wr_cnt bytes; the reply is @wr_cnt alone. QEMU
 * sends it with VFIO_USER_F_NO_REPLY, for posted writes only.
 */
struct vfio_user_wr_multi {
	__u64			wr_cnt;
	struct vfio_user_wr_one	wrs[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_wr_multi, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_wr_multi, wr_cnt, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_wr_multi, wrs, 8);

/**
 * struct vfio_user_device_feature - VFIO_USER_DEVICE_FEATURE payload
 * @argsz: in the request, the largest reply payload accepted; in the
 *	reply, the size of the reply payload.
 * @flags: feature index in the bits of VFIO_DEVICE_FEATURE_MASK, ORed with
 *	VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_SET or
 *	VFIO_DEVICE_FEATURE_PROBE (all from <linux/vfio.h>). GET and SET
 *	exclude each other unless PROBE is set too.
 * @data: the feature's payload (see below).
 *
 * Direction: client to server; no fds. The reply to SET or PROBE repeats the
 * request; the reply to GET carries the feature's payload in @data.
 * Features (indexes from <linux/vfio.h>):
 *
 * - VFIO_DEVICE_FEATURE_MIGRATION (GET, PROBE): struct
 *   vfio_user_device_feature_migration.
 * - VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE (GET, SET, PROBE): struct
 *   vfio_user_device_feature_mig_state. The transition is complete when the
 *   reply arrives.
 * - VFIO_DEVICE_FEATURE_DMA_LOGGING_START and _STOP (SET, PROBE): struct
 *   vfio_user_device_feature_dma_logging_control.
 * - VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT (GET, PROBE): struct
 *   vfio_user_device_feature_dma_logging_report.
 *
 * libvfio-user offers these only to a device with migration callbacks; it
 * fails the command with EINVAL otherwise.
 */
struct vfio_user_device_feature {
	__u32	argsz;
	__u32	flags;
	__u8	data[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_device_feature, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature, flags, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature, data, 8);
#ifdef VFIO_DEVICE_FEATURE_MASK
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_MASK, 0xffff);
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_GET, 1 << 16);
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_SET, 1 << 17);
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_PROBE, 1 << 18);
#endif
#ifdef VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_MIGRATION, 1);
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 2);
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_DMA_LOGGING_START, 6);
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, 7);
VFIO_USER_ASSERT_VALUE(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, 8);
#endif

/**
 * struct vfio_user_device_feature_migration - payload of
 *	VFIO_DEVICE_FEATURE_MIGRATION
 * @flags: VFIO_USER_MIGRATION_* bits supported by the device.
 *
 * In &vfio_user_device_feature.data of the GET reply (libvfio-user replies
 * VFIO_USER_MIGRATION_STOP_COPY | VFIO_USER_MIGRATION_PRE_COPY). A GET
 * request needs an argsz of at least 16.
 */
struct vfio_user_device_feature_migration {
	__u64	flags;
} __attribute__((packed));

/*
 * Bits of vfio_user_device_feature_migration.flags, equal to the
 * VFIO_MIGRATION_* bits of <linux/vfio.h> (which lacks PRE_COPY before
 * Linux 6.2).
 */
#define VFIO_USER_MIGRATION_STOP_COPY	(1 << 0)
#define VFIO_USER_MIGRATION_P2P		(1 << 1)
#define VFIO_USER_MIGRATION_PRE_COPY	(1 << 2)

VFIO_USER_ASSERT_SIZE(struct vfio_user_device_feature_migration, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_migration, flags, 0);
#ifdef VFIO_MIGRATION_STOP_COPY
VFIO_USER_ASSERT_VALUE(VFIO_USER_MIGRATION_STOP_COPY, VFIO_MIGRATION_STOP_COPY);
VFIO_USER_ASSERT_VALUE(VFIO_USER_MIGRATION_P2P, VFIO_MIGRATION_P2P);
#endif
#ifdef VFIO_MIGRATION_PRE_COPY
VFIO_USER_ASSERT_VALUE(VFIO_USER_MIGRATION_PRE_COPY, VFIO_MIGRATION_PRE_COPY);
#endif

/**
 * enum vfio_user_device_mig_state - migration states of
 *	VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
 * @VFIO_USER_DEVICE_STATE_ERROR: the device failed a transition; leave it
 *	with VFIO_USER_DEVICE_RESET.
 * @VFIO_USER_DEVICE_STATE_STOP: not running, no migration data.
 * @VFIO_USER_DEVICE_STATE_RUNNING: running normally.
 * @VFIO_USER_DEVICE_STATE_STOP_COPY: stopped; the final device state is read
 *	with VFIO_USER_MIG_DATA_READ.
 * @VFIO_USER_DEVICE_STATE_RESUMING: stopped; device state is written with
 *	VFIO_USER_MIG_DATA_WRITE.
 * @VFIO_USER_DEVICE_STATE_RUNNING_P2P: defined for VFIO; unused in vfio-user.
 * @VFIO_USER_DEVICE_STATE_PRE_COPY: running; initial device state is read
 *	with VFIO_USER_MIG_DATA_READ.
 * @VFIO_USER_DEVICE_STATE_PRE_COPY_P2P: defined for VFIO; unused in
 *	vfio-user.
 * @VFIO_USER_DEVICE_NUM_STATES: number of states; not a state.
 *
 * The values of enum vfio_device_mig_state of <linux/vfio.h> (which lacks
 * the PRE_COPY states before Linux 6.2). Direct transitions: RUNNING to STOP
 * or PRE_COPY, STOP to RUNNING, STOP_COPY or RESUMING, PRE_COPY to RUNNING
 * or STOP_COPY, STOP_COPY to STOP, RESUMING to STOP. STOP_COPY to PRE_COPY
 * is forbidden; other requests take the shortest path that does not pass
 * through a saving state. In STOP and STOP_COPY, libvfio-user refuses
 * DMA_MAP, DMA_UNMAP, SET_IRQS and DEVICE_RESET.
 */
enum vfio_user_device_mig_state {
	VFIO_USER_DEVICE_STATE_ERROR		= 0,
	VFIO_USER_DEVICE_STATE_STOP		= 1,
	VFIO_USER_DEVICE_STATE_RUNNING		= 2,
	VFIO_USER_DEVICE_STATE_STOP_COPY	= 3,
	VFIO_USER_DEVICE_STATE_RESUMING		= 4,
	VFIO_USER_DEVICE_STATE_RUNNING_P2P	= 5,
	VFIO_USER_DEVICE_STATE_PRE_COPY		= 6,
	VFIO_USER_DEVICE_STATE_PRE_COPY_P2P	= 7,
	VFIO_USER_DEVICE_NUM_STATES		= 8,
};

#ifdef VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
VFIO_USER_ASSERT_VALUE(VFIO_USER_DEVICE_STATE_ERROR, VFIO_DEVICE_STATE_ERROR);
VFIO_USER_ASSERT_VALUE(VFIO_USER_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_STOP);
VFIO_USER_ASSERT_VALUE(VFIO_USER_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING);
VFIO_USER_ASSERT_VALUE(VFIO_USER_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP_COPY);
VFIO_USER_ASSERT_VALUE(VFIO_USER_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_RESUMING);
VFIO_USER_ASSERT_VALUE(VFIO_USER_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_RUNNING_P2P);
#endif
#ifdef VFIO_MIGRATION_PRE_COPY
VFIO_USER_ASSERT_VALUE(VFIO_USER_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_PRE_COPY);
VFIO_USER_ASSERT_VALUE(VFIO_USER_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P);
#endif

/**
 * struct vfio_user_device_feature_mig_state - payload of
 *	VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
 * @device_state: an enum vfio_user_device_mig_state value; the state to
 *	enter (SET) or the current state (GET reply).
 * @data_fd: unused: migration data travels with VFIO_USER_MIG_DATA_READ
 *	and VFIO_USER_MIG_DATA_WRITE, not through an fd. Send 0, ignore on
 *	receipt.
 *
 * In &vfio_user_device_feature.data of the SET request, of its reply (an
 * echo) and of the GET reply. A GET request needs an argsz of at least 16.
 */
struct vfio_user_device_feature_mig_state {
	__u32	device_state;
	__u32	data_fd;
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_device_feature_mig_state, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_mig_state, device_state, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_mig_state, data_fd, 4);

/**
 * struct vfio_user_device_feature_dma_logging_range - one IOVA range to log
 * @iova: start of the range.
 * @length: length of the range in bytes.
 */
struct vfio_user_device_feature_dma_logging_range {
	__u64	iova;
	__u64	length;
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_device_feature_dma_logging_range, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_range, iova, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_range, length, 8);

/**
 * struct vfio_user_device_feature_dma_logging_control - payload of
 *	VFIO_DEVICE_FEATURE_DMA_LOGGING_START and _STOP
 * @page_size: tracking granularity asked for; the reply may change it to
 *	the one the device chose (libvfio-user echoes it unchanged).
 * @num_ranges: number of entries in @ranges; 0 logs every mapped window.
 * @reserved: 0.
 * @ranges: the IOVA ranges to log, inline (VFIO's struct has a pointer
 *	here instead).
 *
 * In &vfio_user_device_feature.data of a SET request and of its reply (an
 * echo). libvfio-user uses only @page_size and ignores the payload of STOP.
 */
struct vfio_user_device_feature_dma_logging_control {
	__u64	page_size;
	__u32	num_ranges;
	__u32	reserved;
	struct vfio_user_device_feature_dma_logging_range ranges[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_device_feature_dma_logging_control, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_control, page_size, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_control, num_ranges, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_control, reserved, 12);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_control, ranges, 16);

/**
 * struct vfio_user_device_feature_dma_logging_report - payload of
 *	VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT
 * @iova: start of the range to report.
 * @length: length of the range in bytes.
 * @page_size: bytes per bitmap bit; a power of two.
 * @bitmap: in the reply only: bit (addr - @iova) / @page_size is set if the
 *	page was written since the last report; bits past the range are 0.
 *
 * In &vfio_user_device_feature.data of a GET request (24 bytes) and of its
 * reply (24 bytes and the bitmap). The bitmap has one bit per page of
 * @page_size bytes, rounded up to whole u64 words (libvfio-user sends
 * DIV_ROUND_UP(DIV_ROUND_UP(@length, @page_size), 64) words), and the
 * request's argsz must cover it. Reading clears the log for the range.
 * libvfio-user requires the range to match one DMA window exactly (else
 * ENOTSUP) and logging to be started. Pages written by the server through
 * DMA_WRITE are not in the log.
 */
struct vfio_user_device_feature_dma_logging_report {
	__u64	iova;
	__u64	length;
	__u64	page_size;
	__u64	bitmap[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_device_feature_dma_logging_report, 24);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_report, iova, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_report, length, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_report, page_size, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_device_feature_dma_logging_report, bitmap, 24);

/**
 * struct vfio_user_mig_data - VFIO_USER_MIG_DATA_READ and
 *	VFIO_USER_MIG_DATA_WRITE payload
 * @argsz: READ request: largest reply payload accepted (at least 8 +
 *	@size); READ reply: 8 + the number of bytes returned; WRITE: size of
 *	the request payload.
 * @size: READ request: bytes wanted; READ reply: bytes returned; WRITE:
 *	bytes in @data. At most the peer's "max_data_xfer_size".
 * @data: the migration data (READ reply, WRITE request).
 *
 * Direction: client to server; no fds. READ is valid in the PRE_COPY and
 * STOP_COPY states and returns the next bytes of the device's migration
 * stream; fewer bytes than asked means no more data for now. libvfio-user
 * pads the READ reply to the requested size: trust @size, not the message
 * size. WRITE is valid in RESUMING and has no reply payload.
 */
struct vfio_user_mig_data {
	__u32	argsz;
	__u32	size;
	__u8	data[];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_mig_data, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_mig_data, argsz, 0);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_mig_data, size, 4);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_mig_data, data, 8);

/* -------- /dev/vfio-user ioctls -------- */

/**
 * DOC: /dev/vfio-user
 *
 * One open of /dev/vfio-user is one device connection. The VMM (usually
 * through libvfio-user-client) connects to the server, negotiates and
 * discovers the device in userspace, because those replies carry file
 * descriptors the kernel cannot receive. It then hands the connected socket,
 * the negotiated limits and the discovery results to the kernel with
 * VFIO_USER_ATTACH. From then on the kernel owns the socket and the fd is
 * driven like a VFIO device fd: VFIO_DEVICE_GET_INFO,
 * VFIO_DEVICE_GET_REGION_INFO, VFIO_DEVICE_GET_IRQ_INFO,
 * VFIO_DEVICE_SET_IRQS and VFIO_DEVICE_RESET with their <linux/vfio.h>
 * numbers and structs, pread()/pwrite() at
 * VFIO_USER_REGION_OFFSET(index) + offset, mmap() of mappable regions and
 * poll(). The ioctls below are specific to vfio-user.
 *
 * The ioctls follow VFIO's conventions: _IO() numbers, a struct that starts
 * with @argsz (the size userspace passes, at least the struct's size up to
 * its last known field) and @flags; unknown flags and non-zero reserved
 * fields are rejected with EINVAL.
 *
 * Every wait for the server is bounded (VFIO_USER_SET_TIMEOUT). A timeout, an
 * end of file or a malformed message from the server breaks the connection:
 * calls in flight fail at once (ETIMEDOUT, ENOTCONN or EPROTO), later calls
 * fail with the same error, poll() reports EPOLLHUP | EPOLLERR, and the
 * eventfds set for the ERR and REQ interrupt indexes are signalled.
 */
#define VFIO_USER_TYPE		(';')
#define VFIO_USER_BASE		200	/* above the numbers VFIO uses */

/* Region @index of the device fd starts at this file offset. */
#define VFIO_USER_REGION_SHIFT		40
#define VFIO_USER_REGION_OFFSET(index)	((__u64)(index) << VFIO_USER_REGION_SHIFT)

/**
 * struct vfio_user_attach_io_fd - an io-fd sub-region for VFIO_USER_ATTACH
 * @type: VFIO_USER_IO_FD_TYPE_IOEVENTFD, VFIO_USER_IO_FD_TYPE_IOREGIONFD or
 *	VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW
 * @flags: VFIO_USER_IOEVENTFD_FLAG_* or VFIO_USER_IOREGIONFD_FLAG_*, as
 *	the server sent them
 * @offset: start of the sub-region within its region
 * @size: bytes (0 for an ioeventfd: any access size; a shadow ioeventfd
 *	needs 1, 2, 4 or 8, the width of the value it stores)
 * @datamatch: ioeventfd with VFIO_USER_IOEVENTFD_FLAG_DATAMATCH: the value
 * @user_data: ioregionfd: the value to echo in its commands
 * @shadow_offset: shadow ioeventfd: where in @shadow_fd a matching write's
 *	value is stored, aligned to @size
 * @fd: the fd the server sent for it (an eventfd, or a socket for an
 *	ioregionfd)
 * @reserved: must be 0 but for a shadow ioeventfd
 * @shadow_fd: shadow ioeventfd: the shadow memory the server sent, a memfd
 *	open for writing that a shared writable mmap() could map
 *
 * A write that matches a shadow ioeventfd stores its value at
 * @shadow_offset in @shadow_fd, then signals @fd; no message is sent, as
 * with KVM's shadow ioeventfd patches that libvfio-user targets.
 */
struct vfio_user_attach_io_fd {
	__u32		type;
	__u32		flags;
	__aligned_u64	offset;
	__aligned_u64	size;
	__aligned_u64	datamatch;
	union {
		__aligned_u64	user_data;
		__aligned_u64	shadow_offset;
	};
	__s32		fd;
	union {
		__u32	reserved;
		__s32	shadow_fd;
	};
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_attach_io_fd, 48);

/* Bits of vfio_user_attach_region.attach_flags */
#define VFIO_USER_ATTACH_REGION_POSTED_WRITES	(1 << 0)

/**
 * struct vfio_user_attach_region - one region for VFIO_USER_ATTACH
 * @flags: VFIO_REGION_INFO_FLAG_* as the server reported them
 * @fd: the region's mmap fd from the server, or -1; required with
 *	VFIO_REGION_INFO_FLAG_MMAP
 * @size: region size
 * @offset: offset of the region in @fd, for mmap
 * @cap_size: bytes at @caps (0: no capabilities, and
 *	VFIO_REGION_INFO_FLAG_CAPS must be clear)
 * @nr_io_fds: entries at @io_fds
 * @caps: user pointer to the bytes that followed the 32-byte struct
 *	vfio_region_info in the server's reply, capability chain included.
 *	Offsets in the chain are relative to the start of the region info, so
 *	byte 0 at @caps is at offset 32.
 * @io_fds: user pointer to @nr_io_fds struct vfio_user_attach_io_fd
 * @attach_flags: VFIO_USER_ATTACH_REGION_POSTED_WRITES: writes to this region
 *	are sent without waiting for a reply (not for the config space, and
 *	only until the VMM mmaps a region of the device: a read through a
 *	mapping could pass a posted write)
 * @cap_offset: offset of the first capability from the start of the region
 *	info, as the server sent it (0 when @cap_size is 0)
 */
struct vfio_user_attach_region {
	__u32		flags;
	__s32		fd;
	__aligned_u64	size;
	__aligned_u64	offset;
	__u32		cap_size;
	__u32		nr_io_fds;
	__aligned_u64	caps;
	__aligned_u64	io_fds;
	__u32		attach_flags;
	__u32		cap_offset;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_attach_region, 56);

/**
 * struct vfio_user_attach - argument of VFIO_USER_ATTACH
 * @argsz: sizeof(struct vfio_user_attach)
 * @flags: VFIO_USER_ATTACH_NO_FD_SHARING: never pass memory fds to the
 *	server; every DMA goes through the kernel's DMA_READ/DMA_WRITE service.
 *	VFIO_USER_ATTACH_WRITE_MULTIPLE: the server advertised
 *	"write_multiple": posted writes of up to VFIO_USER_MULTI_DATA bytes
 *	that gather while the socket is busy go out together, as one
 *	REGION_WRITE_MULTI
 * @sock_fd: the connected vfio-user socket (AF_UNIX, SOCK_STREAM)
 * @twin_fd: the twin socket the server sent in its VERSION reply, or -1
 * @major: negotiated protocol major version (0)
 * @minor: negotiated protocol minor version
 * @max_msg_fds: the server's "max_msg_fds"
 * @max_data_xfer_size: the server's "max_data_xfer_size": the largest data
 *	count the kernel sends in one message
 * @client_max_data_xfer_size: the "max_data_xfer_size" the client offered:
 *	the largest data count the server may send in one message (and the
 *	largest DMA_READ/DMA_WRITE the kernel serves)
 * @max_dma_maps: the server's "max_dma_maps"
 * @pgsizes: the server's "pgsizes"
 * @device_flags: VFIO_DEVICE_FLAGS_* from VFIO_USER_DEVICE_GET_INFO
 * @num_regions: entries at @regions, as in VFIO_USER_DEVICE_GET_INFO
 * @num_irqs: entries at @irqs, as in VFIO_USER_DEVICE_GET_INFO
 * @regions: user pointer to @num_regions struct vfio_user_attach_region,
 *	in index order
 * @irqs: user pointer to @num_irqs struct vfio_irq_info, in index order
 *
 * The kernel checks all of it (sizes, capability chains, sub-regions, fds)
 * and takes its own references on every fd; the caller may close its copies
 * afterwards. The socket must not be attached elsewhere and must not be read
 * or written by anyone else from now on.
 */
struct vfio_user_attach {
	__u32		argsz;
	__u32		flags;
	__s32		sock_fd;
	__s32		twin_fd;
	__u16		major;
	__u16		minor;
	__u32		max_msg_fds;
	__u32		max_data_xfer_size;
	__u32		client_max_data_xfer_size;
	__u32		max_dma_maps;
	__u32		device_flags;
	__aligned_u64	pgsizes;
	__u32		num_regions;
	__u32		num_irqs;
	__aligned_u64	regions;
	__aligned_u64	irqs;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_attach, 72);

#define VFIO_USER_ATTACH_NO_FD_SHARING	(1 << 0)
#define VFIO_USER_ATTACH_WRITE_MULTIPLE	(1 << 1)

/*
 * VFIO_USER_ATTACH - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 0,
 *			  struct vfio_user_attach)
 *
 * Hand a negotiated vfio-user connection to the kernel. Once per open.
 * Return: 0; EBUSY if already attached or the socket is attached elsewhere;
 * ENOTSOCK, EINVAL for a socket that is not a connected UNIX stream socket;
 * EINVAL for anything inconsistent; EBADF for a bad fd.
 */
#define VFIO_USER_ATTACH	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 0)

/**
 * struct vfio_user_timeout - argument of VFIO_USER_SET_TIMEOUT
 * @argsz: sizeof(struct vfio_user_timeout)
 * @flags: 0, or VFIO_USER_TIMEOUT_RESET
 * @timeout_ms: new bound on every wait for the server (with
 *	VFIO_USER_TIMEOUT_RESET: on the wait for the reply to DEVICE_RESET
 *	only), 1..600000 ms
 * @reserved: must be 0
 */
struct vfio_user_timeout {
	__u32	argsz;
	__u32	flags;
	__u32	timeout_ms;
	__u32	reserved;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_timeout, 16);

/* The specification allows a reset to take long: it has its own bound. */
#define VFIO_USER_TIMEOUT_RESET		(1U << 0)

/*
 * VFIO_USER_SET_TIMEOUT - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 1,
 *			       struct vfio_user_timeout)
 *
 * Set this device's reply timeout (the module parameter reply_timeout_ms is
 * the default), or with VFIO_USER_TIMEOUT_RESET its bound on DEVICE_RESET
 * (default: the module parameter reset_timeout_ms). Commands sent from then
 * on get the new bound. Allowed before and after VFIO_USER_ATTACH.
 */
#define VFIO_USER_SET_TIMEOUT	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 1)

/**
 * struct vfio_user_stats - argument of VFIO_USER_GET_STATS
 * @argsz: sizeof(struct vfio_user_stats)
 * @flags: must be 0 on input; VFIO_USER_STATS_BROKEN on output when the
 *	connection is broken
 * @broken_errno: why the connection broke (a positive errno), or 0
 * @reserved: 0
 * @msgs_sent: messages sent to the server (commands and replies)
 * @msgs_received: messages received from the server
 * @bytes_sent: bytes sent, headers included
 * @bytes_received: bytes received, headers included
 * @error_replies: replies with VFIO_USER_F_ERROR
 * @timeouts: waits that ran out of time
 * @protocol_errors: malformed or unexpected messages from the server
 * @server_requests: commands received from the server (DMA_READ/DMA_WRITE)
 * @posted_writes: region writes sent without waiting for a reply
 */
struct vfio_user_stats {
	__u32		argsz;
	__u32		flags;
	__u32		broken_errno;
	__u32		reserved;
	__aligned_u64	msgs_sent;
	__aligned_u64	msgs_received;
	__aligned_u64	bytes_sent;
	__aligned_u64	bytes_received;
	__aligned_u64	error_replies;
	__aligned_u64	timeouts;
	__aligned_u64	protocol_errors;
	__aligned_u64	server_requests;
	__aligned_u64	posted_writes;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_stats, 88);

#define VFIO_USER_STATS_BROKEN	(1 << 0)

/*
 * VFIO_USER_GET_STATS - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 2,
 *			     struct vfio_user_stats)
 *
 * Read the device's counters. Works on a broken connection too.
 */
#define VFIO_USER_GET_STATS	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 2)

/**
 * struct vfio_user_raw_msg - argument of VFIO_USER_RAW_MSG
 * @argsz: sizeof(struct vfio_user_raw_msg)
 * @flags: must be 0
 * @cmd: VFIO_USER_DEVICE_FEATURE, VFIO_USER_MIG_DATA_READ or
 *	VFIO_USER_MIG_DATA_WRITE
 * @reserved: must be 0
 * @request_size: payload bytes at @request (header excluded), at most the
 *	server's max_data_xfer_size + VFIO_USER_RAW_MSG_OVERHEAD
 * @reply_size: in: room at @reply, at most the client's max_data_xfer_size
 *	+ VFIO_USER_RAW_MSG_OVERHEAD; out: payload bytes of the reply
 * @reserved2: must be 0
 * @request: user pointer to the request payload
 * @reply: user pointer to the reply payload buffer
 *
 * Commands the kernel does not interpret travel through this ioctl; the
 * kernel still owns the message id and the socket. An error reply from the
 * server fails the ioctl with the server's errno. A reply longer than
 * @reply_size is a protocol error.
 */
struct vfio_user_raw_msg {
	__u32		argsz;
	__u32		flags;
	__u16		cmd;
	__u16		reserved;
	__u32		request_size;
	__u32		reply_size;
	__u32		reserved2;
	__aligned_u64	request;
	__aligned_u64	reply;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_raw_msg, 40);

#define VFIO_USER_RAW_MSG_OVERHEAD	4096

/*
 * VFIO_USER_RAW_MSG - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 3,
 *			   struct vfio_user_raw_msg)
 *
 * Send one allow-listed command that carries no fds and return its reply.
 */
#define VFIO_USER_RAW_MSG	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 3)

/* Bits of vfio_user_map_dma.flags */
#define VFIO_USER_MAP_DMA_READ		(1 << 0)	/* the device may read */
#define VFIO_USER_MAP_DMA_WRITE		(1 << 1)	/* the device may write */
#define VFIO_USER_MAP_DMA_FD		(1 << 2)	/* @fd backs the range */

/**
 * struct vfio_user_map_dma - argument of VFIO_USER_MAP_DMA
 * @argsz: sizeof(struct vfio_user_map_dma)
 * @flags: VFIO_USER_MAP_DMA_*; at least one of READ and WRITE
 * @vaddr: where the memory is in the calling process (the one that
 *	attached); it must be mapped, readable, and writable for WRITE
 * @iova: the DMA address the device uses
 * @size: bytes; @vaddr, @iova and @size are multiples of the smallest page
 *	size the server supports ("pgsizes")
 * @fd: with VFIO_USER_MAP_DMA_FD, a file (memfd, hugetlbfs) whose contents
 *	at @fd_offset are the memory at @vaddr; the server gets it and may map
 *	it, unless the device was attached with VFIO_USER_ATTACH_NO_FD_SHARING
 * @reserved: must be 0
 * @fd_offset: offset of the range in @fd
 *
 * DMA the server does not do through @fd arrives as DMA_READ/DMA_WRITE and
 * is served by the kernel from @vaddr, without waking the VMM.
 */
struct vfio_user_map_dma {
	__u32		argsz;
	__u32		flags;
	__aligned_u64	vaddr;
	__aligned_u64	iova;
	__aligned_u64	size;
	__s32		fd;
	__u32		reserved;
	__aligned_u64	fd_offset;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_map_dma, 48);

/*
 * VFIO_USER_MAP_DMA - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 4,
 *			   struct vfio_user_map_dma)
 *
 * Map a range for DMA and tell the server (DMA_MAP). Only the process that
 * attached may map. Return: 0; EEXIST if the range overlaps a mapping;
 * ENOSPC beyond the server's max_dma_maps; EFAULT/EACCES for memory the
 * caller does not have; EINVAL for bad flags, alignment or overflow; the
 * server's error.
 */
#define VFIO_USER_MAP_DMA	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 4)

#define VFIO_USER_UNMAP_DMA_ALL		(1 << 0)

/**
 * struct vfio_user_unmap_dma - argument of VFIO_USER_UNMAP_DMA
 * @argsz: sizeof(struct vfio_user_unmap_dma)
 * @flags: VFIO_USER_UNMAP_DMA_ALL: every mapping (then @iova and @size are 0)
 * @iova: start of a mapping
 * @size: its size: only whole mappings are unmapped, as the protocol says
 */
struct vfio_user_unmap_dma {
	__u32		argsz;
	__u32		flags;
	__aligned_u64	iova;
	__aligned_u64	size;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_unmap_dma, 24);

/*
 * VFIO_USER_UNMAP_DMA - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 5,
 *			     struct vfio_user_unmap_dma)
 *
 * Unmap, and return only once the server has dropped the range (its
 * DMA_UNMAP reply). From the call on, the kernel refuses the server's DMA to
 * the range. Return: 0; ENOENT if no mapping matches exactly.
 */
#define VFIO_USER_UNMAP_DMA	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 5)

#define VFIO_USER_DMA_BATCH_MAX		4096

/**
 * struct vfio_user_dma_batch - argument of VFIO_USER_MAP_DMA_BATCH and
 *	VFIO_USER_UNMAP_DMA_BATCH
 * @argsz: sizeof(struct vfio_user_dma_batch)
 * @flags: must be 0
 * @count: entries at @entries, 1..VFIO_USER_DMA_BATCH_MAX
 * @failed: must be 0; when the call fails, the index of the first entry
 *	that failed, or @count when the failure was no entry's
 * @entries: address of @count struct vfio_user_map_dma (MAP) or struct
 *	vfio_user_unmap_dma (UNMAP), each with its own argsz
 */
struct vfio_user_dma_batch {
	__u32		argsz;
	__u32		flags;
	__u32		count;
	__u32		failed;
	__aligned_u64	entries;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_dma_batch, 24);

/*
 * VFIO_USER_MAP_DMA_BATCH - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 9,
 *				 struct vfio_user_dma_batch)
 *
 * Map every entry as VFIO_USER_MAP_DMA would, sending all DMA_MAP commands
 * before waiting for the first reply. All or nothing: when one entry fails
 * (checks, overlap with a mapping or with an earlier entry, the server's
 * refusal), no entry is left mapped. Return: 0, or the error of entry
 * @failed.
 */
#define VFIO_USER_MAP_DMA_BATCH	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 9)

/*
 * VFIO_USER_UNMAP_DMA_BATCH - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 10,
 *				   struct vfio_user_dma_batch)
 *
 * Unmap every entry (each a whole mapping, without VFIO_USER_UNMAP_DMA_ALL)
 * as VFIO_USER_UNMAP_DMA would, sending all DMA_UNMAP commands before
 * waiting for the first reply. Entries are checked first: if one names no
 * mapping (ENOENT) or is invalid, nothing is unmapped. An unmapping the
 * server did cannot be undone: when the server refuses some, those stay
 * mapped and the others are gone. Return: 0, or the error of entry @failed.
 */
#define VFIO_USER_UNMAP_DMA_BATCH	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 10)

#define VFIO_USER_DIRTY_LOG_START	(1 << 0)
#define VFIO_USER_DIRTY_LOG_STOP	(1 << 1)

/**
 * struct vfio_user_dirty_log - argument of VFIO_USER_DIRTY_LOG
 * @argsz: sizeof(struct vfio_user_dirty_log)
 * @flags: exactly one of VFIO_USER_DIRTY_LOG_START and _STOP
 * @pgsize: START: the page size of the log: 0 or the smallest DMA page
 *	size, as VFIO requires. STOP: 0
 */
struct vfio_user_dirty_log {
	__u32		argsz;
	__u32		flags;
	__aligned_u64	pgsize;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_dirty_log, 16);

/*
 * VFIO_USER_DIRTY_LOG - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 6,
 *			     struct vfio_user_dirty_log)
 *
 * Start or stop logging the pages the kernel writes while serving the
 * server's DMA_WRITE requests: the client's half of dirty tracking (the
 * server reports what it writes through mappings itself).
 */
#define VFIO_USER_DIRTY_LOG	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 6)

/**
 * struct vfio_user_dirty_report - argument of VFIO_USER_DIRTY_REPORT
 * @argsz: sizeof(struct vfio_user_dirty_report)
 * @flags: must be 0
 * @iova: start of the range, a multiple of @pgsize
 * @size: bytes, a multiple of @pgsize
 * @pgsize: the log's page size
 * @bitmap: user pointer: one bit per page of the range, in __u64 words
 * @bitmap_size: bytes at @bitmap, at least DIV_ROUND_UP(size / pgsize, 64)
 *	* 8
 *
 * Fill @bitmap with the pages written since the last report and clear
 * them, as VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP does.
 */
struct vfio_user_dirty_report {
	__u32		argsz;
	__u32		flags;
	__aligned_u64	iova;
	__aligned_u64	size;
	__aligned_u64	pgsize;
	__aligned_u64	bitmap;
	__aligned_u64	bitmap_size;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_dirty_report, 48);

/*
 * VFIO_USER_DIRTY_REPORT - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 7,
 *				struct vfio_user_dirty_report)
 */
#define VFIO_USER_DIRTY_REPORT	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 7)

/**
 * struct vfio_user_ioeventfd - one ioeventfd sub-region, for KVM
 * @offset: start within the region (add the BAR's guest address)
 * @size: access width that matches, 0 for any (as KVM_IOEVENTFD's len)
 * @datamatch: with VFIO_USER_IOEVENTFD_FLAG_DATAMATCH, the value written
 * @flags: VFIO_USER_IOEVENTFD_FLAG_DATAMATCH and _PIO, as the server sent
 *	them (they have KVM_IOEVENTFD_FLAG_DATAMATCH's and _PIO's values)
 * @fd: out: a new close-on-exec fd of the eventfd, installed in the caller
 */
struct vfio_user_ioeventfd {
	__aligned_u64	offset;
	__aligned_u64	size;
	__aligned_u64	datamatch;
	__u32		flags;
	__s32		fd;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_ioeventfd, 32);

/**
 * struct vfio_user_ioeventfds - argument of VFIO_USER_GET_IOEVENTFDS
 * @argsz: sizeof(struct vfio_user_ioeventfds)
 * @flags: must be 0
 * @index: the region
 * @count: in: entries at @entries; out: the region's ioeventfd sub-regions.
 *	When it was too small, nothing is filled and no fd is installed.
 * @entries: user pointer to @count struct vfio_user_ioeventfd
 */
struct vfio_user_ioeventfds {
	__u32		argsz;
	__u32		flags;
	__u32		index;
	__u32		count;
	__aligned_u64	entries;
};

VFIO_USER_ASSERT_SIZE(struct vfio_user_ioeventfds, 24);

/*
 * VFIO_USER_GET_IOEVENTFDS - _IO(VFIO_USER_TYPE, VFIO_USER_BASE + 8,
 *				  struct vfio_user_ioeventfds)
 *
 * Hand out a region's ioeventfds, so the VMM can register them with
 * KVM_IOEVENTFD and guest writes reach the server without an exit to the
 * VMM. Writes through pwrite() that match one are signalled by the kernel
 * itself and never go on the socket.
 */
#define VFIO_USER_GET_IOEVENTFDS	_IO(VFIO_USER_TYPE, VFIO_USER_BASE + 8)

/**
 * DOC: ioregionfd wire format
 *
 * Accesses to an ioregionfd sub-region travel over its fd as in KVM's
 * ioregionfd proposal (RFC v3, never merged): a 32-byte command, and for
 * reads and non-posted writes a 32-byte response. The kernel speaks it for
 * pread()/pwrite() on the device fd; a server implements the other side.
 */
#define VFIO_USER_IOREGIONFD_CMD_READ		0
#define VFIO_USER_IOREGIONFD_CMD_WRITE		1
#define VFIO_USER_IOREGIONFD_SIZE_MASK		0x0f	/* log2 of bytes, 0..3 */
#define VFIO_USER_IOREGIONFD_RESP		(1 << 4)	/* a response follows */

/**
 * struct vfio_user_ioregionfd_cmd - an access, to the ioregionfd's server
 * @cmd: VFIO_USER_IOREGIONFD_CMD_READ or _WRITE
 * @size_resp: bits 0-3: log2 of the access size; bit 4:
 *	VFIO_USER_IOREGIONFD_RESP
 * @padding: 0
 * @user_data: the sub-region's user_data
 * @offset: from the start of the sub-region
 * @data: the value written (low bytes)
 */
struct vfio_user_ioregionfd_cmd {
	__u8	cmd;
	__u8	size_resp;
	__u8	padding[6];
	__u64	user_data;
	__u64	offset;
	__u64	data;
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_ioregionfd_cmd, 32);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_ioregionfd_cmd, size_resp, 1);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_ioregionfd_cmd, user_data, 8);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_ioregionfd_cmd, offset, 16);
VFIO_USER_ASSERT_OFFSET(struct vfio_user_ioregionfd_cmd, data, 24);

/**
 * struct vfio_user_ioregionfd_resp - the response to a read or a
 *	non-posted write
 * @data: the value read (low bytes)
 * @pad: 0
 */
struct vfio_user_ioregionfd_resp {
	__u64	data;
	__u8	pad[24];
} __attribute__((packed));

VFIO_USER_ASSERT_SIZE(struct vfio_user_ioregionfd_resp, 32);

#undef VFIO_USER_ASSERT_VALUE
#undef VFIO_USER_ASSERT_OFFSET
#undef VFIO_USER_ASSERT_SIZE
#undef VFIO_USER_STATIC_ASSERT

#endif /* _UAPI_LINUX_VFIO_USER_H */
