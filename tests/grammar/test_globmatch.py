"""Go's filepath.Match and filepath.Clean, checked against the cases of Go's own tests."""

from __future__ import annotations

import fnmatch

import pytest

from pallet.grammar.globmatch import BadPattern, clean, match

from tests.grammar.go_match_cases import GO_MATCH_TESTS

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
