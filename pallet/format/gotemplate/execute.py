"""text/template/exec.go: walking the parse tree over data, with Go's semantics and errors
(`template: :1:9: executing "" at <.Config.Foo>: map has no entry for key "Foo"`)."""

from __future__ import annotations

from pallet.format.gotemplate import nodes as n
from pallet.format.gotemplate.builtins import BUILTINS, DOCKER_FUNCTIONS
from pallet.format.gotemplate.evaluate import Evaluator
from pallet.format.gotemplate.gofmt import format_value
from pallet.format.gotemplate.parser import parse_trees
from pallet.format.gotemplate.values import GoNil, Struct, TemplateError, is_true

MAX_DEPTH = 200


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Template:
    def __init__(self, text: str, trees: dict, funcs: dict, name: str = "") -> None:
        self.name = name
        self.text = text
        self.trees = trees
        self.funcs = funcs

    def execute(self, data, missingkey: str = "default", funcs: dict | None = None) -> str:
        """Run the template over data; TemplateError with Go's text on failure. missingkey:
        "default" (a missing key is no value), "error" (Go's missingkey=error) or "struct"
        (plain dicts are Go structs: a missing field is an error, a GoMap's missing key is
        not). ``funcs`` replaces functions by name (docker's table header does that)."""
        state = _State(self, {**self.funcs, **(funcs or {})}, missingkey)
        state.vars = [("$", data)]
        state.walk(data, self.trees[self.name])
        return "".join(state.out)

    def execute_partial(self, data, funcs: dict | None = None) -> str:
        """What the template writes before its first error (docker prints a table header so)."""
        state = _State(self, {**self.funcs, **(funcs or {})}, "default")
        state.vars = [("$", data)]
        try:
            state.walk(data, self.trees[self.name])
        except TemplateError:
            pass
        return "".join(state.out)


def parse(text: str, funcs: dict | None = None, name: str = "") -> Template:
    functions = {**BUILTINS, **DOCKER_FUNCTIONS, **(funcs or {})}
    return Template(text, parse_trees(text, functions, name), functions, name)


class _State(Evaluator):
    """One execution: the evaluator's state, walked over the tree (exec.go's walk)."""

    # walking -----------------------------------------------------------------------------
    def walk(self, dot, node: n.Node) -> None:
        self.node = node
        if isinstance(node, n.ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, n.ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, n.TextNode):
            self.out.append(node.text)
        elif isinstance(node, n.BranchNode):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, n.BreakNode):
            raise _Break()
        elif isinstance(node, n.ContinueNode):
            raise _Continue()
        elif isinstance(node, n.TemplateNode):
            self.walk_template(dot, node)
        else:
            self.error(f"unknown node: {node.string()}")

    def walk_if_or_with(self, dot, node: n.BranchNode) -> None:
        mark = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        truth, ok = is_true(value)
        if not ok:
            self.error(f"if/with can't use {format_value(value)}")
        if truth:
            self.walk(value if node.kind == "with" else dot, node.list)
        elif node.else_list is not None:
            self.walk(dot, node.else_list)
        del self.vars[mark:]

    def walk_range(self, dot, node: n.BranchNode) -> None:
        self.node = node
        outer = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        mark = len(self.vars)
        decl = node.pipe.decl

        def one(index, element) -> bool:
            if decl:
                if node.pipe.is_assign:
                    self.set_var(decl[0].ident[0], index if len(decl) > 1 else element)
                else:
                    self.set_top_var(1, element)
            if len(decl) > 1:
                if node.pipe.is_assign:
                    self.set_var(decl[1].ident[0], element)
                else:
                    self.set_top_var(2, index)
            try:
                self.walk(element, node.list)
            except _Continue:
                pass
            finally:
                del self.vars[mark:]
            return True

        items = None
        if isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, dict):
            items = sorted(value.items(), key=lambda kv: str(kv[0]))
        elif isinstance(value, int) and not isinstance(value, bool):
            if len(decl) > 1:
                self.error(f"can't use {value} to iterate over more than one variable")
            items = [(i, i) for i in range(value)]
        elif value is None or isinstance(value, GoNil):
            items = []
        else:
            self.error(f"range can't iterate over {format_value(value)}")
        try:
            for index, element in items:
                one(index, element)
        except _Break:
            pass
        if not items and node.else_list is not None:
            self.walk(dot, node.else_list)
        del self.vars[outer:]

    def walk_template(self, dot, node: n.TemplateNode) -> None:
        self.node = node
        tree = self.template.trees.get(node.name)
        if tree is None:
            self.error(f'template "{node.name}" not defined')
        if self.depth >= MAX_DEPTH:
            self.error(f"exceeded maximum template depth ({MAX_DEPTH})")
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else dot
        saved = (self.name, self.vars)
        self.name, self.vars = node.name, [("$", value)]
        self.depth += 1
        try:
            self.walk(value, tree)
        finally:
            self.depth -= 1
            self.name, self.vars = saved

    def print_value(self, node: n.Node, value) -> None:
        self.node = node
        if value is None:
            self.out.append("<no value>")
        elif callable(value) and not isinstance(value, (Struct, GoNil)):
            self.error(f"can't print {node.string()} of type func")
        else:
            self.out.append(format_value(value))

    # evaluation --------------------------------------------------------------------------
