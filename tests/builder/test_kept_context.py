"""A context that arrives as a tar updates a tree kept between builds (builder/contextsync.py,
builder/keptcontext.py): unchanged entries keep their inodes and their known hashes, a changed
one is always seen (also with the same size and mtime), what the tar no longer names goes,
bad members are refused as the extractor refuses them, and a failed or concurrent sync never
leaves a tree that builds wrong."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
import threading
from pathlib import Path

import pytest

from pallet.base.errors import PalletError

MTIME = 1_700_000_000


class _Quiet:
    def start(self, *args) -> None: ...
    def live_status(self, *args) -> None: ...
    def status(self, *args) -> None: ...
    def done(self, *args) -> None: ...


def _info(name: str, **fields) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = fields.pop("mtime", MTIME)
    info.mode = fields.pop("mode", 0o644)
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def make_tar(entries: list) -> bytes:
    """entries: (name, bytes) files, (name, None) directories, (name, "->target") symlinks,
    (name, "=>target") hard links, or ready TarInfo objects with their data."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            if isinstance(name, tarfile.TarInfo):
                tar.addfile(name, io.BytesIO(content or b""))
            elif content is None:
                tar.addfile(_info(name, type=tarfile.DIRTYPE, mode=0o755))
            elif isinstance(content, str) and content.startswith("->"):
                tar.addfile(_info(name, type=tarfile.SYMTYPE, linkname=content[2:]))
            elif isinstance(content, str) and content.startswith("=>"):
                tar.addfile(_info(name, type=tarfile.LNKTYPE, linkname=content[2:]))
            else:
                tar.addfile(_info(name, size=len(content)), io.BytesIO(content))
    return buffer.getvalue()


def load(root: Path, data: bytes, hold, *, keep: str | None = "k", scratch=None):
    from pallet.builder.contextstream import load_stream_context
    scratch = scratch or Path(os.path.join(root, "scratch"))
    scratch.mkdir(parents=True, exist_ok=True)
    return load_stream_context(io.BytesIO(data), scratch, _Quiet(), root=root, keep=keep,
                               hold=hold)


def sync(root: Path, data: bytes, keep: str = "k"):
    with contextlib.ExitStack() as hold:
        return load(root, data, hold, keep=keep)


def tree_of(directory: Path) -> dict:
    found = {}
    for path in sorted(directory.rglob("*")):
        rel = str(path.relative_to(directory))
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            found[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            found[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            found[rel] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode))
    return found


BASE = [("Dockerfile", b"FROM busybox\n"), ("src", None), ("src/a.txt", b"alpha\n"),
        ("src/b.txt", b"bravo\n"), ("link", "->src/a.txt")]


def test_unchanged_entries_keep_their_inodes_and_their_hashes_are_known(tmp_path):
    from pallet.builder.statcache import StatCache
    first = sync(tmp_path, make_tar(BASE))
    inodes = {p: (first.directory / p).lstat().st_ino for p in ("src/a.txt", "link")}
    second = sync(tmp_path, make_tar(BASE))
    assert second.directory == first.directory
    assert {p: (second.directory / p).lstat().st_ino for p in inodes} == inodes
    # the build's stat cache (loaded from the store) knows every file without reading it
    cache = StatCache.for_context(root=tmp_path, context_dir=second.directory)
    st = (second.directory / "src/a.txt").lstat()
    assert cache.content_hash("src/a.txt", st) and cache.files_hashed == 0
    assert tree_of(second.directory)["src/a.txt"] == ("file", b"alpha\n", 0o644)


def test_same_size_and_mtime_with_other_bytes_is_rewritten(tmp_path):
    """The tar's mtime has one-second resolution: an edit within the same second that keeps
    the size must still reach the build."""
    first = sync(tmp_path, make_tar(BASE))
    before = (first.directory / "src/a.txt").lstat().st_ino
    changed = [(n, b"ALPHA\n" if n == "src/a.txt" else c) for n, c in BASE]
    second = sync(tmp_path, make_tar(changed))
    assert (second.directory / "src/a.txt").read_bytes() == b"ALPHA\n"
    assert (second.directory / "src/a.txt").lstat().st_ino != before
    from pallet.builder.statcache import StatCache
    cache = StatCache.for_context(root=tmp_path, context_dir=second.directory)
    import xxhash
    st = (second.directory / "src/a.txt").lstat()
    assert cache.content_hash("src/a.txt", st) == xxhash.xxh3_128_hexdigest(b"ALPHA\n")


def test_a_changed_large_file_is_compared_in_chunks_and_rewritten(tmp_path):
    from pallet.builder.syncfiles import CHUNK
    big = bytes(range(256)) * (3 * CHUNK // 256 + 7)
    first = sync(tmp_path, make_tar([("big", big)]))
    inode = (first.directory / "big").lstat().st_ino
    assert sync(tmp_path, make_tar([("big", big)])).directory == first.directory
    assert (first.directory / "big").lstat().st_ino == inode
    edited = big[:2 * CHUNK + 5] + b"X" + big[2 * CHUNK + 6:]
    sync(tmp_path, make_tar([("big", edited)]))
    assert (first.directory / "big").read_bytes() == edited


def test_metadata_changes_and_removals_are_applied(tmp_path):
    sync(tmp_path, make_tar(BASE))
    second = [("Dockerfile", b"FROM busybox\n"), ("src", None),
              (_info("src/a.txt", size=6, mode=0o600), b"alpha\n"),
              (_info("src/b.txt", size=6, mtime=MTIME + 5), b"bravo\n"),
              ("link", "->src/b.txt")]
    found = sync(tmp_path, make_tar(second)).directory
    tree = tree_of(found)
    assert tree["src/a.txt"] == ("file", b"alpha\n", 0o600)
    assert (found / "src/b.txt").lstat().st_mtime == MTIME + 5
    assert tree["link"] == ("link", "src/b.txt")
    third = sync(tmp_path, make_tar([("Dockerfile", b"FROM busybox\n")])).directory
    assert sorted(tree_of(third)) == ["Dockerfile"]


def test_a_file_replaced_by_a_directory_and_back(tmp_path):
    sync(tmp_path, make_tar([("x", b"file\n"), ("y", None), ("y/in", b"in\n")]))
    found = sync(tmp_path, make_tar([("x", None), ("x/inner", b"inner\n"), ("y", b"now a file\n")]))
    tree = tree_of(found.directory)
    assert tree["x"][0] == "dir" and tree["x/inner"] == ("file", b"inner\n", 0o644)
    assert tree["y"] == ("file", b"now a file\n", 0o644) and "y/in" not in tree
    back = sync(tmp_path, make_tar([("x", b"file again\n")]))
    assert tree_of(back.directory) == {"x": ("file", b"file again\n", 0o644)}


def test_the_result_equals_a_fresh_unpack(tmp_path):
    """Whatever the kept tree held before, the synced tree is what a fresh unpack gives."""
    sync(tmp_path, make_tar(BASE + [("old", None), ("old/gone", b"gone\n")]))
    wanted = [("Dockerfile", b"FROM busybox\n"), ("src", b"src is a file now\n"),
              ("new", None), ("new/file", b"n\n"), ("hard", "=>new/file"), ("link", "->new")]
    kept = sync(tmp_path, make_tar(wanted))
    with contextlib.ExitStack() as hold:
        fresh = load(tmp_path, make_tar(wanted), hold, keep=None,
                     scratch=tmp_path / "fresh-scratch")
        assert fresh.directory != kept.directory
        assert tree_of(fresh.directory) == tree_of(kept.directory)
    assert (kept.directory / "hard").lstat().st_ino == (kept.directory / "new/file").lstat().st_ino


@pytest.mark.parametrize("entries, words", [
    ([("../escape", b"x")], "'..'"),
    ([("/etc/absolute", b"x")], "absolute path"),
    ([("out", "->/etc"), ("out/passwd", b"x")], "not a directory"),
    ([("up", "->.."), ("up/x", b"x")], "not a directory"),
    ([(_info("dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3), None)], "device node"),
    ([("h", "=>../../etc/passwd")], "outside the archive"),
    ([("h", "=>nothere")], "not a file earlier"),
])
def test_bad_members_are_refused_and_nothing_outside_is_touched(tmp_path, entries, words):
    sync(tmp_path, make_tar(BASE))
    with pytest.raises(PalletError) as caught:
        sync(tmp_path, make_tar([("Dockerfile", b"FROM busybox\n")] + entries))
    assert words in caught.value.message
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


def test_a_kept_symlink_is_never_written_through(tmp_path):
    """The first build keeps `out -> <outside dir>`; the next tar names out/file (with `out`
    no longer a link): the link is replaced by a directory, nothing lands outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    sync(tmp_path, make_tar([("out", f"->{outside}")]))
    found = sync(tmp_path, make_tar([("out/file", b"inside\n")]))
    assert (found.directory / "out").is_dir() and not (found.directory / "out").is_symlink()
    assert (found.directory / "out/file").read_bytes() == b"inside\n"
    assert list(outside.iterdir()) == []


def test_truncated_and_non_tar_bodies(tmp_path):
    data = make_tar(BASE + [("big", os.urandom(300_000))])
    sync(tmp_path, make_tar(BASE))
    with pytest.raises(PalletError) as caught:
        sync(tmp_path, data[:len(data) // 2])
    assert "truncated" in caught.value.message
    # the next build of the same context is right
    found = sync(tmp_path, data)
    assert (found.directory / "big").stat().st_size == 300_000
    assert tree_of(found.directory)["src/a.txt"] == ("file", b"alpha\n", 0o644)
    with contextlib.ExitStack() as hold:
        bare = load(tmp_path, b"FROM busybox\n", hold)
    assert bare.directory is None and bare.dockerfile == b"FROM busybox\n"
    with pytest.raises(PalletError):
        sync(tmp_path, b"\x1f\x8b" + b"not really gzip" * 40)


def test_a_busy_tree_makes_the_second_build_unpack_a_fresh_one(tmp_path):
    with contextlib.ExitStack() as hold:
        first = load(tmp_path, make_tar(BASE), hold)
        results = []

        def other() -> None:
            with contextlib.ExitStack() as inner:
                results.append(load(tmp_path, make_tar(BASE[:2]), inner,
                                    scratch=tmp_path / "other-scratch"))
                results.append(tree_of(results[0].directory))
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert results[0].directory != first.directory      # a fresh tree in its scratch
        assert sorted(results[1]) == ["Dockerfile", "src"]
        assert tree_of(first.directory)["src/a.txt"] == ("file", b"alpha\n", 0o644)
    assert sync(tmp_path, make_tar(BASE)).directory == first.directory   # free again


def test_at_most_four_trees_are_kept_least_recently_used_first(tmp_path):
    from pallet.builder import keptcontext
    directories = [sync(tmp_path, make_tar(BASE), keep=f"k{n}").directory for n in range(5)]
    import time
    deadline = time.monotonic() + 30       # the detached remover works after we return
    while directories[0].exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not directories[0].exists()
    assert all(d.exists() for d in directories[1:])
    assert keptcontext.remove_all(tmp_path) == 4


def test_system_df_lists_the_kept_trees_and_prune_all_removes_those_not_in_use(tmp_path):
    from pallet.builder.prune import prune_cache
    import time
    idle = sync(tmp_path, make_tar(BASE), keep="idle").directory
    with contextlib.ExitStack() as hold:
        busy = load(tmp_path, make_tar(BASE), hold, keep="busy").directory
        from pallet.builder.usage import cache_entries
        listed = {e.id: e for e in cache_entries(tmp_path) if e.type == "source.local"}
        assert set(listed) == {"idle", "busy"} and listed["busy"].in_use
        assert not listed["idle"].in_use and listed["idle"].size > 0
        result = prune_cache(tmp_path, all_records=True, older_than_s=None, keep_storage=None)
        assert busy.is_dir() and result.reclaimed > 0
    deadline = time.monotonic() + 30       # the detached remover works after we return
    while idle.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not idle.exists()


class _TarSource:
    """A tar made while it is read: files of size bytes each (a pattern), never whole in
    memory, as a client's upload arrives."""

    def __init__(self, files: int, size: int) -> None:
        self.parts = self._parts(files, size)
        self.buffer = b""

    @staticmethod
    def _parts(files: int, size: int):
        block = bytes(range(256)) * 4096                       # 1 MiB
        for number in range(files):
            info = _info(f"big{number}", size=size)
            yield info.tobuf(tarfile.USTAR_FORMAT)
            left = size
            while left:
                yield block[:min(left, len(block))]
                left -= min(left, len(block))
            yield bytes(-size % 512)
        yield bytes(1024)

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            part = next(self.parts, None)
            if part is None:
                break
            self.buffer += part
        data, self.buffer = (self.buffer, b"") if size < 0 else \
            (self.buffer[:size], self.buffer[size:])
        return data


@pytest.mark.parametrize("keep", ["k", None])
def test_a_large_context_is_never_held_in_memory(tmp_path, keep):
    """64 MB of context through the kept and the fresh path: what Python holds at the peak
    is the decompressor's few chunks and a member's buffer, not the stream (the old reader
    read the whole body first)."""
    import tracemalloc
    from pallet.builder.contextstream import load_stream_context
    for attempt in range(2):          # a fresh tree, then (kept) a compared one
        tracemalloc.start()
        try:
            with contextlib.ExitStack() as hold:
                scratch = tmp_path / f"scratch{attempt}"
                scratch.mkdir()
                found = load_stream_context(_TarSource(4, 16 << 20), scratch, _Quiet(),
                                            root=tmp_path, keep=keep, hold=hold)
                assert (found.directory / "big3").stat().st_size == 16 << 20
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 24 << 20, f"peak {peak / 2**20:.1f} MiB for a 64 MiB context"


def _sparse_member(realsize: int, offset: int, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    """A PAX 1.0 sparse member "sparse": a map block, then its one data segment."""
    sparse_map = f"1\n{offset}\n{len(data)}\n".encode()
    body = sparse_map + b"\0" * (512 - len(sparse_map)) + data
    info = tarfile.TarInfo("GNUSparseFile.0/sparse")
    info.size, info.mode, info.mtime = len(body), 0o644, MTIME
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.name": "sparse", "GNU.sparse.realsize": str(realsize)}
    return info, body


def test_a_sparse_member_is_synced_with_its_holes_and_a_cut_one_is_refused(tmp_path):
    realsize = 8 * 1024 * 1024
    member = _sparse_member(realsize, realsize - 4096, b"y" * 4096)
    found = sync(tmp_path, make_tar(BASE + [member]))
    path = found.directory / "sparse"
    assert path.stat().st_size == realsize
    assert path.stat().st_blocks * 512 < realsize // 4      # the hole stayed a hole
    with open(path, "rb") as handle:
        assert handle.read(4096) == b"\0" * 4096
        handle.seek(realsize - 4096)
        assert handle.read() == b"y" * 4096
    info, body = _sparse_member(realsize, realsize - 4096, b"z" * 4096)
    whole = make_tar(BASE + [(info, body)])
    cut = whole[:whole.index(b"z" * 4096) + 1000]
    with pytest.raises(PalletError) as caught:
        sync(tmp_path, cut)
    assert "truncated" in caught.value.message
