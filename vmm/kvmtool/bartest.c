// SPDX-License-Identifier: GPL-2.0
/*
 * L2 side of the kvmtool suite: runs in the Linux guest that lkvm boots in the
 * workbench's guest, with ivshmem assigned. Goes through BAR2 of the ivshmem
 * device the way a guest driver would, through the PCI core's sysfs files:
 *
 *   bartest MODE EXPECT ANSWER
 *
 * MODE quick: reads EXPECT at BAR2+0 (L1 wrote it there through VFIO) and
 * writes ANSWER at BAR2+8 (L1 reads it back after lkvm exits).
 *
 * MODE full, in this order, printing "@@L2 <step>" where L1 acts:
 * - what quick does, then sweeps the BAR (one read per 4K page of its first
 *   GiB); "@@L2 sweep done": L1 reads KVM's page counts and lkvm's mappings;
 * - toggles memory decoding in the command register, reads the value back;
 * - resets the function through the PCI core (sysfs "reset": the emulated AF
 *   FLR);
 * - with SLOTRETRY=1 in the environment, "@@L2 slot-retry": L1 makes
 *   kvmtool's creations of BAR2's memory slot fail (poke slot) while L2
 *   toggles memory decoding 4 times: interrupted once by a signal (EINTR),
 *   refused for 0.5 s (ENODEV), refused until kvmtool gives up (ENODEV,
 *   10 s), then not at all. The value must be right after the first two and
 *   the last; after the third, turning decoding on returns once kvmtool gave
 *   up, and the BAR reads all-ones;
 * - "@@L2 flr": L1 holds kvmtool's reset thread for HOLD seconds after its
 *   VFIO_DEVICE_RESET returned; the function is reset by writing the AF FLR
 *   bit with decoding on, and the BAR read meanwhile: the value must be right
 *   and the longest read is reported (a vCPU that waits for kvmtool's reset
 *   to complete stalls for the hold);
 * - "@@L2 external": L1 resets the device behind kvmtool's back while the BAR
 *   is read for 3 s: the value must be right;
 * - two processes on two vCPUs: one reads pages of the BAR while the other
 *   toggles memory decoding and moves the BAR away and back, 10 times: every
 *   read must return the page's value or all-ones (the BAR not decoded),
 *   nothing else;
 * - moves the BAR 4 GiB up: the old address must read all-ones; has the PCI
 *   core rediscover the device (remove, rescan), which sizes the BAR and
 *   moves it back, reads the values there and sweeps the BAR again;
 * - with UNBIND=1 in the environment, "@@L2 unbind": L1 takes the device back
 *   (unbinds vfio-pci); the BAR must read all-ones soon after, and still after
 *   a memory decoding toggle.
 *
 * MODE hang: reads EXPECT, then "@@L2 flr" and an AF FLR with decoding on,
 * reading the BAR until the VM is stopped (L1 holds kvmtool's reset thread for
 * longer than kvmtool waits for a reset).
 *
 * Prints "bartest: ok|FAIL <what>" per check and "bartest: <key> <value>"
 * figures for the L1 side; exits non-zero if a check failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
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
#define ALL_ONES	(~0ULL)
/* Pages the reader of the concurrent test goes through, 2 MiB apart */
#define RACE_PAGES	64
#define RACE_ROUNDS	10

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

static void marker(const char *what)
{
	printf("@@L2 %s\n", what);
	fflush(stdout);
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
	int fd, ret = 0;

	fd = open(file, O_WRONLY);
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

/*
 * Read BAR2+0 for the given time: count the reads that did not return the
 * expected value, and return the longest single read.
 */
static double read_for(double seconds, uint64_t *reads, uint64_t *bad)
{
	double t = now(), t0, longest = 0;

	*reads = *bad = 0;
	while (now() - t < seconds) {
		t0 = now();
		if (bar[0] != expect)
			(*bad)++;
		t0 = now() - t0;
		if (t0 > longest)
			longest = t0;
		(*reads)++;
	}
	return longest;
}

static double env_double(const char *name, double def)
{
	const char *v = getenv(name);

	return v ? atof(v) : def;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * One vCPU reads pages of the BAR while the other toggles memory decoding and
 * moves the BAR away and back: each read returns the page's value, or
 * all-ones while the BAR is not decoded at this address, nothing else.
 */
static void concurrent_moves(uint64_t addr)
{
	uint64_t snap[RACE_PAGES], moved = addr + (4ULL << 30);
	uint64_t stride = 2ULL << 20, i;
	/* stop; then the reader's reads, all-ones, wrong values */
	volatile uint64_t *shared;
	cpu_set_t all;
	int status, round;
	uint32_t cmd;
	pid_t child;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("bartest: concurrent moves need 2 vCPUs, skipped\n");
		return;
	}
	if (RACE_PAGES * stride > bar_size)
		stride = bar_size / RACE_PAGES;
	for (i = 0; i < RACE_PAGES; i++)
		snap[i] = bar[i * stride / 8];

	shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("mmap");
	sched_getaffinity(0, sizeof(all), &all);

	child = fork();
	if (child < 0)
		die("fork");
	if (!child) {
		pin(1);
		while (!shared[0]) {
			for (i = 0; i < RACE_PAGES; i++) {
				uint64_t v = bar[i * stride / 8];

				shared[1]++;
				if (v == ALL_ONES && snap[i] != ALL_ONES)
					shared[2]++;
				else if (v != snap[i])
					shared[3]++;
			}
		}
		_exit(0);
	}
	pin(0);

	cmd = cfg_read(PCI_COMMAND, 2);
	for (round = 0; round < RACE_ROUNDS; round++) {
		usleep(20000);
		cfg_write(PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2);
		usleep(20000);
		cfg_write(PCI_COMMAND, cmd | PCI_COMMAND_MEMORY, 2);
		usleep(20000);
		cfg_write(PCI_BAR2 + 4, moved >> 32, 4);
		usleep(20000);
		cfg_write(PCI_BAR2 + 4, addr >> 32, 4);
	}
	usleep(20000);
	shared[0] = 1;
	waitpid(child, &status, 0);
	sched_setaffinity(0, sizeof(all), &all);

	printf("bartest: concurrent-moves %d rounds, %" PRIu64 " reads on the other vCPU: %" PRIu64 " all-ones, %" PRIu64 " wrong\n",
	       RACE_ROUNDS, shared[1], shared[2], shared[3]);
	check(shared[1] > 0 && shared[3] == 0,
	      "reads on a second vCPU while the BAR moves and stops decoding: the value or all-ones");
	check(bar[0] == expect, "value right after the concurrent moves");
	munmap((void *)shared, PAGE);
}

/*
 * Memory decoding off and on 4 times while L1 makes kvmtool's slot creations
 * fail: kvmtool retries on EINTR and, for up to 10 s, on ENODEV, then leaves
 * the BAR undecoded until the guest turns decoding on again.
 */
static void slot_retry(void)
{
	static const char *const what[] = {
		"value right after a slot creation interrupted by a signal (EINTR)",
		"value right after a slot creation refused for 0.5 s (ENODEV)",
		"decoding on returned after kvmtool gave up on a slot refused for 10 s (ENODEV), the BAR reads all-ones",
		"value right once decoding was turned on again",
	};
	uint32_t cmd = cfg_read(PCI_COMMAND, 2);
	uint64_t v;
	double t;
	int i;

	marker("slot-retry");
	sleep(2);
	for (i = 0; i < 4; i++) {
		cfg_write(PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2);
		t = now();
		cfg_write(PCI_COMMAND, cmd | PCI_COMMAND_MEMORY, 2);
		t = now() - t;
		v = bar[0];
		printf("bartest: slot-retry toggle %d: decoding on took %.3f s, read 0x%" PRIx64 "\n",
		       i + 1, t, v);
		if (i == 2)
			check(v == ALL_ONES && t >= 9 && t < 13, what[i]);
		else
			check(v == expect, what[i]);
	}
}

static int mode_hang(void)
{
	uint64_t reads, bad;
	int af = find_af();

	check(af, "the device has an AF capability with FLR");
	if (!af)
		return 1;
	marker("flr");
	sleep(2);
	cfg_write(af + PCI_AF_CTRL, PCI_AF_CTRL_FLR, 1);
	/* kvmtool is expected to stop the VM meanwhile */
	read_for(120, &reads, &bad);
	printf("bartest: the VM still runs after 120 s\n");
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t answer, addr, moved, v, size, reads, bad;
	uint32_t cmd, lo, hi;
	double t, hold, longest;
	int i, af;
	char path[400];
	const char *mode;

	if (argc != 4) {
		fprintf(stderr, "usage: bartest quick|full|hang EXPECT ANSWER\n");
		return 2;
	}
	mode = argv[1];
	expect = strtoull(argv[2], NULL, 0);
	answer = strtoull(argv[3], NULL, 0);
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
	if (!strcmp(mode, "hang"))
		return mode_hang();
	bar[1] = answer;
	if (!strcmp(mode, "quick"))
		goto out;

	sweep("sweep");
	/* L1 reads KVM's page counts now: the BAR as the first sweep mapped it */
	marker("sweep done");
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

	if (getenv("SLOTRETRY") && atoi(getenv("SLOTRETRY")))
		slot_retry();

	/*
	 * FLR with decoding left on, reading the BAR while the reset runs. L1
	 * holds kvmtool's reset thread for HOLD seconds once the reset itself
	 * is done: a vCPU that waits for kvmtool's reset stalls that long.
	 */
	af = find_af();
	check(af, "the device has an AF capability with FLR");
	if (af) {
		hold = env_double("HOLD", 0);
		marker("flr");
		sleep(2);
		cfg_write(af + PCI_AF_CTRL, PCI_AF_CTRL_FLR, 1);
		longest = read_for(hold + 1, &reads, &bad);
		/* Config space is held off until the reset has completed */
		cfg_read(PCI_COMMAND, 2);
		printf("bartest: flr-under-access %" PRIu64 " reads, the longest %.3f s (kvmtool's reset held %.1f s)\n",
		       reads, longest, hold);
		printf("bartest: flr-stall %.3f s\n", longest);
		check(!bad && bar[0] == expect,
		      "value right while and after an FLR with decoding on");
	}

	/* Reset by someone else than kvmtool, while the BAR is read */
	marker("external");
	longest = read_for(3, &reads, &bad);
	printf("bartest: external-reset %" PRIu64 " reads, the longest %.3f s\n",
	       reads, longest);
	check(!bad && bar[0] == expect,
	      "value right while the device is reset behind kvmtool's back");

	concurrent_moves(addr);

	/*
	 * Move the BAR 4 GiB up, with memory decoding on, the upper half last:
	 * the device must no longer answer at the old address, which reads
	 * all-ones as nothing decodes it. Then have the PCI core rediscover the
	 * device: it sizes BAR2 again and assigns it an address of its own
	 * (the lowest free one, i.e. the original one), a second move.
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
	check(v == ALL_ONES, "the old address reads all-ones after the move");
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

	/* The host takes the device back: the BAR stops decoding */
	if (getenv("UNBIND") && atoi(getenv("UNBIND"))) {
		marker("unbind");
		t = now();
		while ((v = bar[0]) != ALL_ONES && now() - t < 30)
			usleep(1000);
		printf("bartest: unbind all-ones after %.3f s (last read 0x%" PRIx64 ")\n",
		       now() - t, v);
		check(v == ALL_ONES, "the BAR reads all-ones once the host took the device back");
		cmd = cfg_read(PCI_COMMAND, 2);
		cfg_write(PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2);
		cfg_write(PCI_COMMAND, cmd | PCI_COMMAND_MEMORY, 2);
		check(bar[0] == ALL_ONES && bar[1] == ALL_ONES,
		      "the BAR still reads all-ones after a decode toggle");
	}
	close_dev();

out:
	printf("bartest: done, %s\n", failed ? "FAILED" : "all ok");
	return failed;
}
