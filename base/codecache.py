"""A private on-disk cache of compiled code, for start-up time.

Two users:
- grammar/tables.py keeps the generated LALR parser here (see its docstring);
- ``install_dataclass_cache()`` keeps the methods that ``@dataclass`` generates.

Why the second: on Python 3.11, ``@dataclass`` writes the source of each generated method
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, frozen ``__setattr__``/``__delattr__``)
and compiles it with ``exec`` while the module is imported. Compiling is most of the cost:
0.4-0.9 ms per class here, against ~0.07 ms when the code object is reused. ``pallet check``
creates about 40 classes and a fully cached ``pallet build`` 25, so that was 10-30 ms of a
~100 ms command. The source dataclasses generates depends only on the class's fields, so we
key the compiled code by that exact source text: a hit runs the very code a compile would give,
and ``dataclasses`` itself runs unchanged (only its ``exec`` receives a code object instead of
a string). Python 3.13 compiles all of a class's methods in one ``exec``; this cache is for the
3.11 we run on. Misses are written back once, at exit, one file per defining module.

Where: ``$XDG_CACHE_HOME/pallet`` (default ``~/.cache/pallet``), created 0700 and used only when
owned by us and not writable by others, and each file must be ours and 0600-ish: code loaded
from a place another user can write to would let them run code as us. Any unreadable or foreign
cache file only costs speed.

This module imports nothing of ours (like pallet/errors.py), so every stage may use it.
"""

from __future__ import annotations

import atexit
import builtins
import marshal
import os
import sys
import types

def cache_dir() -> str | None:
    """The private cache directory, or None when there is no safe place for it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "pallet")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError:
        return None
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        return None
    return directory


def read_private(path: str) -> object | None:
    """The marshalled value in path if the file is ours and not writable by others, else None."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.geteuid() or info.st_mode & 0o022:
                return None
            return marshal.loads(handle.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None  # absent or unreadable: the caller rebuilds


def write_private(path: str, value: object) -> None:
    """Atomically replace path with marshal(value), mode 0600; a failure only costs speed."""
    from pallet.base.files import atomic_write   # only when a cache is (re)written

    try:
        # concurrent writers each install a whole file
        atomic_write(path, marshal.dumps(value), mode=0o600)
    except (OSError, ValueError):
        pass


class _DataclassMethods:
    """The ``exec`` that dataclasses calls, with compiled code reused by source text.

    One file per defining module (the module's dict is the globals dataclasses passes), so a
    command loads only the code of the modules it imports. A module defines its dataclasses
    when it is imported, so a process that saw a miss for a module knows that module's whole
    set: the file is rewritten with exactly the sources used, and edited classes leave no
    stale entries behind.
    """

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.shards: dict[str, dict[str, types.CodeType]] = {}
        self.used: dict[str, set[str]] = {}
        self.missed: set[str] = set()

    def _path(self, module: str) -> str | None:
        if self.directory is None or not module.replace("_", "a").replace(".", "a").isalnum():
            return None
        return os.path.join(self.directory, f"dataclasses-{sys.implementation.cache_tag}-{module}.marshal")

    def _shard(self, module: str) -> dict[str, types.CodeType]:
        shard = self.shards.get(module)
        if shard is None:
            path = self._path(module)
            stored = read_private(path) if path else None
            shard = self.shards[module] = stored if isinstance(stored, dict) else {}
            self.used[module] = set()
        return shard

    def exec(self, source, globals=None, locals=None, /) -> None:
        if globals is None:  # as exec(str) would: the caller's (dataclasses') namespace
            globals = sys.modules["dataclasses"].__dict__
        if type(source) is str:
            module = str(globals.get("__name__") or "_")
            shard = self._shard(module)
            self.used[module].add(source)
            code = shard.get(source)
            if type(code) is not types.CodeType:
                # dont_inherit: compile exactly as exec(str) in dataclasses.py would (no
                # __future__ flags there); "<string>" is the name exec gives the code.
                code = shard[source] = compile(source, "<string>", "exec", dont_inherit=True)
                if not self.missed and self.directory is not None:
                    atexit.register(self.save)
                self.missed.add(module)
            source = code
        builtins.exec(source, globals, locals)

    def save(self) -> None:
        if os.getpid() != self.pid:
            # a forked child that exits normally (ours leave by os._exit) may have chrooted
            # into a container: the path would then name a file inside the container
            return
        for module in self.missed:
            path = self._path(module)
            if path is not None:
                shard = self.shards[module]
                write_private(path, {source: shard[source] for source in self.used[module]})


def install_dataclass_cache() -> None:
    """Route dataclasses' method compilation through the cache (idempotent)."""
    _import_dataclasses()
    import dataclasses

    if isinstance(getattr(vars(dataclasses).get("exec"), "__self__", None), _DataclassMethods):
        return
    if os.environ.get("PALLET_NO_CODE_CACHE"):  # to measure or rule out the cache
        return
    # A module global named exec shadows the builtin for dataclasses._create_fn only.
    dataclasses.exec = _DataclassMethods(cache_dir()).exec


def _import_dataclasses() -> None:
    """Import dataclasses without importing inspect, until a class needs it.

    On 3.11 dataclasses imports inspect (with ast, dis, tokenize, linecache: ~6 ms of CPU,
    a tenth of `pallet exec`) for one call: ``inspect.signature(cls)``, which makes the
    ``__doc__`` of a dataclass written without a docstring. So dataclasses is given a stand-in
    whose ``signature`` imports the real inspect on its first call and defers to it: a command
    whose dataclasses all have docstrings never loads inspect, and every other one gets the
    very same ``__doc__``. The stand-in is in sys.modules only while dataclasses is imported;
    any other importer gets the real module. tests/base/test_codecache_inspect.py checks that
    dataclasses still uses nothing of inspect but ``signature``.
    """
    if "dataclasses" in sys.modules or "inspect" in sys.modules or sys.version_info[:2] != (3, 11):
        return
    stand_in = types.ModuleType("inspect", "dataclasses' view of inspect (base/codecache.py)")

    def signature(obj, *args, **kwargs):
        import inspect
        return inspect.signature(obj, *args, **kwargs)

    stand_in.signature = signature
    sys.modules["inspect"] = stand_in
    try:
        import dataclasses  # noqa: F401
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]
