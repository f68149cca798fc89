"""`.dockerignore` patterns as moby/patternmatcher compiles them, matched in linear time.

patternmatcher turns a pattern into a Go regular expression (`*` -> `[^/]*`, `**/` ->
`(.*/)?`, a final `**` -> `.*`, `?` -> `[^/]`, `[`, `]` and `\\x` passed through, a few
regexp specials escaped) and Go's regexp never backtracks. Python's `re` does: on such a
regex it takes time exponential in the number of stars (`*a*a*a*a*a*a*a*a*a*a*a*a*b` on a
long name, `**/**/**/**/**/**/**/z` on a deep path ran for minutes).

So the Go regex is built exactly as patternmatcher builds it (`go_regex`), then read back as
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
import warnings
from dataclasses import dataclass

__all__ = ["PathRegex", "go_regex"]

_GO_ESCAPED = set(".+()|{}$")  # patternmatcher's shouldEscape
_DIRS = "(.*/)?"
_MAX_MASKED_RUN = 16
# Go's POSIX classes, as Python class contents (ASCII, as in Go).
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_PERL_CLASSES = set("dDsSwW")  # the same (ASCII) sets in Go and in Python with re.ASCII
_CONTROL_ESCAPES = {"a": "\\a", "f": "\\f", "t": "\\t", "n": "\\n", "r": "\\r", "v": "\\v"}
_ASSERTIONS = {"b": "\\b", "B": "\\B", "A": "\\A", "z": "\\Z"}


def go_regex(pattern: str) -> tuple[str, str | None]:
    """patternmatcher's Pattern.compile: (match type, Go regex for the "regex" type)."""
    out = ["^"]
    kind = "exact"
    i, n, step = 0, len(pattern), 0
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # treat **/ as **
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regex"
                else:
                    out.append(_DIRS)
                    kind = "regex"
                if step == 0:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif ch == "?":
            out.append("[^/]")
            kind = "regex"
        elif ch in _GO_ESCAPED:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
                kind = "regex"
            else:
                out.append("\\")  # filepath.Match already rejected a trailing backslash
        elif ch in "[]":
            out.append(ch)
            kind = "regex"
        else:
            out.append(ch)
        step += 1
    if kind != "regex":
        return kind, None
    return kind, "".join(out) + "$"


@dataclass(frozen=True)
class _Atom:
    text: str  # Python regex for one character, or for a zero-width assertion
    width: int  # 1, or 0 for an assertion


@dataclass(frozen=True)
class _Run:
    regex: re.Pattern[str] | None  # None: the empty run
    search: re.Pattern[str] | None  # (?=regex): finds overlapping places it matches
    # Its atoms one by one, when all consume a character and there are few: then the places
    # it matches are the AND of their shifted masks.
    atoms: tuple[re.Pattern[str], ...] | None
    width: int
    pins: bool  # holds a literal `/`
    slash_free: bool  # nothing else in it can match a `/`


@dataclass(frozen=True)
class _Gap:
    kind: str  # "star" (atom*), "opt" (atom?) or "dirs" ((.*/)?)
    atom: re.Pattern[str] | None  # the repeated (or optional) atom
    crosses_slash: bool  # the atom can match a `/`


@dataclass(frozen=True)
class PathRegex:
    """A Go regex of patternmatcher's shape: runs[0] gaps[0] runs[1] ... runs[-1]."""

    source: str
    runs: tuple[_Run, ...]
    gaps: tuple[_Gap, ...]
    # The whole regex for `re`, when backtracking provably stays linear (see _re_is_linear);
    # `whole_if_one_line`: only for paths without a newline.
    whole: re.Pattern[str] | None
    whole_if_one_line: bool

    @classmethod
    def compile(cls, source: str) -> PathRegex:
        """Read a Go regex built by go_regex. ValueError when Go's regexp would reject it
        (a reversed range [z-a], an unknown class) or uses what Python's re lacks."""
        return _Reader(source).read()

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


def _at(run: _Run, path: str, pos: int) -> bool:
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


def _after_run(run: _Run, reach: int, path: str, masks: _Masks) -> int:
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


class _Reader:
    """Reads go_regex's output: atoms, `atom*`, `atom?`, `(.*/)?`, anchored by ^ and $."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.text = source[1:-1]  # go_regex wraps everything in ^...$
        self.pos = 0
        self.atoms: list[_Atom] = []
        self.runs: list[_Run] = []
        self.gaps: list[_Gap] = []

    def read(self) -> PathRegex:
        text = self.text
        while self.pos < len(text):
            if text.startswith(_DIRS, self.pos):
                self.pos += len(_DIRS)
                if not (self.atoms == [] and self.gaps and self.gaps[-1].kind == "dirs"):
                    self._gap(_Gap("dirs", None, True))
                # else: (.*/)?(.*/)? is (.*/)?; one is cheaper
                continue
            atom = self._atom()
            quantifier = text[self.pos:self.pos + 1]
            if quantifier in ("*", "?"):
                self.pos += 1
                if atom.width == 0:
                    raise ValueError("syntax error in pattern (missing argument to "
                                     "repetition operator)")
                if text[self.pos:self.pos + 1] in ("*", "?", "+"):
                    raise ValueError("syntax error in pattern (invalid nested repetition "
                                     "operator)")
                kind = "star" if quantifier == "*" else "opt"
                self._gap(_Gap(kind, _compile(atom.text), _matches_slash(atom)))
            else:
                self.atoms.append(atom)
        self._close()
        whole = None
        linear = _re_is_linear(self.runs, self.gaps)
        if linear:
            parts = [self.runs[0].regex.pattern if self.runs[0].regex else ""]
            for gap, run in zip(self.gaps, self.runs[1:]):
                parts.append(_gap_text(gap))
                parts.append(run.regex.pattern if run.regex else "")
            whole = _compile("".join(parts) + r"\Z")
        return PathRegex(source=self.source, runs=tuple(self.runs), gaps=tuple(self.gaps),
                         whole=whole, whole_if_one_line=linear == "one line")

    def _gap(self, gap: _Gap) -> None:
        self._close()
        self.gaps.append(gap)

    def _close(self) -> None:
        text = "".join(a.text for a in self.atoms)
        pins = any(a.text == "/" for a in self.atoms)
        slash_free = not any(_matches_slash(a) for a in self.atoms if a.text != "/")
        atoms = None
        if 0 < len(self.atoms) <= _MAX_MASKED_RUN and all(a.width for a in self.atoms):
            atoms = tuple(_compile(a.text) for a in self.atoms)
        self.runs.append(_Run(_compile(text) if text else None,
                              _compile(f"(?={text})") if text else None, atoms,
                              sum(a.width for a in self.atoms), pins, slash_free))
        self.atoms = []

    def _atom(self) -> _Atom:
        text = self.text
        ch = text[self.pos]
        self.pos += 1
        if ch == "[":
            return _Atom(self._class(), 1)
        if ch == "\\":
            escaped = self._escape(in_class=False)
            return _Atom(escaped, 0 if escaped in _ASSERTIONS.values() else 1)
        if ch == "^":
            return _Atom("^", 0)  # an anchor in both syntaxes (mid-pattern it never matches)
        if ch == ".":
            return _Atom(".", 1)  # no newline, as Go's
        if ch in "*?+":
            raise ValueError("syntax error in pattern (missing argument to repetition "
                             "operator)")
        return _Atom(re.escape(ch), 1)

    def _class(self) -> str:
        """A Go character class (after its `[`) as a Python one."""
        text = self.text
        out = ["["]
        if text.startswith("^", self.pos):
            out.append("^")
            self.pos += 1
        first = True  # `]` and `-` are literals as the first character
        while True:
            if self.pos >= len(text):
                raise ValueError("syntax error in pattern (missing closing ])")
            ch = text[self.pos]
            if ch == "]" and not first:
                self.pos += 1
                break
            first = False
            if text.startswith("[:", self.pos):
                close = text.find(":]", self.pos + 2)
                if close >= 0:
                    name = text[self.pos + 2:close]
                    negated = name.startswith("^")
                    if name.lstrip("^") not in _POSIX_CLASSES:
                        raise ValueError(f"syntax error in pattern (invalid character class "
                                         f"range [:{name}:])")
                    if negated:
                        raise ValueError("negated POSIX classes ([:^name:]) are not supported")
                    out.append(_POSIX_CLASSES[name])
                    self.pos = close + 2
                    continue
            lo = self._class_char()
            if text.startswith("-", self.pos) and text[self.pos + 1:self.pos + 2] not in ("]", ""):
                self.pos += 1
                hi = self._class_char()
                if _char_of(hi) < _char_of(lo):
                    raise ValueError("syntax error in pattern (invalid character class range)")
                out.append(f"{lo}-{hi}")
            else:
                out.append(lo)
        out.append("]")
        return "".join(out)

    def _class_char(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "\\":
            return self._escape(in_class=True)
        return _escape_char(ch)

    def _escape(self, *, in_class: bool) -> str:
        """The escape after a `\\`, as Python regex text."""
        text = self.text
        if self.pos >= len(text):
            raise ValueError("syntax error in pattern (trailing backslash)")
        ch = text[self.pos]
        self.pos += 1
        if ch.isascii() and not ch.isalnum():
            return _escape_char(ch)  # escaped punctuation is a literal in both
        if ch in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[ch]
        if ch in _PERL_CLASSES:
            return "\\" + ch
        if ch in _ASSERTIONS and not in_class:
            return _ASSERTIONS[ch]
        if ch in "01234567" and (ch == "0" or self._octal_follows()):
            digits = ch
            while len(digits) < 3 and text[self.pos:self.pos + 1] in tuple("01234567"):
                digits += text[self.pos]
                self.pos += 1
            return _escape_char(chr(int(digits, 8)))
        if ch == "x":
            return _escape_char(chr(self._hex()))
        raise ValueError(f"syntax error in pattern (unsupported escape \\{ch})")

    def _octal_follows(self) -> bool:
        """Go reads \\1-\\7 as octal only when another octal digit follows (else it is a
        backreference, which it rejects)."""
        return self.text[self.pos:self.pos + 1] in tuple("01234567")

    def _hex(self) -> int:
        """Go's `\\xHH` or `\\x{H...}`."""
        text = self.text
        if text.startswith("{", self.pos):
            close = text.find("}", self.pos)
            digits = text[self.pos + 1:close] if close > 0 else ""
            self.pos = close + 1 if close > 0 else len(text)
        else:
            digits = text[self.pos:self.pos + 2]
            self.pos += 2
            if len(digits) != 2:
                digits = ""
        if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits) \
                or int(digits, 16) > 0x10FFFF:
            raise ValueError("syntax error in pattern (invalid escape sequence \\x)")
        return int(digits, 16)


def _re_is_linear(runs: list[_Run], gaps: list[_Gap]) -> bool | str:
    """Can Python's backtracking `re` run this regex in linear time? (Only a speed choice:
    both ways give the same answer.) True; "one line" when only for paths without a newline.

    One repetition: `re` tries at most len(path) + 1 lengths for it, each followed by
    fixed-width work. A leading `(.*/)?` followed only by segment-bound parts (`[^/]*`
    stars each pinned by a later literal `/`, or the last repetition, which the final `$`
    pins; runs in which only literal `/` match a `/`): each of the `(.*/)?`'s choices then
    has one way to go on, over a fixed number of path segments, so every segment is read a
    bounded number of times. That is the common `**/*.ext` shape.
    """
    if len(gaps) <= 1:
        return True
    if gaps[0].kind != "dirs" or not all(run.slash_free for run in runs[1:]):
        return False
    last = len(gaps) - 1
    for index in range(1, len(gaps)):
        gap = gaps[index]
        if gap.kind != "star":
            return False
        if index != last and (gap.crosses_slash or not runs[index + 1].pins):
            return False
    return "one line"  # a newline stops `.`, which would let the last part backtrack


def _matches_slash(atom: _Atom) -> bool:
    return atom.width == 1 and _compile(atom.text).match("/") is not None


def _gap_text(gap: _Gap) -> str:
    """A gap as Python regex text."""
    if gap.kind == "dirs":
        return "(?:.*/)?"
    return gap.atom.pattern + ("?" if gap.kind == "opt" else "*")


def _escape_char(ch: str) -> str:
    return re.escape(ch)


def _char_of(text: str) -> str:
    """The character a class member's Python text stands for (for range checks)."""
    if len(text) == 1:
        return text
    if text.startswith("\\") and len(text) == 2:
        return {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}.get(
            text[1], text[1])
    return text  # a Perl class in a range: Python reports the error


def _compile(text: str) -> re.Pattern[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(text, re.ASCII)
    except re.error as err:
        # Go's regexp rejects these too; Docker reports "syntax error in pattern" when it
        # first matches a path.
        raise ValueError(f"syntax error in pattern ({err.msg})") from None
