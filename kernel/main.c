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
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "vfio_user.h"

#define VFIO_USER_TIMEOUT_MS_DEFAULT	5000
#define VFIO_USER_TIMEOUT_MS_MAX	(10 * 60 * 1000)

/* Module parameters */

static unsigned int reply_timeout_ms = VFIO_USER_TIMEOUT_MS_DEFAULT;

static int reply_timeout_ms_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(val, 0, &ms);
	if (ret)
		return ret;
	if (!ms || ms > VFIO_USER_TIMEOUT_MS_MAX)
		return -EINVAL;
	WRITE_ONCE(reply_timeout_ms, ms);
	return 0;
}

static const struct kernel_param_ops reply_timeout_ms_ops = {
	.set = reply_timeout_ms_set,
	.get = param_get_uint,
};

module_param_cb(reply_timeout_ms, &reply_timeout_ms_ops, &reply_timeout_ms,
		0644);
MODULE_PARM_DESC(reply_timeout_ms,
		 "Default bound on waiting for a server reply, in ms (1..600000, default 5000)");

/**
 * vfio_user_default_timeout_ms() - the reply timeout new devices start with
 *
 * Return: the current value of the reply_timeout_ms module parameter.
 */
unsigned int vfio_user_default_timeout_ms(void)
{
	return READ_ONCE(reply_timeout_ms);
}

/* Device object lifetime */

static struct vfio_user_device *vfio_user_device_alloc(void)
{
	struct vfio_user_device *vdev;

	vdev = kzalloc(sizeof(*vdev), GFP_KERNEL_ACCOUNT);
	if (!vdev)
		return NULL;
	kref_init(&vdev->kref);
	vdev->timeout_ms = vfio_user_default_timeout_ms();
	return vdev;
}

static void vfio_user_device_free(struct kref *kref)
{
	struct vfio_user_device *vdev =
		container_of(kref, struct vfio_user_device, kref);

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
	return 0;
}

static int vfio_user_fops_release(struct inode *inode, struct file *filep)
{
	struct vfio_user_device *vdev = filep->private_data;

	vfio_user_device_put(vdev);
	return 0;
}

static long vfio_user_fops_unl_ioctl(struct file *filep, unsigned int cmd,
				     unsigned long arg)
{
	switch (cmd) {
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vfio_user_fops = {
	.owner		= THIS_MODULE,
	.open		= vfio_user_fops_open,
	.release	= vfio_user_fops_release,
	.unlocked_ioctl	= vfio_user_fops_unl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
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

	ret = misc_register(&vfio_user_misc);
	if (ret) {
		pr_err("cannot register /dev/vfio-user: %d\n", ret);
		return ret;
	}
	return 0;
}

static void __exit vfio_user_exit(void)
{
	misc_deregister(&vfio_user_misc);
}

module_init(vfio_user_init);
module_exit(vfio_user_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vfio-user client: devices emulated by vfio-user servers, driven through the VFIO device API");
