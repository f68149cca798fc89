"""BuildKit's canonical AST dump (the ``result`` files of its parser tests).

One line per instruction: ``(keyword ["--flag" ...] "arg" ...)``, keyword lower-cased, strings
quoted like Go's strconv.Quote, an ONBUILD trigger nested unquoted.
"""

from __future__ import annotations

import unicodedata

_SPECIAL = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f",
            "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_printable(ch: str) -> bool:
    """Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space."""
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


def go_quote(text: str) -> str:
    """Quote like Go's strconv.Quote."""
    out = []
    for ch in text:
        code = ord(ch)
        special = _SPECIAL.get(ch)
        if special is not None:
            out.append(special)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x7F or _go_printable(ch):
            out.append(ch)
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def dump_node(node) -> str:
    """One instruction (a syntax Node) in dump form, without the trailing newline."""
    text = node.keyword.lower()
    if node.flags:
        text += " [" + " ".join(go_quote(flag.text) for flag in node.flags) + "]"
    if node.name == "onbuild":
        if node.child is not None:
            text += " " + dump_node(node.child)
        return "(" + text.strip() + ")"
    for arg in node.args:
        text += " " + go_quote(arg)
    return "(" + text.strip() + ")"


def dump(tree) -> str:
    """The dump of a whole file: a SyntaxTree, or a BuildFile (which keeps its syntax tree).

    Like Go's ``Node.Dump()`` of the root, instructions are joined by newlines and the result
    has no trailing newline (BuildKit's ``result`` files are this plus one ``\\n``).
    """
    nodes = tree.nodes if hasattr(tree, "nodes") else tree.syntax.nodes
    return "\n".join(dump_node(node) for node in nodes)
