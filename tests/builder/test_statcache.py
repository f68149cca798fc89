"""The stat cache: a no-change rescan reads nothing; every kind of change is still caught."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pallet.builder.statcache import FORMAT, RACY_WINDOW_NS, StatCache


def _settle() -> None:
    """Wait out the racy window so freshly written files may be cached."""
    time.sleep(RACY_WINDOW_NS / 1e9 * 1.5)


def _hash(cache: StatCache, context: Path, rel: str) -> str:
    return cache.content_hash(rel, os.lstat(context / rel))


def _process_rchar() -> int:
    """Bytes this process has read through read(2) and friends, as the kernel counts them."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_no_change_rescan_reads_no_file_content(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    big = context / "big.bin"
    with open(big, "wb") as handle:  # 64 MiB sparse: costly to read, free to store
        handle.truncate(64 << 20)
    (context / "small.txt").write_text("hello\n")
    _settle()
    first = StatCache.for_context(root=tmp_path / "root", context_dir=context)
    digest_big = _hash(first, context, "big.bin")
    _hash(first, context, "small.txt")
    assert first.files_hashed == 2
    first.save()

    # A new process-level view of the cache (loaded from disk), as the next build has.
    before = _process_rchar()
    second = StatCache.for_context(root=tmp_path / "root", context_dir=context)
    assert _hash(second, context, "big.bin") == digest_big
    _hash(second, context, "small.txt")
    read = _process_rchar() - before
    assert second.files_hashed == 0
    # The kernel's own counter: reading big.bin would be 64 MiB; only the cache file was read.
    assert read < 1 << 20, read


def test_touch_keeps_the_hash_but_rereads(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "a").write_text("same bytes")
    _settle()
    cache = StatCache(context_dir=context, cache_file=None)
    digest = _hash(cache, context, "a")
    os.utime(context / "a", ns=(123, 456_000_000_000))
    assert _hash(cache, context, "a") == digest
    assert cache.files_hashed == 2


def test_change_keeping_size_and_mtime_is_caught_through_ctime(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    target = context / "config.txt"
    target.write_text("value=1\n")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    _settle()
    cache = StatCache(context_dir=context, cache_file=tmp_path / "stat.json")
    old = _hash(cache, context, "config.txt")
    cache.save()
    before = os.lstat(target)
    _settle()
    with open(target, "r+b") as handle:  # same size, same inode
        handle.write(b"value=2\n")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime restored
    after = os.lstat(target)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino)
    reloaded = StatCache(context_dir=context, cache_file=tmp_path / "stat.json")
    assert _hash(reloaded, context, "config.txt") != old


def test_replacement_by_rename_is_caught_through_the_inode(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    target = context / "f"
    target.write_text("AAAA")
    os.utime(target, ns=(5_000_000_000, 5_000_000_000))
    _settle()
    cache = StatCache(context_dir=context, cache_file=None)
    old = _hash(cache, context, "f")
    replacement = context / "f.new"
    replacement.write_text("BBBB")
    os.utime(replacement, ns=(5_000_000_000, 5_000_000_000))
    os.rename(replacement, target)
    assert _hash(cache, context, "f") != old


def test_racy_entries_are_not_trusted(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "fresh").write_text("just written")
    cache = StatCache(context_dir=context, cache_file=tmp_path / "stat.json")
    _hash(cache, context, "fresh")  # written moments ago: inside the racy window
    cache.save()
    reloaded = StatCache(context_dir=context, cache_file=tmp_path / "stat.json")
    _hash(reloaded, context, "fresh")
    assert reloaded.files_hashed == 1


def test_corrupt_cache_file_costs_rereads_not_wrong_hashes(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "x").write_text("x")
    _settle()
    cache_file = tmp_path / "stat.json"
    cache_file.write_text("{not json")
    cache = StatCache(context_dir=context, cache_file=cache_file)
    digest = _hash(cache, context, "x")
    cache.save()
    import xxhash
    assert digest == xxhash.xxh3_128_hexdigest(b"x")
    again = StatCache(context_dir=context, cache_file=cache_file)
    assert _hash(again, context, "x") == digest
    assert again.files_hashed == 0  # the corrupt file was replaced by a good one


def test_foreign_or_damaged_entries_cost_rereads_not_a_crash(tmp_path):
    """Entries not in this format (an older pallet's nested lists, numbers, a truncated
    value) are ignored: the files are read again, and the hashes are right."""
    import json

    import xxhash
    context = tmp_path / "ctx"
    context.mkdir()
    for name in ("a", "b", "c"):
        (context / name).write_text(name)
    _settle()
    cache_file = tmp_path / "stat.json"
    st = os.lstat(context / "a")
    stat_list = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
    for entries in ({"a": [stat_list, "0" * 32], "b": 7, "c": "1 2"},
                    {"a": 7, "b": ["x"], "c": None}):
        cache_file.write_text(json.dumps({"format": FORMAT, "context": str(context),
                                          "entries": entries}))
        cache = StatCache(context_dir=context, cache_file=cache_file)
        for name in ("a", "b", "c"):
            assert _hash(cache, context, name) == xxhash.xxh3_128_hexdigest(name.encode())
        assert cache.files_hashed == 3



def _tree(context: Path, count: int) -> list[str]:
    context.mkdir()
    names = [f"f{index}" for index in range(count)]
    for name in names:
        (context / name).write_text(name)
    return names


def test_a_few_new_entries_are_appended_and_read_back(tmp_path):
    """A build that learned one hash appends one line; the cache's first line (all the
    entries) is not written again, and the next build trusts every entry."""
    context = tmp_path / "ctx"
    names = _tree(context, 100)
    _settle()
    cache_file = tmp_path / "stat.json"
    first = StatCache(context_dir=context, cache_file=cache_file)
    for name in names:
        _hash(first, context, name)
    first.save()
    whole = cache_file.read_bytes()
    assert whole.count(b"\n") == 1
    (context / "f7").write_text("changed")
    _settle()
    second = StatCache(context_dir=context, cache_file=cache_file)
    digests = {name: _hash(second, context, name) for name in names}
    assert second.files_hashed == 1
    second.save()
    after = cache_file.read_bytes()
    assert after.startswith(whole) and after.count(b"\n") == 2
    third = StatCache(context_dir=context, cache_file=cache_file)
    assert {name: _hash(third, context, name) for name in names} == digests
    assert third.files_hashed == 0


def test_a_torn_appended_line_costs_a_reread_not_a_wrong_hash(tmp_path):
    import xxhash
    context = tmp_path / "ctx"
    names = _tree(context, 10)
    _settle()
    cache_file = tmp_path / "stat.json"
    cache = StatCache(context_dir=context, cache_file=cache_file)
    for name in names:
        _hash(cache, context, name)
    cache.save()
    st = os.lstat(context / "f1")
    with open(cache_file, "ab") as handle:      # a crash in the middle of an append
        handle.write(b'["f1","%d %d' % (st.st_size, st.st_mtime_ns))
    (context / "f2").write_text("new")
    _settle()
    again = StatCache(context_dir=context, cache_file=cache_file)
    assert _hash(again, context, "f2") == xxhash.xxh3_128_hexdigest(b"new")
    assert again.files_hashed == 1              # f2 alone: the torn line is skipped
    again.save()                                # written whole, never behind a torn line
    assert cache_file.read_bytes().count(b"\n") == 1
    last = StatCache(context_dir=context, cache_file=cache_file)
    for name in names:
        expected = b"new" if name == "f2" else name.encode()
        assert _hash(last, context, name) == xxhash.xxh3_128_hexdigest(expected)
    assert last.files_hashed == 0


def test_many_appended_lines_are_folded_into_a_whole_rewrite(tmp_path):
    context = tmp_path / "ctx"
    names = _tree(context, 200)
    _settle()
    cache_file = tmp_path / "stat.json"
    cache = StatCache(context_dir=context, cache_file=cache_file)
    _hash(cache, context, names[0])
    cache.save()
    lines = []
    for name in names[1:]:                      # one build per new file
        cache = StatCache(context_dir=context, cache_file=cache_file)
        _hash(cache, context, name)
        cache.save()
        lines.append(cache_file.read_bytes().count(b"\n"))
    assert max(lines) <= 65 and lines[-1] < max(lines)   # appended, then written whole
    final = StatCache(context_dir=context, cache_file=cache_file)
    for name in names:
        _hash(final, context, name)
    assert final.files_hashed == 0
