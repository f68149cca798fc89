"""text/template/parse/parse.go: items -> trees (the main one named "" and any {{define}}s),
with Go's error texts ("template: :1: function \"foo\" not defined")."""

from __future__ import annotations

from pallet.format.gotemplate import lexer as lx
from pallet.format.gotemplate import nodes as n
from pallet.format.gotemplate.values import TemplateError

_OPERAND_STARTS = {lx.BOOL, lx.CHAR_CONSTANT, lx.DOT, lx.FIELD, lx.IDENTIFIER, lx.NUMBER, "nil",
                   lx.RAW_STRING, lx.STRING, lx.VARIABLE, lx.LEFT_PAREN}


def unquote(token: lx.Item) -> str:
    """strconv.Unquote for the three quoted forms."""
    text = token.value
    if text.startswith("`"):
        return text[1:-1].replace("\r", "")
    body, out, index = text[1:-1], [], 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", "'": "'", '"': '"'}
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = body[index + 1:index + 2]
        if escape in simple and (escape != "'" or text[0] == "'") and (escape != '"' or text[0] == '"'):
            out.append(simple[escape])
            index += 2
            continue
        widths = {"x": 2, "u": 4, "U": 8}
        try:
            if escape in widths:
                digits = body[index + 2:index + 2 + widths[escape]]
                if len(digits) != widths[escape]:
                    raise ValueError
                out.append(chr(int(digits, 16)))
                index += 2 + widths[escape]
            elif escape in "01234567" and escape:
                out.append(chr(int(body[index + 1:index + 4], 8)))
                index += 4
            else:
                raise ValueError
        except ValueError:
            raise TemplateError("template: :1: invalid syntax") from None
    result = "".join(out)
    if text.startswith("'") and len(result) != 1:
        raise TemplateError("template: :1: invalid syntax")
    return result


def _number(token: lx.Item) -> n.NumberNode:
    text = token.value
    if token.type == lx.CHAR_CONSTANT:
        value = ord(unquote(token))
        return n.NumberNode(token.pos, text, True, True, value, float(value))
    if text.endswith("i"):
        raise TemplateError(f"template: :{token.line}: complex numbers are not supported")
    clean = text.replace("_", "")
    int_value, is_int = 0, False
    try:
        body = clean.lstrip("+-")
        sign = -1 if clean.startswith("-") else 1
        if len(body) > 1 and body[0] == "0" and body.isdigit():
            int_value, is_int = sign * int(body, 8), True
        else:
            int_value, is_int = sign * int(body, 0), True
    except ValueError:
        pass
    try:
        float_value = float.fromhex(clean) if clean.lower().lstrip("+-").startswith("0x") \
            else float(clean)
        is_float = True
    except ValueError:
        float_value, is_float = float(int_value), is_int
    if not is_int and is_float and float_value.is_integer() and abs(float_value) < 2 ** 63:
        int_value, is_int = int(float_value), True
    if not is_int and not is_float:
        raise TemplateError(f"template: :{token.line}: illegal number syntax: {lx.go_quote(text)}")
    return n.NumberNode(token.pos, text, is_int, is_float, int_value, float_value)


class Parser:
    def __init__(self, items: list[lx.Item], funcs, name: str = "") -> None:
        self.name = name
        self.items = items
        self.index = 0
        self.funcs = funcs
        self.vars = ["$"]
        self.range_depth = 0
        self.trees: dict[str, n.ListNode] = {}
        self.last_line = 1

    # token access ------------------------------------------------------------------------
    def next(self) -> lx.Item:
        item = self.items[min(self.index, len(self.items) - 1)]
        self.index += 1
        self.last_line = item.line
        return item

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> lx.Item:
        item = self.items[min(self.index, len(self.items) - 1)]
        self.last_line = item.line
        return item

    def next_non_space(self) -> lx.Item:
        item = self.next()
        while item.type == lx.SPACE:
            item = self.next()
        return item

    def peek_non_space(self) -> lx.Item:
        item = self.next_non_space()
        self.backup()
        return item

    def error(self, message: str):
        raise TemplateError(f"template: {self.name}:{self.last_line}: {message}")

    def expect(self, kind: str, context: str) -> lx.Item:
        token = self.next_non_space()
        if token.type != kind:
            self.unexpected(token, context)
        return token

    def unexpected(self, token: lx.Item, context: str):
        if token.type == lx.ERROR:
            self.error(token.value)
        self.error(f"unexpected {token} in {context}")

    # grammar -----------------------------------------------------------------------------
    def parse(self) -> dict[str, n.ListNode]:
        root = n.ListNode(self.peek().pos)
        while self.peek().type != lx.EOF:
            if self.peek().type == lx.LEFT_DELIM:
                self.next()
                if self.next_non_space().type == "define":
                    self.parse_definition()
                    continue
                self.index = self._delim_index
            node = self.text_or_action()
            if isinstance(node, (n.EndNode, n.ElseNode)):
                self.error(f"unexpected {node.string()}")
            root.nodes.append(node)
        self.trees[self.name] = root
        return self.trees

    @property
    def _delim_index(self) -> int:
        # back to the {{ just consumed (skipping the spaces next_non_space ate)
        index = self.index - 1
        while self.items[index].type != lx.LEFT_DELIM:
            index -= 1
        return index

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.type not in (lx.STRING, lx.RAW_STRING):
            self.unexpected(token, context)
        name = unquote(token)
        self.expect(lx.RIGHT_DELIM, context)
        saved = self.vars
        self.vars = ["$"]
        body, end = self.item_list()
        self.vars = saved
        if not isinstance(end, n.EndNode):
            self.error(f"unexpected {end.string()} in {context}")
        self.trees[name] = body

    def text_or_action(self) -> n.Node:
        token = self.next_non_space()
        if token.type == lx.TEXT:
            return n.TextNode(token.pos, token.value)
        if token.type == lx.LEFT_DELIM:
            return self.action()
        self.unexpected(token, "input")

    def action(self) -> n.Node:
        token = self.next_non_space()
        kind = token.type
        if kind == "block":
            return self.block_control()
        if kind in ("break", "continue"):
            end = self.next_non_space()
            if end.type != lx.RIGHT_DELIM:
                self.unexpected(end, "{{" + kind + "}}")
            if self.range_depth == 0:
                self.error("{{" + kind + "}} outside {{range}}")
            return (n.BreakNode if kind == "break" else n.ContinueNode)(token.pos, token.line)
        if kind == "else":
            peek = self.peek_non_space()
            if peek.type in ("if", "with"):
                return n.ElseNode(peek.pos, peek.line)
            end = self.expect(lx.RIGHT_DELIM, "else")
            return n.ElseNode(end.pos, end.line)
        if kind == "end":
            return n.EndNode(self.expect(lx.RIGHT_DELIM, "end").pos)
        if kind in ("if", "range", "with"):
            return self.control(kind)
        if kind == "template":
            return self.template_control()
        self.backup()
        token = self.peek()
        return n.ActionNode(token.pos, token.line, self.pipeline("command", lx.RIGHT_DELIM))

    def control(self, context: str) -> n.BranchNode:
        mark = len(self.vars)
        pipe = self.pipeline(context, lx.RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        body, following = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_list = None
        if isinstance(following, n.ElseNode):
            if context in ("if", "with") and self.peek().type == context:
                self.next()
                else_list = n.ListNode(following.pos, [self.control(context)])
            else:
                else_list, end = self.item_list()
                if not isinstance(end, n.EndNode):
                    self.error(f"expected end; found {end.string()}")
        del self.vars[mark:]
        return n.BranchNode(pipe.pos, context, pipe.line, pipe, body, else_list)

    def block_control(self) -> n.Node:
        context = "block clause"
        token = self.next_non_space()
        if token.type not in (lx.STRING, lx.RAW_STRING):
            self.unexpected(token, context)
        name = unquote(token)
        pipe = self.pipeline(context, lx.RIGHT_DELIM)
        saved = self.vars
        self.vars = ["$"]
        body, end = self.item_list()
        self.vars = saved
        if not isinstance(end, n.EndNode):
            self.error(f"unexpected {end.string()} in {context}")
        self.trees[name] = body
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def template_control(self) -> n.Node:
        context = "template clause"
        token = self.next_non_space()
        if token.type not in (lx.STRING, lx.RAW_STRING):
            self.unexpected(token, context)
        name = unquote(token)
        pipe = None
        if self.next_non_space().type != lx.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, lx.RIGHT_DELIM)
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def item_list(self) -> tuple[n.ListNode, n.Node]:
        body = n.ListNode(self.peek_non_space().pos)
        while self.peek_non_space().type != lx.EOF:
            node = self.text_or_action()
            if isinstance(node, (n.EndNode, n.ElseNode)):
                return body, node
            body.nodes.append(node)
        self.error("unexpected EOF")

    def pipeline(self, context: str, end: str) -> n.PipeNode:
        token = self.peek_non_space()
        pipe = n.PipeNode(token.pos, token.line)
        self._declarations(pipe, context)
        while True:
            token = self.next_non_space()
            if token.type == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.type in _OPERAND_STARTS:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(token, context)

    def _declarations(self, pipe: n.PipeNode, context: str) -> None:
        while True:
            variable = self.peek_non_space()
            if variable.type != lx.VARIABLE:
                return
            start = self.index
            self.next_non_space()
            following = self.peek_non_space()
            if following.type in (lx.ASSIGN, lx.DECLARE):
                pipe.is_assign = following.type == lx.ASSIGN
                self.next_non_space()
                pipe.decl.append(n.VariableNode(variable.pos, [variable.value]))
                self.vars.append(variable.value)
                return
            if following.type == lx.CHAR and following.value == ",":
                self.next_non_space()
                pipe.decl.append(n.VariableNode(variable.pos, [variable.value]))
                self.vars.append(variable.value)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().type in (lx.VARIABLE, lx.RIGHT_DELIM, lx.RIGHT_PAREN):
                        continue
                    self.error("range can only initialize variables")
                self.error(f"too many declarations in {context}")
            self.index = start
            return

    def check_pipeline(self, pipe: n.PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.error(f"missing value for {context}")
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], (n.BoolNode, n.DotNode, n.NilNode, n.NumberNode,
                                        n.StringNode)):
                self.error(f"non executable command in pipeline stage {stage}")

    def command(self) -> n.CommandNode:
        cmd = n.CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.type == lx.SPACE:
                continue
            if token.type in (lx.RIGHT_DELIM, lx.RIGHT_PAREN):
                self.backup()
            elif token.type != lx.PIPE:
                self.unexpected(token, "operand")
            break
        if not cmd.args:
            self.error("empty command")
        return cmd

    def operand(self) -> n.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().type == lx.FIELD:
            chain = n.ChainNode(self.peek().pos, node)
            while self.peek().type == lx.FIELD:
                chain.fields.append(self.next().value[1:])
            if isinstance(node, n.FieldNode):
                node = n.FieldNode(chain.pos, node.ident + chain.fields)
            elif isinstance(node, n.VariableNode):
                node = n.VariableNode(chain.pos, node.ident + chain.fields)
            elif isinstance(node, (n.BoolNode, n.StringNode, n.NumberNode, n.NilNode, n.DotNode)):
                self.error(f"unexpected . after term {lx.go_quote(node.string())}")
            else:
                node = chain
        self.peek()
        return node

    def term(self) -> n.Node | None:
        token = self.next_non_space()
        kind = token.type
        if kind == lx.IDENTIFIER:
            if token.value not in self.funcs:
                self.error(f"function {lx.go_quote(token.value)} not defined")
            return n.IdentifierNode(token.pos, token.value)
        if kind == lx.DOT:
            return n.DotNode(token.pos)
        if kind == "nil":
            return n.NilNode(token.pos)
        if kind == lx.VARIABLE:
            if token.value not in self.vars:
                self.error(f"undefined variable {lx.go_quote(token.value)}")
            return n.VariableNode(token.pos, [token.value])
        if kind == lx.FIELD:
            return n.FieldNode(token.pos, [token.value[1:]])
        if kind == lx.BOOL:
            return n.BoolNode(token.pos, token.value == "true")
        if kind in (lx.CHAR_CONSTANT, lx.NUMBER):
            try:
                return _number(token)
            except TemplateError as error:
                raise TemplateError(error.message.replace("template: :1:", f"template: :{token.line}:", 1)) from None
        if kind == lx.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", lx.RIGHT_PAREN)
        if kind in (lx.STRING, lx.RAW_STRING):
            return n.StringNode(token.pos, token.value, unquote(token))
        self.backup()
        return None


def parse_trees(text: str, funcs, name: str = "") -> dict[str, n.ListNode]:
    return Parser(lx.lex(text), funcs, name).parse()
