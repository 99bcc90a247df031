// SPDX-License-Identifier: BSD-3-Clause
/*
 * The device handle: options, error messages, connecting, getters.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

__thread bool vuc_server_error;

const char *vuc_errname(int err, char *buf, size_t len)
{
	const char *name = strerrorname_np(err);

	if (name)
		snprintf(buf, len, "%s (%s)", strerror(err), name);
	else
		snprintf(buf, len, "error %d", err);
	return buf;
}

int vuc_fail(struct vuc_device *dev, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&dev->lock);
	va_start(ap, fmt);
	vsnprintf(dev->errmsg, sizeof(dev->errmsg), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&dev->lock);
	return err;
}

int vuc_break(struct vuc_device *dev, int err, const char *fmt, ...)
{
	struct vuc_waiter *w;
	va_list ap;

	pthread_mutex_lock(&dev->lock);
	va_start(ap, fmt);
	vsnprintf(dev->errmsg, sizeof(dev->errmsg), fmt, ap);
	va_end(ap);
	/* Keep the first reason: later ones are consequences. */
	if (dev->state != VUC_FAILED) {
		memcpy(dev->broken, dev->errmsg, sizeof(dev->broken));
		dev->state = VUC_FAILED;
	}
	/* Every caller still waiting fails with it. */
	while ((w = dev->waiters)) {
		dev->waiters = w->next;
		w->err = err;
		w->done = true;
	}
	pthread_cond_broadcast(&dev->reply_cond);
	pthread_mutex_unlock(&dev->lock);
	if (dev->sock >= 0)
		shutdown(dev->sock, SHUT_RDWR);
	if (dev->twin >= 0)
		shutdown(dev->twin, SHUT_RDWR);
	return err;
}

int vuc_check_usable(struct vuc_device *dev)
{
	enum vuc_state state;

	pthread_mutex_lock(&dev->lock);
	state = dev->state;
	pthread_mutex_unlock(&dev->lock);
	switch (state) {
	case VUC_CONNECTING:
	case VUC_READY:
		return 0;
	case VUC_NEW:
		return vuc_fail(dev, -ENOTCONN, "not connected");
	case VUC_FAILED:
	default:
		return vuc_fail(
			dev, -ENOTCONN,
			"connection unusable since an earlier error: %s",
			dev->broken);
	}
}

/* Callers may wait on several threads; the reply's deadline is monotonic. */
static int init_locks(struct vuc_device *dev)
{
	pthread_condattr_t attr;
	int ret;

	if (pthread_condattr_init(&attr))
		return -1;
	ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(&dev->reply_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (ret)
		return -1;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_mutex_init(&dev->call_lock, NULL);
	pthread_mutex_init(&dev->send_lock, NULL);
	pthread_rwlock_init(&dev->dma_lock, NULL);
	return 0;
}

struct vuc_device *vuc_device_new(const struct vuc_options *opts)
{
	struct vuc_options o = { 0 };
	struct vuc_device *dev;

	if (opts)
		o = *opts;
	if (o.flags & ~(VUC_OPT_NO_TWIN_SOCKET | VUC_OPT_USERSPACE |
			VUC_OPT_KERNEL | VUC_OPT_NO_FD_SHARING |
			VUC_OPT_NO_IO_FDS) ||
	    ((o.flags & VUC_OPT_USERSPACE) && (o.flags & VUC_OPT_KERNEL))) {
		errno = EINVAL;
		return NULL;
	}
	if (!o.max_data_xfer_size)
		o.max_data_xfer_size = VUC_MAX_XFER;
	/* Outside these bounds the value could not be honoured as offered. */
	if (o.max_data_xfer_size < VUC_MIN_XFER ||
	    o.max_data_xfer_size > VUC_MAX_XFER) {
		errno = EINVAL;
		return NULL;
	}
	if (o.timeout_ms > INT32_MAX) {
		errno = EINVAL;
		return NULL;
	}

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	if (init_locks(dev)) {
		free(dev);
		errno = ENOMEM;
		return NULL;
	}
	dev->timeout_ms = o.timeout_ms ? o.timeout_ms : VUC_DEFAULT_TIMEOUT_MS;
	dev->flags = o.flags;
	dev->max_data_xfer_size = o.max_data_xfer_size;
	dev->state = VUC_NEW;
	dev->sock = -1;
	dev->twin = -1;
	dev->kfd = -1;
	dev->mig.state = -1;
	dev->posted_write_regions = o.posted_write_regions;
	/* Any start works; ids only pair replies with requests. */
	dev->next_msg_id = 1;
	return dev;
}

/* Close every fd and free everything the connection gave us. */
static void vuc_teardown(struct vuc_device *dev)
{
	/* Joined while the sockets it reads are still open. */
	vuc_rx_stop(dev);
	free(dev->rx_buf);
	dev->rx_buf = NULL;
	vuc_map_clear(dev);
	free(dev->maps);
	dev->maps = NULL;
	dev->nr_maps = 0;
	dev->cap_maps = 0;
	/* The kernel's connection ends when its fd closes. */
	if (dev->kfd >= 0)
		close(dev->kfd);
	dev->kfd = -1;
	vuc_forget_device(dev);
	if (dev->twin >= 0)
		close(dev->twin);
	dev->twin = -1;
	if (dev->sock >= 0)
		close(dev->sock);
	dev->sock = -1;
	memset(&dev->caps, 0, sizeof(dev->caps));
}

void vuc_device_free(struct vuc_device *dev)
{
	if (!dev)
		return;
	vuc_teardown(dev);
	pthread_cond_destroy(&dev->reply_cond);
	pthread_mutex_destroy(&dev->lock);
	pthread_mutex_destroy(&dev->call_lock);
	pthread_mutex_destroy(&dev->send_lock);
	pthread_rwlock_destroy(&dev->dma_lock);
	free(dev);
}

const char *vuc_strerror(const struct vuc_device *dev)
{
	if (!dev)
		return "no device handle";
	return dev->errmsg[0] ? dev->errmsg : "no error";
}

int vuc_connect_fd(struct vuc_device *dev, int sock_fd)
{
	int type = 0, ret;
	socklen_t len = sizeof(type);

	if (!dev) {
		if (sock_fd >= 0)
			close(sock_fd);
		return -EINVAL;
	}
	if (dev->state != VUC_NEW) {
		if (sock_fd >= 0 && sock_fd != dev->sock)
			close(sock_fd);
		return vuc_fail(
			dev, -EISCONN,
			"handle already used for a connection; free it and make a new one");
	}
	if (sock_fd < 0)
		return vuc_fail(dev, -EBADF, "invalid socket fd %d", sock_fd);
	dev->sock = sock_fd;
	dev->state = VUC_CONNECTING;

	if (getsockopt(sock_fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		ret = vuc_break(dev, -errno, "fd %d is not a socket: %s",
				sock_fd, strerror(errno));
		goto fail;
	}
	if (type != SOCK_STREAM) {
		ret = vuc_break(dev, -EPROTOTYPE,
				"fd %d is not a stream socket (type %d)",
				sock_fd, type);
		goto fail;
	}

	ret = vuc_negotiate(dev);
	if (ret)
		goto fail;
	ret = vuc_discover(dev);
	if (ret)
		goto fail;
	ret = vuc_kernel_attach(dev);
	if (ret)
		goto fail;
	/* Not attached: serve the server's DMA ourselves. */
	if (dev->kfd < 0) {
		ret = vuc_rx_start(dev);
		if (ret)
			goto fail;
	}
	pthread_mutex_lock(&dev->lock);
	if (dev->state != VUC_FAILED)
		dev->state = VUC_READY;
	pthread_mutex_unlock(&dev->lock);
	return 0;

fail:
	/* After a failed connect the handle can only be freed: drop it all. */
	if (dev->state != VUC_FAILED) {
		memcpy(dev->broken, dev->errmsg, sizeof(dev->broken));
		dev->state = VUC_FAILED;
	}
	vuc_teardown(dev);
	return ret;
}

/*
 * A UNIX stream connect waits for room in the server's backlog (libvfio-user
 * listens with a backlog of 0); SO_SNDTIMEO bounds that wait.
 */
static int connect_path(struct vuc_device *dev, const char *path, int *fdp)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = {
		.tv_sec = dev->timeout_ms / 1000,
		.tv_usec = (dev->timeout_ms % 1000) * 1000,
	};
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return vuc_fail(dev, -ENAMETOOLONG,
				"socket path too long (%zu bytes, at most %zu)",
				strlen(path), sizeof(sun.sun_path) - 1);
	strcpy(sun.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vuc_fail(dev, -errno, "socket(): %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = errno;
		close(fd);
		if (err == EAGAIN || err == EINPROGRESS)
			return vuc_fail(
				dev, -ETIMEDOUT,
				"connecting to %s: server did not accept within %u ms",
				path, dev->timeout_ms);
		return vuc_fail(dev, -err, "connecting to %s: %s", path,
				strerror(err));
	}
	/* Later waits are bounded by poll() in the wire layer. */
	memset(&tv, 0, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*fdp = fd;
	return 0;
}

int vuc_connect(struct vuc_device *dev, const char *socket_path)
{
	int fd = -1, ret;

	if (!dev)
		return -EINVAL;
	if (dev->state != VUC_NEW)
		return vuc_fail(
			dev, -EISCONN,
			"handle already used for a connection; free it and make a new one");
	if (!socket_path)
		return vuc_fail(dev, -EINVAL, "no socket path");
	ret = connect_path(dev, socket_path, &fd);
	if (ret) {
		memcpy(dev->broken, dev->errmsg, sizeof(dev->broken));
		dev->state = VUC_FAILED;
		return ret;
	}
	return vuc_connect_fd(dev, fd);
}

const struct vuc_caps *vuc_get_caps(const struct vuc_device *dev)
{
	if (!dev || dev->caps.max_data_xfer_size == 0) {
		errno = ENOTCONN;
		return NULL;
	}
	return &dev->caps;
}

int vuc_twin_socket_fd(const struct vuc_device *dev)
{
	if (!dev || dev->state != VUC_READY)
		return -1;
	return dev->twin;
}

int vuc_socket_fd(const struct vuc_device *dev)
{
	if (!dev || dev->state != VUC_READY)
		return -1;
	return dev->sock;
}

const struct vfio_user_device_info *
vuc_get_device_info(const struct vuc_device *dev)
{
	if (!dev || !dev->info.argsz) {
		errno = ENOTCONN;
		return NULL;
	}
	return &dev->info;
}

const struct vuc_region *vuc_get_region(const struct vuc_device *dev,
					unsigned int index)
{
	if (!dev || !dev->regions || index >= dev->info.num_regions) {
		errno = EINVAL;
		return NULL;
	}
	return &dev->regions[index].pub;
}

const struct vfio_irq_info *vuc_get_irq_info(const struct vuc_device *dev,
					     unsigned int index)
{
	if (!dev || !dev->irqs || index >= dev->info.num_irqs) {
		errno = EINVAL;
		return NULL;
	}
	return &dev->irqs[index];
}
