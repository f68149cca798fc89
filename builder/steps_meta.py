"""Metadata instructions: how each one changes the image config, and its history line.

These run at plan time: an image config is a pure function of the base config and the
instructions, so the planner knows the config after every step before anything executes.
Each ``apply_*`` changes the planner's config *in place* and costs what the instruction adds,
not what the config already holds: 100,000 LABEL lines must plan in linear time.
The history ``created_by`` strings follow BuildKit's dockerfile2llb (``commitToHistory``):
Go's ``%q`` / ``%v`` renderings of string lists and port sets included, because tools (and
people) grep ``docker history`` for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pallet.base.errors import PalletError, Span
from pallet.grammar.goquote import go_quote_list, go_quote_rune

HISTORY_COMMENT = "buildkit.dockerfile.v0"
DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class HistoryLine:
    """The history entry a metadata step adds."""

    created_by: str
    empty_layer: bool


def go_plain_list(values: list[str]) -> str:
    """Go's ``fmt.Sprintf("%v", []string{...})``: ``[a b]``."""
    return "[" + " ".join(values) + "]"


def empty_config() -> dict[str, Any]:
    """The container config of ``FROM scratch`` as BuildKit starts it (PATH set)."""
    return {"Env": [f"PATH={DEFAULT_PATH}"]}


class EnvList:
    """A config's ``Env`` (Docker's ``K=V`` list, which ``items`` is) with O(1) set and lookup.

    Setting replaces the first entry of that name or appends one (BuildKit's addEnv); a lookup
    sees the last entry of a name, as the list read into a dict does."""

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.values: dict[str, str] = {}
        for index, item in enumerate(items):
            key, _, value = item.partition("=")
            self.first.setdefault(key, index)
            self.last[key] = index
            self.values[key] = value

    def set(self, key: str, value: str) -> None:
        index = self.first.get(key)
        if index is None:
            index = self.first[key] = self.last[key] = len(self.items)
            self.items.append(f"{key}={value}")
        else:
            self.items[index] = f"{key}={value}"
        if self.last[key] == index:
            self.values[key] = value


def _owned(config: dict[str, Any], key: str) -> dict:
    """The dict under key, created if the base had none (or had null)."""
    value = config.get(key)
    if not isinstance(value, dict):
        value = config[key] = {}
    return value


def apply_env(env: EnvList, pairs: list[tuple[str, str]]) -> HistoryLine:
    for key, value in pairs:
        env.set(key, value)
    return HistoryLine("ENV " + " ".join(f"{k}={v}" for k, v in pairs), True)


def apply_label(config: dict[str, Any], pairs: list[tuple[str, str]]) -> HistoryLine:
    labels = _owned(config, "Labels")
    for key, value in pairs:
        labels[key] = value
    return HistoryLine("LABEL " + " ".join(f"{k}={v}" for k, v in pairs), True)


def apply_cmd(config: dict[str, Any], argv: list[str]) -> HistoryLine:
    config["Cmd"] = list(argv)
    config["ArgsEscaped"] = True
    return HistoryLine(f"CMD {go_quote_list(argv)}", True)


def apply_entrypoint(config: dict[str, Any], argv: list[str], *,
                     cmd_set_in_stage: bool) -> HistoryLine:
    config["Entrypoint"] = list(argv)
    if not cmd_set_in_stage:
        config.pop("Cmd", None)  # ENTRYPOINT resets the CMD inherited from the base
    return HistoryLine(f"ENTRYPOINT {go_quote_list(argv)}", True)


def apply_user(config: dict[str, Any], user: str) -> HistoryLine:
    config["User"] = user
    return HistoryLine(f"USER {user}", True)


def normalize_workdir(current: str, path: str) -> str:
    """BuildKit's NormalizeWorkdir: an absolute path is kept as written (`WORKDIR /app/` stays
    `/app/`, as Docker stores it); a relative one joins the current one, cleaned (Go's
    filepath.Join)."""
    from pallet.grammar.globmatch import clean

    if path.startswith("/"):
        return path
    return clean(f"/{current or '/'}/{path}")


def apply_workdir(config: dict[str, Any], path: str) -> tuple[HistoryLine, str]:
    workdir = normalize_workdir(config.get("WorkingDir") or "/", path)
    config["WorkingDir"] = workdir
    # BuildKit creates the directory (a layer) unless it is "/"; an existing directory gives an
    # empty diff, which the commit turns into an empty_layer entry.
    return HistoryLine(f"WORKDIR {workdir}", workdir == "/"), workdir


def apply_volume(config: dict[str, Any], paths: list[str], *, span: Span | None = None
                 ) -> HistoryLine:
    if any(path == "" for path in paths):
        raise PalletError("VOLUME specified can not be an empty string", span=span)
    volumes = _owned(config, "Volumes")
    for path in paths:
        volumes[path] = {}
    return HistoryLine(f"VOLUME {go_plain_list(paths)}", True)


_PORT = re.compile(r"^(?:(?:[^:]*):)?(?:(?:[^:]*):)?(\d+)(?:-(\d+))?(?:/(\w+))?$")


def parse_ports(words: list[str], *, span: Span | None = None) -> list[str]:
    """Docker's nat.ParsePortSpecs: ``80``, ``80/udp``, ranges ``8000-8002``, protocol lowercased."""
    ports: list[str] = []
    for word in words:
        match = _PORT.match(word)
        if not match:
            raise PalletError(f"invalid containerPort: {word}", span=span)
        start = int(match.group(1))
        end = int(match.group(2) or start)
        proto = (match.group(3) or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp") or end < start or end > 65535:
            raise PalletError(f"invalid port specification: {word!r}", span=span)
        ports.extend(f"{port}/{proto}" for port in range(start, end + 1))
    return ports


def apply_expose(config: dict[str, Any], words: list[str], *, span: Span | None = None
                 ) -> HistoryLine:
    ports = parse_ports(words, span=span)
    exposed = _owned(config, "ExposedPorts")
    for port in ports:
        exposed[port] = {}
    rendered = " ".join(f"{p}:{{}}" for p in sorted(set(ports)))
    return HistoryLine(f"EXPOSE map[{rendered}]", True)


SIGNALS = {name: number for number, name in enumerate(
    ["", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
     "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
     "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
     "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"]) if name}


def apply_stopsignal(config: dict[str, Any], signal: str, *, span: Span | None = None
                     ) -> HistoryLine:
    name = signal.upper()
    valid = (signal.isdigit() and 0 < int(signal) < 65) or name in SIGNALS \
        or f"SIG{name}" in SIGNALS or re.fullmatch(r"SIGRTM(IN|AX)([+-]\d+)?", name)
    if not valid:
        raise PalletError(f"invalid signal: {signal}", span=span)
    config["StopSignal"] = signal
    return HistoryLine(f"STOPSIGNAL {signal}", True)


def apply_shell(config: dict[str, Any], argv: list[str]) -> HistoryLine:
    config["Shell"] = list(argv)
    return HistoryLine(f"SHELL {go_plain_list(argv)}", True)


def healthcheck_of(inst) -> dict[str, Any]:
    """A HEALTHCHECK instruction as Docker's HealthConfig (durations in ns)."""
    if inst.none:
        return {"Test": ["NONE"]}
    command = inst.command
    test = ["CMD", *command.args] if command.exec_form else ["CMD-SHELL", " ".join(command.args)]
    return {"Test": test, "Interval": inst.interval or 0, "Timeout": inst.timeout or 0,
            "StartPeriod": inst.start_period or 0, "StartInterval": inst.start_interval or 0,
            "Retries": inst.retries or 0}


def apply_healthcheck(config: dict[str, Any], healthcheck: dict[str, Any]) -> HistoryLine:
    """``healthcheck`` is Docker's HealthConfig (Test, Interval, Timeout, StartPeriod,
    StartInterval, Retries; durations in ns, omitted ones 0). It replaces the inherited one."""
    config["Healthcheck"] = {k: v for k, v in healthcheck.items() if v not in (0, None)
                          or k == "Test"}
    test = healthcheck.get("Test") or []
    fields = [go_quote_list(test)] + [
        f'"{_go_duration(healthcheck.get(k) or 0)}"'
        for k in ("Interval", "Timeout", "StartPeriod", "StartInterval")]
    fields.append(go_quote_rune(healthcheck.get("Retries") or 0))   # BuildKit's %q of an int
    return HistoryLine("HEALTHCHECK &{" + " ".join(fields) + "}", True)


def _go_duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    seconds, rest = divmod(ns, 1_000_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = ""
    if hours:
        text += f"{hours}h"
    if hours or minutes:
        text += f"{minutes}m"
    frac = f"{rest:09d}".rstrip("0")
    return text + (f"{seconds}.{frac}s" if frac else f"{seconds}s")


def apply_onbuild(config: dict[str, Any], expression: str) -> None:
    """ONBUILD records its raw trigger; BuildKit writes no history line for it."""
    triggers = config.get("OnBuild")
    if not isinstance(triggers, list):
        triggers = config["OnBuild"] = []
    triggers.append(expression)


def arg_history(pairs: list[tuple[str, str | None]]) -> HistoryLine:
    return HistoryLine("ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in pairs), True)


def maintainer_history(name: str) -> HistoryLine:
    return HistoryLine(f"MAINTAINER {name}", True)


def with_shell(config: dict[str, Any], command: str) -> list[str]:
    """Shell form: the SHELL in effect (default /bin/sh -c) followed by the command string."""
    return list(config.get("Shell") or DEFAULT_SHELL) + [command]


def run_history(argv: list[str], build_args: list[tuple[str, str]]) -> HistoryLine:
    """``RUN |2 A=1 B=2 /bin/sh -c cmd # buildkit``: the ARGs in scope, then the argv."""
    prefix: list[str] = []
    if build_args:
        prefix = [f"|{len(build_args)}"] + [f"{k}={v}" for k, v in build_args]
    return HistoryLine("RUN " + " ".join(prefix + list(argv)) + " # buildkit", False)
