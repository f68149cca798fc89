"""Go's `path/filepath.Match` and `filepath.Clean` (Unix flavour), ported by hand.

`.dockerignore` and `COPY --exclude` patterns are validated by Go's filepath.Match, and paths
and patterns are normalised with filepath.Clean. Python has no equivalent: `fnmatch` has no
escapes, lets `*` cross `/`, never reports a malformed pattern (`[` is just a literal there)
and treats `[!x]` as negation where Go uses `[^x]`; `posixpath.normpath` keeps a leading `//`
where Go's Clean makes it `/`. So both are written out here, following the Go sources.
"""

from __future__ import annotations

__all__ = ["BadPattern", "match", "clean"]

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


def match(pattern: str, name: str) -> bool:
    """filepath.Match: does `name` match the shell pattern? Raises BadPattern.

    `*` is any run of non-`/` characters, `?` one non-`/` character, `[...]` a class
    (`[^...]` negated, ranges `a-z`), `\\` escapes the next character. Like Go (since 1.16),
    the whole pattern is checked for syntax errors even once the match has failed.
    """
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            # A trailing * matches the rest of the name unless it holds a separator.
            return _SEPARATOR not in name
        rest, ok = _match_chunk(chunk, name)
        # On the last chunk the name must be used up, or the star may still help.
        if ok and (rest == "" or pattern):
            name = rest
            continue
        if star:
            # Try letting the star eat i+1 characters (never a separator).
            matched_here = False
            for i in range(len(name)):
                if name[i] == _SEPARATOR:
                    break
                rest, ok = _match_chunk(chunk, name[i + 1:])
                if ok:
                    if not pattern and rest:
                        continue
                    name = rest
                    matched_here = True
                    break
            if matched_here:
                continue
        # Fail, but only after checking the rest of the pattern is well-formed.
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return name == ""


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """Split off leading stars and the following chunk (up to the next unbracketed star)."""
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < len(pattern):
                i += 1  # the error for a trailing backslash comes from _match_chunk
        elif ch == "[":
            in_range = True
        elif ch == "]":
            in_range = False
        elif ch == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    """Match a star-free chunk at the start of `s`: (rest of s, ok). Raises BadPattern.

    After a mismatch the loop keeps going over the chunk without reading `s`, purely to
    find syntax errors (Go's `failed` flag).
    """
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        head = chunk[0]
        if head == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if not failed and lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif head == "?":
            if not failed:
                if s[0] == _SEPARATOR:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern()
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return "", False
    return s, True


def _get_esc(chunk: str) -> tuple[str, str]:
    """One (possibly escaped) character of a class; the class must go on after it."""
    if not chunk or chunk[0] in "-]":
        raise BadPattern()
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern()
    ch, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPattern()
    return ch, rest
