"""BuildKit's word rules for ENV, LABEL and ARG arguments (quotes and escapes KEPT).

These words are split the way a shell would, but their quoting is preserved so that variable
expansion (substitution.py, in the builder) can still see it. The escape character comes from
the ``# escape=`` directive, which is why this is a small scanner and not a grammar rule.
"""

from __future__ import annotations

import re

from pallet.grammar.goquote import go_quote
from pallet.grammar.lines import GO_SPACE

_SPLIT_WS_ONCE = re.compile(r"[\t\v\f\r ]+")


def parse_words(rest: str, escape: str) -> list[str]:
    """Split into words on unquoted whitespace, keeping quotes and escape characters."""
    words: list[str] = []
    word: list[str] = []
    blank_ok = False
    quote = ""
    in_word = False
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        if not in_word:
            if ch in GO_SPACE:
                i += 1
                continue
            in_word = True
        if not quote:
            if ch in GO_SPACE:
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok, in_word = [], False, False
                i += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
            elif ch == escape:
                if i + 1 == n:
                    i += 1  # an escape at the very end is dropped
                    continue
                # Unquoted escape: keep it and the next character, even a quote.
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        # inside quotes
        if ch == quote:
            quote = ""
        elif ch == escape and quote != "'":
            if i + 1 == n:
                quote = ""
                i += 1
                continue
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def parse_name_val(rest: str, keyword: str, escape: str) -> list[str]:
    """ENV/LABEL arguments as (key, value, separator) triples, flattened.

    ``KEY value`` (legacy: first word has no "=") keeps the whole rest of the line as the value
    and separator ""; ``k=v k2=v2`` splits each word at its first "=" with separator "=".
    """
    words = parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _SPLIT_WS_ONCE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise ValueError(f"{keyword} must have two arguments")
        return [parts[0], parts[1], ""]
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise ValueError(f"Syntax error - can't find = in {go_quote(word)}. "
                             "Must be of the form: name=value")
        key, value = word.split("=", 1)
        out += [key, value, "="]
    return out

