// SPDX-License-Identifier: GPL-2.0
/*
 * Read or write a 64-bit value in a BAR of a device bound to vfio-pci, through
 * VFIO (the group API and the region's read/write, no mmap):
 *
 *   vfio-bar BDF BAR OFFSET            prints the value (0x...)
 *   vfio-bar BDF BAR OFFSET VALUE      writes it
 *
 * The L1 side of the kvmtool suite uses it on the ivshmem device, before and
 * after lkvm owns the device.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../vfio-group.h"

int main(int argc, char **argv)
{
	struct vfio_region_info info = { .argsz = sizeof(info) };
	uint64_t off, val;
	int device;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s BDF BAR OFFSET [VALUE]\n", argv[0]);
		return 2;
	}
	device = vfio_group_device(argv[1]);

	info.index = strtoul(argv[2], NULL, 0);
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &info))
		die("VFIO_DEVICE_GET_REGION_INFO");
	off = strtoull(argv[3], NULL, 0);
	if (off + 8 > info.size) {
		fprintf(stderr, "offset 0x%" PRIx64 " beyond the region\n", off);
		return 1;
	}

	if (argc == 5) {
		val = strtoull(argv[4], NULL, 0);
		if (pwrite(device, &val, 8, info.offset + off) != 8)
			die("write");
	} else {
		if (pread(device, &val, 8, info.offset + off) != 8)
			die("read");
		printf("0x%" PRIx64 "\n", val);
	}
	return 0;
}
