// SPDX-License-Identifier: BSD-3-Clause
/*
 * Interrupts: the eventfds of VFIO_USER_DEVICE_SET_IRQS, their masks and
 * pending bits.
 *
 * A vector is masked by SET_IRQS (ACTION_MASK), and also, like on real
 * hardware, by the MSI-X Function Mask (MSI-X vectors) or by the Interrupt
 * Disable bit of the command register (INTx). A vector raised while masked
 * becomes pending (the MSI-X PBA shows it) and fires when unmasked. The
 * Mask bits of the MSI-X table are not honoured: a VMM (QEMU) emulates the
 * table itself and masks vectors through SET_IRQS, so the server's copy of
 * the table keeps its reset value.
 *
 * INTx also takes a mask and an unmask eventfd (ACTION_MASK or ACTION_UNMASK
 * with DATA_EVENTFD): the client signals it, and the server acts as if that
 * SET_IRQS had come again (VFIO's irqfd-style mask/unmask; with KVM the
 * unmask eventfd is a resamplefd). INTx is edge-triggered here, not
 * VFIO_IRQ_INFO_AUTOMASKED: nothing masks it but the client.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "server.h"

#define SET_IRQS_FLAGS \
	(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)

_Static_assert(SAMPLE_NUM_IRQS == VFIO_PCI_NUM_IRQS,
	       "sample-device.h and <linux/vfio.h> disagree on IRQ indexes");

unsigned int irq_count(const struct device *dev, unsigned int index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
	case VFIO_PCI_ERR_IRQ_INDEX:
	case VFIO_PCI_REQ_IRQ_INDEX:
		return 1;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return dev->msix_vectors;
	default:
		return 0; /* MSI, and indexes that do not exist */
	}
}

/* ERR and REQ take TRIGGER only (as in libvfio-user), so not MASKABLE. */
uint32_t irq_info_flags(unsigned int index)
{
	if (index == VFIO_PCI_INTX_IRQ_INDEX ||
	    index == VFIO_PCI_MSIX_IRQ_INDEX)
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE;
	return VFIO_IRQ_INFO_EVENTFD;
}

static bool vector_masked(const struct device *dev, unsigned int index,
			  unsigned int vec)
{
	if (dev->irq[index][vec].masked)
		return true;
	if (index == VFIO_PCI_MSIX_IRQ_INDEX)
		return dev_msix_function_masked(dev);
	if (index == VFIO_PCI_INTX_IRQ_INDEX)
		return dev_intx_disabled(dev);
	return false;
}

/*
 * Signal a client's eventfd without ever blocking: the client created it
 * and may have left it blocking and full (or passed a pipe), and a write
 * that blocks would stall the whole server.
 */
static bool signal_eventfd(int efd)
{
	struct pollfd pfd = { .fd = efd, .events = POLLOUT };
	uint64_t one = 1;

	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT))
		return false;
	return write(efd, &one, sizeof(one)) == sizeof(one);
}

/*
 * Raise a vector. Only interrupts the device raises count in IRQ_COUNT
 * (those of the IRQ_TRIGGER register), when they are signalled; the
 * loopback triggers of SET_IRQS do not.
 */
static bool raise_vector(struct device *dev, unsigned int index,
			 unsigned int vec, bool by_device)
{
	struct irq_vector *v = &dev->irq[index][vec];

	if (vector_masked(dev, index, vec)) {
		v->pending = true;
		v->pending_counts |= by_device;
		return false;
	}
	if (v->efd < 0 || !signal_eventfd(v->efd))
		return false;
	if (by_device)
		dev->regs.irq_count++;
	return true;
}

bool irq_raise(struct device *dev, unsigned int index, unsigned int vec)
{
	if (vec >= irq_count(dev, index))
		return false;
	return raise_vector(dev, index, vec, true);
}

void irq_deliver_pending(struct device *dev)
{
	unsigned int i, v;

	for (i = 0; i < SAMPLE_NUM_IRQS; i++) {
		for (v = 0; v < irq_count(dev, i); v++) {
			struct irq_vector *vec = &dev->irq[i][v];
			bool by_device = vec->pending_counts;

			if (!vec->pending || vector_masked(dev, i, v))
				continue;
			vec->pending = false;
			vec->pending_counts = false;
			raise_vector(dev, i, v, by_device);
		}
	}
}

uint64_t irq_msix_pending(const struct device *dev)
{
	uint64_t bits = 0;
	unsigned int v;

	for (v = 0; v < dev->msix_vectors; v++)
		if (dev->irq[VFIO_PCI_MSIX_IRQ_INDEX][v].pending)
			bits |= 1ULL << v;
	return bits;
}

static void vector_clear_state(struct irq_vector *v)
{
	v->masked = false;
	v->pending = false;
	v->pending_counts = false;
}

void irq_init(struct device *dev)
{
	unsigned int i, v;

	for (i = 0; i < SAMPLE_NUM_IRQS; i++)
		for (v = 0; v < IRQ_MAX_VECTORS; v++) {
			dev->irq[i][v].efd = -1;
			dev->irq[i][v].mask_efd = -1;
			dev->irq[i][v].unmask_efd = -1;
			vector_clear_state(&dev->irq[i][v]);
		}
}

void irq_reset(struct device *dev)
{
	unsigned int i, v;

	for (i = 0; i < SAMPLE_NUM_IRQS; i++)
		for (v = 0; v < IRQ_MAX_VECTORS; v++)
			vector_clear_state(&dev->irq[i][v]);
}

static void replace_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

static void vector_set_efd(struct irq_vector *v, int efd)
{
	replace_fd(&v->efd, efd);
}

/* The client went away: its eventfds and its masks go with it. */
void irq_release(struct device *dev)
{
	unsigned int i, v;

	for (i = 0; i < SAMPLE_NUM_IRQS; i++)
		for (v = 0; v < IRQ_MAX_VECTORS; v++) {
			vector_set_efd(&dev->irq[i][v], -1);
			replace_fd(&dev->irq[i][v].mask_efd, -1);
			replace_fd(&dev->irq[i][v].unmask_efd, -1);
		}
	irq_reset(dev);
}

/*
 * The checks of libvfio-user's device_set_irqs_validate(), plus: no
 * unknown flag bits, no trailing bytes, BOOL data 0 or 1, and mask or
 * unmask eventfds for INTx only (as vfio-pci).
 */
static int set_irqs_validate(const struct device *dev,
			     const struct vfio_irq_set *set,
			     const uint8_t *data, size_t data_len,
			     unsigned int nr_fds)
{
	unsigned int nr_vectors = irq_count(dev, set->index);
	uint32_t action = set->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	uint32_t type = set->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t i;

	if (set->argsz < sizeof(*set) || set->flags & ~SET_IRQS_FLAGS)
		return -EINVAL;
	if (action != VFIO_IRQ_SET_ACTION_MASK &&
	    action != VFIO_IRQ_SET_ACTION_UNMASK &&
	    action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (type != VFIO_IRQ_SET_DATA_NONE && type != VFIO_IRQ_SET_DATA_BOOL &&
	    type != VFIO_IRQ_SET_DATA_EVENTFD)
		return -EINVAL;
	if (data_len != (type == VFIO_IRQ_SET_DATA_BOOL ? set->count : 0))
		return -EINVAL;
	if (set->index >= SAMPLE_NUM_IRQS || set->start >= nr_vectors ||
	    (uint64_t)set->start + set->count > nr_vectors)
		return -EINVAL;
	if ((set->index == VFIO_PCI_ERR_IRQ_INDEX ||
	     set->index == VFIO_PCI_REQ_IRQ_INDEX) &&
	    action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (!set->count &&
	    (set->start || action != VFIO_IRQ_SET_ACTION_TRIGGER ||
	     type != VFIO_IRQ_SET_DATA_NONE))
		return -EINVAL;
	if (type == VFIO_IRQ_SET_DATA_EVENTFD &&
	    action != VFIO_IRQ_SET_ACTION_TRIGGER &&
	    set->index != VFIO_PCI_INTX_IRQ_INDEX)
		return -EINVAL;
	if (nr_fds &&
	    (type != VFIO_IRQ_SET_DATA_EVENTFD || nr_fds != set->count))
		return -EINVAL;
	for (i = 0; i < data_len; i++)
		if (data[i] > 1)
			return -EINVAL;
	return 0;
}

/* Does the request select vector @i (of its range)? */
static bool selected(const struct vfio_irq_set *set, const uint8_t *data,
		     uint32_t i)
{
	return (set->flags & VFIO_IRQ_SET_DATA_BOOL) ? data[i] : true;
}

static void set_eventfds(struct device *dev, const struct vfio_irq_set *set,
			 struct vu_msg *msg)
{
	struct irq_vector *v = &dev->irq[set->index][set->start];
	uint32_t i;

	/* No fds de-assigns the range; count 0 (with DATA_NONE) all of it. */
	for (i = 0; i < set->count; i++)
		vector_set_efd(&v[i],
			       msg->nr_fds ? vu_msg_take_fd(msg, i) : -1);
}

/* A mask or unmask eventfd of INTx (count 1); no fd de-assigns it. */
static void set_action_eventfd(struct device *dev, uint32_t action,
			       struct vu_msg *msg)
{
	struct irq_vector *v = &dev->irq[VFIO_PCI_INTX_IRQ_INDEX][0];
	int efd = msg->nr_fds ? vu_msg_take_fd(msg, 0) : -1;

	replace_fd(action == VFIO_IRQ_SET_ACTION_MASK ? &v->mask_efd :
							&v->unmask_efd,
		   efd);
}

/*
 * Has the client signalled *@efd? Consumes the count. A blocking eventfd
 * could block the read only if the client read it itself between our
 * poll() and read(): it would then stall its own server only. An fd that
 * cannot be read as an eventfd is dropped, so poll() does not spin on it.
 */
static bool eventfd_consume(int *efd)
{
	struct pollfd pfd = { .fd = *efd, .events = POLLIN };
	uint64_t count;

	if (*efd < 0 || poll(&pfd, 1, 0) != 1)
		return false;
	if (pfd.revents & POLLIN) {
		if (read(*efd, &count, sizeof(count)) == sizeof(count))
			return true;
	} else if (!(pfd.revents & (POLLHUP | POLLERR | POLLNVAL))) {
		return false;
	}
	replace_fd(efd, -1);
	return false;
}

/*
 * Act on signalled mask and unmask eventfds. Called when poll() sees them
 * and before every message, so that a signal the client sent before a
 * message takes effect before that message.
 */
void irq_poll_actions(struct device *dev)
{
	struct irq_vector *v = &dev->irq[VFIO_PCI_INTX_IRQ_INDEX][0];

	if (eventfd_consume(&v->mask_efd))
		v->masked = true;
	if (eventfd_consume(&v->unmask_efd)) {
		v->masked = false;
		irq_deliver_pending(dev);
	}
}

/* Every SET_IRQS received, valid or not, for SAMPLE_REG_SET_IRQS_*. */
void irq_note_set_irqs(struct device *dev, unsigned int nr_fds)
{
	dev->regs.set_irqs_count++;
	if (nr_fds > dev->regs.set_irqs_max_fds)
		dev->regs.set_irqs_max_fds = nr_fds;
}

int irq_set(struct device *dev, struct vu_msg *msg)
{
	const struct vfio_irq_set *set = msg->payload;
	const uint8_t *data;
	uint32_t action, i;
	int ret;

	if (msg->len < sizeof(*set))
		return -EINVAL;
	data = (const uint8_t *)msg->payload + sizeof(*set);
	ret = set_irqs_validate(dev, set, data, msg->len - sizeof(*set),
				msg->nr_fds);
	if (ret)
		return ret;

	action = set->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
		if (set->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
			set_eventfds(dev, set, msg);
		} else if (!set->count) {
			for (i = 0; i < irq_count(dev, set->index); i++)
				vector_set_efd(&dev->irq[set->index][i], -1);
		} else {
			for (i = 0; i < set->count; i++)
				if (selected(set, data, i))
					raise_vector(dev, set->index,
						     set->start + i, false);
		}
		return 0;
	}

	if (set->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		set_action_eventfd(dev, action, msg);
		return 0;
	}
	for (i = 0; i < set->count; i++)
		if (selected(set, data, i))
			dev->irq[set->index][set->start + i].masked =
				action == VFIO_IRQ_SET_ACTION_MASK;
	if (action == VFIO_IRQ_SET_ACTION_UNMASK)
		irq_deliver_pending(dev);
	return 0;
}
