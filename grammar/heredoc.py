"""Heredoc openers (``<<EOF``, ``<<-EOF``, ``<<"EOF"``, ``3<<EOF``) found in an instruction line.

BuildKit finds them by splitting the whole joined line into shell words (quotes and escapes
kept, variables left alone, ``<<`` glued to the word after it even across spaces) and matching
each word against ``^(\\d*)<<(-?)([^<]*)$``. The terminator word is then lexed twice, with and
without quote removal: if the counts of quote characters differ, part of the word was quoted
and the body is not expanded (``<<'EOF'``), exactly as in sh. Escaped quotes count the same in
both results, so ``<<eo\\'f`` still expands. This is shell lexing, which the escape directive
does not affect (BuildKit always uses ``\\`` here), so it lives beside the line scanner rather
than in the grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pallet.base.errors import PalletError

_OPENER = re.compile(r"(\d*)<<(-?)([^<]*)\Z", re.S)
_SPACE = " \t\r\n\v\f"


@dataclass(frozen=True)
class HeredocOpener:
    name: str
    chomp: bool
    expand: bool
    fd: int | None
    word: str


class _LexError(ValueError):
    pass


def _words(text: str, *, raw_quotes: bool, raw_escapes: bool) -> list[str]:
    """Split like BuildKit's shell lexer in ProcessWords mode with unset variables kept."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        in_word = True
        if ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise _LexError("unexpected end of statement while looking for matching single-quote")
            word.append(text[i:end + 1] if raw_quotes else text[i + 1:end])
            i = end + 1
        elif ch == '"':
            if raw_quotes:
                word.append('"')
            i += 1
            while True:
                if i >= n:
                    raise _LexError("unexpected end of statement while looking for matching double-quote")
                ch = text[i]
                if ch == '"':
                    if raw_quotes:
                        word.append('"')
                    i += 1
                    break
                if ch == "\\" and i + 1 < n and text[i + 1] in '"$\\':
                    if raw_escapes:
                        word.append("\\")
                    word.append(text[i + 1])
                    i += 2
                    continue
                word.append(ch)
                i += 1
        elif ch == "\\":
            if i + 1 >= n:
                i += 1  # a trailing escape is dropped
                continue
            if raw_escapes:
                word.append("\\")
            word.append(text[i + 1])
            i += 2
        elif ch == "<" and text.startswith("<<", i):
            # "<<  EOF" is one word: BuildKit glues the spaces after << to the next word.
            j = i + 2
            while j < n and text[j] in " \t":
                j += 1
            word.append(text[i:j])
            i = j
        else:
            word.append(ch)
            i += 1
    if in_word:
        words.append("".join(word))
    return words


def parse_opener(word: str) -> HeredocOpener | None:
    """A heredoc opener from one shell word, None if the word is not one."""
    match = _OPENER.match(word)
    if match is None or match.group(3) == "":
        return None
    rest = match.group(3)
    try:
        plain = _words(rest, raw_quotes=False, raw_escapes=False)
        if len(plain) != 1:
            return None
        raw = _words(rest, raw_quotes=True, raw_escapes=False)
    except _LexError as error:
        raise PalletError(f"invalid heredoc {word!r}: {error}",
                          hint="quote the whole delimiter word, e.g. <<'EOF'") from error
    quotes = plain[0].count("'") + plain[0].count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    fd = int(match.group(1)) if match.group(1) else None
    return HeredocOpener(name=plain[0], chomp=match.group(2) == "-",
                         expand=quotes == raw_quotes, fd=fd, word=word)


def openers_in_line(line: str) -> list[HeredocOpener]:
    """All heredoc openers of a joined instruction line, in order."""
    if "<<" not in line:
        return []
    try:
        words = _words(line, raw_quotes=True, raw_escapes=True)
    except _LexError:
        return []  # BuildKit ignores a line its lexer cannot split: no heredocs
    found = []
    for word in words:
        opener = parse_opener(word)
        if opener is not None:
            found.append(opener)
    return found


def chomp(body: str) -> str:
    """Remove leading tabs from every line (the ``<<-`` form)."""
    return re.sub(r"(?m)^\t+", "", body)
