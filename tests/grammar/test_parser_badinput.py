"""Bad input: each is a located, one-paragraph PalletError, fast, never a traceback or a hang."""

from __future__ import annotations

import time

import pytest

from pallet.base.errors import PalletError
from pallet.grammar import parse


def error_of(data: bytes | str) -> PalletError:
    with pytest.raises(PalletError) as caught:
        parse(data, path="Dockerfile")
    error = caught.value
    assert error.span is not None and error.span.file == "Dockerfile"
    return error


def test_invalid_utf8_points_at_the_bad_byte():
    error = error_of(b"FROM alpine\nRUN echo caf\xe9\n")
    assert "not valid UTF-8" in error.message
    assert (error.span.line, error.span.column) == (2, 13)
    assert "RUN echo caf" in error.render()


def test_binary_file_is_refused():
    error = error_of(b"\x7fELF\x02\x01\x01\x00\x00\x00garbage\x00\n\x01\x02")
    assert "binary file" in error.message
    assert (error.span.line, error.span.column) == (1, 8)
    assert "\x00" not in error.render() and "\x01" not in error.render()


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"# only a comment\n\n# another\n",
                                  b"\xef\xbb\xbf"])
def test_empty_files(data):
    assert "file with no instructions" in error_of(data).message


def test_ten_megabyte_line_is_rejected_fast():
    data = b"FROM alpine\nRUN echo " + b"x" * (10 * 1024 * 1024) + b"\n"
    started = time.perf_counter()
    error = error_of(data)
    elapsed = time.perf_counter() - started
    assert "longer than the maximum" in error.message and error.span.line == 2
    assert len(error.render()) < 2000
    assert elapsed < 5  # generous: it is linear work; a quadratic scan would take minutes


def test_long_but_legal_line_parses():
    value = "y" * 60000
    bf = parse(f"FROM alpine\nENV BIG={value}\n")
    assert bf.stages[0].instructions[0].pairs[0].value == value


def test_ten_megabyte_heredoc_body_is_fine():
    body = ("echo " + "z" * 70 + "\n") * 140_000  # ~10 MB in short lines
    bf = parse("FROM alpine\nRUN <<EOF\n" + body + "EOF\n")
    assert bf.stages[0].instructions[0].heredocs[0].body == body


def test_unterminated_heredoc():
    error = error_of("FROM alpine\nCOPY <<EOF /x\nno end\n")
    assert "unterminated heredoc" in error.message and error.span.line == 2


def test_unknown_instruction_with_suggestion():
    error = error_of("FROM alpine\nRUNN echo\n")
    assert error.message == "unknown instruction: RUNN"
    assert error.hint == "did you mean RUN?"
    assert (error.span.line, error.span.column, error.span.end_column) == (2, 1, 4)


def test_unknown_instruction_without_close_match_lists_instructions():
    error = error_of("FROM alpine\nXYZZY plugh\n")
    assert "FROM" in error.hint and "HEALTHCHECK" in error.hint


def test_bad_flag():
    error = error_of("FROM alpine\nRUN --mnt=type=cache,target=/x true\n")
    assert error.message == "unknown flag: --mnt" and error.hint == "did you mean --mount?"


def test_from_less_file():
    error = error_of("RUN echo hi\n")
    assert "before the first FROM" in error.message
    error = error_of("ARG A=1\nARG B\n")
    assert "no FROM instruction" in error.message


def test_render_is_one_paragraph():
    text = error_of("FROM alpine\nCOPY --chwon=1 a b\n").render()
    assert "\n\n" not in text and text.startswith("Dockerfile:2:6: unknown flag")


def test_a_line_of_thousands_of_flags_stays_linear():
    started = time.perf_counter()
    error = error_of("FROM alpine\nRUN " + "--a " * 15000 + "true\n")
    assert error.message == "unknown flag: --a" and error.span.column == 5
    assert time.perf_counter() - started < 5  # ~0.2 s; the quadratic version took seconds


@pytest.mark.parametrize("payload", ['\\"' * 30000, '"' * 60000, "'" * 60000, "\\" * 60000])
def test_pathological_quoting_in_long_lines_is_fast(payload):
    started = time.perf_counter()
    for keyword in ("RUN --mount=", "ENV a=", "ARG ", "COPY x ", "RUN <<"):
        try:
            parse("FROM a\n" + keyword + payload + "\n")
        except PalletError:
            pass
    assert time.perf_counter() - started < 5


def test_random_build_files_raise_only_located_pallet_errors():
    import random

    from pallet.grammar import dump, parse_syntax
    from pallet.grammar.lint import check

    pieces = ["FROM", "RUN", "COPY", "ADD", "ENV", "LABEL", "ARG", "ONBUILD", "HEALTHCHECK", "CMD",
              "SHELL", "EXPOSE", "VOLUME", "USER", "WORKDIR", "from", "AS", "--mount=type=cache",
              "--from=a", "--", "--x", "<<EOF", "<<-'E'", "EOF", "E", "\tE", "[", "]", '"', "'", ",",
              "\\", "`", "=", "a=b", "$X", "${Y:-z}", " ", "\t", "\n", "\r\n", "# escape=`",
              "# syntax=x", "#", "é", "☃", "\u00a0", "\v", "NONE", '["a"]', "{", "1"]
    generator = random.Random(2024)
    for _ in range(600):
        text = "".join(generator.choice(pieces) + generator.choice(["", " ", "\n"])
                       for _ in range(generator.randint(1, 30)))
        for attempt in (parse, lambda t: dump(parse_syntax(t)), lambda t: check(t, "Dockerfile")):
            try:
                attempt(text)
            except PalletError as error:
                assert error.span is not None, (text, error.message)
