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

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_region_info info = { .argsz = sizeof(info) };
	char path[256], link[256];
	int container, group, device;
	uint64_t off, val;
	ssize_t n;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s BDF BAR OFFSET [VALUE]\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", argv[1]);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die(path);
	link[n] = 0;
	snprintf(path, sizeof(path), "/dev/vfio/%s", basename(link));

	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		die("/dev/vfio/vfio");
	group = open(path, O_RDWR);
	if (group < 0)
		die(path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		die("group not viable");
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		die("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO_SET_IOMMU");
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, argv[1]);
	if (device < 0)
		die("VFIO_GROUP_GET_DEVICE_FD");

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
