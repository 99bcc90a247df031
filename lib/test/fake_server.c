// SPDX-License-Identifier: BSD-3-Clause
/*
 * The scripted vfio-user server of the host tests (see fake_server.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fake_server.h"

#define FSRV_MAX_PAYLOAD (2 * 1024 * 1024)

static const char default_json[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}";

void fsrv_fail(struct fsrv *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(s->failure, sizeof(s->failure), fmt, ap);
	va_end(ap);
}

const char *fsrv_failure(const struct fsrv *s)
{
	return s->failure[0] ? s->failure : NULL;
}

void fsrv_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int fsrv_send_raw(struct fsrv *s, const void *buf, size_t len, const int *fds,
		  unsigned int nr_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_WIRE_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t done = 0;
	ssize_t n;

	if (nr_fds) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nr_fds);
	}
	while (done < len) {
		iov.iov_base = (char *)buf + done;
		iov.iov_len = len - done;
		n = sendmsg(s->sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	return 0;
}

int fsrv_send(struct fsrv *s, uint16_t msg_id, uint16_t cmd, uint32_t flags,
	      uint32_t error_no, const void *payload, size_t len,
	      const int *fds, unsigned int nr_fds)
{
	struct vfio_user_header hdr = {
		.msg_id = msg_id,
		.cmd = cmd,
		.msg_size = sizeof(hdr) + len,
		.flags = flags,
		.error_no = error_no,
	};

	return vu_send(s->sock, &hdr, payload, len, fds, nr_fds, 5000);
}

int fsrv_reply(struct fsrv *s, const struct vu_msg *req, const void *payload,
	       size_t len, const int *fds, unsigned int nr_fds)
{
	return fsrv_send(s, req->hdr.msg_id, req->hdr.cmd,
			 VFIO_USER_F_TYPE_REPLY, 0, payload, len, fds, nr_fds);
}

int fsrv_reply_error(struct fsrv *s, const struct vu_msg *req, uint32_t err,
		     const void *payload, size_t len)
{
	return fsrv_send(s, req->hdr.msg_id, req->hdr.cmd,
			 VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, err,
			 payload, len, NULL, 0);
}

int fsrv_version_reply(struct fsrv *s, const struct vu_msg *req, uint16_t major,
		       uint16_t minor, const char *json, const int *fds,
		       unsigned int nr_fds)
{
	size_t jlen = json ? strlen(json) + 1 : 0;
	struct vfio_user_version *v = calloc(1, sizeof(*v) + jlen);
	int ret;

	if (!v)
		return -ENOMEM;
	v->major = major;
	v->minor = minor;
	if (json)
		memcpy(v->data, json, jlen);
	ret = fsrv_reply(s, req, v, sizeof(*v) + jlen, fds, nr_fds);
	free(v);
	return ret;
}

int fsrv_recv(struct fsrv *s, struct vu_msg *m, int timeout_ms)
{
	return vu_recv(s->sock, m, FSRV_MAX_PAYLOAD, VU_WIRE_MAX_FDS,
		       timeout_ms);
}

static void log_msg(struct fsrv *s, const struct vu_msg *m, uint32_t flags,
		    uint32_t index, uint64_t offset, uint32_t count,
		    uint32_t argsz)
{
	struct fsrv_log *l;

	if (s->nr_log >= FSRV_MAX_LOG) {
		fsrv_fail(s, "log full");
		return;
	}
	l = &s->log[s->nr_log++];
	l->cmd = m->hdr.cmd;
	l->msg_id = m->hdr.msg_id;
	l->msg_size = m->hdr.msg_size;
	l->flags = flags;
	l->index = index;
	l->offset = offset;
	l->count = count;
	l->argsz = argsz;
	l->nr_fds = m->nr_fds;
}

/* Default device ------------------------------------------------------- */

static int do_version(struct fsrv *s, struct vu_msg *m)
{
	struct vfio_user_version v;
	char json[1024];
	int fds[2], ret;

	if (m->len < sizeof(v)) {
		fsrv_fail(s, "VERSION payload %zu bytes", m->len);
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	}
	memcpy(&v, m->payload, sizeof(v));
	s->client_major = v.major;
	s->client_minor = v.minor;
	if (m->len > sizeof(v)) {
		size_t jlen = m->len - sizeof(v);
		const char *data = (const char *)m->payload + sizeof(v);

		if (data[jlen - 1] != '\0')
			fsrv_fail(s, "client JSON not NUL-terminated");
		if (jlen > sizeof(s->client_json))
			jlen = sizeof(s->client_json);
		memcpy(s->client_json, data, jlen);
		s->client_json[sizeof(s->client_json) - 1] = '\0';
	}
	if (m->nr_fds)
		fsrv_fail(s, "client sent %u fds with VERSION", m->nr_fds);

	if (!s->give_twin)
		return fsrv_version_reply(s, m, 0, 2, s->version_json, NULL,
					  0) ?
			       FSRV_STOP :
			       FSRV_CONTINUE;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
		fsrv_fail(s, "socketpair: %s", strerror(errno));
		return FSRV_STOP;
	}
	snprintf(
		json, sizeof(json),
		"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
		"\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}");
	s->twin_peer = fds[0];
	ret = fsrv_version_reply(s, m, 0, 2, json, &fds[1], 1);
	close(fds[1]);
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

static int do_device_info(struct fsrv *s, struct vu_msg *m)
{
	return fsrv_reply(s, m, &s->info, sizeof(s->info), NULL, 0) ?
		       FSRV_STOP :
		       FSRV_CONTINUE;
}

/* Like libvfio-user: caps and fd only when argsz has room for them all. */
static int do_region_info(struct fsrv *s, struct vu_msg *m)
{
	struct vfio_region_info req, *info;
	struct fsrv_region *r;
	size_t caps = 0, len;
	uint8_t buf[256];
	int ret;

	if (m->len < sizeof(req))
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	memcpy(&req, m->payload, sizeof(req));
	if (req.index >= s->info.num_regions || req.index >= FSRV_NUM_REGIONS)
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	r = &s->regions[req.index];
	if (r->fd >= 0)
		caps = 16 + 16 * r->nr_areas;
	memset(buf, 0, sizeof(buf));
	info = (struct vfio_region_info *)buf;
	info->argsz = sizeof(*info) + caps;
	info->flags = r->flags;
	info->index = req.index;
	info->size = r->size;
	len = sizeof(*info);
	if (caps && req.argsz >= info->argsz) {
		struct vfio_region_info_cap_sparse_mmap *sp =
			(void *)(buf + sizeof(*info));
		unsigned int i;

		info->flags |= VFIO_REGION_INFO_FLAG_CAPS;
		info->cap_offset = sizeof(*info);
		sp->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
		sp->header.version = 1;
		sp->nr_areas = r->nr_areas;
		for (i = 0; i < r->nr_areas; i++) {
			sp->areas[i].offset = r->areas[i].offset;
			sp->areas[i].size = r->areas[i].size;
		}
		len += caps;
		ret = fsrv_reply(s, m, buf, len, &r->fd, 1);
	} else {
		ret = fsrv_reply(s, m, buf, len, NULL, 0);
	}
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

static int do_io_fds(struct fsrv *s, struct vu_msg *m)
{
	struct vfio_user_region_io_fds_request req;
	struct vfio_user_region_io_fds_reply rep = { .argsz = sizeof(rep) };

	if (m->len < sizeof(req))
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	memcpy(&req, m->payload, sizeof(req));
	rep.index = req.index;
	return fsrv_reply(s, m, &rep, sizeof(rep), NULL, 0) ? FSRV_STOP :
							      FSRV_CONTINUE;
}

static int do_irq_info(struct fsrv *s, struct vu_msg *m)
{
	struct vfio_irq_info req;

	if (m->len < sizeof(req))
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	memcpy(&req, m->payload, sizeof(req));
	if (req.index >= s->info.num_irqs || req.index >= FSRV_NUM_IRQS)
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	return fsrv_reply(s, m, &s->irqs[req.index], sizeof(req), NULL, 0) ?
		       FSRV_STOP :
		       FSRV_CONTINUE;
}

static int do_set_irqs(struct fsrv *s, struct vu_msg *m)
{
	struct vfio_irq_set set;

	if (m->len < sizeof(set)) {
		fsrv_fail(s, "SET_IRQS payload %zu bytes", m->len);
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	}
	memcpy(&set, m->payload, sizeof(set));
	log_msg(s, m, set.flags, set.index, set.start, set.count, set.argsz);
	if (set.argsz != m->len)
		fsrv_fail(s, "SET_IRQS argsz %u, payload %zu", set.argsz,
			  m->len);
	if (m->nr_fds && m->nr_fds != set.count)
		fsrv_fail(s, "SET_IRQS with %u fds for count %u", m->nr_fds,
			  set.count);
	return fsrv_reply(s, m, NULL, 0, NULL, 0) ? FSRV_STOP : FSRV_CONTINUE;
}

static int do_region_access(struct fsrv *s, struct vu_msg *m)
{
	bool write = m->hdr.cmd == VFIO_USER_REGION_WRITE;
	struct vfio_user_region_access acc;
	struct fsrv_region *r;
	uint8_t *buf;
	int ret;

	if (m->len < sizeof(acc)) {
		fsrv_fail(s, "region access payload %zu bytes", m->len);
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	}
	memcpy(&acc, m->payload, sizeof(acc));
	log_msg(s, m, 0, acc.region, acc.offset, acc.count, 0);
	if (acc.region >= FSRV_NUM_REGIONS ||
	    acc.offset + acc.count > s->regions[acc.region].size ||
	    (write && m->len != sizeof(acc) + acc.count) ||
	    (!write && m->len != sizeof(acc))) {
		fsrv_fail(
			s,
			"bad region access: region %u offset 0x%llx count %u len %zu",
			acc.region, (unsigned long long)acc.offset, acc.count,
			m->len);
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP : 0;
	}
	r = &s->regions[acc.region];
	if (write) {
		memcpy(r->mem + acc.offset, (uint8_t *)m->payload + sizeof(acc),
		       acc.count);
		return fsrv_reply(s, m, &acc, sizeof(acc), NULL, 0) ?
			       FSRV_STOP :
			       FSRV_CONTINUE;
	}
	buf = malloc(sizeof(acc) + acc.count);
	if (!buf)
		return FSRV_STOP;
	memcpy(buf, &acc, sizeof(acc));
	memcpy(buf + sizeof(acc), r->mem + acc.offset, acc.count);
	ret = fsrv_reply(s, m, buf, sizeof(acc) + acc.count, NULL, 0);
	free(buf);
	return ret ? FSRV_STOP : FSRV_CONTINUE;
}

int fsrv_default(struct fsrv *s, struct vu_msg *m)
{
	switch (m->hdr.cmd) {
	case VFIO_USER_VERSION:
		return do_version(s, m);
	case VFIO_USER_DEVICE_GET_INFO:
		return do_device_info(s, m);
	case VFIO_USER_DEVICE_GET_REGION_INFO:
		return do_region_info(s, m);
	case VFIO_USER_DEVICE_GET_REGION_IO_FDS:
		return do_io_fds(s, m);
	case VFIO_USER_DEVICE_GET_IRQ_INFO:
		return do_irq_info(s, m);
	case VFIO_USER_DEVICE_SET_IRQS:
		return do_set_irqs(s, m);
	case VFIO_USER_REGION_READ:
	case VFIO_USER_REGION_WRITE:
		return do_region_access(s, m);
	case VFIO_USER_DEVICE_RESET:
		if (m->len)
			fsrv_fail(s, "DEVICE_RESET with a payload");
		return fsrv_reply(s, m, NULL, 0, NULL, 0) ? FSRV_STOP :
							    FSRV_CONTINUE;
	default:
		return fsrv_reply_error(s, m, EINVAL, NULL, 0) ? FSRV_STOP :
								 FSRV_CONTINUE;
	}
}

static void *serve(void *arg)
{
	struct fsrv *s = arg;
	struct vu_msg m;
	fsrv_handler_fn fn;
	int ret;

	if (s->listen_fd >= 0) {
		s->sock = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (s->sock < 0)
			return NULL;
	}
	for (;;) {
		if (vu_recv(s->sock, &m, FSRV_MAX_PAYLOAD, VU_WIRE_MAX_FDS, -1))
			break;
		if ((m.hdr.flags & VFIO_USER_F_TYPE_MASK) !=
		    VFIO_USER_F_TYPE_COMMAND)
			fsrv_fail(s, "client sent a message of type %u",
				  m.hdr.flags & VFIO_USER_F_TYPE_MASK);
		fn = NULL;
		if (m.hdr.cmd < VFIO_USER_MAX_COMMAND) {
			s->nr_msgs[m.hdr.cmd]++;
			fn = s->handler[m.hdr.cmd];
		}
		ret = (fn ? fn : fsrv_default)(s, &m);
		vu_msg_release(&m);
		if (ret != FSRV_CONTINUE)
			break;
	}
	/* The client sees EOF from here on. */
	shutdown(s->sock, SHUT_RDWR);
	return NULL;
}

/* Region setup ------------------------------------------------------------ */

static int add_region(struct fsrv *s, unsigned int i, uint32_t flags,
		      uint64_t size)
{
	struct fsrv_region *r = &s->regions[i];

	r->flags = flags;
	r->size = size;
	r->fd = -1;
	if (!size)
		return 0;
	if (flags & VFIO_REGION_INFO_FLAG_MMAP) {
		r->fd = memfd_create("fsrv-region", MFD_CLOEXEC);
		if (r->fd < 0 || ftruncate(r->fd, size) < 0)
			return -1;
		r->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      r->fd, 0);
		if (r->mem == MAP_FAILED) {
			r->mem = NULL;
			return -1;
		}
		return 0;
	}
	r->mem = calloc(1, size);
	return r->mem ? 0 : -1;
}

static int setup_device(struct fsrv *s)
{
	static const uint32_t irq_counts[FSRV_NUM_IRQS] = { 1, 0, 4, 1, 1 };
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ |
			    VFIO_REGION_INFO_FLAG_WRITE;
	struct fsrv_region *bar2 = &s->regions[2];
	unsigned int i;
	uint16_t ids[2] = { 0x5655, 0x0001 };

	s->info.argsz = sizeof(s->info);
	s->info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	s->info.num_regions = FSRV_NUM_REGIONS;
	s->info.num_irqs = FSRV_NUM_IRQS;
	for (i = 0; i < FSRV_NUM_REGIONS; i++)
		s->regions[i].fd = -1;
	if (add_region(s, 0, rw, 0x1000) || add_region(s, 1, rw, 0x1000) ||
	    add_region(s, 2, rw | VFIO_REGION_INFO_FLAG_MMAP, 0x100000) ||
	    add_region(s, 7, rw, 0x100))
		return -1;
	bar2->nr_areas = 2;
	bar2->areas[0] = (struct vuc_sparse_area){ 0, 0x40000 };
	bar2->areas[1] = (struct vuc_sparse_area){ 0x80000, 0x80000 };
	memcpy(s->regions[7].mem, ids, sizeof(ids));
	for (i = 0; i < FSRV_NUM_IRQS; i++) {
		s->irqs[i].argsz = sizeof(s->irqs[i]);
		s->irqs[i].flags = VFIO_IRQ_INFO_EVENTFD;
		s->irqs[i].index = i;
		s->irqs[i].count = irq_counts[i];
	}
	return 0;
}

/* Life cycle ---------------------------------------------------------------- */

struct fsrv *fsrv_new(void)
{
	struct fsrv *s = calloc(1, sizeof(*s));
	int sv[2];

	if (!s)
		return NULL;
	s->sock = s->client = s->twin_peer = s->listen_fd = -1;
	s->version_json = default_json;
	if (setup_device(s) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fsrv_free(s);
		return NULL;
	}
	s->sock = sv[0];
	s->client = sv[1];
	return s;
}

int fsrv_start(struct fsrv *s)
{
	if (pthread_create(&s->thread, NULL, serve, s))
		return -1;
	s->running = true;
	return 0;
}

int fsrv_listen(struct fsrv *s, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 0) < 0) {
		close(fd);
		return -errno;
	}
	close(s->sock);
	close(s->client);
	s->sock = s->client = -1;
	s->listen_fd = fd;
	return 0;
}

int fsrv_connect(struct fsrv *s, const struct vuc_options *opts,
		 struct vuc_device **devp)
{
	*devp = vuc_device_new(opts);
	if (!*devp)
		return -errno;
	if (fsrv_start(s))
		return -EAGAIN;
	return vuc_connect_fd(*devp, fsrv_take_client(s));
}

int fsrv_take_client(struct fsrv *s)
{
	int fd = s->client;

	s->client = -1;
	return fd;
}

void fsrv_stop(struct fsrv *s)
{
	if (!s->running)
		return;
	/* Wakes the thread from accept(), recvmsg() or poll(). */
	if (s->listen_fd >= 0)
		shutdown(s->listen_fd, SHUT_RDWR);
	if (s->sock >= 0)
		shutdown(s->sock, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	s->running = false;
}

void fsrv_free(struct fsrv *s)
{
	unsigned int i;

	if (!s)
		return;
	fsrv_stop(s);
	for (i = 0; i < FSRV_NUM_REGIONS; i++) {
		struct fsrv_region *r = &s->regions[i];

		if (r->fd >= 0) {
			if (r->mem)
				munmap(r->mem, r->size);
			close(r->fd);
		} else {
			free(r->mem);
		}
	}
	if (s->sock >= 0)
		close(s->sock);
	if (s->client >= 0)
		close(s->client);
	if (s->twin_peer >= 0)
		close(s->twin_peer);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s);
}

/* Test helpers ----------------------------------------------------------- */

int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

int make_eventfd(void)
{
	return eventfd(0, EFD_CLOEXEC);
}
