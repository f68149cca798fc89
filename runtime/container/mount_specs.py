"""The mount texts of a create request: `-v` (HostConfig.Binds), `--mount` and `--tmpfs`
(HostConfig.Tmpfs) parsed into VolumeSpecs with Docker's texts, for both fronts.

Docker checks these in two places, the CLI (docker/cli opts/mount.go, the -v spec splitter) and
the daemon (volume/mounts validateMountConfig, mount.ParseTmpfsOptions); the texts here are the
ones a private dockerd 20.10 behind CLI 28 prints (tests/cli/test_run_validation.py compares).
Every error is exit 125 and names the flag's value, before anything is created.
"""

from __future__ import annotations

from pallet.base.errors import PalletError
from pallet.runtime.container.request import VolumeSpec

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_MODE_KIND = {"rw": "rw", "ro": "rw", "z": "label", "Z": "label", "nocopy": "copy",
              **{name: "propagation" for name in PROPAGATIONS}}
# mount.ParseTmpfsOptions: mount flags, or these data keys
TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")
TMPFS_FLAGS = ("defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync",
               "async", "dirsync", "remount", "mand", "nomand", "atime", "noatime", "diratime",
               "nodiratime", "bind", "rbind", "unbindable", "runbindable", "private", "rprivate",
               "shared", "rshared", "slave", "rslave", "relatime", "norelatime", "strictatime",
               "nostrictatime", "tmpcopyup")


def _error(message: str) -> PalletError:
    return PalletError(message, exit_code=125)


def _absolute(path: str, kind: str, spec: str | None = None) -> None:
    if not path.startswith("/"):
        text = f"invalid mount config for type \"{kind}\": invalid mount path: '{path}' mount path must be absolute"
        raise _error(f"invalid volume specification: '{spec}': {text}" if spec else text)


def parse_volume(text: str):
    """-v [SOURCE:]TARGET[:MODE]: a bind when SOURCE is a path, else a named volume."""
    parts = text.split(":")
    if len(parts) > 3:
        raise _error(f"invalid spec: {text}: too many colons")
    if any(part == "" for part in parts):
        raise _error(f"invalid spec: {text}: empty section between colons")
    if len(parts) == 1:
        return VolumeSpec(type="volume", source="", target=parts[0], mode="", spec=text)
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    flags = mode.split(",") if mode else []
    # volume/mounts ValidMountMode: known words, at most one of each kind
    kinds = [_MODE_KIND.get(flag) for flag in flags]
    if None in kinds or len(set(kinds)) != len(kinds):
        raise _error(f"invalid mode: {mode}")
    kind = "bind" if source.startswith(("/", ".")) else "volume"
    _absolute(target, kind, text)
    if kind == "bind" and "nocopy" in flags:
        raise _error(f"invalid volume specification: '{text}': invalid mount config for type "
                     '"bind": field VolumeOptions must not be specified')
    return VolumeSpec(type=kind, source=source, target=target, readonly="ro" in flags,
                      mode=mode, nocopy="nocopy" in flags, spec=text)


def parse_mount(text: str):
    """--mount type=bind|volume|tmpfs,source=,target=,readonly,... (docker/cli opts/mount.go,
    then the daemon's validateMountConfig)."""
    from pallet.base.units import parse_size
    from pallet.base.go_values import parse_bool
    def bad(message: str) -> PalletError:
        return _error(f'invalid argument "{text}" for "--mount" flag: {message}')

    fields: dict[str, str] = {"type": "volume"}
    readonly = nocopy = False
    options: list[str] = []
    for field in text.split(","):
        key, has_value, value = field.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if not has_value:
            if key in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
                value = "true"
            else:
                raise bad(f"invalid field '{field}' must be a key=value pair")
        if key in ("type", "consistency", "volume-driver", "volume-subpath", "volume-label",
                   "volume-opt", "bind-propagation"):
            fields[key] = value
        elif key in ("source", "src"):
            fields["source"] = value
        elif key in ("target", "dst", "destination"):
            fields["target"] = value
        elif key in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            try:
                flag = parse_bool(value)
            except ValueError:
                raise bad(f"invalid value for {key}: {value}") from None
            readonly = flag if key in ("readonly", "ro") else readonly
            nocopy = flag if key == "volume-nocopy" else nocopy
        elif key == "tmpfs-size":
            try:
                options.append(f"size={parse_size(value)}")
            except ValueError:
                raise bad(f"invalid value for {key}: {value}") from None
        elif key == "tmpfs-mode":
            try:
                options.append(f"mode={int(value, 8):o}")
            except ValueError:
                raise bad(f"invalid value for {key}: {value}") from None
        else:
            raise bad(f"unexpected key '{key}' in '{field}'")
    kind, source, target = fields["type"], fields.get("source", ""), fields.get("target")
    if not target:
        raise bad("target is required")
    if kind not in ("bind", "volume", "tmpfs"):
        raise _error(f'invalid mount config for type "{kind}": mount type unknown')
    _absolute(target, kind)
    if kind == "bind":
        if not source:
            raise _error('invalid mount config for type "bind": field Source must not be empty')
        _absolute(source, kind)
        propagation = fields.get("bind-propagation")
        if propagation is not None and propagation not in PROPAGATIONS:
            raise _error(f'invalid mount config for type "bind": invalid propagation mode: {propagation}')
    if kind == "tmpfs":
        if source:
            raise _error('invalid mount config for type "tmpfs": field Source must not be specified')
        options = ["noexec", "nosuid", "nodev", *options]
    if kind == "volume" and not source and readonly:
        raise _error('invalid mount config for type "volume": must not set ReadOnly mode when '
                     "using anonymous volumes")
    return VolumeSpec(type=kind, source=source, target=target, readonly=readonly,
                      options=tuple(options), nocopy=nocopy, spec=text)


def parse_tmpfs(text: str):
    """--tmpfs PATH[:OPTIONS]: Docker's defaults are noexec,nosuid,nodev (options may undo)."""
    target, _, opts = text.partition(":")
    if not target.startswith("/"):
        raise _error(f"invalid mount path: '{target}' mount path must be absolute")
    given = tuple(option for option in opts.split(",") if option)
    for option in given:
        key = option.split("=", 1)
        if key[0] not in TMPFS_FLAGS and key[0] not in TMPFS_DATA:
            shown = " ".join(f'"{part}"' for part in key)   # Go's %q of a []string
            raise _error(f"invalid tmpfs option [{shown}]")
    return VolumeSpec(type="tmpfs", source="", target=target,
                      options=("noexec", "nosuid", "nodev") + given)
