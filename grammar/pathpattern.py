"""`.dockerignore` patterns as moby/patternmatcher compiles them, matched in linear time.

patternmatcher turns a pattern into a Go regular expression (`*` -> `[^/]*`, `**/` ->
`(.*/)?`, a final `**` -> `.*`, `?` -> `[^/]`, `[`, `]` and `\\x` passed through, a few
regexp specials escaped) and Go's regexp never backtracks. Python's `re` does: on such a
regex it takes time exponential in the number of stars (`*a*a*a*a*a*a*a*a*a*a*a*a*b` on a
long name, `**/**/**/**/**/**/**/z` on a deep path ran for minutes).

So the Go regex is built exactly as patternmatcher builds it (`go_regex`, in goregex.py with
the reader), then read back as
what it is: fixed-width runs of single-character atoms (literals, classes, escapes; zero-width
assertions) joined by the only repetitions that text can hold: one atom followed by `*` or `?`,
and the group `(.*/)?`. Each run compiles to a repetition-free Python regex, which `re` matches
in time proportional to its width. A path is matched by carrying the *set* of reachable
positions, as sorted intervals, from one run to the next (a Thompson-style simulation, as
RE2 and Go do), so a match costs O(len(pattern) * len(path)) whatever the pattern.

Written by hand, not handed to RE2 (the google-re2 binding installs and is linear): called
through its Python wrapper, RE2's per-call overhead made a cached build of a 20,000-file
context 26% slower, and matching through the wrapper needs surrogate-escaped names rewritten;
here the common one-star pattern costs two `re` calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .goregex import Gap, Run, go_regex, read_regex

__all__ = ["PathRegex", "go_regex"]


@dataclass(frozen=True)
class PathRegex:
    """A Go regex of patternmatcher's shape: runs[0] gaps[0] runs[1] ... runs[-1]."""

    source: str
    runs: tuple[Run, ...]
    gaps: tuple[Gap, ...]
    # The whole regex for `re`, when backtracking provably stays linear (see _re_is_linear);
    # `whole_if_one_line`: only for paths without a newline.
    whole: re.Pattern[str] | None
    whole_if_one_line: bool

    @classmethod
    def compile(cls, source: str) -> PathRegex:
        """Read a Go regex built by go_regex. ValueError when Go's regexp would reject it
        (a reversed range [z-a], an unknown class) or uses what Python's re lacks."""
        runs, gaps, whole, one_line = read_regex(source)
        return cls(source=source, runs=runs, gaps=gaps, whole=whole, whole_if_one_line=one_line)

    def fullmatch(self, path: str) -> bool:
        if self.whole is not None and not (self.whole_if_one_line and "\n" in path):
            return self.whole.match(path) is not None
        return self.match_by_positions(path)

    def match_by_positions(self, path: str) -> bool:
        """The linear simulation: the set of positions reachable after each part, as the
        bits of an int, so each repetition is a few big-int operations over the path."""
        n = len(path)
        first = self.runs[0]
        if not self.gaps:
            return first.width == n and _at(first, path, 0)
        if not _at(first, path, 0):
            return False
        masks = _Masks(path)
        reach = 1 << first.width  # bit p: position p (before character p) is reachable
        last = len(self.gaps) - 1
        for index, gap in enumerate(self.gaps):
            if gap.kind == "dirs":
                # (.*/)?: stay, or `.*` (no newline) to just past a `/`.
                dotted = _closure(reach, masks.dot)
                reach |= (dotted & masks.slash) << 1
            else:
                atom = masks.of(gap.atom)
                reach = _closure(reach, atom) if gap.kind == "star" else (
                    reach | (reach & atom) << 1)
            run = self.runs[index + 1]
            if index == last:
                # The path must end with this run, so it can only start at n - width.
                start = n - run.width
                return start >= 0 and bool(reach >> start & 1) and _at(run, path, start)
            reach = _after_run(run, reach, path, masks)
            if not reach:
                return False
        raise AssertionError("unreachable")


def _at(run: Run, path: str, pos: int) -> bool:
    return run.regex is None or run.regex.match(path, pos) is not None


def _closure(reach: int, atom: int) -> int:
    """Positions reachable by `atom*` from `reach` (bit i of atom: character i matches).

    Adding the starts that lie in runs of the atom's bits to those bits clears each run
    from its first start to its end (the carry leaves it); the cleared bits, the starts,
    and one past each of them are what the repetition reaches."""
    starts = reach & atom
    covered = (atom & ~(atom + starts)) | starts
    return reach | covered | covered << 1


class _Masks:
    """Per-path bit masks (bit i for character i), made with C-speed string operations."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.slash = _mask(_NOT_SLASH.sub("0", path).replace("/", "1"))
        chars = (1 << len(path)) - 1
        newline = _mask(_NOT_NEWLINE.sub("0", path).replace("\n", "1")) if "\n" in path else 0
        self.dot = chars & ~newline
        self.not_slash = chars & ~self.slash
        self._cache: dict[str, int] = {}

    def of(self, atom: re.Pattern[str]) -> int:
        if atom.pattern == "[^/]":
            return self.not_slash
        if atom.pattern == ".":
            return self.dot
        mask = self._cache.get(atom.pattern)
        if mask is None:
            if "\x00" in self.path:  # no real path holds a NUL; stay exact anyway
                bits = "".join("1" if atom.match(ch) else "0" for ch in self.path)
            else:
                bits = _NOT_NUL.sub("0", atom.sub("\x00", self.path)).replace("\x00", "1")
            mask = self._cache[atom.pattern] = _mask(bits)
        return mask


_NOT_SLASH = re.compile("[^/]")
_NOT_NEWLINE = re.compile("[^\n]")
_NOT_NUL = re.compile("[^\x00]")


def _mask(bits: str) -> int:
    """A string of 0/1 per character as an int with bit i for character i."""
    return int(bits[::-1], 2) if bits else 0


def _after_run(run: Run, reach: int, path: str, masks: _Masks) -> int:
    """Positions just after the run, for each reachable start where it matches."""
    if run.regex is None:
        return reach
    if run.atoms is not None:
        for offset, atom in enumerate(run.atoms):
            reach &= masks.of(atom) >> offset
        return reach << run.width
    out = 0
    pos = 0
    while True:
        rest = reach >> pos
        if not rest:
            return out
        pos += (rest & -rest).bit_length() - 1  # the next reachable position
        found = run.search.search(path, pos)  # the next place the run matches
        if found is None:
            return out
        start = found.start()
        if reach >> start & 1:
            out |= 1 << (start + run.width)
            pos = start + 1
        else:
            pos = start
