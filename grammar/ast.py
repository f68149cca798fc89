"""The typed AST of a build file: frozen dataclasses, every node with a Span and its source.

Values are UNEXPANDED: ``$VAR`` references and the quoting of ENV/LABEL/ARG values are kept as
written, because the builder expands them later with the ARG/ENV scope of each stage. Every
instruction keeps its syntax ``node`` (keyword as written, raw flags, raw argument nodes) so
``pallet.grammar.dump`` can reproduce BuildKit's dump from a BuildFile too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pallet.errors import Span
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


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """Common fields: where it is, its text, and its syntax node (for dump and messages)."""

    span: Span
    source: str
    node: Node

    @property
    def keyword(self) -> str:
        return self.node.name.upper()


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    image: str                 # the base image text, unexpanded (may name an earlier stage)
    name: str | None           # "AS name", lower-cased as BuildKit does
    platform: str | None


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    command: Command
    mounts: tuple[RunMount, ...] = ()
    network: str | None = None         # default | none | host
    security: str | None = None        # sandbox | insecure
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Cmd(Instruction):
    command: Command


@dataclass(frozen=True, kw_only=True)
class Entrypoint(Instruction):
    command: Command


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    args: tuple[str, ...]              # always exec (JSON) form


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    pairs: tuple[KeyValue, ...]
    legacy_form: bool = False          # "LABEL key value" instead of key=value


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    pairs: tuple[KeyValue, ...]
    legacy_form: bool = False          # "ENV key value" instead of key=value


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    name: str


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    ports: tuple[str, ...]             # raw, e.g. "80", "53/udp", "$PORT"


@dataclass(frozen=True, kw_only=True)
class Copy(Instruction):
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


@dataclass(frozen=True, kw_only=True)
class Add(Instruction):
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


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    pairs: tuple[ArgPair, ...]


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    trigger: Instruction               # the nested instruction, fully typed
    expression: str                    # its text, stored in the image config's OnBuild list


@dataclass(frozen=True, kw_only=True)
class Stopsignal(Instruction):
    signal: str


@dataclass(frozen=True, kw_only=True)
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
