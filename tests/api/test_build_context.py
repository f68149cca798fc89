"""POST /build with the context kept between builds (builder/keptcontext.py): through the stock
docker CLI (classic builder) a rebuild sees every change, also an edit that keeps the size and
the mtime, removed files and a file turned into a directory; a truncated or broken body is an
error and the next build is right; a client that leaves mid-upload leaves a tree the next build
gets right; two builds of one context at once each get their own content."""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import threading

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root]

DOCKERFILE = "FROM busybox\nCOPY . /ctx\nCMD [\"sh\", \"-c\", \"cd /ctx && find . | sort && cat a\"]\n"


def _context(tmp_path, name: str = "ctx"):
    context = tmp_path / name
    (context / "sub").mkdir(parents=True)
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "a").write_text("one\n")
    (context / "b").write_text("bravo\n")
    (context / "sub" / "c").write_text("charlie\n")
    return context


def _listing(api, tag: str) -> str:
    return api.docker("run", "--rm", tag, check=True).stdout.decode()


def _kept_trees(api) -> list[str]:
    base = api.root / "cache" / "context"
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def test_a_rebuild_sees_every_change_of_the_kept_context(api, tmp_path):
    context = _context(tmp_path)
    api.docker("build", "-q", "-t", "kept:1", str(context), check=True)
    assert _listing(api, "kept:1").endswith("./sub/c\none\n")
    trees = _kept_trees(api)
    assert len(trees) == 1
    kept_a = api.root / "cache" / "context" / trees[0] / "a"
    inode = kept_a.stat().st_ino
    # the same context again: the kept file keeps its inode
    api.docker("build", "-q", "-t", "kept:2", str(context), check=True)
    assert kept_a.stat().st_ino == inode and _kept_trees(api) == trees
    # same size, same mtime, other bytes: the tar's header matches, the content does not
    stamp = (context / "a").stat()
    (context / "a").write_text("two\n")
    os.utime(context / "a", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (context / "b").unlink()
    (context / "sub" / "c").unlink()
    (context / "sub" / "c").mkdir()
    (context / "sub" / "c" / "d").write_text("delta\n")
    api.docker("build", "-q", "-t", "kept:3", str(context), check=True)
    listing = _listing(api, "kept:3")
    assert listing == ".\n./Dockerfile\n./a\n./sub\n./sub/c\n./sub/c/d\ntwo\n", listing
    assert _kept_trees(api) == trees


def _raw_build(api, query: str, head: bytes, body_parts, *, close_early: bool = False):
    """POST /build on the server's socket with a chunked body; the answer's JSON messages
    (None when the client left before reading any)."""
    client = socket.socket(socket.AF_UNIX)
    client.connect(api.server_socket)
    client.settimeout(60)
    client.sendall(f"POST /v1.41/build?{query} HTTP/1.1\r\nHost: x\r\n".encode()
                   + b"Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n")
    for part in body_parts:
        client.sendall(b"%x\r\n%s\r\n" % (len(part), part))
    if close_early:
        client.close()
        return None
    client.shutdown(socket.SHUT_WR)     # the body ends here, without its last chunk
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    client.close()
    lines = [line for line in answer.split(b"\r\n") if line.startswith(b"{")]
    return [json.loads(line) for line in lines]


def _tar_of(context) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(context.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(context)), recursive=False)
    return buffer.getvalue()


def test_a_truncated_body_is_an_error_and_the_next_build_is_right(api, tmp_path):
    context = _context(tmp_path)
    (context / "big").write_bytes(os.urandom(2_000_000))
    api.docker("build", "-q", "-t", "cut:1", str(context), check=True)
    (context / "a").write_text("cut\n")
    data = _tar_of(context)
    messages = _raw_build(api, "t=cut:2", b"", [data[:len(data) // 2]])
    assert messages and "error" in messages[-1], messages
    assert "ended early" in messages[-1]["error"] or "truncated" in messages[-1]["error"]
    assert "internal error" not in messages[-1]["error"]
    assert api.docker("images", "-q", "cut:2").stdout.strip() == b""
    api.docker("build", "-q", "-t", "cut:3", str(context), check=True)
    assert _listing(api, "cut:3").endswith("cut\n")


def test_a_body_that_is_not_a_tar_gets_a_clear_error(api):
    for body, words in ((b"\x1f\x8b\x08\x00" + os.urandom(600), "gzip"),
                        (b"\x00" * 100 + os.urandom(1000), "")):
        status, _, answer = api.request("POST", "/v1.41/build?t=nottar:1", body=body,
                                        headers={"Content-Type": "application/x-tar"})
        assert status == 200
        last = json.loads(answer.splitlines()[-1])
        assert "error" in last and "internal error" not in last["error"], last
        assert words in last["error"]
    assert api.docker("images", "-q", "nottar:1").stdout.strip() == b""


def test_a_client_leaving_mid_upload_leaves_a_tree_the_next_build_gets_right(api, tmp_path):
    context = _context(tmp_path)
    for number in range(300):
        (context / "sub" / f"f{number:03d}").write_text(f"{number}\n" * 100)
    api.docker("build", "-q", "-t", "gone:1", str(context), check=True)
    (context / "a").write_text("after\n")
    (context / "sub" / "f150").write_text("changed\n")
    data = _tar_of(context)
    _raw_build(api, "t=gone:1", b"", [data[:len(data) * 2 // 3]], close_early=True)
    assert api.request("GET", "/_ping")[0] == 200
    (context / "sub" / "f100").unlink()
    api.docker("build", "-q", "-t", "gone:2", str(context), check=True)
    listing = _listing(api, "gone:2")
    assert "./sub/f100\n" not in listing and listing.endswith("after\n")
    assert api.docker("run", "--rm", "gone:2", "cat", "/ctx/sub/f150",
                      check=True).stdout == b"changed\n"


def test_two_builds_of_one_context_at_once_each_get_their_own(api, tmp_path):
    contexts = []
    for number in range(2):
        context = _context(tmp_path, f"ctx{number}")
        for index in range(200):
            (context / "sub" / f"f{index:03d}").write_text(f"{number}\n" * 50)
        (context / "a").write_text(f"from {number}\n")
        contexts.append(context)
    results = {}

    def build(number: int) -> None:
        results[number] = api.docker("build", "-q", "-t", f"twin:{number}", str(contexts[number]))

    for _ in range(2):
        threads = [threading.Thread(target=build, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for number in range(2):
            assert results[number].returncode == 0, results[number].stderr
            assert _listing(api, f"twin:{number}").endswith(f"from {number}\n")
            assert api.docker("run", "--rm", f"twin:{number}", "cat", "/ctx/sub/f123",
                              check=True).stdout == f"{number}\n".encode() * 50


def _hostile_tar(entries) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_hostile_context_members_are_refused_and_nothing_lands_outside(api, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dockerfile = ("Dockerfile", "file", b"FROM busybox\nCOPY . /ctx\n")
    cases = {
        "dotdot": [dockerfile, ("../../../../../../" + str(outside).lstrip("/") + "/evil",
                                "file", b"x")],
        "absolute": [dockerfile, (str(outside / "evil"), "file", b"x")],
        "through-a-link": [dockerfile, ("out", "symlink", str(outside)),
                           ("out/evil", "file", b"x")],
    }
    for name, entries in cases.items():
        for _ in range(2):        # a fresh kept tree, then the same tree again
            status, _, body = api.request("POST", "/v1.41/build?t=hostile:1",
                                          body=_hostile_tar(entries),
                                          headers={"Content-Type": "application/x-tar"})
            assert status == 200, (name, body)
            last = json.loads(body.splitlines()[-1])
            assert "unsafe archive content" in last.get("error", ""), (name, last)
        assert list(outside.iterdir()) == [], name
    assert api.docker("images", "-q", "hostile:1").stdout.strip() == b""
    # the kept tree is still usable: a good context of the same name builds right
    good = _context(tmp_path, "good")
    (good / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx\nCMD [\"cat\", \"/ctx/a\"]\n")
    api.docker("build", "-q", "-t", "hostile:1", str(good), check=True)
    assert api.docker("run", "--rm", "hostile:1", check=True).stdout == b"one\n"
