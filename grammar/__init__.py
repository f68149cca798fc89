"""Stage 1 of the pipeline: the build-file grammar, typed AST, substitution, .dockerignore.

Public API (imports stay light: lark is imported only when a file is actually parsed):

    parse(text, path="Dockerfile") -> BuildFile     # typed AST, raises PalletError
    parse_syntax(text, path="Dockerfile") -> SyntaxTree   # BuildKit's line-level tree
    dump(tree) -> str                               # BuildKit's canonical dump
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from pallet.grammar.ast import BuildFile
    from pallet.grammar.syntax import SyntaxTree

__all__ = ["parse", "parse_syntax", "dump"]


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is parsed: parsing allocates many
    small acyclic objects (tokens, spans, nodes), and the collections they trigger cost
    about 8% of a large parse for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_syntax(text: str | bytes, path: str = "Dockerfile") -> "SyntaxTree":
    """Parse to the line-level syntax tree only (no instruction semantics checked)."""
    from pallet.grammar.parser import parse_syntax as _parse_syntax

    with no_gc():
        return _parse_syntax(text, path)


def parse(text: str | bytes, path: str = "Dockerfile") -> "BuildFile":
    """Parse a build file into the typed AST; user mistakes raise a located PalletError."""
    from pallet.grammar.instructions import build_file
    from pallet.grammar.parser import parse_syntax as _parse_syntax

    with no_gc():
        return build_file(_parse_syntax(text, path))


def dump(tree) -> str:
    """BuildKit's dump of a BuildFile or SyntaxTree (one ``(instr ...)`` per line)."""
    from pallet.grammar.dumper import dump as _dump

    return _dump(tree)
