"""The data handed to the isolation core: what to run, in what root, with which limits.

Frozen dataclasses only; no behaviour beyond validation and small derived values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError


class StartError(PalletError):
    """The container's process could not be started (exit_code is Docker's 125/126/127).
    Here, not in core.py, so `exec` (execute.py) raises it without loading the start path."""

# Capability numbers (linux/capability.h), in kernel order.
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)

# moby/moby oci/caps/defaults.go: the bounding set every non-privileged container gets.
DOCKER_DEFAULT_CAPABILITIES = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})

# moby/moby oci/defaults.go: paths hidden from (masked) or read-only in every container.
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def normalize_capability(name: str) -> str:
    """'net_admin', 'CAP_NET_ADMIN' and 'NET_ADMIN' all mean NET_ADMIN; 'ALL' is kept."""
    upper = name.strip().upper()
    if upper.startswith("CAP_"):
        upper = upper[4:]
    if upper != "ALL" and upper not in CAPABILITIES:
        raise ValueError(f"unknown capability: {name!r}")
    return upper


def bounding_set(*, cap_add: tuple[str, ...] = (), cap_drop: tuple[str, ...] = (),
                 privileged: bool = False) -> frozenset[str]:
    """Docker's rule: start from the default set, drop, then add ('ALL' works on both)."""
    if privileged:
        return frozenset(CAPABILITIES)
    adds = {normalize_capability(c) for c in cap_add}
    drops = {normalize_capability(c) for c in cap_drop}
    caps = set(DOCKER_DEFAULT_CAPABILITIES)
    caps = set() if "ALL" in drops else caps - drops
    caps |= set(CAPABILITIES) if "ALL" in adds else adds - {"ALL"}
    return frozenset(caps)


@dataclass(frozen=True)
class Mount:
    """A mount declared for the container: type 'bind' or 'tmpfs'.

    options are extra mount(8)-style data for tmpfs (e.g. 'size=64m', 'mode=1777').
    """

    type: str
    source: str = ""
    target: str = ""
    readonly: bool = False
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in ("bind", "tmpfs"):
            raise ValueError(f"mount type must be bind or tmpfs, not {self.type!r}")
        if not self.target.startswith("/"):
            raise ValueError(f"mount target must be an absolute path: {self.target!r}")


@dataclass(frozen=True)
class Ulimit:
    """One --ulimit: the soft and hard limit of a resource."""

    name: str  # resource name as Docker spells it: nofile, nproc, core, ...
    soft: int
    hard: int


@dataclass(frozen=True)
class NetworkConfig:
    """How the container is networked beyond spec.network's none/host.

    netns: a network namespace (a path such as /proc/PID/ns/net or /proc/PID/fd/N) the
    container joins instead of getting an empty one; runtime/network prepares it (bridged
    containers, build steps on the bridge) or it is another container's (container:NAME).
    addresses: the container's own IPv4 addresses, written to /etc/hosts with its hostname.
    embedded_dns: resolv.conf names the resolver at 127.0.0.11 (user-defined networks).
    """

    netns: str = ""
    addresses: tuple[str, ...] = ()
    embedded_dns: bool = False
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerSpec:
    """Everything the isolation core needs to run one process tree.

    rootfs_lowerdirs are the unpacked image layers, topmost first. upper_dir and work_dir are
    the overlayfs upper (the container's writable layer) and its work dir, on one filesystem.
    user is "" (root), "uid[:gid]" or names resolved in the container's /etc/passwd and
    /etc/group. memory/memory_swap are bytes; cpus a fraction of CPUs; pids a process count.
    extra_hosts are "name:ip" entries appended to /etc/hosts; dns replaces the nameservers.
    net carries a joined network namespace and the /etc/hosts and resolv.conf details of a
    networked container (NetworkConfig); None is a private empty namespace or the host's.
    etc_dir, when given, is where hosts/resolv.conf/hostname are written (a container's state
    dir); otherwise a private temp dir is used and removed afterwards.
    scratch_upper: the upper dir is a build step's, packed into a (synced) layer blob as soon
    as the process ends, so the overlay is mounted "volatile": its unmount skips the sync of
    the whole upper filesystem (every other writer's dirty data too), which a container's
    writable layer, kept across restarts, must have.
    """

    rootfs_lowerdirs: tuple[Path, ...]
    upper_dir: Path
    work_dir: Path
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: str = ""
    hostname: str = "localhost"
    network: str = "none"
    mounts: tuple[Mount, ...] = ()
    memory: int | None = None
    memory_swap: int | None = None
    cpus: float | None = None
    pids: int | None = None
    extra_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    readonly_rootfs: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    no_new_privileges: bool = False
    seccomp: str = "default"  # "default" (Docker's profile), "unconfined" or a profile's JSON text
    tty: bool = False
    console_size: tuple[int, int] | None = None  # (rows, columns) of the -t pty at start
    init: bool = False
    ulimits: tuple[Ulimit, ...] = ()
    etc_dir: Path | None = None
    cgroup_name: str | None = None
    extra_groups: tuple[str, ...] = field(default=())
    net: NetworkConfig | None = None
    scratch_upper: bool = False

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("no command specified")
        if self.network not in ("none", "host"):
            raise ValueError(f"network must be 'none' or 'host', not {self.network!r}")
        if not self.cwd.startswith("/"):
            raise ValueError(f"the working directory {self.cwd!r} is invalid, it needs to be an absolute path")
        bounding_set(cap_add=self.cap_add, cap_drop=self.cap_drop)  # validates names


@dataclass(frozen=True)
class ExitStatus:
    """How the container's main process ended. code is Docker's: exit code, or 128+signal."""

    code: int
    signal: int | None = None
    oom_killed: bool = False

    @classmethod
    def from_wait_status(cls, status: int, *, oom_killed: bool = False) -> "ExitStatus":
        import os

        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return cls(code=128 + sig, signal=sig, oom_killed=oom_killed)
        return cls(code=os.WEXITSTATUS(status), signal=None, oom_killed=oom_killed)
