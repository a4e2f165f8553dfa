// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VMM flow for a VFIO device BAR, end to end: bind (done by the caller),
 * open the device through iommufd, export a BAR as a dma-buf with
 * VFIO_DEVICE_FEATURE_DMA_BUF, back a KVM memslot with the BAR, run an L2
 * guest that reads a value the host wrote, writes one the host reads back
 * through VFIO, sweeps every 4K page of the BAR, and print KVM's page-size
 * stats and the sweep time.
 *
 * Modes: "legacy-unaligned" and "legacy-aligned" back the slot with an mmap
 * of the BAR (the hva path, 4K-misaligned or 1 GiB-aligned); "dmabuf" backs
 * it with the dma-buf itself (KVM_MEM_VFIO_DMABUF), when the kernel has it.
 *
 * Usage: vmm_demo <mode> <BDF> [bar]
 * Built against the KVM selftest library (tools/testing/selftests/kvm).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/sizes.h>
#include <linux/vfio.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

#include <libvfio.h>

#define SLOT		10
#define BAR_GPA		(4ULL << 30)
#define HOST_MAGIC	0x686f73742d763031ULL	/* "host-v01" */
#define GUEST_MAGIC	0x67756573742d7632ULL	/* "guest-v2" */

static void guest_code(u64 gva, u64 size)
{
	volatile u64 *p = (volatile u64 *)gva;
	u64 off, sum = 0;

	GUEST_SYNC(p[0]);		/* the value the host wrote */
	p[1] = GUEST_MAGIC;		/* for the host to read back */
	GUEST_SYNC(0);
	for (off = 0; off < size; off += 4096)
		sum += *(volatile u64 *)(gva + off);
	GUEST_SYNC(sum);
	GUEST_DONE();
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static u64 run_until_sync(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		return uc.args[1];
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	return 0;
}

static int export_bar(struct vfio_pci_device *dev, int bar, u64 size)
{
	u8 buf[sizeof(struct vfio_device_feature) +
	       sizeof(struct vfio_device_feature_dma_buf) +
	       sizeof(struct vfio_region_dma_range)] __attribute__((aligned(8))) = {};
	struct vfio_device_feature *feat = (void *)buf;
	struct vfio_device_feature_dma_buf *db = (void *)feat->data;
	int fd;

	feat->argsz = sizeof(buf);
	feat->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	db->region_index = bar;
	db->open_flags = O_RDWR | O_CLOEXEC;
	db->nr_ranges = 1;
	db->dma_ranges[0].offset = 0;
	db->dma_ranges[0].length = size;
	fd = ioctl(dev->fd, VFIO_DEVICE_FEATURE, feat);
	TEST_ASSERT(fd >= 0, "VFIO_DEVICE_FEATURE_DMA_BUF failed: %s", strerror(errno));
	return fd;
}

int main(int argc, char *argv[])
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *bdf = argc > 2 ? argv[2] : NULL;
	int bar = argc > 3 ? atoi(argv[3]) : 2;
	struct vfio_pci_device *dev;
	struct kvm_vcpu *vcpu;
	struct iommu *iommu;
	struct kvm_vm *vm;
	u64 size, reg_off, val, sum;
	double t0, t1;
	void *hva = NULL;
	int dmabuf_fd;

	if (!bdf || (strcmp(mode, "legacy-unaligned") && strcmp(mode, "legacy-aligned") &&
		     strcmp(mode, "dmabuf"))) {
		fprintf(stderr, "usage: %s legacy-unaligned|legacy-aligned|dmabuf BDF [bar]\n",
			argv[0]);
		return 2;
	}

	iommu = iommu_init("iommufd");
	dev = vfio_pci_device_init(bdf, iommu);
	/* The first GiB of the BAR, however large it is */
	size = min_t(u64, dev->bars[bar].info.size, SZ_1G);
	reg_off = dev->bars[bar].info.offset;
	printf("%s: %s BAR%d, the first %llu MiB\n", mode, bdf, bar,
	       (unsigned long long)size >> 20);

	dmabuf_fd = export_bar(dev, bar, size);
	printf("%s: VFIO_DEVICE_FEATURE_DMA_BUF exported BAR%d as dma-buf fd %d, %lld bytes\n",
	       mode, bar, dmabuf_fd, (long long)lseek(dmabuf_fd, 0, SEEK_END));

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);

	if (!strcmp(mode, "dmabuf")) {
#ifdef KVM_CAP_VFIO_DMABUF
		struct kvm_userspace_memory_region2 region = {
			.slot = SLOT,
			.flags = KVM_MEM_VFIO_DMABUF,
			.guest_phys_addr = BAR_GPA,
			.memory_size = size,
			.dmabuf_fd = dmabuf_fd,
			.dmabuf_offset = 0,
		};

		TEST_ASSERT(!ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION2, &region),
			    "KVM_MEM_VFIO_DMABUF slot: %s", strerror(errno));
		/* KVM holds its own reference: the VMM needs no fd and no mmap. */
		close(dmabuf_fd);
#else
		TEST_FAIL("KVM_MEM_VFIO_DMABUF: not in these kernel headers");
#endif
	} else {
		size_t off = strcmp(mode, "legacy-aligned") ? getpagesize() : 0;

		hva = mmap_reserve(size, SZ_1G, off);
		hva = mmap(hva, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			   dev->fd, reg_off);
		TEST_ASSERT(hva != MAP_FAILED, "mmap BAR: %s", strerror(errno));
		madvise(hva, size, MADV_HUGEPAGE);
		vm_set_user_memory_region(vm, SLOT, 0, BAR_GPA, size, hva);
		close(dmabuf_fd);
	}

	virt_map_level(vm, BAR_GPA, BAR_GPA, size, PG_LEVEL_1G);
	vcpu_args_set(vcpu, 2, BAR_GPA, size);

	val = HOST_MAGIC;
	TEST_ASSERT(pwrite(dev->fd, &val, sizeof(val), reg_off) == sizeof(val),
		    "host write through VFIO: %s", strerror(errno));
	val = 0;
	TEST_ASSERT(pwrite(dev->fd, &val, sizeof(val), reg_off + 8) == sizeof(val),
		    "host write through VFIO: %s", strerror(errno));

	val = run_until_sync(vcpu);
	printf("%s: L2 guest read 0x%llx (host wrote 0x%llx): %s\n", mode,
	       (unsigned long long)val, HOST_MAGIC, val == HOST_MAGIC ? "ok" : "MISMATCH");
	TEST_ASSERT_EQ(val, HOST_MAGIC);

	run_until_sync(vcpu);
	TEST_ASSERT(pread(dev->fd, &val, sizeof(val), reg_off + 8) == sizeof(val),
		    "host read through VFIO: %s", strerror(errno));
	printf("%s: host read 0x%llx through VFIO (guest wrote 0x%llx): %s\n", mode,
	       (unsigned long long)val, GUEST_MAGIC, val == GUEST_MAGIC ? "ok" : "MISMATCH");
	TEST_ASSERT_EQ(val, GUEST_MAGIC);

	t0 = now();
	sum = run_until_sync(vcpu);
	t1 = now();
	printf("%s: L2 guest swept %llu pages in %.3f s (checksum 0x%llx)\n", mode,
	       (unsigned long long)size / 4096, t1 - t0, (unsigned long long)sum);
	printf("%s: KVM stats pages_4k=%lu pages_2m=%lu pages_1g=%lu\n", mode,
	       vm_get_stat(vm, pages_4k), vm_get_stat(vm, pages_2m), vm_get_stat(vm, pages_1g));

	kvm_vm_free(vm);
	if (hva)
		munmap(hva, size);
	vfio_pci_device_cleanup(dev);
	iommu_cleanup(iommu);
	return 0;
}
