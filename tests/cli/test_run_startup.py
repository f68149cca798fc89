"""`run` of an image whose layers are already unpacked loads only what starting a container needs.

Speed itself is measured in bench/bench_run.py; this checks the causes stay fixed: no tar or
compression modules (needed only to unpack or pack layers), no OpenSSL (`_hashlib`: the image's
small metadata blobs are verified with the interpreter's own SHA-256) and no `ldconfig -p`
subprocess (ctypes.util.find_library) on the start-up path.
"""

from __future__ import annotations

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.conftest import run_pallet
from tests.images import make_busybox_image

pytestmark = pytest.mark.root

UNPACK_ONLY = ("tarfile", "zstandard", "gzip", "pallet.runtime.image.compression",
               "pallet.runtime.image.unpack", "pallet.runtime.image.tarpack", "ctypes.util", "subprocess",
               "_hashlib")
# Needed only by flags or paths a plain `run --rm IMAGE CMD` does not take: fractions (and the
# decimal module it loads, 10-40 ms under load) for --cpus, garbage collection for a removed image,
# the volume modules (uuid with platform, shutil with bz2 and lzma: ~5 ms) for a container with
# volumes, click for anything the fast path leaves to it (pallet/fastpath.py).
NOT_FOR_A_PLAIN_RUN = ("fractions", "decimal", "pallet.runtime.image.removal",
                       "pallet.runtime.store.roots", "pallet.runtime.volume.store",
                       "pallet.runtime.volume.mounting", "uuid", "platform", "shutil", "click")


def imported_modules(stderr: bytes) -> set[str]:
    names = set()
    for line in stderr.decode().splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_run_of_an_unpacked_image_imports_no_unpacking_code(pallet_root):
    make_busybox_image(pallet_root, "busybox:latest")
    first = pallet(pallet_root, "run", "--rm", "busybox", "echo", "unpacked")
    assert first.returncode == 0 and out(first) == "unpacked\n", first.stderr
    # Layers are unpacked now: a second run must not load the pack/unpack stack.
    # --network none: a bridged container also loads pyroute2 (which imports subprocess); its
    # cost is measured in bench/bench_network.py.
    second = run_pallet("run", "--rm", "--network", "none", "busybox", "echo", "again",
                        root=pallet_root, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert second.returncode == 0 and out(second) == "again\n"
    loaded = imported_modules(second.stderr)
    assert "pallet.runtime.image.layers" in loaded            # the import log was captured
    assert sorted(loaded.intersection(UNPACK_ONLY)) == []
    assert sorted(loaded.intersection(NOT_FOR_A_PLAIN_RUN)) == []


# pyroute2's rtnetlink API (171 modules, asyncio's event loop under every call) cost more than
# the 15 ms budget for bridged networking; starts and stops go through runtime/network/rtnl.py.
NOT_FOR_A_BRIDGED_START = ("pyroute2", "asyncio", "ssl", "unittest", "multiprocessing",
                           "subprocess")


@pytest.mark.netns
def test_a_bridged_run_sets_up_its_network_without_pyroute2(pallet_root):
    make_busybox_image(pallet_root, "busybox:latest")
    first = pallet(pallet_root, "run", "--rm", "busybox", "true")  # makes the default bridge
    assert first.returncode == 0, first.stderr
    second = run_pallet("run", "--rm", "busybox", "sh", "-c",
                        "ip -4 addr show eth0 | grep -c inet; ip route | grep -c ^default",
                        root=pallet_root, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert second.returncode == 0
    assert out(second) == "1\n1\n"                               # networked all the same
    loaded = imported_modules(second.stderr)
    assert "pallet.runtime.network.links" in loaded             # the bridged path was taken
    assert sorted(loaded.intersection(NOT_FOR_A_BRIDGED_START)) == []


# exec takes only -e/--env-file of run's flags, and never makes a scratch directory or copies a
# tree: run's flag parsers and tempfile/shutil (with bz2, lzma and random behind them) stay off,
# and so does the create path's networking that looking the container up once pulled in; every
# dataclass on the way has a docstring, so inspect (dataclasses' one use: a generated __doc__,
# base/codecache.py) and its ast/dis/tokenize stay off too, as does click (pallet/fastpath.py);
# no time is parsed, so datetime stays off (base/units.py imports it where one is), and neither
# the create request nor the blob store is needed to enter a container;
# typing (~3 ms) neither: annotations name collections.abc's types; nor the start path
# (isolation/core with child, init, etcfiles) for its StartError, which lives in spec.py.
NOT_FOR_AN_EXEC = ("tempfile", "shutil", "bz2", "lzma", "random",
                   "pallet.commands.container_options", "pallet.runtime.container.mount_specs",
                   "pallet.runtime.container.networking", "inspect", "ast", "click", "datetime",
                   "pallet.runtime.container.request", "pallet.runtime.store.content", "typing",
                   "pallet.runtime.isolation.core")


def test_exec_loads_no_run_flag_parsers_and_no_tempfile(pallet_root):
    make_busybox_image(pallet_root, "busybox:latest")
    started = pallet(pallet_root, "run", "-d", "--network", "none", "busybox", "sleep", "600")
    assert started.returncode == 0, started.stderr
    container = out(started).strip()
    try:
        result = run_pallet("exec", "-e", "A=1", container, "sh", "-c", "echo $A",
                            root=pallet_root, env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert result.returncode == 0 and out(result) == "1\n", result.stderr
        loaded = imported_modules(result.stderr)
        assert "pallet.runtime.container.execute" in loaded       # the import log was captured
        assert sorted(loaded.intersection(NOT_FOR_AN_EXEC)) == []
    finally:
        pallet(pallet_root, "rm", "-f", container)


# ps of containers without published ports lists them without the ports module (socket, the
# network model) and without cgroups (ctypes), which only a container found dead needs.
NOT_FOR_A_PS = ("pallet.runtime.network.ports", "pallet.runtime.isolation.cgroups", "ctypes",
                "socket", "click", "pallet.format.gotemplate")


def test_ps_of_containers_without_ports_loads_no_ports_cgroups_or_template_code(pallet_root):
    make_busybox_image(pallet_root, "busybox:latest")
    started = pallet(pallet_root, "run", "-d", "--network", "none", "busybox", "sleep", "600")
    assert started.returncode == 0, started.stderr
    container = out(started).strip()
    try:
        assert pallet(pallet_root, "create", "--network", "none", "busybox", "true").returncode == 0
        result = run_pallet("ps", "-a", root=pallet_root, env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert result.returncode == 0 and container[:12] in out(result), result.stderr
        loaded = imported_modules(result.stderr)
        assert "pallet.runtime.container.views" in loaded         # the import log was captured
        assert sorted(loaded.intersection(NOT_FOR_A_PS)) == []
    finally:
        pallet(pallet_root, "rm", "-f", container)

