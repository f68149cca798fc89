"""Shell wildcard patterns inside `${v#p}`, `${v%p}`, `${v/p/r}` — BuildKit's semantics.

BuildKit turns the pattern into a Go regular expression (`*` -> `.*` or `.*?`, `?` -> `.`, every
other character literal, no bracket expressions) and then uses Go's regexp search and replace.
Go's regexp is RE2's design, and RE2 itself runs it here (the google-re2 binding, imported
only when a pattern form is used): the same leftmost-first semantics in time linear in the
value. Python's backtracking `re` took time exponential in the number of stars
(`${v##*a*a*a*a*a*a*a*a*a*a*a*a*b}` on a long value ran for hours). A name holding bytes that
are not UTF-8 (surrogate-escaped) is matched as Go matches it: each such byte is one U+FFFD.
Two Go details of replacing are reproduced by hand here:

* Go's `ReplaceAllString` skips an empty match that touches the end of the previous match
  (Python's `re.sub` replaces it since 3.7), and
* Go expands `$0`, `${0}` and `$$` in the replacement text of a replace-all, while a
  single replacement (`${v/p/r}`) is inserted literally.

`fnmatch` is not used: it has bracket expressions, no escapes and no shortest-match mode.
Pure functions; errors are ValueError carrying BuildKit's whole message.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["pattern_regex", "trim_prefix", "trim_suffix", "replace_first", "replace_all"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def _go_text(text: str) -> str:
    """Go sees each byte that is not UTF-8 as one U+FFFD; so does the regex here (same
    length, so positions carry over to the original text)."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _quote(ch: str) -> str:
    """One literal character in RE2 syntax."""
    if ch == "\x00":
        return "\\x00"
    if ch.isascii() and not (ch.isalnum() or ch == "_"):
        return "\\" + ch
    return ch


@lru_cache(maxsize=256)
def pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> Any:
    """Compile a `${}` shell pattern the way BuildKit's convertShellPatternToRegex does.

    Backslash (always backslash, whatever the Dockerfile escape character) escapes `*`, `?`
    and `\\`; before `}` or `/` it is dropped (those had to be escaped to end the `${}`
    part); any other escaped character is an error.
    """
    # Go's text/scanner drops a byte-order mark at the very start of its input.
    if pattern.startswith("\ufeff"):
        pattern = pattern[1:]
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            nxt = pattern[i] if i < n else ""
            if nxt in ("}", "/"):
                continue  # the next character is emitted literally on the next turn
            i += 1
            if nxt not in ("*", "?", "\\"):
                # Go formats the end of input (-1) with %c as the replacement character.
                raise ValueError(f"invalid escape '\\{nxt or chr(0xFFFD)}'")
            out.append(_quote(nxt))
        else:
            out.append(_quote(ch))
    import re2  # only builds that use a pattern form pay for loading RE2

    options = re2.Options()
    options.never_capture = True
    return re2.compile(_go_text("".join(out)), options)


def trim_prefix(pattern: str, value: str, *, greedy: bool) -> str:
    """`${v#p}` (shortest) / `${v##p}` (longest): drop the matching prefix, if any."""
    match = _compile(pattern, greedy=greedy, anchored=True).search(_go_text(value))
    return value[match.end():] if match else value


def trim_suffix(pattern: str, value: str, *, greedy: bool) -> str:
    """`${v%p}` / `${v%%p}`: drop the matching suffix.

    A regex cannot find the shortest *rightmost* match, so, like BuildKit, reverse both the
    value and the pattern (keeping each escape before the character it escapes) and trim a
    prefix instead.
    """
    reversed_value = trim_prefix(_reverse_pattern(pattern), value[::-1], greedy=greedy)
    return reversed_value[::-1]


def _compile(pattern: str, *, greedy: bool, anchored: bool) -> Any:
    """pattern_regex with BuildKit's full message. For `%` forms BuildKit names the
    *reversed* pattern in it, and so do we (the message is part of the contract)."""
    try:
        return pattern_regex(pattern, greedy=greedy, anchored=anchored)
    except ValueError as err:
        raise ValueError(f"invalid pattern ({pattern}) in substitution: {err}") from None


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern but keep escape pairs in order: `a\\*c` -> `c\\*a`."""
    chars = list(pattern)
    last = len(chars) - 1
    out = [""] * len(chars)
    i = 0
    while i <= last:
        ch = chars[i]
        out_idx = last - i
        if ch == "\\" and i != last:
            out[out_idx - 1] = ch
            out[out_idx] = chars[i + 1]
            i += 2
        else:
            out[out_idx] = ch
            i += 1
    return "".join(out)


def replace_first(pattern: str, value: str, replacement: str) -> str:
    """`${v/p/r}`: replace the first (longest-starting-leftmost) match, literally."""
    match = _compile(pattern, greedy=True, anchored=False).search(_go_text(value))
    if match is None:
        return value
    return value[:match.start()] + replacement + value[match.end():]


def replace_all(pattern: str, value: str, replacement: str) -> str:
    """`${v//p/r}`: Go's Regexp.ReplaceAllString, including its empty-match rule.

    RE2's finditer visits the matches Go's loop visits (after a match it searches on from
    its end, after an empty one from one character further), in one linear pass."""
    regex = _compile(pattern, greedy=True, anchored=False)
    out: list[str] = []
    last_end = 0
    for match in regex.finditer(_go_text(value)):
        start, stop = match.span()
        out.append(value[last_end:start])
        # No replacement for an empty match right after the previous match (Go's rule).
        if stop > last_end or start == 0:
            out.append(_expand_template(replacement, value[start:stop]))
        last_end = stop
    out.append(value[last_end:])
    return "".join(out)


def _expand_template(template: str, whole_match: str) -> str:
    """Go's Regexp.Expand for a regex without groups: `$$` is `$`, `$0`/`${0}` the match,
    any other well-formed `$name`/`${name}` is empty, a malformed one stays literal."""
    if "$" not in template:
        return template
    out: list[str] = []
    rest = template
    while True:
        before, dollar, after = rest.partition("$")
        out.append(before)
        if not dollar:
            break
        rest = after
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        name, rest_after = _template_name(rest)
        if name is None:
            out.append("$")
            continue
        rest = rest_after
        if name == "0":
            out.append(whole_match)
    return "".join(out)


def _template_name(text: str) -> tuple[str | None, str]:
    """Go regexp's `extract`: the name after `$` (braced or not) and the text after it."""
    brace = text.startswith("{")
    body = text[1:] if brace else text
    size = 0
    while size < len(body) and _is_name_char(body[size]):
        size += 1
    if size == 0:
        return None, text
    name, rest = body[:size], body[size:]
    if brace:
        if not rest.startswith("}"):
            return None, text
        rest = rest[1:]
    return name, rest


def _is_name_char(ch: str) -> bool:
    """Go's unicode.IsLetter || unicode.IsDigit || '_' (not Python's broader `\\w`)."""
    return ch.isalpha() or ch.isdecimal() or ch == "_"
