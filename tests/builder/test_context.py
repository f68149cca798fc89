"""Context selection and the COPY input digest: exactly the selected files, never mtime."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from pallet.builder.cachekey import selections_digest, step_key
from pallet.builder.context import BuildContext, has_wildcard, wildcard_matcher
from pallet.builder.statcache import StatCache
from pallet.base.errors import PalletError


class ExcludeExact:
    """A minimal ignore matcher: excludes the listed paths and everything under them."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths

    def excludes(self, relpath: str) -> bool:
        return any(relpath == p or relpath.startswith(p + "/") for p in self.paths)

    def may_include_under(self, relpath: str) -> bool:
        return False


def _context(directory: Path, ignore=None) -> BuildContext:
    return BuildContext(directory=directory, ignore=ignore,
                        stat_cache=StatCache(context_dir=directory, cache_file=None))


def _digest(directory: Path, *sources: str, ignore=None) -> str:
    context = _context(directory, ignore)
    selections = [s for source in sources for s in context.select(source)]
    return selections_digest(selections, uid=0, gid=0)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "src" / "pkg" / "util.h").write_text("#define X 1\n")
    os.symlink("main.c", root / "src" / "link-to-main")
    (root / "README.md").write_text("readme\n")
    (root / "notes.txt").write_text("unrelated\n")
    return root


def test_directory_source_lists_contents_sorted_with_kinds(project):
    [selection] = _context(project).select("src")
    assert selection.kind == "dir"
    listing = [(e.relpath, e.kind) for e in selection.entries]
    assert listing == [("", "dir"), ("link-to-main", "symlink"), ("main.c", "file"),
                       ("pkg", "dir"), ("pkg/util.h", "file")]
    link = next(e for e in selection.entries if e.kind == "symlink")
    assert link.link_target == "main.c"


def test_clone_and_touch_of_same_content_give_the_same_digest(project, tmp_path):
    before = _digest(project, "src")
    clone = tmp_path / "clone"
    shutil.copytree(project, clone, symlinks=True)  # new inodes, new ctimes
    for path in (clone / "src").rglob("*"):
        if not path.is_symlink():
            os.utime(path, ns=(time.time_ns(), 42))
    assert _digest(clone, "src") == before


def test_unrelated_change_keeps_the_digest_but_a_read_file_changes_it(project):
    before = _digest(project, "src")
    (project / "notes.txt").write_text("changed and longer\n")
    (project / "new-file").write_text("new\n")
    assert _digest(project, "src") == before
    (project / "src" / "pkg" / "util.h").write_text("#define X 2\n")
    assert _digest(project, "src") != before


def test_mode_and_link_target_are_part_of_the_digest(project):
    before = _digest(project, "src")
    os.chmod(project / "src" / "main.c", 0o755)
    after_mode = _digest(project, "src")
    assert after_mode != before
    os.unlink(project / "src" / "link-to-main")
    os.symlink("pkg/util.h", project / "src" / "link-to-main")
    assert _digest(project, "src") != after_mode


def test_landing_owner_is_part_of_the_digest(project):
    context = _context(project)
    selections = context.select("src")
    assert selections_digest(selections, uid=0, gid=0) != selections_digest(
        selections, uid=1000, gid=1000)


def test_ignored_files_are_invisible_to_selection_and_digest(project):
    ignore = ExcludeExact("src/pkg")
    before = _digest(project, "src", ignore=ignore)
    (project / "src" / "pkg" / "util.h").write_text("ignored change\n")
    assert _digest(project, "src", ignore=ignore) == before
    [selection] = _context(project, ignore).select("src")
    assert all(not e.relpath.startswith("pkg") for e in selection.entries)
    with pytest.raises(PalletError, match="excluded by .dockerignore"):
        _context(project, ignore).select("src/pkg/util.h")


def test_wildcards_follow_go_filepath_match(project):
    (project / "a1.txt").write_text("1")
    (project / "b2.txt").write_text("2")
    context = _context(project)
    assert [s.root_origin for s in context.select("*.txt")] == ["a1.txt", "b2.txt", "notes.txt"]
    assert [s.root_origin for s in context.select("[^a]?.txt")] == ["b2.txt"]
    assert [s.root_origin for s in context.select("src/*.c")] == ["src/main.c"]
    assert not wildcard_matcher("*").match("a/b")
    assert wildcard_matcher(r"\*").match("*") and not wildcard_matcher(r"\*").match("x")
    # BuildKit's containsWildcards: an escaped wildcard alone makes a plain path.
    assert has_wildcard("a*") and not has_wildcard(r"a\*") and has_wildcard(r"a\**")


STALLING = "*a*a*a*a*a*a*a*a*a*a*a*a*"  # 12 stars: ~n^12 steps for a backtracking regex


@pytest.mark.timeout(60)
def test_a_stalling_source_wildcard_is_matched_in_linear_time(tmp_path):
    # The old matcher was a Python regex per component: this pattern on one 250-character
    # name ran for hours. Go's filepath.Match (what BuildKit uses) is linear; so is ours.
    (tmp_path / ("a" * 250)).write_text("no")
    (tmp_path / ("a" * 249 + "b")).write_text("yes")
    (tmp_path / ("a" * 200)).mkdir()
    (tmp_path / ("a" * 200) / ("a" * 250)).write_text("deep")
    context = _context(tmp_path)
    assert [s.root_origin for s in context.select(STALLING + "b")] == ["a" * 249 + "b"]
    with pytest.raises(PalletError, match="file not found in build context"):
        context.select(STALLING + "c")
    with pytest.raises(PalletError, match="file not found in build context"):
        context.select(f"{STALLING}/{STALLING}c")
    assert wildcard_matcher("*?" * 20000 + "b").match("a" * 254 + "b") is False
    assert wildcard_matcher("*" + "[a]" * 20000).match("a" * 255) is False


def test_a_malformed_source_wildcard_is_a_clear_error(tmp_path):
    (tmp_path / "x").write_text("x")
    with pytest.raises(PalletError, match="syntax error in pattern"):
        _context(tmp_path).select("x[")


def test_sources_outside_the_context_are_errors(project, tmp_path):
    (tmp_path / "secret").write_text("outside")
    os.symlink("../secret", project / "escape")
    os.symlink("/etc/passwd", project / "absolute-link")
    context = _context(project)
    for bad in ("../secret", "/etc/passwd", "src/../../secret"):
        with pytest.raises(PalletError) as caught:
            context.select(bad)
        assert "outside the build context" in caught.value.message, bad
    # Symlinks are followed inside the context (Docker's scoped resolution): these name the
    # context's own secret and etc/passwd, which do not exist, never the host's files.
    for link in ("escape", "absolute-link"):
        with pytest.raises(PalletError, match="file not found in build context"):
            context.select(link)
    (project / "secret").write_text("the context's own")
    (project / "etc").mkdir()
    (project / "etc" / "passwd").write_text("the context's passwd")
    for link, origin in (("escape", "secret"), ("absolute-link", "etc/passwd")):
        [selection] = context.select(link)
        assert selection.root_origin == origin and selection.kind == "file"


def test_a_symlink_source_inside_the_context_is_followed(project):
    os.symlink("src/pkg", project / "pkg-link")
    [selection] = _context(project).select("pkg-link")
    assert selection.kind == "dir" and selection.root_origin == "src/pkg"


def test_missing_source_is_a_clear_error(project):
    with pytest.raises(PalletError, match="file not found in build context"):
        _context(project).select("nope/*.go")


def test_step_key_chains_parent_step_and_inputs():
    base = step_key(parent="p", step={"op": "COPY"}, inputs="i")
    assert len(base) == 32
    assert step_key(parent="q", step={"op": "COPY"}, inputs="i") != base
    assert step_key(parent="p", step={"op": "COPY", "x": 1}, inputs="i") != base
    assert step_key(parent="p", step={"op": "COPY"}, inputs="j") != base
    # canonical JSON: key order in the step description does not matter
    assert step_key(parent="p", step={"b": 1, "a": 2}, inputs="i") == step_key(
        parent="p", step={"a": 2, "b": 1}, inputs="i")


def test_context_and_source_entries_are_the_ones_their_constructors_make(project):
    """ContextEntry.made and SourceEntry.of_context (made without the frozen __init__, for
    speed) fill every field the constructors do, and stay frozen."""
    import dataclasses

    from pallet.builder.context import ContextEntry
    from pallet.builder.sources import SourceEntry
    context = _context(project)
    [selection] = context.select("src")
    base = str(project)
    for e in selection.entries:
        again = ContextEntry(**{f.name: getattr(e, f.name) for f in dataclasses.fields(e)})
        assert vars(e).keys() == vars(again).keys() and e == again
        with pytest.raises(dataclasses.FrozenInstanceError):
            e.kind = "file"
        fast = SourceEntry.of_context(e, base, context.root)
        slow = SourceEntry(relpath=e.relpath, host_path=f"{base}/{e.origin}" if e.origin
                           else base, kind=e.kind, mode=e.mode, uid=0, gid=0,
                           link_target=e.link_target, origin=e.origin, context=context.root,
                           size=e.size, mtime_ns=e.mtime_ns)
        assert vars(fast).keys() == vars(slow).keys()
        for field in dataclasses.fields(SourceEntry):
            assert getattr(fast, field.name) == getattr(slow, field.name), field.name
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.mode = 0
