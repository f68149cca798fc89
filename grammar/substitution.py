"""Variable substitution with Docker's shell-word rules (BuildKit's `shell.Lex`).

One left-to-right scan does quote removal, escape handling and `$` expansion, and, at the same
time, the word splitting that `ProcessWords` performs: unquoted whitespace (including
whitespace produced by an unquoted variable) separates words, quoted text never does.

Supported: `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?m}`, `${v?m}`,
`${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`, `${v/p/r}`, `${v//p/r}` (see shellpattern.py for the
patterns). Positional and special parameters (`$1`, `$@`, `$#`, ...) are never set, so they
expand to empty. Everything else (`${v:=w}`, `${}`, unterminated quotes or braces) is an error
with BuildKit's message. The escape character is the Dockerfile's (`\\` or a backtick).

Pure functions over a Mapping; results are frozen dataclasses. `used` lists every variable
name a word looked up, set or not: the builder keys a step's cache on exactly those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pallet.base.errors import PalletError

from .goquote import go_quote
from .shellword import MAX_NESTING, LexError, ShellLexer

__all__ = ["Expansion", "WordsExpansion", "SubstitutionError", "expand_word", "expand_words",
           "MAX_NESTING", "nesting_depth"]

@dataclass(frozen=True)
class Expansion:
    """One word after substitution: its value and the variable names it referenced."""

    value: str
    used: frozenset[str]
    unset: frozenset[str]  # the subset of `used` that was not set (for undefined-variable lint)


@dataclass(frozen=True)
class WordsExpansion:
    """A text after substitution and word splitting."""

    words: tuple[str, ...]
    used: frozenset[str]
    unset: frozenset[str]


class SubstitutionError(PalletError):
    """A word that cannot be expanded. `reason` is BuildKit's own short message
    (e.g. "x: is not allowed to be unset"); `message` wraps it as `docker build` prints it."""

    def __init__(self, reason: str, *, word: str, hint: str | None = None) -> None:
        shown = go_quote(word) if len(word) <= 200 else go_quote(word[:200]) + "..."
        super().__init__(f"failed to process {shown}: {reason}", hint=hint)
        self.reason = reason
        self.word = word


def expand_word(word: str, env: Mapping[str, str], *, escape: str = "\\",
                skip_quotes: bool = False, keep_unset: bool = False,
                raw_quotes: bool = False) -> Expansion:
    """Expand one word (BuildKit's ProcessWord): quotes removed, inner whitespace kept.

    skip_quotes: quotes are ordinary characters (BuildKit's SkipProcessQuotes; used for
    heredoc bodies). keep_unset: references to unset variables stay as written
    (SkipUnsetEnv). raw_quotes: quote characters are kept in the output (RawQuotes).
    """
    lexer = ShellLexer(word, env, escape=escape, skip_quotes=skip_quotes,
                   keep_unset=keep_unset, raw_quotes=raw_quotes)
    value, _ = _run(lexer)
    return Expansion(value=value, used=lexer.used(), unset=frozenset(lexer.unmatched))


def expand_words(text: str, env: Mapping[str, str], *, escape: str = "\\",
                 skip_quotes: bool = False, keep_unset: bool = False,
                 raw_quotes: bool = False) -> WordsExpansion:
    """Expand then split into words (BuildKit's ProcessWords). Empty words vanish."""
    lexer = ShellLexer(text, env, escape=escape, skip_quotes=skip_quotes,
                   keep_unset=keep_unset, raw_quotes=raw_quotes)
    _, words = _run(lexer)
    return WordsExpansion(words=tuple(words), used=lexer.used(),
                          unset=frozenset(lexer.unmatched))


def _run(lexer: ShellLexer) -> tuple[str, list[str]]:
    try:
        return lexer.run()
    except LexError as err:
        raise SubstitutionError(err.reason, word=lexer.source, hint=err.hint) from err


def nesting_depth(text: str, escape: str = "\\") -> int:
    """How deep `${...}` nest in a text, read as the expander reads it (quotes inside a
    `${...}` start afresh; single-quoted text and escaped characters are literal), without
    expanding anything: the grammar uses it to refuse a build file before any build."""
    deepest = depth = 0
    outer_quotes: list[str] = []  # the quote state outside each open ${
    quote = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        i += 1
        if quote == "'":
            if ch == "'":
                quote = ""
        elif ch == escape:
            i += 1
        elif ch == '"':
            quote = "" if quote == '"' else '"'
        elif ch == "'" and not quote:
            quote = "'"
        elif ch == "$" and text.startswith("{", i):
            i += 1
            outer_quotes.append(quote)
            quote = ""
            depth += 1
            deepest = max(deepest, depth)
        elif ch == "}" and depth and not quote:
            quote = outer_quotes.pop()
            depth -= 1
    return deepest
