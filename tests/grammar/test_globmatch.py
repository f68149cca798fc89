"""Go's filepath.Match and filepath.Clean, checked against the cases of Go's own tests."""

from __future__ import annotations

import fnmatch

import pytest

from pallet.grammar.globmatch import BadPattern, clean, match

# Go's path/filepath match_test.go table (pattern, name, matches); Unix behaviour.
GO_MATCH_TESTS = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True),
    ("a*", "abc", True), ("a*", "ab/c", False), ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True),
    ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True),
    ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("[\\-x]", "-", True),
    ("[\\-x]", "a", False), ("*x", "xxx", True),
]

GO_BAD_PATTERNS = [
    ("[]a]", "]"), ("[-]", "-"), ("[x-]", "x"), ("[x-]", "-"), ("[x-]", "z"), ("[-x]", "x"),
    ("[-x]", "-"), ("[-x]", "a"), ("\\", "a"), ("[a-b-c]", "a"), ("[", "a"), ("[^", "a"),
    ("[^bc", "a"), ("a[", "a"), ("a[", "ab"), ("a[", "x"), ("a/b[", "x"),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), GO_MATCH_TESTS,
                         ids=[f"{p}|{n}" for p, n, _ in GO_MATCH_TESTS])
def test_match_like_go(pattern, name, expected):
    assert match(pattern, name) is expected


@pytest.mark.parametrize(("pattern", "name"), GO_BAD_PATTERNS,
                         ids=[f"{p}|{n}" for p, n in GO_BAD_PATTERNS])
def test_bad_pattern_like_go(pattern, name):
    with pytest.raises(BadPattern, match="syntax error in pattern"):
        match(pattern, name)


def test_bad_pattern_found_after_a_mismatch():
    # The name already fails on "x", yet the malformed tail is still reported (Go >= 1.16).
    with pytest.raises(BadPattern):
        match("x*[", "abc")


def test_differs_from_fnmatch_where_go_differs():
    assert fnmatch.fnmatchcase("a/b", "a*b") and not match("a*b", "a/b")
    assert fnmatch.fnmatchcase("ab", "a[!c]") and not match("a[!c]", "ab")
    assert match("a[^c]", "ab")


@pytest.mark.parametrize(("path", "expected"), [
    ("", "."), (".", "."), ("abc", "abc"), ("abc/", "abc"), ("a//b", "a/b"),
    ("a/./b", "a/b"), ("a/../b", "b"), ("a/b/../..", "."), ("../a", "../a"),
    ("a/../..", ".."), ("/..", "/"), ("/../a", "/a"), ("//a", "/a"), ("/", "/"),
    ("./a/", "a"), ("abc/def/../../..", ".."),
])
def test_clean_like_go(path, expected):
    assert clean(path) == expected


@pytest.mark.timeout(20)
def test_match_is_linear_in_long_patterns_and_many_stars():
    # The old port sliced the pattern and the name once per character (quadratic in a
    # 60,000-character chunk: 30 s for one name) and COPY called it per directory entry.
    assert match("*" + "[a]" * 20000 + "*b", "a" * 255) is False
    assert match("*" + "a" * 60000 + "*b", "a" * 255) is False
    assert match("*a" * 20000 + "*", "a" * 255) is False
    assert match("*a" * 100 + "*", "a" * 255) is True
    with pytest.raises(BadPattern):
        match("*" + "[a]" * 20000 + "[", "a" * 255)
