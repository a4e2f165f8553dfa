# The suites the guest runs: sourced by the host build (bash) and by the guest
# runner (busybox sh), so plain space-separated lists.
IOMMU_TESTS="iommufd iommufd_fail_nth"
VFIO_TESTS="vfio_iommufd_setup_test vfio_pci_device_test vfio_dma_mapping_test
	vfio_dma_mapping_mmio_test vfio_pci_driver_test vfio_pci_dmabuf_private_test"
KVM_TESTS="set_memory_region_test guest_memfd_test pre_fault_memory_test
	kvm_binary_stats_test vm_types_test x86/private_mem_conversions_test
	x86/private_mem_kvm_exits_test x86/vfio_dmabuf_test"

# runner=ab (scripts/ab): the iommufd and VFIO suites above, then every KVM
# selftest the build put in /tests/kvm: all of the tree's x86 TEST_GEN_PROGS.
AB_TIMEOUT=180	# seconds per test unless ab_timeout says otherwise
ab_skip() { # test: why it cannot run in this guest (nothing: run it)
	case $1 in
	hardware_disable_test) echo "512 rounds of 4 vCPUs with 16 sleeper threads each: hours under nested TCG" ;;
	rseq_test) echo "needs CONFIG_RSEQ, which the trimmed config leaves out" ;;
	esac
}
ab_args() { # test: arguments that make it fit the guest (say why)
	case $1 in
	mmu_stress_test) echo "-m 1 -s 1" ;;		# 1 GiB instead of 128 GiB of guest memory
	memslot_perf_test) echo "-s 512 -t 250" ;;	# 512 slots, not 32k; wait 250 s, not 10
	x86/dirty_log_page_splitting_test) echo "-b 64M" ;; # 1 GiB needs more 2M pages than the guest has
	esac
}
ab_timeout() { # test: its timeout in seconds
	case $1 in
	mmu_stress_test|memslot_perf_test) echo 400 ;;
	*) echo $AB_TIMEOUT ;;
	esac
}
# VMMs driving the series' uAPI: vmm/<name>/run in the initramfs (TAP).
VMM_TESTS="kvmtool qemu"
