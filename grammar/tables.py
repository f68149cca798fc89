"""The LALR parser for buildfile.lark, built once per grammar version and cached on disk.

Start-up time is a feature (docs/architecture.md): importing lark and loading its table cache cost more
than parsing a 1,000-line file. So the first process that needs the grammar builds it with
lark and renders it with lark's own stand-alone generator (lark.tools.standalone: the LALR
tables plus lark's small runtime, no ``import lark`` needed), compiles that to a code object
and stores it, marshalled, in a PRIVATE cache directory. Later processes load that code object
and run it; only a changed grammar (or another Python) makes a new one.

The cache lives in ``$XDG_CACHE_HOME/pallet`` (default ``~/.cache/pallet``; pallet/codecache.py),
created 0700 and used only when owned by us and not writable by others: loading code from a
directory another user can write to (such as /tmp, lark's own default) would let them run code
as us.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import xxhash

from pallet.base.codecache import cache_dir, read_private, write_private

GRAMMAR = Path(__file__).with_name("buildfile.lark")
OPTIONS = {"parser": "lalr", "lexer": "contextual", "propagate_positions": False,
           "maybe_placeholders": False, "start": "start"}
MODULE_NAME = "pallet.grammar._buildfile_lalr"
OPTIONS_TEXT = repr(sorted(OPTIONS.items())).encode()


@dataclass(frozen=True)
class LoadedGrammar:
    """A ready parser (``parse(text)``) and the exception class its syntax errors raise."""

    parser: object
    unexpected_input: type
    source: str           # "cache" | "built" (for tests and the benchmark)


def _key(grammar_text: bytes) -> str:
    # The code object depends on the grammar and the Python version (marshal format, bytecode).
    # sys.version changes with every interpreter update: conservative, and free to compute
    # (importlib.util and hashlib would cost 3-4 ms of start-up to import).
    return xxhash.xxh3_128_hexdigest(grammar_text + sys.version.encode() + OPTIONS_TEXT)


def _run(code: types.CodeType) -> types.ModuleType:
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = str(GRAMMAR)
    sys.modules[MODULE_NAME] = module
    exec(code, module.__dict__)  # our own generated parser (see the module docstring)
    return module


def _read(path: str) -> types.CodeType | None:
    code = read_private(path)
    return code if isinstance(code, types.CodeType) else None


def _build(grammar_text: bytes) -> types.CodeType:
    from lark import Lark
    from lark.tools.standalone import gen_standalone

    out = io.StringIO()
    gen_standalone(Lark(grammar_text.decode("utf-8"), **OPTIONS), out=out)
    return compile(out.getvalue(), f"<{GRAMMAR.name}: LALR parser>", "exec")


@functools.lru_cache(maxsize=1)
def load(transformer_methods: tuple[str, ...]) -> LoadedGrammar:
    """The parser, with an inline transformer turning each named rule into (rule, children)."""
    grammar_text = GRAMMAR.read_bytes()
    directory = cache_dir()
    path = os.path.join(directory, f"buildfile-{_key(grammar_text)}.lalr") if directory else None
    code = _read(path) if path is not None else None
    source = "cache"
    if code is None:
        code = _build(grammar_text)
        source = "built"
        if path is not None:
            write_private(path, code)
    module = _run(code)

    class Collect(module.Transformer):  # type: ignore[name-defined,misc]
        """Inline LALR callbacks: a rule becomes a (rule name, children) pair, not a Tree,
        which halves the parse time of a large file."""

        def start(self, children: list) -> list:
            return children

    for rule in transformer_methods:
        setattr(Collect, rule, lambda self, children, _rule=rule: (_rule, children))
    return LoadedGrammar(module.Lark_StandAlone(transformer=Collect()), module.UnexpectedInput,
                         source)
