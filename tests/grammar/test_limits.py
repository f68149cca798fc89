"""Limits of a build file, each a located one-paragraph PalletError instead of an internal
error: `${...}` nesting depth, the file's size, its encoding (UTF-16, invalid UTF-8)."""

from __future__ import annotations

import pytest

from pallet.base.errors import PalletError
from pallet.grammar import parse
from pallet.grammar.lines import MAX_FILE_BYTES
from pallet.grammar.lint import check
from pallet.grammar.substitution import MAX_NESTING, SubstitutionError, expand_word, nesting_depth


def nested(depth: int) -> str:
    return "${A:-" * depth + "x" + "}" * depth


def test_expander_refuses_deeper_nesting_with_a_message_not_a_recursion_error():
    # 5,000 levels raised RecursionError before.
    with pytest.raises(SubstitutionError) as caught:
        expand_word(nested(5000), {})
    assert f"nested more than {MAX_NESTING} levels deep" in caught.value.message
    assert len(caught.value.message) < 400  # the 30 kB word is not echoed whole


def test_expander_takes_the_deepest_allowed_nesting():
    assert expand_word(nested(MAX_NESTING), {}).value == "x"
    assert expand_word(nested(MAX_NESTING), {"A": "set"}).value == "set"


@pytest.mark.parametrize(("text", "depth"), [
    ("${a}", 1), ("${a:-${b}}", 2), ("'${a:-${b}}'", 0), ("\\${a}", 0),
    ('"${a:-"${b:-c}"}"', 2), ("${a:-'}'${b}}", 2), ("$a ${b} ${c:-${d:-${e}}}", 3),
])
def test_nesting_depth_reads_quotes_and_escapes_as_the_expander(text, depth):
    assert nesting_depth(text) == depth


def test_parse_refuses_deep_nesting_with_the_instruction_located():
    with pytest.raises(PalletError) as caught:
        parse(f"FROM busybox\nENV A={nested(MAX_NESTING + 1)}\n")
    error = caught.value
    assert "ENV: ${...} nested more than" in error.message
    assert (error.span.file, error.span.line) == ("Dockerfile", 2)


def test_deep_nesting_in_a_run_flag_is_refused_but_not_in_the_shell_command():
    with pytest.raises(PalletError):
        parse(f"FROM busybox\nRUN --mount=type=cache,target={nested(200)} true\n")
    # the shell expands RUN's command, not the builder: no limit there
    parse(f"FROM busybox\nRUN echo {nested(200)}\n")


def test_check_reports_deep_nesting():
    report = check(f"FROM busybox\nLABEL a={nested(1000)}\n".encode(), "Dockerfile")
    assert [d.span.line for d in report.errors] == [2]
    assert "nested more than" in report.errors[0].message


def test_build_file_larger_than_buildkits_message_limit_is_refused():
    data = b"FROM busybox\n" + b"LABEL a=" + b"v" * 1000 + b"\n" * 1
    data = data * (MAX_FILE_BYTES // len(data) + 1)
    with pytest.raises(PalletError) as caught:
        parse(data)
    assert "larger than 16 MiB" in caught.value.message
    assert check(data, "Dockerfile").errors[0].message == caught.value.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_build_file_is_named_as_such(encoding):
    data = "FROM busybox\nRUN echo hi\n".encode(encoding)
    with pytest.raises(PalletError) as caught:
        parse(data, path="ctx/Dockerfile")
    error = caught.value
    assert "ctx/Dockerfile is UTF-16 encoded" in error.message
    assert error.span.file == "ctx/Dockerfile" and "UTF-8" in error.hint


def test_invalid_utf8_names_file_line_and_column():
    with pytest.raises(PalletError) as caught:
        parse(b"FROM busybox\n\nLABEL a=\xc3\x28\n", path="sub/Dockerfile.dev")
    error = caught.value
    assert "not valid UTF-8" in error.message
    assert (error.span.file, error.span.line, error.span.column) == ("sub/Dockerfile.dev", 3, 9)


def test_utf8_byte_order_mark_is_dropped_as_buildkit_does():
    bf = parse(b"\xef\xbb\xbfFROM busybox\nLABEL a=b\n")
    assert bf.stages[0].base == "busybox"
