""".dockerignore rules: moby/patternmatcher's test tables, ignorefile's reader test, the
Dockerfile reference's examples, BuildKit's directory pruning, and errors."""

from __future__ import annotations

import pytest

from pallet.base.errors import PalletError
from pallet.grammar.dockerignore import IgnoreRules

from tests.grammar.go_match_cases import GO_MATCH_TESTS

EXACT, INEXACT, FAIL = "exact", "inexact", "fail"

# patternmatcher_test.go TestMatches: (pattern, text, exact / matched via a parent / no match)
PATTERNMATCHER_CASES = [
    ("**", "file", EXACT), ("**", "file/", EXACT), ("**/", "file", EXACT),
    ("**/", "file/", EXACT), ("**", "/", EXACT), ("**/", "/", EXACT),
    ("**", "dir/file", EXACT), ("**/", "dir/file", EXACT), ("**", "dir/file/", EXACT),
    ("**/", "dir/file/", EXACT), ("**/**", "dir/file", EXACT), ("**/**", "dir/file/", EXACT),
    ("dir/**", "dir/file", EXACT), ("dir/**", "dir/file/", EXACT),
    ("dir/**", "dir/dir2/file", EXACT), ("dir/**", "dir/dir2/file/", EXACT),
    ("**/dir", "dir", EXACT), ("**/dir", "dir/file", INEXACT),
    ("**/dir2/*", "dir/dir2/file", EXACT), ("**/dir2/*", "dir/dir2/file/", INEXACT),
    ("**/dir2/**", "dir/dir2/dir3/file", EXACT), ("**/dir2/**", "dir/dir2/dir3/file/", EXACT),
    ("**file", "file", EXACT), ("**file", "dir/file", EXACT), ("**/file", "dir/file", EXACT),
    ("**file", "dir/dir/file", EXACT), ("**/file", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file", EXACT), ("**/file*", "dir/dir/file.txt", EXACT),
    ("**/file*txt", "dir/dir/file.txt", EXACT), ("**/file*.txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt*", "dir/dir/file.txt", EXACT), ("**/**/*.txt", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt2", "dir/dir/file.txt", FAIL), ("**/*.txt", "file.txt", EXACT),
    ("**/**/*.txt", "file.txt", EXACT), ("a**/*.txt", "a/file.txt", EXACT),
    ("a**/*.txt", "a/dir/file.txt", EXACT), ("a**/*.txt", "a/dir/dir/file.txt", EXACT),
    ("a/*.txt", "a/dir/file.txt", FAIL), ("a/*.txt", "a/file.txt", EXACT),
    ("a/*.txt**", "a/file.txt", EXACT), ("a[b-d]e", "ae", FAIL), ("a[b-d]e", "ace", EXACT),
    ("a[b-d]e", "aae", FAIL), ("a[^b-d]e", "aze", EXACT), (".*", ".foo", EXACT),
    (".*", "foo", FAIL), ("abc.def", "abcdef", FAIL), ("abc.def", "abc.def", EXACT),
    ("abc.def", "abcZdef", FAIL), ("abc?def", "abcZdef", EXACT), ("abc?def", "abcdef", FAIL),
    ("**/foo/bar", "foo/bar", EXACT), ("**/foo/bar", "dir/foo/bar", EXACT),
    ("**/foo/bar", "dir/dir2/foo/bar", EXACT), ("abc/**", "abc", FAIL),
    ("abc/**", "abc/def", EXACT), ("abc/**", "abc/def/ghi", EXACT), ("**/.foo", ".foo", EXACT),
    ("**/.foo", "bar.foo", FAIL), ("a(b)c/def", "a(b)c/def", EXACT),
    ("a(b)c/def", "a(b)c/xyz", FAIL), ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT), ("a\\*b", "a*b", EXACT),
]
MULTI_PATTERN_CASES = [
    (["**", "!util/docker/web"], "util/docker/web/foo", FAIL),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", EXACT),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", FAIL),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", FAIL),
]
# patternmatcher_test.go TestCompile: the match type chosen for a pattern.
COMPILE_CASES = [
    ("*", "regex"), ("file*", "regex"), ("*file", "regex"), ("a*/b", "regex"),
    ("**", "suffix"), ("**/**", "regex"), ("dir/**", "prefix"), ("**/dir", "suffix"),
    ("**/dir2/*", "regex"), ("**/dir2/**", "regex"), ("**file", "suffix"),
    ("**/file*txt", "regex"), ("**/**/*.txt", "regex"), ("a[b-d]e", "regex"),
    (".*", "regex"), ("abc.def", "exact"), ("abc?def", "regex"), ("**/foo/bar", "suffix"),
    ("a(b)c/def", "exact"), ("a.|)$(}+{bc", "exact"),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact"),
]
# patternmatcher_test.go TestMatch: Go's filepath.Match table run through the matcher (so a
# pattern also matches below a matching directory: "a*" matches "ab/c", where Go says no).
MATCH_CASES = [("a*", "ab/c", True) if (p, n) == ("a*", "ab/c") else (p, n, m)
               for p, n, m in GO_MATCH_TESTS]
BAD_PATTERNS = ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "!"]


def _ids(cases):
    return [f"{c[0]}|{c[1]}" for c in cases]


@pytest.mark.parametrize(("pattern", "text", "kind"), PATTERNMATCHER_CASES,
                         ids=_ids(PATTERNMATCHER_CASES))
def test_patternmatcher_matches_exact(pattern, text, kind):
    (compiled,) = IgnoreRules.from_patterns([pattern]).patterns
    assert compiled.matches(text) is (kind == EXACT)


@pytest.mark.parametrize(("pattern", "text", "kind"), PATTERNMATCHER_CASES,
                         ids=_ids(PATTERNMATCHER_CASES))
def test_patternmatcher_matches_or_parent_matches(pattern, text, kind):
    rules = IgnoreRules.from_patterns([pattern])
    assert rules.matches_or_parent_matches(text) is (kind != FAIL)


@pytest.mark.parametrize(("pattern", "text", "kind"),
                         [c for c in PATTERNMATCHER_CASES if c[1] != "/"],
                         ids=_ids([c for c in PATTERNMATCHER_CASES if c[1] != "/"]))
def test_patternmatcher_cases_through_the_walk(pattern, text, kind):
    # `excludes` cleans the path ("file/" is "file"), as the context walker sees it.
    assert IgnoreRules.from_patterns([pattern]).excludes(text) is (kind != FAIL)


@pytest.mark.parametrize(("patterns", "text", "kind"), MULTI_PATTERN_CASES,
                         ids=[f"{'|'.join(c[0])}@{c[1]}" for c in MULTI_PATTERN_CASES])
def test_patternmatcher_multi_pattern_cases(patterns, text, kind):
    rules = IgnoreRules.from_patterns(patterns)
    assert rules.matches_or_parent_matches(text) is (kind != FAIL)
    assert rules.excludes(text) is (kind != FAIL)


@pytest.mark.parametrize(("pattern", "kind"), COMPILE_CASES, ids=[c[0] for c in COMPILE_CASES])
def test_patternmatcher_compile_match_type(pattern, kind):
    (compiled,) = IgnoreRules.from_patterns([pattern]).patterns
    assert compiled.kind == kind
    assert (compiled.regex is not None) is (kind == "regex")


@pytest.mark.parametrize(("pattern", "text", "expected"), MATCH_CASES, ids=_ids(MATCH_CASES))
def test_patternmatcher_match_table(pattern, text, expected):
    assert IgnoreRules.from_patterns([pattern]).excludes(text) is expected


@pytest.mark.parametrize("pattern", BAD_PATTERNS)
def test_bad_patterns_are_rejected(pattern):
    with pytest.raises(PalletError) as caught:
        IgnoreRules.from_patterns([pattern])
    assert f'"{pattern}"' in caught.value.message


def test_pattern_that_go_match_accepts_but_its_regexp_rejects():
    # moby/moby#52203: "[Local-Only]/" passes filepath.Match's check, but its regexp has
    # the reversed range l-O; Docker fails when matching, we fail when reading.
    with pytest.raises(PalletError) as caught:
        IgnoreRules.parse("[Local-Only]/\n")
    assert "[Local-Only]" in caught.value.message and "line 1" in caught.value.message


def test_exception_before_pattern_and_after():
    assert IgnoreRules.from_patterns(["!fileutils.go", "*.go"]).excludes("fileutils.go")
    assert not IgnoreRules.from_patterns(["*.go", "!fileutils.go"]).excludes("fileutils.go")


@pytest.mark.parametrize("first", ["docs", "docs/", "docs/*"])
def test_folder_pattern_with_exception(first):
    rules = IgnoreRules.from_patterns([first, "!docs/README.md"])
    assert not rules.excludes("docs/README.md")
    assert rules.excludes("docs/other.md")


def test_the_context_root_is_never_excluded():
    rules = IgnoreRules.from_patterns(["*", "**"])
    assert not rules.excludes(".") and not rules.excludes("") and not rules.excludes("/")


def test_no_patterns_exclude_nothing():
    rules = IgnoreRules.parse("")
    assert rules.patterns == () and not rules.excludes("any/path/there")


# --- ignorefile.ReadAll -----------------------------------------------------------------------
def test_read_all_like_ignorefile():
    text = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n"
    rules = IgnoreRules.parse(text)
    assert [("!" if p.exclusion else "") + p.text for p in rules.patterns] == [
        "test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path"]
    assert [p.line for p in rules.patterns] == [1, 2, 3, 5, 7]


@pytest.mark.parametrize("line", ["!", "! ", "  !  "])
def test_lone_exclamation_mark_is_an_error_with_its_line(line):
    with pytest.raises(PalletError) as caught:
        IgnoreRules.parse(f"ok\n{line}\n", source="ctx/.dockerignore")
    err = caught.value
    assert 'illegal exclusion pattern: "!"' in err.message
    assert err.span is not None and (err.span.file, err.span.line) == ("ctx/.dockerignore", 2)


def test_bad_pattern_error_names_pattern_and_line():
    with pytest.raises(PalletError) as caught:
        IgnoreRules.parse("# c\n*.log\n  a[b\n")
    err = caught.value
    assert 'invalid pattern "a[b" in .dockerignore line 3' in err.message
    assert err.span.line == 3 and err.hint
    assert ".dockerignore:3:1" in err.render() and "a[b" in err.render()


def test_comments_only_at_column_one_and_cr_lf_and_bom():
    rules = IgnoreRules.parse("\ufeff# comment\r\n  # not a comment\r\nbuild/\r\n")
    assert [p.text for p in rules.patterns] == ["# not a comment", "build"]
    assert rules.excludes("# not a comment") and rules.excludes("build/x")


def test_patterns_are_cleaned():
    rules = IgnoreRules.parse("./a/../b//c/\n!/keep/./me\n")
    assert [p.text for p in rules.patterns] == ["b/c", "keep/me"]


def test_overlong_line_is_an_error():
    with pytest.raises(PalletError, match="64 KiB"):
        IgnoreRules.parse("a" * (64 * 1024 + 1) + "\n")


def test_bytes_with_invalid_utf8_match_surrogate_escaped_names():
    rules = IgnoreRules.parse(b"caf\xe9\n")
    assert rules.excludes(b"caf\xe9".decode("utf-8", "surrogateescape"))


def test_posix_class_inside_brackets():
    rules = IgnoreRules.parse("log[[:digit:]].txt\n")
    assert rules.excludes("log7.txt") and not rules.excludes("logx.txt")


# --- the Dockerfile reference's examples ----------------------------------------------------
def test_reference_example_temp_patterns():
    rules = IgnoreRules.parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n")
    assert rules.excludes("somedir/temporary.txt") and rules.excludes("somedir/temp")
    assert rules.excludes("somedir/subdir/temporary.txt")
    assert rules.excludes("tempa") and rules.excludes("tempb")
    assert not rules.excludes("temporary.txt") and not rules.excludes("a/b/c/temp")


def test_reference_example_double_star():
    rules = IgnoreRules.parse("**/*.go\n")
    assert rules.excludes("main.go") and rules.excludes("a/b/c.go")
    assert not rules.excludes("a/b/c.txt")


def test_reference_example_exceptions():
    rules = IgnoreRules.parse("*.md\n!README.md\n")
    assert rules.excludes("CHANGES.md") and not rules.excludes("README.md")
    rules = IgnoreRules.parse("*.md\n!README*.md\nREADME-secret.md\n")
    assert not rules.excludes("README-a.md") and rules.excludes("README-secret.md")
    assert rules.excludes("notes.md")
    rules = IgnoreRules.parse("*.md\nREADME-secret.md\n!README*.md\n")
    assert not rules.excludes("README-secret.md") and not rules.excludes("README.md")


def test_reference_example_leading_slash_is_relative():
    for text in ("/foo/bar\n", "foo/bar\n"):
        rules = IgnoreRules.parse(text)
        assert rules.excludes("foo/bar") and rules.excludes("foo/bar/baz")
        assert not rules.excludes("x/foo/bar")


# --- BuildKit's walk: pruning and inherited results -----------------------------------------
def test_excluded_directory_without_exceptions_is_pruned():
    rules = IgnoreRules.parse("vendor\n")
    assert not rules.may_include_under("vendor") and rules.excludes("vendor/a/b")
    assert rules.may_include_under("src")


def test_exception_naming_a_path_inside_keeps_the_directory_open():
    rules = IgnoreRules.parse("vendor\n!vendor/keep/me.txt\n")
    assert rules.may_include_under("vendor") and rules.may_include_under("vendor/keep")
    assert not rules.may_include_under("vendor/other")
    assert not rules.excludes("vendor/keep/me.txt")
    assert rules.excludes("vendor/keep/other.txt") and rules.excludes("vendor/other/x")


def test_exception_with_trailing_glob_counts_as_a_prefix():
    rules = IgnoreRules.parse("vendor\n!vendor/keep/*\n")
    assert rules.may_include_under("vendor/keep") and not rules.may_include_under("vendor/x")
    assert not rules.excludes("vendor/keep/a")


def test_wildcard_exception_keeps_every_directory_open():
    rules = IgnoreRules.parse("vendor\n!**/*.go\n")
    assert rules.may_include_under("vendor") and rules.may_include_under("vendor/deep/er")
    assert not rules.excludes("vendor/deep/x.go") and rules.excludes("vendor/deep/x.c")


def test_exception_for_a_parent_does_not_reopen_a_pruned_directory():
    # BuildKit prunes x/y (the exception "x" names no path under it), so x/y/z stays out,
    # while patternmatcher's MatchesOrParentMatches on its own would let it in.
    rules = IgnoreRules.parse("x/y\n!x\n")
    assert not rules.may_include_under("x/y")
    assert rules.excludes("x/y/z")
    assert not rules.matches_or_parent_matches("x/y/z")


def test_copy_exclude_patterns_use_the_same_matcher():
    rules = IgnoreRules.from_patterns(["*.txt", "!keep.txt", "tmp/"])
    assert rules.excludes("a.txt") and not rules.excludes("keep.txt")
    assert rules.excludes("tmp/x") and not rules.excludes("src/a.txt")


def test_rules_are_frozen_and_comparable():
    a = IgnoreRules.parse("a\n!b\n")
    b = IgnoreRules.parse("a\n!b\n")
    a.excludes("a/x")  # the lazy walk cache must not affect equality
    assert a == b
    with pytest.raises(AttributeError):
        a.patterns = ()  # type: ignore[misc]
