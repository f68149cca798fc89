/* Tries one system call and prints "NAME=ok" or "NAME=ERRNO" (EPERM, ENOSYS, ...).
 *
 * Built statically by tests/runtime/seccomp_probe.py and bind-mounted into busybox containers
 * of pallet and of a private dockerd, so both engines answer the same question with the same
 * binary. Raw syscall(2) everywhere: libc wrappers may try another call first (glibc's clone
 * tries clone3) and would hide which call the filter refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_PROCESS_KEYRING -2
#define KEYCTL_GET_KEYRING_ID 0

static int report(const char *name, long result) {
    if (result < 0) {
        printf("%s=%s\n", name, strerrorname_np(errno));
        return 1;
    }
    printf("%s=ok\n", name);
    return 0;
}

static long clone_flags(unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: probe CALL [ARG]\n");
        return 2;
    }
    const char *call = argv[1];
    const char *arg = argc > 2 ? argv[2] : "";
    if (!strcmp(call, "unshare-user"))
        return report(call, syscall(SYS_unshare, CLONE_NEWUSER));
    if (!strcmp(call, "clone-user"))
        return report(call, clone_flags(CLONE_NEWUSER));
    if (!strcmp(call, "clone-plain"))
        return report(call, clone_flags(0));
    if (!strcmp(call, "clone3")) {
        /* size 0 is invalid: EINVAL from the kernel itself, ENOSYS from the filter */
        return report(call, syscall(SYS_clone3, NULL, 0));
    }
    if (!strcmp(call, "userns-mount")) {
        /* what a build step would try to gain mount rights: a user namespace, then a mount */
        if (report("unshare-user-mnt", syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS)))
            return 1;
        return report(call, syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
    }
    if (!strcmp(call, "keyctl"))
        return report(call, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1));
    if (!strcmp(call, "add_key"))
        return report(call, syscall(SYS_add_key, "user", "pallet-probe", "x", 1,
                                    KEY_SPEC_PROCESS_KEYRING));
    if (!strcmp(call, "personality"))
        return report(call, syscall(SYS_personality, strtoul(arg, NULL, 0)));
    if (!strcmp(call, "socket"))
        return report(call, syscall(SYS_socket, (int)strtol(arg, NULL, 0), 1 /* SOCK_STREAM */, 0));
    if (!strcmp(call, "mkdir"))
        return report(call, syscall(SYS_mkdir, arg, 0755));
    if (!strcmp(call, "getpid"))
        return report(call, syscall(SYS_getpid));
    fprintf(stderr, "probe: unknown call %s\n", call);
    return 2;
}
