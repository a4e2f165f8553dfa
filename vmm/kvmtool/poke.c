// SPDX-License-Identifier: GPL-2.0
/*
 * L1 helper of the kvmtool suite: does to a running lkvm what the suite cannot
 * do from a shell, so that kvmtool's handling of each case is seen from the
 * outside.
 *
 *   poke reset PID
 *	Reset lkvm's VFIO device behind its back: take a duplicate of its
 *	device fd (pidfd_getfd()) and issue VFIO_DEVICE_RESET on it. VFIO
 *	revokes the device's dma-bufs for the reset, which kvmtool did not
 *	cause. Prints how long the reset took.
 *
 *   poke hold PID COMM SECONDS
 *	Hold lkvm's thread named COMM (ptrace, that thread only) right after
 *	its next VFIO_DEVICE_RESET returns, for SECONDS, then let it go: the
 *	device is back, but for kvmtool the reset completes SECONDS later (or
 *	never, if lkvm gives up first). Prints when it held and let go.
 *
 *   poke slot PID COMM ERRNO:SECONDS...
 *	Make lkvm's thread COMM see its creations of memory slots above 4 GiB
 *	(the BARs' slots, KVM_SET_USER_MEMORY_REGION or ..._REGION2 with a
 *	size) fail, as KVM answers them while a signal is pending (EINTR) or
 *	while the exporter of a dma-buf holds the memory off (ENODEV), in
 *	phases. A phase starts at the next creation: that creation, and the
 *	ones that follow for SECONDS, fail with ERRNO without reaching KVM
 *	(SECONDS 0: the first one only; -1: until the thread runs the guest
 *	again, at most 15 s). The next creation reaches KVM. Prints, per phase,
 *	how many creations failed and whether the thread ran the guest
 *	(KVM_RUN) before it created the slot again, i.e. whether kvmtool
 *	retried or gave up, then lets the thread go after the last phase.
 *
 *   poke nocap CAP PROGRAM ARGS...
 *	Run PROGRAM with the first KVM_CHECK_EXTENSION(CAP) of its main
 *	thread answered 0, as by a kernel without the capability, then leave
 *	it alone. Exits with PROGRAM's exit status.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "poke: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* lkvm's VFIO device fd: a VFIO cdev, or a device fd of the group API */
static int find_vfio_fd(pid_t pid)
{
	char path[300], link[256];
	struct dirent *d;
	DIR *dir;
	ssize_t n;
	int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		die(path);
	while ((d = readdir(dir))) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (!strncmp(link, "/dev/vfio/devices/", 18) ||
		    !strcmp(link, "anon_inode:[vfio-device]")) {
			fd = atoi(d->d_name);
			break;
		}
	}
	closedir(dir);
	if (fd < 0) {
		fprintf(stderr, "poke: process %d has no VFIO device open\n", pid);
		exit(1);
	}
	return fd;
}

static int cmd_reset(pid_t pid)
{
	int pidfd, fd;
	double t;

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("pidfd_open");
	fd = syscall(SYS_pidfd_getfd, pidfd, find_vfio_fd(pid), 0);
	if (fd < 0)
		die("pidfd_getfd");

	t = now();
	if (ioctl(fd, VFIO_DEVICE_RESET))
		die("VFIO_DEVICE_RESET");
	printf("poke: reset the device behind lkvm's back in %.3f s\n", now() - t);
	return 0;
}

static pid_t find_thread(pid_t pid, const char *comm)
{
	char path[300], name[64];
	struct dirent *d;
	pid_t tid = 0;
	DIR *dir;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		die(path);
	while (!tid && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = 0;
			if (!strcmp(name, comm))
				tid = atoi(d->d_name);
		}
		fclose(f);
	}
	closedir(dir);
	if (!tid) {
		fprintf(stderr, "poke: process %d has no thread %s\n", pid, comm);
		exit(1);
	}
	return tid;
}

static bool syscall_info(pid_t tid, struct __ptrace_syscall_info *info)
{
	return ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(*info), info) > 0;
}

static int cmd_hold(pid_t pid, const char *comm, double seconds)
{
	struct __ptrace_syscall_info info;
	pid_t tid = find_thread(pid, comm);
	bool in_reset = false;
	int status, sig;
	double t;

	if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD))
		die("PTRACE_SEIZE");
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0))
		die("PTRACE_INTERRUPT");
	printf("poke: watching %s (%d) for VFIO_DEVICE_RESET\n", comm, tid);
	fflush(stdout);

	for (;;) {
		if (waitpid(tid, &status, __WALL) < 0)
			die("waitpid");
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			printf("poke: %s exited\n", comm);
			return 1;
		}
		sig = 0;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80) && syscall_info(tid, &info)) {
			if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
				in_reset = info.entry.nr == SYS_ioctl &&
					   info.entry.args[1] == VFIO_DEVICE_RESET;
			else if (info.op == PTRACE_SYSCALL_INFO_EXIT && in_reset)
				break;
		} else if (!(status >> 16) && WSTOPSIG(status) != SIGTRAP) {
			/* A signal for the thread: deliver it */
			sig = WSTOPSIG(status);
		}
		if (ptrace(PTRACE_SYSCALL, tid, 0, sig))
			die("PTRACE_SYSCALL");
	}

	t = now();
	printf("poke: holding %s after its VFIO_DEVICE_RESET returned (%lld), for %.1f s\n",
	       comm, (long long)info.exit.rval, seconds);
	fflush(stdout);
	while (now() - t < seconds) {
		/* lkvm may exit meanwhile: that ends the hold */
		if (waitpid(tid, &status, __WALL | WNOHANG) == tid &&
		    (WIFEXITED(status) || WIFSIGNALED(status))) {
			printf("poke: %s exited while held, after %.3f s\n", comm, now() - t);
			return 0;
		}
		usleep(10000);
	}
	ptrace(PTRACE_DETACH, tid, 0, 0);
	printf("poke: let %s go after %.3f s\n", comm, now() - t);
	return 0;
}

struct slot_phase {
	const char *name;
	int err;
	double seconds;
};

/*
 * The memory slot that the ioctl at this syscall-entry stop creates: its guest
 * address, or 0 if it is no creation of a slot above 4 GiB.
 */
static unsigned long long slot_creation(pid_t tid, struct __ptrace_syscall_info *info)
{
	unsigned long addr = info->entry.args[2];
	struct kvm_userspace_memory_region mem;
	long words[sizeof(mem) / sizeof(long)];
	unsigned int i;

	if (info->entry.nr != SYS_ioctl ||
	    (info->entry.args[1] != KVM_SET_USER_MEMORY_REGION &&
	     info->entry.args[1] != KVM_SET_USER_MEMORY_REGION2))
		return 0;
	/*
	 * The first version's fields open the second's. PTRACE_PEEKDATA: the
	 * workbench's kernel has no process_vm_readv().
	 */
	for (i = 0; i < sizeof(mem) / sizeof(long); i++) {
		errno = 0;
		words[i] = ptrace(PTRACE_PEEKDATA, tid, addr + i * sizeof(long), 0);
		if (errno)
			die("PTRACE_PEEKDATA");
	}
	memcpy(&mem, words, sizeof(mem));
	if (!mem.memory_size || mem.guest_phys_addr < (1ULL << 32))
		return 0;
	return mem.guest_phys_addr;
}

static void on_alarm(int sig)
{
}

static int cmd_slot(pid_t pid, const char *comm, char **specs, int nr)
{
	struct __ptrace_syscall_info info;
	pid_t tid = find_thread(pid, comm);
	struct slot_phase *phase;
	struct sigaction sa = { .sa_handler = on_alarm };
	struct user_regs_struct regs;
	/* per phase */
	int cur = 0, failed = 0, runs = 0;
	double t0 = 0, last_fail = 0, gave_up = 0;
	bool in_phase = false, inject = false, observe = false;
	unsigned long long gpa;
	int status, sig, i;
	char *colon;

	phase = calloc(nr, sizeof(*phase));
	for (i = 0; i < nr; i++) {
		colon = strchr(specs[i], ':');
		if (!colon)
			goto usage;
		*colon = 0;
		phase[i].name = specs[i];
		phase[i].seconds = atof(colon + 1);
		if (!strcmp(specs[i], "EINTR"))
			phase[i].err = EINTR;
		else if (!strcmp(specs[i], "ENODEV"))
			phase[i].err = ENODEV;
		else if (!strcmp(specs[i], "ENXIO"))
			phase[i].err = ENXIO;
		else
			goto usage;
	}

	/* No phase ends without a bound: give up after 120 s */
	sigaction(SIGALRM, &sa, NULL);
	alarm(120);

	if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD))
		die("PTRACE_SEIZE");
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0))
		die("PTRACE_INTERRUPT");
	printf("poke: watching %s (%d) for slot creations above 4 GiB\n", comm, tid);

	while (cur < nr) {
		if (waitpid(tid, &status, __WALL) < 0) {
			if (errno == EINTR) {
				printf("poke: phase %d %s: not done after 120 s, letting %s go\n",
				       cur + 1, phase[cur].name, comm);
				break;
			}
			die("waitpid");
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			printf("poke: %s exited\n", comm);
			return 1;
		}
		sig = 0;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80) && syscall_info(tid, &info)) {
			if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
				if (info.entry.nr == SYS_ioctl && info.entry.args[1] == KVM_RUN &&
				    in_phase && !observe) {
					if (!runs)
						gave_up = last_fail - t0;
					runs++;
				}
				gpa = slot_creation(tid, &info);
				if (gpa && !in_phase) {
					in_phase = true;
					failed = runs = 0;
					t0 = now();
				}
				if (gpa) {
					double t = now() - t0;
					bool more = !failed ||
						(phase[cur].seconds > 0 && t < phase[cur].seconds) ||
						(phase[cur].seconds < 0 && !runs && t < 15);

					if (more) {
						/* Skip the ioctl: it fails at the exit stop */
						if (ptrace(PTRACE_GETREGS, tid, 0, &regs))
							die("PTRACE_GETREGS");
						regs.orig_rax = -1;
						if (ptrace(PTRACE_SETREGS, tid, 0, &regs))
							die("PTRACE_SETREGS");
						inject = true;
						failed++;
						last_fail = now();
					} else {
						observe = true;
						printf("poke: phase %d %s: %d creations of the slot at 0x%llx failed over %.3f s; %s, %.3f s after the first\n",
						       cur + 1, phase[cur].name, failed, gpa, last_fail - t0,
						       runs ? "the thread ran the guest before it created the slot again" :
							      "retried before the guest ran again",
						       t);
						if (runs)
							printf("poke: phase %d %s: the thread stopped retrying %.3f s after the first failure (%d KVM_RUN before the next creation)\n",
							       cur + 1, phase[cur].name, gave_up, runs);
					}
				}
			} else if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
				if (inject) {
					if (ptrace(PTRACE_GETREGS, tid, 0, &regs))
						die("PTRACE_GETREGS");
					regs.rax = -phase[cur].err;
					if (ptrace(PTRACE_SETREGS, tid, 0, &regs))
						die("PTRACE_SETREGS");
					inject = false;
				} else if (observe) {
					printf("poke: phase %d %s: the next creation returned %lld\n",
					       cur + 1, phase[cur].name, (long long)info.exit.rval);
					observe = in_phase = false;
					cur++;
				}
			}
		} else if (!(status >> 16) && WSTOPSIG(status) != SIGTRAP) {
			sig = WSTOPSIG(status);
		}
		if (cur < nr && ptrace(PTRACE_SYSCALL, tid, 0, sig))
			die("PTRACE_SYSCALL");
		if (cur >= nr && ptrace(PTRACE_DETACH, tid, 0, sig))
			die("PTRACE_DETACH");
	}
	if (cur < nr)
		ptrace(PTRACE_DETACH, tid, 0, 0);
	printf("poke: let %s go\n", comm);
	return cur < nr;

usage:
	fprintf(stderr, "poke: phases are ERRNO:SECONDS, ERRNO one of EINTR, ENODEV, ENXIO\n");
	return 2;
}

static int cmd_nocap(unsigned long cap, char **argv)
{
	struct __ptrace_syscall_info info;
	bool in_check = false;
	struct user_regs_struct regs;
	int status, sig;
	pid_t child;

	child = fork();
	if (child < 0)
		die("fork");
	if (!child) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0))
			die("PTRACE_TRACEME");
		raise(SIGSTOP);
		execv(argv[0], argv);
		die(argv[0]);
	}

	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	if (ptrace(PTRACE_SETOPTIONS, child, 0,
		   PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL))
		die("PTRACE_SETOPTIONS");

	for (sig = 0;;) {
		if (ptrace(PTRACE_SYSCALL, child, 0, sig))
			die("PTRACE_SYSCALL");
		if (waitpid(child, &status, 0) < 0)
			die("waitpid");
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		if (WIFSIGNALED(status))
			return 128 + WTERMSIG(status);
		sig = 0;
		if (WSTOPSIG(status) != (SIGTRAP | 0x80)) {
			/* The SIGTRAP of execve() is ours, the rest the program's */
			if (WSTOPSIG(status) != SIGTRAP)
				sig = WSTOPSIG(status);
			continue;
		}
		if (!syscall_info(child, &info))
			continue;
		if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
			in_check = info.entry.nr == SYS_ioctl &&
				   info.entry.args[1] == KVM_CHECK_EXTENSION &&
				   info.entry.args[2] == cap;
		} else if (info.op == PTRACE_SYSCALL_INFO_EXIT && in_check) {
			if (ptrace(PTRACE_GETREGS, child, 0, &regs))
				die("PTRACE_GETREGS");
			fprintf(stderr, "poke: KVM_CHECK_EXTENSION(%lu) answered %lld, made 0\n",
				cap, (long long)regs.rax);
			regs.rax = 0;
			if (ptrace(PTRACE_SETREGS, child, 0, &regs))
				die("PTRACE_SETREGS");
			break;
		}
	}

	if (ptrace(PTRACE_DETACH, child, 0, 0))
		die("PTRACE_DETACH");
	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "reset"))
		return cmd_reset(atoi(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "hold"))
		return cmd_hold(atoi(argv[2]), argv[3], atof(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "slot"))
		return cmd_slot(atoi(argv[2]), argv[3], argv + 4, argc - 4);
	if (argc >= 4 && !strcmp(argv[1], "nocap"))
		return cmd_nocap(strtoul(argv[2], NULL, 0), argv + 3);
	fprintf(stderr, "usage: poke reset PID | hold PID COMM SECONDS | slot PID COMM ERRNO:SECONDS... |\n"
			"       nocap CAP PROGRAM ARGS...\n");
	return 2;
}
