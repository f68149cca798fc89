"""``pallet check``'s analysis: every error the parser finds plus BuildKit-style warnings.

Errors come from the parser itself (collected, so one run reports all of them); warnings are
the build checks Docker prints (rule names as in ``docker build --check``), and honour the
``# check=skip=Rule,...`` / ``# check=error=true`` directive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pallet.base.errors import PalletError, Span, caret_excerpt
from pallet.grammar import ast as A
from pallet.grammar.flags import did_you_mean
from pallet.grammar.instructions import build_file
from pallet.grammar.parser import parse_syntax
from pallet.grammar.syntax import Node, SyntaxTree

BUILTIN_ARGS = {"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT", "TARGETPLATFORM",
                "TARGETOS", "TARGETARCH", "TARGETVARIANT", "TARGETSTAGE", "BUILDKIT_SYNTAX"}
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
_SECRET_DENY = re.compile(r"(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|"
                          r"passwd|secret|token)(?:_|$)")
_SECRET_ALLOW = re.compile(r"(?i)(?:_|^)public(?:_|$)")


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning, located, with an optional hint and rule name."""

    severity: str            # "error" | "warning"
    message: str
    span: Span | None
    hint: str | None = None
    rule: str | None = None
    source_line: str | None = None

    def render(self) -> str:
        where = f"{self.span}: " if self.span else ""
        rule = f" ({self.rule})" if self.rule else ""
        parts = [f"{where}{self.severity}: {self.message}{rule}"]
        if self.span is not None and self.source_line is not None:
            parts.append(caret_excerpt(self.span, self.source_line))
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


@dataclass(frozen=True)
class Report:
    """All diagnostics of one build file."""

    path: str
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


def _from_error(error: PalletError, lines: tuple[str, ...]) -> Diagnostic:
    source = error.source_line
    if source is None and error.span is not None and 0 < error.span.line <= len(lines):
        source = lines[error.span.line - 1]
    return Diagnostic("error", error.message, error.span, error.hint, None, source)


def _check_options(tree: SyntaxTree) -> tuple[set[str], bool]:
    """(rules to skip, whether warnings are errors) from ``# check=skip=A,B;error=true``."""
    skip: set[str] = set()
    as_error = False
    for directive in tree.directives:
        if directive.name != "check":
            continue
        for part in re.split(r"[;\s]+", directive.value):
            key, _, value = part.partition("=")
            if key.strip().lower() == "skip":
                skip |= {rule.strip().lower() for rule in value.split(",") if rule.strip()}
            elif key.strip().lower() == "error":
                as_error = value.strip().lower() == "true"
    return skip, as_error


def _keyword_span(node: Node) -> Span:
    return Span(node.span.file, node.span.line, node.span.column, node.span.line,
                node.span.column + len(node.keyword) - 1)


def _json_hint(node: Node) -> str:
    import shlex

    try:
        words = shlex.split(node.args[0]) if node.args else []
    except ValueError:
        words = []
    if words and not any(ch in node.args[0] for ch in "|&;<>$`(){}*?"):
        import json

        return f"use the exec (JSON) form: {node.keyword.upper()} {json.dumps(words)}"
    return (f'use the exec (JSON) form, e.g. {node.keyword.upper()} ["executable", "arg"], or '
            '["/bin/sh", "-c", "..."] if you need shell features')


def _warnings(tree: SyntaxTree, bf: A.BuildFile | None) -> list[Diagnostic]:
    found: list[Diagnostic] = []

    def warn(rule: str, message: str, span: Span, hint: str | None = None) -> None:
        found.append(Diagnostic("warning", message, span, hint, rule, tree.source_line(span.line)))

    upper = sum(1 for n in tree.nodes if n.keyword.isupper())
    lower = sum(1 for n in tree.nodes if n.keyword.islower())
    majority = "uppercase" if upper >= lower else "lowercase"
    for node in tree.nodes:
        for line in node.empty_continuation_lines[:1]:
            warn("NoEmptyContinuation", "Empty continuation line",
                 Span(node.span.file, line, 1, line, 1),
                 "remove the blank line inside the continued instruction (it will become an error)")
        expected = node.keyword.upper() if majority == "uppercase" else node.keyword.lower()
        if node.keyword != expected:
            warn("ConsistentInstructionCasing", f"Command '{node.keyword}' should match the case "
                 f"of the command majority ({majority})", _keyword_span(node), f"write {expected}")
        if node.name in ("cmd", "entrypoint") and not node.json_form and node.args:
            warn("JSONArgsRecommended", f"JSON arguments recommended for {node.keyword.upper()} "
                 "to prevent unintended behavior related to OS signals", node.span, _json_hint(node))
        if node.name == "maintainer":
            warn("MaintainerDeprecated", "Maintainer instruction is deprecated in favor of using "
                 "label", node.span, 'use LABEL org.opencontainers.image.authors="..."')
        if node.name in ("env", "label") and len(node.args) == 3 and node.args[2] == "":
            warn("LegacyKeyValueFormat", f"\"{node.keyword.upper()} key=value\" should be used "
                 f"instead of legacy \"{node.keyword.upper()} key value\" format", node.span,
                 f"write {node.keyword.upper()} {node.args[0]}={_quoted(node.args[1])}")
        if node.name == "from" and len(node.args) == 3:
            as_word = node.args[1]
            if (node.keyword.isupper() and as_word.islower()) or \
                    (node.keyword.islower() and as_word.isupper()):
                warn("FromAsCasing", "'as' and 'FROM' keywords' casing do not match", node.span,
                     f"write {node.keyword} ... {as_word.upper() if node.keyword.isupper() else as_word.lower()} ...")
            if node.args[2] != node.args[2].lower():
                warn("StageNameCasing", f"Stage name '{node.args[2]}' should be lowercase",
                     node.word_spans[2] if len(node.word_spans) == 3 else node.span,
                     f"write AS {node.args[2].lower()}")
    if bf is not None:
        _stage_warnings(bf, warn)
    return found


def _quoted(value: str) -> str:
    return value if re.fullmatch(r"[^\s\"'\\]*", value) else '"' + value.replace('"', '\\"') + '"'


def _stage_warnings(bf: A.BuildFile, warn) -> None:
    meta = {pair.name for arg in bf.meta_args for pair in arg.pairs}
    for arg in bf.meta_args:
        _secret_check(arg, [p.name for p in arg.pairs], warn)
    for stage in bf.stages:
        head = stage.from_
        for text in (head.image, head.platform or ""):
            for match in _VAR.finditer(text):
                name = match.group(1) or match.group(2)
                if name not in meta and name not in BUILTIN_ARGS:
                    guess = did_you_mean(name, meta)
                    warn("UndefinedArgInFrom", f"FROM argument '{name}' is not declared",
                         head.node.word_spans[0] if text == head.image and head.node.word_spans
                         else head.span, f"did you mean {guess}?" if guess else
                         f"declare it before the first FROM: ARG {name}=<default>")
        seen: dict[str, A.Instruction] = {}
        absolute_workdir = False
        for item in stage.instructions:
            if isinstance(item, (A.Cmd, A.Entrypoint, A.Healthcheck)):
                if item.keyword in seen:
                    warn("MultipleInstructionsDisallowed", f"Multiple {item.keyword} instructions "
                         "should not be used in the same stage because only the last one will "
                         "be used", seen[item.keyword].span,
                         f"remove this {item.keyword} or the one at line {item.span.line}")
                seen[item.keyword] = item
            if isinstance(item, A.Workdir):
                if item.path.startswith("/") or item.path.startswith("$"):
                    absolute_workdir = True
                elif not absolute_workdir:
                    warn("WorkdirRelativePath", f"Relative workdir '{item.path}' can have "
                         "unexpected results if the base image changes", item.span,
                         "set an absolute WORKDIR first")
            if isinstance(item, A.Arg):
                _secret_check(item, [p.name for p in item.pairs], warn)
            if isinstance(item, A.Env):
                _secret_check(item, [p.key for p in item.pairs], warn)


def _secret_check(item: A.Instruction, names: list[str], warn) -> None:
    for name in names:
        if _SECRET_DENY.search(name) and not _SECRET_ALLOW.search(name):
            warn("SecretsUsedInArgOrEnv", f"Do not use ARG or ENV instructions for sensitive "
                 f"data ({item.keyword} \"{name}\")", item.span,
                 "use RUN --mount=type=secret so the value never lands in the image")


def check(data: bytes | str, path: str) -> Report:
    """Every error and warning of a build file, in file order."""
    from pallet.grammar import no_gc

    with no_gc():
        return _check(data, path)


def _check(data: bytes | str, path: str) -> Report:
    try:
        tree = parse_syntax(data, path)
    except PalletError as error:
        return Report(path, (_from_error(error, ()),))
    errors: list[PalletError] = []
    bf = build_file(tree, collect=errors)
    diagnostics = [_from_error(error, tree.source_lines) for error in errors]
    skip, as_error = _check_options(tree)
    for warning in _warnings(tree, bf):
        if "all" in skip or (warning.rule or "").lower() in skip:
            continue
        if as_error:
            warning = Diagnostic("error", warning.message, warning.span, warning.hint,
                                 warning.rule, warning.source_line)
        diagnostics.append(warning)
    diagnostics.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
    return Report(path, tuple(diagnostics))
