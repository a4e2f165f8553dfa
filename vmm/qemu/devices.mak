# Devices of the workbench's trimmed QEMU build (configure
# --without-default-devices --with-devices-x86_64=wb): the q35 machine and what
# it selects, PCIe root ports, vfio-pci and its iommufd backend. Nothing else
# is needed by the vmm/qemu suite's L2 guest (serial console, bzImage, no disk,
# no network).
CONFIG_Q35=y
CONFIG_PCIE_PORT=y
CONFIG_VFIO_PCI=y
CONFIG_IOMMUFD=y
