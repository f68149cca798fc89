"""The few Linux system calls Python 3.11 lacks, through one small ctypes module.

os.unshare/os.setns only arrive in Python 3.12; mount/umount2/pivot_root/prctl and openat2
(path resolution confined to a root, Linux >= 5.6; used by confine.py) never did.
Every wrapper raises OSError built from errno (so callers see "mount /x: Permission denied"),
never returns a C status code.
"""

from __future__ import annotations

import ctypes
import errno
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

# openat2(2) resolve flags (linux/openat2.h).
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# *at(2) flags (linux/fcntl.h).
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000

_MACHINE = os.uname().machine  # not platform.machine(): importing platform costs ~10 ms
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(_MACHINE)
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}.get(_MACHINE)
SECCOMP_SET_MODE_FILTER = 1
_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(_MACHINE)
_SYS_OPENAT2 = 437       # the same number on every architecture (new syscalls are unified)
_SYS_FCHMODAT2 = 452     # Linux >= 6.6; the first with AT_SYMLINK_NOFOLLOW / AT_EMPTY_PATH


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long
_libc.fchownat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint,
                           ctypes.c_int]
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


def bpf(command: int, attr: bytes) -> int:
    """bpf(2) with a packed union bpf_attr; returns what the kernel returns (a new fd for
    BPF_PROG_LOAD). glibc has no wrapper."""
    if _SYS_BPF is None:
        raise OSError(errno.ENOSYS, "bpf: not supported on this architecture")
    buffer = ctypes.create_string_buffer(attr, len(attr))
    return _check(_libc.syscall(ctypes.c_long(_SYS_BPF), ctypes.c_long(command), buffer,
                                ctypes.c_uint(len(attr))), "bpf")


def openat2(dirfd: int, path: str | bytes, flags: int, mode: int, resolve: int) -> int:
    """openat2(2): a descriptor for path resolved from dirfd under the RESOLVE_* rules.

    The kernel answers EAGAIN when a rename anywhere on the system raced a ".." lookup under
    RESOLVE_IN_ROOT/BENEATH (it cannot prove containment then); the lookup is simply retried."""
    if not flags & os.O_CREAT and flags & os.O_TMPFILE != os.O_TMPFILE:
        mode = 0                 # openat2 refuses a mode it would not use (EINVAL)
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path) or b"."
    for _ in range(128):
        fd = _libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), raw, ctypes.byref(how),
                           ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):
            break
    raise OSError(err, os.strerror(err), os.fsdecode(raw))


def fchownat_empty(fd: int, uid: int, gid: int) -> None:
    """Change the owner of what fd (also an O_PATH descriptor) refers to: AT_EMPTY_PATH."""
    if _libc.fchownat(fd, b"", uid, gid, AT_EMPTY_PATH) == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def fchmodat_empty(fd: int, mode: int) -> None:
    """chmod what fd (also an O_PATH descriptor) refers to. fchmodat2's AT_EMPTY_PATH where the
    kernel has it (>= 6.6), else the descriptor's /proc/self/fd entry, as glibc does."""
    global _HAVE_FCHMODAT2
    if _HAVE_FCHMODAT2:
        if _libc.syscall(ctypes.c_long(_SYS_FCHMODAT2), ctypes.c_int(fd), b"", ctypes.c_uint(mode),
                         ctypes.c_int(AT_EMPTY_PATH)) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(err, os.strerror(err))
        _HAVE_FCHMODAT2 = False
    os.chmod(f"/proc/self/fd/{fd}", mode)


_HAVE_FCHMODAT2 = True


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
