"""Pattern matching that cannot be made to stall: `.dockerignore` / `COPY --exclude` patterns
and the `${v#p}` family, on inputs where Python's backtracking `re` (the old engine) would
run for hours or longer. No timing is asserted: each case finishing within the suite's
timeout, with the right answer, is the test; the old code did not finish them."""

from __future__ import annotations

import random
import re

import pytest

from pallet.grammar.dockerignore import IgnoreRules
from pallet.grammar.pathpattern import PathRegex, go_regex
from pallet.grammar.substitution import expand_word

STARS_A = "*a*a*a*a*a*a*a*a*a*a*a*a*b"  # 12 stars: ~n^12 steps for a backtracking regex


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    (STARS_A, "a" * 5000, False),
    (STARS_A, "a" * 5000 + "b", True),
    (STARS_A, "/".join(["a" * 200] * 20), False),
    ("**/**/**/**/**/**/**/z", "a/" * 2000 + "y", False),
    ("**/**/**/**/**/**/**/z", "a/" * 2000 + "z", True),
    ("**/a**/a**/a**/a**/a**/a**/z", "a/" * 2000 + "y", False),
    ("**/a**/a**/a**/a**/a**/a**/z", "a/" * 2000 + "z", True),
    ("**/*a*a*a*a*a*/**/x", "a/" * 2000 + "aaaaaa/y", False),
    ("[^/]*?a[ab]*a[ab]*a[ab]*a[ab]*a[ab]*a[ab]*c", "a" * 5000, False),
])
def test_pathological_patterns_finish_with_the_right_answer(pattern, path, expected):
    (compiled,) = IgnoreRules.from_patterns([pattern]).patterns
    assert compiled.matches(path) is expected


def test_a_deep_path_is_walked_without_recursion():
    # 3000 nested directories: the walk keeps per-directory results, so each ancestor is
    # matched once; the old walk recursed once per level (RecursionError).
    deep = "/".join(["d"] * 3000) + "/file"
    rules = IgnoreRules.from_patterns(["**/a**/a**/z", "d/d/d/**/file"])
    assert rules.excludes(deep)
    assert not IgnoreRules.from_patterns([STARS_A]).excludes(deep)


def test_build_context_rules_with_a_stalling_pattern_still_answer():
    rules = IgnoreRules.parse(f"{STARS_A}\n!keep*\n")
    assert not rules.excludes("a" * 250)
    assert rules.excludes("a" * 249 + "b")
    assert not rules.excludes("keep" + "a" * 245 + "b")


# The linear simulation must say exactly what a regex engine says. Python's `re` is a fine
# judge on inputs this small, where backtracking costs nothing.
_PIECES = ["a", "b", "/", "*", "?", "**/", "**", "[ab]", "[^a]", "[/]", "\\*", "."]
_CHARS = "ab/*.\n"


def _random_pattern(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 7)))


def test_linear_matcher_agrees_with_a_backtracking_regex():
    rng = random.Random(20240611)
    checked = 0
    for _ in range(3000):
        pattern = _random_pattern(rng)
        kind, source = go_regex(pattern)
        if source is None:
            continue
        judge = re.compile(source[1:-1], re.ASCII)  # patternmatcher's Go regex, as Python
        compiled = PathRegex.compile(source)
        for _ in range(8):
            path = "".join(rng.choice(_CHARS) for _ in range(rng.randint(0, 9)))
            expected = judge.fullmatch(path) is not None
            assert compiled.match_by_positions(path) is expected, (pattern, source, path)
            assert compiled.fullmatch(path) is expected, (pattern, source, path)
            checked += 1
    assert checked > 10000


def test_regex_kind_patterns_keep_go_semantics_on_newlines():
    # Go's `.` stops at a newline, so `**` does not cross one; `*` ([^/]) does.
    (dirs,) = IgnoreRules.from_patterns(["a/**/b"]).patterns
    assert dirs.matches("a/x/b") and not dirs.matches("a/x\ny/b")
    (star,) = IgnoreRules.from_patterns(["a*b"]).patterns
    assert star.matches("a\nb")


# --- ${v#p} and friends --------------------------------------------------------------------
@pytest.mark.parametrize(("word", "expected"), [
    ("${V##" + STARS_A + "}", "a" * 20000),
    ("${V#" + STARS_A + "}", "a" * 20000),
    ("${V%%" + STARS_A + "}", "a" * 20000),
    ("${V%" + STARS_A + "}", "a" * 20000),
    ("${V/" + STARS_A + "/x}", "a" * 20000),
    ("${V//" + STARS_A + "/x}", "a" * 20000),
    ("${V##*a*a*a*a*a*a*a*a*a*a*a*a}", ""),
    ("${V%%a*a*a*a*a*a*a*a*a*a*a*a*a}", ""),
    ("${V%a*a*a*a*a*a*a*a*a*a*a*a*a}", "a" * (20000 - 13)),  # the shortest suffix
])
def test_shell_patterns_on_long_values_finish(word, expected):
    assert expand_word(word, {"V": "a" * 20000}).value == expected


def test_replace_all_is_linear_in_the_number_of_matches():
    # 20,000 matches: the old loop re-searched from each match (and RE2's wrapper would
    # re-encode the value per search); one pass now.
    assert expand_word("${V//a/bc}", {"V": "a" * 20000}).value == "bc" * 20000


def test_shell_patterns_see_invalid_utf8_as_go_does():
    # A byte that is not UTF-8 is one character (U+FFFD) to Go: `?` takes exactly one.
    value = b"\xff\xfeab".decode("utf-8", "surrogateescape")
    assert expand_word("${V#?}", {"V": value}).value == value[1:]
    assert expand_word("${V//?/x}", {"V": value}).value == "xxxx"
