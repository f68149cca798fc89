"""Syntax tree -> typed AST (BuildKit's instructions package): arity, flags, stages.

``build_file`` raises the first user error as a located PalletError; with ``collect=[]`` it
records every error and keeps going (``pallet check`` reports them all).
"""

from __future__ import annotations

import re
from typing import Callable

from pallet.base.errors import PalletError, Span
from pallet.grammar import ast as A
from pallet.grammar.flags import NETWORKS, SECURITY, did_you_mean, parse_flags, parse_mount
from pallet.grammar.heredoc import parse_opener
from pallet.grammar.syntax import Node, SyntaxTree

INSTRUCTIONS = ("FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY",
                "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL",
                "HEALTHCHECK", "SHELL")
STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")


def _fail(node: Node, message: str, hint: str | None = None, span: Span | None = None) -> PalletError:
    return PalletError(message, span=span or node.span, hint=hint)


def _common(node: Node) -> dict:
    return {"span": node.span, "source": node.source, "node": node}


def _exactly_one(node: Node) -> str:
    if len(node.args) != 1:
        raise _fail(node, f"{node.name.upper()} requires exactly one argument",
                    hint=f"write {node.name.upper()} <value>")
    return node.args[0]


def _at_least_one(node: Node) -> None:
    if not node.args:
        raise _fail(node, f"{node.name.upper()} requires at least one argument")


def _command(node: Node, args: tuple[str, ...] | None = None) -> A.Command:
    return A.Command(exec_form=node.json_form, args=node.args if args is None else args)


def _pairs(node: Node) -> tuple[A.KeyValue, ...]:
    _at_least_one(node)
    pairs = []
    for i in range(0, len(node.args) - 2, 3):
        key, value = node.args[i], node.args[i + 1]
        if not key:
            raise _fail(node, f"{node.name.upper()} names can not be blank",
                        hint="write key=value with a non-empty key")
        pairs.append(A.KeyValue(key, value))
    return tuple(pairs)


def parse_duration(text: str, name: str, node: Node, span: Span) -> int:
    """A HEALTHCHECK duration flag ("1m30s", "500ms", "0") -> nanoseconds."""
    from pallet.base.units import parse_go_duration  # only HEALTHCHECK flags: `check` starts faster

    try:
        total = parse_go_duration(text)
    except ValueError as error:
        raise _fail(node, f"invalid duration {text!r} for --{name} ({error})", span=span,
                    hint="use a Go duration such as 30s, 1m30s or 500ms") from error
    if total < 0:
        raise _fail(node, f"--{name} cannot be negative", span=span)
    if 0 < total < 1_000_000:
        raise _fail(node, f"Interval {name!r} cannot be less than 1ms", span=span)
    return total


def _from(node: Node) -> A.From:
    flags = parse_flags(node)
    args = node.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not STAGE_NAME.match(name):
            raise _fail(node, f"invalid name for build stage: {args[2]!r}, name can't start "
                        "with a number or contain symbols", hint="use e.g. FROM alpine AS build")
    elif len(args) != 1:
        raise _fail(node, "FROM requires either one or three arguments",
                    hint="write FROM image or FROM image AS name")
    platform = flags.strings.get("platform")
    if platform is not None and "$" not in platform:
        _check_platform(node, platform, flags.spans["platform"])
    return A.From(image=args[0], name=name, platform=platform, **_common(node))


def _check_platform(node: Node, platform: str, span: Span) -> None:
    from pallet.base.platforms import parse_platform  # only FROM --platform: `check` starts faster

    try:
        parse_platform(platform)
    except ValueError as error:
        raise _fail(node, f"invalid platform {platform!r}: unknown operating system or "
                    "architecture", span=span, hint="use os/arch[/variant], e.g. linux/amd64") from error


def _run(node: Node) -> A.Run:
    flags = parse_flags(node)
    _at_least_one(node)
    mounts = tuple(parse_mount(raw, span) for raw, span in
                   zip(flags.lists.get("mount", ()), flags.list_spans.get("mount", ())))
    network = flags.strings.get("network")
    if network is not None and "$" not in network and network not in NETWORKS:
        raise _fail(node, f"unsupported network mode {network!r}", span=flags.spans["network"],
                    hint="use --network=default, none or host")
    security = flags.strings.get("security")
    if security is not None and "$" not in security and security not in SECURITY:
        raise _fail(node, f"unsupported security mode {security!r}", span=flags.spans["security"],
                    hint="use --security=sandbox or insecure")
    return A.Run(command=_command(node), mounts=mounts, network=network, security=security,
                 heredocs=node.heredocs, **_common(node))


def _copy_like(node: Node):
    flags = parse_flags(node)
    if len(node.args) < 2:
        raise _fail(node, f"{node.name.upper()} requires at least two arguments, but only "
                    f"{'one was' if node.args else 'none were'} provided. Destination could "
                    "not be determined.", hint=f"write {node.name.upper()} SRC... DEST")
    dest = node.args[-1]
    if not node.json_form and parse_opener(dest) is not None:
        raise _fail(node, f"{node.name.upper()} cannot accept a heredoc as a destination")
    by_name = {heredoc.name: heredoc for heredoc in node.heredocs}
    sources, heredocs = [], []
    for source in node.args[:-1]:
        opener = None if node.json_form else parse_opener(source)
        if opener is not None and opener.name in by_name:
            heredocs.append(by_name[opener.name])
        else:
            sources.append(source)
    fields = dict(sources=tuple(sources), dest=dest, chown=flags.strings.get("chown"),
                  chmod=flags.strings.get("chmod"), link=flags.bools.get("link", False),
                  parents=flags.bools.get("parents", False),
                  exclude=flags.lists.get("exclude", ()), heredocs=tuple(heredocs),
                  exec_form=node.json_form, **_common(node))
    if node.name == "copy":
        return A.Copy(from_=flags.strings.get("from"), **fields)
    return A.Add(checksum=flags.strings.get("checksum"), keep_git_dir=flags.bools.get("keep-git-dir"),
                 unpack=flags.bools.get("unpack"), **fields)


def _healthcheck(node: Node) -> A.Healthcheck:
    _at_least_one(node)
    kind = node.args[0].upper()
    if kind == "NONE":
        if len(node.args) != 1:
            raise _fail(node, "HEALTHCHECK NONE takes no arguments")
        if node.flags:
            raise _fail(node, "HEALTHCHECK NONE takes no options", span=node.flags[0].span)
        return A.Healthcheck(none=True, **_common(node))
    flags = parse_flags(node)
    if kind != "CMD":
        raise _fail(node, f"Unknown type {node.args[0]!r} in HEALTHCHECK (try CMD)",
                    hint="write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE")
    if len(node.args) < 2:
        raise _fail(node, "Missing command after HEALTHCHECK CMD")
    durations = {}
    for name in ("interval", "timeout", "start-period", "start-interval"):
        if name in flags.strings:
            durations[name.replace("-", "_")] = parse_duration(
                flags.strings[name], name, node, flags.spans[name])
    retries = None
    if "retries" in flags.strings:
        text = flags.strings["retries"]
        if not re.fullmatch(r"[+-]?[0-9]+", text) or int(text) < 0:
            raise _fail(node, f"--retries must be a non-negative integer (not {text!r})",
                        span=flags.spans["retries"])
        retries = int(text)
    return A.Healthcheck(none=False, command=_command(node, node.args[1:]), retries=retries,
                         **durations, **_common(node))


def _shell(node: Node) -> A.Shell:
    parse_flags(node)
    if not node.json_form:
        raise _fail(node, "SHELL requires the arguments to be in JSON form",
                    hint='write SHELL ["/bin/bash", "-c"]')
    _at_least_one(node)
    return A.Shell(args=node.args, **_common(node))


def _arg(node: Node) -> A.Arg:
    parse_flags(node)
    _at_least_one(node)
    pairs = []
    for word in node.args:
        name, sep, default = word.partition("=")
        if not name:
            raise _fail(node, "ARG names can not be blank", hint="write ARG name or ARG name=default")
        pairs.append(A.ArgPair(name, default if sep else None))
    return A.Arg(pairs=tuple(pairs), **_common(node))


def _onbuild(node: Node) -> A.Onbuild:
    parse_flags(node)
    if node.child is None:
        raise _fail(node, "ONBUILD requires at least one argument", hint="write ONBUILD RUN ...")
    trigger = node.child.name.upper()
    if trigger == "ONBUILD":
        raise _fail(node, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    span=node.child.span)
    if trigger in ("MAINTAINER", "FROM"):
        raise _fail(node, f"{trigger} isn't allowed as an ONBUILD trigger", span=node.child.span)
    expression = node.child.source + "".join("\n" + h.body + h.name for h in node.child.heredocs)
    return A.Onbuild(trigger=instruction(node.child), expression=expression, **_common(node))


def _simple(field: str, cls, one: bool = True) -> Callable[[Node], A.Instruction]:
    def build(node: Node):
        parse_flags(node)
        return cls(**{field: _exactly_one(node)}, **_common(node))
    return build


def _env_like(cls):
    def build(node: Node):
        parse_flags(node)
        return cls(pairs=_pairs(node), legacy_form=len(node.args) == 3 and node.args[2] == "",
                   **_common(node))
    return build


def _list(field: str, cls, check_empty: bool = False):
    def build(node: Node):
        parse_flags(node)
        _at_least_one(node)
        if check_empty and any(not arg.strip() for arg in node.args):
            raise _fail(node, f"{node.name.upper()} specified can not be an empty string")
        return cls(**{field: node.args}, **_common(node))
    return build


def _cmd_like(cls):
    def build(node: Node):
        parse_flags(node)
        return cls(command=_command(node), **_common(node))
    return build


BUILDERS: dict[str, Callable[[Node], A.Instruction]] = {
    "from": _from, "run": _run, "cmd": _cmd_like(A.Cmd), "entrypoint": _cmd_like(A.Entrypoint),
    "label": _env_like(A.Label), "env": _env_like(A.Env),
    "maintainer": _simple("name", A.Maintainer), "user": _simple("user", A.User),
    "workdir": _simple("path", A.Workdir), "stopsignal": _simple("signal", A.Stopsignal),
    "expose": _list("ports", A.Expose), "volume": _list("paths", A.Volume, check_empty=True),
    "add": _copy_like, "copy": _copy_like, "healthcheck": _healthcheck, "shell": _shell,
    "arg": _arg, "onbuild": _onbuild,
}


def instruction(node: Node) -> A.Instruction:
    """One typed instruction from its syntax node."""
    build = BUILDERS.get(node.name)
    if build is None:
        guess = did_you_mean(node.keyword.upper(), INSTRUCTIONS)
        span = Span(node.span.file, node.span.line, node.span.column, node.span.line,
                    node.span.column + len(node.keyword) - 1)
        raise PalletError(f"unknown instruction: {node.keyword}", span=span,
                          hint=f"did you mean {guess}?" if guess else
                          "instructions are " + ", ".join(INSTRUCTIONS))
    return build(node)


def _located(error: PalletError, tree: SyntaxTree) -> PalletError:
    if error.span is not None and error.source_line is None:
        error.source_line = tree.source_line(error.span.line)
    return error


# Instructions whose arguments go to a shell or a program as written (the builder expands
# only their flags).
_NOT_EXPANDED = frozenset({"run", "cmd", "entrypoint", "healthcheck", "shell", "onbuild"})


def _check_nesting(node: Node, escape: str) -> None:
    """Refuse `${...}` nested deeper than the expander allows, at parse time, so `pallet
    check` reports it and a build fails before doing any work."""
    from pallet.grammar.substitution import MAX_NESTING, nesting_depth

    texts = [flag.text for flag in node.flags]
    if node.name not in _NOT_EXPANDED:
        texts += node.args
    for text in texts:
        if "${" in text and nesting_depth(text, escape) > MAX_NESTING:
            raise PalletError(f"{node.keyword.upper()}: ${{...}} nested more than "
                              f"{MAX_NESTING} levels deep", span=node.span,
                              hint="pallet expands at most this many nested ${...}; set "
                                   "intermediate values with ARG or ENV instead")


def build_file(tree: SyntaxTree, collect: list[PalletError] | None = None) -> A.BuildFile:
    """Group typed instructions into stages; meta ARGs are the ARGs before the first FROM."""
    meta_args: list[A.Arg] = []
    stages: list[tuple[A.From, list[A.Instruction]]] = []
    seen_names: dict[str, A.From] = {}

    def report(error: PalletError) -> None:
        error = _located(error, tree)
        if collect is None:
            raise error
        collect.append(error)

    for node in tree.nodes:
        try:
            _check_nesting(node, tree.escape)
            typed = instruction(node)
        except PalletError as error:
            report(error)
            continue
        if isinstance(typed, A.From):
            if typed.name is not None and typed.name in seen_names:
                first = seen_names[typed.name]
                report(PalletError(f"duplicate stage name {typed.name!r}", span=typed.span,
                                   hint=f"the first stage named {typed.name!r} is at line "
                                        f"{first.span.line}; stage names must be unique"))
            elif typed.name is not None:
                seen_names[typed.name] = typed
            stages.append((typed, []))
        elif not stages:
            if isinstance(typed, A.Arg):
                meta_args.append(typed)
            else:
                report(PalletError(f"{typed.keyword} before the first FROM: no build stage "
                                   "in context", span=typed.span,
                                   hint="start the file with FROM <image> (only ARG may "
                                        "come before it)"))
        else:
            stages[-1][1].append(typed)
    if not stages:
        last = tree.nodes[-1].span if tree.nodes else Span(tree.path, 1, 1, 1, 1)
        report(PalletError("no FROM instruction: the file defines no build stage",
                           span=Span(tree.path, last.line, 1, last.line, 1),
                           hint="add FROM <image> (or FROM scratch) before the other instructions"))
    built = tuple(A.Stage(name=head.name, base=head.image, platform=head.platform,
                          instructions=tuple(body), from_=head, index=index,
                          span=Span(head.span.file, head.span.line, head.span.column,
                                    (body[-1].span if body else head.span).end_line,
                                    (body[-1].span if body else head.span).end_column))
                  for index, (head, body) in enumerate(stages))
    return A.BuildFile(path=tree.path, directives=tree.directives, meta_args=tuple(meta_args),
                       stages=built, escape=tree.escape, syntax=tree)
