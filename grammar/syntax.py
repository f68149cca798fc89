"""The line-level syntax tree: what BuildKit's parser package produces, before typing.

One ``Node`` per instruction with the keyword as written, the raw ``--flags`` (quotes removed,
as BuildKit extracts them), the argument strings chosen by the per-instruction rule, whether
the arguments came from a JSON array (exec form), the nested trigger for ONBUILD, and the
heredocs that follow the line. ``dump()`` renders exactly this level; the typed AST in ast.py
is built from it and keeps a reference to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pallet.base.errors import Span
from pallet.grammar.lines import Directive


@dataclass(frozen=True)
class Heredoc:
    """A heredoc attached to RUN/COPY/ADD: ``<<EOF`` .. ``EOF``.

    ``body`` is the raw text between the opener line and the terminator (line endings kept,
    tabs not yet removed); ``content`` applies ``<<-`` tab chomping. ``expand`` is False when
    the delimiter was quoted (``<<'EOF'``, ``<<"EOF"``): the builder must then not expand
    variables in the body. ``fd`` is the file descriptor of ``3<<EOF`` forms, else None.
    """

    name: str
    body: str
    chomp: bool
    expand: bool
    fd: int | None
    word: str
    span: Span

    @property
    def content(self) -> str:
        if not self.chomp:
            return self.body
        from pallet.grammar.heredoc import chomp

        return chomp(self.body)


@dataclass(frozen=True)
class Flag:
    """One ``--name=value`` flag as BuildKit extracts it (quotes removed)."""

    text: str
    span: Span

    @property
    def name(self) -> str:
        return self.text[2:].split("=", 1)[0]

    @property
    def value(self) -> str | None:
        parts = self.text[2:].split("=", 1)
        return parts[1] if len(parts) == 2 else None


@dataclass(frozen=True)
class Node:
    """One instruction at the syntax level (BuildKit's parser.Node)."""

    keyword: str                 # as written, e.g. "Run"
    flags: tuple[Flag, ...]
    args: tuple[str, ...]        # the argument nodes of BuildKit's dump
    json_form: bool              # the arguments came from a JSON array
    child: "Node | None"         # ONBUILD's trigger instruction
    heredocs: tuple[Heredoc, ...]
    span: Span                   # keyword .. end of the (joined) line
    args_span: Span | None       # the argument text after the flags
    source: str                  # the joined logical line (BuildKit's "Original")
    empty_continuation_lines: tuple[int, ...] = ()
    word_spans: tuple[Span, ...] = ()   # one per argument for FROM/EXPOSE (whitespace words)

    @property
    def name(self) -> str:
        """The instruction in lower case: "run", "copy", ..."""
        return self.keyword.lower()


@dataclass(frozen=True)
class SyntaxTree:
    path: str
    escape: str
    directives: tuple[Directive, ...]
    nodes: tuple[Node, ...]
    source_lines: tuple[str, ...]

    def source_line(self, line: int) -> str:
        return self.source_lines[line - 1] if 0 < line <= len(self.source_lines) else ""
