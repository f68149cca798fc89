"""history, commit, diff, save, load, export, events and system df -v through `pallet -H
unix://...` against `pallet serve` (the api fixture: every answer checked against the spec),
compared with the same command on the same store locally; bad input (a missing container, a
non-tar archive, a directory that does not exist) refused as the local command or docker does,
nothing left half-written on either side."""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.remote.streams_support import local, ok, remote

pytestmark = [pytest.mark.root, pytest.mark.server]

CHANGES = "echo x > /new; rm /bin/zcat; mkdir -p /etc/deep/er; echo y > /etc/deep/er/f"


MOMENT = re.compile(rb"(About )?(an?|\d+|Less than a) \w+ ago")


def _same(api, *args: str, moments: bool = False) -> str:
    """The local and the remote command's exit code, stdout and stderr; moments=True: each
    "N seconds ago" is a reading of its own instant (the commands run one after the other),
    compared as words with those masked."""
    here, there = local(api, *args), remote(api, *args)
    if moments:
        assert there.returncode == here.returncode == 0 and there.stderr == here.stderr, args
        assert [line.split() for line in MOMENT.sub(b"_", there.stdout).splitlines()] == \
            [line.split() for line in MOMENT.sub(b"_", here.stdout).splitlines()], args
    else:
        assert (there.returncode, there.stdout, there.stderr) == \
            (here.returncode, here.stdout, here.stderr), args
    return ok(there)


def test_diff_commit_and_history_as_the_local_commands(api):
    ok(local(api, "run", "--name", "changed", "--network", "none", "busybox", "sh", "-c",
             CHANGES))
    assert "A /new" in _same(api, "diff", "changed").splitlines()
    _same(api, "container", "diff", "changed")
    committed = ok(remote(api, "commit", "-a", "me <me@example.com>", "-m", "remote commit",
                          "-c", "ENV FROM_REMOTE=1", "-c", "CMD [\"cat\", \"/new\"]",
                          "changed", "made/remote:1"))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", committed)
    ok(local(api, "commit", "-a", "me <me@example.com>", "-m", "remote commit", "-c",
             "ENV FROM_REMOTE=1", "-c", "CMD [\"cat\", \"/new\"]", "changed", "made/local:1"))
    # the host recorded what the local commit records
    template = ("{{.Author}}|{{.Comment}}|{{json .Config.Env}}|{{json .Config.Cmd}}|"
                "{{len .RootFS.Layers}}")
    assert ok(local(api, "image", "inspect", "-f", template, "made/remote:1")) == \
        ok(local(api, "image", "inspect", "-f", template, "made/local:1"))
    assert ok(local(api, "run", "--rm", "--network", "none", "made/remote:1")) == "x\n"
    for image in ("made/remote:1", "busybox"):
        _same(api, "history", image, moments=True)
        _same(api, "history", "--no-trunc", "--human=false", image)
        _same(api, "history", "-q", image)
        _same(api, "image", "history", "--format",
              "{{.ID}}|{{.CreatedAt}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}", image)
    # a commit that pauses nothing and without a name: a dangling image, its ID printed
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n",
                        ok(remote(api, "container", "commit", "--pause=false", "changed")))


def test_bad_commits_diffs_and_histories(api):
    missing = remote(api, "commit", "nosuch", "x:1")
    assert (missing.returncode, missing.stderr) == \
        (1, b"Error response from daemon: No such container: nosuch\n")
    assert local(api, "commit", "nosuch", "x:1").stderr == missing.stderr
    ok(local(api, "create", "--name", "there", "busybox", "true"))
    bad = remote(api, "commit", "there", "Bad:Ref")
    assert (bad.returncode, bad.stderr) == (1, b"invalid reference format\n")
    assert local(api, "commit", "there", "Bad:Ref").stderr == bad.stderr
    nodiff = remote(api, "diff", "nosuch")
    assert (nodiff.returncode, nodiff.stderr) == \
        (1, b"Error response from daemon: No such container: nosuch\n")
    nohistory = remote(api, "history", "nosuch")   # docker's words (the host's 404)
    assert (nohistory.returncode, nohistory.stderr) == \
        (1, b"Error response from daemon: No such image: nosuch:latest\n")
    assert ok(local(api, "images", "-q")).count("\n") == 1   # nothing committed


OWN_SCRATCH = re.compile(r"tmp/p\d+-[0-9a-f]+(\.lock)?")


def _store_state(api) -> tuple:
    """What a failed load must leave as it was: the images, and no temporary or blob left
    behind in the host's store (the server's own scratch directory may appear, empty: it is
    made on first use and kept while the server runs; anything in it counts)."""
    inside = (p.relative_to(api.root) for p in api.root.rglob("*"))
    blobs = sorted(str(p) for p in inside if ("blobs" in p.parts or "tmp" in p.parts)
                   and not OWN_SCRATCH.fullmatch(str(p)))
    return ok(local(api, "images", "-a", "--no-trunc", "--format",
                    "{{.ID}} {{.Repository}}:{{.Tag}}")), blobs


def test_save_load_and_export_as_the_local_commands(api, tmp_path):
    ok(local(api, "tag", "busybox", "second:2"))
    theirs, ours = tmp_path / "remote.tar", tmp_path / "local.tar"
    ok(remote(api, "save", "-o", str(theirs), "busybox", "second:2"))
    ok(local(api, "save", "-o", str(ours), "busybox", "second:2"))
    assert theirs.read_bytes() == ours.read_bytes()
    assert oct(theirs.stat().st_mode & 0o777) == oct(ours.stat().st_mode & 0o777)
    piped = remote(api, "image", "save", "second:2")
    assert (piped.returncode, piped.stderr) == (0, b"")
    assert piped.stdout == local(api, "save", "second:2").stdout
    # load: the same "Loaded image" lines from a file and from stdin, -q too
    ok(local(api, "rmi", "second:2"))
    loaded = remote(api, "load", "-i", str(theirs))
    assert ok(loaded) == "Loaded image: busybox:latest\nLoaded image: second:2\n"
    assert "second:2" in ok(local(api, "images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert loaded.stdout == local(api, "load", "-i", str(theirs)).stdout
    quiet = remote(api, "image", "load", "-q", input=theirs.read_bytes())
    assert quiet.stdout == local(api, "load", "-q", input=theirs.read_bytes()).stdout
    # export of a container's filesystem, to stdout and to a file
    ok(local(api, "run", "--name", "exported", "--network", "none", "busybox", "sh", "-c",
             "echo content > /made"))
    assert remote(api, "export", "exported").stdout == local(api, "export", "exported").stdout
    target = tmp_path / "fs.tar"
    ok(remote(api, "container", "export", "-o", str(target), "exported"))
    assert target.read_bytes() == local(api, "export", "exported").stdout


def test_bad_archives_and_destinations(api, tmp_path):
    before = _store_state(api)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive\n" * 100)
    for args, given in ((["load", "-i", str(junk)], None), (["load"], junk.read_bytes())):
        refused = remote(api, *args, input=given)
        assert refused.returncode == 1 and refused.stdout == b""
        assert refused.stderr == (b"Error: cannot load the uploaded archive: not a tar archive "
                                  b"(docker-archive or oci-archive expected)\n")
    # a real archive cut short: the host's words, and again nothing of it kept
    whole = tmp_path / "whole.tar"
    ok(local(api, "save", "-o", str(whole), "busybox"))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 3])
    ok(local(api, "rmi", "busybox"))
    before = _store_state(api)
    truncated = remote(api, "load", "-i", str(cut))
    assert (truncated.returncode, truncated.stderr) == \
        (1, b"Error: cannot load: the archive is truncated or corrupt (unexpected end of data)\n")
    assert _store_state(api) == before              # nothing half-loaded on the host
    ok(remote(api, "load", "-i", str(whole)))
    gone = remote(api, "load", "-i", str(tmp_path / "nothere.tar"))
    assert (gone.returncode, gone.stderr) == \
        (1, f"Error: cannot load {tmp_path}/nothere.tar: No such file or directory\n".encode())
    # a destination whose directory does not exist: the local message, nothing asked
    nowhere = tmp_path / "no" / "dir" / "out.tar"
    for command in (["save", "-o", str(nowhere), "busybox"],):
        here, there = local(api, *command), remote(api, *command)
        assert (there.returncode, there.stderr) == (here.returncode, here.stderr) == \
            (1, f"Error: cannot write {nowhere}: No such file or directory\n".encode())
    ok(local(api, "create", "--name", "tobeexported", "busybox", "true"))
    there = remote(api, "export", "-o", str(nowhere), "tobeexported")
    assert (there.returncode, there.stderr) == \
        (1, f"Error: cannot write {nowhere}: No such file or directory\n".encode())
    assert not (tmp_path / "no").exists()
    # a directory as the destination: refused on both sides, by the local command too (export
    # -o DIR was an internal error)
    for command in (["save", "-o", str(tmp_path), "busybox"],
                    ["export", "-o", str(tmp_path), "tobeexported"]):
        here, there = local(api, *command), remote(api, *command)
        assert (there.returncode, there.stderr) == (here.returncode, here.stderr) == \
            (1, f"Error: cannot write {tmp_path}: Is a directory\n".encode())
    assert not [p for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}.")]
    gone_dir = local(api, "export", "-o", str(nowhere), "tobeexported")
    assert (gone_dir.returncode, gone_dir.stderr) == \
        (1, f"Error: cannot write {nowhere}: No such file or directory\n".encode())
    # the host refuses a missing image or container: no file, no temporary beside it
    out = tmp_path / "out"
    out.mkdir()
    missing = remote(api, "save", "-o", str(out / "x.tar"), "busybox", "nosuch")
    assert (missing.returncode, missing.stderr) == \
        (1, b"Error response from daemon: No such image: nosuch\n")
    nocontainer = remote(api, "export", "-o", str(out / "y.tar"), "nosuch")
    assert (nocontainer.returncode, nocontainer.stderr) == \
        (1, b"Error response from daemon: No such container: nosuch\n")
    assert list(out.iterdir()) == []
    oci = remote(api, "save", "--format", "oci-archive", "-o", str(out / "z.tar"), "busybox")
    assert oci.returncode == 1 and b"--format oci-archive is not supported on a remote host" \
        in oci.stderr and list(out.iterdir()) == []


# df -v fields that are a moment's reading (seconds ago, a status with a duration)
MOMENTARY = ("CreatedSince", "RunningFor", "Status", "LastUsedSince")


def test_events_and_system_df_verbose_as_the_local_commands(api):
    ok(local(api, "volume", "create", "--label", "a=b", "kept"))
    ok(local(api, "run", "--name", "dfv", "-v", "kept:/data", "--network", "none", "busybox",
             "sh", "-c", "echo 12345 > /data/f; echo abc > /g"))
    window = ["--since", "10m", "--until", "0s"]
    assert "container create" in _same(api, "events", *window)
    _same(api, "events", *window, "--format", "{{json .}}", "-f", "type=container",
          "-f", "event=die")
    _same(api, "events", *window, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
          "-f", "container=dfv")
    bad = remote(api, "events", "--format", "{{.Nope")
    assert bad.returncode == local(api, "events", "--format", "{{.Nope").returncode == 64

    def tables(result) -> dict:
        document = json.loads(ok(result))
        for rows in document.values():
            for row in rows or ():
                for key in MOMENTARY:
                    row.pop(key, None)
        return document

    there = tables(remote(api, "system", "df", "-v", "--format", "json"))
    assert there == tables(local(api, "system", "df", "-v", "--format", "json"))
    assert [v["Name"] for v in there["Volumes"]] == ["kept"] and \
        there["Volumes"][0]["Size"] == "6B"
    # the default tables: the same headings and rows (moments aside)
    _same(api, "system", "df", "-v", moments=True)
    _same(api, "system", "df")
    _same(api, "system", "df", "--format", "{{json .}}")
