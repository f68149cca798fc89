"""The typed AST of a build file: frozen dataclasses, every node with a Span and its source.

Values are UNEXPANDED: ``$VAR`` references and the quoting of ENV/LABEL/ARG values are kept as
written, because the builder expands them later with the ARG/ENV scope of each stage. Every
instruction keeps its syntax ``node`` (keyword as written, raw flags, raw argument nodes) so
``pallet.grammar.dump()`` can reproduce BuildKit's dump from a BuildFile too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from pallet.base.errors import Span
from pallet.grammar.lines import Directive
from pallet.grammar.syntax import Heredoc, Node, SyntaxTree

__all__ = [
    "Span", "Directive", "Heredoc", "Node", "SyntaxTree", "Command", "RunMount", "KeyValue",
    "ArgPair", "Instruction", "From", "Run", "Cmd", "Label", "Maintainer", "Expose", "Env",
    "Add", "Copy", "Entrypoint", "Volume", "User", "Workdir", "Arg", "Onbuild", "Stopsignal",
    "Healthcheck", "Shell", "Stage", "BuildFile",
]


@dataclass(frozen=True)
class Command:
    """A command line: exec form (JSON array, run directly) or shell form (one string that
    the builder runs with the stage's SHELL, default ``/bin/sh -c``)."""

    exec_form: bool
    args: tuple[str, ...]


@dataclass(frozen=True)
class RunMount:
    """One ``RUN --mount=...``; values unexpanded, keys normalised (src->source, dst->target).

    ``readonly`` is resolved with BuildKit's defaults (bind/secret/ssh read-only, cache/tmpfs
    writable) unless ro/rw was given. ``mode``/``uid``/``gid``/``size`` stay strings because
    they may still hold variables.
    """

    type: str
    target: str | None = None
    source: str | None = None
    from_: str | None = None
    id: str | None = None
    sharing: str | None = None
    mode: str | None = None
    uid: str | None = None
    gid: str | None = None
    readonly: bool = False
    required: bool = False
    env: str | None = None
    size: str | None = None
    raw: str = ""
    span: Span | None = None


@dataclass(frozen=True)
class KeyValue:
    """An ENV/LABEL pair; ``value`` keeps its quotes/escapes for the builder's expansion."""

    key: str
    value: str


@dataclass(frozen=True)
class ArgPair:
    """One ARG name with its default (unexpanded, quotes kept) or None when it has none."""

    name: str
    default: str | None


# Instruction classes are frozen dataclasses whose __eq__/__hash__/__repr__ are written once,
# in Instruction, instead of generated per class: the generated methods roughly doubled the
# import time of this module, which every `pallet check` / `pallet build` pays.
_instruction = dataclass(frozen=True, kw_only=True, eq=False, repr=False)


@_instruction
class Instruction:
    """Common fields: where it is, its text, and its syntax node (for dump and messages)."""

    span: Span
    source: str
    node: Node

    def _values(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                          if f.name != "node")
        return f"{type(self).__name__}({shown})"

    @property
    def keyword(self) -> str:
        return self.node.name.upper()


@_instruction
class From(Instruction):
    """FROM [--platform=P] image [AS name]: the head of a stage."""

    image: str                 # the base image text, unexpanded (may name an earlier stage)
    name: str | None           # "AS name", lower-cased as BuildKit does
    platform: str | None


@_instruction
class Run(Instruction):
    """RUN [--mount=...] [--network=...] [--security=...] command, heredocs attached."""

    command: Command
    mounts: tuple[RunMount, ...] = ()
    network: str | None = None         # default | none | host
    security: str | None = None        # sandbox | insecure
    heredocs: tuple[Heredoc, ...] = ()


@_instruction
class Cmd(Instruction):
    """CMD: the default command of the image."""

    command: Command


@_instruction
class Entrypoint(Instruction):
    """ENTRYPOINT: the executable of the image."""

    command: Command


@_instruction
class Shell(Instruction):
    """SHELL ["exe", "arg"]: the shell used for later shell-form commands."""

    args: tuple[str, ...]              # always exec (JSON) form


@_instruction
class Label(Instruction):
    """LABEL key=value ..."""

    pairs: tuple[KeyValue, ...]
    legacy_form: bool = False          # "LABEL key value" instead of key=value


@_instruction
class Env(Instruction):
    """ENV key=value ... (or legacy ENV key value)."""

    pairs: tuple[KeyValue, ...]
    legacy_form: bool = False          # "ENV key value" instead of key=value


@_instruction
class Maintainer(Instruction):
    """MAINTAINER name (deprecated in favour of a label)."""

    name: str


@_instruction
class Expose(Instruction):
    """EXPOSE port[/proto] ..."""

    ports: tuple[str, ...]             # raw, e.g. "80", "53/udp", "$PORT"


@_instruction
class Copy(Instruction):
    """COPY [flags] src... dest (paths, or heredoc contents in ``heredocs``)."""

    sources: tuple[str, ...]           # paths (heredoc sources are in ``heredocs``)
    dest: str
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()
    exec_form: bool = False


@_instruction
class Add(Instruction):
    """ADD [flags] src... dest (paths, URLs, git repositories, archives, heredocs)."""

    sources: tuple[str, ...]
    dest: str
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    checksum: str | None = None
    keep_git_dir: bool | None = None
    unpack: bool | None = None
    heredocs: tuple[Heredoc, ...] = ()
    exec_form: bool = False


@_instruction
class Volume(Instruction):
    """VOLUME path ..."""

    paths: tuple[str, ...]


@_instruction
class User(Instruction):
    """USER user[:group]"""

    user: str


@_instruction
class Workdir(Instruction):
    """WORKDIR path"""

    path: str


@_instruction
class Arg(Instruction):
    """ARG name[=default] ..."""

    pairs: tuple[ArgPair, ...]


@_instruction
class Onbuild(Instruction):
    """ONBUILD instruction: a trigger stored in the image for later builds."""

    trigger: Instruction               # the nested instruction, fully typed
    expression: str                    # its text, stored in the image config's OnBuild list


@_instruction
class Stopsignal(Instruction):
    """STOPSIGNAL signal"""

    signal: str


@_instruction
class Healthcheck(Instruction):
    """HEALTHCHECK NONE, or CMD with options; durations in nanoseconds like Docker's config."""

    none: bool
    command: Command | None = None
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None


@dataclass(frozen=True)
class Stage:
    """A FROM and the instructions up to the next FROM."""

    name: str | None           # lower-cased "AS" name, None when unnamed
    base: str                  # base image text (unexpanded), or an earlier stage's name
    platform: str | None
    instructions: tuple[Instruction, ...]
    span: Span
    from_: From
    index: int


@dataclass(frozen=True)
class BuildFile:
    """A parsed build file: directives, meta ARGs, stages, and its syntax tree."""

    path: str
    directives: tuple[Directive, ...]
    meta_args: tuple[Arg, ...]         # ARGs before the first FROM
    stages: tuple[Stage, ...]
    escape: str
    syntax: SyntaxTree

    def directive(self, name: str) -> str | None:
        for directive in self.directives:
            if directive.name == name:
                return directive.value
        return None

    def stage(self, name_or_index: str | int) -> Stage | None:
        for stage in self.stages:
            if stage.name == name_or_index or stage.index == name_or_index:
                return stage
        return None
