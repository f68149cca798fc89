"""The LALR parser for buildfile.lark, built once per grammar version and cached on disk.

Start-up time is a feature (DESIGN.md): importing lark and loading its table cache cost more
than parsing a 1,000-line file. So the first process that needs the grammar builds it with
lark and renders it with lark's own stand-alone generator (lark.tools.standalone: the LALR
tables plus lark's small runtime, no ``import lark`` needed), compiles that to a code object
and stores it, marshalled, in a PRIVATE cache directory. Later processes load that code object
and run it; only a changed grammar (or another Python) makes a new one.

The cache lives in ``$XDG_CACHE_HOME/pallet`` (default ``~/.cache/pallet``), created 0700 and
used only when owned by us and not writable by others: loading code from a directory another
user can write to (such as /tmp, lark's own default) would let them run code as us.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import marshal
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

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


def cache_dir() -> Path | None:
    """The private cache directory, or None when there is no safe place for it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = Path(base) / "pallet"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except OSError:
        return None
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        return None
    return directory


def _key(grammar_text: bytes) -> str:
    # The code object depends on the grammar and the Python version (marshal format, bytecode).
    return hashlib.sha256(grammar_text + importlib.util.MAGIC_NUMBER + OPTIONS_TEXT).hexdigest()[:32]



def _run(code: types.CodeType) -> types.ModuleType:
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = str(GRAMMAR)
    sys.modules[MODULE_NAME] = module
    exec(code, module.__dict__)  # our own generated parser (see the module docstring)
    return module


def _read(path: Path) -> types.CodeType | None:
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.geteuid() or info.st_mode & 0o022:
                return None
            code = marshal.loads(handle.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None  # absent or unreadable: build it again
    return code if isinstance(code, types.CodeType) else None


def _build(grammar_text: bytes) -> types.CodeType:
    from lark import Lark
    from lark.tools.standalone import gen_standalone

    out = io.StringIO()
    gen_standalone(Lark(grammar_text.decode("utf-8"), **OPTIONS), out=out)
    return compile(out.getvalue(), f"<{GRAMMAR.name}: LALR parser>", "exec")


def _write(path: Path, code: types.CodeType) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(marshal.dumps(code))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # atomic: concurrent builders each install a whole file
    except OSError:
        temporary.unlink(missing_ok=True)  # a read-only cache only costs speed


@functools.lru_cache(maxsize=1)
def load(transformer_methods: tuple[str, ...]) -> LoadedGrammar:
    """The parser, with an inline transformer turning each named rule into (rule, children)."""
    grammar_text = GRAMMAR.read_bytes()
    directory = cache_dir()
    path = directory / f"buildfile-{_key(grammar_text)}.lalr" if directory else None
    code = _read(path) if path is not None else None
    source = "cache"
    if code is None:
        code = _build(grammar_text)
        source = "built"
        if path is not None:
            _write(path, code)
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
