/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio-user client in the kernel: tracepoints.
 *
 * Messages sent and received (a reply with its round-trip latency), the
 * server's DMA requests served, and the end of a connection. The device
 * is named by its number: dev=N is the device "vfio-user<N>" of debugfs
 * and fdinfo.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vfio_user

#if !defined(_VFIO_USER_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VFIO_USER_TRACE_H

#include <linux/tracepoint.h>
#include <linux/vfio_user.h>

TRACE_EVENT(vfio_user_msg_send,
	    TP_PROTO(int dev, const struct vfio_user_header *hdr),
	    TP_ARGS(dev, hdr),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(u16, cmd)
			     __field(u16, id)
			     __field(u32, size)
			     __field(u32, flags)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->cmd = hdr->cmd;
			   __entry->id = hdr->msg_id;
			   __entry->size = hdr->msg_size;
			   __entry->flags = hdr->flags;),
	    TP_printk("dev=%d cmd=%u id=%u size=%u flags=0x%x",
		      __entry->dev, __entry->cmd, __entry->id, __entry->size,
		      __entry->flags));

/*
 * A command of the server has latency_ns=0: there is no request to time;
 * so has a reply to a command sent before the event was enabled.
 */
TRACE_EVENT(vfio_user_msg_recv,
	    TP_PROTO(int dev, const struct vfio_user_header *hdr,
		     u64 latency_ns),
	    TP_ARGS(dev, hdr, latency_ns),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(u16, cmd)
			     __field(u16, id)
			     __field(u32, size)
			     __field(u32, flags)
			     __field(u32, error_no)
			     __field(u64, latency_ns)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->cmd = hdr->cmd;
			   __entry->id = hdr->msg_id;
			   __entry->size = hdr->msg_size;
			   __entry->flags = hdr->flags;
			   __entry->error_no = hdr->error_no;
			   __entry->latency_ns = latency_ns;),
	    TP_printk("dev=%d cmd=%u id=%u size=%u flags=0x%x error=%u latency_ns=%llu",
		      __entry->dev, __entry->cmd, __entry->id, __entry->size,
		      __entry->flags, __entry->error_no, __entry->latency_ns));

TRACE_EVENT(vfio_user_dma,
	    TP_PROTO(int dev, bool write, u64 addr, u64 count, int result),
	    TP_ARGS(dev, write, addr, count, result),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(bool, write)
			     __field(u64, addr)
			     __field(u64, count)
			     __field(int, result)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->write = write;
			   __entry->addr = addr;
			   __entry->count = count;
			   __entry->result = result;),
	    TP_printk("dev=%d %s addr=0x%llx count=%llu result=%d",
		      __entry->dev,
		      __entry->write ? "DMA_WRITE" : "DMA_READ",
		      __entry->addr, __entry->count, __entry->result));

TRACE_EVENT(vfio_user_conn_broken,
	    TP_PROTO(int dev, int err),
	    TP_ARGS(dev, err),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(int, err)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->err = err;),
	    TP_printk("dev=%d err=%d", __entry->dev, __entry->err));

#endif /* _VFIO_USER_TRACE_H */

/* Out of tree: define_trace.h finds this file through -I$(src)/kernel. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
