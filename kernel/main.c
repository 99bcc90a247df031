// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-user client in the kernel: module init, /dev/vfio-user, ioctl dispatch.
 *
 * One open of /dev/vfio-user is one device connection. The VMM hands the
 * module a connected vfio-user socket and then drives the device with the
 * VFIO device API on the same fd.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "vfio_user.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

#define VFIO_USER_TIMEOUT_MS_DEFAULT		5000
#define VFIO_USER_RESET_TIMEOUT_MS_DEFAULT	60000

/* Module parameters */

static unsigned int reply_timeout_ms = VFIO_USER_TIMEOUT_MS_DEFAULT;
static unsigned int reset_timeout_ms = VFIO_USER_RESET_TIMEOUT_MS_DEFAULT;

static int timeout_ms_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(val, 0, &ms);
	if (ret)
		return ret;
	if (!ms || ms > VFIO_USER_TIMEOUT_MS_MAX)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, ms);
	return 0;
}

static const struct kernel_param_ops timeout_ms_ops = {
	.set = timeout_ms_set,
	.get = param_get_uint,
};

module_param_cb(reply_timeout_ms, &timeout_ms_ops, &reply_timeout_ms, 0644);
MODULE_PARM_DESC(reply_timeout_ms,
		 "Default bound on waiting for a server reply, in ms (1..600000, default 5000)");

/* The specification allows a reset to take long: its own bound. */
module_param_cb(reset_timeout_ms, &timeout_ms_ops, &reset_timeout_ms, 0644);
MODULE_PARM_DESC(reset_timeout_ms,
		 "Default bound on waiting for the reply to DEVICE_RESET, in ms (1..600000, default 60000)");

static unsigned int max_workers_per_user = 256;
module_param(max_workers_per_user, uint, 0644);
MODULE_PARM_DESC(max_workers_per_user,
		 "Most receive workers (one per attached device) one user may have (default 256)");

/**
 * vfio_user_max_workers_per_user() - bound on one user's receive workers
 *
 * Return: the current value of the max_workers_per_user module parameter.
 */
unsigned int vfio_user_max_workers_per_user(void)
{
	return READ_ONCE(max_workers_per_user);
}

/**
 * vfio_user_default_timeout_ms() - the reply timeout new devices start with
 *
 * Return: the current value of the reply_timeout_ms module parameter.
 */
unsigned int vfio_user_default_timeout_ms(void)
{
	return READ_ONCE(reply_timeout_ms);
}

/**
 * vfio_user_default_reset_timeout_ms() - the DEVICE_RESET bound new devices
 *	start with
 *
 * Return: the current value of the reset_timeout_ms module parameter.
 */
unsigned int vfio_user_default_reset_timeout_ms(void)
{
	return READ_ONCE(reset_timeout_ms);
}

/* Device object lifetime */

/* Numbers of the open devices, for their names. */
static DEFINE_IDA(vfio_user_ida);

static struct vfio_user_device *vfio_user_device_alloc(void)
{
	struct vfio_user_device *vdev;

	vdev = kzalloc(sizeof(*vdev), GFP_KERNEL_ACCOUNT);
	if (!vdev)
		return NULL;
	vdev->id = ida_alloc(&vfio_user_ida, GFP_KERNEL);
	if (vdev->id < 0) {
		kfree(vdev);
		return NULL;
	}
	snprintf(vdev->name, sizeof(vdev->name), "vfio-user%d", vdev->id);
	kref_init(&vdev->kref);
	mutex_init(&vdev->lock);
	mutex_init(&vdev->irq_lock);
	mutex_init(&vdev->dma_ops_lock);
	init_rwsem(&vdev->dma_lock);
	vdev->dma_tree = RB_ROOT_CACHED;
	spin_lock_init(&vdev->dirty_lock);
	init_waitqueue_head(&vdev->dma_idle);
	mutex_init(&vdev->conn.send_lock);
	mutex_init(&vdev->conn.multi_lock);
	xa_init_flags(&vdev->conn.pending, XA_FLAGS_ALLOC);
	init_waitqueue_head(&vdev->conn.poll_wq);
	init_waitqueue_head(&vdev->conn.worker_wq);
	vdev->conn.timeout_ms = vfio_user_default_timeout_ms();
	vdev->conn.reset_timeout_ms = vfio_user_default_reset_timeout_ms();
	return vdev;
}

static void vfio_user_device_free(struct kref *kref)
{
	struct vfio_user_device *vdev =
		container_of(kref, struct vfio_user_device, kref);

	mutex_destroy(&vdev->conn.send_lock);
	mutex_destroy(&vdev->dma_ops_lock);
	mutex_destroy(&vdev->irq_lock);
	mutex_destroy(&vdev->lock);
	put_pid(vdev->owner_pid);
	put_pid(vdev->server_pid);
	ida_free(&vfio_user_ida, vdev->id);
	kfree(vdev);
}

static void vfio_user_device_put(struct vfio_user_device *vdev)
{
	kref_put(&vdev->kref, vfio_user_device_free);
}

/* /dev/vfio-user file operations */

static int vfio_user_fops_open(struct inode *inode, struct file *filep)
{
	struct vfio_user_device *vdev;

	vdev = vfio_user_device_alloc();
	if (!vdev)
		return -ENOMEM;
	filep->private_data = vdev;
	vfio_user_debugfs_add(vdev);
	/* io_uring submits inline: an access waits for nothing but room. */
	filep->f_mode |= FMODE_NOWAIT;
	return 0;
}

static int vfio_user_fops_release(struct inode *inode, struct file *filep)
{
	struct vfio_user_device *vdev = filep->private_data;

	/* Last user of the file: stop, then release, then free. */
	vfio_user_debugfs_remove(vdev);
	vfio_user_detach(vdev);
	vfio_user_device_put(vdev);
	return 0;
}

static long vfio_user_fops_unl_ioctl(struct file *filep, unsigned int cmd,
				     unsigned long arg)
{
	struct vfio_user_device *vdev = filep->private_data;

	if (cmd == VFIO_USER_ATTACH)
		return vfio_user_attach(vdev, (void __user *)arg);
	return vfio_user_device_ioctl(vdev, cmd, arg);
}

static ssize_t vfio_user_fops_read(struct file *filep, char __user *buf,
				   size_t count, loff_t *ppos)
{
	return vfio_user_device_rw(filep->private_data, buf, count, *ppos,
				   false);
}

static ssize_t vfio_user_fops_write(struct file *filep, const char __user *buf,
				    size_t count, loff_t *ppos)
{
	return vfio_user_device_rw(filep->private_data, (char __user *)buf,
				   count, *ppos, true);
}

static ssize_t vfio_user_fops_read_iter(struct kiocb *iocb,
					struct iov_iter *to)
{
	return vfio_user_device_rw_iter(iocb->ki_filp->private_data, iocb, to,
					false);
}

static ssize_t vfio_user_fops_write_iter(struct kiocb *iocb,
					 struct iov_iter *from)
{
	return vfio_user_device_rw_iter(iocb->ki_filp->private_data, iocb,
					from, true);
}

static int vfio_user_fops_mmap(struct file *filep, struct vm_area_struct *vma)
{
	return vfio_user_device_mmap(filep->private_data, vma);
}

static __poll_t vfio_user_fops_poll(struct file *filep,
				    struct poll_table_struct *wait)
{
	struct vfio_user_device *vdev = filep->private_data;

	poll_wait(filep, &vdev->conn.poll_wq, wait);
	if (vfio_user_conn_status(&vdev->conn))
		return EPOLLHUP | EPOLLERR;
	/* As a VFIO device fd: always ready for I/O while healthy. */
	return EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM;
}

/* The device's name, state and counters, for its owner to read. */
static void vfio_user_fops_show_fdinfo(struct seq_file *m, struct file *filep)
{
	vfio_user_stats_show(m, filep->private_data);
}

static const struct file_operations vfio_user_fops = {
	.owner		= THIS_MODULE,
	.open		= vfio_user_fops_open,
	.release	= vfio_user_fops_release,
	.read		= vfio_user_fops_read,
	.write		= vfio_user_fops_write,
	.read_iter	= vfio_user_fops_read_iter,
	.write_iter	= vfio_user_fops_write_iter,
	.mmap		= vfio_user_fops_mmap,
	.poll		= vfio_user_fops_poll,
	.unlocked_ioctl	= vfio_user_fops_unl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
	.show_fdinfo	= vfio_user_fops_show_fdinfo,
};

static struct miscdevice vfio_user_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vfio-user",
	.fops	= &vfio_user_fops,
	.mode	= 0600,
};

/* Module init */

static int __init vfio_user_init(void)
{
	int ret;

	vfio_user_debugfs_init();
	ret = misc_register(&vfio_user_misc);
	if (ret) {
		pr_err("cannot register /dev/vfio-user: %d\n", ret);
		vfio_user_debugfs_exit();
		return ret;
	}
	return 0;
}

static void __exit vfio_user_exit(void)
{
	misc_deregister(&vfio_user_misc);
	vfio_user_debugfs_exit();
}

module_init(vfio_user_init);
module_exit(vfio_user_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vfio-user client: devices emulated by vfio-user servers, driven through the VFIO device API");
