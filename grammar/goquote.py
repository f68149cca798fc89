"""Go's quoting (strconv.Quote, strconv.QuoteRune), which BuildKit's messages, parser dumps and
image history use through ``%q``: pallet prints the same bytes."""

from __future__ import annotations

_SPECIAL = {"\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
            "\t": "\\t", "\v": "\\v"}


def _go_printable(ch: str) -> bool:
    """Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space."""
    if ch == " ":
        return True
    import unicodedata  # only for non-ASCII text

    return unicodedata.category(ch)[0] in "LMNPS"


def _escape(ch: str, quote: str) -> str:
    code = ord(ch)
    if ch == quote:
        return "\\" + ch
    special = _SPECIAL.get(ch)
    if special is not None:
        return special
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x7F or _go_printable(ch):
        return ch
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def go_quote(text: str) -> str:
    """Go's strconv.Quote (``%q`` of a string)."""
    return '"' + "".join(_escape(ch, '"') for ch in text) + '"'


def go_quote_list(values) -> str:
    """Go's ``%q`` of a []string: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(value) for value in values) + "]"


def go_quote_rune(code: int) -> str:
    """Go's strconv.QuoteRune (``%q`` of an integer): 3 -> ``'\\x03'``, 65 -> ``'A'``."""
    if not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return "'" + _escape(chr(code), "'") + "'"
