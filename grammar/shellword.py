"""BuildKit's shell-word scanner (shell.Lex's shellWord), the engine of substitution.py: one
left-to-right scan doing quote removal, escapes, `$` expansion and word splitting.

    ShellLexer(text, env, *, escape, skip_quotes, keep_unset, raw_quotes).run()
        -> (text, words); .used() the names looked up; .unmatched those not set
    LexError(reason, hint)     BuildKit's message for a word it cannot expand
    MAX_NESTING                how deep `${...}` may nest
"""

from __future__ import annotations

from collections.abc import Mapping

from pallet.base.errors import PalletError

from . import shellpattern

# `${...}` inside `${...}`: BuildKit recurses on Go's growable stack; Python's is bounded, so a
# build file may nest this deep (real files nest two or three) and deeper is a clear error.
MAX_NESTING = 100

_EOF = ""  # what ShellLexer.peek()/next() return at the end of the input
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_SUPPORTED_HINT = ("supported forms: $v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?msg} ${v?msg} "
                   "${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r}; escape a literal $ as \\$")


class LexError(Exception):
    """A BuildKit message; substitution.py wraps it into SubstitutionError with the word."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class _Words:
    """The word splitter that runs alongside expansion (BuildKit's wordsStruct)."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch):
            # Note: an empty quoted word ("") sets in_word without text; a following space
            # then neither ends it nor emits it, exactly as BuildKit does.
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_split(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def finish(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class ShellLexer:
    """A port of BuildKit's shellWord: one scanner, recursive descent on `${...}`."""

    def __init__(self, text: str, env: Mapping[str, str], *, escape: str, skip_quotes: bool,
                 keep_unset: bool, raw_quotes: bool) -> None:
        if len(escape) != 1:
            raise PalletError(f"invalid escape character {escape!r}",
                              hint="the escape directive accepts only \\ or `")
        self.source = text
        # Go's text/scanner silently drops a byte-order mark at the start of its input.
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.skip_quotes = skip_quotes
        self.keep_unset = keep_unset
        self.raw_quotes = raw_quotes
        self.raw_escapes = False
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        self.depth = 0

    def used(self) -> frozenset[str]:
        return frozenset(self.matched | self.unmatched)

    def run(self) -> tuple[str, list[str]]:
        """(the text, its words); LexError with BuildKit's message."""
        return self.process_stop_on(_EOF, raw_escapes=False)

    # -- scanner ---------------------------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    # -- grammar ---------------------------------------------------------------------------
    def process_stop_on(self, stop: str, *, raw_escapes: bool) -> tuple[str, list[str]]:
        """Read until `stop` (consumed) or the end; return the text and its words."""
        saved_raw, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._process_stop_on(stop)
        finally:
            self.raw_escapes = saved_raw

    def _process_stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while (ch := self.peek()) != _EOF:
            if stop and ch == stop:
                self.next()
                return "".join(result), words.finish()
            if ch == "$":
                value = self.process_dollar()
                result.append(value)
                words.add_split(value)
                continue
            if not self.skip_quotes and ch in ("'", '"'):
                value = self.process_single_quote() if ch == "'" else self.process_double_quote()
                result.append(value)
                words.add_raw(value)
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()  # the escape character escapes anything, except the end
                if ch == _EOF:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.finish()

    def process_single_quote(self) -> str:
        # Everything up to the next ' is literal; a single quote cannot be escaped inside.
        opening = self.next()
        result = [opening] if self.raw_quotes else []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise LexError("unexpected end of statement while looking for matching "
                                "single-quote", hint="close the quote, or escape it as \\'")
            if ch == "'":
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            result.append(ch)

    def process_double_quote(self) -> str:
        # Literal except `$`; the escape character escapes only `"`, `$` and itself
        # (and vanishes at the very end); before anything else it stays.
        opening = self.next()
        result = [opening] if self.raw_quotes else []
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise LexError("unexpected end of statement while looking for matching "
                                "double-quote", hint='close the quote, or escape it as \\"')
            if ch == '"':
                self.next()
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            if ch == "$":
                result.append(self.process_dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    result.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            result.append(ch)

    def process_dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self.process_name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.keep_unset:
                return "$" + name
            return value

        self.next()  # the {
        if self.depth >= MAX_NESTING:
            raise LexError(f"${{...}} nested more than {MAX_NESTING} levels deep",
                            hint="pallet expands at most this many nested ${...}; "
                                 "set intermediate values with ARG or ENV instead")
        self.depth += 1
        try:
            return self._process_braces()
        finally:
            self.depth -= 1

    def _process_braces(self) -> str:
        ch = self.peek()
        if ch == _EOF:
            raise LexError("syntax error: missing '}'")
        if ch in ("{", "}", ":"):
            raise LexError("syntax error: bad substitution", hint=_SUPPORTED_HINT)
        name = self.process_name()
        ch = self.next()
        modifier = ch or "\ufffd"  # Go prints the end-of-input rune as U+FFFD
        null_is_unset = False

        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.keep_unset:
                return "${" + name + "}"
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch or "\ufffd"
        elif ch == "/":
            return self.process_replace(name)
        elif ch not in ("+", "-", "?", "#", "%"):
            raise LexError(f"unsupported modifier ({modifier}) in substitution",
                            hint=_SUPPORTED_HINT)

        word = self.process_modifier_word(raw_escapes=ch in ("#", "%"), closing="}")
        value, found = self.lookup(name)
        if self.keep_unset and not found:
            return "${" + name + modifier + word + "}"
        empty_or_unset = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty_or_unset else value
        if ch == "+":
            return "" if empty_or_unset else word
        if ch == "?":
            if not found:
                raise LexError(f"{name}: {word or 'is not allowed to be unset'}",
                                hint=f"set {name} (ARG/ENV or --build-arg)")
            if null_is_unset and value == "":
                raise LexError(f"{name}: {word or 'is not allowed to be empty'}",
                                hint=f"give {name} a non-empty value")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)  # ## and %% take the longest match
            pattern = word[1:] if greedy else word
            trim = shellpattern.trim_suffix if ch == "%" else shellpattern.trim_prefix
            return _pattern_call(trim, pattern, value, greedy=greedy)
        raise LexError(f"unsupported modifier ({modifier}) in substitution",
                        hint=_SUPPORTED_HINT)

    def process_modifier_word(self, *, raw_escapes: bool, closing: str) -> str:
        try:
            word, _ = self.process_stop_on(closing, raw_escapes=raw_escapes)
        except LexError:
            if self.peek() == _EOF:
                raise LexError(f"syntax error: missing '{closing}'") from None
            raise
        return word

    def process_replace(self, name: str) -> str:
        """`${name/p/r}` or `${name//p/r}`; the `/` after the name is already read."""
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.process_stop_on("/", raw_escapes=True)
        except LexError:
            if self.peek() == _EOF:
                raise LexError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self.process_modifier_word(raw_escapes=True, closing="}")
        value, found = self.lookup(name)
        if self.keep_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        replace = shellpattern.replace_all if replace_all else shellpattern.replace_first
        return _pattern_call(replace, pattern, value, replacement)

    def process_name(self) -> str:
        """A name: letters/digits/underscore; or all leading digits; or one special char."""
        start = self.pos
        while (ch := self.peek()) != _EOF:
            if self.pos == start and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    self.next()
                return self.text[start:self.pos]
            if self.pos == start and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            self.next()
        return self.text[start:self.pos]

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False


def _pattern_call(function, *args, **kwargs) -> str:
    """Run a shellpattern function; its ValueError (a bad pattern, worded by BuildKit's
    message) becomes a LexError like every other failure, so an enclosing `${...}` that
    is missing its `}` still reports that first, as BuildKit does."""
    try:
        return function(*args, **kwargs)
    except ValueError as err:
        raise LexError(str(err), hint="in ${v#p} ${v%p} ${v/p/r} patterns only \\*, \\? "
                        "and \\\\ may be escaped") from err


def _is_space(ch: str) -> bool:
    """Go's unicode.IsSpace; Python's isspace() also counts U+001C..U+001F."""
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"
