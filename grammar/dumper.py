"""BuildKit's canonical AST dump (the ``result`` files of its parser tests).

One line per instruction: ``(keyword ["--flag" ...] "arg" ...)``, keyword lower-cased, strings
quoted like Go's strconv.Quote, an ONBUILD trigger nested unquoted.
"""

from __future__ import annotations

from pallet.grammar.goquote import go_quote  # noqa: F401 (re-exported)


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
