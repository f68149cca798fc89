"""A large COPY of a context directory as several layers (builder/copychunks.py): a rebuild
after a one-file change makes one chunk again, and its image has the layer digests of a build
from scratch; the merged tree is the one-layer copy's; the cache keeps its guarantees.

The size from which a copy is chunked (64 MiB) is lowered for these tests: the rules are the
same at any size, and a 64 MiB context per test would cost seconds of disk writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.builder.conftest import build_image, flatten, write_tree
from tests.images import make_busybox_image

pytestmark = pytest.mark.root

DOCKERFILE = "FROM busybox\nCOPY data /data\n"


@pytest.fixture
def chunked(monkeypatch):
    from pallet.builder import copychunks
    monkeypatch.setattr(copychunks, "CHUNK_MIN_BYTES", 1)


def make_context(base, *, files: int = 200):
    tree = {"Dockerfile": DOCKERFILE, "data/empty/.keep": ""}
    for index in range(files):
        tree[f"data/d{index % 7}/f{index}"] = f"content {index}\n" * 20
    context = write_tree(base, tree)
    os.remove(context / "data" / "empty" / ".keep")        # an empty directory is copied too
    os.chmod(context / "data" / "d3", 0o700)
    os.utime(context / "data" / "d3", ns=(10**18, 10**18))
    return context


def image(root, reference):
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    return resolve_image(Store.open(root), reference)


def directory_times(root, reference) -> dict[str, int]:
    from pallet.builder.layerview import LayeredView
    from pallet.runtime.image.layers import layer_dirs
    from pallet.runtime.store.content import Store
    store = Store.open(root)
    view = LayeredView(layer_dirs(store, image(root, reference)))
    return {path: view.lstat(path).st_mtime_ns for path in ("/data", "/data/d3", "/data/empty")}


def test_a_one_file_change_makes_one_chunk_again_with_the_digests_of_a_fresh_build(
        chunked, busybox_root, tmp_path):
    context = make_context(tmp_path / "ctx")
    build_image(busybox_root, context, tags=("c:1",))
    first = image(busybox_root, "c:1")
    copied = first.diff_ids[1:]
    assert len(copied) >= 4          # several chunks and the directory layer on top
    config = json.loads((busybox_root / "oci" / "blobs" / "sha256" /
                         first.id.split(":")[1]).read_text())
    assert len(config["history"]) == len(first.diff_ids)   # one history entry per layer
    (context / "data" / "d2" / "f9").write_text("changed\n")
    result, log = build_image(busybox_root, context, tags=("c:2",))
    assert result.stats["executed"] == 1, log
    second = image(busybox_root, "c:2")
    changed = [i for i, (a, b) in enumerate(zip(first.diff_ids, second.diff_ids)) if a != b]
    assert len(second.diff_ids) == len(first.diff_ids) and len(changed) == 1, changed
    # the chunk made again shares the inodes of its unchanged files with the previous one
    old, new = (busybox_root / "layers" / built.diff_ids[changed[0]].split(":")[1]
                for built in (first, second))
    names = [p.name for p in (new / "data" / "d2").iterdir() if p.name != "f9"]
    assert names and all(os.stat(new / "data" / "d2" / name).st_ino ==
                         os.stat(old / "data" / "d2" / name).st_ino for name in names)
    assert (new / "data" / "d2" / "f9").read_text() == "changed\n"
    # the same context built from scratch in another store: the same layers, byte for byte
    fresh = tmp_path / "fresh"
    make_busybox_image(fresh)
    build_image(fresh, context, tags=("c:2",))
    assert image(fresh, "c:2").diff_ids == second.diff_ids


def test_the_chunked_tree_is_the_one_layer_tree(chunked, busybox_root, tmp_path, monkeypatch):
    from pallet.builder import copychunks
    context = make_context(tmp_path / "ctx")
    build_image(busybox_root, context, tags=("chunks:1",))
    monkeypatch.setattr(copychunks, "CHUNK_MIN_BYTES", 1 << 40)
    build_image(busybox_root, context, tags=("one:1",), no_cache=True)
    assert len(image(busybox_root, "one:1").diff_ids) == 2
    assert len(image(busybox_root, "chunks:1").diff_ids) > 2
    assert flatten(busybox_root, "chunks:1") == flatten(busybox_root, "one:1")
    assert flatten(busybox_root, "chunks:1")["/data/d3"][:2] == ("dir", 0o700)
    assert directory_times(busybox_root, "chunks:1") == directory_times(busybox_root, "one:1")
    assert directory_times(busybox_root, "one:1")["/data/d3"] == 10**18


def test_a_touch_hits_and_a_changed_file_always_misses(chunked, busybox_root, tmp_path):
    from pallet.builder.layerview import LayeredView
    from pallet.runtime.image.layers import layer_dirs
    from pallet.runtime.store.content import Store
    context = make_context(tmp_path / "ctx")
    first, _ = build_image(busybox_root, context, tags=("t:1",))
    os.utime(context / "data" / "d1" / "f8", ns=(5 * 10**18, 5 * 10**18))
    again, log = build_image(busybox_root, context, tags=("t:1",))
    assert again.image_id == first.image_id and again.stats["executed"] == 0, log
    for text in ("one\n", "two\n"):
        (context / "data" / "d1" / "f8").write_text(text)
        result, log = build_image(busybox_root, context, tags=("t:2",))
        assert result.stats["executed"] == 1, log
        view = LayeredView(layer_dirs(Store.open(busybox_root), image(busybox_root, "t:2")))
        with open(view.lookup("/data/d1/f8")) as handle:
            assert handle.read() == text


def test_a_small_copy_stays_one_layer(busybox_root, tmp_path):
    context = make_context(tmp_path / "ctx", files=20)
    build_image(busybox_root, context, tags=("small:1",))
    assert len(image(busybox_root, "small:1").diff_ids) == 2


def test_a_chunked_step_travels_through_a_local_cache_and_prunes_whole(
        chunked, busybox_root, tmp_path):
    context = make_context(tmp_path / "ctx")
    cache = tmp_path / "cache"
    fresh = tmp_path / "fresh"          # the same base image, nothing built
    shutil.copytree(busybox_root, fresh, symlinks=True)
    made, _ = build_image(busybox_root, context, tags=("x:1",),
                          cache_to=(f"type=local,dest={cache}",))
    result, log = build_image(fresh, context, cache_from=(f"type=local,src={cache}",),
                              tags=("x:1",))
    assert result.stats["executed"] == 0 and result.image_id == made.image_id, log
    layers = image(fresh, "x:1").layers[1:]
    from pallet.runtime.store.content import Store
    from pallet.builder.prune import prune_cache
    from pallet.runtime.image.removal import remove_image
    remove_image(Store.open(fresh), "x:1")
    pruned = prune_cache(fresh, all_records=True, older_than_s=None, keep_storage=None)
    assert pruned.records >= 1
    store = Store.open(fresh)
    assert not any(store.has_blob(layer.digest) for layer in layers)


def test_skopeo_reads_a_chunked_image(chunked, busybox_root, tmp_path):
    context = make_context(tmp_path / "ctx")
    build_image(busybox_root, context, tags=("sk:1",))
    built = image(busybox_root, "sk:1")
    result = subprocess.run(["skopeo", "inspect", f"oci:{busybox_root}/oci:docker.io/library/sk:1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Layers"] == [layer.digest for layer in built.layers]


def test_no_chunk_holds_more_than_the_spacing_and_cuts_follow_paths():
    """An edit re-makes one chunk of at most `spacing` files (N/32 < spacing <= N/16): with
    10,000 files no chunk holds more than 512 (the cap was 1,024), and a changed file changes
    that chunk's key alone."""
    from pallet.builder import copychunks
    from pallet.builder.sources import SourceEntry, SourceTree

    def tree(changed: str = "") -> SourceTree:
        root = SourceEntry(relpath="", host_path="/c/data", kind="dir", mode=0o755, uid=0,
                           gid=0, size=0, mtime_ns=1)
        dirs, files, hashes = [], [], {}
        for d in range(100):
            dirs.append(SourceEntry(relpath=f"d{d:02d}", host_path="", kind="dir", mode=0o755,
                                    uid=0, gid=0, size=0, mtime_ns=1))
            for name in sorted(f"f{i}" for i in range(d, 10_000, 100)):
                rel = f"d{d:02d}/{name}"
                files.append(SourceEntry(relpath=rel, host_path="", kind="file", mode=0o644,
                                         uid=0, gid=0, size=30_000, mtime_ns=1))
                hashes[rel] = "1" * 32 if rel == changed else "0" * 32
        entries = [root]
        for d in dirs:      # the walk's order: a directory, then what it holds
            entries.append(d)
            entries += [f for f in files if f.relpath.startswith(d.relpath + "/")]
        return SourceTree(kind="dir", name="data", entries=tuple(entries), hashes=hashes)

    before = copychunks.plan_chunks([tree()], base="b")
    files = [chunk for chunk in before if not chunk.directories]
    sizes = [sum(e.kind == "file" for e in chunk.tree.entries) for chunk in files]
    assert sum(sizes) == 10_000 and max(sizes) <= 512 and 25 <= len(files) <= 51, sizes
    after = copychunks.plan_chunks([tree(changed="d00/f0")], base="b")
    assert [c.key for c in after][1:] == [c.key for c in before][1:]
    assert after[0].key != before[0].key


def test_skopeo_and_umoci_read_a_rebuilt_chunked_image(chunked, busybox_root, tmp_path):
    """After a one-file change (one chunk made again, the others kept), the image is still a
    standard OCI image: skopeo lists its layers, umoci unpacks it to the context's tree."""
    context = make_context(tmp_path / "ctx")
    build_image(busybox_root, context, tags=("re:1",))
    (context / "data" / "d4" / "f11").write_text("changed after the first build\n")
    build_image(busybox_root, context, tags=("re:2",))
    built = image(busybox_root, "re:2")
    reference = f"{busybox_root}/oci:docker.io/library/re:2"
    inspected = subprocess.run(["skopeo", "inspect", f"oci:{reference}"], capture_output=True,
                               text=True, timeout=60)
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["Layers"] == [layer.digest for layer in built.layers]
    bundle = tmp_path / "bundle"
    unpacked = subprocess.run(["umoci", "--log", "error", "unpack", "--image", reference,
                               str(bundle)], capture_output=True, text=True, timeout=120)
    assert unpacked.returncode == 0, unpacked.stderr
    data = bundle / "rootfs" / "data"
    assert (data / "d4" / "f11").read_text() == "changed after the first build\n"
    want = {p.relative_to(context / "data"): p.read_bytes()
            for p in (context / "data").rglob("*") if p.is_file()}
    got = {p.relative_to(data): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert got == want
    assert (data / "empty").is_dir() and oct((data / "d3").stat().st_mode & 0o777) == "0o700"
