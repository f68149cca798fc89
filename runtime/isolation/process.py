"""Child-side process set-up after pivot_root: limits, capabilities, user, working dir, exec.

Like rootfs.py these run in the container's first process; they change only that process,
so their cleanup is its exit. Failures raise ChildFailure with Docker's exit code for the case
(125 set-up failed, 126 cannot execute, 127 not found); isolation.py reports it to the parent.
"""

from __future__ import annotations

import errno
import os
import resource
import socket   # here, not in the functions: they run in the child, which must not import
import struct
import sys
import fcntl
import termios

from pallet.runtime.isolation import linux
from pallet.runtime.isolation.rootfs import ChildContext
from pallet.runtime.isolation.spec import CAPABILITIES, DEFAULT_PATH, bounding_set

class _NoImports:
    """sys.meta_path's first finder in a container's set-up once the image's files are its
    root: an import that sys.modules cannot answer fails here instead of searching them."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        raise ImportError(f"the container's set-up may not import {name} once it runs in the "
                          "image's files (the parent imports what the set-up uses)")


def refuse_imports() -> None:
    """From here on this process (a forked child) imports nothing. After pivot_root (or an
    exec's setns into the container's mounts) the module search path names the image's files:
    an image's socket.py would run here with every privilege the set-up still holds. What the
    steps use is imported at the top of their modules, before the fork."""
    sys.meta_path.insert(0, _NoImports)


RLIMITS = {
    "core": resource.RLIMIT_CORE, "cpu": resource.RLIMIT_CPU, "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE, "memlock": resource.RLIMIT_MEMLOCK,
    "nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
    "rss": resource.RLIMIT_RSS, "stack": resource.RLIMIT_STACK, "as": resource.RLIMIT_AS,
    "locks": 10, "sigpending": resource.RLIMIT_SIGPENDING,
    "msgqueue": resource.RLIMIT_MSGQUEUE, "nice": resource.RLIMIT_NICE,
    "rtprio": resource.RLIMIT_RTPRIO,
}


def fd_limit() -> int:
    """One past the highest descriptor this process may hold (close everything below it)."""
    return max(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 16)


class ChildFailure(Exception):
    """A set-up step failed in the child; code is the exit code Docker uses for it."""

    def __init__(self, message: str, code: int = 125, *, runtime: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.runtime = runtime  # False: Docker reports it as a daemon error, without prefix


def join_network_namespace(ctx: ChildContext) -> None:
    """A bridged container (or container:NAME) joins the namespace prepared for it."""
    fd = os.open(ctx.spec.net.netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns(fd, linux.CLONE_NEWNET)
    finally:
        os.close(fd)


def bring_up_loopback(ctx: ChildContext) -> None:
    """--network none still has a working lo, as in Docker."""
    if ctx.spec.network != "none":
        return
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def set_hostname(ctx: ChildContext) -> None:
    linux.sethostname(ctx.spec.hostname)


def set_rlimits(ctx: ChildContext) -> None:
    for ulimit in ctx.spec.ulimits:
        resource.setrlimit(RLIMITS[ulimit.name], (ulimit.soft, ulimit.hard))


MAX_ID = 2**31 - 1   # runc's libcontainer/user maxID


def resolve_user(ctx: ChildContext) -> None:
    """user[:group] by number or by name in the container's own /etc/passwd and /etc/group."""
    spec_user = ctx.spec.user or "0"
    name, _, group = spec_user.partition(":")
    passwd = _read_db("/etc/passwd")
    entry = next((e for e in passwd if e[0] == name), None)
    if entry is None and name.isdigit():
        entry = next((e for e in passwd if e[2] == name), None)
    if entry is not None:
        uid, gid, home, user_name = int(entry[2]), int(entry[3]), entry[5] or "/", entry[0]
    elif name.isdigit():
        uid, gid, home, user_name = int(name), 0, "/", None
    else:
        raise ChildFailure(f"unable to find user {name}: no matching entries in passwd file",
                           125, runtime=False)
    groups_db = _read_db("/etc/group")
    if group:
        match = next((g for g in groups_db if g[0] == group), None)
        if match is None and not group.isdigit():
            raise ChildFailure(f"unable to find group {group}: no matching entries in group file",
                               125, runtime=False)
        gid = int(match[2]) if match is not None else int(group)
    supplementary = {gid}
    if user_name is not None and not group:
        supplementary |= {int(g[2]) for g in groups_db
                          if len(g) > 3 and user_name in g[3].split(",") and g[2].isdigit()}
    for extra in ctx.spec.extra_groups:
        match = next((g for g in groups_db if g[0] == extra), None)
        if match is None and not extra.isdigit():
            raise ChildFailure(f"unable to find group {extra}: no matching entries in group file",
                               125, runtime=False)
        supplementary.add(int(match[2]) if match is not None else int(extra))
    if any(not 0 <= number <= MAX_ID for number in (uid, gid, *supplementary)):
        # runc's user.ErrRange (setuid/setgroups would fail with an OverflowError)
        raise ChildFailure(f"unable to find user {spec_user}: uids and gids must be in range "
                           f"0-{MAX_ID}", 125, runtime=False)
    ctx.uid, ctx.gid, ctx.home = uid, gid, home
    ctx.groups = tuple(sorted(supplementary))


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n").split(":") for line in handle
                    if line.strip() and not line.startswith("#") and line.count(":") >= 2]
    except OSError:
        return []


def make_workdir(ctx: ChildContext) -> None:
    """The working directory is created when missing, as runc does (it stays in the layer)."""
    if os.path.lexists(ctx.spec.cwd) and not os.path.isdir(ctx.spec.cwd):
        raise ChildFailure(f"Cannot mkdir: {ctx.spec.cwd} is not a directory", 125, runtime=False)
    try:
        os.makedirs(ctx.spec.cwd, mode=0o755, exist_ok=True)
    except OSError as error:
        raise ChildFailure(f"Cannot mkdir: {ctx.spec.cwd}: {error.strerror}", 125,
                           runtime=False) from error


TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def allocate_console(ctx: ChildContext) -> None:
    """-t: a pty from the container's own devpts (so `tty` names /dev/pts/0, as in Docker),
    bound at /dev/console, as the process's stdio and controlling terminal; the master goes
    back to the parent over ctx.console_fd (runc's console socket)."""
    if not ctx.spec.tty or ctx.console_fd is None:
        return
    master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave_path = f"/dev/pts/{number}"
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    os.fchown(slave, ctx.uid, 5)  # group tty
    if ctx.spec.console_size:  # before exec, so the command sees its size from the start
        rows, columns = ctx.spec.console_size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    if ctx.bind_console:
        linux.mount(slave_path, "/dev/console", None, linux.MS_BIND)
    with socket.socket(fileno=os.dup(ctx.console_fd)) as channel:
        socket.send_fds(channel, [b"console"], [master])
    os.close(master)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def drop_capabilities(ctx: ChildContext) -> None:
    """Shrink the bounding set to Docker's default (plus/minus --cap-add/--cap-drop)."""
    keep = bounding_set(cap_add=ctx.spec.cap_add, cap_drop=ctx.spec.cap_drop,
                        privileged=ctx.spec.privileged)
    last = linux.last_capability()
    for number in range(last + 1):
        name = CAPABILITIES[number] if number < len(CAPABILITIES) else None
        if name in keep:
            continue
        try:
            linux.prctl(linux.PR_CAPBSET_DROP, number)
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
    linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)


def set_no_new_privs(ctx: ChildContext) -> None:
    if ctx.spec.no_new_privileges:
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)


def load_seccomp_before_user(ctx: ChildContext) -> None:
    """runc's order without no_new_privs: loading a filter then takes CAP_SYS_ADMIN, which a
    non-root user loses at setuid, so it goes in before the user switch."""
    if ctx.seccomp is not None and not ctx.spec.no_new_privileges:
        ctx.seccomp.load()


def load_seccomp_last(ctx: ChildContext) -> None:
    """runc's order with no_new_privs: as late as possible, so only exec runs under it."""
    if ctx.seccomp is not None and ctx.spec.no_new_privileges:
        ctx.seccomp.load()


def switch_user(ctx: ChildContext) -> None:
    os.setgroups(list(ctx.groups))
    os.setgid(ctx.gid)
    os.setuid(ctx.uid)


def enter_workdir(ctx: ChildContext) -> None:
    try:
        os.chdir(ctx.spec.cwd)
    except OSError as error:
        raise ChildFailure(f'chdir to cwd ("{ctx.spec.cwd}") set in config.json failed: '
                           f"{error.strerror.lower()}", 126) from error


def environment(ctx: ChildContext) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in ctx.spec.env:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("HOME", ctx.home)  # runc fills HOME from the user's passwd entry
    return env


def find_executable(command: str, env: dict[str, str]) -> str:
    """Go's exec.LookPath as runc uses it, with Docker's error texts and exit codes."""
    if "/" in command:
        try:
            info = os.stat(command)
        except OSError as error:
            raise ChildFailure(f'exec: "{command}": stat {command}: {error.strerror.lower()}',
                               127) from error
        if not os.path.isfile(command) or not info.st_mode & 0o111:
            raise ChildFailure(f'exec: "{command}": permission denied', 126)
        return command
    for directory in (env.get("PATH") or DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", command)
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        if os.path.isfile(candidate) and info.st_mode & 0o111:
            return candidate
    raise ChildFailure(f'exec: "{command}": executable file not found in $PATH', 127)


def exec_command(ctx: ChildContext, keep_fd: int) -> None:
    env = environment(ctx)
    argv = list(ctx.spec.argv)
    path = find_executable(argv[0], env)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, fd_limit())
    try:
        os.execve(path, argv, env)
    except OSError as error:
        code = 127 if error.errno == errno.ENOENT else 126
        raise ChildFailure(f'exec: "{argv[0]}": {error.strerror.lower()}', code) from error
