"""`cp` never runs container code on the host and never follows the container's symlinks out
of it: the container's side is read and written by descriptor from the host (confine.Root),
with numeric owners."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from tests.builder.conftest import write_tree
from tests.cli.ctr_helpers import out, pallet

pytestmark = pytest.mark.root

NSS_MODULE = r"""
#include <fcntl.h>
#include <unistd.h>
/* Runs when glibc's NSS loads this module: proof that a lookup ran the container's code. */
__attribute__((constructor)) static void planted(void) {
    int fd = open(MARKER, O_WRONLY | O_CREAT, 0644);  /* fails on a read-only root ... */
    if (fd >= 0) { write(fd, "ran\n", 4); close(fd); }
    write(2, "PALLET-NSS-MODULE-RAN\n", 22);            /* ... this reaches pallet's stderr */
}
int _nss_pallettest_getpwuid_r(void) { return 0; }
"""


def _nss_image(root: Path, tmp_path: Path, marker: str) -> None:
    """An image whose /etc/nsswitch.conf names a module that writes `marker` when loaded."""
    source = tmp_path / "nss.c"
    source.write_text(NSS_MODULE)
    library = tmp_path / "libnss_pallettest.so.2"
    subprocess.run(["gcc", "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", str(library),
                    str(source)], check=True)
    libdirs = ["/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/", "/lib64/", "/lib/",
               "/usr/lib/"]
    context = write_tree(tmp_path / "nssctx", {
        "Dockerfile": "FROM busybox\nCOPY nsswitch.conf /etc/nsswitch.conf\n"
                      + "".join(f"COPY libnss_pallettest.so.2 {d}\n" for d in libdirs)
                      + "COPY data /data\n",
        "nsswitch.conf": "passwd: pallettest files\ngroup: pallettest files\n",
        "data/file": "payload\n"})
    (context / "libnss_pallettest.so.2").write_bytes(library.read_bytes())
    built = pallet(root, "build", "-q", "-t", "nss:1", str(context), timeout=300)
    assert built.returncode == 0, built.stderr.decode()


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_cp_out_never_loads_the_containers_nss_modules(root, tmp_path, running):
    # CVE-2019-14271: the old copy chrooted into the container as root and built the tar with
    # tarfile, whose owner-name lookup made glibc load the container's libnss_*.so.
    marker = f"/pallet-nss-marker-{uuid.uuid4().hex[:12]}"
    _nss_image(root, tmp_path, marker)
    name = f"nss{running}"
    if running:
        assert pallet(root, "run", "-d", "--name", name, "nss:1", "sleep", "300").returncode == 0
    else:
        assert pallet(root, "run", "--name", name, "nss:1", "true").returncode == 0
    try:
        copied = pallet(root, "cp", f"{name}:/data", str(tmp_path / "out"))
        assert b"PALLET-NSS-MODULE-RAN" not in copied.stderr
        assert not os.path.exists(marker)                            # not on the host
        inside = pallet(root, "export", name)
        assert inside.returncode == 0
        with tarfile.open(fileobj=io.BytesIO(inside.stdout)) as exported:
            names = exported.getnames()
        assert "./etc/nsswitch.conf" in names
        assert "." + marker not in names                               # nor in the container
        assert copied.returncode == 0, copied.stderr.decode()
        assert (tmp_path / "out" / "file").read_text() == "payload\n"
    finally:
        pallet(root, "rm", "-f", name)
        if os.path.exists(marker):
            os.unlink(marker)


def test_cp_into_a_container_through_a_planted_symlink_stays_inside(root, tmp_path):
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    unique = f"pallet-cp-{uuid.uuid4().hex[:12]}"
    (tmp_path / unique).write_text("payload\n")
    assert pallet(root, "run", "-d", "--name", "planted", "busybox", "sh", "-c",
                  f"ln -s /etc /target && ln -s {host_dir} /hostlink && "
                  f"ln -s ../../../../../../{str(host_dir).lstrip('/')} /uplink && sleep 300"
                  ).returncode == 0
    try:
        deadline = time.time() + 10
        while time.time() < deadline and \
                pallet(root, "exec", "planted", "test", "-L", "/uplink").returncode != 0:
            time.sleep(0.05)
        assert pallet(root, "cp", str(tmp_path / unique), "planted:/target/").returncode == 0
        assert not os.path.exists(f"/etc/{unique}")                  # the host's /etc: untouched
        assert out(pallet(root, "exec", "planted", "cat", f"/etc/{unique}")) == "payload\n"
        for link in ("/hostlink", "/uplink"):
            # the link leads to a path that exists on the host only: inside the container it
            # is dangling, so the copy has nowhere to go
            result = pallet(root, "cp", str(tmp_path / unique), f"planted:{link}/")
            assert result.returncode == 1, result.stderr.decode()
            result = pallet(root, "cp", str(tmp_path / unique), f"planted:{link}/x")
            assert result.returncode == 1, result.stderr.decode()
        assert os.listdir(host_dir) == []
    finally:
        pallet(root, "rm", "-f", "planted")
    assert not os.path.exists(f"/etc/{unique}")


def test_cp_in_while_the_container_swaps_a_directory_for_a_symlink(root, tmp_path):
    # CVE-2018-15664: between the check and the write, /d becomes a symlink to a host path.
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (tmp_path / "payload").write_text("payload\n")
    assert pallet(root, "run", "-d", "--name", "swapper", "busybox", "sh", "-c",
                  f"mkdir -p {host_dir}; while true; do mkdir -p /d; mv /d /d.old; "
                  f"ln -s {host_dir} /d; rm /d; rm -rf /d.old; done").returncode == 0
    try:
        for index in range(15):
            pallet(root, "cp", str(tmp_path / "payload"), "swapper:/d/")
            pallet(root, "cp", "swapper:/d/payload", str(tmp_path / f"out{index}"))
        assert os.listdir(host_dir) == []
    finally:
        pallet(root, "rm", "-f", "swapper")


def test_cp_owners_in_and_out_and_follow_link(root, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("f\n")
    os.chown(tmp_path / "src" / "f", 1234, 4321)
    assert pallet(root, "run", "-d", "--name", "own", "busybox", "sh", "-c",
                  "mkdir /in /in-a && echo t > /real && ln -s /real /link && sleep 300"
                  ).returncode == 0
    try:
        # run -d returns once the process runs, not once its script got as far as the link
        deadline = time.time() + 20
        while time.time() < deadline and \
                pallet(root, "exec", "own", "test", "-L", "/link").returncode != 0:
            time.sleep(0.05)
        assert pallet(root, "cp", str(tmp_path / "src"), "own:/in/").returncode == 0
        assert pallet(root, "cp", "-a", str(tmp_path / "src"), "own:/in-a/").returncode == 0
        # Docker: files copied in belong to the container's root unless -a keeps them
        assert out(pallet(root, "exec", "own", "stat", "-c", "%u:%g", "/in/src/f")) == "0:0\n"
        assert out(pallet(root, "exec", "own", "stat", "-c", "%u:%g", "/in-a/src/f")) == \
            "1234:4321\n"
        assert pallet(root, "cp", "own:/link", str(tmp_path / "as-link")).returncode == 0
        assert os.readlink(tmp_path / "as-link") == "/real"
        assert pallet(root, "cp", "-L", "own:/link", str(tmp_path / "followed")).returncode == 0
        assert (tmp_path / "followed").read_text() == "t\n"
    finally:
        pallet(root, "rm", "-f", "own")


def test_cp_out_refuses_device_nodes_onto_the_host(root, tmp_path):
    assert pallet(root, "run", "--name", "devs", "busybox", "sh", "-c",
                  "mkdir /d && mknod /d/mem c 1 1 && echo ok > /d/file").returncode == 0
    result = pallet(root, "cp", "devs:/d", str(tmp_path / "d"))
    assert result.returncode == 1 and "device node" in result.stderr.decode()
    assert not (tmp_path / "d").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".pallet-cp-")] == []
