"""The `k=v k2="v 2"` pair lists of ENV, LABEL and ARG: split them, then expand them.

Two steps, as in BuildKit:

1. `parse_pairs(text, instruction=...)` splits the instruction's argument text into words the
   way the Dockerfile parser does (whitespace separates, quotes and escapes group but are
   *kept*), then each word at its first `=`. ENV and LABEL also accept the legacy
   `KEY value with spaces` form (first word without `=`: the value is the rest, verbatim).
   ARG allows a bare `name` (value None).
2. `expand_pairs(pairs, env)` runs `expand_word` on every key and value: this is where the
   quotes and escapes go away. All pairs of one instruction see the same `env` (the scope
   *before* the instruction): in `ENV a=2 b=$a`, b gets the old a, as in Docker.

ARG values are not expanded here: each ARG default is expanded against a scope that already
holds the earlier ARGs and the --build-arg overrides, which only the builder knows; it calls
`expand_word` on `Pair.value` itself. ARG keys are never expanded (BuildKit skips them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pallet.base.errors import PalletError

from .goquote import go_quote
from .substitution import expand_word
from .words import parse_words

__all__ = ["Pair", "PairsExpansion", "split_words", "parse_pairs", "expand_pairs"]

# BuildKit's reWhitespace, used to split the legacy `KEY value` form.
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


@dataclass(frozen=True)
class Pair:
    key: str
    value: str | None  # None only for a bare `ARG name`
    legacy: bool = False  # written as `ENV KEY value` (no '=')


@dataclass(frozen=True)
class PairsExpansion:
    pairs: tuple[Pair, ...]
    used: frozenset[str]
    unset: frozenset[str]


def split_words(text: str, *, escape: str = "\\") -> tuple[str, ...]:
    """BuildKit's parseWords: split on unquoted whitespace, keeping quotes and escapes.

    The parser's port (grammar/words.py) is the one implementation; this names it for pair
    splitting. A word that held a quote is kept even when it is empty (`a=""`).
    """
    return tuple(parse_words(text, escape))


def parse_pairs(text: str, *, instruction: str, escape: str = "\\") -> tuple[Pair, ...]:
    """Split the argument text of ENV, LABEL or ARG into raw (unexpanded) pairs.

    Errors use BuildKit's messages: "ENV requires at least one argument", "ENV must have
    two arguments", `Syntax error - can't find = in "x". Must be of the form: name=value`,
    "ENV names can not be blank".
    """
    keyword = instruction.upper()
    if keyword not in ("ENV", "LABEL", "ARG"):
        raise ValueError(f"parse_pairs handles ENV, LABEL and ARG, not {instruction}")
    text = text.strip(" \t\v\f\r\n")
    words = split_words(text, escape=escape)
    if not words:
        raise PalletError(f"{keyword} requires at least one argument",
                          hint=f"write {keyword} name=value")
    if keyword == "ARG":
        pairs = []
        for word in words:
            key, sep, value = word.partition("=")
            pairs.append(Pair(key=key, value=value if sep else None))
        return tuple(pairs)

    if "=" not in words[0]:
        parts = _WHITESPACE.split(text, maxsplit=1)
        if len(parts) < 2:
            raise PalletError(f"{keyword} must have two arguments",
                              hint=f"write {keyword} name=value")
        pairs = [Pair(key=parts[0], value=parts[1], legacy=True)]
    else:
        pairs = []
        for word in words:
            if "=" not in word:
                raise PalletError(f"Syntax error - can't find = in {go_quote(word)}. "
                                  "Must be of the form: name=value",
                                  hint="quote values that contain spaces: name=\"a b\"")
            key, _, value = word.partition("=")
            pairs.append(Pair(key=key, value=value))
    if any(pair.key == "" for pair in pairs):
        raise PalletError(f"{keyword} names can not be blank")
    return tuple(pairs)


def expand_pairs(pairs: Iterable[Pair], env: Mapping[str, str], *,
                 escape: str = "\\") -> PairsExpansion:
    """Expand every key and value of an ENV/LABEL instruction against one scope.

    Raises SubstitutionError (a PalletError) for a bad word; a bare ARG pair (value None)
    keeps None.
    """
    out: list[Pair] = []
    used: set[str] = set()
    unset: set[str] = set()
    for pair in pairs:
        key = expand_word(pair.key, env, escape=escape)
        used |= key.used
        unset |= key.unset
        value = None
        if pair.value is not None:
            expanded = expand_word(pair.value, env, escape=escape)
            used |= expanded.used
            unset |= expanded.unset
            value = expanded.value
        out.append(Pair(key=key.value, value=value, legacy=pair.legacy))
    return PairsExpansion(pairs=tuple(out), used=frozenset(used), unset=frozenset(unset))
