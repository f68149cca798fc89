"""The logical-line scanner: bytes of a build file -> directives + joined instruction lines.

Why this is hand-written and not part of buildfile.lark: the rules handled here are
context-sensitive in ways an LALR grammar cannot express. The escape character that marks a
line continuation is chosen by a directive on the first lines (``# escape=```), directives
are only directives until the first other line, comment and blank lines vanish only *inside*
a continuation, and the lines after a ``RUN <<EOF`` are raw heredoc body up to a terminator
word chosen by the instruction itself. So this module does what BuildKit's line scanner does
(decode, BOM, CRLF, directives, continuations, heredoc bodies) and hands each joined logical
line to the Lark grammar, which parses the structure of the instruction.

Every logical line keeps a map from its character offsets back to physical (line, column),
so errors found by the grammar point at the right place in the file.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Callable

from pallet.base.errors import PalletError, Span

# Go's bufio.Scanner refuses a token longer than this (the line plus its newline), so BuildKit
# fails on longer lines; we do the same, which also keeps a 10 MB line fast to reject.
MAX_LINE_BYTES = 64 * 1024
# BuildKit moves the build file in one gRPC message, at most 16 MiB (its DefaultMaxRecvMsgSize);
# a larger file fails there ("received message larger than max"), so it fails here too, before
# a 1 GB file is read or parsed.
MAX_FILE_BYTES = 16 * 1024 * 1024
VALID_DIRECTIVES = ("syntax", "escape", "check")
# Go's unicode.IsSpace, which BuildKit uses for left-trimming lines.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
           "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
# Go regexp \s is [\t\n\f\r ] (no \v).
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z", re.S)


@dataclass(frozen=True)
class Directive:
    """A parser directive such as ``# syntax=...``, ``# escape=`` or ``# check=...``."""

    name: str
    value: str
    span: Span


@dataclass(frozen=True)
class Segment:
    """Where a piece of a logical line came from: logical offset -> physical line/column."""

    offset: int
    line: int
    column: int


@dataclass(frozen=True)
class HeredocBody:
    """The raw body lines of one heredoc, read after its instruction line."""

    name: str
    body: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class LogicalLine:
    """One instruction: its physical lines joined the way BuildKit joins them."""

    text: str
    start_line: int
    end_line: int
    segments: tuple[Segment, ...]
    heredoc_bodies: tuple[HeredocBody, ...] = ()
    empty_continuation_lines: tuple[int, ...] = ()

    def position(self, offset: int) -> tuple[int, int]:
        """Physical (line, column) of a 0-based character offset into ``text``."""
        if len(self.segments) == 1:
            segment = self.segments[0]
            return segment.line, segment.column + offset
        starts = [segment.offset for segment in self.segments]
        index = max(0, bisect.bisect_right(starts, offset) - 1)
        segment = self.segments[index]
        return segment.line, segment.column + (offset - segment.offset)

    def span(self, start: int, end: int) -> tuple[int, int, int, int]:
        """Physical (line, col, end_line, end_col) of the offsets [start, end) (end inclusive)."""
        line, column = self.position(start)
        end_line, end_column = self.position(max(start, end - 1))
        return line, column, end_line, end_column


@dataclass(frozen=True)
class ScannedFile:
    """A scanned build file: directives and logical lines."""

    path: str
    escape: str
    directives: tuple[Directive, ...]
    lines: tuple[LogicalLine, ...]
    source_lines: tuple[str, ...] = field(repr=False)

    def source_line(self, line: int) -> str:
        return self.source_lines[line - 1] if 0 < line <= len(self.source_lines) else ""


# The caller decides, from a joined instruction line, which heredocs it opens (only RUN, COPY
# and ADD in shell form take heredocs, and that needs the instruction grammar).
HeredocFinder = Callable[[LogicalLine], "list[tuple[str, bool]]"]


def decode(data: bytes | str, path: str) -> str:
    """Bytes -> text, refusing what is not a text build file (with the place it goes wrong).

    Like BuildKit: UTF-8 only, a UTF-8 byte-order mark dropped, at most MAX_FILE_BYTES."""
    size = len(data) if isinstance(data, bytes) else (
        len(data) if len(data) * 4 <= MAX_FILE_BYTES else len(data.encode("utf-8", "replace")))
    if size > MAX_FILE_BYTES:
        raise PalletError(
            f"build file {path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
            span=Span(path, 1, 1, 1, 1),
            hint="BuildKit refuses build files this large too (its 16 MiB message limit); "
                 "split the build or move data into the context")
    if isinstance(data, str):
        text = data
    else:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(data):
            raise PalletError(
                f"build file {path} is UTF-16 encoded; build files are read as UTF-8",
                span=Span(path, 1, 1, 1, 1),
                hint="save it as UTF-8 (for example: iconv -f UTF-16 -t UTF-8)")
        nul = data.find(b"\x00")
        if nul >= 0:
            line = data.count(b"\n", 0, nul) + 1
            column = nul - (data.rfind(b"\n", 0, nul) + 1) + 1
            start = data.rfind(b"\n", 0, nul) + 1
            end = data.find(b"\n", nul)
            shown = data[start:end if end >= 0 else len(data)][:400]
            raise PalletError(
                "file contains a NUL byte: this looks like a binary file, not a build file",
                span=Span(path, line, column, line, column),
                source_line=_printable(shown.decode("utf-8", "replace")),
                hint="pass the Dockerfile itself (pallet check -f PATH), not an archive or image")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            line_start = data.rfind(b"\n", 0, error.start) + 1
            column = len(data[line_start:error.start].decode("utf-8", "replace")) + 1
            line_end = data.find(b"\n", error.start)
            shown = data[line_start:line_end if line_end >= 0 else len(data)][:400]
            raise PalletError(
                f"file is not valid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})",
                span=Span(path, line, column, line, column),
                source_line=_printable(shown.decode("utf-8", "replace")),
                hint="save the build file as UTF-8") from error
        if "\x00" in text:
            raise PalletError("file contains a NUL character: this looks like a binary file",
                              span=Span(path, 1, 1, 1, 1))
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _looks_utf16(data: bytes) -> bool:
    """UTF-16 without a byte-order mark: ASCII text with a NUL after (or before) each byte."""
    head = data[:64]
    return len(head) >= 4 and (head[1::2].count(0) == len(head[1::2])
                               or head[0::2].count(0) == len(head[0::2]))


def _printable(text: str) -> str:
    """A line of a non-text file, safe to echo to a terminal (one character per character)."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "\ufffd" for ch in text)


def _split_physical(text: str, path: str) -> list[str]:
    """Split on \\n keeping line endings (heredoc bodies need them), enforcing the size limit."""
    if not text:
        return []
    lines = [piece + "\n" for piece in text.split("\n")]
    if text.endswith("\n"):
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_BYTES // 4 and len(line.encode("utf-8")) > MAX_LINE_BYTES:
            raise PalletError(
                f"line {number} is longer than the maximum of {MAX_LINE_BYTES - 1} bytes "
                f"({len(line.encode('utf-8'))} bytes)",
                span=Span(path, number, 1, number, 1), source_line=line[:400],
                hint="split the instruction over several lines with the escape character, "
                     "or move the data into a file in the build context")
    return lines


def _strip_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return line.lstrip(GO_SPACE).startswith("#")


class _DirectiveState:
    """BuildKit's directive parser: only a run of ``# key=value`` lines at the very top."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = False
        self.seen: dict[str, Directive] = {}
        self.escape = "\\"

    def feed(self, line: str, number: int, indent: int = 0) -> bool:
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
        match = _DIRECTIVE.match(line[1:].lstrip(GO_SPACE))
        if match is None or match.group(1).lower() not in VALID_DIRECTIVES:
            self.done = True
            return False
        name, value = match.group(1).lower(), match.group(2)
        column = indent + line.find(match.group(1)) + 1
        span = Span(self.path, number, column, number, indent + len(line.rstrip()))
        if name in self.seen:
            raise PalletError(f"only one {name} parser directive can be used", span=span,
                              hint=f"remove the repeated '# {name}=' line")
        if name == "escape":
            if value not in ("\\", "`"):
                raise PalletError(f"invalid escape token '{value}' does not match ` or \\",
                                  span=span, hint="use '# escape=\\' or '# escape=`'")
            self.escape = value
        self.seen[name] = Directive(name, value, span)
        return True


def _continuation(line: str, escape: str) -> tuple[str, bool]:
    """Strip a trailing escape character (plus spaces/tabs); True when the line continues.

    Mirrors BuildKit's regex ``([^E])E[ \\t]*$|^E[ \\t]*$``: an escape preceded by another
    escape (``foo\\\\``) does not continue the line.
    """
    stripped = line.rstrip(" \t")
    if not stripped.endswith(escape):
        return line, False
    body = stripped[:-1]
    if body == "":
        return "", True
    if body.endswith(escape):
        return line, False
    return body, True


def _join(physical: list[str], index: int, first: str, number: int, column: int,
          escape: str) -> tuple[LogicalLine, int]:
    """Join an instruction's continuation lines (BuildKit's rules); returns the line and the
    index of the next physical line. Comment and blank lines inside are skipped."""
    body, continues = _continuation(first, escape)
    pieces = [body]
    segments = [Segment(0, number, column)]
    length = len(body)
    end_line = number
    empty_lines: list[int] = []
    while continues and index < len(physical):
        raw = _strip_newline(physical[index])
        end_line = index + 1
        index += 1
        if _is_comment(raw):
            continue
        if raw.strip(GO_SPACE) == "":
            empty_lines.append(end_line)
            continue
        body, continues = _continuation(raw, escape)
        segments.append(Segment(length, end_line, 1))
        pieces.append(body)
        length += len(body)
    return LogicalLine("".join(pieces), number, end_line, tuple(segments),
                       empty_continuation_lines=tuple(empty_lines)), index


def _read_heredocs(physical: list[str], index: int, line: LogicalLine,
                   heredocs: list[tuple[str, bool]], path: str,
                   source_lines: tuple[str, ...]) -> tuple[LogicalLine, int]:
    """Cut the bodies of the line's heredocs, one after the other, from the lines after it."""
    bodies = []
    for name, chomp in heredocs:
        start = index + 1
        content: list[str] = []
        terminated = False
        while index < len(physical):
            candidate = physical[index]
            index += 1
            possible = _strip_newline(candidate)
            if chomp:
                possible = possible.lstrip("\t")
            if possible == name:
                terminated = True
                break
            content.append(candidate)
        if not terminated:
            opener = source_lines[line.start_line - 1]
            raise PalletError(
                f"unterminated heredoc: no line '{name}' closes the heredoc opened here",
                span=Span(path, line.start_line, line.segments[0].column, line.start_line,
                          max(1, len(opener))),
                source_line=opener,
                hint=f"end the heredoc body with a line containing only {name}")
        bodies.append(HeredocBody(name, "".join(content), start, index))
    return LogicalLine(line.text, line.start_line, index, line.segments, tuple(bodies),
                       line.empty_continuation_lines), index


def scan(data: bytes | str, path: str, find_heredocs: HeredocFinder) -> ScannedFile:
    """Split a build file into directives and logical instruction lines."""
    text = decode(data, path)
    physical = _split_physical(text, path)
    source_lines = tuple(_strip_newline(line) for line in physical)
    directives = _DirectiveState(path)
    logical: list[LogicalLine] = []
    index = 0
    while index < len(physical):
        raw = _strip_newline(physical[index])
        number = index + 1
        index += 1
        stripped = raw.lstrip(GO_SPACE)
        indent = len(raw) - len(stripped)
        directives.feed(stripped, number, indent)
        if _is_comment(stripped) or stripped.rstrip(" \t") == "":
            continue
        line, index = _join(physical, index, stripped, number, indent + 1, directives.escape)
        if line.text.strip(GO_SPACE) == "":
            # Only escape characters and blanks up to the end of the continuation. BuildKit
            # makes a nameless instruction of that, which then fails as unknown; there is
            # nothing to build, so we skip it instead.
            continue
        heredocs = find_heredocs(line)
        if heredocs:
            line, index = _read_heredocs(physical, index, line, heredocs, path, source_lines)
        logical.append(line)
    if not logical:
        last = max(1, len(source_lines))
        raise PalletError("file with no instructions", span=Span(path, last, 1, last, 1),
                          hint="a build file needs at least a FROM instruction")
    return ScannedFile(path, directives.escape, tuple(directives.seen.values()),
                       tuple(logical), source_lines)
