"""Build file -> syntax tree: the line scanner feeds joined lines to the Lark grammar.

lines.py (hand-written, context-sensitive: directives, escape character, continuations,
heredoc bodies) produces logical lines; all of them are parsed in ONE Lark LALR pass over the
document (buildfile.lark: keyword, flags, argument shape); this module then applies BuildKit's
per-instruction argument rules (JSON-or-shell fallback, ENV/LABEL word rules) to the parse tree
and maps every token position back to the physical file.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from pallet.base.errors import PalletError, Span
from pallet.grammar import heredoc as heredocs
from pallet.grammar import tables
from pallet.grammar.lines import GO_SPACE, LogicalLine, ScannedFile, scan
from pallet.grammar.syntax import Flag, Heredoc, Node, SyntaxTree
from pallet.grammar.words import parse_name_val, parse_words

if TYPE_CHECKING:
    from lark import Token

_SPLIT_WS = re.compile(r"[\t\v\f\r ]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_HEREDOC_KEYWORDS = {"run", "copy", "add"}
INSTRUCTION_RULES = ("from_", "expose", "run", "cmd", "entrypoint", "shell", "add", "copy",
                     "volume", "env", "label", "arg", "maintainer", "user", "workdir",
                     "stopsignal", "healthcheck", "onbuild", "unknown")
NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


def grammar():
    """The LALR parser for buildfile.lark (built once per grammar version; see tables.py).

    propagate_positions is deliberately off: every span we report comes from a token, and Lark
    positions tokens regardless; propagating positions onto rule nodes made the parse of a
    1,000-line file 2.6x slower (41 ms vs 16 ms here) for metadata nothing reads.
    """
    return tables.load(INSTRUCTION_RULES + ("rest",)).parser


def _syntax_error() -> type:
    return tables.load(INSTRUCTION_RULES + ("rest",)).unexpected_input


class _Context:
    """What node building needs to turn grammar positions into file spans."""

    def __init__(self, path: str, escape: str, source_lines: tuple[str, ...]) -> None:
        self.path = path
        self.escape = escape
        self.source_lines = source_lines

    def span(self, line: LogicalLine, start: int, end: int) -> Span:
        first, column, last, end_column = line.span(start, end)
        return Span(self.path, first, column, last, end_column)

    def error(self, message: str, span: Span, hint: str | None = None) -> PalletError:
        return PalletError(message, span=span, hint=hint,
                           source_line=self.source_lines[span.line - 1]
                           if 0 < span.line <= len(self.source_lines) else None)


def unquote_flag(raw: str) -> str:
    """A flag word as BuildKit keeps it: quotes removed, backslash escapes applied."""
    out: list[str] = []
    quote = ""
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if not quote and ch in "'\"":
            quote = ch
            i += 1
            continue
        if quote and ch == quote:
            quote = ""
            i += 1
            continue
        if ch == "\\":
            if i + 1 == n:
                break
            i += 1
            ch = raw[i]
        out.append(ch)
        i += 1
    return "".join(out)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN/Infinity; Go's does not


def parse_json_array(rest: str) -> list[str] | None:
    """The strings of a JSON array (exec form), None when ``rest`` is not valid JSON.

    A valid array holding a non-string is an error, not a fallback (BuildKit's rule). Validity
    is decided by the stdlib json decoder, strict like Go's encoding/json once NaN/Infinity are
    refused; \v and \f are never JSON whitespace and raw control characters never valid.
    """
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise ValueError(NOT_STRING_ARRAY)
    # Go turns lone surrogate escapes into U+FFFD; Python keeps them as surrogates.
    return [_SURROGATE.sub("\ufffd", item) for item in value]


def _maybe_json(rest: str) -> tuple[tuple[str, ...], bool]:
    if rest == "":
        return (), False
    values = parse_json_array(rest)
    if values is None:
        return (rest,), False
    return tuple(values), True


def _maybe_json_list(rest: str) -> tuple[tuple[str, ...], bool]:
    values = parse_json_array(rest)
    if values is not None:
        return tuple(values), True
    if rest == "":
        return (), False
    return tuple(_SPLIT_WS.split(rest)), False


def _arguments(kind: str, words: list["Token"], rest: str, escape: str) -> tuple[tuple[str, ...], bool]:
    """BuildKit's dispatch table: the argument nodes of each instruction."""
    if kind in ("from_", "expose"):
        return tuple(str(word) for word in words), False
    if kind in ("run", "cmd", "entrypoint", "shell"):
        return _maybe_json(rest)
    if kind in ("add", "copy", "volume"):
        return _maybe_json_list(rest)
    if kind == "healthcheck":
        if not words:
            return (), False
        command, json_form = _maybe_json(rest)
        return (str(words[0]),) + command, json_form
    if kind in ("env", "label"):
        return tuple(parse_name_val(rest, kind.upper(), escape)), False
    if kind == "arg":
        return tuple(parse_words(rest, escape)), False
    if kind in ("maintainer", "user", "workdir", "stopsignal"):
        return ((rest,) if rest else ()), False
    return ("",), False  # unknown instruction: BuildKit keeps one empty node


def _build_node(parsed: tuple, line: LogicalLine, ctx: _Context) -> Node:
    """A syntax Node from one (rule, children) pair of the grammar's inline transformer."""
    kind, children = parsed
    keyword = children[0]
    flags: list[Flag] = []
    words: list = []
    rest_token = None
    child_tree = None
    for item in children[1:]:
        if isinstance(item, tuple):
            if item[0] == "rest":
                rest_token = item[1][0]
            else:
                child_tree = item
        elif item.type == "FLAG":
            start = item.column - 1
            flags.append(Flag(unquote_flag(str(item)), ctx.span(line, start, start + len(item))))
        elif item.type == "WORD":
            words.append(item)
    key_start = keyword.column - 1
    node_span = ctx.span(line, key_start, len(line.text))
    first_arg = words[0] if words else (rest_token if rest_token is not None else None)
    args_span = None
    if child_tree is not None:
        first_arg = child_tree[1][0]
    if first_arg is not None:
        args_span = ctx.span(line, first_arg.column - 1, len(line.text))
    rest = str(rest_token).strip(GO_SPACE) if rest_token is not None else ""
    child = None
    try:
        if kind == "onbuild":
            args: tuple[str, ...] = ()
            json_form = False
            if child_tree is not None:
                child = _build_node(child_tree, line, ctx)
        else:
            args, json_form = _arguments(kind, words, rest, ctx.escape)
    except ValueError as error:
        raise ctx.error(str(error), args_span or node_span,
                        hint=_arguments_hint(kind, str(error))) from error
    return Node(keyword=str(keyword), flags=tuple(flags), args=args, json_form=json_form,
                child=child, heredocs=(), span=node_span, args_span=args_span,
                source=line.text[key_start:],
                empty_continuation_lines=line.empty_continuation_lines,
                word_spans=tuple(ctx.span(line, w.column - 1, w.column - 1 + len(w)) for w in words))


def _arguments_hint(kind: str, message: str) -> str | None:
    if message == NOT_STRING_ARRAY:
        return 'write every element as a JSON string, e.g. ["echo", "hello"]'
    if kind in ("env", "label"):
        return f"write {kind.upper()} key=value (quote values that contain spaces)"
    return None


def _takes_heredocs(node: Node) -> bool:
    if node.name == "onbuild" and node.child is not None:
        node = node.child
    return node.name in _HEREDOC_KEYWORDS and not node.json_form


def _heredoc_finder(path: str):
    def find(line: LogicalLine) -> list[tuple[str, bool]]:
        if "<<" not in line.text:
            return []
        words = line.text.split(None, 2)
        keyword = words[0].lower()
        if keyword == "onbuild" and len(words) > 1:
            keyword = words[1].lower() if not words[1].startswith("--") else "?"
        if keyword not in _HEREDOC_KEYWORDS and keyword != "?":
            return []
        if keyword == "?" or line.text.rstrip(GO_SPACE).endswith("]"):
            # Possibly the exec (JSON) form, which takes no heredocs: ask the grammar.
            node = _parse_single(line, path)
            if node is None or not _takes_heredocs(node):
                return []
        # Otherwise a shell-form RUN/COPY/ADD: a JSON array would have to end the line.
        return [(opener.name, opener.chomp) for opener in
                _openers(line.text, Span(path, line.start_line, 1, line.start_line, 1), path)]
    return find


def _openers(text: str, span: Span, path: str) -> list[heredocs.HeredocOpener]:
    try:
        return heredocs.openers_in_line(text)
    except PalletError as error:
        raise PalletError(error.message, hint=error.hint, span=span) from error


def _parse_single(line: LogicalLine, path: str) -> Node | None:
    try:
        parsed = grammar().parse(line.text + "\n")
    except _syntax_error():
        return None
    ctx = _Context(path, "\\", ())
    try:
        return _build_node(parsed[0], line, ctx)
    except PalletError:
        return None  # reported with full context by the document pass


def _attach_heredocs(node: Node, line: LogicalLine, ctx: _Context) -> Node:
    if not line.heredoc_bodies:
        return node
    openers = _openers(line.text, node.span, ctx.path)
    attached = []
    for opener, body in zip(openers, line.heredoc_bodies):
        first = min(body.start_line, body.end_line)
        span = Span(ctx.path, first, 1, body.end_line,
                    max(1, len(ctx.source_lines[body.end_line - 1])))
        attached.append(Heredoc(name=opener.name, body=body.body, chomp=opener.chomp,
                                expand=opener.expand, fd=opener.fd, word=opener.word, span=span))
    end = Span(ctx.path, node.span.line, node.span.column, line.end_line,
               max(1, len(ctx.source_lines[line.end_line - 1])))
    if node.child is not None:
        child = _replace(node.child, heredocs=tuple(attached))
        return _replace(node, child=child, heredocs=tuple(attached), span=end)
    return _replace(node, heredocs=tuple(attached), span=end)


def _replace(node: Node, **changes) -> Node:
    from dataclasses import replace

    return replace(node, **changes)


def parse_syntax(data: bytes | str, path: str = "Dockerfile") -> SyntaxTree:
    """Parse a build file to the line-level syntax tree (BuildKit's parser.Parse)."""
    scanned: ScannedFile = scan(data, path, _heredoc_finder(path))
    ctx = _Context(path, scanned.escape, scanned.source_lines)
    document = "\n".join(line.text for line in scanned.lines) + "\n"
    try:
        parsed = grammar().parse(document)
    except _syntax_error() as error:
        line = scanned.lines[min(error.line, len(scanned.lines)) - 1]
        offset = max(0, error.column - 1)
        raise ctx.error("cannot parse this instruction", ctx.span(line, offset, offset + 1)) from error
    nodes = []
    for instruction, line in zip(parsed, scanned.lines):
        node = _build_node(instruction, line, ctx)
        nodes.append(_attach_heredocs(node, line, ctx))
    return SyntaxTree(path=path, escape=scanned.escape, directives=scanned.directives,
                      nodes=tuple(nodes), source_lines=scanned.source_lines)
