"""The cgroup v2 device filter (eBPF), on this host's unified hierarchy.

This machine is hybrid: its containers' device rules come from the v1 devices controller, but
eBPF device programs work on the v2 tree here as on a pure v2 machine, so the program and its
wiring into Cgroup are checked on the host (tests/vm checks them on a real v2 distribution).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pallet.runtime.isolation import devfilter
from pallet.runtime.isolation.cgroups import DEFAULT_DEVICE_RULES, Cgroup, Layout, Limits, discover

pytestmark = pytest.mark.root


def _unified() -> Path:
    layout = discover()
    assert layout.unified is not None, "no cgroup v2 tree mounted on this host"
    return layout.unified


def _open_in(cgroup_dir: Path, paths: list[Path]) -> list[str]:
    """Open each path for reading from a child that joined cgroup_dir: 'ok' or the error."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            (cgroup_dir / "cgroup.procs").write_text("0")
            answers = []
            for path in paths:
                try:
                    os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
                    answers.append("ok")
                except OSError as error:
                    answers.append(error.strerror)
            os.write(write_fd, "\n".join(answers).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return text.split("\n")


# /dev/kmsg (c 1:11) opens for root here but is not among Docker's default devices; /dev/net/tun
# (c 10:200) is. (Block nodes of the host's disk cannot be opened in this sandbox at all.)
OUTSIDE_RULES = Path("/dev/kmsg")
IN_RULES = [Path("/dev/null"), Path("/dev/zero"), Path("/dev/urandom"), Path("/dev/net/tun")]


def test_the_program_allows_only_the_rules():
    filtered = _unified() / f"pallet-test-devfilter-{os.getpid()}-{os.urandom(3).hex()}"
    control = filtered.with_name(filtered.name + "-control")
    filtered.mkdir()
    control.mkdir()
    try:
        devfilter.attach(filtered, DEFAULT_DEVICE_RULES)
        paths = IN_RULES + [OUTSIDE_RULES]
        assert _open_in(control, paths) == ["ok"] * 5
        assert _open_in(filtered, paths) == ["ok"] * 4 + ["Operation not permitted"]
    finally:
        filtered.rmdir()
        control.rmdir()


def test_rules_parse_as_runc_reads_them():
    assert devfilter.parse_rule("c 1:3 rwm") == (devfilter.DEV_CHAR, 1, 3, 7)
    assert devfilter.parse_rule("b *:* m") == (devfilter.DEV_BLOCK, None, None, 1)
    assert devfilter.parse_rule("c 136:* rw") == (devfilter.DEV_CHAR, 136, None, 6)
    assert devfilter.parse_rule("a *:* r") == (None, None, None, 2)


def test_a_v2_container_cgroup_gets_the_filter():
    """Cgroup.create on a layout where v2 carries the cgroup (as on a pure v2 machine): the
    old code wrote device rules only to a v1 devices controller, so on v2 a container could
    open any device node it made (mknod is in Docker's default capabilities)."""
    layout = Layout(unified=_unified())
    name = f"pallet-test-devv2-{os.getpid()}-{os.urandom(3).hex()}"
    cgroup = Cgroup.create(name, Limits(restrict_devices=True), layout)
    try:
        assert list(cgroup.dirs) == ["unified"]
        assert _open_in(cgroup.dirs["unified"], [Path("/dev/null"), OUTSIDE_RULES]) == \
            ["ok", "Operation not permitted"]
    finally:
        cgroup.destroy()
    privileged = Cgroup.create(name, Limits(restrict_devices=False), layout)
    try:
        assert _open_in(privileged.dirs["unified"], [OUTSIDE_RULES]) == ["ok"]
    finally:
        privileged.destroy()
