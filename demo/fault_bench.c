// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmarks of the dma-buf path against the path it replaces, printing
 * figures (not tests: they assert only that the work was done).
 *
 *   fault_bench faults BDF [bar]
 *	1, 2 and 4 vCPUs of an L2 guest fault in every 4K page of a BAR that
 *	can only be mapped at 4K, once through a KVM_MEM_VFIO_DMABUF memslot at
 *	a dma-buf offset of one page (gfn and pfn not congruent) and once
 *	through the legacy path, a 4K-misaligned mmap of the BAR backing an hva
 *	memslot; prints faults per second for each.
 *
 *   fault_bench iommufd BDF [bar]
 *	exports the BAR as one range and as one range per 4K page, and times
 *	VFIO_DEVICE_FEATURE_DMA_BUF and iommufd's IOMMU_IOAS_MAP_FILE of each.
 *
 * Built against the KVM selftest library, like vmm_demo.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/sizes.h>
#include <linux/vfio.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

#include <libvfio.h>

#define SLOT		10
#define BAR_GPA		(4ULL << 30)
#define MAX_VCPUS	4

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Touch one qword in each 4K page of [gva, gva + size) */
static void guest_code(u64 gva, u64 size)
{
	u64 off, sum = 0;

	GUEST_SYNC(0);		/* ready */
	for (off = 0; off < size; off += 4096)
		sum += *(volatile u64 *)(gva + off);
	GUEST_SYNC(sum);
	GUEST_DONE();
}

static void run_to_sync(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	if (get_ucall(vcpu, &uc) == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
	TEST_ASSERT_EQ(uc.cmd, UCALL_SYNC);
}

static pthread_barrier_t barrier;

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;

	pthread_barrier_wait(&barrier);
	run_to_sync(vcpu);
	return NULL;
}

static int export(struct vfio_pci_device *dev, int bar, u64 size, u64 offset,
		  u32 nr_ranges)
{
	struct vfio_device_feature_dma_buf *db;
	struct vfio_device_feature *feat;
	size_t argsz = sizeof(*feat) + sizeof(*db) +
		       nr_ranges * sizeof(struct vfio_region_dma_range);
	u64 chunk = size / nr_ranges;
	u32 i;
	int fd;

	feat = calloc(1, argsz);
	TEST_ASSERT(feat, "calloc");
	db = (void *)feat->data;
	feat->argsz = argsz;
	feat->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	db->region_index = bar;
	db->open_flags = O_RDWR | O_CLOEXEC;
	db->nr_ranges = nr_ranges;
	for (i = 0; i < nr_ranges; i++) {
		db->dma_ranges[i].offset = offset + i * chunk;
		db->dma_ranges[i].length = chunk;
	}
	fd = ioctl(dev->fd, VFIO_DEVICE_FEATURE, feat);
	TEST_ASSERT(fd >= 0, "VFIO_DEVICE_FEATURE_DMA_BUF: %s", strerror(errno));
	free(feat);
	return fd;
}

/*
 * One run: @nr_vcpus vCPUs sweep disjoint slices of the slot; returns faults
 * (4K mappings created) per second.
 */
static double fault_run(struct vfio_pci_device *dev, int bar, bool dmabuf,
			int nr_vcpus)
{
	/* 1 GiB of the BAR at most, a page into it */
	u64 size = min_t(u64, dev->bars[bar].info.size, SZ_1G) - SZ_4K;
	u64 slice = size / nr_vcpus;
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	pthread_t threads[MAX_VCPUS];
	u64 pages_before, pages;
	void *hva = NULL;
	struct kvm_vm *vm;
	double t0, t;
	int i, fd = -1;

	slice &= ~(u64)(SZ_4K - 1);
	vm = vm_create_with_vcpus(nr_vcpus, guest_code, vcpus);
	if (dmabuf) {
		struct kvm_userspace_memory_region2 region = {
			.slot = SLOT,
			.flags = KVM_MEM_VFIO_DMABUF,
			.guest_phys_addr = BAR_GPA,
			.memory_size = size,
		};

		/* A page into the BAR: gfn and pfn are never congruent */
		fd = export(dev, bar, size, SZ_4K, 1);
		region.dmabuf_fd = fd;
		TEST_ASSERT(!ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION2, &region),
			    "KVM_MEM_VFIO_DMABUF: %s", strerror(errno));
		close(fd);
	} else {
		hva = mmap_reserve(size, SZ_1G, SZ_4K);
		hva = mmap(hva, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			   dev->fd, dev->bars[bar].info.offset);
		TEST_ASSERT(hva != MAP_FAILED, "mmap BAR: %s", strerror(errno));
		vm_set_user_memory_region(vm, SLOT, 0, BAR_GPA, size, hva);
	}
	/* The guest's own page tables don't limit the stage-2 page size */
	virt_map_level(vm, BAR_GPA, BAR_GPA, dev->bars[bar].info.size,
		       !(dev->bars[bar].info.size % SZ_1G) ? PG_LEVEL_1G :
		       !(dev->bars[bar].info.size % SZ_2M) ? PG_LEVEL_2M :
		       PG_LEVEL_4K);
	for (i = 0; i < nr_vcpus; i++) {
		vcpu_args_set(vcpus[i], 2, BAR_GPA + i * slice, slice);
		run_to_sync(vcpus[i]);	/* to the starting line */
	}

	pages_before = vm_get_stat(vm, pages_4k);
	pthread_barrier_init(&barrier, NULL, nr_vcpus + 1);
	for (i = 0; i < nr_vcpus; i++)
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
	pthread_barrier_wait(&barrier);
	t0 = now();
	for (i = 0; i < nr_vcpus; i++)
		pthread_join(threads[i], NULL);
	t = now() - t0;
	pthread_barrier_destroy(&barrier);
	pages = vm_get_stat(vm, pages_4k) - pages_before;

	/* Every page of every slice was mapped at 4K, and only once */
	TEST_ASSERT_EQ(pages, nr_vcpus * slice / SZ_4K);
	TEST_ASSERT_EQ(vm_get_stat(vm, pages_2m), 0);
	TEST_ASSERT_EQ(vm_get_stat(vm, pages_1g), 0);

	kvm_vm_free(vm);
	if (hva)
		munmap(hva, size);
	return pages / t;
}

static int bench_faults(struct vfio_pci_device *dev, int bar)
{
	static const int vcpus[] = { 1, 2, 4 };
	double legacy, dmabuf;
	int i;

	printf("fault-bench: 4K faults of %llu MiB of BAR%d, %ld online CPUs\n",
	       (unsigned long long)(min_t(u64, dev->bars[bar].info.size, SZ_1G) -
				    SZ_4K) >> 20, bar,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("fault-bench: %-6s %16s %16s %8s\n", "vCPUs", "legacy faults/s",
	       "dma-buf faults/s", "ratio");
	for (i = 0; i < ARRAY_SIZE(vcpus); i++) {
		legacy = fault_run(dev, bar, false, vcpus[i]);
		dmabuf = fault_run(dev, bar, true, vcpus[i]);
		printf("fault-bench: %-6d %16.0f %16.0f %8.2f\n", vcpus[i], legacy,
		       dmabuf, dmabuf / legacy);
	}
	return 0;
}

static double map_file(struct iommu *iommu, int fd, u64 length)
{
	struct iommu_ioas_map_file map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = iommu->ioas_id,
		.fd = fd,
		.start = 0,
		.length = length,
	};
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap),
		.ioas_id = iommu->ioas_id,
		.length = length,
	};
	double t0, t;

	t0 = now();
	TEST_ASSERT(!ioctl(iommu->iommufd, IOMMU_IOAS_MAP_FILE, &map),
		    "IOMMU_IOAS_MAP_FILE: %s", strerror(errno));
	t = now() - t0;
	unmap.iova = map.iova;
	TEST_ASSERT(!ioctl(iommu->iommufd, IOMMU_IOAS_UNMAP, &unmap),
		    "IOMMU_IOAS_UNMAP: %s", strerror(errno));
	return t;
}

static int bench_iommufd(struct iommu *iommu, struct vfio_pci_device *dev,
			 int bar)
{
	u64 size = min_t(u64, dev->bars[bar].info.size, SZ_1G);
	u32 nr[] = { 1, size / SZ_4K };
	double t0, t_export, t_map;
	int i, fd;

	/* Once untimed: the IOMMU page tables are allocated then */
	fd = export(dev, bar, size, 0, 1);
	map_file(iommu, fd, size);
	close(fd);

	for (i = 0; i < ARRAY_SIZE(nr); i++) {
		t0 = now();
		fd = export(dev, bar, size, 0, nr[i]);
		t_export = now() - t0;
		t_map = map_file(iommu, fd, size);
		close(fd);
		printf("iommufd-bench: %llu MiB in %u ranges: export %.3f ms, IOMMU_IOAS_MAP_FILE %.3f ms\n",
		       (unsigned long long)size >> 20, nr[i], t_export * 1e3,
		       t_map * 1e3);
	}
	return 0;
}

int main(int argc, char *argv[])
{
	const char *what = argc > 1 ? argv[1] : "";
	const char *bdf = argc > 2 ? argv[2] : NULL;
	int bar = argc > 3 ? atoi(argv[3]) : 2, r;
	struct vfio_pci_device *dev;
	struct iommu *iommu;

	if (!bdf || (strcmp(what, "faults") && strcmp(what, "iommufd"))) {
		fprintf(stderr, "usage: %s faults|iommufd BDF [bar]\n", argv[0]);
		return 2;
	}
	iommu = iommu_init("iommufd");
	dev = vfio_pci_device_init(bdf, iommu);
	if (!strcmp(what, "faults"))
		r = bench_faults(dev, bar);
	else
		r = bench_iommufd(iommu, dev, bar);
	vfio_pci_device_cleanup(dev);
	iommu_cleanup(iommu);
	return r;
}
