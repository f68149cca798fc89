"""text/template/exec.go's evaluation: the state of one execution (variables, the node being
run, Go's error texts) and the evaluation of pipelines, commands, fields, function calls and
their arguments. execute.py's walker adds the control structures and the output on top."""

from __future__ import annotations

from pallet.format.gotemplate import nodes as n
from pallet.format.gotemplate.builtins import FuncError
from pallet.format.gotemplate.values import GoMap, GoNil, Struct, TemplateError, is_true, type_name

MISSING = object()  # exec.go's missingVal: "no final argument"


class Evaluator:
    def __init__(self, template, funcs: dict, missingkey: str) -> None:
        self.template = template
        self.funcs = funcs
        self.missingkey = missingkey
        self.name = template.name
        self.out: list[str] = []
        self.vars: list[tuple[str, object]] = []
        self.node: n.Node | None = None
        self.depth = 0

    # errors ------------------------------------------------------------------------------
    def error(self, message: str):
        if self.node is None:
            raise TemplateError(f"template: {self.name}: {message}")
        text = self.template.text
        pos = self.node.pos
        before = text[:pos]
        newline = before.rfind("\n")
        column = pos if newline < 0 else pos - newline - 1
        line = 1 + before.count("\n")
        context = self.node.string()
        raise TemplateError(f'template: {self.template.name}:{line}:{column}: executing "{self.name}" at '
                            f"<{context}>: {message}")

    # variables ---------------------------------------------------------------------------
    def var_value(self, name: str):
        for var_name, value in reversed(self.vars):
            if var_name == name:
                return value
        self.error(f"undefined variable: {name}")

    def set_var(self, name: str, value) -> None:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                self.vars[index] = (name, value)
                return
        self.error(f"undefined variable: {name}")

    def set_top_var(self, depth: int, value) -> None:
        name = self.vars[-depth][0]
        self.vars[-depth] = (name, value)

    def eval_pipeline(self, dot, pipe: n.PipeNode | None):
        if pipe is None:
            return None
        self.node = pipe
        value = MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.vars.append((variable.ident[0], value))
        return value

    def not_a_function(self, args: list, final) -> None:
        if len(args) > 1 or final is not MISSING:
            self.error(f"can't give argument to non-function {args[0].string()}")

    def eval_command(self, dot, cmd: n.CommandNode, final):
        first = cmd.args[0]
        if isinstance(first, n.FieldNode):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, n.ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, n.IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, n.PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, n.VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, n.BoolNode):
            return first.value
        if isinstance(first, n.DotNode):
            return dot
        if isinstance(first, n.NilNode):
            self.error("nil is not a command")
        if isinstance(first, n.NumberNode):
            return first.constant()
        if isinstance(first, n.StringNode):
            return first.text
        self.error(f"can't evaluate command {first.string()!r}")

    def eval_variable(self, dot, node: n.VariableNode, args, final):
        self.node = node
        value = self.var_value(node.ident[0])
        if len(node.ident) == 1:
            if args is not None:
                self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, node, node.ident[1:], args, final)

    def eval_chain(self, dot, chain: n.ChainNode, args, final):
        if isinstance(chain.node, n.NilNode):
            self.error(f"indirection through explicit nil in {chain.string()}")
        receiver = self.eval_arg(dot, "any", chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_field_chain(self, dot, receiver, node, idents, args, final):
        for name in idents[:-1]:
            receiver = self.eval_field(dot, name, node, None, MISSING, receiver)
        return self.eval_field(dot, idents[-1], node, args, final, receiver)

    def eval_field(self, dot, name: str, node, args, final, receiver):
        has_args = (args is not None and len(args) > 1) or final is not MISSING
        if isinstance(receiver, Struct):
            if name in receiver.fields:
                method = receiver.fields[name]
                if callable(method):
                    count = method.__code__.co_argcount
                    return self.eval_call(dot, method, False, node, name, args,
                                          final, (("string",) * count, None))
                if has_args:
                    got = (len(args) - 1 if args else 0) + (final is not MISSING)
                    self.error(f"wrong number of args for {name}: want 0 got {got}")
                return method
            self.error(f"can't evaluate field {name} in type {receiver.type_name}")
        if isinstance(receiver, dict):
            methods = getattr(type(receiver), "methods", None) or {}
            if name in methods:
                return self.eval_call(dot, methods[name], False, node, name, args, final,
                                      (("string",) * methods[name].__code__.co_argcount, None))
            if has_args:
                self.error(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.missingkey == "error":
                self.error(f'map has no entry for key "{name}"')
            if self.missingkey == "struct" and not isinstance(receiver, GoMap):
                self.error(f"can't evaluate field {name}")
            return None
        if receiver is None:
            if self.missingkey == "error":
                self.error(f'nil data; no entry for key "{name}"')
            return None
        if isinstance(receiver, GoNil):
            if receiver.kind == "map":
                return None
            if receiver.kind == "ptr":
                self.error(f"nil pointer evaluating interface {{}}.{name}")
        static = "interface {}" if self.missingkey == "error" else type_name(receiver)
        self.error(f"can't evaluate field {name} in type {static}")

    def eval_function(self, dot, node: n.IdentifierNode, cmd, args, final):
        self.node = node
        spec = self.funcs.get(node.name)
        if spec is None:
            self.error(f'"{node.name}" is not a defined function')
        function, fixed, variadic = spec
        return self.eval_call(dot, function, True, cmd, node.name, args, final, (fixed, variadic))

    def eval_call(self, dot, function, builtin: bool, node, name: str, args, final, signature):
        fixed, variadic = signature
        args = list(args[1:]) if args else []
        count = len(args) + (final is not MISSING)
        if variadic is not None:
            if count < len(fixed):
                self.error(f"wrong number of args for {name}: want at least {len(fixed)} got "
                           f"{len(args)}")
        elif count != len(fixed):
            self.error(f"wrong number of args for {name}: want {len(fixed)} got {count}")
        if builtin and name in ("and", "or"):
            value = None
            for arg in args:
                value = self.eval_arg(dot, "any", arg)
                if is_true(value)[0] == (name == "or"):
                    return value
            if final is not MISSING:
                value = final
            return value
        argv = []
        for index, arg in enumerate(args):
            kind = fixed[index] if index < len(fixed) else variadic
            argv.append(self.eval_arg(dot, kind, arg))
        if final is not MISSING:
            kind = fixed[len(args)] if len(args) < len(fixed) else variadic
            argv.append(self.validate(final, kind))
        try:
            return function(*argv)
        except FuncError as error:
            self.node = node
            self.error(f"error calling {name}: {error}")
        except RecursionError:
            self.node = node
            self.error(f"error calling {name}: too deep")

    def eval_arg(self, dot, kind: str, node: n.Node):
        self.node = node
        if isinstance(node, n.DotNode):
            return self.validate(dot, kind)
        if isinstance(node, n.NilNode):
            if kind in ("any", "[]string"):
                return None if kind == "any" else GoNil("slice")
            self.error(f"cannot assign nil to {kind}")
        if isinstance(node, n.FieldNode):
            return self.validate(self.eval_field_chain(dot, dot, node, node.ident, [node], MISSING), kind)
        if isinstance(node, n.VariableNode):
            return self.validate(self.eval_variable(dot, node, None, MISSING), kind)
        if isinstance(node, n.PipeNode):
            return self.validate(self.eval_pipeline(dot, node), kind)
        if isinstance(node, n.IdentifierNode):
            return self.validate(self.eval_function(dot, node, node, None, MISSING), kind)
        if isinstance(node, n.ChainNode):
            return self.validate(self.eval_chain(dot, node, None, MISSING), kind)
        if kind == "any":
            if isinstance(node, n.BoolNode):
                return node.value
            if isinstance(node, n.NumberNode):
                return node.constant()
            if isinstance(node, n.StringNode):
                return node.text
        if kind == "string":
            if isinstance(node, n.StringNode):
                return node.text
            self.error(f"expected string; found {node.string()}")
        if kind == "int":
            if isinstance(node, n.NumberNode) and node.is_int:
                return node.int_value
            self.error(f"expected integer; found {node.string()}")
        self.error(f"can't handle {node.string()} for arg of type {kind}")

    def validate(self, value, kind: str):
        if kind == "any":
            return value
        if value is None or isinstance(value, GoNil):
            if kind == "[]string":
                return []
            self.error(f"invalid value; expected {kind}")
        if kind == "string" and isinstance(value, str):
            return value
        if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind == "[]string" and isinstance(value, (list, tuple)) and all(
                isinstance(item, str) for item in value):
            return list(value)
        self.error(f"wrong type for value; expected {kind}; got {type_name(value)}")
