// SPDX-License-Identifier: BSD-3-Clause
/*
 * Migration v2 and dirty tracking: DEVICE_FEATURE (MIGRATION,
 * MIG_DEVICE_STATE, DMA_LOGGING_*), MIG_DATA_READ and MIG_DATA_WRITE, on
 * the socket (userspace backend) or through the kernel's raw-message ioctl.
 *
 * The server is not trusted: every reply is checked against what was asked
 * (sizes, echoed fields, state values, bits past a range) before use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

#define S_ERROR VFIO_USER_DEVICE_STATE_ERROR
#define S_STOP VFIO_USER_DEVICE_STATE_STOP
#define S_RUNNING VFIO_USER_DEVICE_STATE_RUNNING
#define S_STOP_COPY VFIO_USER_DEVICE_STATE_STOP_COPY
#define S_RESUMING VFIO_USER_DEVICE_STATE_RESUMING
#define S_PRE_COPY VFIO_USER_DEVICE_STATE_PRE_COPY

#define FEAT_HDR sizeof(struct vfio_user_device_feature)
#define MIG_HDR sizeof(struct vfio_user_mig_data)

static const char *state_name(uint32_t s)
{
	static const char *const names[VFIO_USER_DEVICE_NUM_STATES] = {
		"ERROR",    "STOP",	   "RUNNING",  "STOP_COPY",
		"RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P",
	};

	return s < VFIO_USER_DEVICE_NUM_STATES ? names[s] : "(invalid)";
}

/* States vfio-user has: no P2P. */
static bool state_valid(uint32_t s)
{
	return s == S_ERROR || s == S_STOP || s == S_RUNNING ||
	       s == S_STOP_COPY || s == S_RESUMING || s == S_PRE_COPY;
}

/*
 * The next direct arc from @cur towards @target, as VFIO's
 * vfio_mig_get_next_state() without the P2P states: never through a saving
 * state that was not asked for. ERROR: no path.
 */
static uint32_t next_state(uint32_t cur, uint32_t target)
{
	static const uint8_t next[8][8] = {
		[S_STOP] = {
			[S_STOP] = S_STOP, [S_RUNNING] = S_RUNNING,
			[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_RESUMING,
			[S_PRE_COPY] = S_RUNNING,
		},
		[S_RUNNING] = {
			[S_STOP] = S_STOP, [S_RUNNING] = S_RUNNING,
			[S_STOP_COPY] = S_STOP, [S_RESUMING] = S_STOP,
			[S_PRE_COPY] = S_PRE_COPY,
		},
		[S_STOP_COPY] = {
			[S_STOP] = S_STOP, [S_RUNNING] = S_STOP,
			[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_STOP,
			[S_PRE_COPY] = S_ERROR,		/* forbidden */
		},
		[S_RESUMING] = {
			[S_STOP] = S_STOP, [S_RUNNING] = S_STOP,
			[S_STOP_COPY] = S_STOP, [S_RESUMING] = S_RESUMING,
			[S_PRE_COPY] = S_STOP,
		},
		[S_PRE_COPY] = {
			[S_STOP] = S_RUNNING, [S_RUNNING] = S_RUNNING,
			[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_RUNNING,
			[S_PRE_COPY] = S_PRE_COPY,
		},
	};

	if (cur >= 8 || target >= 8)
		return S_ERROR;
	return next[cur][target];
}

/* Bytes of migration data per message: within both sides' limits. */
static size_t xfer_limit(const struct vuc_device *dev)
{
	size_t lim = dev->caps.max_data_xfer_size;

	if (dev->max_data_xfer_size < lim)
		lim = dev->max_data_xfer_size;
	return lim;
}

/*
 * One command with no fds on either backend: the reply payload lands in
 * @reply (at most @cap bytes, more is a protocol error). A server's error
 * reply sets vuc_server_error and says that the server refused @what.
 */
static int mig_call(struct vuc_device *dev, uint16_t cmd, const char *what,
		    const void *req, size_t len, void *reply, size_t cap,
		    size_t *reply_len)
{
	struct vu_msg msg;
	char buf[96];
	int ret, err;

	ret = vuc_check_usable(dev);
	if (ret)
		return ret;
	if (dev->kfd >= 0) {
		vuc_server_error = false;
		ret = vuc_kernel_raw(dev, cmd, req, len, reply, cap, reply_len);
		if (!ret)
			return 0;
		if (vuc_kernel_broken(dev, &err))
			return vuc_fail(
				dev, ret,
				"%s: %s; the kernel closed the connection to the server (%s)",
				what, strerror(-ret), strerror(err));
		vuc_server_error = true;
		return vuc_fail(dev, ret, "server refused %s: %s", what,
				vuc_errname(-ret, buf, sizeof(buf)));
	}
	ret = vuc_call(dev, cmd, req, len, NULL, 0, 0, cap, &msg);
	if (ret) {
		if (vuc_server_error)
			return vuc_fail(dev, ret, "server refused %s: %s", what,
					vuc_errname(-ret, buf, sizeof(buf)));
		return ret;
	}
	if (msg.len > cap) {
		size_t got = msg.len;

		vu_msg_release(&msg);
		return vuc_fail(
			dev, -EPROTO,
			"server's reply to %s has %zu bytes, more than the %zu it may have",
			what, got, cap);
	}
	if (msg.len)
		memcpy(reply, msg.payload, msg.len);
	*reply_len = msg.len;
	vu_msg_release(&msg);
	return 0;
}

/*
 * DEVICE_FEATURE with @flags and @dlen bytes of @data; the reply's feature
 * data (after argsz and flags) goes to @out, *@out_len its length.
 */
static int feature(struct vuc_device *dev, uint32_t flags, const char *what,
		   const void *data, size_t dlen, void *out, size_t out_cap,
		   size_t *out_len)
{
	size_t room = dlen > out_cap ? dlen : out_cap;
	struct vfio_user_device_feature *req, *rep;
	size_t rlen = 0;
	int ret;

	req = calloc(1, FEAT_HDR + dlen);
	rep = calloc(1, FEAT_HDR + room);
	if (!req || !rep) {
		free(req);
		free(rep);
		return vuc_fail(dev, -ENOMEM, "out of memory");
	}
	req->argsz = (uint32_t)(FEAT_HDR + room);
	req->flags = flags;
	if (dlen)
		memcpy(req->data, data, dlen);
	ret = mig_call(dev, VFIO_USER_DEVICE_FEATURE, what, req,
		       FEAT_HDR + dlen, rep, FEAT_HDR + room, &rlen);
	if (!ret && rlen < FEAT_HDR)
		ret = vuc_fail(
			dev, -EPROTO,
			"server's reply to %s has %zu bytes, less than the 8-byte feature header",
			what, rlen);
	if (!ret) {
		*out_len = rlen - FEAT_HDR;
		if (*out_len > out_cap)
			*out_len = out_cap;
		if (out && *out_len)
			memcpy(out, rep->data, *out_len);
	}
	free(req);
	free(rep);
	return ret;
}

/* Migration feature and states */

int vuc_mig_get_flags(struct vuc_device *dev, uint64_t *flags)
{
	struct vfio_user_device_feature_migration mig = { 0 };
	size_t len;
	int ret;

	if (!dev || !flags)
		return -EINVAL;
	if (dev->mig.flags_known) {
		*flags = dev->mig.flags;
		return 0;
	}
	ret = feature(dev,
		      VFIO_DEVICE_FEATURE_MIGRATION | VFIO_DEVICE_FEATURE_GET,
		      "DEVICE_FEATURE MIGRATION GET", NULL, 0, &mig,
		      sizeof(mig), &len);
	if (ret && vuc_server_error)
		return vuc_fail(dev, -ENOTSUP, "the device cannot migrate: %s",
				dev->errmsg);
	if (ret)
		return ret;
	if (len < sizeof(mig))
		return vuc_fail(
			dev, -EPROTO,
			"server's DEVICE_FEATURE MIGRATION reply has %zu bytes of data, less than 8",
			len);
	if (!(mig.flags & VFIO_USER_MIGRATION_STOP_COPY))
		return vuc_fail(
			dev, -ENOTSUP,
			"the device cannot migrate: its migration flags 0x%llx lack STOP_COPY",
			(unsigned long long)mig.flags);
	/* Bits we do not know of are dropped. */
	dev->mig.flags = mig.flags & (VFIO_USER_MIGRATION_STOP_COPY |
				      VFIO_USER_MIGRATION_P2P |
				      VFIO_USER_MIGRATION_PRE_COPY);
	dev->mig.flags_known = true;
	*flags = dev->mig.flags;
	return 0;
}

int vuc_mig_get_state(struct vuc_device *dev, uint32_t *state)
{
	struct vfio_user_device_feature_mig_state st = { 0 };
	size_t len;
	int ret;

	if (!dev || !state)
		return -EINVAL;
	dev->mig.state = -1;
	ret = feature(dev,
		      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE |
			      VFIO_DEVICE_FEATURE_GET,
		      "DEVICE_FEATURE MIG_DEVICE_STATE GET", NULL, 0, &st,
		      sizeof(st), &len);
	if (ret)
		return ret;
	if (len < sizeof(st))
		return vuc_fail(
			dev, -EPROTO,
			"server's MIG_DEVICE_STATE reply has %zu bytes of data, less than 8",
			len);
	if (!state_valid(st.device_state))
		return vuc_fail(
			dev, -EPROTO,
			"server reports device state %u (%s), which vfio-user does not have",
			st.device_state, state_name(st.device_state));
	dev->mig.state = (int)st.device_state;
	*state = st.device_state;
	return 0;
}

int vuc_mig_state(const struct vuc_device *dev)
{
	return dev ? dev->mig.state : -1;
}

/* One direct arc. */
static int set_arc(struct vuc_device *dev, uint32_t to)
{
	struct vfio_user_device_feature_mig_state st = { .device_state = to };
	struct vfio_user_device_feature_mig_state echo = { 0 };
	char what[96];
	size_t len;
	int ret;

	snprintf(what, sizeof(what), "the move from %s to %s",
		 state_name((uint32_t)dev->mig.state), state_name(to));
	ret = feature(dev,
		      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE |
			      VFIO_DEVICE_FEATURE_SET,
		      what, &st, sizeof(st), &echo, sizeof(echo), &len);
	if (ret)
		return ret;
	if (len < sizeof(echo) || echo.device_state != to)
		return vuc_fail(
			dev, -EPROTO,
			"server's reply to %s does not repeat the state asked for",
			what);
	return 0;
}

/* After a refused arc or stream: the server's view, message kept. */
static int arc_failed(struct vuc_device *dev, int err)
{
	char msg[sizeof(dev->errmsg)];
	bool server = vuc_server_error;
	uint32_t now;

	memcpy(msg, dev->errmsg, sizeof(msg));
	if (!server || vuc_mig_get_state(dev, &now)) {
		dev->mig.state = -1;
		return vuc_fail(dev, err, "%s; the device state is unknown now",
				msg);
	}
	return vuc_fail(dev, err, "%s; the device is in %s now", msg,
			state_name(now));
}

int vuc_mig_set_state(struct vuc_device *dev, uint32_t target)
{
	uint64_t flags;
	uint32_t cur, next;
	int ret;

	if (!dev)
		return -EINVAL;
	if (!state_valid(target) || target == S_ERROR)
		return vuc_fail(
			dev, -EINVAL,
			"%u (%s) is not a state a device can be moved to",
			target, state_name(target));
	ret = vuc_mig_get_flags(dev, &flags);
	if (ret)
		return ret;
	if (target == S_PRE_COPY && !(flags & VFIO_USER_MIGRATION_PRE_COPY))
		return vuc_fail(
			dev, -EINVAL,
			"the device has no PRE_COPY (its migration flags lack it)");
	if (dev->mig.state < 0) {
		ret = vuc_mig_get_state(dev, &cur);
		if (ret)
			return ret;
	}
	cur = (uint32_t)dev->mig.state;
	if (cur == S_ERROR)
		return vuc_fail(
			dev, -EINVAL,
			"the device is in ERROR; only a reset leaves it");
	while (cur != target) {
		next = next_state(cur, target);
		if (next == S_ERROR)
			return vuc_fail(
				dev, -EINVAL,
				"no way from %s to %s: the protocol forbids it",
				state_name(cur), state_name(target));
		ret = set_arc(dev, next);
		if (ret)
			return arc_failed(dev, ret);
		dev->mig.state = (int)next;
		cur = next;
	}
	return 0;
}

/* Migration data */

static int check_data_state(struct vuc_device *dev, bool write)
{
	int s = dev->mig.state;

	if (s < 0)
		return 0; /* unknown: the server decides */
	if (write ? s == S_RESUMING : (s == S_PRE_COPY || s == S_STOP_COPY))
		return 0;
	return vuc_fail(
		dev, -EINVAL,
		"migration data can be %s only in %s; the device is in %s",
		write ? "written" : "read",
		write ? "RESUMING" : "PRE_COPY or STOP_COPY",
		state_name((uint32_t)s));
}

ssize_t vuc_mig_read(struct vuc_device *dev, void *buf, size_t len)
{
	size_t lim, done = 0, chunk, rlen;
	struct vfio_user_mig_data req, *rep;
	int ret;

	if (!dev || (!buf && len))
		return -EINVAL;
	ret = check_data_state(dev, false);
	if (ret)
		return ret;
	lim = xfer_limit(dev);
	if (!lim)
		return vuc_fail(dev, -EINVAL,
				"no max_data_xfer_size negotiated");
	rep = malloc(MIG_HDR + (len < lim ? len : lim));
	if (!rep)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	while (done < len) {
		chunk = len - done < lim ? len - done : lim;
		req.argsz = (uint32_t)(MIG_HDR + chunk);
		req.size = (uint32_t)chunk;
		ret = mig_call(dev, VFIO_USER_MIG_DATA_READ, "MIG_DATA_READ",
			       &req, sizeof(req), rep, MIG_HDR + chunk, &rlen);
		if (ret)
			goto out;
		/* The size field, not the message length (which may be padded). */
		if (rlen < MIG_HDR || rep->size > chunk ||
		    MIG_HDR + rep->size > rlen) {
			ret = vuc_fail(
				dev, -EPROTO,
				"server's MIG_DATA_READ reply (%zu bytes) claims %u bytes of data for %zu asked",
				rlen, rlen < MIG_HDR ? 0 : rep->size, chunk);
			goto out;
		}
		memcpy((uint8_t *)buf + done, rep->data, rep->size);
		done += rep->size;
		if (rep->size < chunk)
			break;
	}
out:
	free(rep);
	return ret ? ret : (ssize_t)done;
}

int vuc_mig_write(struct vuc_device *dev, const void *buf, size_t len)
{
	size_t lim, done = 0, chunk, rlen;
	struct vfio_user_mig_data *req;
	uint8_t rep[16];
	int ret = 0;

	if (!dev || (!buf && len))
		return -EINVAL;
	ret = check_data_state(dev, true);
	if (ret)
		return ret;
	lim = xfer_limit(dev);
	if (!lim)
		return vuc_fail(dev, -EINVAL,
				"no max_data_xfer_size negotiated");
	req = malloc(MIG_HDR + (len < lim ? len : lim));
	if (!req)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	while (done < len && !ret) {
		chunk = len - done < lim ? len - done : lim;
		req->argsz = (uint32_t)(MIG_HDR + chunk);
		req->size = (uint32_t)chunk;
		memcpy(req->data, (const uint8_t *)buf + done, chunk);
		ret = mig_call(dev, VFIO_USER_MIG_DATA_WRITE, "MIG_DATA_WRITE",
			       req, MIG_HDR + chunk, rep, sizeof(rep), &rlen);
		done += chunk;
	}
	free(req);
	/* A refused stream may have put the device in ERROR: say so. */
	return ret && vuc_server_error ? arc_failed(dev, ret) : ret;
}

int vuc_mig_save(struct vuc_device *dev, vuc_mig_sink_fn sink, void *opaque,
		 uint64_t *bytes)
{
	size_t lim;
	ssize_t n;
	void *buf;
	int ret = 0;

	if (!dev || !sink)
		return -EINVAL;
	lim = xfer_limit(dev);
	buf = malloc(lim ? lim : 1);
	if (!buf)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	do {
		n = vuc_mig_read(dev, buf, lim);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		if (n)
			ret = sink(opaque, buf, (size_t)n);
		if (ret) {
			vuc_fail(dev, ret, "storing migration data: %s",
				 strerror(-ret));
			break;
		}
		if (bytes)
			*bytes += (uint64_t)n;
	} while ((size_t)n == lim);
	free(buf);
	return ret;
}

int vuc_mig_precopy(struct vuc_device *dev, vuc_mig_sink_fn sink,
		    vuc_mig_stop_fn stop, void *opaque, uint64_t *bytes)
{
	unsigned int round = 0;
	uint64_t rb;
	int ret;

	if (!dev || !sink || !stop)
		return -EINVAL;
	ret = vuc_mig_set_state(dev, S_PRE_COPY);
	if (ret)
		return ret;
	do {
		rb = 0;
		ret = vuc_mig_save(dev, sink, opaque, &rb);
		if (ret)
			return ret;
		if (bytes)
			*bytes += rb;
		round++;
		/* Told each round; an empty round means nothing is left. */
		if (stop(opaque, round, rb) || !rb)
			break;
	} while (round < (unsigned int)INT32_MAX);
	return (int)round;
}

/* Dirty tracking */

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t smallest_pgsize(const struct vuc_device *dev)
{
	uint64_t p = dev->caps.pgsizes;

	return p ? p & -p : 4096;
}

int vuc_dirty_supported(struct vuc_device *dev)
{
	size_t len;
	int ret;

	if (!dev)
		return -EINVAL;
	ret = feature(dev,
		      VFIO_DEVICE_FEATURE_DMA_LOGGING_START |
			      VFIO_DEVICE_FEATURE_SET |
			      VFIO_DEVICE_FEATURE_PROBE,
		      "DEVICE_FEATURE DMA_LOGGING_START PROBE", NULL, 0, NULL,
		      0, &len);
	if (ret && vuc_server_error)
		return 0;
	return ret ? ret : 1;
}

static int
server_log(struct vuc_device *dev, bool start, uint64_t page_size,
	   const struct vfio_user_device_feature_dma_logging_range *ranges,
	   uint32_t nr)
{
	struct vfio_user_device_feature_dma_logging_control *ctl, echo;
	uint32_t idx = start ? VFIO_DEVICE_FEATURE_DMA_LOGGING_START :
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP;
	size_t dlen = sizeof(*ctl) + (size_t)nr * sizeof(ranges[0]), len;
	int ret;

	ctl = calloc(1, dlen);
	if (!ctl)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	ctl->page_size = page_size;
	ctl->num_ranges = nr;
	if (nr)
		memcpy(ctl->ranges, ranges, (size_t)nr * sizeof(ranges[0]));
	ret = feature(dev, idx | VFIO_DEVICE_FEATURE_SET,
		      start ? "DEVICE_FEATURE DMA_LOGGING_START" :
			      "DEVICE_FEATURE DMA_LOGGING_STOP",
		      ctl, dlen, &echo, sizeof(echo), &len);
	free(ctl);
	if (ret || !start)
		return ret;
	if (len < sizeof(echo))
		return vuc_fail(
			dev, -EPROTO,
			"server's DMA_LOGGING_START reply has %zu bytes of data, less than 16",
			len);
	if (echo.page_size != page_size)
		return vuc_fail(
			dev, -ENOTSUP,
			"server chose a dirty page size of %llu bytes instead of %llu",
			(unsigned long long)echo.page_size,
			(unsigned long long)page_size);
	return 0;
}

static int kernel_log(struct vuc_device *dev, bool start, uint64_t pgsize)
{
	struct vfio_user_dirty_log log = {
		.argsz = sizeof(log),
		.flags = start ? VFIO_USER_DIRTY_LOG_START :
				 VFIO_USER_DIRTY_LOG_STOP,
		.pgsize = start ? pgsize : 0,
	};

	if (ioctl(dev->kfd, VFIO_USER_DIRTY_LOG, &log))
		return vuc_fail(dev, -errno, "%s the kernel's dirty log: %s",
				start ? "starting" : "stopping",
				strerror(errno));
	return 0;
}

int vuc_dirty_start(
	struct vuc_device *dev, uint64_t page_size,
	const struct vfio_user_device_feature_dma_logging_range *ranges,
	uint32_t nr_ranges)
{
	uint64_t kp, end;
	uint32_t i;
	int ret, sup;

	if (!dev || (nr_ranges && !ranges))
		return -EINVAL;
	ret = vuc_check_usable(dev);
	if (ret)
		return ret;
	if (dev->mig.log_server || dev->mig.log_kernel || dev->mig.log_lib)
		return vuc_fail(dev, -EBUSY, "dirty logging is already on");
	kp = smallest_pgsize(dev);
	if (!is_pow2(page_size) || page_size < kp)
		return vuc_fail(
			dev, -EINVAL,
			"dirty page size %llu must be a power of two of at least %llu (the smallest DMA page)",
			(unsigned long long)page_size, (unsigned long long)kp);
	if (sizeof(struct vfio_user_device_feature_dma_logging_control) +
		    (uint64_t)nr_ranges * sizeof(ranges[0]) + FEAT_HDR >
	    dev->caps.max_data_xfer_size)
		return vuc_fail(
			dev, -E2BIG,
			"%u ranges do not fit in one message to the server",
			nr_ranges);
	for (i = 0; i < nr_ranges; i++)
		if (!ranges[i].length ||
		    (ranges[i].iova | ranges[i].length) & (page_size - 1) ||
		    __builtin_add_overflow(ranges[i].iova, ranges[i].length - 1,
					   &end))
			return vuc_fail(
				dev, -EINVAL,
				"dirty range %u [0x%llx, +0x%llx) is empty, overflows or is not aligned to %llu",
				i, (unsigned long long)ranges[i].iova,
				(unsigned long long)ranges[i].length,
				(unsigned long long)page_size);

	sup = vuc_dirty_supported(dev);
	if (sup < 0)
		return sup;
	/*
	 * The kernel (or, on the userspace backend, the library) alone sees
	 * only what the server writes through it.
	 */
	if (!sup && !(dev->flags & VUC_OPT_NO_FD_SHARING))
		return vuc_fail(
			dev, -ENOTSUP,
			"server has no DMA logging, and the memory fds it was given let it write guest memory %s cannot log; connect with VUC_OPT_NO_FD_SHARING so that all its writes go through %s",
			dev->kfd >= 0 ? "the kernel" : "the library",
			dev->kfd >= 0 ? "the kernel" : "the library");
	if (sup) {
		ret = server_log(dev, true, page_size, ranges, nr_ranges);
		if (ret)
			return ret;
		dev->mig.log_server = true;
	}
	if (dev->kfd >= 0) {
		ret = kernel_log(dev, true, kp);
		if (ret) {
			char msg[sizeof(dev->errmsg)];

			memcpy(msg, dev->errmsg, sizeof(msg));
			if (dev->mig.log_server)
				server_log(dev, false, page_size, NULL, 0);
			dev->mig.log_server = false;
			return vuc_fail(dev, ret, "%s", msg);
		}
		dev->mig.log_kernel = true;
		dev->mig.kernel_pgsize = kp;
	} else {
		/* What the receive thread writes while serving DMA_WRITE. */
		ret = vuc_lib_log_start(dev, page_size);
		if (ret) {
			char msg[sizeof(dev->errmsg)];

			memcpy(msg, dev->errmsg, sizeof(msg));
			if (dev->mig.log_server)
				server_log(dev, false, page_size, NULL, 0);
			dev->mig.log_server = false;
			return vuc_fail(dev, ret, "%s", msg);
		}
		dev->mig.log_lib = true;
	}
	dev->mig.log_pgsize = page_size;
	return 0;
}

int vuc_dirty_stop(struct vuc_device *dev)
{
	int ret = 0, r;

	if (!dev)
		return -EINVAL;
	if (!dev->mig.log_server && !dev->mig.log_kernel && !dev->mig.log_lib)
		return vuc_fail(dev, -EINVAL, "dirty logging is not on");
	if (dev->mig.log_server)
		ret = server_log(dev, false, dev->mig.log_pgsize, NULL, 0);
	if (dev->mig.log_lib)
		vuc_lib_log_stop(dev);
	dev->mig.log_lib = false;
	if (dev->mig.log_kernel) {
		r = kernel_log(dev, false, 0);
		if (!ret)
			ret = r;
	}
	dev->mig.log_server = false;
	dev->mig.log_kernel = false;
	dev->mig.log_pgsize = 0;
	return ret;
}

/* The server's half: OR its bitmap for the range into @bitmap. */
static int server_report(struct vuc_device *dev, uint64_t iova, uint64_t length,
			 uint64_t pages, uint64_t *bitmap)
{
	struct vfio_user_device_feature_dma_logging_report req = {
		.iova = iova,
		.length = length,
		.page_size = dev->mig.log_pgsize,
	};
	struct vfio_user_device_feature_dma_logging_report *rep;
	size_t words = (size_t)((pages + 63) / 64), len, i;
	size_t need = sizeof(req) + words * 8;
	int ret;

	rep = malloc(need);
	if (!rep)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	ret = feature(dev,
		      VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT |
			      VFIO_DEVICE_FEATURE_GET,
		      "DEVICE_FEATURE DMA_LOGGING_REPORT", &req, sizeof(req),
		      rep, need, &len);
	if (ret)
		goto out;
	if (len < need || rep->iova != iova || rep->length != length ||
	    rep->page_size != req.page_size) {
		ret = vuc_fail(
			dev, -EPROTO,
			"server's DMA_LOGGING_REPORT reply (%zu bytes of data, %zu expected) does not match the range asked for",
			len, need);
		goto out;
	}
	if (pages % 64 && rep->bitmap[words - 1] >> (pages % 64)) {
		ret = vuc_fail(
			dev, -EPROTO,
			"server's DMA_LOGGING_REPORT sets bits past the end of the range");
		goto out;
	}
	for (i = 0; i < words; i++)
		bitmap[i] |= rep->bitmap[i];
out:
	free(rep);
	return ret;
}

/* The kernel's half, folded from its page size to the VMM's. */
static int kernel_report(struct vuc_device *dev, uint64_t iova, uint64_t length,
			 uint64_t *bitmap)
{
	uint64_t kp = dev->mig.kernel_pgsize, kpages = length / kp, i;
	unsigned int shift =
		(unsigned int)(__builtin_ctzll(dev->mig.log_pgsize) -
			       __builtin_ctzll(kp));
	size_t words = (size_t)((kpages + 63) / 64);
	struct vfio_user_dirty_report rep = {
		.argsz = sizeof(rep),
		.iova = iova,
		.size = length,
		.pgsize = kp,
		.bitmap_size = words * 8,
	};
	uint64_t *kb;
	int ret = 0;

	kb = calloc(words, 8);
	if (!kb)
		return vuc_fail(dev, -ENOMEM, "out of memory");
	rep.bitmap = (uintptr_t)kb;
	if (ioctl(dev->kfd, VFIO_USER_DIRTY_REPORT, &rep)) {
		ret = vuc_fail(dev, -errno,
			       "reading the kernel's dirty log: %s",
			       strerror(errno));
	} else {
		for (i = 0; i < kpages; i++)
			if (kb[i / 64] & (1ULL << (i % 64))) {
				uint64_t b = i >> shift;

				bitmap[b / 64] |= 1ULL << (b % 64);
			}
	}
	free(kb);
	return ret;
}

int vuc_dirty_report(struct vuc_device *dev, uint64_t iova, uint64_t length,
		     uint64_t *bitmap, size_t bitmap_size)
{
	uint64_t ps, pages, end;
	int ret;

	if (!dev || !bitmap)
		return -EINVAL;
	if (!dev->mig.log_server && !dev->mig.log_kernel && !dev->mig.log_lib)
		return vuc_fail(dev, -EINVAL, "dirty logging is not on");
	ps = dev->mig.log_pgsize;
	if (!length || (iova | length) & (ps - 1) ||
	    __builtin_add_overflow(iova, length - 1, &end))
		return vuc_fail(
			dev, -EINVAL,
			"dirty report range [0x%llx, +0x%llx) is empty, overflows or is not aligned to %llu",
			(unsigned long long)iova, (unsigned long long)length,
			(unsigned long long)ps);
	pages = length / ps;
	if (bitmap_size / 8 < (pages + 63) / 64)
		return vuc_fail(
			dev, -EINVAL,
			"dirty bitmap of %zu bytes is too small for %llu pages",
			bitmap_size, (unsigned long long)pages);
	/* One reply carries the server's bitmap; the kernel's, 2^31 pages. */
	if ((dev->mig.log_server &&
	     FEAT_HDR + sizeof(struct vfio_user_device_feature_dma_logging_report) +
			     (pages + 63) / 64 * 8 >
		     dev->max_data_xfer_size) ||
	    (dev->mig.log_kernel &&
	     length / dev->mig.kernel_pgsize > (1ULL << 31)))
		return vuc_fail(
			dev, -E2BIG,
			"a dirty report of %llu pages does not fit in one reply; report a smaller range",
			(unsigned long long)pages);
	memset(bitmap, 0, (size_t)((pages + 63) / 64) * 8);
	if (dev->mig.log_server) {
		ret = server_report(dev, iova, length, pages, bitmap);
		if (ret)
			return ret;
	}
	if (dev->mig.log_lib)
		vuc_lib_log_report(dev, iova, length, bitmap);
	if (dev->mig.log_kernel)
		return kernel_report(dev, iova, length, bitmap);
	return 0;
}
