/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the L1 helpers of vmm/kvmtool (vfio-bar) and vmm/qemu (l1-vfio):
 * open a device bound to vfio-pci through the VFIO group API, in a type1
 * container of its own, to reach its BARs through the region's read/write
 * while no VMM has the device.
 */
#ifndef VMM_VFIO_GROUP_H
#define VMM_VFIO_GROUP_H

#include <fcntl.h>
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

#endif
