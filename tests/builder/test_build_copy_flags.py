"""COPY/ADD flags the classic builder lacks, checked against what the reference promises:
--link, --parents, --exclude, --chmod, ADD <url> --checksum, and --from an image."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading

import pytest

from pallet.base.errors import PalletError
from tests.builder.conftest import build_image, flatten, read_file, write_tree

pytestmark = pytest.mark.root


def test_link_copies_into_an_independent_layer(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN mkdir -m 700 /srv\nCOPY --link app.txt /srv/app.txt\n",
        "app.txt": "app"})
    build_image(busybox_root, context, tags=("l:1",))
    files = flatten(busybox_root, "l:1")
    assert read_file(busybox_root, "l:1", "/srv/app.txt") == "app"
    # the linked layer did not see /srv: its own parent dir (0755) replaced the mode, as
    # BuildKit documents ("existing directory modes are overwritten")
    assert files["/srv"][1] == 0o755


def test_parents_keeps_source_directories(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY --parents x/a/f.txt y/b/g.txt /out/\n"
                      "COPY --parents ./x/./a/f.txt /pivot/\n",
        "x/a/f.txt": "f", "y/b/g.txt": "g"})
    build_image(busybox_root, context, tags=("p:1",))
    files = flatten(busybox_root, "p:1")
    assert "/out/x/a/f.txt" in files and "/out/y/b/g.txt" in files
    assert "/pivot/a/f.txt" in files


def test_exclude_drops_matching_files(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY --exclude=*.md --exclude=tmp src /dst/\n",
        "src/keep.c": "k", "src/README.md": "r", "src/tmp/junk": "j", "src/sub/notes.md": "n"})
    build_image(busybox_root, context, tags=("e:1",))
    files = {p for p in flatten(busybox_root, "e:1") if p.startswith("/dst")}
    # patternmatcher rules (as .dockerignore): "*.md" matches only at the source root
    assert files == {"/dst", "/dst/keep.c", "/dst/sub", "/dst/sub/notes.md"}


def test_exclude_with_a_negation_keeps_the_excluded_parent_of_what_it_takes_back(
        busybox_root, tmp_path):
    # Issue 16: FileNotFoundError (the kept s/sub had no parent in the layer). BuildKit's
    # walker emits an excluded directory that holds re-included entries.
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY --exclude=s --exclude=!s/sub dirA dirB /dest/\n",
        "dirA/s/sub/f": "1", "dirA/s/other": "2", "dirA/keep": "3",
        "dirB/s/sub/g": "4", "dirB/s/deeper/h": "5", "dirB/x": "6"})
    os.chmod(context / "dirA" / "s", 0o750)
    build_image(busybox_root, context, tags=("neg:1",))
    files = flatten(busybox_root, "neg:1")
    assert sorted(p for p in files if p.startswith("/dest")) == [
        "/dest", "/dest/keep", "/dest/s", "/dest/s/sub", "/dest/s/sub/f", "/dest/s/sub/g",
        "/dest/x"]
    assert files["/dest/s"][:2] == ("dir", 0o755)   # dirB's s, copied after dirA's


def test_chmod_applies_to_files_and_directories(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY --chmod=0640 d /d/\n", "d/f": "f", "d/s/g": "g"})
    build_image(busybox_root, context, tags=("m:1",))
    files = flatten(busybox_root, "m:1")
    assert files["/d/f"][1] == 0o640 and files["/d/s"][1] == 0o640


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    handler = lambda *a, **k: _Handler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_add_url_with_checksum(busybox_root, tmp_path, http_server):
    served, base = http_server
    (served / "tool.bin").write_bytes(b"binary payload")
    digest = "sha256:" + hashlib.sha256(b"binary payload").hexdigest()
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": f"FROM busybox\nADD --checksum={digest} {base}/tool.bin /opt/\n"})
    build_image(busybox_root, context, tags=("u:1",))
    files = flatten(busybox_root, "u:1")
    assert files["/opt/tool.bin"][:2] == ("file", 0o600)
    # a changed download is a changed input: the step reruns
    (served / "tool.bin").write_bytes(b"other payload!")
    write_tree(context, {"Dockerfile": f"FROM busybox\nADD {base}/tool.bin /opt/\n"})
    build_image(busybox_root, context, tags=("u:2",))
    assert read_file(busybox_root, "u:2", "/opt/tool.bin") == "other payload!"
    write_tree(context, {"Dockerfile": f"FROM busybox\nADD --checksum={digest} {base}/tool.bin /o\n"})
    with pytest.raises(PalletError, match="digest mismatch"):
        build_image(busybox_root, context)


def test_copy_from_an_image_by_name(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch\nCOPY --from=busybox /bin/busybox /busybox\n"})
    build_image(busybox_root, context, tags=("img:1",))
    assert flatten(busybox_root, "img:1")["/busybox"][0] == "file"


def test_a_symlink_pointing_out_of_the_context_stays_in_it(busybox_root, tmp_path):
    # Docker resolves it inside the context: /etc means the context's etc, here missing.
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY out /x\n"})
    os.symlink("/etc", context / "out")
    with pytest.raises(PalletError, match="file not found in build context") as caught:
        build_image(busybox_root, context)
    assert caught.value.span.line == 2


def test_labels_and_no_cache_filter(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS a\nRUN echo a > /a\nFROM a AS b\nRUN echo b > /b\n"})
    from tests.builder.conftest import image_config
    build_image(busybox_root, context, tags=("f:1",), labels={"org.example": "yes"})
    assert image_config(busybox_root, "f:1")["config"]["Labels"] == {"org.example": "yes"}
    result, log = build_image(busybox_root, context, tags=("f:2",), no_cache_filter=("b",))
    assert result.stats["cached"] == 1 and result.stats["executed"] == 1
