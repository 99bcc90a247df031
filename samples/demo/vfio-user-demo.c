// SPDX-License-Identifier: BSD-3-Clause
/*
 * A tour of a vfio-user device driven through the kernel: attach with
 * libvfio-user-client, then use nothing but the VFIO device API on the fd
 * the kernel hands back (pread/pwrite, mmap, VFIO_DEVICE_SET_IRQS).
 *
 *   vfio-user-demo SOCKET_PATH     (against vfio-user-sample-server)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sample-device.h"
#include "vfio-user-client.h"

#define BAR0 0
#define BAR2 2
#define CONFIG VFIO_PCI_CONFIG_REGION_INDEX

static off_t at(unsigned int region, uint64_t offset)
{
	return (off_t)(VFIO_USER_REGION_OFFSET(region) + offset);
}

static int fail(const char *what)
{
	fprintf(stderr, "vfio-user-demo: %s: %s\n", what, strerror(errno));
	return 1;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int registers(int fd)
{
	uint32_t id, scratch = 0x600dcafe, back = 0;

	printf("\n== BAR0 registers (REGION_READ/REGION_WRITE messages, sent by the kernel)\n");
	if (pread(fd, &id, 4, at(BAR0, SAMPLE_REG_ID)) != 4)
		return fail("reading the ID register");
	printf("ID register:      0x%08x\n", id);
	if (pwrite(fd, &scratch, 4, at(BAR0, SAMPLE_REG_SCRATCH)) != 4 ||
	    pread(fd, &back, 4, at(BAR0, SAMPLE_REG_SCRATCH)) != 4)
		return fail("scratch register");
	printf("scratch register: wrote 0x%08x, read back 0x%08x\n", scratch,
	       back);
	return back == scratch ? 0 : 1;
}

static int memory(int fd)
{
	static const char msg[] = "written with pwrite, read through mmap";
	char *map;

	printf("\n== BAR2 memory: pwrite through the socket, read through mmap\n");
	if (pwrite(fd, msg, sizeof(msg), at(BAR2, 0x100)) != sizeof(msg))
		return fail("writing BAR2");
	map = mmap(NULL, SAMPLE_BAR2_AREA0_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, at(BAR2, SAMPLE_BAR2_AREA0_OFFSET));
	if (map == MAP_FAILED)
		return fail("mapping BAR2");
	printf("mapped %d KiB of BAR2; at 0x100 it says: \"%s\"\n",
	       SAMPLE_BAR2_AREA0_SIZE / 1024, map + 0x100);
	munmap(map, SAMPLE_BAR2_AREA0_SIZE);
	return 0;
}

static int reg64(int fd, uint32_t reg, uint64_t v)
{
	return pwrite(fd, &v, sizeof(v), at(BAR0, reg)) == sizeof(v) ? 0 : -1;
}

static int reg32(int fd, uint32_t reg, uint32_t v)
{
	return pwrite(fd, &v, sizeof(v), at(BAR0, reg)) == sizeof(v) ? 0 : -1;
}

/*
 * The device copies between two buffers of ours. Without a memory fd the
 * server cannot map them: it sends DMA_READ/DMA_WRITE, and the kernel
 * serves them from our memory without waking us.
 */
static int dma(struct vuc_device *dev, int fd)
{
	const uint64_t iova = 0x10000000, len = 1 << 20;
	struct vfio_user_stats before, after;
	uint32_t status = ~0U, path = 0;
	uint8_t *mem;
	size_t i;

	printf("\n== DMA: the device copies 1 MiB between two of our buffers\n");
	mem = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	for (i = 0; i < len; i++)
		mem[i] = (uint8_t)(i * 7);
	if (vuc_dma_map(dev, iova, 2 * len, mem, VUC_DMA_READ | VUC_DMA_WRITE,
			-1, 0)) {
		fprintf(stderr, "vfio-user-demo: %s\n", vuc_strerror(dev));
		return 1;
	}
	printf("mapped 2 MiB of anonymous memory at DMA address 0x%llx (no fd)\n",
	       (unsigned long long)iova);
	vuc_get_stats(dev, &before);
	if (reg64(fd, SAMPLE_REG_DMA_SRC, iova) ||
	    reg64(fd, SAMPLE_REG_DMA_DST, iova + len) ||
	    reg32(fd, SAMPLE_REG_DMA_LEN, len) ||
	    reg32(fd, SAMPLE_REG_DMA_CMD, SAMPLE_DMA_CMD_COPY))
		return fail("programming the DMA engine");
	pread(fd, &status, 4, at(BAR0, SAMPLE_REG_DMA_STATUS));
	pread(fd, &path, 4, at(BAR0, SAMPLE_REG_DMA_PATH));
	vuc_get_stats(dev, &after);
	printf("engine status %u, data moved %s\n", status,
	       path & SAMPLE_DMA_PATH_MESSAGES ?
		       "with DMA_READ/DMA_WRITE messages" :
		       "through a mapping");
	printf("server requests served by the kernel: %llu; copy %s\n",
	       (unsigned long long)(after.server_requests -
				    before.server_requests),
	       memcmp(mem, mem + len, len) ? "WRONG" :
					     "verified byte for byte");
	vuc_dma_unmap(dev, iova, 2 * len);
	munmap(mem, 2 * len);
	return status != 0;
}

static int msix(int fd, unsigned int vector)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;
	struct pollfd pfd = { .events = POLLIN };
	uint16_t ctrl;
	uint64_t count;
	int32_t efd;
	double t0;

	printf("\n== MSI-X vector %u on an eventfd\n", vector);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return fail("eventfd");
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = vector;
	set->count = 1;
	memcpy(set->data, &efd, sizeof(efd));
	if (ioctl(fd, VFIO_DEVICE_SET_IRQS, set))
		return fail("VFIO_DEVICE_SET_IRQS");
	printf("VFIO_DEVICE_SET_IRQS: eventfd %d sent to the server for vector %u\n",
	       efd, vector);

	if (pread(fd, &ctrl, 2, at(CONFIG, SAMPLE_CAP_MSIX_OFFSET + 2)) != 2)
		return fail("reading MSI-X control");
	ctrl |= 0x8000;
	if (pwrite(fd, &ctrl, 2, at(CONFIG, SAMPLE_CAP_MSIX_OFFSET + 2)) != 2)
		return fail("enabling MSI-X");
	printf("MSI-X enabled in config space (message control 0x%04x)\n",
	       ctrl);

	t0 = now_us();
	if (pwrite(fd, &vector, 4, at(BAR0, SAMPLE_REG_IRQ_TRIGGER)) != 4)
		return fail("IRQ_TRIGGER");
	pfd.fd = efd;
	if (poll(&pfd, 1, 5000) != 1)
		return fail("waiting for the interrupt");
	if (read(efd, &count, sizeof(count)) != sizeof(count))
		return fail("reading the eventfd");
	printf("interrupt arrived: eventfd count %llu, %.0f us after the trigger write\n",
	       (unsigned long long)count, now_us() - t0);
	close(efd);
	return 0;
}

int main(int argc, char **argv)
{
	struct vfio_user_stats st;
	struct vuc_device *dev;
	int fd, ret;

	if (argc != 2) {
		fprintf(stderr, "usage: vfio-user-demo SOCKET_PATH\n");
		return 2;
	}
	dev = vuc_device_new(NULL);
	if (!dev)
		return fail("vuc_device_new");
	if (vuc_connect(dev, argv[1])) {
		fprintf(stderr, "vfio-user-demo: %s\n", vuc_strerror(dev));
		vuc_device_free(dev);
		return 1;
	}
	fd = vuc_device_fd(dev);
	if (fd < 0) {
		fprintf(stderr,
			"vfio-user-demo: not attached to the kernel (is vfio_user.ko loaded?)\n");
		vuc_device_free(dev);
		return 1;
	}
	printf("== attached: the kernel owns the connection; VFIO device fd %d\n",
	       fd);

	ret = registers(fd) || memory(fd) || dma(dev, fd) || msix(fd, 2);
	if (!ret && !vuc_get_stats(dev, &st))
		printf("\n== kernel statistics for this device\n"
		       "messages sent %llu, received %llu; bytes sent %llu, received %llu\n",
		       (unsigned long long)st.msgs_sent,
		       (unsigned long long)st.msgs_received,
		       (unsigned long long)st.bytes_sent,
		       (unsigned long long)st.bytes_received);
	vuc_device_free(dev);
	return ret;
}
