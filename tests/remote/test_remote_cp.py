"""cp both ways through `pallet -H unix://...` (GET/HEAD/PUT /containers/{id}/archive): the
same files, modes, owners and naming rules as the local cp on the same store; missing paths
refused in docker's words with nothing written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import PALLET
from tests.ptyrun import final_screen, frames, run_in_pty
from tests.remote.streams_support import remote_env, local, ok, remote, remote_argv

pytestmark = [pytest.mark.root, pytest.mark.server]

LISTING = "cd /dest && find . | sort | while read f; do stat -c '%n %a %u:%g %s %F' \"$f\"; done"


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "inner").mkdir(parents=True)
    (tree / "inner" / "data.bin").write_bytes(os.urandom(200_000))
    (tree / "script.sh").write_text("#!/bin/sh\necho hi\n")
    (tree / "script.sh").chmod(0o750)
    (tree / "link").symlink_to("inner/data.bin")
    os.chown(tree / "script.sh", 1234, 5678)
    return tree


def _host_listing(top: Path) -> list[tuple]:
    result = []
    for path in sorted(top.rglob("*")):
        st = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        result.append((str(path.relative_to(top)), oct(st.st_mode), st.st_uid, st.st_gid,
                       os.readlink(path) if path.is_symlink() else "", content))
    return result


def test_copy_into_a_container_as_the_local_cp_does(api, tmp_path):
    tree = _tree(tmp_path)
    for name in ("rio-cp-remote", "rio-cp-local"):
        ok(local(api, "run", "-d", "--name", name, "busybox", "sh", "-c",
                 "mkdir /dest; sleep 60"))
    ok(remote(api, "cp", str(tree), "rio-cp-remote:/dest"))
    ok(local(api, "cp", str(tree), "rio-cp-local:/dest"))
    ok(remote(api, "cp", str(tree / "script.sh"), "rio-cp-remote:/dest/renamed.sh"))
    ok(local(api, "cp", str(tree / "script.sh"), "rio-cp-local:/dest/renamed.sh"))
    ok(remote(api, "cp", "-a", str(tree / "script.sh"), "rio-cp-remote:/dest/kept-owner"))
    ok(local(api, "cp", "-a", str(tree / "script.sh"), "rio-cp-local:/dest/kept-owner"))
    there = ok(remote(api, "exec", "rio-cp-remote", "sh", "-c", LISTING))
    here = ok(local(api, "exec", "rio-cp-local", "sh", "-c", LISTING))
    assert there == here
    assert "./tree/script.sh 750 0:0" in there and "./kept-owner 750 1234:5678" in there
    assert "./tree/link 777 0:0 14 symbolic link" in there
    data = remote(api, "exec", "rio-cp-remote", "cat", "/dest/tree/inner/data.bin")
    assert data.stdout == (tree / "inner" / "data.bin").read_bytes()


def test_copy_out_of_a_container_as_the_local_cp_does(api, tmp_path):
    tree = _tree(tmp_path)
    ok(local(api, "run", "-d", "--name", "rio-out", "busybox", "sh", "-c",
             "mkdir /srv; sleep 60"))
    ok(local(api, "cp", "-a", str(tree), "rio-out:/srv"))
    for who, run in (("remote", remote), ("local", local)):
        target = tmp_path / who
        target.mkdir()
        ok(run(api, "cp", "rio-out:/srv/tree", str(target)))              # into a directory
        ok(run(api, "cp", "rio-out:/srv/tree", str(target / "renamed")))  # as a new name
        ok(run(api, "cp", "rio-out:/srv/tree/script.sh", str(target / "one.sh")))
        ok(run(api, "cp", "-a", "rio-out:/srv/tree/script.sh", str(target / "owned.sh")))
    assert _host_listing(tmp_path / "remote") == _host_listing(tmp_path / "local")
    copied = tmp_path / "remote"
    assert (copied / "tree" / "inner" / "data.bin").read_bytes() == \
        (tree / "inner" / "data.bin").read_bytes()
    assert os.readlink(copied / "renamed" / "link") == "inner/data.bin"
    assert (copied / "owned.sh").stat().st_uid == 1234
    assert (copied / "one.sh").stat().st_uid == os.geteuid()


def test_missing_paths_are_refused_and_nothing_is_written(api, tmp_path):
    ok(local(api, "run", "-d", "--name", "rio-missing", "busybox", "sleep", "60"))
    target = tmp_path / "out"
    target.mkdir()
    there = remote(api, "cp", "rio-missing:/no/such/file", str(target))
    assert there.returncode == 1
    assert there.stderr == (b"Error response from daemon: Could not find the file "
                            b"/no/such/file in container rio-missing\n")
    assert list(target.iterdir()) == []
    host_missing = str(tmp_path / "absent")
    there, here = (run(api, "cp", host_missing, "rio-missing:/tmp") for run in (remote, local))
    assert there.returncode == here.returncode == 1
    assert there.stderr == here.stderr == f"Error: stat {host_missing}: no such file or " \
                                          f"directory\n".encode()
    there, here = (run(api, "cp", str(target), "rio-missing:/no/such/dir/")
                   for run in (remote, local))
    assert there.returncode == here.returncode == 1
    assert there.stderr == here.stderr
    there = remote(api, "cp", str(target), "no-such-ctr:/tmp")
    assert there.returncode == 1
    assert there.stderr == b"Error response from daemon: No such container: no-such-ctr\n"


def test_cp_on_a_terminal_shows_the_local_cps_progress_and_result(api, tmp_path):
    ok(local(api, "run", "-d", "--name", "rio-meter", "busybox", "sh", "-c",
             "mkdir /big && head -c 5000000 /dev/urandom > /big/f && sleep 60"))
    screens = {}
    for who in ("remote", "local"):
        argv = remote_argv(api, "cp", "rio-meter:/big", str(tmp_path / who)) \
            if who == "remote" else [str(PALLET), "--root", str(api.root), "cp",
                                     "rio-meter:/big", str(tmp_path / who)]
        run = run_in_pty(argv, env=remote_env(api))
        assert run.returncode == 0, run.raw
        screens[who] = [line.replace(str(tmp_path / who), "DEST")
                        for line in final_screen(run.raw)]
        counted = [frame for frame in frames(run.raw)
                   if frame.startswith("Copying from container - ")]
        assert counted, frames(run.raw)
    assert screens["remote"] == screens["local"]
    assert re.fullmatch(r"Successfully copied 5\.00\dMB to DEST", screens["local"][0])
    sent = tmp_path / "remote" / "f"
    quiet = run_in_pty(remote_argv(api, "cp", "-q", str(sent), "rio-meter:/big/g"),
                       env=remote_env(api))
    assert (quiet.returncode, final_screen(quiet.raw)) == (0, [])
    again = run_in_pty(remote_argv(api, "cp", str(sent), "rio-meter:/big/h"),
                       env=remote_env(api))
    shown = final_screen(again.raw)
    assert len(shown) == 1 and re.fullmatch(r"Successfully copied 5\.00\dMB to "
                                            r"rio-meter:/big/h", shown[0]), shown
    assert any(f.startswith("Copying to container - ") for f in frames(again.raw))
