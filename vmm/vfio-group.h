/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the L1 helpers of vmm/kvmtool (vfio-bar) and vmm/qemu (l1-vfio):
 * open a device bound to vfio-pci through the VFIO group API, in a type1
 * container of its own, and read or write a word of a BAR through the
 * region's read/write, while no VMM has the device.
 */
#ifndef VMM_VFIO_GROUP_H
#define VMM_VFIO_GROUP_H

#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The VFIO device fd of the device at @bdf; exits on failure */
static int vfio_group_device(const char *bdf)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[256], link[256];
	int container, group, device;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
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
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (device < 0)
		die("VFIO_GROUP_GET_DEVICE_FD");
	return device;
}

/* The VFIO region @index of @device; exits on failure */
static struct vfio_region_info vfio_region(int device, unsigned int index)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &info))
		die("VFIO_DEVICE_GET_REGION_INFO");
	return info;
}

/*
 * BDF BAR OFFSET [VALUE] (@argc 3 or 4): print the 64-bit word at OFFSET of
 * the BAR (0x...), or write VALUE there, through the region's read/write.
 */
static int vfio_bar_word(int argc, char **argv)
{
	struct vfio_region_info info;
	uint64_t off, val;
	int device;

	device = vfio_group_device(argv[0]);
	info = vfio_region(device, strtoul(argv[1], NULL, 0));
	off = strtoull(argv[2], NULL, 0);
	if (off + 8 > info.size) {
		fprintf(stderr, "offset 0x%" PRIx64 " beyond the region\n", off);
		return 1;
	}
	if (argc == 4) {
		val = strtoull(argv[3], NULL, 0);
		if (pwrite(device, &val, 8, info.offset + off) != 8)
			die("write");
	} else {
		if (pread(device, &val, 8, info.offset + off) != 8)
			die("read");
		printf("0x%" PRIx64 "\n", val);
	}
	return 0;
}

#endif
