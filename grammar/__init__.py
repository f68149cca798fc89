"""Stage 1 of the pipeline: the build-file grammar, typed AST, substitution, .dockerignore.

Public API (imports stay light: lark is imported only when a file is actually parsed):

    parse(text, path="Dockerfile") -> BuildFile     # typed AST, raises PalletError
    parse_syntax(text, path="Dockerfile") -> SyntaxTree   # BuildKit's line-level tree
    dump(tree) -> str                               # BuildKit's canonical dump
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pallet.grammar.ast import BuildFile
    from pallet.grammar.syntax import SyntaxTree

__all__ = ["parse", "parse_syntax", "dump"]


def parse_syntax(text: str | bytes, path: str = "Dockerfile") -> "SyntaxTree":
    """Parse to the line-level syntax tree only (no instruction semantics checked)."""
    from pallet.grammar.parser import parse_syntax as _parse_syntax

    return _parse_syntax(text, path)


def parse(text: str | bytes, path: str = "Dockerfile") -> "BuildFile":
    """Parse a build file into the typed AST; user mistakes raise a located PalletError."""
    from pallet.grammar.instructions import build_file

    return build_file(parse_syntax(text, path))


def dump(tree) -> str:
    """BuildKit's dump of a BuildFile or SyntaxTree (one ``(instr ...)`` per line)."""
    from pallet.grammar.dumper import dump as _dump

    return _dump(tree)
