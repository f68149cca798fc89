"""Instruction flags (BuildKit's BFlags): which flags each instruction takes, and their values.

Unknown, duplicated or malformed flags are user errors located at the flag, with a
did-you-mean hint. ``RUN --mount`` values are parsed into RunMount records here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pallet.base.errors import PalletError, Span
from pallet.grammar.ast import RunMount
from pallet.grammar.syntax import Node

# name -> kind: "string" (once), "bool" (--x or --x=true/false), "strings" (repeatable).
ALLOWED: dict[str, dict[str, str]] = {
    "from": {"platform": "string"},
    "run": {"mount": "strings", "network": "string", "security": "string"},
    "copy": {"from": "string", "chown": "string", "chmod": "string", "link": "bool",
             "parents": "bool", "exclude": "strings"},
    "add": {"chown": "string", "chmod": "string", "link": "bool", "parents": "bool",
            "exclude": "strings", "checksum": "string", "keep-git-dir": "bool", "unpack": "bool"},
    "healthcheck": {"interval": "string", "timeout": "string", "start-period": "string",
                    "start-interval": "string", "retries": "string"},
}
MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
MOUNT_KEYS = ("type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro",
              "readwrite", "rw", "id", "sharing", "required", "mode", "uid", "gid", "env", "size")
SHARING = ("shared", "private", "locked")
NETWORKS = ("default", "none", "host")
SECURITY = ("sandbox", "insecure")


@dataclass(frozen=True)
class FlagValues:
    """Validated flag values of one instruction, by kind."""

    strings: dict[str, str]
    bools: dict[str, bool]
    lists: dict[str, tuple[str, ...]]
    spans: dict[str, Span]
    list_spans: dict[str, tuple[Span, ...]]


def did_you_mean(word: str, choices) -> str | None:
    import difflib  # only on the error path: keep it off every parse's start-up

    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def parse_flags(node: Node) -> FlagValues:
    """Validate ``node.flags`` against the instruction's allowed flags."""
    allowed = ALLOWED.get(node.name, {})
    strings: dict[str, str] = {}
    bools: dict[str, bool] = {}
    lists: dict[str, list[str]] = {}
    spans: dict[str, Span] = {}
    list_spans: dict[str, list[Span]] = {}
    for flag in node.flags:
        name, value = flag.name, flag.value
        kind = allowed.get(name)
        if kind is None:
            guess = did_you_mean(name, allowed)
            if allowed:
                hint = (f"did you mean --{guess}?" if guess else
                        f"{node.name.upper()} accepts " + ", ".join(f"--{n}" for n in allowed))
            else:
                hint = f"{node.name.upper()} takes no flags"
            raise PalletError(f"unknown flag: --{name}", span=flag.span, hint=hint)
        if kind == "bool":
            if value is None:
                bools[name] = True
            elif value.lower() in ("true", "false"):
                bools[name] = value.lower() == "true"
            else:
                raise PalletError(f"expecting boolean value for flag {name}, not: {value}",
                                  span=flag.span, hint=f"write --{name} or --{name}=false")
            spans[name] = flag.span
            continue
        if value is None:
            raise PalletError(f"missing a value on flag: --{name}", span=flag.span,
                              hint=f"write --{name}=VALUE")
        if kind == "strings":
            lists.setdefault(name, []).append(value)
            list_spans.setdefault(name, []).append(flag.span)
            continue
        if name in strings:
            raise PalletError(f"duplicate flag specified: --{name}", span=flag.span,
                              hint="give each flag once")
        strings[name] = value
        spans[name] = flag.span
    return FlagValues(strings, bools, {k: tuple(v) for k, v in lists.items()}, spans,
                      {k: tuple(v) for k, v in list_spans.items()})


def parse_uint32(text: str, base: int) -> int | None:
    """Go's strconv.ParseUint(text, base, 32), which BuildKit uses for a mount's uid, gid
    (base 10) and mode (base 8): ASCII digits only (Python's int() also takes '+', '_' and
    other scripts' digits), below 2**32; None when it is not such a number."""
    digits = "01234567" if base == 8 else "0123456789"
    if not text or any(ch not in digits for ch in text):
        return None
    value = int(text, base)
    return value if value < 2**32 else None


def _static(value: str) -> bool:
    """True when a value holds no variable, so it can be checked before expansion."""
    return "$" not in value


def _bool(value: str, key: str, span: Span) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise PalletError(f"invalid value for {key}: {value}", span=span,
                      hint=f"use {key}=true or {key}=false")


def parse_mount(raw: str, span: Span) -> RunMount:
    """One ``--mount=type=...,target=...`` value (comma-separated, CSV quoting)."""
    import csv

    try:
        fields = next(csv.reader([raw]))
    except (csv.Error, StopIteration) as error:
        raise PalletError(f"failed to parse mount {raw!r}: {error}", span=span) from error
    values: dict[str, object] = {"type": "bind"}
    readonly: bool | None = None
    for field in fields:
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if not sep:
            if key in ("readonly", "ro"):
                readonly = True
                continue
            if key in ("readwrite", "rw"):
                readonly = False
                continue
            if key == "required":
                values["required"] = True
                continue
            raise PalletError(f"invalid field '{field}' must be a key=value pair", span=span,
                              hint="write --mount=type=cache,target=/path")
        if key == "type":
            lowered = value.lower()
            if _static(value) and lowered not in MOUNT_TYPES:
                guess = did_you_mean(lowered, MOUNT_TYPES)
                raise PalletError(f"unsupported mount type {value!r}", span=span,
                                  hint=f"did you mean {guess}?" if guess else
                                  "types: " + ", ".join(MOUNT_TYPES))
            values["type"] = lowered if _static(value) else value
        elif key in ("source", "src"):
            values["source"] = value
        elif key in ("target", "dst", "destination"):
            values["target"] = value
        elif key == "from":
            values["from_"] = value
        elif key in ("readonly", "ro"):
            readonly = _bool(value, key, span) if _static(value) else readonly
        elif key in ("readwrite", "rw"):
            readonly = (not _bool(value, key, span)) if _static(value) else readonly
        elif key == "required":
            values["required"] = _bool(value, key, span) if _static(value) else True
        elif key == "sharing":
            if _static(value) and value.lower() not in SHARING:
                raise PalletError(f"unsupported sharing value {value!r}", span=span,
                                  hint="use sharing=shared, private or locked")
            values["sharing"] = value.lower()
        elif key in ("id", "mode", "uid", "gid", "env", "size"):
            if key in ("uid", "gid") and _static(value) and parse_uint32(value, 10) is None:
                raise PalletError(f"invalid value {value} for {key}", span=span)
            if key == "mode" and _static(value) and parse_uint32(value, 8) is None:
                raise PalletError(f"invalid value {value} for mode", span=span,
                                  hint="mode is octal, e.g. mode=0600")
            values[key] = value
        else:
            guess = did_you_mean(key, MOUNT_KEYS)
            raise PalletError(f"unexpected key '{key}' in '{field}'", span=span,
                              hint=f"did you mean {guess}?" if guess else None)
    kind = values["type"]
    if not _static(kind):  # type=$T: the builder checks the combination after expansion
        return RunMount(readonly=True if readonly is None else readonly, raw=raw, span=span,
                        **values)  # type: ignore[arg-type]
    if kind not in ("secret", "ssh") and values.get("required"):
        raise PalletError(f"unexpected key 'required' for mount type '{kind}'", span=span)
    for key in ("mode", "uid", "gid"):
        if key in values and kind not in ("secret", "ssh", "cache"):
            raise PalletError(f"{key} not allowed for {kind!r} type mounts", span=span)
    if "sharing" in values and kind != "cache":
        raise PalletError(f"invalid cache sharing set for {kind} mount", span=span)
    if kind == "secret" and "from_" in values:
        raise PalletError("secret mount should not have a from", span=span)
    if kind != "tmpfs" and "size" in values:
        raise PalletError(f"size not allowed for {kind!r} type mounts", span=span)
    if kind == "cache" and not values.get("target"):
        raise PalletError("cache mount needs a target", span=span,
                          hint="write --mount=type=cache,target=/path")
    if kind in ("bind", "tmpfs") and not values.get("target"):
        raise PalletError(f"{kind} mount needs a target", span=span,
                          hint=f"write --mount=type={kind},target=/path")
    if readonly is None:
        readonly = kind not in ("cache", "tmpfs")
    return RunMount(readonly=readonly, raw=raw, span=span, **values)  # type: ignore[arg-type]
