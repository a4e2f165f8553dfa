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
	if (argc >= 4 && !strcmp(argv[1], "nocap"))
		return cmd_nocap(strtoul(argv[2], NULL, 0), argv + 3);
	fprintf(stderr, "usage: poke reset PID | hold PID COMM SECONDS | nocap CAP PROGRAM ARGS...\n");
	return 2;
}
