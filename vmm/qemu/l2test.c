// SPDX-License-Identifier: GPL-2.0
/*
 * L2 side of the vmm/qemu suite: runs in the Linux guest that QEMU boots in
 * the workbench's guest, with ivshmem and edu assigned. Goes through the
 * devices the way a guest driver would, through the PCI core's sysfs files:
 *
 *   l2test EXPECT ANSWER [STEPS]
 *
 * STEPS (comma-separated, default all): values, sweep, toggle, reset, p2p,
 * revoke, removed, move. Each prints "l2test: ok|FAIL <what>" per check and
 * "l2test: <key> <value> ..." figures, and "@@L2 <marker>" lines where the L1
 * side acts (it reads the console file):
 *
 * - always: the PCI core found ivshmem (1af4:1110) and edu (1234:11e8),
 *   BAR2 of ivshmem a power of two of 1 GiB or more, naturally aligned;
 * - values: reads EXPECT at BAR2+0 (L1 wrote it through VFIO), writes ANSWER
 *   at BAR2+8 (L1 reads it back after QEMU exits);
 * - sweep: one read per 4K page of the BAR's first GiB, then "@@L2 sweep
 *   done" and 3 s for L1 to read KVM's page counts;
 * - toggle: memory decoding off and on TOGGLES times (20, or $TOGGLES: L2
 *   init's environment, from its kernel command line), the value read back
 *   after each; the time per toggle; the BAR reads NOTHING while decoding is
 *   off;
 * - reset: the PCI core resets ivshmem (sysfs reset: a secondary bus reset of
 *   its root port, which QEMU turns into a VFIO reset), value read back;
 * - p2p: edu DMAs a pattern from L2 RAM into its buffer, then from its buffer
 *   into ivshmem's BAR2 at P2P_OFF (peer to peer, through L1's IOMMU);
 *   l2test reads it back through the BAR; "@@L2 p2p done" for L1 to read it
 *   through QEMU;
 * - revoke: "@@L2 revoke ready", then reads BAR2+0 for REVOKE_S seconds while
 *   L1 revokes the device's memory behind QEMU's back and restores it: every
 *   read must return the value, one of them stalls while access is revoked;
 * - removed: "@@L2 removed ready", then reads BAR2+0 every 20 ms for
 *   REMOVED_S seconds while L1 makes QEMU see that access is gone for good
 *   (KVM_MEMORY_EXIT_FLAG_REMOVED, injected: see fake-removed.c) with memory
 *   decoding off, then turns decoding back on: the vCPU must go on, reads
 *   trap to QEMU (all-ones while the device does not decode, then the
 *   value); a decode toggle gives the BAR its memory slot back;
 * - move: moves BAR2 4 GiB up with decoding on (the old address must stop
 *   answering: NOTHING), has the PCI core rediscover the device (remove,
 *   rescan), which sizes the BAR and moves it back, reads the values again.
 *
 * Exits non-zero if a check failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PCI_DEVS	"/sys/bus/pci/devices"
#define PCI_COMMAND	0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_BAR2	0x18
#define PAGE		4096UL
static int toggles = 20;
#define SWEEP		(1ULL << 30)
#define P2P_OFF		((uint64_t)1 << 20)	/* where edu writes into BAR2 */
#define REVOKE_S	12
#define REMOVED_S	12
/*
 * What a read returns where no device decodes the address: QEMU's x86
 * machines answer 0 (unassigned_mem_read()), not the all-ones of a PCI
 * master abort, with or without dma-bufs.
 */
#define NOTHING		0ULL

#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_DMA_RUN	1
#define EDU_DMA_TO_RAM	2	/* from edu's buffer to the bus address */
#define EDU_BUF		0x40000
#define EDU_BUF_SIZE	4096
/*
 * Bytes per edu DMA: less than its whole buffer. The edu model of the QEMU
 * that runs L1 (Debian bookworm's 7.2) refuses a transfer that ends at the
 * end of its buffer (edu_check_range() wants the end strictly inside) with
 * hw_error(), which aborts that QEMU, L1 and all.
 */
#define EDU_DMA_LEN	(EDU_BUF_SIZE / 2)

struct dev {
	char path[300];
	int cfg;
	uint64_t addr, size;
	volatile uint64_t *map;
};

static struct dev ivshmem, edu;
static uint64_t expect, answer;
static int failed;
static const char *steps;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check(bool ok, const char *what)
{
	printf("l2test: %s %s\n", ok ? "ok" : "FAIL", what);
	if (!ok)
		failed = 1;
}

static void die(const char *what)
{
	printf("l2test: FAIL %s: %s\n", what, strerror(errno));
	exit(1);
}

static bool step(const char *name)
{
	const char *p = steps;
	size_t n = strlen(name);

	if (!p)
		return true;
	while ((p = strstr(p, name))) {
		if ((p == steps || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

static uint32_t cfg_read(struct dev *d, int off, int len)
{
	uint32_t v = 0;

	if (pread(d->cfg, &v, len, off) != len)
		die("config read");
	return v;
}

static void cfg_write(struct dev *d, int off, uint32_t v, int len)
{
	if (pwrite(d->cfg, &v, len, off) != len)
		die("config write");
}

static int sysfs_write(const char *path, const char *val)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -1;
	if (fd >= 0)
		close(fd);
	return ret;
}

static bool read_id(const char *dir, const char *file, const char *want)
{
	char path[400], id[32] = "";
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return false;
	ok = fgets(id, sizeof(id), f) && !strncmp(id, want, strlen(want));
	fclose(f);
	return ok;
}

static bool find(struct dev *d, const char *vendor, const char *device)
{
	struct dirent *e;
	DIR *dir = opendir(PCI_DEVS);

	if (!dir)
		return false;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		if (read_id(e->d_name, "vendor", vendor) &&
		    read_id(e->d_name, "device", device)) {
			snprintf(d->path, sizeof(d->path), PCI_DEVS "/%s", e->d_name);
			closedir(dir);
			return true;
		}
	}
	closedir(dir);
	return false;
}

/* Config space, and BAR @bar mapped as the PCI core sees the device now */
static void open_dev(struct dev *d, const char *vendor, const char *device,
		     int bar)
{
	char path[400], line[200];
	uint64_t start = 0, end = 0, flags = 0;
	FILE *f;
	int fd, i;

	if (!find(d, vendor, device)) {
		errno = ENODEV;
		die(device);
	}
	snprintf(path, sizeof(path), "%s/config", d->path);
	d->cfg = open(path, O_RDWR);
	if (d->cfg < 0)
		die("open config");

	snprintf(path, sizeof(path), "%s/resource", d->path);
	f = fopen(path, "r");
	for (i = 0; f && i <= bar && fgets(line, sizeof(line), f); i++)
		sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, &start, &end, &flags);
	if (f)
		fclose(f);
	if (!start)
		die("BAR not assigned");
	d->addr = start;
	d->size = end - start + 1;

	cfg_write(d, PCI_COMMAND, cfg_read(d, PCI_COMMAND, 2) | PCI_COMMAND_MEMORY, 2);

	snprintf(path, sizeof(path), "%s/resource%d", d->path, bar);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		die("open resource");
	d->map = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (d->map == MAP_FAILED)
		die("mmap resource");
	close(fd);
}

static void close_dev(struct dev *d)
{
	munmap((void *)d->map, d->size);
	close(d->cfg);
}

static void marker(const char *what, int wait)
{
	printf("@@L2 %s\n", what);
	fflush(stdout);
	if (wait)
		sleep(wait);
}

static void sweep(const char *name)
{
	uint64_t sum = 0, i, pages;
	double t = now();

	pages = (ivshmem.size < SWEEP ? ivshmem.size : SWEEP) / PAGE;
	for (i = 0; i < pages; i++)
		sum += ivshmem.map[i * PAGE / 8];
	t = now() - t;
	printf("l2test: %s %.3f s for %" PRIu64 " pages (sum %" PRIx64 ")\n",
	       name, t, pages, sum);
}

static void toggle_step(void)
{
	uint32_t cmd = cfg_read(&ivshmem, PCI_COMMAND, 2);
	int i, bad = 0, off_ok = 0;
	double t = now();

	for (i = 0; i < toggles; i++) {
		cfg_write(&ivshmem, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2);
		cfg_write(&ivshmem, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY, 2);
		if (ivshmem.map[0] != expect)
			bad++;
	}
	t = now() - t;
	printf("l2test: decode-toggle %.0f us per toggle (%d toggles, BAR of %" PRIu64 " MiB)\n",
	       t * 1e6 / toggles, toggles, ivshmem.size >> 20);
	check(!bad, "value right after each memory decode toggle");

	/* A device that does not decode does not answer */
	for (i = 0; i < 3; i++) {
		cfg_write(&ivshmem, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2);
		off_ok += ivshmem.map[0] == NOTHING &&
			  ivshmem.map[P2P_OFF / 8] == NOTHING;
		cfg_write(&ivshmem, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY, 2);
		off_ok += ivshmem.map[0] == expect;
	}
	check(off_ok == 6, "nothing answers while decoding is off, the value once it is on");
}

static void reset_step(void)
{
	char path[400];
	double t;
	int ret;

	snprintf(path, sizeof(path), "%s/reset", ivshmem.path);
	t = now();
	ret = sysfs_write(path, "1");
	t = now() - t;
	printf("l2test: reset %.3f s\n", t);
	check(!ret, "the PCI core reset ivshmem (sysfs reset)");
	check(ivshmem.map[0] == expect, "value right after the reset");
}

/* The bus address of a locked page of our memory (L2 has no IOMMU) */
static uint64_t phys(void *va)
{
	uint64_t ent;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pread(fd, &ent, 8, (uintptr_t)va / PAGE * 8) != 8)
		die("pagemap");
	close(fd);
	if (!(ent & (1ULL << 63)) || !(ent & ((1ULL << 55) - 1)))
		die("page not present");
	return (ent & ((1ULL << 55) - 1)) * PAGE + (uintptr_t)va % PAGE;
}

static bool edu_dma(uint64_t src, uint64_t dst, uint64_t cmd)
{
	volatile uint8_t *r = (volatile uint8_t *)edu.map;
	double t = now();

	*(volatile uint64_t *)(r + EDU_DMA_SRC) = src;
	*(volatile uint64_t *)(r + EDU_DMA_DST) = dst;
	*(volatile uint64_t *)(r + EDU_DMA_CNT) = EDU_DMA_LEN;
	*(volatile uint64_t *)(r + EDU_DMA_CMD) = cmd | EDU_DMA_RUN;
	while (*(volatile uint64_t *)(r + EDU_DMA_CMD) & EDU_DMA_RUN)
		if (now() - t > 30)
			return false;
	return true;
}

static void p2p_step(void)
{
	uint64_t *buf, pa, i, bad = 0;

	buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	for (i = 0; i < PAGE / 8; i++)
		buf[i] = answer ^ (i * 0x0101010101010101ULL);
	pa = phys(buf);

	open_dev(&edu, "0x1234", "0x11e8", 0);
	cfg_write(&edu, PCI_COMMAND,
		  cfg_read(&edu, PCI_COMMAND, 2) | PCI_COMMAND_MASTER, 2);
	printf("l2test: edu at %s, BAR0 0x%" PRIx64 "; DMA 0x%" PRIx64
	       " -> edu -> ivshmem BAR2+0x%" PRIx64 " (bus address 0x%" PRIx64 ")\n",
	       edu.path + sizeof(PCI_DEVS), edu.addr, pa, P2P_OFF,
	       ivshmem.addr + P2P_OFF);

	check(edu_dma(pa, EDU_BUF, 0), "edu DMA from L2 RAM into its buffer");
	check(edu_dma(EDU_BUF, ivshmem.addr + P2P_OFF, EDU_DMA_TO_RAM),
	      "edu DMA from its buffer to ivshmem's BAR2 (peer to peer)");
	for (i = 0; i < EDU_DMA_LEN / 8; i++)
		bad += ivshmem.map[P2P_OFF / 8 + i] != buf[i];
	printf("l2test: p2p first word 0x%" PRIx64 ", %" PRIu64 " of %d words differ\n",
	       ivshmem.map[P2P_OFF / 8], bad, EDU_DMA_LEN / 8);
	check(!bad, "the pattern edu wrote arrived in ivshmem's BAR2");
	close_dev(&edu);
	marker("p2p done", 3);
}

/*
 * L1 revokes the device's memory behind QEMU's back (memory decoding off
 * through QEMU's own VFIO device fd) and restores it a few seconds later: the
 * vCPU must wait in QEMU, not read anything else.
 */
static void revoke_step(void)
{
	double t, last, stall = 0, end;
	uint64_t reads = 0, bad = 0, v;

	marker("revoke ready", 0);
	t = last = now();
	end = t + REVOKE_S;
	while ((last = now()) < end) {
		double d;

		v = ivshmem.map[0];
		d = now() - last;
		if (d > stall)
			stall = d;
		bad += v != expect;
		reads++;
	}
	printf("l2test: revoke %" PRIu64 " reads in %.1f s, longest %.3f s, %" PRIu64 " wrong\n",
	       reads, now() - t, stall, bad);
	check(!bad, "every read returned the value across the revoke");
	check(stall >= 1.0, "a read waited while L1 had revoked access");
	marker("revoke done", 0);
}

/*
 * L1 makes QEMU believe the BAR's memory is gone for good while decoding is
 * off behind its back, then turns decoding on again: QEMU deletes the memory
 * slot and keeps the VM running, the reads trap to QEMU (which reads the BAR
 * through VFIO: all-ones while the device does not decode, then the value).
 */
static void removed_step(void)
{
	uint64_t reads = 0, ones = 0, right = 0, other = 0, v;
	uint32_t cmd;
	double t;

	marker("removed ready", 0);
	t = now();
	while (now() - t < REMOVED_S) {
		v = ivshmem.map[0];
		reads++;
		if (v == expect)
			right++;
		else if (v == ~0ULL)
			ones++;
		else
			other++;
		usleep(20000);
	}
	printf("l2test: removed %" PRIu64 " reads: %" PRIu64 " the value, %" PRIu64
	       " all-ones, %" PRIu64 " other\n", reads, right, ones, other);
	check(ones && !other, "the vCPU went on: all-ones while the device did not decode");
	check(ivshmem.map[0] == expect, "value right once decoding is back (trapped)");
	cmd = cfg_read(&ivshmem, PCI_COMMAND, 2);
	cfg_write(&ivshmem, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2);
	cfg_write(&ivshmem, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY, 2);
	check(ivshmem.map[0] == expect, "value right after a decode toggle (mapped again)");
	marker("removed done", 0);
}

static void move_step(void)
{
	uint64_t moved = ivshmem.addr + (4ULL << 30), size = ivshmem.size, v;
	uint32_t lo, hi;
	char path[400];

	lo = cfg_read(&ivshmem, PCI_BAR2, 4);
	cfg_write(&ivshmem, PCI_BAR2 + 4, moved >> 32, 4);
	hi = cfg_read(&ivshmem, PCI_BAR2 + 4, 4);
	lo = cfg_read(&ivshmem, PCI_BAR2, 4);
	check((((uint64_t)hi << 32) | (lo & ~0xfULL)) == moved,
	      "BAR2 reads back at its new address");
	v = ivshmem.map[0];
	printf("l2test: read 0x%" PRIx64 " at the old address\n", v);
	check(v == NOTHING, "nothing answers at the old address");
	close_dev(&ivshmem);
	snprintf(path, sizeof(path), "%s/remove", ivshmem.path);
	check(!sysfs_write(path, "1"), "removed ivshmem from the PCI core");
	check(!sysfs_write("/sys/bus/pci/rescan", "1"), "rescanned the bus");
	open_dev(&ivshmem, "0x1af4", "0x1110", 2);
	printf("l2test: after rescan BAR2 0x%" PRIx64 " size %" PRIu64 " MiB\n",
	       ivshmem.addr, ivshmem.size >> 20);
	check(ivshmem.size == size && ivshmem.addr != moved,
	      "the PCI core sized BAR2 again and moved it");
	check(ivshmem.map[0] == expect && ivshmem.map[1] == answer,
	      "values right after the moves");
	sweep("sweep-moved");
}

int main(int argc, char **argv)
{
	uint64_t v;

	if (argc < 3) {
		fprintf(stderr, "usage: l2test EXPECT ANSWER [STEPS]\n");
		return 2;
	}
	expect = strtoull(argv[1], NULL, 0);
	answer = strtoull(argv[2], NULL, 0);
	steps = argc > 3 ? argv[3] : NULL;
	if (getenv("TOGGLES") && atoi(getenv("TOGGLES")) > 0)
		toggles = atoi(getenv("TOGGLES"));
	setvbuf(stdout, NULL, _IOLBF, 0);

	check(find(&edu, "0x1234", "0x11e8"), "the PCI core found edu");
	open_dev(&ivshmem, "0x1af4", "0x1110", 2);
	printf("l2test: ivshmem at %s, BAR2 0x%" PRIx64 " size %" PRIu64 " MiB\n",
	       ivshmem.path + sizeof(PCI_DEVS), ivshmem.addr, ivshmem.size >> 20);
	check(ivshmem.size >= SWEEP && !(ivshmem.size & (ivshmem.size - 1)),
	      "the PCI core sized BAR2 at a power of two of 1 GiB or more");
	check(!(ivshmem.addr & (ivshmem.size - 1)), "BAR2 is naturally aligned");

	if (step("values")) {
		v = ivshmem.map[0];
		printf("l2test: read 0x%" PRIx64 " at BAR2+0, expected 0x%" PRIx64 "\n",
		       v, expect);
		check(v == expect, "read the value L1 wrote through VFIO");
		ivshmem.map[1] = answer;
	}
	if (step("sweep")) {
		sweep("sweep");
		marker("sweep done", 3);
	}
	if (step("toggle"))
		toggle_step();
	if (step("reset"))
		reset_step();
	if (step("p2p"))
		p2p_step();
	if (step("revoke"))
		revoke_step();
	if (step("removed"))
		removed_step();
	if (step("move"))
		move_step();
	close_dev(&ivshmem);
	printf("l2test: done, %s\n", failed ? "FAILED" : "all ok");
	return failed;
}
