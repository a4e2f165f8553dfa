# The suites the guest runs: sourced by the host build (bash) and by the guest
# runner (busybox sh), so plain space-separated lists.
IOMMU_TESTS="iommufd iommufd_fail_nth"
VFIO_TESTS="vfio_iommufd_setup_test vfio_pci_device_test vfio_dma_mapping_test
	vfio_dma_mapping_mmio_test vfio_pci_driver_test vfio_pci_dmabuf_private_test"
KVM_TESTS="set_memory_region_test guest_memfd_test pre_fault_memory_test
	kvm_binary_stats_test vm_types_test x86/private_mem_conversions_test
	x86/private_mem_kvm_exits_test vfio_dmabuf_test"
# VMMs driving the series' uAPI: vmm/<name>/run in the initramfs (TAP).
VMM_TESTS="kvmtool"
