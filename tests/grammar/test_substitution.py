"""Variable substitution: BuildKit's own data files, then lex_test.go's inline cases, then ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from pallet.grammar import shellpattern
from pallet.grammar.substitution import SubstitutionError, expand_word, expand_words
from tests.grammar import BUILDKIT_DATA

SHELL_DATA = BUILDKIT_DATA / "shell"
ENV_VAR_TEST_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}
GO_SPACE = " \t\n\v\f\r\x85\xa0"


def _lines(path: Path) -> list[str]:
    """Lines as Go's bufio.Scanner gives them (split on \\n, a trailing \\r dropped)."""
    text = path.read_bytes().decode("utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _env_var_cases() -> list:
    cases = []
    for number, line in enumerate(_lines(SHELL_DATA / "envVarTest"), start=1):
        if line.startswith("#") or not line.strip(GO_SPACE):
            continue
        fields = line.strip(GO_SPACE).split("|")
        assert len(fields) == 3, f"envVarTest line {number} is malformed"
        platform, source, expected = (f.strip(GO_SPACE) for f in fields)
        assert platform in ("A", "U", "W")
        if platform != "W":  # Windows-only lines need case-insensitive names
            cases.append(pytest.param(source, expected, id=f"line{number}:{source}"))
    return cases


def _words_cases() -> list:
    cases = []
    env: dict[str, str] = {}
    for number, line in enumerate(_lines(SHELL_DATA / "wordsTest"), start=1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            name, _, value = line[3:].lstrip(" ").partition("=")
            env = {**env, name: value}  # each case sees the ENV lines above it
            continue
        fields = line.split("|")
        assert len(fields) == 2, f"wordsTest line {number} is malformed"
        source = fields[0].strip(GO_SPACE)
        expected = fields[1].lstrip(" ").split(",")
        cases.append(pytest.param(source, dict(env), expected, id=f"line{number}:{source}"))
    return cases


ENV_VAR_CASES = _env_var_cases()
WORDS_CASES = _words_cases()


def test_conformance_data_has_the_documented_number_of_checks():
    assert len(ENV_VAR_CASES) == 228
    assert len(WORDS_CASES) == 24


@pytest.mark.parametrize(("source", "expected"), ENV_VAR_CASES)
def test_env_var_test_line(source: str, expected: str):
    if expected == "error":
        with pytest.raises(PalletError):
            expand_word(source, ENV_VAR_TEST_ENV)
    else:
        assert expand_word(source, ENV_VAR_TEST_ENV).value == expected


@pytest.mark.parametrize(("source", "env", "expected"), WORDS_CASES)
def test_words_test_line(source: str, env: dict[str, str], expected: list[str]):
    try:
        words = list(expand_words(source, env).words)
    except PalletError:
        words = ["error"]
    assert words == expected


# --- lex_test.go: TestProcessWithMatches (value, matched names, unmatched names) -----------
PROCESS_WITH_MATCHES = [
    ("x", {"DUMMY": "dummy"}, "x", set(), set()),
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", set(), {"UNUSED"}),
    ("x ${FOO}", {"FOO": "y"}, "x y", {"FOO"}, set()),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc",
     {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc",
     {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:-}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${FOO:-}", {}, "", set(), {"FOO"}),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb ",
     {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  ",
     {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${BAR?bbb}", {"FOO": "xxx", "BAR": ""}, "", {"BAR"}, set()),
    ("${FOO:?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", {"FOO"}, set()),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", {"FOO"}, set()),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", {"FOO"}, set()),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", {"FOO", "BAR"}, set()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}, set()),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy", {"FOO"}, set()),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y", {"FOO"}, set()),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO"}, {"ABC"}),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", {"FOO"}, set()),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}, set()),
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
     "/foo.*/*.txt - /foo..*.txt", {"FOO", "NEEDLE"}, set()),
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
     "/tmp/bar.txt - /bar.txt", {"FOO", "NEEDLE"}, set()),
    ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
     "/foo/b/c.txt - /foo/c.txt", {"FOO", "NEEDLE", "REPLACEMENT"}, set()),
    ("${FOO/$NEEDLE/$REPLACEMENT}",
     {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
     "https://google.de", {"FOO", "NEEDLE", "REPLACEMENT"}, set()),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", {"FOO"}, set()),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", {"FOO", "BAR"}, set()),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO///}", {}, "", set(), {"FOO"}),
]


@pytest.mark.parametrize(("word", "env", "value", "matched", "unmatched"), PROCESS_WITH_MATCHES,
                         ids=[f"{i}:{c[0]}" for i, c in enumerate(PROCESS_WITH_MATCHES)])
def test_process_with_matches(word, env, value, matched, unmatched):
    result = expand_word(word, env)
    assert result.value == value
    assert result.used == frozenset(matched | unmatched)
    assert result.unset == frozenset(unmatched)


PROCESS_ERRORS = [
    ("${BAZ?ccc}", {"FOO": "xxx", "BAR": ""}),
    ("${BAR:?bbb}", {"FOO": "xxx", "BAR": ""}),
    ("${BAZ:?ccc}", {"FOO": "xxx", "BAR": ""}),
    ("${BAZ:?}", {"FOO": "xxx", "BAR": ""}),
    ("${FOO=aaa}", {"FOO": "xxx", "BAR": ""}),
    ("${FOO=:aaa}", {"FOO": "xxx", "BAR": ""}),
    ("${FOO=}", {}),
    ("${FOO//ww}", {"FOO": "xxyy"}),
    ("${FOO//}", {"FOO": "xxyy"}),
]


@pytest.mark.parametrize(("word", "env"), PROCESS_ERRORS, ids=[c[0] for c in PROCESS_ERRORS])
def test_process_with_matches_errors(word, env):
    with pytest.raises(SubstitutionError):
        expand_word(word, env)


@pytest.mark.parametrize(("env", "expected"), [
    ({"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
     "something-v1.2.3.linux-arm-v7.tar.gz"),
    ({"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64", "TARGETVARIANT": ""},
     "something-v1.2.3.linux-arm64.tar.gz"),
    ({"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64"},
     "something-v1.2.3.linux-arm64.tar.gz"),
])
def test_process_with_matches_platform(env, expected):
    release = ("something-${VERSION}.${TARGETOS}-${TARGETARCH}"
               "${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz")
    assert expand_word(release, env).value == expected


# --- lex_test.go: TestShellParserMandatoryEnvVars, with the exact messages -----------------
@pytest.mark.parametrize(("word", "env", "value"), [
    ("${VAR:?message here$ARG}", {"VAR": "plain", "ARG": "x"}, "plain"),
    ("${VAR?message here$ARG}", {"VAR": "plain", "ARG": "x"}, "plain"),
    ("${VAR?message here$ARG}", {"VAR": "", "ARG": "x"}, ""),
])
def test_mandatory_variable_present(word, env, value):
    assert expand_word(word, env).value == value


@pytest.mark.parametrize(("word", "env", "reason"), [
    ("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"}, "VAR: message herex"),
    ("${VAR:?message here$ARG}", {"ARG": "x"}, "VAR: message herex"),
    ("${VAR?message here$ARG}", {"ARG": "x"}, "VAR: message herex"),
    ("${x:?msg}", {}, "x: msg"),
    ("${x?}", {}, "x: is not allowed to be unset"),
    ("${x:?}", {}, "x: is not allowed to be unset"),
    ("${x:?}", {"x": ""}, "x: is not allowed to be empty"),
])
def test_mandatory_variable_messages(word, env, reason):
    with pytest.raises(SubstitutionError) as caught:
        expand_word(word, env)
    assert caught.value.reason == reason
    assert caught.value.message == f'failed to process "{word}": {reason}'


@pytest.mark.parametrize(("word", "reason"), [
    ("${x:=y}", "unsupported modifier (:=) in substitution"),
    ("${x=y}", "unsupported modifier (=) in substitution"),
    ("${}", "syntax error: bad substitution"),
    ("${:-a}", "syntax error: bad substitution"),
    ("${x", "unsupported modifier (\ufffd) in substitution"),
    ("${", "syntax error: missing '}'"),
    ("${x:-a", "syntax error: missing '}'"),
    ("${x/a", "syntax error: missing '/' in ${}"),
    ("'abc", "unexpected end of statement while looking for matching single-quote"),
    ('"abc', "unexpected end of statement while looking for matching double-quote"),
    ("${x#a\\b}", "invalid pattern (a\\b) in substitution: invalid escape '\\b'"),
    # BuildKit reverses a % pattern before compiling it, and names the reversed one.
    ("${x%a\\b}", "invalid pattern (\\ba) in substitution: invalid escape '\\b'"),
    # A bad inner pattern is reported, unless the outer ${ is unterminated: that comes first.
    ("${a:-${x#\\q}}", "invalid pattern (\\q) in substitution: invalid escape '\\q'"),
    ("${a:-${x#\\q}", "syntax error: missing '}'"),
])
def test_error_messages_are_buildkits(word, reason):
    with pytest.raises(SubstitutionError) as caught:
        expand_word(word, {"x": "value"})
    assert caught.value.reason == reason


def test_error_is_a_pallet_error_with_a_hint():
    with pytest.raises(PalletError) as caught:
        expand_word("${x:=y}", {})
    assert caught.value.hint and "${v:-w}" in caught.value.hint


# --- lex_test.go: TestReversePattern / TestConvertShellPatternToRegex -----------------------
@pytest.mark.parametrize(("pattern", "expected"), [
    ("a\\*c", "c\\*a"), ("\\\\\\ab", "b\\a\\\\"), ("ab\\", "\\ba"),
    ("👽\\🚀🖖", "🖖\\🚀👽"), ("\\\\b", "b\\\\"),
])
def test_reverse_pattern_keeps_escape_pairs(pattern, expected):
    assert shellpattern._reverse_pattern(pattern) == expected


@pytest.mark.parametrize(("pattern", "matches", "does_not_match"), [
    ("*", "anything", None),
    ("?", "a", ""),
    ("\\*", "*", "a"),
    ("(()[]{\\}^$.\\*\\?|\\\\", "(()[]{}^$.*?|\\", "(()[]{}^$.a?|\\"),
])
def test_pattern_regex_is_literal_except_wildcards(pattern, matches, does_not_match):
    regex = shellpattern.pattern_regex(pattern, greedy=True, anchored=True)
    assert regex.fullmatch(matches)
    if does_not_match is not None:
        assert not regex.fullmatch(does_not_match)


@pytest.mark.parametrize("pattern", ["\\", "\\x", "\\\\\\"])
def test_pattern_regex_rejects_bad_escapes(pattern):
    with pytest.raises(ValueError, match="invalid escape"):
        shellpattern.pattern_regex(pattern, greedy=True, anchored=True)


# --- our own cases ----------------------------------------------------------------------------
@pytest.mark.parametrize(("word", "env", "value"), [
    ("${P#*/}", {"P": "a/b/c"}, "b/c"),
    ("${P##*/}", {"P": "a/b/c"}, "c"),
    ("${P%/*}", {"P": "a/b/c"}, "a/b"),
    ("${P%%/*}", {"P": "a/b/c"}, "a"),
    ("${P/b/X}", {"P": "abab"}, "aXab"),
    ("${P//b/X}", {"P": "abab"}, "aXaX"),
    ("${P/?/X}", {"P": "abc"}, "Xbc"),
    ("${P:#a}", {"P": "abc"}, "bc"),  # BuildKit accepts ':' before # and %
    ("${U-def}", {}, "def"),
    ("${E-def}", {"E": ""}, ""),
    ("${U+alt}", {}, ""),
    ("${E+alt}", {"E": ""}, "alt"),
    ("$ABC_1x", {"ABC_1x": "v"}, "v"),
    ("$A-b", {"A": "a"}, "a-b"),
    ("${A}${A}", {"A": "ab"}, "abab"),
    ("\ufeff$A", {"A": "a"}, "a"),  # Go's scanner drops a leading byte-order mark
])
def test_forms(word, env, value):
    assert expand_word(word, env).value == value


def test_replace_all_skips_an_empty_match_after_a_match_like_go():
    # Python's re.sub('.*', '-', 'ab') gives '--'; Go's ReplaceAllString gives '-'.
    assert expand_word("${P//*/-}", {"P": "ab"}).value == "-"


def test_replace_all_expands_dollar_zero_but_replace_first_does_not():
    env = {"P": "abc", "R": "<$0>", "S": "$$x${1}y"}
    assert expand_word("${P//b/$R}", env).value == "a<b>c"
    assert expand_word("${P/b/$R}", env).value == "a<$0>c"
    assert expand_word("${P//b/$S}", env).value == "a$xyc"


def test_backtick_escape_character():
    env = {"PWD": "/home"}
    assert expand_word("he`$PWD", env, escape="`").value == "he$PWD"
    assert expand_word("C:\\dir\\$PWD", env, escape="`").value == "C:\\dir\\/home"
    assert expand_word('"a`"b"', env, escape="`").value == 'a"b'


def test_used_lists_every_referenced_name_once():
    result = expand_words("$A ${B:-$C} '$D' \"$A\"", {"A": "1", "C": "3"})
    assert result.words == ("1", "3", "$D", "1")
    assert result.used == frozenset({"A", "B", "C"})
    assert result.unset == frozenset({"B"})


def test_words_split_on_whitespace_from_unquoted_variables_only():
    env = {"V": "a  b"}
    assert expand_words("x$V y", env).words == ("xa", "b", "y")
    assert expand_words('x"$V" y', env).words == ("xa  b", "y")
    assert expand_words("'' \"\" z", env).words == ("z",)


def test_skip_quotes_leaves_quotes_alone_for_heredoc_bodies():
    result = expand_word("echo '$A' \"$A\"", {"A": "1"}, skip_quotes=True)
    assert result.value == "echo '1' \"1\""


def test_keep_unset_leaves_references_to_unset_variables():
    env = {"A": "1"}
    assert expand_word("$A $B ${B} ${B:-x} ${B/a/b}", env, keep_unset=True).value == \
        "1 $B ${B} ${B:-x} ${B/a/b}"


def test_raw_quotes_keeps_quote_characters():
    assert expand_word("'a b'\"$A\"", {"A": "1"}, raw_quotes=True).value == "'a b'\"1\""


def test_escape_must_be_one_character():
    with pytest.raises(PalletError):
        expand_word("x", {}, escape="\\\\")
