// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio-user client in the kernel: per-device statistics.
 *
 * The same text twice: in debugfs, /sys/kernel/debug/vfio_user/<name>/stats
 * (root only, as debugfs is), and in /proc/<pid>/fdinfo/<fd> of the open
 * /dev/vfio-user file, which the VMM's own user may read. One "key: value"
 * line each; vfio-user-ctl stats and list read them.
 *
 * Lifetime: the fdinfo show runs with the file, so the device, held. The
 * debugfs file is removed in release before the device can go: debugfs
 * makes the removal wait for reads in progress, and reads of a file still
 * open afterwards fail with EIO without reaching the device.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "vfio_user.h"

static struct dentry *vfio_user_debugfs_root;

static const char *const vfio_user_cmd_names[VFIO_USER_MAX_COMMAND] = {
	[0] = "other",
	[VFIO_USER_VERSION] = "version",
	[VFIO_USER_DMA_MAP] = "dma_map",
	[VFIO_USER_DMA_UNMAP] = "dma_unmap",
	[VFIO_USER_DEVICE_GET_INFO] = "device_get_info",
	[VFIO_USER_DEVICE_GET_REGION_INFO] = "device_get_region_info",
	[VFIO_USER_DEVICE_GET_REGION_IO_FDS] = "device_get_region_io_fds",
	[VFIO_USER_DEVICE_GET_IRQ_INFO] = "device_get_irq_info",
	[VFIO_USER_DEVICE_SET_IRQS] = "device_set_irqs",
	[VFIO_USER_REGION_READ] = "region_read",
	[VFIO_USER_REGION_WRITE] = "region_write",
	[VFIO_USER_DMA_READ] = "dma_read",
	[VFIO_USER_DMA_WRITE] = "dma_write",
	[VFIO_USER_DEVICE_RESET] = "device_reset",
	[VFIO_USER_REGION_WRITE_MULTI] = "region_write_multi",
	[VFIO_USER_DEVICE_FEATURE] = "device_feature",
	[VFIO_USER_MIG_DATA_READ] = "mig_data_read",
	[VFIO_USER_MIG_DATA_WRITE] = "mig_data_write",
};

static void vfio_user_show_u64(struct seq_file *m, const char *key,
			       atomic64_t *v)
{
	seq_printf(m, "%s: %lld\n", key, (long long)atomic64_read(v));
}

/* Nonzero per-command counters only: most commands are never sent. */
static void vfio_user_show_by_cmd(struct seq_file *m, const char *prefix,
				  atomic64_t *array)
{
	unsigned int i;
	s64 v;

	for (i = 0; i < VFIO_USER_MAX_COMMAND; i++) {
		v = atomic64_read(&array[i]);
		if (v && vfio_user_cmd_names[i])
			seq_printf(m, "%s_%s: %lld\n", prefix,
				   vfio_user_cmd_names[i], (long long)v);
	}
}

/**
 * vfio_user_stats_show() - the device's state and counters, as text
 * @m: where to
 * @vdev: the device, held by the caller
 *
 * Lock-free: the counters are atomics, and what attach sets is published
 * by vfio_user_attached()'s release-acquire pair and kept until release.
 */
void vfio_user_stats_show(struct seq_file *m, struct vfio_user_device *vdev)
{
	struct vfio_user_stat_counters *c = &vdev->conn.stats;
	/* Pairs with attach's release: what it set is visible. */
	bool attached = smp_load_acquire(&vdev->attached);
	int broken = vfio_user_conn_status(&vdev->conn);

	seq_printf(m, "name: %s\n", vdev->name);
	if (!attached)
		seq_puts(m, "state: unattached\n");
	else if (broken)
		seq_printf(m, "state: broken %pe\n", ERR_PTR(broken));
	else
		seq_puts(m, "state: connected\n");
	if (!attached)
		return;
	seq_printf(m, "owner_pid: %d\n",
		   vdev->owner_pid ? pid_vnr(vdev->owner_pid) : 0);
	seq_printf(m, "server_pid: %d\n",
		   vdev->server_pid ? pid_vnr(vdev->server_pid) : 0);
	seq_printf(m, "timeout_ms: %u\n", READ_ONCE(vdev->conn.timeout_ms));
	seq_printf(m, "in_flight_async: %d\n",
		   atomic_read(&vdev->async_in_flight));
	seq_printf(m, "msgs_sent: %llu\n", vfio_user_cmd_stats_sum(c->sent));
	seq_printf(m, "msgs_received: %llu\n",
		   vfio_user_cmd_stats_sum(c->received));
	vfio_user_show_u64(m, "bytes_sent", &c->bytes_sent);
	vfio_user_show_u64(m, "bytes_received", &c->bytes_received);
	vfio_user_show_u64(m, "region_reads", &c->region_reads);
	vfio_user_show_u64(m, "region_writes", &c->region_writes);
	vfio_user_show_u64(m, "posted_writes", &c->posted_writes);
	vfio_user_show_u64(m, "write_multi_batches", &c->write_multi);
	vfio_user_show_u64(m, "ioeventfd_signals", &c->ioeventfd_signals);
	vfio_user_show_u64(m, "server_requests", &c->server_requests);
	vfio_user_show_u64(m, "dma_reads", &c->dma_reads);
	vfio_user_show_u64(m, "dma_writes", &c->dma_writes);
	vfio_user_show_u64(m, "dma_bytes", &c->dma_bytes);
	vfio_user_show_u64(m, "dma_errors", &c->dma_errors);
	vfio_user_show_u64(m, "error_replies", &c->error_replies);
	vfio_user_show_u64(m, "timeouts", &c->timeouts);
	vfio_user_show_u64(m, "protocol_errors", &c->protocol_errors);
	vfio_user_show_by_cmd(m, "sent", c->sent);
	vfio_user_show_by_cmd(m, "received", c->received);
}

static int vfio_user_debugfs_stats_show(struct seq_file *m, void *unused)
{
	vfio_user_stats_show(m, m->private);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(vfio_user_debugfs_stats);

/**
 * vfio_user_debugfs_add() - give a new device its debugfs directory
 * @vdev: the device
 *
 * Without debugfs the device works as well: failures are ignored.
 */
void vfio_user_debugfs_add(struct vfio_user_device *vdev)
{
	struct dentry *dir;

	if (IS_ERR_OR_NULL(vfio_user_debugfs_root))
		return;
	dir = debugfs_create_dir(vdev->name, vfio_user_debugfs_root);
	if (IS_ERR(dir))
		return;
	debugfs_create_file("stats", 0400, dir, vdev,
			    &vfio_user_debugfs_stats_fops);
	vdev->debugfs = dir;
}

/**
 * vfio_user_debugfs_remove() - remove the device's debugfs directory
 * @vdev: the device, in release
 *
 * Returns once no read of its files is in progress; later reads of files
 * still open fail without reaching @vdev.
 */
void vfio_user_debugfs_remove(struct vfio_user_device *vdev)
{
	debugfs_remove(vdev->debugfs);
	vdev->debugfs = NULL;
}

/** vfio_user_debugfs_init() - create /sys/kernel/debug/vfio_user */
void vfio_user_debugfs_init(void)
{
	vfio_user_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

/** vfio_user_debugfs_exit() - remove it, after the last device */
void vfio_user_debugfs_exit(void)
{
	debugfs_remove(vfio_user_debugfs_root);
}
