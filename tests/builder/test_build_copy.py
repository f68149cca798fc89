"""End to end without containers: COPY/ADD/WORKDIR/metadata builds on busybox, and caching."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from pallet.base.errors import PalletError
from tests.builder.conftest import build_image, flatten, image_config, read_file, write_tree

pytestmark = pytest.mark.root


def test_copy_workdir_and_metadata_build(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nENV APP=/app\nWORKDIR $APP\nCOPY hello.txt .\n"
                      "COPY src/ ./src/\nLABEL v=1\nEXPOSE 8080\nUSER 1000\n"
                      "CMD [\"cat\", \"hello.txt\"]\n",
        "hello.txt": "hello\n", "src/a.c": "int a;\n", "src/sub/b.h": "#x\n"})
    os.chmod(context / "src" / "a.c", 0o600)
    result, log = build_image(busybox_root, context, tags=("app:1",))
    files = flatten(busybox_root, "app:1")
    assert files["/app/hello.txt"][:4] == ("file", 0o644, 0, 0)
    assert files["/app/src/a.c"][:2] == ("file", 0o600)
    assert files["/app/src/sub/b.h"][0] == "file"
    assert read_file(busybox_root, "app:1", "/app/hello.txt") == "hello\n"
    config = image_config(busybox_root, "app:1")
    assert config["config"]["WorkingDir"] == "/app"
    assert config["config"]["User"] == "1000"
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert config["config"]["Labels"] == {"v": "1"}
    assert config["config"]["Cmd"] == ["cat", "hello.txt"]
    assert "APP=/app" in config["config"]["Env"]
    created_by = [h.get("created_by", "") for h in config["history"]]
    assert created_by[-1] == 'CMD ["cat" "hello.txt"]'
    assert "COPY hello.txt . # buildkit" in created_by
    assert result.tags == ("docker.io/library/app:1",)
    assert "naming to docker.io/library/app:1 done" in log and result.image_id in log


def test_no_change_rebuild_is_all_cached_with_the_same_id(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY a /a\nCOPY b /b\n", "a": "A", "b": "B"})
    first, _ = build_image(busybox_root, context, tags=("c:1",))
    second, log = build_image(busybox_root, context, tags=("c:1",))
    assert second.image_id == first.image_id
    assert log.count("CACHED") == 2 and second.stats["executed"] == 0


def test_touch_is_a_hit_and_unrelated_change_keeps_the_copy_cached(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY a /a\nCOPY b /b\n", "a": "A", "b": "B"})
    build_image(busybox_root, context)
    os.utime(context / "a", ns=(1, 1))
    (context / "unrelated").write_text("new")
    (context / "b").write_text("B2")
    result, log = build_image(busybox_root, context)
    assert result.stats["cached"] == 1 and result.stats["executed"] == 1
    # #1 is the FROM, #2 the context load: the touched a and the changed b are read again
    assert "#2 [internal] load build context\n#2 transferring context: 3B " in log
    assert "#3 CACHED" in log


def test_no_cache_rebuilds_everything(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY a /a\n", "a": "A"})
    build_image(busybox_root, context)
    result, log = build_image(busybox_root, context, no_cache=True)
    assert result.stats["cached"] == 0 and "CACHED" not in log


def test_dockerignore_filters_copy_and_key(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\n", ".dockerignore": "*.log\nsecret/\n",
        "keep.txt": "k", "debug.log": "x", "secret/key": "s"})
    build_image(busybox_root, context, tags=("ig:1",))
    files = flatten(busybox_root, "ig:1")
    assert "/ctx/keep.txt" in files and "/ctx/debug.log" not in files
    assert "/ctx/secret/key" not in files
    (context / "debug.log").write_text("changed log")
    result, _ = build_image(busybox_root, context, tags=("ig:1",))
    assert result.stats["executed"] == 0


def test_multi_stage_copy_from_and_target(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS one\nCOPY a /out/a\nFROM busybox AS unused\n"
                      "COPY missing /x\nFROM busybox\nCOPY --from=one /out /copied\n"
                      "COPY --from=0 --chown=7:8 /out/a /owned\n",
        "a": "from stage one"})
    build_image(busybox_root, context, tags=("ms:1",))
    files = flatten(busybox_root, "ms:1")
    assert files["/copied/a"][0] == "file" and files["/owned"][2:4] == (7, 8)
    assert read_file(busybox_root, "ms:1", "/copied/a") == "from stage one"
    result, _ = build_image(busybox_root, context, tags=("one:1",), target="one")
    assert "/out/a" in flatten(busybox_root, "one:1")


def test_add_extracts_local_archives_by_content(busybox_root, tmp_path):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("pkg/readme")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nADD bundle.bin /opt/\nCOPY bundle.bin /raw/\n",
        "bundle.bin": gzip.compress(data.getvalue())})
    build_image(busybox_root, context, tags=("add:1",))
    files = flatten(busybox_root, "add:1")
    assert files["/opt/pkg/readme"][0] == "file"
    assert files["/raw/bundle.bin"][0] == "file"


def test_copy_errors_point_at_the_instruction(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY ../etc/passwd /x\n"})
    with pytest.raises(PalletError) as caught:
        build_image(busybox_root, context, tags=("bad:1",))
    assert caught.value.span.line == 2 and "outside the build context" in caught.value.message
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    with pytest.raises(PalletError):
        resolve_image(Store.open(busybox_root), "bad:1")


def test_heredoc_copy_and_chmod(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nARG WHO=world\nCOPY --chmod=755 <<EOF /hello.sh\n"
                      "echo hello $WHO\nEOF\n"})
    build_image(busybox_root, context, tags=("hd:1",))
    assert flatten(busybox_root, "hd:1")["/hello.sh"][1] == 0o755
    assert read_file(busybox_root, "hd:1", "/hello.sh") == "echo hello world\n"


def test_reproducible_builds_in_two_fresh_roots(tmp_path):
    import shutil
    import time

    from tests.images import make_busybox_image
    template = tmp_path / "template"
    template.mkdir()
    make_busybox_image(template)  # the same base image in both roots, as after two pulls
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nWORKDIR /w\nCOPY a /a\nENV X=1\n", "a": "same"})
    ids = []
    for name in ("r1", "r2"):
        root = tmp_path / name
        shutil.copytree(template, root, symlinks=True)
        result, _ = build_image(root, context, source_date_epoch=1_700_000_000)
        ids.append(result.image_id)
        later = time.time_ns() + 10**11  # a fresh checkout: a newer mtime must not matter
        os.utime(context / "a", ns=(later, later))
        time.sleep(0.01)
    assert ids[0] == ids[1]
    config = image_config(tmp_path / "r1", ids[0])
    assert config["created"] == "2023-11-14T22:13:20Z"


def test_plan_cache_is_reused_only_while_base_images_are_unchanged(busybox_root, tmp_path):
    from tests.images import make_busybox_image
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nENV V=1\nCOPY a /a\n",
                                            "a": "A"})
    first, _ = build_image(busybox_root, context, tags=("pc:1",))
    plans = list((busybox_root / "cache" / "plans").iterdir())
    assert len(plans) == 1
    again, _ = build_image(busybox_root, context, tags=("pc:1",))
    assert again.image_id == first.image_id
    # a new busybox under the same tag: the cached plan (base config, key) must not be used
    make_busybox_image(busybox_root, changes=('CMD ["sh"]', "ENV FROM_NEW_BASE=yes"))
    rebuilt, _ = build_image(busybox_root, context, tags=("pc:1",))
    assert rebuilt.image_id != first.image_id
    assert "FROM_NEW_BASE=yes" in image_config(busybox_root, "pc:1")["config"]["Env"]


def test_layers_are_stored_uncompressed_unless_asked(busybox_root, tmp_path):
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY a /a\n", "a": "A"})
    build_image(busybox_root, context, tags=("plain:1",))
    build_image(busybox_root, context, tags=("gz:1",), no_cache=True, compression="gzip")
    store = Store.open(busybox_root)
    assert resolve_image(store, "plain:1").layers[-1].media_type == \
        "application/vnd.oci.image.layer.v1.tar"
    assert resolve_image(store, "gz:1").layers[-1].media_type == \
        "application/vnd.oci.image.layer.v1.tar+gzip"


def test_a_rerun_copy_hard_links_the_unchanged_files_of_its_last_layer(busybox_root, tmp_path):
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    files = {f"data/f{i}": f"content {i}\n" * 50 for i in range(100)}
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY data /data\n",
                                            **files})
    build_image(busybox_root, context, tags=("hl:1",))
    (context / "data" / "f7").write_text("changed\n")
    os.utime(context / "data" / "f8", ns=(1, 1))  # same bytes, new mtime: copied, not linked
    build_image(busybox_root, context, tags=("hl:2",))
    store = Store.open(busybox_root)
    old, new = (store.layers / resolve_image(store, f"hl:{n}").diff_ids[-1].split(":")[1]
                for n in (1, 2))
    assert os.stat(new / "data" / "f3").st_ino == os.stat(old / "data" / "f3").st_ino
    assert os.stat(new / "data" / "f7").st_ino != os.stat(old / "data" / "f7").st_ino
    assert os.stat(new / "data" / "f8").st_ino != os.stat(old / "data" / "f8").st_ino
    assert read_file(busybox_root, "hl:2", "/data/f7") == "changed\n"
    assert read_file(busybox_root, "hl:2", "/data/f3") == "content 3\n" * 50
    assert os.stat(new / "data" / "f8").st_mtime_ns == 1


def test_per_dockerfile_ignore_file_wins_over_the_context_one(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY . /c/\n", ".dockerignore": "a\n",
        "build/app.Dockerfile": "FROM busybox\nCOPY . /c/\n",
        "build/app.Dockerfile.dockerignore": "b\nbuild\n", "a": "a", "b": "b"})
    build_image(busybox_root, context, tags=("di:1",))
    files = flatten(busybox_root, "di:1")
    assert "/c/a" not in files and "/c/b" in files
    build_image(busybox_root, context, tags=("di:2",),
                dockerfile=str(context / "build" / "app.Dockerfile"))
    files = flatten(busybox_root, "di:2")
    assert "/c/a" in files and "/c/b" not in files and "/c/build" not in files


def test_a_no_change_rebuild_writes_nothing_to_the_image_index(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY a /a\n", "a": "A"})
    index = busybox_root / "oci" / "index.json"
    for tags in (("nc:1",), ()):
        first, _ = build_image(busybox_root, context, tags=tags)
        before = os.stat(index).st_mtime_ns
        again, _ = build_image(busybox_root, context, tags=tags)
        assert again.image_id == first.image_id
        assert os.stat(index).st_mtime_ns == before
