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

Patterns become the Go regular expressions patternmatcher builds, matched without
backtracking by pathpattern (linear in the path for any pattern).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pallet.base.errors import PalletError, Span

from . import globmatch
from .pathpattern import PathRegex, go_regex

__all__ = ["IgnorePattern", "IgnoreRules"]

_MAX_LINE = 64 * 1024  # bufio.Scanner's token limit: Docker fails on a longer line
_PATTERN_CHARS = set("*[]?^\\")  # fsutil: an exception with these may match anywhere


@dataclass(frozen=True)
class IgnorePattern:
    text: str  # cleaned, without the leading `!`
    exclusion: bool  # a `!` exception: re-includes what it matches
    kind: str  # "exact", "prefix", "suffix" or "regex" (patternmatcher's match types)
    regex: PathRegex | None  # for the "regex" type
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
        return self.regex.fullmatch(path)


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
        """(matched, per-pattern results, pruned) for a directory, reusing its ancestors'.

        A loop, not recursion: a context may nest directories thousands deep."""
        pending = []  # this directory and its ancestors without a memo, deepest first
        state = None
        path = dirpath
        while path:
            state = self._dir_state.get(path)
            if state is not None:
                break
            pending.append(path)
            path = path.rpartition("/")[0]
        for path in reversed(pending):
            parent_info = state[1] if state is not None else None
            if state is not None and state[2]:
                state = (True, parent_info, True)  # below a pruned directory
            else:
                matched, info = self._match(path, parent_info)
                state = (matched, info, matched and not self._exception_may_reach(path))
            if len(self._dir_state) < 100_000:  # bound the memo on huge trees
                self._dir_state[path] = state
        assert state is not None
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
    kind, source = go_regex(text)
    regex = PathRegex.compile(source) if source is not None else None
    return IgnorePattern(text=text, exclusion=exclusion, kind=kind, regex=regex, line=line)


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
