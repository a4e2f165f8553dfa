// SPDX-License-Identifier: GPL-2.0
/*
 * L2 side of the kvmtool suite: runs in the Linux guest that lkvm boots in the
 * workbench's guest, with ivshmem assigned. Goes through BAR2 of the ivshmem
 * device the way a guest driver would, through the PCI core's sysfs files:
 *
 *   bartest EXPECT ANSWER
 *
 * - reads EXPECT at BAR2+0 (L1 wrote it there through VFIO), writes ANSWER at
 *   BAR2+8 (L1 reads it back after lkvm exits), sweeps the BAR, one read per
 *   4K page;
 * - toggles memory decoding in the command register, reads the value back;
 * - resets the function through the PCI core (sysfs "reset": the emulated AF
 *   FLR), and then by writing the AF FLR bit itself with decoding left on,
 *   reading the BAR while the reset runs;
 * - moves the BAR 4 GiB up (the old address must stop answering), has the
 *   PCI core rediscover the device (remove, rescan), which sizes the BAR
 *   and moves it again, reads the values there and sweeps the BAR again.
 *
 * Prints "bartest: ok|FAIL <what>" per check and "bartest: <key> <value>"
 * figures for the L1 side; exits non-zero if a check failed.
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
#define PCI_STATUS	0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAPABILITY_LIST 0x34
#define PCI_BAR2	0x18
#define PCI_CAP_ID_AF	0x13
#define PCI_AF_CTRL	4
#define PCI_AF_CTRL_FLR	1
#define PAGE		4096UL
#define TOGGLES		20
#define SWEEP		(1ULL << 30)

static char dev[300];
static int cfg = -1;
static volatile uint64_t *bar;
static uint64_t bar_size;
static uint64_t expect;
static int failed;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check(bool ok, const char *what)
{
	printf("bartest: %s %s\n", ok ? "ok" : "FAIL", what);
	fflush(stdout);
	if (!ok)
		failed = 1;
}

static void die(const char *what)
{
	printf("bartest: FAIL %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint32_t cfg_read(int off, int len)
{
	uint32_t v = 0;

	if (pread(cfg, &v, len, off) != len)
		die("config read");
	return v;
}

static void cfg_write(int off, uint32_t v, int len)
{
	if (pwrite(cfg, &v, len, off) != len)
		die("config write");
}

static int sysfs_write(const char *file, const char *val)
{
	char path[400];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s", file);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -1;
	if (fd >= 0)
		close(fd);
	return ret;
}

/* The ivshmem device: the only device the suite touches. */
static bool find_ivshmem(void)
{
	struct dirent *d;
	DIR *dir = opendir(PCI_DEVS);

	if (!dir)
		return false;
	while ((d = readdir(dir))) {
		char path[300], id[32] = "";
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PCI_DEVS "/%s/vendor", d->d_name);
		f = fopen(path, "r");
		if (f && fgets(id, sizeof(id), f) && !strncmp(id, "0x1af4", 6)) {
			fclose(f);
			snprintf(path, sizeof(path), PCI_DEVS "/%s/device", d->d_name);
			f = fopen(path, "r");
			if (f && fgets(id, sizeof(id), f) && !strncmp(id, "0x1110", 6)) {
				snprintf(dev, sizeof(dev), PCI_DEVS "/%s", d->d_name);
				fclose(f);
				closedir(dir);
				return true;
			}
		}
		if (f)
			fclose(f);
	}
	closedir(dir);
	return false;
}

/* Open config space and map BAR2 as the PCI core sees the device now. */
static uint64_t open_dev(void)
{
	char path[400], line[200];
	uint64_t start = 0, end = 0, flags = 0;
	FILE *f;
	int fd, i;

	if (!find_ivshmem())
		die("no ivshmem device (1af4:1110)");
	snprintf(path, sizeof(path), "%s/config", dev);
	cfg = open(path, O_RDWR);
	if (cfg < 0)
		die("open config");

	snprintf(path, sizeof(path), "%s/resource", dev);
	f = fopen(path, "r");
	for (i = 0; f && i <= 2 && fgets(line, sizeof(line), f); i++)
		sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, &start, &end, &flags);
	if (f)
		fclose(f);
	if (!start)
		die("BAR2 not assigned");
	bar_size = end - start + 1;

	cfg_write(PCI_COMMAND, cfg_read(PCI_COMMAND, 2) | PCI_COMMAND_MEMORY, 2);

	snprintf(path, sizeof(path), "%s/resource2", dev);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		die("open resource2");
	bar = mmap(NULL, bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED)
		die("mmap resource2");
	close(fd);
	return start;
}

static void close_dev(void)
{
	munmap((void *)bar, bar_size);
	close(cfg);
}

static double sweep(const char *name)
{
	/* The first GiB: the whole BAR is 1 GiB or more, and 4K reads are slow */
	uint64_t sum = 0, i, pages = (bar_size < SWEEP ? bar_size : SWEEP) / PAGE;
	double t = now();

	for (i = 0; i < pages; i++)
		sum += bar[i * PAGE / 8];
	t = now() - t;
	printf("bartest: %s %.3f s for %" PRIu64 " pages (sum %" PRIx64 ")\n",
	       name, t, pages, sum);
	return t;
}

static int find_af(void)
{
	int pos, n = 0;

	if (!(cfg_read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 0;
	for (pos = cfg_read(PCI_CAPABILITY_LIST, 1) & ~3; pos && n < 48;
	     pos = cfg_read(pos + 1, 1) & ~3, n++)
		if (cfg_read(pos, 1) == PCI_CAP_ID_AF)
			return pos;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t answer, addr, moved, v, size;
	uint32_t cmd, lo, hi;
	double t;
	int i, af, bad;
	char path[400];

	if (argc != 3) {
		fprintf(stderr, "usage: bartest EXPECT ANSWER\n");
		return 2;
	}
	expect = strtoull(argv[1], NULL, 0);
	answer = strtoull(argv[2], NULL, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);

	addr = open_dev();
	printf("bartest: device %s BAR2 0x%" PRIx64 " size %" PRIu64 " MiB\n",
	       dev + sizeof(PCI_DEVS), addr, bar_size >> 20);
	size = bar_size;
	check(size >= SWEEP && !(size & (size - 1)),
	      "the PCI core sized BAR2 at a power of two of 1 GiB or more");
	check((addr & (size - 1)) == 0, "BAR2 is naturally aligned");

	/* The value L1 wrote through VFIO, and one for L1 to read back */
	v = bar[0];
	printf("bartest: read 0x%" PRIx64 " at BAR2+0, expected 0x%" PRIx64 "\n", v, expect);
	check(v == expect, "read the value L1 wrote through VFIO");
	bar[1] = answer;

	sweep("sweep");
	/* L1 reads KVM's page counts now: the BAR as the first sweep mapped it */
	printf("@@L2 sweep done\n");
	fflush(stdout);
	sleep(3);

	/* Memory decoding off and on again: the value must come back */
	cmd = cfg_read(PCI_COMMAND, 2);
	bad = 0;
	t = now();
	for (i = 0; i < TOGGLES; i++) {
		cfg_write(PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2);
		cfg_write(PCI_COMMAND, cmd | PCI_COMMAND_MEMORY, 2);
		if (bar[0] != expect)
			bad++;
	}
	t = now() - t;
	printf("bartest: decode-toggle %.0f us per toggle (%d toggles)\n",
	       t * 1e6 / TOGGLES, TOGGLES);
	check(!bad, "value right after each memory decode toggle");

	/* Reset through the PCI core: save, disable, AF FLR, restore */
	snprintf(path, sizeof(path), "%s/reset", dev);
	t = now();
	i = sysfs_write(path, "1");
	t = now() - t;
	printf("bartest: reset %.3f s\n", t);
	check(!i, "the PCI core reset the device (sysfs reset)");
	check(bar[0] == expect, "value right after the reset");

	/* FLR with decoding left on, reading the BAR while the reset runs */
	af = find_af();
	check(af, "the device has an AF capability with FLR");
	if (af) {
		uint64_t reads = 0;

		bad = 0;
		t = now();
		cfg_write(af + PCI_AF_CTRL, PCI_AF_CTRL_FLR, 1);
		while (now() - t < 0.5) {
			if (bar[0] != expect)
				bad++;
			reads++;
		}
		/* Config space is held off until the reset has completed */
		cfg_read(PCI_COMMAND, 2);
		printf("bartest: flr-under-access %" PRIu64 " reads in %.3f s\n",
		       reads, now() - t);
		check(!bad && bar[0] == expect,
		      "value right while and after an FLR with decoding on");
	}

	/*
	 * Move the BAR 4 GiB up, with memory decoding on, the upper half last:
	 * the device must no longer answer at the old address. Then have the
	 * PCI core rediscover the device: it sizes BAR2 again and assigns it
	 * an address of its own (the lowest free one, i.e. the original one),
	 * a second move.
	 */
	moved = addr + (4ULL << 30);
	lo = cfg_read(PCI_BAR2, 4);
	cfg_write(PCI_BAR2 + 4, moved >> 32, 4);
	hi = cfg_read(PCI_BAR2 + 4, 4);
	lo = cfg_read(PCI_BAR2, 4);
	check((((uint64_t)hi << 32) | (lo & ~0xfULL)) == moved,
	      "BAR2 reads back at its new address");
	v = bar[0];
	printf("bartest: read 0x%" PRIx64 " at the old address\n", v);
	check(v != expect, "the device no longer answers at the old address");
	close_dev();
	snprintf(path, sizeof(path), "%s/remove", dev);
	check(!sysfs_write(path, "1"), "removed the device from the PCI core");
	check(!sysfs_write("/sys/bus/pci/rescan", "1"), "rescanned the bus");
	addr = open_dev();
	printf("bartest: after rescan BAR2 0x%" PRIx64 " size %" PRIu64 " MiB\n",
	       addr, bar_size >> 20);
	check(bar_size == size && addr != moved,
	      "the PCI core sized BAR2 again and moved it");
	check(bar[0] == expect && bar[1] == answer,
	      "values right after the moves");
	sweep("sweep-moved");
	close_dev();

	printf("bartest: done, %s\n", failed ? "FAILED" : "all ok");
	return failed;
}
