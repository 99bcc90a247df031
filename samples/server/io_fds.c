// SPDX-License-Identifier: BSD-3-Clause
/*
 * BAR0's fast paths, handed out by VFIO_USER_DEVICE_GET_REGION_IO_FDS:
 *
 *  - two ioeventfds (SAMPLE_REG_DOORBELL, and SAMPLE_REG_DOORBELL_DM with a
 *    datamatch): the client (KVM) signals them instead of sending a
 *    REGION_WRITE; we add their counters to the doorbell counts;
 *  - one ioregionfd (the mailbox): a socket on which the client sends the
 *    mailbox accesses in the KVM ioregionfd RFC v3 format and we answer;
 *  - with libvfio-user's entry layout, one shadow ioeventfd
 *    (SAMPLE_REG_DOORBELL_SHADOW): the client stores the written value in
 *    our shadow memory, then signals; we read the value from there.
 *
 * The fds live as long as the connection. The mailbox memory is the same
 * whichever way it is reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/types.h>
#include <linux/vfio.h>

#include "server.h"

/*
 * The wire format of the KVM ioregionfd RFC v3 (include/uapi/linux/
 * ioregion.h of the series, never merged). The RFC declares size_exponent
 * and resp as bitfields of byte 1; they are spelled out as masks here.
 */
struct ioregionfd_cmd {
	__u8 cmd; /* IOREGIONFD_CMD_* */
	__u8 info; /* IOREGIONFD_INFO_* */
	__u8 padding[6];
	__u64 user_data; /* the sub-region's user_data */
	__u64 offset; /* from the start of the sub-region */
	__u64 data; /* write: the first 1 << size bytes */
} __attribute__((packed));

struct ioregionfd_resp {
	__u64 data; /* read: the first 1 << size bytes */
	__u8 pad[24];
} __attribute__((packed));

#define IOREGIONFD_CMD_READ 0
#define IOREGIONFD_CMD_WRITE 1
#define IOREGIONFD_INFO_SIZE_MASK 0x0f /* access is 1 << n bytes */
#define IOREGIONFD_INFO_RESP 0x10 /* the sender waits for a resp */
#define IOREGIONFD_INFO_RESERVED 0xe0

_Static_assert(sizeof(struct ioregionfd_cmd) == 32, "ioregionfd_cmd");
_Static_assert(sizeof(struct ioregionfd_resp) == 32, "ioregionfd_resp");
_Static_assert(sizeof(((struct io_fds *)0)->cmd_buf) ==
		       sizeof(struct ioregionfd_cmd),
	       "cmd_buf");

/* Commands served per wake-up, so that a busy mailbox cannot starve us. */
#define MAILBOX_BATCH 64

/* One sub-region of the GET_REGION_IO_FDS reply. */
struct sub_region {
	uint64_t offset;
	uint64_t size;
	uint32_t type; /* VFIO_USER_IO_FD_TYPE_* */
	uint32_t flags;
	uint64_t data; /* datamatch, or user_data */
	int fd;
	int shadow_fd; /* shadow ioeventfd: its memory, else -1 */
	uint64_t shadow_offset;
};

/* Most sub-regions of one region. */
#define MAX_SUB_REGIONS 4

void io_fds_init(struct io_fds *io)
{
	io->doorbell_efd = -1;
	io->doorbell_dm_efd = -1;
	io->shadow_efd = -1;
	io->shadow_memfd = -1;
	io->shadow = NULL;
	io->mailbox_fd = -1;
	io->mailbox_peer = -1;
	io->cmd_len = 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void io_fds_close(struct io_fds *io)
{
	close_fd(&io->doorbell_efd);
	close_fd(&io->doorbell_dm_efd);
	close_fd(&io->shadow_efd);
	close_fd(&io->shadow_memfd);
	if (io->shadow)
		munmap((uint8_t *)io->shadow - SAMPLE_SHADOW_OFFSET,
		       SAMPLE_SHADOW_OFFSET + 4);
	io->shadow = NULL;
	close_fd(&io->mailbox_fd);
	close_fd(&io->mailbox_peer);
	io->cmd_len = 0;
}

int io_fds_open(struct io_fds *io)
{
	void *shadow;
	int sv[2], ret;

	io_fds_init(io);
	io->doorbell_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->doorbell_efd < 0)
		goto err;
	io->doorbell_dm_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->doorbell_dm_efd < 0)
		goto err;
	io->shadow_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->shadow_efd < 0)
		goto err;
	io->shadow_memfd = memfd_create("sample-shadow", MFD_CLOEXEC);
	if (io->shadow_memfd < 0 ||
	    ftruncate(io->shadow_memfd, SAMPLE_SHADOW_OFFSET + 4))
		goto err;
	shadow = mmap(NULL, SAMPLE_SHADOW_OFFSET + 4, PROT_READ, MAP_SHARED,
		      io->shadow_memfd, 0);
	if (shadow == MAP_FAILED)
		goto err;
	io->shadow =
		(volatile uint32_t *)((uint8_t *)shadow + SAMPLE_SHADOW_OFFSET);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		goto err;
	io->mailbox_fd = sv[0];
	io->mailbox_peer = sv[1];
	/* Only our end: the client's stays as the client expects, blocking. */
	if (fcntl(io->mailbox_fd, F_SETFL, O_NONBLOCK))
		goto err;
	return 0;

err:
	ret = -errno;
	io_fds_close(io);
	return ret;
}

void io_fds_doorbell_ready(struct server *srv, bool dm)
{
	int fd = dm ? srv->conn.io.doorbell_dm_efd : srv->conn.io.doorbell_efd;
	uint64_t n;

	if (fd < 0 || read(fd, &n, sizeof(n)) != sizeof(n))
		return; /* EAGAIN: nothing new */
	srv_debug(srv, "%s: %llu signal(s)", dm ? "DOORBELL_DM" : "DOORBELL",
		  (unsigned long long)n);
	/* Only matching writes signal the datamatch ioeventfd. */
	if (dm)
		dev_doorbell_dm(&srv->dev, n);
	else
		dev_doorbell(&srv->dev, n);
}

/* The eventfd fires after the value is in the shadow memory. */
void io_fds_shadow_ready(struct server *srv)
{
	struct io_fds *io = &srv->conn.io;
	uint64_t n;

	if (io->shadow_efd < 0 ||
	    read(io->shadow_efd, &n, sizeof(n)) != sizeof(n))
		return;
	srv_debug(srv, "DOORBELL_SHADOW: %llu signal(s), value %#x",
		  (unsigned long long)n, *io->shadow);
	dev_doorbell_shadow(&srv->dev, n, *io->shadow);
}

static bool mailbox_cmd_valid(const struct ioregionfd_cmd *cmd)
{
	unsigned int size_exp = cmd->info & IOREGIONFD_INFO_SIZE_MASK;
	unsigned int i;

	if (cmd->cmd != IOREGIONFD_CMD_READ && cmd->cmd != IOREGIONFD_CMD_WRITE)
		return false;
	if (size_exp > 3 || cmd->info & IOREGIONFD_INFO_RESERVED)
		return false;
	for (i = 0; i < sizeof(cmd->padding); i++)
		if (cmd->padding[i])
			return false;
	return cmd->user_data == SAMPLE_MAILBOX_USER_DATA;
}

/*
 * Serve one command. An invalid one is answered too (reads return all
 * ones, like a PCI master abort): the sender may be a vCPU waiting for
 * the response, and it must not hang. Returns -errno if the response could
 * not be sent.
 */
static int mailbox_serve(struct server *srv, const struct ioregionfd_cmd *cmd)
{
	struct ioregionfd_resp resp = { 0 };
	uint32_t size = 1u << (cmd->info & IOREGIONFD_INFO_SIZE_MASK);
	bool write = cmd->cmd == IOREGIONFD_CMD_WRITE;
	__u64 data = cmd->data;
	ssize_t n;
	int ret = -EINVAL;

	/* As in KVM, the value is the first @size bytes of the data field. */
	if (mailbox_cmd_valid(cmd))
		ret = dev_mailbox_access(&srv->dev, cmd->offset,
					 write ? &data : &resp.data, size,
					 write);
	if (ret) {
		srv_log(srv,
			"mailbox: bad command %u info %#x user_data %#llx offset %#llx",
			cmd->cmd, cmd->info, (unsigned long long)cmd->user_data,
			(unsigned long long)cmd->offset);
		resp.data = write ? 0 : ~0ULL;
	} else {
		srv_debug(srv, "mailbox: %s offset %#llx size %u",
			  write ? "write" : "read",
			  (unsigned long long)cmd->offset, size);
	}
	if (!(cmd->info & IOREGIONFD_INFO_RESP))
		return 0;
	n = send(srv->conn.io.mailbox_fd, &resp, sizeof(resp),
		 MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(resp))
		return 0;
	return n < 0 ? -errno : -EAGAIN;
}

void io_fds_mailbox_ready(struct server *srv)
{
	struct io_fds *io = &srv->conn.io;
	struct ioregionfd_cmd cmd;
	unsigned int served = 0;
	ssize_t n;

	while (io->mailbox_fd >= 0 && served < MAILBOX_BATCH) {
		n = recv(io->mailbox_fd, io->cmd_buf + io->cmd_len,
			 sizeof(io->cmd_buf) - io->cmd_len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			srv_log(srv, "mailbox: %s, closing it",
				n ? strerror(errno) : "end of file");
			close_fd(&io->mailbox_fd);
			return;
		}
		io->cmd_len += (size_t)n;
		if (io->cmd_len < sizeof(io->cmd_buf))
			continue;
		io->cmd_len = 0;
		served++;
		memcpy(&cmd, io->cmd_buf, sizeof(cmd));
		if (mailbox_serve(srv, &cmd)) {
			/* The client does not read its responses. */
			srv_log(srv,
				"mailbox: cannot send a response, closing it");
			close_fd(&io->mailbox_fd);
		}
	}
}

void io_fds_drain(struct server *srv)
{
	io_fds_doorbell_ready(srv, false);
	io_fds_doorbell_ready(srv, true);
	io_fds_shadow_ready(srv);
	io_fds_mailbox_ready(srv);
}

/* The sub-regions of @index that this connection can offer. */
static unsigned int sub_regions(const struct io_fds *io, unsigned int index,
				enum io_fds_layout layout,
				struct sub_region *sr)
{
	unsigned int n = 0, i;

	if (index != VFIO_PCI_BAR0_REGION_INDEX)
		return 0;
	if (io->doorbell_efd >= 0)
		sr[n++] = (struct sub_region){
			.offset = SAMPLE_REG_DOORBELL,
			.size = 4,
			.type = VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			.fd = io->doorbell_efd,
		};
	if (io->doorbell_dm_efd >= 0)
		sr[n++] = (struct sub_region){
			.offset = SAMPLE_REG_DOORBELL_DM,
			.size = 4,
			.type = VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			.flags = VFIO_USER_IOEVENTFD_FLAG_DATAMATCH,
			.data = SAMPLE_DOORBELL_DM_VALUE,
			.fd = io->doorbell_dm_efd,
		};
	if (io->mailbox_fd >= 0 && io->mailbox_peer >= 0)
		sr[n++] = (struct sub_region){
			.offset = SAMPLE_MAILBOX_OFFSET,
			.size = SAMPLE_MAILBOX_SIZE,
			.type = VFIO_USER_IO_FD_TYPE_IOREGIONFD,
			.data = SAMPLE_MAILBOX_USER_DATA,
			.fd = io->mailbox_peer,
		};
	for (i = 0; i < n; i++)
		sr[i].shadow_fd = -1;
	/* The specified layout has no room for the shadow memory. */
	if (layout == IO_FDS_LAYOUT_LVU && io->shadow_efd >= 0 && io->shadow)
		sr[n++] = (struct sub_region){
			.offset = SAMPLE_REG_DOORBELL_SHADOW,
			.size = 4,
			.type = VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW,
			.fd = io->shadow_efd,
			.shadow_fd = io->shadow_memfd,
			.shadow_offset = SAMPLE_SHADOW_OFFSET,
		};
	return n;
}

/*
 * Write entry @sr, whose fd is fd number @fd_index of the reply (and its
 * shadow memory the next one).
 */
static void encode(uint8_t *out, const struct sub_region *sr, uint32_t fd_index,
		   enum io_fds_layout layout)
{
	if (sr->type == VFIO_USER_IO_FD_TYPE_IOREGIONFD) {
		/* 40 bytes in both layouts; libvfio-user pads it to 48. */
		struct vfio_user_sub_region_ioregionfd e = {
			.offset = sr->offset,
			.size = sr->size,
			.fd_index = fd_index,
			.type = sr->type,
			.flags = sr->flags,
			.user_data = sr->data,
		};

		memcpy(out, &e, sizeof(e));
	} else if (layout == IO_FDS_LAYOUT_LVU) {
		struct vfio_user_sub_region_ioeventfd_lvu e = {
			.gpa_offset = sr->offset,
			.size = sr->size,
			.fd_index = fd_index,
			.type = sr->type,
			.flags = sr->flags,
			.datamatch = sr->data,
		};

		if (sr->shadow_fd >= 0) {
			e.shadow_mem_fd_index = fd_index + 1;
			e.shadow_offset = sr->shadow_offset;
		}
		memcpy(out, &e, sizeof(e));
	} else {
		struct vfio_user_sub_region_ioeventfd e = {
			.offset = sr->offset,
			.size = sr->size,
			.fd_index = fd_index,
			.type = sr->type,
			.flags = sr->flags,
			.datamatch = sr->data,
		};

		memcpy(out, &e, sizeof(e));
	}
}

/*
 * VFIO_USER_DEVICE_GET_REGION_IO_FDS. As in libvfio-user: a request whose
 * argsz cannot hold every entry gets the 16-byte header alone, with the
 * argsz needed and the count, and no fds.
 */
int io_fds_get(struct server *srv, const struct vu_msg *msg,
	       struct reply *reply)
{
	const struct vfio_user_region_io_fds_request *req = msg->payload;
	struct vfio_user_region_io_fds_reply *out;
	struct sub_region sr[MAX_SUB_REGIONS];
	unsigned int n, i, nr_fds = 0;
	size_t stride, needed;

	if (msg->len != sizeof(*req) || req->argsz < sizeof(*out) ||
	    req->flags || req->count || req->index >= SAMPLE_NUM_REGIONS)
		return -EINVAL;

	n = sub_regions(&srv->conn.io, req->index, srv->opts.io_fds_layout, sr);
	for (i = 0; i < n; i++)
		nr_fds += sr[i].shadow_fd >= 0 ? 2 : 1;
	if (nr_fds > srv->conn.client_max_fds) {
		/* It could not take the fds: it uses messages instead. */
		srv_debug(srv,
			  "client takes %u fds per message, offering no io fds",
			  srv->conn.client_max_fds);
		n = 0;
		nr_fds = 0;
	}
	stride = srv->opts.io_fds_layout == IO_FDS_LAYOUT_LVU ?
			 sizeof(struct vfio_user_sub_region_ioeventfd_lvu) :
			 sizeof(struct vfio_user_sub_region_ioeventfd);
	needed = sizeof(*out) + n * stride;
	if (req->argsz < needed)
		n = 0; /* the header alone, with the real count */

	out = reply_alloc(reply, sizeof(*out) + n * stride);
	if (!out)
		return -ENOMEM;
	out->argsz = (uint32_t)needed;
	out->index = req->index;
	out->count = (uint32_t)(needed - sizeof(*out)) / stride;
	for (i = 0; i < n; i++) {
		encode(out->sub_regions + i * stride, &sr[i], reply->nr_fds,
		       srv->opts.io_fds_layout);
		reply->fds[reply->nr_fds++] = sr[i].fd;
		if (sr[i].shadow_fd >= 0)
			reply->fds[reply->nr_fds++] = sr[i].shadow_fd;
	}
	return 0;
}
