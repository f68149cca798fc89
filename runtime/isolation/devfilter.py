"""The device rules of a container on cgroup v2: an eBPF program attached to its cgroup.

cgroup v2 has no devices controller (v1's devices.allow/deny); the kernel asks a
BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup instead, at every open and mknod
of a device node by a process inside. Without one, a container with CAP_MKNOD (Docker's
default set) could `mknod /tmp/disk b 254 0` and read the host's disk.

    attach(cgroup_dir, rules)    compile rules ("c 1:3 rwm", "b *:* m", ...) and attach

The program is runc's (libcontainer/cgroups/devices/devicefilter.go) for an allow-list: load the
request (type, access, major, minor) from the context, then one block per rule that returns 1
(allowed) when it matches, and 0 at the end. It is written as raw instructions because there is
no eBPF assembler among Python's well-kept libraries (bcc needs LLVM and kernel headers); the
program is 6 + at most 9 instructions per rule. The attachment holds the program: it lives as
long as the cgroup, so nothing needs to keep a file descriptor.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from pallet.runtime.isolation import linux

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

# struct bpf_cgroup_dev_ctx { u32 access_type (type | access << 16); u32 major; u32 minor; }
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4

# opcodes (linux/bpf.h, linux/bpf_common.h)
_LDX_W = 0x61        # BPF_LDX | BPF_MEM | BPF_W
_AND32_K = 0x54      # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74      # BPF_ALU | BPF_RSH | BPF_K
_MOV32_X = 0xbc      # BPF_ALU | BPF_MOV | BPF_X
_MOV64_K = 0xb7      # BPF_ALU64 | BPF_MOV | BPF_K
_JNE_K = 0x55        # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5d        # BPF_JMP | BPF_JNE | BPF_X
_EXIT = 0x95


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def parse_rule(rule: str) -> tuple[int | None, int | None, int | None, int]:
    """'c 1:3 rwm' -> (type, major, minor, access); None means any ('a', '*')."""
    kind, numbers, access = rule.split()
    major, _, minor = numbers.partition(":")
    types = {"a": None, "b": DEV_BLOCK, "c": DEV_CHAR}
    bits = {"r": ACC_READ, "w": ACC_WRITE, "m": ACC_MKNOD}
    return (types[kind], None if major == "*" else int(major),
            None if minor == "*" else int(minor), sum(bits[c] for c in set(access)))


def program(rules: tuple[str, ...] | list[str]) -> bytes:
    """The eBPF instructions allowing exactly what the rules allow (an allow-list)."""
    out = [
        _insn(_LDX_W, dst=2, src=1, off=0),           # r2 = access_type
        _insn(_AND32_K, dst=2, imm=0xFFFF),           # r2 = type
        _insn(_LDX_W, dst=3, src=1, off=0),
        _insn(_RSH32_K, dst=3, imm=16),               # r3 = access asked
        _insn(_LDX_W, dst=4, src=1, off=4),           # r4 = major
        _insn(_LDX_W, dst=5, src=1, off=8),           # r5 = minor
    ]
    for rule in rules:
        kind, major, minor, access = parse_rule(rule)
        block = []
        if kind is not None:
            block.append((_JNE_K, 2, 0, kind))
        if access != ACC_MKNOD | ACC_READ | ACC_WRITE:
            block.append((_MOV32_X, 1, 3, 0))                 # r1 = access asked
            block.append((_AND32_K, 1, 0, access))            # r1 &= allowed
            block.append((_JNE_X, 1, 3, 0))                   # asked more than allowed
        if major is not None:
            block.append((_JNE_K, 4, 0, major))
        if minor is not None:
            block.append((_JNE_K, 5, 0, minor))
        size = len(block) + 2                                 # + allow, exit
        for index, (code, dst, src, imm) in enumerate(block):
            is_jump = code in (_JNE_K, _JNE_X)
            out.append(_insn(code, dst=dst, src=src, imm=imm,
                             off=size - index - 1 if is_jump else 0))
        out.append(_insn(_MOV64_K, dst=0, imm=1))
        out.append(_insn(_EXIT))
    out.append(_insn(_MOV64_K, dst=0, imm=0))
    out.append(_insn(_EXIT))
    return b"".join(out)


def load(rules: tuple[str, ...] | list[str]) -> int:
    """Load the program into the kernel; returns its fd. A refusal is loaded again with the
    verifier's log, whose last line goes into the error."""
    code = _Keep(program(rules))
    license_text = _Keep(b"Apache-2.0\0")   # device programs need no GPL-only helpers
    try:
        return linux.bpf(BPF_PROG_LOAD, _load_attr(code, license_text, None))
    except OSError as error:
        log = _Keep(bytes(65536))
        try:
            linux.bpf(BPF_PROG_LOAD, _load_attr(code, license_text, log))
        except OSError:
            pass
        verifier = log.read().decode(errors="replace").strip().splitlines()
        raise OSError(error.errno, "loading the cgroup v2 device filter: "
                      f"{os.strerror(error.errno or 0)}"
                      + (f" ({verifier[-1]})" if verifier else "")) from error


def _load_attr(code: "_Keep", license_text: "_Keep", log: "_Keep | None") -> bytes:
    attr = struct.pack("<IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(code.data) // 8,
                       code.address, license_text.address, 1 if log else 0,
                       len(log.data) if log else 0, log.address if log else 0, 0, 0,
                       b"pallet_devices", 0, BPF_CGROUP_DEVICE)
    return attr.ljust(128, b"\0")


def attach(cgroup_dir: Path, rules: tuple[str, ...] | list[str]) -> None:
    """Attach the rules' program to a cgroup v2 directory (ancestors' programs still apply)."""
    prog_fd = load(rules)
    try:
        cgroup_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = struct.pack("<IIIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE,
                               BPF_F_ALLOW_MULTI, 0)
            linux.bpf(BPF_PROG_ATTACH, attr.ljust(64, b"\0"))
        finally:
            os.close(cgroup_fd)
    finally:
        os.close(prog_fd)


class _Keep:
    """A C buffer whose address goes into a bpf_attr (alive as long as this object)."""

    def __init__(self, data: bytes) -> None:
        import ctypes
        self.data = data
        self.buffer = ctypes.create_string_buffer(data, len(data))
        self.address = ctypes.addressof(self.buffer)

    def read(self) -> bytes:
        return self.buffer.raw.split(b"\0", 1)[0]
