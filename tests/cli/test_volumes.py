"""Named and anonymous volumes through the CLI: create/ls/inspect/rm/prune, -v/--mount/
--volumes-from, copy-up, anonymous volumes' lifetime, in-use refusal, bad names, binds."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.images import make_busybox_image

pytestmark = [pytest.mark.root]


def test_volume_lifecycle_and_listing(root):
    assert out(pallet(root, "volume", "create", "--label", "tier=db", "data1")) == "data1\n"
    assert out(pallet(root, "volume", "create", "data1")) == "data1\n"   # exists: kept as is
    pallet(root, "volume", "create", "other")
    assert out(pallet(root, "volume", "ls", "-q")) == "data1\nother\n"
    assert out(pallet(root, "volume", "ls", "--filter", "label=tier=db", "-q")) == "data1\n"
    assert out(pallet(root, "volume", "ls", "--filter", "name=oth", "--format",
                      "{{.Name}} {{.Driver}} {{.Scope}}")) == "other local local\n"
    assert out(pallet(root, "volume", "ls")).splitlines() == [
        "DRIVER    VOLUME NAME", "local     data1", "local     other"]
    document = json.loads(out(pallet(root, "volume", "inspect", "data1")))[0]
    assert document["Labels"] == {"tier": "db"} and document["Driver"] == "local"
    assert document["Mountpoint"] == str(root / "volumes" / "data1" / "_data")
    assert stat.S_IMODE(os.stat(root / "volumes").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(root / "volumes" / "data1").st_mode) == 0o700
    assert out(pallet(root, "volume", "inspect", "-f", "{{.Name}}:{{.Labels.tier}}", "data1")) \
        == "data1:db\n"
    removed = pallet(root, "volume", "rm", "data1", "nosuch")
    assert removed.returncode == 1 and out(removed) == "data1\n"
    assert removed.stderr.decode() == "Error response from daemon: get nosuch: no such volume\n"
    assert pallet(root, "volume", "rm", "-f", "nosuch").returncode == 0


@pytest.mark.parametrize("name, message", [
    ("a/b", '"a/b" includes invalid characters for a local volume name'),
    ("..", '".." includes invalid characters for a local volume name'),
    ("../../etc", "includes invalid characters"),
    ("x", "volume name is too short"),
])
def test_bad_volume_names_refused(root, name, message):
    made = pallet(root, "volume", "create", name)
    assert made.returncode == 1 and message in made.stderr.decode()
    if name == "x":
        return   # docker run -v x:/d takes a one-character name; only volume create refuses it
    # (-v ..:/d is a bind of the parent directory, for docker's CLI too: --mount names a volume)
    flag, spec = ("-v", f"{name}:/d") if name == "x" else ("--mount", f"type=volume,src={name},dst=/d")
    run = pallet(root, "run", "--rm", flag, spec, "busybox", "true")
    assert run.returncode == 125 and message in run.stderr.decode()
    assert not (root / "volumes").exists() or os.listdir(root / "volumes") == [".lock"]


def test_named_volume_outlives_containers_and_in_use_is_refused(root):
    first = pallet(root, "run", "--rm", "-v", "keep:/d", "busybox", "sh", "-c", "echo kept > /d/f")
    assert first.returncode == 0, first.stderr
    assert out(pallet(root, "run", "--rm", "-v", "keep:/d:ro", "busybox", "cat", "/d/f")) == "kept\n"
    busy = pallet(root, "run", "-d", "--name", "vol-busy", "-v", "keep:/d", "busybox", "sleep", "60")
    refused = pallet(root, "volume", "rm", "-f", "keep")
    assert refused.returncode == 1
    assert refused.stderr.decode() == (f"Error response from daemon: remove keep: volume is in "
                                      f"use - [{out(busy).strip()}]\n")
    assert (root / "volumes" / "keep" / "_data" / "f").exists()
    pallet(root, "rm", "-f", "vol-busy")
    assert pallet(root, "volume", "rm", "keep").returncode == 0


def test_copy_up_anonymous_volumes_and_their_lifetime(pallet_root):
    root = pallet_root
    make_busybox_image(root, "vol/img:1", changes=('CMD ["sh"]', "VOLUME /etc"))
    try:
        assert "passwd" in out(pallet(root, "run", "--rm", "vol/img:1", "ls", "/etc"))
        assert os.listdir(root / "volumes") == [".lock"]          # --rm took the anonymous one
        pallet(root, "run", "--name", "vol-kept", "vol/img:1", "true")
        mounts = json.loads(out(pallet(root, "inspect", "-f", "{{json .Mounts}}", "vol-kept")))
        assert [(m["Type"], m["Destination"], m["Mode"], m["RW"]) for m in mounts] == [
            ("volume", "/etc", "", True)]
        anonymous = mounts[0]["Name"]
        assert (root / "volumes" / anonymous / "_data" / "passwd").exists()   # copy-up
        labels = json.loads(out(pallet(root, "volume", "inspect", anonymous)))[0]["Labels"]
        assert labels == {"com.docker.volume.anonymous": ""}
        pallet(root, "volume", "create", "named1")
        pruned = pallet(root, "volume", "prune", "-f")      # in use: nothing; named: not without -a
        assert out(pruned) == "Total reclaimed space: 0B\n"
        pallet(root, "rm", "vol-kept")                           # without -v: kept
        assert anonymous in out(pallet(root, "volume", "ls", "-q"))
        pruned = out(pallet(root, "volume", "prune", "-f"))
        assert pruned.startswith(f"Deleted Volumes:\n{anonymous}\n\n") and "named1" not in pruned
        assert out(pallet(root, "volume", "prune", "-a", "-f")).startswith("Deleted Volumes:\nnamed1\n")
        pallet(root, "run", "--name", "vol-v", "-v", "/scratch", "vol/img:1", "true")
        assert len(out(pallet(root, "volume", "ls", "-q")).split()) == 2
        pallet(root, "rm", "-v", "vol-v")
        assert out(pallet(root, "volume", "ls", "-q")) == ""
    finally:
        pallet(root, "rm", "-f", "-v", "vol-kept", "vol-v")


def test_nocopy_and_volumes_from(pallet_root):
    root = pallet_root
    make_busybox_image(root, "vol/img:2", changes=('CMD ["sh"]',))
    try:
        assert out(pallet(root, "run", "--rm", "-v", "empty:/etc:nocopy", "vol/img:2", "ls", "/etc")) == ""
        pallet(root, "run", "--name", "vol-src", "-v", "shared:/shared", "--mount",
               "type=volume,dst=/anon", "vol/img:2", "sh", "-c", "echo s > /shared/x")
        shown = pallet(root, "run", "--rm", "--volumes-from", "vol-src:ro", "vol/img:2", "sh", "-c",
                       "cat /shared/x; touch /shared/y")
        assert out(shown) == "s\n" and shown.returncode != 0     # read-only through :ro
        missing = pallet(root, "run", "--rm", "--volumes-from", "nosuch", "vol/img:2", "true")
        assert missing.returncode == 125 and "No such container: nosuch" in missing.stderr.decode()
    finally:
        pallet(root, "rm", "-f", "-v", "vol-src")


def test_bind_sources(root, tmp_path):
    made = tmp_path / "made" / "deep"
    ran = pallet(root, "run", "--rm", "-v", f"{made}:/d", "busybox", "true")
    assert ran.returncode == 0, ran.stderr
    assert made.is_dir()                                   # -v creates a missing bind source
    refused = pallet(root, "run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/d",
                     "busybox", "true")
    assert refused.returncode == 125
    assert refused.stderr.decode().endswith(
        f'invalid mount config for type "bind": bind source path does not exist: {tmp_path}/nope\n')
    assert not (tmp_path / "nope").exists()


def test_tmpfs_option_volume(root):
    made = pallet(root, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs",
                  "-o", "o=size=1m", "ram1")
    assert made.returncode == 0, made.stderr
    shown = pallet(root, "run", "--rm", "-v", "ram1:/r", "busybox", "sh", "-c",
                   "echo x > /r/f; grep ' /r ' /proc/mounts")
    assert "tmpfs" in out(shown), shown.stderr
    data = root / "volumes" / "ram1" / "_data"
    assert (data / "f").exists()
    assert pallet(root, "volume", "rm", "ram1").returncode == 0
    with open("/proc/self/mountinfo") as handle:
        assert str(data) not in handle.read()
    bad = pallet(root, "volume", "create", "-o", "type=tmpfs", "ram2")
    assert bad.returncode == 1
    assert bad.stderr.decode() == ('Error response from daemon: create ram2: missing required '
                                   'option: "device"\n')


def test_copy_up_never_follows_an_image_symlink_out(pallet_root, tmp_path):
    """An image whose /data is a symlink to the host-looking /etc and that declares VOLUME
    /data/sub: the volume stays empty, nothing of the host's /etc is read into it."""
    root = pallet_root
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    os.symlink("/etc", rootfs / "data")
    archive = tmp_path / "evil.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
    imported = pallet(root, "import", "-c", "VOLUME /data/sub", "-c", 'CMD ["true"]',
                      str(archive), "evil:1")
    assert imported.returncode == 0, imported.stderr
    made = pallet(root, "create", "--name", "evil-c", "evil:1")
    assert made.returncode == 0, made.stderr
    try:
        mounts = json.loads(out(pallet(root, "inspect", "-f", "{{json .Mounts}}", "evil-c")))
        assert os.listdir(mounts[0]["Source"]) == []
    finally:
        pallet(root, "rm", "-v", "evil-c")


def test_copy_up_resolves_an_image_symlink_inside_the_image(pallet_root, tmp_path):
    """VOLUME /data where the image's /data is a symlink to /srv: the volume is filled from the
    image's /srv (resolved inside the image, as in the container), not from the host's."""
    root = pallet_root
    rootfs = tmp_path / "rootfs"
    (rootfs / "srv").mkdir(parents=True)
    (rootfs / "srv" / "inside-image").write_text("x")
    os.symlink("/srv", rootfs / "data")
    archive = tmp_path / "linked.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
    assert pallet(root, "import", "-c", "VOLUME /data", "-c", 'CMD ["true"]', str(archive),
                  "linked:1").returncode == 0
    assert pallet(root, "create", "--name", "linked-c", "linked:1").returncode == 0
    try:
        mounts = json.loads(out(pallet(root, "inspect", "-f", "{{json .Mounts}}", "linked-c")))
        assert os.listdir(mounts[0]["Source"]) == ["inside-image"]
    finally:
        pallet(root, "rm", "-v", "linked-c")
