// SPDX-License-Identifier: GPL-2.0
/*
 * L1 helper of the vmm/qemu suite, for a device bound to vfio-pci:
 *
 *   l1-vfio bar BDF BAR OFFSET [VALUE]
 *	read (print 0x...) or write a 64-bit word of a BAR through VFIO (the
 *	group API, read/write of the region, no mmap), while no VMM has the
 *	device;
 *   l1-vfio decode PID BDF on|off
 *	turn the device's memory decoding on or off behind the back of the
 *	VMM PID that has it open through its VFIO cdev: with a copy of the
 *	VMM's own device fd (pidfd_getfd), a write to the command register.
 *	VFIO revokes (off) or restores (on) the device's dma-bufs, which the
 *	VMM did not ask for.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#include "../vfio-group.h"

static int bar(int argc, char **argv)
{
	if (argc != 5 && argc != 6)
		return 2;
	return vfio_bar_word(argc - 2, argv + 2);
}

/* The VMM's fd of the device's VFIO cdev, copied into this process */
static int vmm_device(pid_t pid, const char *bdf)
{
	char path[300], want[300] = "", link[300];
	struct dirent *e;
	int pidfd, fd = -1;
	DIR *dir;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		die(path);
	while ((e = readdir(dir)))
		if (!strncmp(e->d_name, "vfio", 4))
			snprintf(want, sizeof(want), "/dev/vfio/devices/%s", e->d_name);
	closedir(dir);
	if (!want[0]) {
		errno = ENODEV;
		die("no VFIO cdev");
	}

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		die(path);
	while (fd < 0 && (e = readdir(dir))) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (!strcmp(link, want))
			fd = atoi(e->d_name);
	}
	closedir(dir);
	if (fd < 0) {
		errno = ENOENT;
		die(want);
	}

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("pidfd_open");
	fd = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (fd < 0)
		die("pidfd_getfd");
	close(pidfd);
	return fd;
}

static int decode(int argc, char **argv)
{
	struct vfio_region_info cfg;
	uint16_t cmd;
	int device;

	if (argc != 5)
		return 2;
	device = vmm_device(atoi(argv[2]), argv[3]);
	cfg = vfio_region(device, VFIO_PCI_CONFIG_REGION_INDEX);
	if (pread(device, &cmd, 2, cfg.offset + 4) != 2)
		die("read command");
	if (!strcmp(argv[4], "on"))
		cmd |= 2;
	else
		cmd &= ~2;
	if (pwrite(device, &cmd, 2, cfg.offset + 4) != 2)
		die("write command");
	printf("command 0x%x\n", cmd);
	return 0;
}

int main(int argc, char **argv)
{
	int ret = 2;

	if (argc > 1 && !strcmp(argv[1], "bar"))
		ret = bar(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "decode"))
		ret = decode(argc, argv);
	if (ret == 2)
		fprintf(stderr, "usage: %s bar BDF BAR OFFSET [VALUE]\n"
			"       %s decode PID BDF on|off\n", argv[0], argv[0]);
	return ret;
}
