"""``RUN --mount`` options after expansion, with BuildKit's defaults, and their cache-key form."""

from __future__ import annotations

import os.path
from typing import Any, Callable

from pallet.builder.plan_common import source_line_of, stage_reference
from pallet.builder.steps import MountSpec
from pallet.base.errors import PalletError



def compile_mount(mount, inst, *, expand: Callable[[str | None], str | None],
                  stage_names: dict[str, int], stage_count: int, workdir: str) -> MountSpec:
    """One parsed mount (grammar.ast.RunMount) -> MountSpec: values expanded, ids and
    targets defaulted (cache id = the cleaned target as written; secret id = basename of
    target, target /run/secrets/<id> unless only env= is wanted), a relative target joined
    to the WORKDIR in effect (as BuildKit does: `docker init`'s Python template mounts
    ``target=requirements.txt``), ``from`` resolved to a stage or image."""
    from pallet.grammar.globmatch import clean

    value = expand
    kind = mount.type
    target = value(mount.target) or ""
    source = value(mount.source) or ""
    mount_id = value(mount.id) or ""
    env = value(mount.env)
    if kind == "secret":
        mount_id = mount_id or os.path.basename(target)
        if not target and not env:
            target = f"/run/secrets/{mount_id}"
    elif kind == "cache":
        mount_id = mount_id or clean(target)
    if not target and kind != "secret":
        raise PalletError(f"mount type {kind} requires a target", span=inst.span,
                          source_line=source_line_of(inst))
    if target and not clean(target).startswith("/"):
        target = clean(f"/{workdir}/{target}")  # Go's filepath.Join("/", dir, target)
    if target == "/":
        raise PalletError(f'invalid mount target "{target}"', span=inst.span,
                          source_line=source_line_of(inst),
                          hint="a RUN --mount cannot cover the whole root; name a directory")
    from_stage = from_image = None
    if mount.from_:
        from_stage = stage_reference(mount.from_, stage_names,
                                     stage_count=stage_count, span=inst.span,
                                     source_line=source_line_of(inst))
        if from_stage is None:
            from_image = mount.from_
    return MountSpec(type=kind, target=target, source=source, from_stage=from_stage,
                     from_image=from_image, readonly=mount.readonly, id=mount_id,
                     sharing=value(mount.sharing) or "shared",
                     mode=_int(value(mount.mode), 8, inst), uid=_int(value(mount.uid), 10, inst),
                     gid=_int(value(mount.gid), 10, inst), size=_size(value(mount.size), inst),
                     required=mount.required, env=env)


def mount_key(mount: MountSpec) -> dict[str, Any]:
    """A mount in the cache key: its definition (a cache id, a secret id), never contents."""
    return {"type": mount.type, "target": mount.target, "source": mount.source,
            "from_image": mount.from_image, "readonly": mount.readonly, "id": mount.id,
            "sharing": mount.sharing, "mode": mount.mode, "uid": mount.uid, "gid": mount.gid,
            "size": mount.size, "env": mount.env, "required": mount.required}


def _int(text: str | None, base: int, inst) -> int | None:
    """An expanded uid, gid or mode, read as BuildKit reads it (grammar.flags.parse_uint32:
    a uid of 99999999999 reached chown as an internal OverflowError)."""
    from pallet.grammar.flags import parse_uint32

    if text is None or text == "":
        return None
    value = parse_uint32(text, base)
    if value is None:
        raise PalletError(f"invalid number {text!r} in --mount", span=inst.span,
                          source_line=source_line_of(inst),
                          hint="uid, gid and mode are unsigned 32-bit numbers (mode in octal)")
    return value


def _size(text: str | None, inst) -> int | None:
    """BuildKit reads a mount's size as go-units RAMInBytes."""
    from pallet.base.units import parse_size

    if not text:
        return None
    try:
        return parse_size(text)
    except ValueError as error:
        raise PalletError(f"invalid size {text!r} in --mount", span=inst.span,
                          source_line=source_line_of(inst)) from error
