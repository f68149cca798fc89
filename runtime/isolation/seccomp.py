"""Docker's seccomp profiles for containers and build steps: parse, resolve, compile, load.

    program = program_for(spec)      # parent, before the fork: None when unconfined/privileged
    program.load()                   # the container's first process, just before exec

A profile is Docker's JSON format (defaultAction, defaultErrnoRet, architectures or archMap,
flags, and syscalls entries with name/names, action, errnoRet, args and includes/excludes on
capabilities, architectures and a minimum kernel). pallet's default profile is its own data
file, seccomp_default.json, with the behaviour of Docker's default profile. The steps are
Docker's and runc's:
- resolve (dockerd's step): entries whose includes/excludes do not match the container's
  capability bounding set, this architecture or this kernel are dropped; the native
  architecture and its sub-architectures from archMap become the filter's architectures.
- compile (runc's step): libseccomp, through pyseccomp, builds the filter. Names libseccomp does
  not know are skipped, rules with the default action are skipped, and conditions that repeat
  an argument index become one rule each (any of them matches); otherwise a rule's conditions
  must all hold.
- load: the seccomp(2) call libseccomp's seccomp_load makes, with the program libseccomp
  generated, without its no_new_privs side effect (pallet sets that only when asked).

Why the compiled program is cached: importing pyseccomp (ctypes.util.find_library runs
ldconfig) and adding ~440 rules cost ~45 ms, a third of `run --rm busybox true`. The BPF
libseccomp exports depends only on the resolved profile and the libseccomp version, so it is
kept in the private code cache (base/codecache: our own 0700 directory, files 0600) with the
resolved profile and version it came from; a hit loads those bytes without importing pyseccomp.
"""

from __future__ import annotations

import ctypes
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.isolation import linux

DEFAULT = "default"
UNCONFINED = "unconfined"
DEFAULT_PROFILE = Path(__file__).with_name("seccomp_default.json")
FORMAT = "pallet-seccomp-v1"

ACTIONS = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
FILTER_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
          "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
          "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
          "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
          "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64")
# uname's machine -> the architecture names Docker's profiles use (Go's, as dockerd maps them)
# and libseccomp's name for it.
NATIVE = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
          "armv7l": ("arm", "SCMP_ARCH_ARM"), "i686": ("x86", "SCMP_ARCH_X86"),
          "s390x": ("s390x", "SCMP_ARCH_S390X"), "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
          "riscv64": ("riscv64", "SCMP_ARCH_RISCV64")}
EPERM = 1


class ProfileError(PalletError):
    """A seccomp profile that cannot be used; the message is Docker's where Docker has one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=125)


@dataclass(frozen=True)
class Condition:
    """One comparison of a syscall argument (a profile's "args" entry)."""

    index: int
    op: str
    value: int
    value_two: int = 0


@dataclass(frozen=True)
class Rule:
    """A profile's action for some syscalls, when all its conditions hold."""

    names: tuple[str, ...]
    action: str
    errno: int | None
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Resolved:
    """A profile resolved for one container on this machine: what libseccomp compiles."""

    default_action: str
    default_errno: int | None
    architectures: tuple[str, ...]
    flags: int
    rules: tuple[Rule, ...]


# -- parsing and resolving (Docker's rules) ----------------------------------------------------

def _fail(message: str) -> ProfileError:
    return ProfileError(f"Decoding seccomp profile failed: {message}")


def _typed(value, kind, what: str):
    if value is None:
        return None
    names = {str: "a string", int: "a number", list: "a list", dict: "an object"}
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _fail(f"{what} must be {names[kind]}, not {json.dumps(value)[:40]}")
    return value


def _strings(value, what: str) -> list[str]:
    items = _typed(value, list, what) or []
    return [_typed(item, str, what) for item in items]


def _u64(value, what: str) -> int:
    number = _typed(value, int, what) or 0
    if not 0 <= number < 1 << 64:
        raise _fail(f"{what} must be between 0 and 2^64-1, not {number}")
    return number


def _action(name: str) -> str:
    if name == "SCMP_ACT_NOTIFY":
        raise ProfileError("SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), which pallet "
                           "does not support")
    if name not in ACTIONS:
        raise ProfileError(f"string {name} is not a valid action for seccomp")
    return name


def parse(text: str) -> dict:
    """The profile document, checked field by field (a wrong type is an error, as in Docker)."""
    try:
        profile = json.loads(text)
    except ValueError as error:
        raise _fail(str(error)) from error
    except RecursionError as error:
        raise _fail("the document is nested too deeply") from error
    return _typed(profile, dict, "the profile")


def kernel_at_least(minimum: str, release: str | None = None) -> bool:
    """Docker's minKernel: compare kernel.major.minor with the running kernel."""
    def numbers(text: str) -> tuple[int, ...]:
        parts = []
        for piece in text.split("-", 1)[0].split(".")[:3]:
            digits = "".join(c for c in piece if c.isdigit()) if piece else ""
            parts.append(int(digits) if digits else 0)
        return tuple(parts + [0] * (3 - len(parts)))
    if not minimum.replace(".", "").isdigit():
        raise _fail(f"invalid minKernel {minimum!r}")
    return numbers(release or os.uname().release) >= numbers(minimum)


def resolve(profile: dict, capabilities: frozenset[str], *, machine: str | None = None,
            release: str | None = None) -> Resolved:
    """dockerd's setupSeccomp: keep the entries that apply to these capabilities (CAP_ names
    of the bounding set), this architecture and this kernel."""
    native, native_scmp = NATIVE.get(machine or os.uname().machine, ("", ""))
    default = _action(_typed(profile.get("defaultAction"), str, "defaultAction") or "")
    default_errno = _typed(profile.get("defaultErrnoRet"), int, "defaultErrnoRet")
    architectures = _strings(profile.get("architectures"), "architectures")
    arch_map = _typed(profile.get("archMap"), list, "archMap") or []
    if architectures and arch_map:
        raise ProfileError("'architectures' and 'archMap' were specified in the seccomp profile, "
                           "use either 'architectures' or 'archMap'")
    for entry in arch_map:
        entry = _typed(entry, dict, "archMap entry")
        if entry.get("architecture") == native_scmp:
            architectures = [native_scmp] + _strings(entry.get("subArchitectures"),
                                                     "subArchitectures")
            break
    for arch in architectures:
        if arch not in ARCHES:
            raise ProfileError(f"string {arch} is not a valid arch for seccomp")
    flags = 0
    for flag in _strings(profile.get("flags"), "flags"):
        if flag not in FILTER_FLAGS:
            raise ProfileError(f"seccomp flag {flag!r} is not supported")
        flags |= FILTER_FLAGS[flag]
    rules = []
    for entry in _typed(profile.get("syscalls"), list, "syscalls") or []:
        entry = _typed(entry, dict, "syscalls entry")
        rule = _resolve_entry(entry, capabilities, native, release)
        if rule is not None:
            rules.append(rule)
    return Resolved(default_action=default, default_errno=default_errno,
                    architectures=tuple(dict.fromkeys(architectures)), flags=flags,
                    rules=tuple(rules))


def _applies(entry: dict, capabilities: frozenset[str], native: str, release: str | None) -> bool:
    excludes = _typed(entry.get("excludes"), dict, "excludes") or {}
    includes = _typed(entry.get("includes"), dict, "includes") or {}
    if native in _strings(excludes.get("arches"), "excludes.arches"):
        return False
    if any(cap in capabilities for cap in _strings(excludes.get("caps"), "excludes.caps")):
        return False
    minimum = _typed(excludes.get("minKernel"), str, "excludes.minKernel")
    if minimum and kernel_at_least(minimum, release):
        return False
    arches = _strings(includes.get("arches"), "includes.arches")
    if arches and native not in arches:
        return False
    if any(cap not in capabilities for cap in _strings(includes.get("caps"), "includes.caps")):
        return False
    minimum = _typed(includes.get("minKernel"), str, "includes.minKernel")
    return not minimum or kernel_at_least(minimum, release)


def _resolve_entry(entry: dict, capabilities: frozenset[str], native: str,
                   release: str | None) -> Rule | None:
    if not _applies(entry, capabilities, native, release):
        return None
    name = _typed(entry.get("name"), str, "name")
    names = _strings(entry.get("names"), "names")
    if name and names:
        raise ProfileError("'name' and 'names' were specified in the seccomp profile, use "
                           "either 'name' or 'names'")
    action = _action(_typed(entry.get("action"), str, "action") or "")
    errno = _typed(entry.get("errnoRet"), int, "errnoRet")
    if errno is not None and action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        raise ProfileError(f"errnoRet is not supported for action {action}")
    conditions = []
    for arg in _typed(entry.get("args"), list, "args") or []:
        arg = _typed(arg, dict, "args entry")
        op = _typed(arg.get("op"), str, "op") or ""
        if op not in OPERATORS:
            raise ProfileError(f"string {op} is not a valid operator for seccomp")
        index = _typed(arg.get("index"), int, "index") or 0
        if not 0 <= index < 6:
            raise ProfileError(f"seccomp argument index {index} is out of range (0-5)")
        conditions.append(Condition(index=index, op=op, value=_u64(arg.get("value"), "value"),
                                    value_two=_u64(arg.get("valueTwo"), "valueTwo")))
    return Rule(names=tuple([name] if name else names), action=action, errno=errno,
                conditions=tuple(conditions))


# -- compiling (libseccomp) and caching ----------------------------------------------------------

def _action_value(seccomp, action: str, errno: int | None) -> int:
    if action == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(EPERM if errno is None else errno)
    if action == "SCMP_ACT_TRACE":
        return seccomp.TRACE(EPERM if errno is None else errno)
    return {"SCMP_ACT_KILL": seccomp.KILL_THREAD, "SCMP_ACT_KILL_THREAD": seccomp.KILL_THREAD,
            "SCMP_ACT_KILL_PROCESS": seccomp.KILL_PROCESS, "SCMP_ACT_TRAP": seccomp.TRAP,
            "SCMP_ACT_ALLOW": seccomp.ALLOW, "SCMP_ACT_LOG": seccomp.LOG}[action]


def compile_bpf(resolved: Resolved) -> bytes:
    """The filter libseccomp generates for a resolved profile (seccomp_export_bpf)."""
    import pyseccomp as seccomp  # only on a cache miss: its import runs ldconfig

    default = _action_value(seccomp, resolved.default_action, resolved.default_errno)
    handle = seccomp.SyscallFilter(default)
    handle.set_attr(seccomp.Attr.CTL_NNP, 0)
    for arch in resolved.architectures:
        value = getattr(seccomp.Arch, arch[len("SCMP_ARCH_"):])
        if not handle.exist_arch(value):
            handle.add_arch(value)
    for rule in resolved.rules:
        action = _action_value(seccomp, rule.action, rule.errno)
        if action == default:
            continue  # runc: a rule with the default action changes nothing
        conditions = [seccomp.Arg(c.index, OPERATORS[c.op], c.value, c.value_two)
                      for c in rule.conditions]
        indices = [c.index for c in rule.conditions]
        groups = ([[c] for c in conditions] if len(set(indices)) < len(indices)
                  else [conditions])
        for name in rule.names:
            number = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
            if number == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp, as runc skips it
                continue
            for group in groups:
                handle.add_rule(action, number, *group)
    fd = os.memfd_create("pallet-seccomp", os.MFD_CLOEXEC)
    with open(fd, "w+b") as exported:
        handle.export_bpf(exported)
        exported.seek(0)
        return exported.read()


def _libseccomp_version() -> str:
    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]
    try:
        library = ctypes.CDLL("libseccomp.so.2")
    except OSError as error:
        raise ProfileError("seccomp needs libseccomp (Debian package libseccomp2), which is not "
                           "installed") from error
    library.seccomp_version.restype = ctypes.POINTER(Version)
    version = library.seccomp_version().contents
    return f"{version.major}.{version.minor}.{version.micro}"


_programs: dict[str, "Program"] = {}


def program(resolved: Resolved) -> "Program":
    """The loadable program for a resolved profile, from the cache when it was compiled before."""
    from pallet.base import codecache

    document = json.dumps([FORMAT, _libseccomp_version(), os.uname().machine,
                           resolved.default_action, resolved.default_errno,
                           resolved.architectures, resolved.flags,
                           [[r.names, r.action, r.errno,
                             [[c.index, c.op, c.value, c.value_two] for c in r.conditions]]
                            for r in resolved.rules]])
    if document in _programs:
        return _programs[document]
    directory = codecache.cache_dir()
    # The file holds the document it was compiled from and is used only when that matches in
    # full, so the short checksum in its name only has to spread entries, not prove identity.
    name = f"seccomp-{zlib.crc32(document.encode()):08x}-{len(document):x}.bpf"
    path = os.path.join(directory, name) if directory else None
    cached = codecache.read_private(path) if path else None
    if (isinstance(cached, tuple) and len(cached) == 2 and cached[0] == document
            and isinstance(cached[1], bytes) and cached[1] and not len(cached[1]) % 8):
        bpf = cached[1]
    else:
        bpf = compile_bpf(resolved)
        if path:
            codecache.write_private(path, (document, bpf))
    _programs[document] = Program(bpf, resolved.flags)
    return _programs[document]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Program:
    """A compiled filter, ready to load: built in the parent, loaded in the forked child (which
    may no longer import anything, so load() only calls into ctypes objects made here)."""

    def __init__(self, bpf: bytes, flags: int) -> None:
        self.bpf = bpf
        self.flags = flags
        self._buffer = ctypes.create_string_buffer(bpf, len(bpf))
        self._fprog = _SockFprog(len(bpf) // 8, ctypes.cast(self._buffer, ctypes.c_void_p))

    def load(self) -> None:
        linux.seccomp_set_mode_filter(self.flags, ctypes.addressof(self._fprog))


def program_for(spec) -> Program | None:
    """The filter for a ContainerSpec: none when privileged or unconfined (as Docker), else its
    profile (Docker's default or the JSON it carries) resolved against its capabilities."""
    from pallet.runtime.isolation.spec import bounding_set

    if spec.privileged or spec.seccomp == UNCONFINED:
        return None
    profile = parse(DEFAULT_PROFILE.read_text() if spec.seccomp == DEFAULT else spec.seccomp)
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None  # Docker: no default action and no rules is no filter
    capabilities = frozenset(f"CAP_{name}" for name in
                             bounding_set(cap_add=spec.cap_add, cap_drop=spec.cap_drop))
    return program(resolve(profile, capabilities))
