"""Reading patternmatcher's Go regexes (pathpattern.py has why): go_regex builds one from a
`.dockerignore` pattern exactly as moby/patternmatcher does; read_regex reads it back as
fixed-width runs of single-character atoms joined by the repetitions such text can hold
(`atom*`, `atom?`, `(.*/)?`), each run a repetition-free Python regex.

    go_regex(pattern) -> (regex text, error | None)
    read_regex(source) -> (runs, gaps, whole, whole_if_one_line)
        ValueError where Go's regexp would reject the regex (or Python's re lacks it);
        whole: the regex for `re` when backtracking provably stays linear, else None
    Atom, Run, Gap: the parts (frozen)
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

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
class Atom:
    text: str  # Python regex for one character, or for a zero-width assertion
    width: int  # 1, or 0 for an assertion


@dataclass(frozen=True)
class Run:
    regex: re.Pattern[str] | None  # None: the empty run
    search: re.Pattern[str] | None  # (?=regex): finds overlapping places it matches
    # Its atoms one by one, when all consume a character and there are few: then the places
    # it matches are the AND of their shifted masks.
    atoms: tuple[re.Pattern[str], ...] | None
    width: int
    pins: bool  # holds a literal `/`
    slash_free: bool  # nothing else in it can match a `/`


@dataclass(frozen=True)
class Gap:
    kind: str  # "star" (atom*), "opt" (atom?) or "dirs" ((.*/)?)
    atom: re.Pattern[str] | None  # the repeated (or optional) atom
    crosses_slash: bool  # the atom can match a `/`


def read_regex(source: str) -> tuple:
    return _Reader(source).read()


class _Reader:
    """Reads go_regex's output: atoms, `atom*`, `atom?`, `(.*/)?`, anchored by ^ and $."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.text = source[1:-1]  # go_regex wraps everything in ^...$
        self.pos = 0
        self.atoms: list[Atom] = []
        self.runs: list[Run] = []
        self.gaps: list[Gap] = []

    def read(self) -> tuple:
        text = self.text
        while self.pos < len(text):
            if text.startswith(_DIRS, self.pos):
                self.pos += len(_DIRS)
                if not (self.atoms == [] and self.gaps and self.gaps[-1].kind == "dirs"):
                    self._gap(Gap("dirs", None, True))
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
                self._gap(Gap(kind, _compile(atom.text), _matches_slash(atom)))
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
        return tuple(self.runs), tuple(self.gaps), whole, linear == "one line"

    def _gap(self, gap: Gap) -> None:
        self._close()
        self.gaps.append(gap)

    def _close(self) -> None:
        text = "".join(a.text for a in self.atoms)
        pins = any(a.text == "/" for a in self.atoms)
        slash_free = not any(_matches_slash(a) for a in self.atoms if a.text != "/")
        atoms = None
        if 0 < len(self.atoms) <= _MAX_MASKED_RUN and all(a.width for a in self.atoms):
            atoms = tuple(_compile(a.text) for a in self.atoms)
        self.runs.append(Run(_compile(text) if text else None,
                              _compile(f"(?={text})") if text else None, atoms,
                              sum(a.width for a in self.atoms), pins, slash_free))
        self.atoms = []

    def _atom(self) -> Atom:
        text = self.text
        ch = text[self.pos]
        self.pos += 1
        if ch == "[":
            return Atom(self._class(), 1)
        if ch == "\\":
            escaped = self._escape(in_class=False)
            return Atom(escaped, 0 if escaped in _ASSERTIONS.values() else 1)
        if ch == "^":
            return Atom("^", 0)  # an anchor in both syntaxes (mid-pattern it never matches)
        if ch == ".":
            return Atom(".", 1)  # no newline, as Go's
        if ch in "*?+":
            raise ValueError("syntax error in pattern (missing argument to repetition "
                             "operator)")
        return Atom(re.escape(ch), 1)

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


def _re_is_linear(runs: list[Run], gaps: list[Gap]) -> bool | str:
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


def _matches_slash(atom: Atom) -> bool:
    return atom.width == 1 and _compile(atom.text).match("/") is not None


def _gap_text(gap: Gap) -> str:
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
