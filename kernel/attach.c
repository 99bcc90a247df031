// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-user client in the kernel: VFIO_USER_ATTACH.
 *
 * The library negotiates and discovers the device in userspace (those
 * replies carry fds the kernel cannot receive) and hands the results over
 * here. They come from the VMM and, through it, from the server: nothing is
 * trusted. Everything is copied once, then checked, then cached.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/magic.h>
#include <linux/mman.h>
#include <linux/net.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/sock.h>

#include "vfio_user.h"

/* Sockets attached to some device; a socket may serve one device only. */
static DEFINE_MUTEX(vfio_user_sockets_lock);	/* vfio_user_sockets */
static LIST_HEAD(vfio_user_sockets);

struct vfio_user_claim {
	struct list_head node;
	struct sock *sk;
};

/**
 * vfio_user_claim_socket() - reserve @sock for one user
 * @sock: a socket
 *
 * Return: 0, or -EBUSY when a device or sub-region already uses it.
 */
int vfio_user_claim_socket(struct socket *sock)
{
	struct vfio_user_claim *claim, *it;

	claim = kmalloc(sizeof(*claim), GFP_KERNEL_ACCOUNT);
	if (!claim)
		return -ENOMEM;
	claim->sk = sock->sk;

	mutex_lock(&vfio_user_sockets_lock);
	list_for_each_entry(it, &vfio_user_sockets, node) {
		if (it->sk == sock->sk) {
			mutex_unlock(&vfio_user_sockets_lock);
			kfree(claim);
			return -EBUSY;
		}
	}
	list_add(&claim->node, &vfio_user_sockets);
	mutex_unlock(&vfio_user_sockets_lock);
	return 0;
}

/**
 * vfio_user_unclaim_socket() - release a socket vfio_user_claim_socket() took
 * @sock: the socket
 */
void vfio_user_unclaim_socket(struct socket *sock)
{
	struct vfio_user_claim *it;

	mutex_lock(&vfio_user_sockets_lock);
	list_for_each_entry(it, &vfio_user_sockets, node) {
		if (it->sk == sock->sk) {
			list_del(&it->node);
			kfree(it);
			break;
		}
	}
	mutex_unlock(&vfio_user_sockets_lock);
}

/**
 * vfio_user_is_unix_stream() - is @sock what the protocol wants of a socket?
 * @sock: a socket
 *
 * A connected AF_UNIX stream socket. Such a socket can carry fds, our own
 * device fd among them, so the device reads all it receives and empties it
 * when the connection ends (see vfio_user_sock_close()).
 *
 * Return: true if it is.
 */
bool vfio_user_is_unix_stream(struct socket *sock)
{
	return sock->sk->sk_family == AF_UNIX && sock->type == SOCK_STREAM &&
	       sock->state == SS_CONNECTED;
}

/* A connected AF_UNIX stream socket not used by another device. */
static struct socket *vfio_user_get_socket(int fd)
{
	struct socket *sock;
	int err;

	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return ERR_PTR(err);
	if (!vfio_user_is_unix_stream(sock)) {
		sockfd_put(sock);
		return ERR_PTR(-EINVAL);
	}
	err = vfio_user_claim_socket(sock);
	if (err) {
		sockfd_put(sock);
		return ERR_PTR(err);
	}
	return sock;
}

static void vfio_user_put_socket(struct socket *sock)
{
	vfio_user_unclaim_socket(sock);
	sockfd_put(sock);
}

/* Regions */

static void vfio_user_free_region(struct vfio_user_region *region)
{
	u32 i;

	for (i = 0; i < region->nr_io_fds; i++)
		vfio_user_io_fd_release(&region->io_fds[i]);
	kfree(region->io_fds);
	kfree(region->areas);
	kfree(region->caps);
	if (region->holds_writable)
		mapping_unmap_writable(region->file->f_mapping);
	if (region->file)
		fput(region->file);
}

static int vfio_user_check_io_fd(const struct vfio_user_region *region,
				 const struct vfio_user_attach_io_fd *io)
{
	u64 end;

	if (io->reserved && io->type != VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW)
		return -EINVAL;
	if (check_add_overflow(io->offset, io->size, &end) ||
	    end > region->info.size || io->offset >= region->info.size)
		return -EINVAL;

	switch (io->type) {
	case VFIO_USER_IO_FD_TYPE_IOEVENTFD:
		if (io->flags & ~(VFIO_USER_IOEVENTFD_FLAG_DATAMATCH |
				  VFIO_USER_IOEVENTFD_FLAG_PIO))
			return -EINVAL;
		/* The widths KVM accepts; no length cannot match data. */
		if (io->size != 0 && io->size != 1 && io->size != 2 &&
		    io->size != 4 && io->size != 8)
			return -EINVAL;
		if (!io->size && (io->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH))
			return -EINVAL;
		if (!(io->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH) &&
		    io->datamatch)
			return -EINVAL;
		if (io->user_data)
			return -EINVAL;
		break;
	case VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW:
		if (io->flags & ~(VFIO_USER_IOEVENTFD_FLAG_DATAMATCH |
				  VFIO_USER_IOEVENTFD_FLAG_PIO))
			return -EINVAL;
		/* The value has a width; stored whole, within one page. */
		if (io->size != 1 && io->size != 2 && io->size != 4 &&
		    io->size != 8)
			return -EINVAL;
		if (!IS_ALIGNED(io->shadow_offset, io->size) ||
		    io->shadow_offset > MAX_LFS_FILESIZE - io->size)
			return -EINVAL;
		if (!(io->flags & VFIO_USER_IOEVENTFD_FLAG_DATAMATCH) &&
		    io->datamatch)
			return -EINVAL;
		break;
	case VFIO_USER_IO_FD_TYPE_IOREGIONFD:
		if (io->flags & ~(VFIO_USER_IOREGIONFD_FLAG_PIO |
				  VFIO_USER_IOREGIONFD_FLAG_POSTED_WRITES))
			return -EINVAL;
		if (!io->size || io->datamatch)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/*
 * The shadow memory of a shadow ioeventfd: the module writes into it only
 * what a shared writable mapping of it could, a VMM holding the fd could
 * make one itself. It must be shmem (a memfd), open for writing, large
 * enough, and mappable so (which checks the seals and the LSM).
 */
static int vfio_user_shadow_setup(struct vfio_user_io_fd *io, int fd,
				  u64 shadow_offset, u64 width)
{
	struct file *file = fget(fd);
	unsigned long addr;
	struct page *page;
	int ret;

	if (!file)
		return -EBADF;
	ret = -EINVAL;
	if (!shmem_mapping(file->f_mapping))
		goto err_put;
	ret = -EACCES;
	if (!(file->f_mode & FMODE_WRITE))
		goto err_put;
	ret = -EINVAL;
	if (shadow_offset + width > i_size_read(file_inode(file)))
		goto err_put;
	addr = vm_mmap(file, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       shadow_offset & PAGE_MASK);
	if (IS_ERR_VALUE(addr)) {
		ret = (int)addr;
		goto err_put;
	}
	vm_munmap(addr, PAGE_SIZE);
	/* As a writable mapping would, it keeps the file from being sealed. */
	ret = mapping_map_writable(file->f_mapping);
	if (ret)
		goto err_put;
	page = shmem_read_mapping_page(file->f_mapping,
				       shadow_offset >> PAGE_SHIFT);
	if (IS_ERR(page)) {
		ret = PTR_ERR(page);
		mapping_unmap_writable(file->f_mapping);
		goto err_put;
	}
	io->shadow_file = file;
	io->shadow_page = page;
	io->shadow_in_page = offset_in_page(shadow_offset);
	return 0;

err_put:
	fput(file);
	return ret;
}

static int vfio_user_attach_io_fds(struct vfio_user_region *region,
				   const struct vfio_user_attach_region *ar)
{
	struct vfio_user_attach_io_fd *uio;
	u32 i;
	int ret;

	if (!ar->nr_io_fds)
		return 0;
	if (ar->nr_io_fds > VFIO_USER_MAX_IO_FDS)
		return -EINVAL;

	uio = memdup_user(u64_to_user_ptr(ar->io_fds),
			  array_size(ar->nr_io_fds, sizeof(*uio)));
	if (IS_ERR(uio))
		return PTR_ERR(uio);
	region->io_fds = kcalloc(ar->nr_io_fds, sizeof(*region->io_fds),
				 GFP_KERNEL_ACCOUNT);
	if (!region->io_fds) {
		ret = -ENOMEM;
		goto out_free;
	}

	for (i = 0; i < ar->nr_io_fds; i++) {
		struct vfio_user_io_fd *io = &region->io_fds[i];

		ret = vfio_user_check_io_fd(region, &uio[i]);
		if (ret)
			goto out_free;
		io->file = fget(uio[i].fd);
		if (!io->file) {
			ret = -EBADF;
			goto out_free;
		}
		io->type = uio[i].type;
		region->nr_io_fds++;
		ret = vfio_user_io_fd_setup(io);
		if (!ret && io->type == VFIO_USER_IO_FD_TYPE_IOEVENTFD_SHADOW)
			ret = vfio_user_shadow_setup(io, uio[i].shadow_fd,
						     uio[i].shadow_offset,
						     uio[i].size);
		if (ret)
			goto out_free;
		io->flags = uio[i].flags;
		io->offset = uio[i].offset;
		io->size = uio[i].size;
		io->datamatch = uio[i].datamatch;
		io->user_data = uio[i].user_data;
	}
	ret = 0;
out_free:
	kfree(uio);
	return ret;
}

/*
 * What would a direct shared mapping of the region's file be allowed? Ask
 * the kernel by making one (a page, unmapped at once): that runs every
 * check do_mmap() makes, the LSM hook among them, which a module cannot
 * call on its own. Only a refusal (EACCES, EPERM) restricts: a file that
 * cannot be probed this way (hugetlbfs wants whole huge pages) keeps the
 * checks vfio_user_device_mmap() makes itself.
 */
static void vfio_user_probe_mmap(struct vfio_user_region *region)
{
	unsigned long prot = PROT_READ, addr;

	if (region->info.flags & VFIO_REGION_INFO_FLAG_WRITE)
		prot |= PROT_WRITE;
	for (;;) {
		addr = vm_mmap(region->file, 0, PAGE_SIZE, prot, MAP_SHARED,
			       region->info.offset);
		if (!IS_ERR_VALUE(addr)) {
			vm_munmap(addr, PAGE_SIZE);
			break;
		}
		if (addr != (unsigned long)-EACCES &&
		    addr != (unsigned long)-EPERM)
			break;
		if (prot == PROT_READ)
			return;
		prot = PROT_READ;
	}
	region->file_readable = true;
	if (!(prot & PROT_WRITE) || !(region->file->f_mode & FMODE_WRITE))
		return;
	/*
	 * Count as a writable mapping for as long as the device lives, as a
	 * direct writable mapping would from mmap() to munmap(): sealing the
	 * file against writes fails meanwhile, so no mapping made through
	 * the device can outlive its check. Fails if it is already sealed.
	 */
	if (mapping_map_writable(region->file->f_mapping))
		return;
	region->holds_writable = true;
	region->file_writable = true;
}

/* Check the sparse mmap capability at @pos (its header already checked). */
static int vfio_user_parse_sparse(struct vfio_user_region *region, u32 pos,
				  u32 end)
{
	struct vfio_region_info_cap_sparse_mmap sparse;
	struct vfio_region_sparse_mmap_area *areas;
	u8 *caps = region->caps;
	size_t size;
	u32 i;

	if (region->areas || end - pos < sizeof(sparse))
		return -EINVAL;
	memcpy(&sparse, caps + pos, sizeof(sparse));
	if (sparse.header.version != 1 ||
	    check_mul_overflow((size_t)sparse.nr_areas, sizeof(*areas), &size) ||
	    size > end - pos - sizeof(sparse))
		return -EINVAL;
	if (!sparse.nr_areas)
		return 0;

	areas = kmemdup(caps + pos + sizeof(sparse), size, GFP_KERNEL_ACCOUNT);
	if (!areas)
		return -ENOMEM;
	for (i = 0; i < sparse.nr_areas; i++) {
		u64 area_end;

		if (check_add_overflow(areas[i].offset, areas[i].size,
				       &area_end) ||
		    area_end > region->info.size) {
			kfree(areas);
			return -EINVAL;
		}
	}
	region->areas = areas;
	region->nr_areas = sparse.nr_areas;
	return 0;
}

/*
 * Walk the capability chain: every header inside the buffer, every link
 * forward (so it ends), known capabilities well formed.
 */
static int vfio_user_check_caps(struct vfio_user_region *region,
				u32 cap_offset)
{
	const u32 base = sizeof(struct vfio_region_info);
	const u32 limit = base + region->cap_size;
	u32 pos = cap_offset;
	int ret;

	if (pos < base)
		return -EINVAL;
	while (pos) {
		struct vfio_info_cap_header hdr;
		u32 end;

		if (pos < base || pos > limit - sizeof(hdr))
			return -EINVAL;
		memcpy(&hdr, (u8 *)region->caps + pos - base, sizeof(hdr));
		if (hdr.next && hdr.next <= pos)
			return -EINVAL;
		end = hdr.next ? min(hdr.next, limit) : limit;

		switch (hdr.id) {
		case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
			ret = vfio_user_parse_sparse(region, pos - base,
						     end - base);
			if (ret)
				return ret;
			break;
		case VFIO_REGION_INFO_CAP_TYPE:
			if (end - pos < sizeof(struct vfio_region_info_cap_type))
				return -EINVAL;
			break;
		default:
			/* Passed to the VMM as is. */
			break;
		}
		pos = hdr.next;
	}
	return 0;
}

static int vfio_user_attach_region(struct vfio_user_region *region, u32 index,
				   const struct vfio_user_attach_region *ar,
				   u32 device_flags)
{
	const u32 known = VFIO_REGION_INFO_FLAG_READ |
			  VFIO_REGION_INFO_FLAG_WRITE |
			  VFIO_REGION_INFO_FLAG_MMAP |
			  VFIO_REGION_INFO_FLAG_CAPS;
	bool is_config = (device_flags & VFIO_DEVICE_FLAGS_PCI) &&
			 index == VFIO_PCI_CONFIG_REGION_INDEX;
	bool has_fd = ar->fd >= 0;
	int ret;

	if (ar->flags & ~known)
		return -EINVAL;
	if (ar->attach_flags & ~VFIO_USER_ATTACH_REGION_POSTED_WRITES)
		return -EINVAL;
	if (!!(ar->flags & VFIO_REGION_INFO_FLAG_CAPS) != !!ar->cap_size ||
	    (!ar->cap_size && ar->cap_offset))
		return -EINVAL;
	if (!(ar->flags & VFIO_REGION_INFO_FLAG_MMAP) != !has_fd)
		return -EINVAL;
	if ((ar->flags & VFIO_REGION_INFO_FLAG_MMAP) &&
	    (!PAGE_ALIGNED(ar->offset) || !ar->size))
		return -EINVAL;
	if (ar->cap_size > VFIO_USER_MAX_CAP_SIZE)
		return -EINVAL;
	if ((ar->attach_flags & VFIO_USER_ATTACH_REGION_POSTED_WRITES) &&
	    (is_config || !(ar->flags & VFIO_REGION_INFO_FLAG_WRITE)))
		return -EINVAL;

	region->info.argsz = sizeof(region->info) + ar->cap_size;
	region->info.flags = ar->flags;
	region->info.index = index;
	region->info.cap_offset = ar->cap_offset;
	region->info.size = ar->size;
	region->info.offset = ar->offset;
	region->posted_writes = ar->attach_flags &
				VFIO_USER_ATTACH_REGION_POSTED_WRITES;

	if (ar->cap_size) {
		region->caps = memdup_user(u64_to_user_ptr(ar->caps),
					   ar->cap_size);
		if (IS_ERR(region->caps)) {
			ret = PTR_ERR(region->caps);
			region->caps = NULL;
			return ret;
		}
		region->cap_size = ar->cap_size;
		ret = vfio_user_check_caps(region, ar->cap_offset);
		if (ret)
			return ret;
	}

	if (ar->fd >= 0) {
		region->file = fget(ar->fd);
		if (!region->file)
			return -EBADF;
		/*
		 * Memory: a regular file (memfd, tmpfs or any other file
		 * system). Not a socket or an io_uring, which can hold files,
		 * our own device fd among them, in a cycle that nothing would
		 * ever break. Not hugetlbfs, whose mmap relies on alignment
		 * checks that only a direct mmap of the file makes.
		 */
		if (!S_ISREG(file_inode(region->file)->i_mode) ||
		    !region->file->f_op->mmap ||
		    file_inode(region->file)->i_sb->s_magic == HUGETLBFS_MAGIC)
			return -EINVAL;
		vfio_user_probe_mmap(region);
		/* A mappable region without sparse areas maps whole. */
		if (!region->areas) {
			region->areas = kzalloc(sizeof(*region->areas),
						GFP_KERNEL_ACCOUNT);
			if (!region->areas)
				return -ENOMEM;
			region->areas[0].size = region->info.size;
			region->nr_areas = 1;
		}
	}

	return vfio_user_attach_io_fds(region, ar);
}

static int vfio_user_attach_regions(struct vfio_user_device *vdev,
				    const struct vfio_user_attach *arg)
{
	struct vfio_user_attach_region *uregions;
	u32 i, j;
	int ret;

	uregions = memdup_user(u64_to_user_ptr(arg->regions),
			       array_size(arg->num_regions, sizeof(*uregions)));
	if (IS_ERR(uregions))
		return PTR_ERR(uregions);

	vdev->regions = kcalloc(arg->num_regions, sizeof(*vdev->regions),
				GFP_KERNEL_ACCOUNT);
	if (!vdev->regions) {
		ret = -ENOMEM;
		goto out_free;
	}
	vdev->num_regions = arg->num_regions;
	for (i = 0; i < arg->num_regions; i++) {
		ret = vfio_user_attach_region(&vdev->regions[i], i,
					      &uregions[i], arg->device_flags);
		if (ret)
			goto out_free;
		for (j = 0; j < vdev->regions[i].nr_io_fds; j++)
			vdev->regions[i].io_fds[j].dev_name = vdev->name;
	}
	ret = 0;
out_free:
	kfree(uregions);
	return ret;
}

static int vfio_user_attach_irqs(struct vfio_user_device *vdev,
				 const struct vfio_user_attach *arg)
{
	const u32 known = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
			  VFIO_IRQ_INFO_AUTOMASKED | VFIO_IRQ_INFO_NORESIZE;
	struct vfio_irq_info *irqs;
	u32 i;

	irqs = memdup_user(u64_to_user_ptr(arg->irqs),
			   array_size(arg->num_irqs, sizeof(*irqs)));
	if (IS_ERR(irqs))
		return PTR_ERR(irqs);
	for (i = 0; i < arg->num_irqs; i++) {
		if (irqs[i].flags & ~known || irqs[i].index != i ||
		    irqs[i].count > VFIO_USER_MAX_IRQ_COUNT) {
			kfree(irqs);
			return -EINVAL;
		}
		irqs[i].argsz = sizeof(irqs[i]);
	}
	vdev->irqs = irqs;
	vdev->num_irqs = arg->num_irqs;
	return 0;
}

static int vfio_user_check_attach(const struct vfio_user_attach *arg)
{
	const u32 known_device_flags = VFIO_DEVICE_FLAGS_RESET |
				       VFIO_DEVICE_FLAGS_PCI;

	if (arg->flags & ~(VFIO_USER_ATTACH_NO_FD_SHARING |
			   VFIO_USER_ATTACH_WRITE_MULTIPLE))
		return -EINVAL;
	if (arg->major != VFIO_USER_VERSION_MAJOR ||
	    arg->minor > VFIO_USER_VERSION_MINOR)
		return -EINVAL;
	if (arg->max_msg_fds > VFIO_USER_MAX_MSG_FDS)
		return -EINVAL;
	if (arg->max_data_xfer_size < VFIO_USER_MIN_XFER ||
	    arg->max_data_xfer_size > VFIO_USER_MAX_XFER ||
	    arg->client_max_data_xfer_size < VFIO_USER_MIN_XFER ||
	    arg->client_max_data_xfer_size > VFIO_USER_MAX_XFER)
		return -EINVAL;
	if (!arg->max_dma_maps)
		return -EINVAL;
	/* Page sizes start at 4 KiB. */
	if (!arg->pgsizes || (arg->pgsizes & (SZ_4K - 1)))
		return -EINVAL;
	if (arg->device_flags & ~known_device_flags)
		return -EINVAL;
	if (!arg->num_regions || arg->num_regions > VFIO_USER_MAX_REGIONS ||
	    arg->num_irqs > VFIO_USER_MAX_IRQS)
		return -EINVAL;
	if ((arg->device_flags & VFIO_DEVICE_FLAGS_PCI) &&
	    arg->num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return -EINVAL;
	if (arg->twin_fd < -1 || arg->sock_fd < 0)
		return -EINVAL;
	return 0;
}

/* Undo everything vfio_user_attach() cached; the connection is stopped. */
static void vfio_user_free_attach_state(struct vfio_user_device *vdev)
{
	u32 i;

	for (i = 0; i < vdev->num_regions; i++)
		vfio_user_free_region(&vdev->regions[i]);
	kfree(vdev->regions);
	vdev->regions = NULL;
	vdev->num_regions = 0;
	kfree(vdev->irqs);
	vdev->irqs = NULL;
	vdev->num_irqs = 0;
}

/*
 * For vfio-user-ctl list: who attached the device, and the server as the
 * socket's peer credentials name it (the process that called listen() or
 * connect(); none for a socketpair's other end passed along).
 */
static void vfio_user_note_pids(struct vfio_user_device *vdev,
				struct socket *sock)
{
	struct sock *sk = sock->sk;

	vdev->owner_pid = get_pid(task_tgid(current));
	spin_lock(&sk->sk_peer_lock);
	vdev->server_pid = get_pid(sk->sk_peer_pid);
	spin_unlock(&sk->sk_peer_lock);
}

/**
 * vfio_user_attach() - VFIO_USER_ATTACH
 * @vdev: the device of this open file
 * @uarg: the user's struct vfio_user_attach
 *
 * Return: 0 or a negative errno; on failure nothing is kept.
 */
int vfio_user_attach(struct vfio_user_device *vdev,
		     struct vfio_user_attach __user *uarg)
{
	const size_t minsz = offsetofend(struct vfio_user_attach, irqs);
	struct socket *sock, *twin = NULL;
	struct vfio_user_attach arg;
	int ret;

	if (copy_from_user(&arg, uarg, minsz))
		return -EFAULT;
	if (arg.argsz < minsz)
		return -EINVAL;
	ret = vfio_user_check_attach(&arg);
	if (ret)
		return ret;

	if (mutex_lock_killable(&vdev->lock))
		return -EINTR;
	if (vdev->attached) {
		ret = -EBUSY;
		goto out_unlock;
	}

	ret = vfio_user_attach_regions(vdev, &arg);
	if (ret)
		goto err_free_state;
	ret = vfio_user_attach_irqs(vdev, &arg);
	if (ret)
		goto err_free_state;

	sock = vfio_user_get_socket(arg.sock_fd);
	if (IS_ERR(sock)) {
		ret = PTR_ERR(sock);
		goto err_free_state;
	}
	if (arg.twin_fd >= 0) {
		twin = vfio_user_get_socket(arg.twin_fd);
		if (IS_ERR(twin)) {
			ret = PTR_ERR(twin);
			goto err_put_sock;
		}
	}

	vdev->device_flags = arg.device_flags;
	vdev->pgsizes = arg.pgsizes;
	vdev->max_dma_maps = arg.max_dma_maps;
	vdev->no_fd_sharing = arg.flags & VFIO_USER_ATTACH_NO_FD_SHARING;
	vdev->conn.max_msg_fds = arg.max_msg_fds;
	vdev->conn.max_xfer = arg.max_data_xfer_size;
	vdev->conn.client_max_xfer = arg.client_max_data_xfer_size;
	vdev->conn.write_multiple = arg.flags & VFIO_USER_ATTACH_WRITE_MULTIPLE;
	ret = vfio_user_conn_start(vdev, sock, twin);
	if (ret)
		goto err_put_twin;
	vfio_user_note_pids(vdev, sock);
	vu_dbg(vdev, "attached: protocol %u.%u, %u regions, %u irqs, server pid %d%s\n",
	       arg.major, arg.minor, vdev->num_regions, vdev->num_irqs,
	       pid_vnr(vdev->server_pid), twin ? ", twin socket" : "");
	/* Pairs with vfio_user_attached(): publish the cached state. */
	smp_store_release(&vdev->attached, true);
	mutex_unlock(&vdev->lock);
	return 0;

err_put_twin:
	if (twin)
		vfio_user_put_socket(twin);
err_put_sock:
	vfio_user_put_socket(sock);
err_free_state:
	vfio_user_free_attach_state(vdev);
out_unlock:
	mutex_unlock(&vdev->lock);
	return ret;
}

/**
 * vfio_user_detach() - stop the connection and drop what attach cached
 * @vdev: the device, on its way out (no other users left)
 */
void vfio_user_detach(struct vfio_user_device *vdev)
{
	struct socket *sock = vdev->conn.sock, *twin = vdev->conn.twin;

	if (!vdev->attached)
		return;
	vu_dbg(vdev, "released\n");
	/* Closing is not a failure: no ERR/REQ signal for it. */
	vfio_user_device_release_irqs(vdev);
	/* Shut the sockets down before another device may claim them. */
	vfio_user_conn_break(&vdev->conn, -ENOTCONN);
	vfio_user_unclaim_socket(sock);
	if (twin)
		vfio_user_unclaim_socket(twin);
	vfio_user_conn_stop(&vdev->conn);
	vfio_user_dma_release(vdev);
	vfio_user_free_attach_state(vdev);
	vdev->attached = false;
}
