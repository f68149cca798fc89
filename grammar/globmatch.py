"""Go's `path/filepath.Match` and `filepath.Clean` (Unix flavour), ported by hand.

`.dockerignore` and `COPY --exclude` patterns are validated by Go's filepath.Match, and paths
and patterns are normalised with filepath.Clean. Python has no equivalent: `fnmatch` has no
escapes, lets `*` cross `/`, never reports a malformed pattern (`[` is just a literal there)
and treats `[!x]` as negation where Go uses `[^x]`; `posixpath.normpath` keeps a leading `//`
where Go's Clean makes it `/`. So both are written out here, following the Go sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Union

__all__ = ["BadPattern", "Glob", "clean", "compile", "has_meta", "match"]

_SEPARATOR = "/"


class BadPattern(ValueError):
    """Go's filepath.ErrBadPattern."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


def clean(path: str) -> str:
    """filepath.Clean: the shortest equivalent path, purely lexically."""
    if path == "":
        return "."
    rooted = path.startswith(_SEPARATOR)
    parts: list[str] = []
    for part in path.split(_SEPARATOR):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            # `..` at the root stays at the root
            continue
        parts.append(part)
    joined = _SEPARATOR.join(parts)
    if rooted:
        return _SEPARATOR + joined
    return joined or "."


def has_meta(pattern: str) -> bool:
    """BuildKit's containsWildcards: an unescaped `*`, `?` or `[` (a `\\` skips the next)."""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1
        elif ch in "*?[":
            return True
        i += 1
    return False


@dataclass(frozen=True)
class _Class:
    """A bracket expression: the ranges it matches, or does not when negated."""

    negated: bool
    ranges: tuple[tuple[str, str], ...]

    def has(self, ch: str) -> bool:
        return any(lo <= ch <= hi for lo, hi in self.ranges) != self.negated


# An atom consumes exactly one character: a literal (str of length 1), `?` (None: anything but
# the separator) or a class.
_Atom = Union[str, None, _Class]


@dataclass(frozen=True)
class Glob:
    """A filepath.Match pattern, checked once: star-led chunks of fixed-width atoms."""

    chunks: tuple[tuple[bool, tuple[_Atom, ...]], ...]

    def match(self, name: str) -> bool:
        """Go's Match loop (each chunk committed at its first fit; only the last may slide on
        to use the name up), on indexes: O(len(name) * atoms) however many stars there are."""
        pos, n = 0, len(name)
        last = len(self.chunks) - 1
        for index, (star, atoms) in enumerate(self.chunks):
            if star and not atoms:
                # A trailing * matches the rest of the name unless it holds a separator.
                return _SEPARATOR not in name[pos:]
            end = _match_at(atoms, name, pos)
            if end >= 0 and (end == n or index < last):
                pos = end
                continue
            if not star:
                return False
            start = pos
            pos = -1
            while start < n and name[start] != _SEPARATOR:
                end = _match_at(atoms, name, start + 1)
                start += 1
                if end >= 0 and (end == n or index < last):
                    pos = end
                    break
            if pos < 0:
                return False
        return pos == n


def _match_at(atoms: tuple[_Atom, ...], name: str, pos: int) -> int:
    """Where a chunk matched at `pos` ends, or -1."""
    if len(atoms) > len(name) - pos:
        return -1
    for atom in atoms:
        ch = name[pos]
        if atom is None:
            if ch == _SEPARATOR:
                return -1
        elif isinstance(atom, str):
            if atom != ch:
                return -1
        elif not atom.has(ch):
            return -1
        pos += 1
    return pos


@lru_cache(maxsize=256)
def compile(pattern: str) -> Glob:
    """Check a pattern as Go's Match does (the whole of it, whatever the name) and split it
    into chunks. Raises BadPattern."""
    chunks = []
    i, n = 0, len(pattern)
    while i < n or not chunks:
        star = False
        while i < n and pattern[i] == "*":
            i += 1
            star = True
        atoms: list[_Atom] = []
        while i < n and pattern[i] != "*":
            ch = pattern[i]
            if ch == "[":
                atom, i = _class(pattern, i + 1)
                atoms.append(atom)
                continue
            if ch == "?":
                atoms.append(None)
            else:
                if ch == "\\":
                    i += 1
                    if i == n:
                        raise BadPattern()
                atoms.append(pattern[i])
            i += 1
        chunks.append((star, tuple(atoms)))
        if i >= n:
            break
    return Glob(tuple(chunks))


def _class(pattern: str, i: int) -> tuple[_Class, int]:
    """The class whose `[` is just before `i`: (class, index after its `]`)."""
    negated = i < len(pattern) and pattern[i] == "^"
    if negated:
        i += 1
    ranges = []
    while True:
        if i < len(pattern) and pattern[i] == "]" and ranges:
            return _Class(negated, tuple(ranges)), i + 1
        lo, i = _get_esc(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _get_esc(pattern, i + 1)
        ranges.append((lo, hi))


def match(pattern: str, name: str) -> bool:
    """filepath.Match: does `name` match the shell pattern? Raises BadPattern.

    `*` is any run of non-`/` characters, `?` one non-`/` character, `[...]` a class
    (`[^...]` negated, ranges `a-z`), `\\` escapes the next character. Like Go (since 1.16),
    the whole pattern is checked for syntax errors even once the match has failed.
    """
    return compile(pattern).match(name)


def _get_esc(pattern: str, i: int) -> tuple[str, int]:
    """One (possibly escaped) character of a class; the class must go on after it."""
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        raise BadPattern()
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            raise BadPattern()
    if i + 1 >= n:
        raise BadPattern()
    return pattern[i], i + 1
