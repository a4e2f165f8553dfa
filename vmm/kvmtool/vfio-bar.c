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
#include <stdio.h>

#include "../vfio-group.h"

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s BDF BAR OFFSET [VALUE]\n", argv[0]);
		return 2;
	}
	return vfio_bar_word(argc - 1, argv + 1);
}
