# SPDX-License-Identifier: GPL-2.0
#
# The chart of make bench: reads the JSON figures vfio-user-ctl bench
# wrote (one figure per line) and draws the ratios that judge the kernel
# path, each against a baseline measured in the same run, as horizontal
# bars in an SVG document.

function fig(section, name) {
	return (section SUBSEP name) in value ? value[section, name] : 0
}

# A bar: @label, @ratio and its target: @op is "<=" or ">=" against
# @target, or "" for a figure shown without one.
function bar(label, ratio, op, target) {
	if (ratio <= 0)
		return
	n++
	labels[n] = label
	ratios[n] = ratio
	ops[n] = op
	targets[n] = target
	if (ratio > max)
		max = ratio
}

/"section":/ {
	line = $0
	sub(/.*"section": "/, "", line); section = line; sub(/".*/, "", section)
	line = $0
	sub(/.*"name": "/, "", line); name = line; sub(/".*/, "", name)
	line = $0
	sub(/.*"value": /, "", line); sub(/,.*/, "", line)
	value[section, name] = line + 0
}

END {
	floor = fig("round trip", "AF_UNIX ping-pong, 20 bytes each way (floor)")
	if (floor > 0) {
		bar("kernel read: time / floor", floor / fig("round trip", "kernel: 4-byte region read"), "<=", 1.15)
		bar("kernel write: time / floor", floor / fig("round trip", "kernel: 4-byte region write, with reply"), "<=", 1.15)
		bar("userspace read: time / floor", floor / fig("round trip", "userspace backend: 4-byte region read"), "", 0)
		bar("userspace write: time / floor", floor / fig("round trip", "userspace backend: 4-byte region write"), "", 0)
	}
	sync = fig("queue depth", "pread()")
	if (sync > 0) {
		bar("io_uring depth 8 / pread", fig("queue depth", "io_uring, 8 in flight") / sync, "", 0)
		bar("io_uring depth 32 / pread", fig("queue depth", "io_uring, 32 in flight") / sync, ">=", 4)
	}
	one = fig("dma maps", "one call each")
	if (one > 0)
		bar("batched DMA maps / one by one", fig("dma maps", "two batch calls") / one, ">=", 5)
	# DMA service: kernel against the raw stream at 1 MiB and against the
	# userspace backend at 8 B; many maps against one.
	stream = fig("dma service", "stream, 1 MiB sends")
	if (stream > 0) {
		bar("DMA_READ 1 MiB: kernel / stream", fig("dma service", "kernel: DMA_READ, 1 MiB") / stream, ">=", 0.9)
		bar("DMA_WRITE 1 MiB: kernel / stream", fig("dma service", "kernel: DMA_WRITE, 1 MiB") / stream, ">=", 0.9)
	}
	u8 = fig("dma service", "userspace backend: DMA_READ, 8 B")
	if (u8 > 0)
		bar("DMA_READ 8 B: kernel / userspace", fig("dma service", "kernel: DMA_READ, 8 B") / u8, ">=", 1.5)
	u8 = fig("dma service", "userspace backend: DMA_WRITE, 8 B")
	if (u8 > 0)
		bar("DMA_WRITE 8 B: kernel / userspace", fig("dma service", "kernel: DMA_WRITE, 8 B") / u8, ">=", 1.5)
	one = fig("dma maps cost", "kernel: DMA_READ 8 B, 1 map")
	if (one > 0)
		bar("DMA 8 B: 10,001 maps / 1 map", fig("dma maps cost", "kernel: DMA_READ 8 B, 10001 maps") / one, ">=", 0.9)
	one = fig("dma maps cost", "kernel: DMA_READ 4 KiB, 1 map")
	if (one > 0)
		bar("DMA 4 KiB: 10,001 maps / 1 map", fig("dma maps cost", "kernel: DMA_READ 4 KiB, 10001 maps") / one, ">=", 0.9)
	# Memory: bytes per idle device over the 16 KiB budget.
	m = fig("kernel memory", "per idle device, charged to the cgroup")
	if (m > 0)
		bar("memory per idle device / 16 KiB (memcg)", m / 16384, "<=", 1)
	m = fig("kernel memory", "per idle device, meminfo kernel counters")
	if (m > 0)
		bar("memory per idle device / 16 KiB (meminfo)", m / 16384, "<=", 1)

	msg = fig("doorbell", "REGION_WRITE, waiting for each reply")
	if (msg > 0) {
		bar("posted writes / REGION_WRITE", fig("doorbell", "REGION_WRITE, posted") / msg, "", 0)
		plain = fig("doorbell", "REGION_WRITE, posted, no WRITE_MULTI")
		if (plain > 0)
			bar("posted: WRITE_MULTI / without", fig("doorbell", "REGION_WRITE, posted") / plain, "", 0)
		bar("ioeventfd / REGION_WRITE", fig("doorbell", "ioeventfd") / msg, ">=", 5)
	}

	w = 860; row = 28; left = 300; top = 40
	h = top + n * row + 40
	# A log scale: the ratios span 0.5x to hundreds of x.
	lmax = log(max > 2 ? max : 2) / log(10)
	lmin = log(0.25) / log(10)
	for (i = 1; i <= n; i++)
		if (ratios[i] < 0.25 && log(ratios[i]) / log(10) < lmin)
			lmin = log(ratios[i]) / log(10)
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"13\">\n", w, h
	printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
	printf "<text x=\"10\" y=\"22\" font-size=\"15\">make bench: ratios measured in one run (log scale; 1x marked)</text>\n"
	scale = (w - left - 170) / (lmax - lmin)
	x1 = left + (0 - lmin) * scale
	for (i = 1; i <= n; i++) {
		y = top + (i - 1) * row
		x = left + (log(ratios[i]) / log(10) - lmin) * scale
		if (ops[i] == "<=")
			color = ratios[i] <= targets[i] ? "#3a7d44" : "#c0392b"
		else if (ops[i] == ">=")
			color = ratios[i] >= targets[i] ? "#3a7d44" : "#c0392b"
		else
			color = "#8c8c8c"
		printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 8, y + 17, labels[i]
		if (x >= x1)
			printf "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", x1, y + 4, x - x1, row - 8, color
		else
			printf "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", x, y + 4, x1 - x, row - 8, color
		note = ops[i] == "" ? "" : sprintf(" (target %s %gx)", ops[i] == "<=" ? "&#8804;" : "&#8805;", targets[i])
		printf "<text x=\"%.1f\" y=\"%d\">%.2fx%s</text>\n", (x > x1 ? x : x1) + 6, y + 17, ratios[i], note
	}
	printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", x1, top, x1, top + n * row
	printf "<text x=\"10\" y=\"%d\" font-size=\"11\">Round trips: a path's time over the floor's (two processes ping-ponging). Others: how many times the baseline's rate. Green: target met; red: missed.</text>\n", h - 12
	printf "</svg>\n"
}
