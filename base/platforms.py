"""Platform specifiers (os[/arch[/variant]]) read as containerd's platforms package reads them:
one parser for FROM --platform, build/pull/load/import --platform and image index selection.

    parse_platform(text) -> Platform        normalised: x86_64 -> amd64, aarch64 -> arm64,
                                            armhf -> arm/v7, a bare "arm64" -> linux/arm64, ...
    host_platform() -> Platform             this machine (linux/<arch>)
    Platform.matches(os, arch, variant)     an index entry's platform, normalised the same way

A malformed or unknown specifier raises ValueError with containerd's words; each caller names
the flag or instruction. Here (pallet.base) because the grammar, the builder, the engine and
the fronts all read platforms.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

KNOWN_OS = {"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
            "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"}
KNOWN_ARCH = {"386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le",
              "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
              "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm", "x86_64", "x86-64",
              "aarch64", "armhf", "armel", "i386", "i486", "i586", "i686"}
_ARCH_ALIASES = {"x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "aarch64": ("arm64", ""),
                 "armhf": ("arm", "v7"), "armel": ("arm", "v6"), "i386": ("386", ""),
                 "i486": ("386", ""), "i586": ("386", ""), "i686": ("386", "")}


@dataclass(frozen=True)
class Platform:
    """os/architecture[/variant], as image indexes and --platform name it."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, os_name: str, architecture: str, variant: str = "") -> bool:
        other = _normalize(os_name.lower(), architecture.lower(), (variant or "").lower())
        if (other.os, other.architecture) != (self.os, self.architecture):
            return False
        return not self.variant or not other.variant or other.variant == self.variant


def host_arch() -> str:
    """This machine's architecture, in Go's names."""
    return _normalize("linux", os.uname().machine.lower(), "").architecture


def host_platform() -> Platform:
    return Platform("linux", host_arch())


def parse_platform(text: str) -> Platform:
    parts = text.lower().split("/")
    if len(parts) > 3 or not all(re.fullmatch(r"[a-z0-9_.-]+", part) for part in parts):
        raise ValueError(f'"{text}": cannot parse platform specifier: invalid argument')
    if len(parts) == 1:
        if parts[0] in KNOWN_OS:
            return _normalize(parts[0], host_arch(), "")
        if parts[0] in KNOWN_ARCH:
            return _normalize("linux", parts[0], "")
        raise ValueError(f'"{text}": unknown operating system or architecture: invalid argument')
    if parts[0] not in KNOWN_OS or parts[1] not in KNOWN_ARCH:
        raise ValueError(f'"{text}": unknown operating system or architecture: invalid argument')
    return _normalize(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def _normalize(os_name: str, arch: str, variant: str) -> Platform:
    arch, implied = _ARCH_ALIASES.get(arch, (arch, ""))
    variant = variant or implied
    if arch == "arm64" and variant in ("8", "v8"):
        variant = ""
    elif arch == "arm":
        variant = {"": "v7", "5": "v5", "6": "v6", "7": "v7", "8": "v8"}.get(variant, variant)
    return Platform(os_name, arch, variant)
