"""text/template/parse/node.go: the parse tree, each node able to print itself as Go does
(error texts quote nodes: `executing "" at <.Config.Foo>`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    pos: int

    def string(self) -> str:
        raise NotImplementedError


@dataclass
class TextNode(Node):
    text: str

    def string(self) -> str:
        from pallet.format.gotemplate.lexer import go_quote
        return go_quote(self.text)


@dataclass
class ListNode(Node):
    nodes: list = field(default_factory=list)

    def string(self) -> str:
        return "".join(node.string() for node in self.nodes)


@dataclass
class DotNode(Node):
    def string(self) -> str:
        return "."


@dataclass
class NilNode(Node):
    def string(self) -> str:
        return "nil"


@dataclass
class BoolNode(Node):
    value: bool

    def string(self) -> str:
        return "true" if self.value else "false"


@dataclass
class NumberNode(Node):
    text: str
    is_int: bool
    is_float: bool
    int_value: int = 0
    float_value: float = 0.0

    def string(self) -> str:
        return self.text

    def constant(self):
        """exec.go idealConstant: a float if written as one, else an int."""
        if self.is_float and not self.text.lower().startswith(("0x", "-0x", "+0x")) \
                and not self.text.startswith("'") and any(c in self.text for c in ".eEpP"):
            return self.float_value
        if self.is_int:
            return self.int_value
        return self.float_value


@dataclass
class StringNode(Node):
    quoted: str
    text: str

    def string(self) -> str:
        return self.quoted


@dataclass
class FieldNode(Node):
    ident: list[str]

    def string(self) -> str:
        return "".join("." + name for name in self.ident)


@dataclass
class VariableNode(Node):
    ident: list[str]

    def string(self) -> str:
        return ".".join(self.ident)


@dataclass
class IdentifierNode(Node):
    name: str

    def string(self) -> str:
        return self.name


@dataclass
class ChainNode(Node):
    node: Node
    fields: list[str] = field(default_factory=list)

    def string(self) -> str:
        inner = self.node.string()
        if isinstance(self.node, PipeNode):
            inner = f"({inner})"
        return inner + "".join("." + name for name in self.fields)


@dataclass
class CommandNode(Node):
    args: list = field(default_factory=list)

    def string(self) -> str:
        parts = []
        for arg in self.args:
            parts.append(f"({arg.string()})" if isinstance(arg, PipeNode) else arg.string())
        return " ".join(parts)


@dataclass
class PipeNode(Node):
    line: int
    is_assign: bool = False
    decl: list = field(default_factory=list)
    cmds: list = field(default_factory=list)

    def string(self) -> str:
        text = ""
        if self.decl:
            text = ", ".join(v.string() for v in self.decl) + (" = " if self.is_assign else " := ")
        return text + " | ".join(cmd.string() for cmd in self.cmds)


@dataclass
class ActionNode(Node):
    line: int
    pipe: PipeNode

    def string(self) -> str:
        return "{{" + self.pipe.string() + "}}"


@dataclass
class BranchNode(Node):
    kind: str  # if, range, with
    line: int
    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None

    def string(self) -> str:
        text = "{{" + self.kind + " " + self.pipe.string() + "}}" + self.list.string()
        if self.else_list is not None:
            text += "{{else}}" + self.else_list.string()
        return text + "{{end}}"


@dataclass
class BreakNode(Node):
    line: int

    def string(self) -> str:
        return "{{break}}"


@dataclass
class ContinueNode(Node):
    line: int

    def string(self) -> str:
        return "{{continue}}"


@dataclass
class TemplateNode(Node):
    line: int
    name: str
    pipe: PipeNode | None

    def string(self) -> str:
        from pallet.format.gotemplate.lexer import go_quote
        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + self.pipe.string() + "}}"


@dataclass
class EndNode(Node):
    def string(self) -> str:
        return "{{end}}"


@dataclass
class ElseNode(Node):
    line: int

    def string(self) -> str:
        return "{{else}}"
