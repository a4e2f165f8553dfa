// SPDX-License-Identifier: GPL-2.0
/*
 * LD_PRELOAD into QEMU for the vmm/qemu suite: while the file named by
 * $WB_FAKE_REMOVED exists, a vCPU exit KVM_EXIT_MEMORY_FAULT with
 * KVM_MEMORY_EXIT_FLAG_UNAVAILABLE reaches QEMU as one with
 * KVM_MEMORY_EXIT_FLAG_REMOVED.
 *
 * The kernel revokes a VFIO dma-buf for good only once the device is closed
 * (or unplugged), and QEMU deletes its memory slots before it closes the
 * device: a test cannot make KVM report a permanent revoke to a running QEMU.
 * The suite makes a real temporary revoke (memory decoding turned off behind
 * QEMU's back) look permanent at the narrowest seam, the exit QEMU reads, so
 * that QEMU's handling of it (delete the slot, let accesses trap, never stop
 * the VM) runs for real.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FD 4096

/* The last shared mapping at offset 0 of each fd: a vCPU fd's is its kvm_run */
static struct kvm_run *runs[MAX_FD];

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	void *p;

	if (!real)
		real = dlsym(RTLD_NEXT, "mmap");
	p = real(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && fd >= 0 && fd < MAX_FD && !off &&
	    (flags & MAP_SHARED))
		runs[fd] = p;
	return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, void *);
	const char *trigger;
	struct kvm_run *run;
	va_list ap;
	void *arg;
	int ret, err;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = dlsym(RTLD_NEXT, "ioctl");
	ret = real(fd, req, arg);
	if (req != KVM_RUN || ret >= 0 || fd < 0 || fd >= MAX_FD || !runs[fd])
		return ret;

	err = errno;
	run = runs[fd];
	trigger = getenv("WB_FAKE_REMOVED");
	if (err == EFAULT && run->exit_reason == KVM_EXIT_MEMORY_FAULT &&
	    (run->memory_fault.flags & KVM_MEMORY_EXIT_FLAG_UNAVAILABLE) &&
	    trigger && !access(trigger, F_OK)) {
		run->memory_fault.flags &= ~KVM_MEMORY_EXIT_FLAG_UNAVAILABLE;
		run->memory_fault.flags |= KVM_MEMORY_EXIT_FLAG_REMOVED;
	}
	errno = err;
	return ret;
}
