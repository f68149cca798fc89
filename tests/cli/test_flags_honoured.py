"""Flags that used to be accepted and ignored: each now does what Docker's does (or, where
pallet has nothing for it to change, says so in its help)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.builder.conftest import write_tree
from tests.cli.ctr_helpers import out, pallet

pytestmark = pytest.mark.root


def _state(root: Path, ref: str) -> dict:
    return json.loads(out(pallet(root, "inspect", ref)))[0]["State"]


def test_stop_and_restart_send_the_signal_asked_for(root: Path):
    script = "trap 'exit 42' USR1; while true; do sleep 0.05; done"
    started = pallet(root, "run", "-d", "--name", "trapper", "busybox", "sh", "-c", script)
    assert started.returncode == 0, started.stderr
    time.sleep(0.3)
    began = time.monotonic()
    assert pallet(root, "stop", "-t", "20", "-s", "USR1", "trapper").returncode == 0
    assert _state(root, "trapper")["ExitCode"] == 42     # the trap ran: not SIGTERM's 137
    assert time.monotonic() - began < 10
    assert pallet(root, "start", "trapper").returncode == 0
    time.sleep(0.3)
    assert pallet(root, "restart", "-t", "20", "-s", "SIGUSR1", "trapper").returncode == 0
    assert _state(root, "trapper")["Running"]
    refused = pallet(root, "stop", "-s", "NOSUCH", "trapper")
    assert refused.returncode != 0 and b"Invalid signal: NOSUCH" in refused.stderr
    assert _state(root, "trapper")["Running"]


def _dangling(root: Path, tmp_path: Path, label: str, run: str = "") -> str:
    """An image with LABEL label that loses its tag to the next build."""
    context = write_tree(tmp_path / label.replace("=", "-"),
                         {"Dockerfile": f"FROM busybox\nLABEL {label}\n{run}"})
    image_id = out(pallet(root, "build", "-q", "-t", "moving:1", str(context))).strip()
    return image_id


def test_image_prune_filters_choose_what_goes(root: Path, tmp_path: Path):
    keep = _dangling(root, tmp_path, "group=keep")
    drop = _dangling(root, tmp_path, "group=drop")
    _dangling(root, tmp_path, "group=last")          # holds the tag: the two above dangle
    listed = out(pallet(root, "images", "-q", "--no-trunc", "--filter", "dangling=true"))
    assert set(listed.split()) == {keep, drop}
    pruned = pallet(root, "image", "prune", "-f", "--filter", "label=group=drop")
    assert pruned.returncode == 0, pruned.stderr
    assert f"deleted: {drop}" in out(pruned) and keep not in out(pruned)
    remaining = out(pallet(root, "images", "-q", "--no-trunc", "--filter", "dangling=true"))
    assert remaining.split() == [keep]
    nothing = pallet(root, "image", "prune", "-f", "--filter", "until=2000-01-01T00:00:00Z")
    assert nothing.returncode == 0 and keep not in out(nothing)
    bad = pallet(root, "image", "prune", "-f", "--filter", "colour=red")
    assert bad.returncode != 0 and b"invalid filter 'colour'" in bad.stderr
    assert keep in out(pallet(root, "images", "-q", "--no-trunc"))


def test_images_filters_are_the_library_ones(root: Path, tmp_path: Path):
    first = _dangling(root, tmp_path, "tier=one")
    out(pallet(root, "tag", first, "app:first"))
    second = _dangling(root, tmp_path, "tier=two", "RUN touch /made-later\n")   # newer
    by_label = out(pallet(root, "images", "--format", "{{.Repository}}:{{.Tag}}",
                          "--filter", "label=tier=two"))
    assert by_label.split() == ["moving:1"]
    since = out(pallet(root, "images", "-q", "--no-trunc", "--filter", f"since={first}"))
    assert since.split() == [second]
    positional = out(pallet(root, "images", "--format", "{{.Repository}}:{{.Tag}}", "app"))
    assert positional.split() == ["app:first"]
    listing = ("--format", "{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}}")
    assert out(pallet(root, "images", "-a", *listing)) == out(pallet(root, "images", *listing))


def test_platform_values_are_read_everywhere_as_containerd_reads_them(root: Path, tmp_path: Path):
    from tests.images import busybox_rootfs_tarball
    bad_pull = pallet(root, "pull", "--platform", "foo", "127.0.0.1:9/x:1")
    assert bad_pull.returncode != 0
    assert b'"foo": unknown operating system or architecture' in bad_pull.stderr
    assert b"127.0.0.1:9" not in bad_pull.stderr          # refused before any connection
    bad_load = pallet(root, "load", "--platform", "linux/nosuch", "-i", str(tmp_path / "none.tar"))
    assert bad_load.returncode != 0 and b"unknown operating system" in bad_load.stderr
    imported = pallet(root, "import", "--platform", "linux/aarch64", str(busybox_rootfs_tarball()),
                      "arm:1")
    assert imported.returncode == 0, imported.stderr
    config = json.loads(out(pallet(root, "image", "inspect", "arm:1")))[0]
    assert (config["Os"], config["Architecture"]) == ("linux", "arm64")
    refused = pallet(root, "import", "--platform", "windows/amd64", str(busybox_rootfs_tarball()))
    assert refused.returncode != 0 and b'operating system "windows"' in refused.stderr
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nENV A=1\n"})
    assert pallet(root, "build", "-q", "--platform", "x86_64" if os.uname().machine == "x86_64"
                  else os.uname().machine, str(context)).returncode == 0
    other = pallet(root, "build", "-q", "--platform", "linux/s390x", str(context))
    assert other.returncode != 0 and b"CPU emulation" in other.stderr


def test_system_df_verbose_lists_every_object(root: Path):
    # (was refused; the tables are compared with docker's in test_system_df_docker.py)
    made = pallet(root, "run", "--name", "dfv", "busybox", "sh", "-c", "head -c 4000 /dev/zero > /f")
    assert made.returncode == 0, made.stderr
    verbose = out(pallet(root, "system", "df", "-v")).split("\n\n")
    assert verbose[0] == "Images space usage:" and verbose[2] == "Containers space usage:"
    assert verbose[1].splitlines()[1].split()[:2] == ["busybox", "latest"]
    row = verbose[3].splitlines()[1].split()
    assert row[-1] == "dfv" and "4kB" in row


def test_inspect_size_adds_the_container_sizes(root: Path):
    made = pallet(root, "run", "--name", "writer", "busybox", "sh", "-c",
                  "head -c 12345 /dev/zero > /twelve")
    assert made.returncode == 0, made.stderr
    plain = json.loads(out(pallet(root, "inspect", "writer")))[0]
    assert "SizeRw" not in plain and "SizeRootFs" not in plain
    sized = json.loads(out(pallet(root, "container", "inspect", "-s", "writer")))[0]
    image = json.loads(out(pallet(root, "image", "inspect", "busybox")))[0]
    assert sized["SizeRw"] == 12345
    assert sized["SizeRootFs"] == image["Size"] + 12345
    keys = list(sized)
    # right after GraphDriver, where Docker's ContainerJSONBase puts them
    assert keys.index("GraphDriver") + 1 == keys.index("SizeRw") == keys.index("SizeRootFs") - 1


def test_network_prune_filters_are_refused_not_ignored(root: Path):
    # an ignored until=/label= removed every unused network
    made = pallet(root, "network", "create", "--label", "keep=yes", "kept-net")
    assert made.returncode == 0, made.stderr
    try:
        refused = pallet(root, "network", "prune", "-f", "--filter", "label!=keep=yes")
        assert refused.returncode != 0
        assert b"network prune takes no filters yet (got label!)" in refused.stderr
        listed = out(pallet(root, "network", "ls", "--format", "{{.Name}}")).split()
        assert "kept-net" in listed
    finally:
        pallet(root, "network", "rm", "kept-net")
