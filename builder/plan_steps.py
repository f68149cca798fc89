"""One stage's instructions -> expanded Steps, with the config after each step.

Docker expands variables (the builder, not a shell) in ADD, COPY, ENV, EXPOSE, FROM, LABEL,
STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults and in the values of ``RUN --mount``,
``--chown``, ``--chmod`` and ``--checksum``; never in RUN, CMD, ENTRYPOINT or SHELL, and
``--from`` may not hold variables at all. Each instruction sees the scope from *before* it.
The scope of a stage: ENV of the config in effect, plus the ARGs declared so far in the
stage (ENV wins over an ARG of the same name).

The compiler keeps one config per stage and changes it in place; layer steps and the last
step of a stage carry a copy, metadata steps in between carry none (copying the whole config
at each of 100,000 LABEL lines made planning quadratic). A metadata step's cache key holds only
what it changed: its parent's key already stands for everything before it.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections import ChainMap
from typing import Any, Mapping

from pallet.builder import steps_meta as meta
from pallet.builder.plan_common import PROXY_ARGS, BaseImage, source_line_of, stage_reference
from pallet.builder.plan_mounts import mount_key
from pallet.builder.steps import CopySpec, InlineFile, MountSpec, RunSpec, Step
from pallet.base.errors import PalletError
from pallet.grammar.globmatch import clean


class StageCompiler:
    def __init__(self, *, stage, buildfile, build_args: dict[str, str],
                 global_scope: dict[str, str], base_text: str, parent: "StageCompiler | None",
                 stage_names: dict[str, int], resolve_base, declared_meta: set[str],
                 platform: dict[str, str]) -> None:
        self.stage = stage
        self.buildfile = buildfile
        self.escape = buildfile.escape
        self.build_args = build_args
        self.global_scope = global_scope
        self.base_text = base_text
        self.parent = parent
        self.stage_names = stage_names
        self.resolve_base = resolve_base
        self.declared_meta = declared_meta
        self.config: dict[str, Any] = {}
        self.env = meta.EnvList([])  # self.config["Env"], indexed
        self.args: dict[str, str | None] = {}  # ARGs in scope, in declaration order
        self.arg_values: dict[str, str] = {}  # those of them that have a value
        self.author: str | None = None
        self.cmd_set = False
        self.final_config: dict[str, Any] = {}
        self.image_config: dict[str, Any] = {}  # architecture/os/... of the base (not "config")

    # -- scope ----------------------------------------------------------------------------------
    def scope(self) -> Mapping[str, str]:
        return ChainMap(self.env.values, self.arg_values)  # a view: O(1), ENV first

    def _use_config(self, config: dict[str, Any]) -> None:
        if not isinstance(config.get("Env"), list):
            config["Env"] = []
        self.config = config
        self.env = meta.EnvList(config["Env"])

    def _snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.config)

    def expand(self, word: str | None, instruction) -> str | None:
        if word is None:
            return None
        from pallet.grammar.substitution import expand_word
        try:
            return expand_word(word, self.scope(), escape=self.escape).value
        except PalletError as error:
            raise PalletError(error.message, hint=error.hint, span=instruction.span,
                              source_line=source_line_of(instruction)) from error

    def expand_words(self, text: str, instruction) -> list[str]:
        from pallet.grammar.substitution import expand_words
        try:
            return list(expand_words(text, self.scope(), escape=self.escape).words)
        except PalletError as error:
            raise PalletError(error.message, hint=error.hint, span=instruction.span,
                              source_line=source_line_of(instruction)) from error

    # -- compile --------------------------------------------------------------------------------
    def compile(self) -> list[Step]:
        stage = self.stage
        name = stage.name or f"stage-{stage.index}"
        instructions = list(stage.instructions)
        base_step = self._from_step()
        triggers = self._onbuild_triggers()
        instructions = triggers + instructions
        total = len(instructions) + 1
        self.title_prefix = lambda n: f"[{name} {n}/{total}]"
        steps = [dataclasses.replace(base_step,
                                     title=f"{self.title_prefix(1)} FROM {self.base_text}")]
        for number, instruction in enumerate(instructions, start=2):
            step = self._compile_one(instruction, number, f"{stage.index}.{number - 1}")
            if step is not None:
                steps.append(step)
        self.final_config = self._snapshot()
        if steps[-1].config is None:
            steps[-1] = dataclasses.replace(steps[-1], config=self.final_config)
        return steps

    def _from_step(self) -> Step:
        stage = self.stage
        text = self.base_text
        base_image = None
        base_stage = None
        if self.parent is not None:
            self._use_config(copy.deepcopy(self.parent.final_config))
            self.args = dict(self.parent.args)
            self.arg_values = dict(self.parent.arg_values)
            self.author = self.parent.author
            self.image_config = dict(self.parent.image_config)
            base_stage = self.parent.stage.index
        elif text == "scratch":
            self._use_config(meta.empty_config())
            self.image_config = {"architecture": self.global_scope["TARGETARCH"], "os": "linux"}
        else:
            if "$" in stage.base and not text:
                raise PalletError("base name (" + stage.base + ") should not be blank",
                                  span=stage.span, source_line=source_line_of(stage.from_))
            image: BaseImage = self.resolve_base(text, stage.from_.span)
            full = image.config
            config = copy.deepcopy(full.get("config") or {})
            if not config.get("Env"):
                config["Env"] = [f"PATH={meta.DEFAULT_PATH}"]
            self._use_config(config)
            self.author = full.get("author")
            self.image_config = {k: full[k] for k in ("architecture", "os", "variant")
                                 if k in full}
            base_image = text
        return Step(id=f"{stage.index}.0", stage=stage.index, kind="from",
                    title=f"[{stage.name or f'stage-{stage.index}'} 1/x] FROM {text}",
                    span=stage.from_.span, source_line=source_line_of(stage.from_),
                    config=self._snapshot(), history=None,
                    key_desc={"op": "from", "base": text}, base_image=base_image,
                    base_stage=base_stage, author=self.author)

    def _onbuild_triggers(self) -> list:
        triggers = self.config.pop("OnBuild", None) or []
        if not triggers:
            return []
        from pallet.grammar import parse
        parsed = []
        for trigger in triggers:
            text = f"FROM scratch\n{trigger}\n"
            buildfile = parse(text, f"{self.buildfile.path} (ONBUILD trigger of {self.base_text})")
            parsed.extend(buildfile.stages[0].instructions)
        return parsed

    def _history(self, line: meta.HistoryLine) -> dict[str, Any]:
        return {"created_by": line.created_by, "empty_layer": line.empty_layer,
                "comment": meta.HISTORY_COMMENT}

    def _meta_step(self, instruction, number: int, step_id: str, line: meta.HistoryLine | None,
                   title: str, change: Any) -> Step:
        return Step(id=step_id, stage=self.stage.index, kind="meta",
                    title=f"{self.title_prefix(number)} {title}", span=instruction.span,
                    source_line=source_line_of(instruction), config=None,
                    history=self._history(line) if line else None,
                    key_desc={"op": "meta", "instruction": instruction.keyword.upper(),
                              "change": change, "history": line.created_by if line else None,
                              "author": self.author},
                    author=self.author)

    def _compile_one(self, inst, number: int, step_id: str) -> Step | None:
        from pallet.grammar import ast
        from pallet.grammar.envpairs import Pair, expand_pairs
        title = (getattr(inst, "source", "") or "").splitlines()[0] if getattr(inst, "source", "") else ""
        if isinstance(inst, (ast.Env, ast.Label)):
            try:
                pairs = expand_pairs([Pair(key=kv.key, value=kv.value) for kv in inst.pairs],
                                     self.scope(), escape=self.escape).pairs
            except PalletError as error:
                raise PalletError(error.message, span=inst.span,
                                  source_line=source_line_of(inst)) from error
            kv = [(p.key, p.value or "") for p in pairs]
            if isinstance(inst, ast.Env):
                line = meta.apply_env(self.env, kv)
            else:
                line = meta.apply_label(self.config, kv)
            return self._meta_step(inst, number, step_id, line, title, kv)
        if isinstance(inst, ast.Arg):
            return self._arg(inst, number, step_id, title)
        if isinstance(inst, ast.Run):
            return self._run(inst, number, step_id)
        if isinstance(inst, (ast.Copy, ast.Add)):
            return self._copy(inst, number, step_id)
        if isinstance(inst, ast.Workdir):
            line, workdir = meta.apply_workdir(self.config, self.expand(inst.path, inst))
            return Step(id=step_id, stage=self.stage.index, kind="workdir",
                        title=f"{self.title_prefix(number)} WORKDIR {workdir}", span=inst.span,
                        source_line=source_line_of(inst), config=self._snapshot(),
                        history=self._history(line),
                        key_desc={"op": "workdir", "path": workdir,
                                  "user": self.config.get("User") or ""},
                        workdir=clean(workdir),  # the directory to create
                        user=self.config.get("User") or "", author=self.author)
        change: Any
        if isinstance(inst, ast.Cmd):
            change = argv = self._command_argv(inst.command)
            line = meta.apply_cmd(self.config, argv)
            self.cmd_set = True
        elif isinstance(inst, ast.Entrypoint):
            argv = self._command_argv(inst.command)
            change = [argv, self.cmd_set]
            line = meta.apply_entrypoint(self.config, argv, cmd_set_in_stage=self.cmd_set)
        elif isinstance(inst, ast.Shell):
            change = list(inst.args)
            line = meta.apply_shell(self.config, change)
        elif isinstance(inst, ast.User):
            change = self.expand(inst.user, inst)
            line = meta.apply_user(self.config, change)
        elif isinstance(inst, ast.Volume):
            change = [self.expand(p, inst) for p in inst.paths]
            line = meta.apply_volume(self.config, change, span=inst.span)
        elif isinstance(inst, ast.Expose):
            change = [w for port in inst.ports for w in self.expand_words(port, inst)]
            line = meta.apply_expose(self.config, change, span=inst.span)
        elif isinstance(inst, ast.Stopsignal):
            change = self.expand(inst.signal, inst)
            line = meta.apply_stopsignal(self.config, change, span=inst.span)
        elif isinstance(inst, ast.Healthcheck):
            change = meta.healthcheck_of(inst)
            line = meta.apply_healthcheck(self.config, change)
        elif isinstance(inst, ast.Onbuild):
            change = inst.expression
            meta.apply_onbuild(self.config, change)
            line = None
        elif isinstance(inst, ast.Maintainer):
            change = self.author = inst.name
            line = meta.maintainer_history(inst.name)
        else:
            raise PalletError(f"unknown instruction: {inst.keyword}", span=inst.span,
                              source_line=source_line_of(inst))
        return self._meta_step(inst, number, step_id, line, title, change)

    def _command_argv(self, command) -> list[str]:
        if command.exec_form:
            return list(command.args)
        return meta.with_shell(self.config, " ".join(command.args))

    def _arg(self, inst, number: int, step_id: str, title: str) -> Step:
        committed: list[tuple[str, str | None]] = []
        for pair in inst.pairs:
            value: str | None
            if pair.name in self.build_args:
                value = self.build_args[pair.name]
            elif pair.default is not None:
                value = self.expand(pair.default, inst)
            elif pair.name in self.global_scope and (pair.name in self.declared_meta
                                                     or pair.name.startswith(("TARGET", "BUILD"))):
                value = self.global_scope[pair.name]
            else:
                value = None
            self.args.pop(pair.name, None)  # a redeclared ARG moves to the end
            self.args[pair.name] = value
            if value is None:
                self.arg_values.pop(pair.name, None)
            else:
                self.arg_values[pair.name] = value
            committed.append((pair.name, value))
        return self._meta_step(inst, number, step_id, meta.arg_history(committed), title,
                               committed)

    def _run_env(self) -> tuple[list[str], list[tuple[str, str]]]:
        env = list(self.env.items)
        arg_values = []
        for name, value in self.args.items():
            shown = self.env.values.get(name, value if value is not None else "")
            arg_values.append((name, shown))
            if value is not None and name not in self.env.first:
                env.append(f"{name}={value}")
        return env, arg_values

    def _run(self, inst, number: int, step_id: str) -> Step:
        command = inst.command
        script = None
        if command.exec_form:
            argv = list(command.args)
        else:
            text = " ".join(command.args)
            if inst.heredocs:
                argv, script = self._heredoc_run(text, inst)
            else:
                argv = meta.with_shell(self.config, text)
        env, arg_values = self._run_env()
        process_env = list(env)
        for name in sorted(PROXY_ARGS & self.build_args.keys()):
            if name not in self.args:
                process_env.append(f"{name}={self.build_args[name]}")  # not in the key
        mounts = tuple(self._mount(m, inst) for m in inst.mounts)
        for name, value in (("network", inst.network), ("security", inst.security)):
            if value is not None and "$" in value:  # BuildKit does not expand these flags
                raise PalletError(f"unsupported {name} mode {value!r}", span=inst.span,
                                  source_line=source_line_of(inst))
        spec = RunSpec(argv=tuple(argv), env=tuple(process_env),
                       cwd=self.config.get("WorkingDir") or "/",
                       user=self.config.get("User") or "", mounts=mounts,
                       network=inst.network or "default", security=inst.security or "sandbox",
                       script=script)
        line = meta.run_history(argv, arg_values)
        key_desc = {"op": "run", "argv": argv, "env": env, "cwd": spec.cwd, "user": spec.user,
                    "network": spec.network, "security": spec.security,
                    "script": [script.name, script.data] if script else None,
                    "mounts": [mount_key(m) for m in mounts]}
        title = " ".join(argv[len(argv) - 1:]) if not command.exec_form else " ".join(argv)
        # BuildKit names the step by its instruction as written, flags included, so a step that
        # leaves the sandbox (--network=host, --security=insecure) says so in the progress.
        flags = [f"--mount={m.raw}" for m in inst.mounts]
        flags += [f"--{name}={value}" for name, value in
                  (("network", inst.network), ("security", inst.security)) if value]
        title = " ".join(flags + [title])
        return Step(id=step_id, stage=self.stage.index, kind="run",
                    title=f"{self.title_prefix(number)} RUN {title}", span=inst.span,
                    source_line=source_line_of(inst), config=self._snapshot(),
                    history=self._history(line), key_desc=key_desc, run=spec,
                    user=spec.user, author=self.author)

    def _heredoc_run(self, text: str, inst) -> tuple[list[str], InlineFile | None]:
        first = inst.heredocs[0]
        if len(inst.heredocs) == 1 and re.fullmatch(r"\s*\d*<<-?\s*['\"]?" + re.escape(first.name)
                                                    + r"['\"]?\s*", text):
            body = first.content
            if body.startswith("#!"):
                script = InlineFile(name=first.name, data=body, mode=0o755)
                return meta.with_shell(self.config, f"/dev/pipes/{first.name}"), script
            return meta.with_shell(self.config, body), None
        full = text
        for heredoc in inst.heredocs:
            full += "\n" + heredoc.body + heredoc.name
        return meta.with_shell(self.config, full), None

    def _mount(self, mount, inst) -> MountSpec:
        from pallet.builder.plan_mounts import compile_mount
        spec = compile_mount(mount, inst, expand=lambda text: self.expand(text, inst)
                             if text is not None else None,
                             stage_names=self.stage_names,
                             stage_count=len(self.buildfile.stages),
                             workdir=self.config.get("WorkingDir") or "/")
        namespace = self.build_args.get("BUILDKIT_CACHE_MOUNT_NS")
        if spec.type == "cache" and namespace:   # BuildKit's cache id namespace (and key)
            spec = dataclasses.replace(spec, id=f"{namespace}/{spec.id}")
        return spec

    def _copy(self, inst, number: int, step_id: str) -> Step:
        from pallet.grammar import ast
        from pallet.grammar.substitution import expand_word
        is_add = isinstance(inst, ast.Add)
        sources = tuple(self.expand(s, inst) for s in inst.sources)
        dest = self.expand(inst.dest, inst)
        chown = self.expand(inst.chown, inst)
        chmod = self.expand(inst.chmod, inst)
        checksum = self.expand(getattr(inst, "checksum", None), inst)
        inline = []
        for heredoc in inst.heredocs:
            data = heredoc.content
            if heredoc.expand:
                data = expand_word(data, self.scope(), escape=self.escape, skip_quotes=True).value
            inline.append(InlineFile(name=heredoc.name, data=data, mode=0o644))
        from_stage = from_image = None
        from_text = getattr(inst, "from_", None)
        if from_text:
            from_stage = stage_reference(from_text, self.stage_names,
                                         stage_count=len(self.buildfile.stages), span=inst.span,
                                         source_line=source_line_of(inst))
            if from_stage is None:
                from_image = from_text
        spec = CopySpec(is_add=is_add, sources=sources, inline=tuple(inline), dest=dest,
                        workdir=self.config.get("WorkingDir") or "/", from_stage=from_stage,
                        from_image=from_image, chown=chown, chmod=chmod, link=inst.link,
                        parents=inst.parents,
                        exclude=tuple(self.expand(e, inst) for e in inst.exclude),
                        checksum=checksum, unpack=getattr(inst, "unpack", None))
        words = ["ADD" if is_add else "COPY"]
        if inst.parents:
            words.append("--parents")
        if chown:
            words.append(f"--chown={chown}")
        if chmod:
            words.append(f"--chmod={chmod}")
        words += list(sources) + [f"<<{f.name}" for f in inline] + [dest]
        line = meta.HistoryLine(" ".join(words) + " # buildkit", False)
        shown = (f"--from={from_text} " if from_text else "") + " ".join(words[1:])
        key_desc = {"op": "add" if is_add else "copy", "sources": list(sources),
                    "inline": [[f.name, f.data] for f in inline], "dest": dest,
                    "workdir": spec.workdir, "from_image": from_image,
                    "chown": chown, "chmod": chmod, "link": inst.link, "parents": inst.parents,
                    "exclude": list(spec.exclude), "checksum": checksum, "unpack": spec.unpack}
        return Step(id=step_id, stage=self.stage.index, kind="copy",
                    title=f"{self.title_prefix(number)} {words[0]} {shown}", span=inst.span,
                    source_line=source_line_of(inst), config=self._snapshot(),
                    history=self._history(line), key_desc=key_desc, copy=spec,
                    user=self.config.get("User") or "", author=self.author)
