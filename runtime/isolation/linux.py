"""The few Linux system calls Python 3.11 lacks, through one small ctypes module.

os.unshare/os.setns only arrive in Python 3.12, and mount/umount2/pivot_root/prctl never did.
Every wrapper raises OSError built from errno (so callers see "mount /x: Permission denied"),
never returns a C status code.
"""

from __future__ import annotations

import ctypes
import os
import signal


def _load_libc() -> ctypes.CDLL:
    # glibc's soname first: ctypes.util.find_library("c") runs `ldconfig -p` in a subprocess
    # (~15 ms on every CLI start); it is only the fallback for a libc with another soname.
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library
        return ctypes.CDLL(find_library("c"), use_errno=True)


_libc = _load_libc()

# Namespace flags (linux/sched.h).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags (linux/mount.h).
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24

# umount2(2) flags.
MNT_DETACH = 2

# prctl(2) options.
PR_SET_PDEATHSIG = 1
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_MACHINE = os.uname().machine  # not platform.machine(): importing platform costs ~10 ms
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(_MACHINE)
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}.get(_MACHINE)
SECCOMP_SET_MODE_FILTER = 1

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]


def _check(result: int, what: str, path: str | None = None) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return result


def _b(value: str | os.PathLike | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    """Move the calling thread into new namespaces (CLONE_NEW* flags)."""
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace the file descriptor (from /proc/PID/ns/*) refers to."""
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str | None, target: str | os.PathLike, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    """mount(2); raises OSError naming the target."""
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount {fstype or 'bind'} on {os.fspath(target)}", os.fspath(target))


def umount2(target: str | os.PathLike, flags: int = 0) -> None:
    """umount2(2)."""
    _check(_libc.umount2(_b(target), flags), f"umount {os.fspath(target)}", os.fspath(target))


def pivot_root(new_root: str | os.PathLike, put_old: str | os.PathLike) -> None:
    """pivot_root(2): glibc has no wrapper, so this goes through syscall(2)."""
    if _SYS_PIVOT_ROOT is None:
        raise OSError(38, f"pivot_root: unsupported architecture {_MACHINE}")
    _check(_libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root",
           os.fspath(new_root))


def seccomp_set_mode_filter(flags: int, program_address: int) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): glibc has no wrapper. program_address
    points at a struct sock_fprog whose program libseccomp compiled (see seccomp.py)."""
    if _SYS_SECCOMP is None:
        raise OSError(38, f"seccomp: unsupported architecture {_MACHINE}")
    _check(_libc.syscall(ctypes.c_long(_SYS_SECCOMP), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                         ctypes.c_long(flags),
                         ctypes.c_void_p(program_address)), "seccomp")


def sethostname(name: str) -> None:
    """sethostname(2), inside the container's UTS namespace."""
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2); returns the call's non-negative result."""
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        return int(handle.read())


def pid_exists(pid: int) -> bool:
    """Whether a process with this PID exists (signal 0; EPERM still means it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reset_signal_dispositions() -> None:
    """In a forked child before exec: default dispositions and an empty mask, so the container's
    process does not inherit the Python parent's handlers or blocked signals. Nothing here
    imports: a forked child must not touch the import machinery (another thread may have held
    its lock at fork time)."""
    for number in range(1, signal.NSIG):
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(number, signal.SIG_DFL)
            except (OSError, ValueError):
                continue
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
