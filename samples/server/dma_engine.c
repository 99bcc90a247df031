// SPDX-License-Identifier: BSD-3-Clause
/*
 * The device's DMA engine (SAMPLE_REG_DMA_*): copy, fill, checksum and
 * plain reads over DMA addresses. A window the client mapped with an fd is reached through
 * our own mapping of it; everything else goes out as DMA_READ/DMA_WRITE
 * messages, on the twin socket when there is one.
 *
 * The engine does not check addresses against the DMA map before sending a
 * message: checking them is the client's job, and the tests rely on the
 * client refusing what lies outside its map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "server.h"

struct xfer {
	struct server *srv;
	uint32_t path; /* SAMPLE_DMA_PATH_* used so far */
};

/*
 * Wait for the reply to our request @id on @rd, the reader of the socket
 * it went out on; park client commands meanwhile.
 */
static int await_reply(struct xfer *x, struct vu_reader *rd, uint16_t id,
		       uint16_t cmd, size_t max_payload, struct vu_msg *reply)
{
	struct conn *conn = &x->srv->conn;
	struct vu_msg *parked;
	int ret;

	for (;;) {
		/* Room for any client command; the reply's size is checked later. */
		ret = vu_recv_buffered(rd, reply, SERVER_MAX_PAYLOAD,
				       VU_WIRE_MAX_FDS, SERVER_IO_TIMEOUT_MS);
		if (ret)
			return ret;
		if ((reply->hdr.flags & VFIO_USER_F_TYPE_MASK) ==
		    VFIO_USER_F_TYPE_REPLY)
			break;
		/* Only the main socket carries the client's commands. */
		if (rd != &conn->rd || conn->nr_deferred == CONN_MAX_DEFERRED) {
			vu_msg_release(reply);
			return -EPROTO;
		}
		parked = malloc(sizeof(*parked));
		if (!parked) {
			vu_msg_release(reply);
			return -ENOMEM;
		}
		*parked = *reply;
		conn->deferred[conn->nr_deferred++] = parked;
	}
	if (reply->hdr.msg_id != id || reply->hdr.cmd != cmd || reply->nr_fds ||
	    reply->len > max_payload) {
		vu_msg_release(reply);
		return -EPROTO;
	}
	if (reply->hdr.flags & VFIO_USER_F_ERROR) {
		ret = reply->hdr.error_no ? -(int)reply->hdr.error_no : -EIO;
		vu_msg_release(reply);
		return ret;
	}
	return 0;
}

/* One DMA_READ or DMA_WRITE message of at most client_max_xfer bytes. */
static int xfer_message(struct xfer *x, uint64_t addr, void *buf, uint32_t len,
			bool write)
{
	struct conn *conn = &x->srv->conn;
	bool twin = conn->twin >= 0;
	int sock = twin ? conn->twin : conn->sock;
	uint16_t cmd = write ? VFIO_USER_DMA_WRITE : VFIO_USER_DMA_READ;
	struct vfio_user_dma_region_access *req, echo = { 0 };
	struct vfio_user_header hdr = { 0 };
	size_t req_len = sizeof(*req) + (write ? len : 0);
	size_t want = sizeof(echo) + (write ? 0 : len);
	struct vu_msg reply;
	int ret;

	req = malloc(req_len);
	if (!req)
		return -ENOMEM;
	req->addr = addr;
	req->count = len;
	if (write)
		memcpy(req->data, buf, len);
	hdr.msg_id = ++conn->next_dma_id;
	hdr.cmd = cmd;
	hdr.msg_size = sizeof(hdr) + req_len;
	hdr.flags = VFIO_USER_F_TYPE_COMMAND;
	ret = vu_send(sock, &hdr, req, req_len, NULL, 0, SERVER_IO_TIMEOUT_MS);
	free(req);
	if (ret)
		return ret;

	ret = await_reply(x, twin ? &conn->twin_rd : &conn->rd, hdr.msg_id, cmd,
			  want, &reply);
	if (ret)
		return ret;
	if (reply.len == want)
		memcpy(&echo, reply.payload, sizeof(echo));
	if (reply.len != want || echo.addr != addr || echo.count != len)
		ret = -EPROTO;
	else if (!write)
		memcpy(buf, (uint8_t *)reply.payload + sizeof(echo), len);
	vu_msg_release(&reply);
	x->path |= SAMPLE_DMA_PATH_MESSAGES;
	return ret;
}

/* Move @len bytes between @buf and DMA address @addr. */
static int xfer(struct xfer *x, uint64_t addr, void *buf, uint64_t len,
		bool write)
{
	struct dma_table *tbl = &x->srv->conn.dma;
	uint8_t *p = buf;
	int ret;

	while (len) {
		const struct dma_region *r = dma_find(tbl, addr);
		uint64_t n;

		if (r && r->map) {
			uint32_t need = write ? VFIO_USER_F_DMA_REGION_WRITE :
						VFIO_USER_F_DMA_REGION_READ;
			uint8_t *mem = (uint8_t *)r->base + (addr - r->addr);

			if (!(r->flags & need))
				return -EPERM;
			n = r->addr + r->size - addr;
			n = n < len ? n : len;
			if (write) {
				memcpy(mem, p, n);
				mig_dma_written(x->srv, addr, n);
			} else
				memcpy(p, mem, n);
			x->path |= SAMPLE_DMA_PATH_MMAP;
		} else {
			uint64_t most = x->srv->conn.client_max_xfer;
			uint32_t chunk = x->srv->dev.regs.dma_chunk;

			if (chunk && chunk < most)
				most = chunk;
			n = len < most ? len : most;
			ret = xfer_message(x, addr, p, (uint32_t)n, write);
			if (ret)
				return ret;
		}
		addr += n;
		p += n;
		len -= n;
	}
	return 0;
}

static uint64_t fnv64(uint64_t h, const uint8_t *p, size_t len)
{
	while (len--) {
		h ^= *p++;
		h *= SAMPLE_FNV64_PRIME;
	}
	return h;
}

/* Bytes moved per step: bounds the buffer, not the transfer. */
#define STEP (1U << 20)

static int run(struct xfer *x, uint32_t cmd, uint8_t *buf)
{
	struct device *dev = &x->srv->dev;
	uint64_t src = dev->regs.dma_src, dst = dev->regs.dma_dst;
	uint64_t done, h = SAMPLE_FNV64_OFFSET;
	uint32_t len = dev->regs.dma_len;
	int ret = 0;

	if (cmd == SAMPLE_DMA_CMD_FILL)
		memset(buf, (int)dev->regs.dma_fill, STEP);
	for (done = 0; done < len && !ret; done += STEP) {
		uint64_t n = len - done < STEP ? len - done : STEP;

		switch (cmd) {
		case SAMPLE_DMA_CMD_COPY:
			ret = xfer(x, src + done, buf, n, false);
			if (!ret)
				ret = xfer(x, dst + done, buf, n, true);
			break;
		case SAMPLE_DMA_CMD_FILL:
			ret = xfer(x, dst + done, buf, n, true);
			break;
		case SAMPLE_DMA_CMD_READ:
			ret = xfer(x, src + done, buf, n, false);
			break;
		default:
			ret = xfer(x, src + done, buf, n, false);
			h = fnv64(h, buf, n);
			break;
		}
	}
	if (!ret && cmd == SAMPLE_DMA_CMD_CHECKSUM)
		dev->regs.dma_result = h;
	return ret;
}

/*
 * SAMPLE_REG_DMA_CMD was written: run the transfer now, record its status
 * and raise the completion interrupt. Returns -EINVAL only for a command
 * that does not exist; a failed transfer is reported in STATUS.
 */
int dma_engine_command(struct server *srv, uint32_t cmd)
{
	struct device *dev = &srv->dev;
	struct xfer x = { .srv = srv };
	uint8_t *buf;
	int ret;

	if (cmd != SAMPLE_DMA_CMD_COPY && cmd != SAMPLE_DMA_CMD_FILL &&
	    cmd != SAMPLE_DMA_CMD_CHECKSUM && cmd != SAMPLE_DMA_CMD_READ)
		return -EINVAL;
	if (!mig_running(dev)) {
		ret = -EBUSY; /* stopped for migration */
	} else if (!dev->regs.dma_len ||
		   dev->regs.dma_len > SAMPLE_DMA_MAX_LEN) {
		ret = -EINVAL;
	} else {
		buf = malloc(STEP);
		ret = buf ? run(&x, cmd, buf) : -ENOMEM;
		free(buf);
	}
	dev->regs.dma_status = (uint32_t)-ret;
	dev->regs.dma_path = x.path;
	if (!ret)
		dev->regs.dma_count++;
	srv_debug(srv, "DMA command %u: %u bytes, %s", cmd, dev->regs.dma_len,
		  ret ? strerror(-ret) : "ok");
	if (dev_msix_enabled(dev))
		irq_raise(dev, VFIO_PCI_MSIX_IRQ_INDEX, SAMPLE_DMA_MSIX_VECTOR);
	return 0;
}
