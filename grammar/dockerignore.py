"""`.dockerignore` (and `COPY --exclude`) matching, as BuildKit does it.

Reading the file follows moby/patternmatcher's ignorefile.ReadAll: lines split on `\\n` (a
trailing `\\r` dropped, a UTF-8 BOM dropped from the first line), a line whose *first*
character is `#` is a comment, surrounding whitespace trimmed, blank lines skipped, `!` marks
an exception, each pattern cleaned like Go's filepath.Clean and one leading `/` removed.

Matching follows patternmatcher: a pattern is Go's filepath.Match syntax plus `**` (any number
of directories, also none); patterns apply in order, so the last matching one wins, and a
pattern that matches a parent directory matches everything under it.

Which paths end up excluded is what BuildKit's context walker (tonistiigi/fsutil) decides:
it walks top-down, carries each directory's per-pattern results down to its children
(MatchesUsingParentResults), and does not descend into an excluded directory unless an
exception pattern could re-include something inside it. `excludes()` replays that walk
along the path's ancestors, so it gives the walker's answer for any single path.

Patterns become Python regular expressions the way patternmatcher builds Go ones; the few
places where Go's regexp syntax differs from Python's are translated in `_compile`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

from pallet.base.errors import PalletError, Span

from . import globmatch

__all__ = ["IgnorePattern", "IgnoreRules"]

_MAX_LINE = 64 * 1024  # bufio.Scanner's token limit: Docker fails on a longer line
_REGEX_ESCAPE = set(".+()|{}$")  # regexp specials with no meaning in filepath.Match
_PATTERN_CHARS = set("*[]?^\\")  # fsutil: an exception with these may match anywhere
# Go's POSIX classes inside brackets, as Python class contents (ASCII, as in Go).
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
# Go regexp escapes (after `\`) that Python spells the same way (with re.ASCII).
_SAME_ESCAPES = set("afnrtvdDsSwWbBA")


@dataclass(frozen=True)
class IgnorePattern:
    text: str  # cleaned, without the leading `!`
    exclusion: bool  # a `!` exception: re-includes what it matches
    kind: str  # "exact", "prefix", "suffix" or "regex" (patternmatcher's match types)
    regex: re.Pattern[str] | None
    line: int  # 1-based line in the ignore file; 0 when not from a file

    def matches(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])  # the pattern minus its trailing **
        if self.kind == "suffix":
            suffix = self.text[2:]  # the pattern minus its leading **
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None


@dataclass(frozen=True)
class IgnoreRules:
    """An ordered list of patterns. Build with `parse` (a .dockerignore text) or
    `from_patterns` (COPY --exclude values); query with `excludes` and `may_include_under`."""

    patterns: tuple[IgnorePattern, ...]
    # Per-directory walk state, filled lazily: {dir: (matched, per-pattern info, pruned)}.
    _dir_state: dict = field(default_factory=dict, init=False, repr=False, compare=False,
                             hash=False)

    @classmethod
    def parse(cls, text: str | bytes, *, source: str = ".dockerignore") -> IgnoreRules:
        """Read a .dockerignore; a bad pattern raises PalletError naming it and its line."""
        if isinstance(text, bytes):
            # surrogateescape keeps undecodable bytes, like os.walk's names do.
            text = text.decode("utf-8", "surrogateescape")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        patterns = []
        for number, line in enumerate(lines, start=1):
            if line.endswith("\r"):
                line = line[:-1]
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            span = Span(source, number, 1, number, max(1, len(line)))
            if len(line) > _MAX_LINE:
                raise PalletError(f"{source} line {number} is longer than 64 KiB",
                                  span=span, hint="Docker cannot read such a line either")
            entry = _normalise_ignore_line(line)
            if entry is None:
                continue
            try:
                pattern = _new_pattern(entry, line=number)
            except ValueError as err:
                raise PalletError(f'invalid pattern "{entry}" in {source} line {number}: {err}',
                                  span=span, source_line=line,
                                  hint=_PATTERN_HINT) from err
            if pattern is not None:
                patterns.append(pattern)
        return cls(patterns=tuple(patterns))

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> IgnoreRules:
        """Rules from a list of patterns used as given (COPY --exclude); no file syntax."""
        compiled = []
        for text in patterns:
            try:
                pattern = _new_pattern(text, line=0)
            except ValueError as err:
                raise PalletError(f'invalid exclude pattern "{text}": {err}',
                                  hint=_PATTERN_HINT) from err
            if pattern is not None:
                compiled.append(pattern)
        return cls(patterns=tuple(compiled))

    def matches_or_parent_matches(self, path: str) -> bool:
        """patternmatcher's MatchesOrParentMatches on the path exactly as given (no
        cleaning, no walk). Docker's classic builder uses this; BuildKit (and `excludes`)
        differ from it only when an exception names a parent of an excluded directory."""
        matched = False
        parent = globmatch.clean(path[:path.rfind("/") + 1])  # Go's filepath.Dir
        dirs = parent.split("/") if parent != "." else []
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.matches(path)
            if not hit and dirs:
                hit = any(pattern.matches("/".join(dirs[:i + 1])) for i in range(len(dirs)))
            if hit:
                matched = not pattern.exclusion
        return matched

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excludes(self, relpath: str) -> bool:
        """Is this path (relative to the context root, `/`-separated) left out of the
        context? The root itself never is."""
        path = _relative(relpath)
        if path == ".":
            return False
        parent, _, _ = path.rpartition("/")
        if parent:
            parent_matched, parent_info, parent_pruned = self._walk_to(parent)
            if parent_pruned:
                return True
        else:
            parent_info = None
        matched, _ = self._match(path, parent_info)
        return matched

    def may_include_under(self, dir_relpath: str) -> bool:
        """False when nothing below this directory can be in the context, so a walker may
        skip it: it is excluded and no exception pattern could re-include anything in it
        (BuildKit's rule: only exceptions that name a path under it, when every exception
        is wildcard-free; any wildcard exception keeps every directory open)."""
        path = _relative(dir_relpath)
        if path == ".":
            return True
        _, _, pruned = self._walk_to(path)
        return not pruned

    # -- the walk ----------------------------------------------------------------------------
    def _walk_to(self, dirpath: str) -> tuple[bool, tuple[bool, ...] | None, bool]:
        """(matched, per-pattern results, pruned) for a directory, reusing its ancestors'."""
        state = self._dir_state.get(dirpath)
        if state is not None:
            return state
        parent, _, _ = dirpath.rpartition("/")
        parent_info = None
        if parent:
            _, parent_info, parent_pruned = self._walk_to(parent)
            if parent_pruned:
                state = (True, parent_info, True)
                self._dir_state[dirpath] = state
                return state
        matched, info = self._match(dirpath, parent_info)
        state = (matched, info, matched and not self._exception_may_reach(dirpath))
        if len(self._dir_state) < 100_000:  # bound the memo on huge trees
            self._dir_state[dirpath] = state
        return state

    def _exception_may_reach(self, dirpath: str) -> bool:
        """fsutil's test for not skipping an excluded directory."""
        exceptions = [p for p in self.patterns if p.exclusion]
        if not exceptions:
            return False
        trimmed = [_without_trailing_glob(p.text) for p in exceptions]
        if any(_PATTERN_CHARS.intersection(t) for t in trimmed):
            return True  # fsutil then walks every excluded directory
        dir_slash = dirpath + "/"
        return any((t + "/").startswith(dir_slash) for t in trimmed)

    def _match(self, path: str, parent_info: tuple[bool, ...] | None
               ) -> tuple[bool, tuple[bool, ...]]:
        """patternmatcher's MatchesUsingParentResults. Without parent results (top-level
        entries) a pattern also matches when it matches one of the path's parents."""
        matched = False
        info = []
        for index, pattern in enumerate(self.patterns):
            hit = parent_info[index] if parent_info is not None else False
            if not hit:
                # An include pattern cannot change an already excluded path, nor an
                # exception a path that is not excluded: skip them (and record no hit).
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                hit = pattern.matches(path)
                if not hit and parent_info is None and "/" in path:
                    dirs = path.split("/")[:-1]
                    hit = any(pattern.matches("/".join(dirs[:i + 1]))
                              for i in range(len(dirs)))
            info.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(info)


_PATTERN_HINT = ("patterns use Go's filepath.Match syntax plus **: * ? [a-z] [^a-z], "
                 "\\ escapes; a [ needs its ]")


def _relative(relpath: str) -> str:
    path = globmatch.clean(relpath)
    while path.startswith("/"):
        path = globmatch.clean(path[1:])
    return path


def _normalise_ignore_line(line: str) -> str | None:
    """ignorefile.ReadAll for one line: None for comments and blank lines."""
    if line.startswith("#"):
        return None
    pattern = _trim(line)
    if not pattern:
        return None
    invert = pattern.startswith("!")
    if invert:
        pattern = _trim(pattern[1:])
    if pattern:
        pattern = globmatch.clean(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]
    return "!" + pattern if invert else pattern


def _new_pattern(text: str, *, line: int) -> IgnorePattern | None:
    """patternmatcher.New for one pattern: None for a blank one; ValueError if bad."""
    text = _trim(text)
    if not text:
        return None
    text = globmatch.clean(text)
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise ValueError('illegal exclusion pattern: "!"')
        text = text[1:]
    globmatch.match(text, ".")  # raises BadPattern for a malformed pattern
    kind, regex = _compile(text)
    return IgnorePattern(text=text, exclusion=exclusion, kind=kind, regex=regex, line=line)


def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """patternmatcher's Pattern.compile: pick the match type, build the regex if needed."""
    out = ["^"]
    kind = "exact"
    in_class = False
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
                    out.append("(?:.*/)?")
                    kind = "regex"
                if step == 0:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif ch == "?":
            out.append("[^/]")
            kind = "regex"
        elif ch in _REGEX_ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append(_go_escape(pattern[i]))
                i += 1
                kind = "regex"
            else:
                out.append("\\\\")  # Go's regex would see `\$`; New rejected this anyway
        elif ch in "[]":
            kind = "regex"
            if ch == "[" and in_class:
                posix = re.match(r"\[:(\^?)([a-z]+):\]", pattern[i - 1:])
                if posix and posix.group(2) in _POSIX_CLASSES:
                    if posix.group(1):
                        raise ValueError("negated POSIX classes ([:^name:]) are not supported")
                    out.append(_POSIX_CLASSES[posix.group(2)])
                    i += posix.end() - 1
                else:
                    out.append("\\[")
            elif ch == "[":
                in_class = True
                out.append("[")
                if pattern.startswith("^", i):
                    out.append("^")
                    i += 1
                if pattern.startswith("]", i):  # a leading ] is a literal in both syntaxes
                    out.append("\\]")
                    i += 1
            else:
                in_class = False
                out.append("]")
        elif in_class and ch in "&~":
            out.append("\\" + ch)  # literal in Go; escaped to keep Python from warning
        else:
            out.append(ch)
        step += 1
    if kind != "regex":
        return kind, None
    out.append(r"\Z")  # Go's `$`; Python's `$` would also match before a final newline
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return kind, re.compile("".join(out), re.ASCII)
    except re.error as err:
        # Go's regexp rejects these too (e.g. a reversed range [z-a]); Docker reports
        # the same "syntax error in pattern" when it first matches a path.
        raise ValueError(f"syntax error in pattern ({err.msg})") from None


def _go_escape(ch: str) -> str:
    """`\\` + ch in a Go regexp, spelled for Python."""
    if ch.isascii() and not ch.isalnum():
        return "\\" + ch  # escaped punctuation is a literal in both
    if ch in _SAME_ESCAPES:
        return "\\" + ch
    if ch == "z":
        return r"\Z"
    if ch == "0":
        return r"\x00"
    raise ValueError(f"syntax error in pattern (unsupported escape \\{ch})")


def _without_trailing_glob(text: str) -> str:
    """fsutil's patternWithoutTrailingGlob."""
    if text.endswith("/**"):
        text = text[:-3]
    if text.endswith("/*"):
        text = text[:-2]
    return text


def _trim(text: str) -> str:
    """Go's strings.TrimSpace (Python's strip() would also remove U+001C..U+001F)."""
    return text.strip(" \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                      "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
