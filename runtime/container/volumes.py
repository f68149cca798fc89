"""A container's mounts at create: the requested VolumeSpecs, --volumes-from and the image's
VOLUMEs resolved into Docker's Mounts list (volumes created and filled from the image)."""

from __future__ import annotations

import os
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.runtime.container.request import CreateRequest, VolumeSpec


def host_mount(volume: VolumeSpec) -> dict:
    """HostConfig.Mounts' entry for a --mount flag, as Docker records it."""
    entry = {"Type": volume.type, "Source": volume.source, "Target": volume.target}
    if not volume.source:
        del entry["Source"]
    if volume.readonly:
        entry["ReadOnly"] = True
    if volume.nocopy:
        entry["VolumeOptions"] = {"NoCopy": True, "DriverConfig": {}}
    return entry


def resolve_volumes(options: CreateRequest, image_config: dict, root: Path,
                    container_id: str, lower_dirs: list[Path]) -> list[dict]:
    """Docker's Mounts list: -v/--mount/--tmpfs, then --volumes-from, then the image's VOLUMEs
    not already covered. Everything is checked before any volume is created, so a refused
    request leaves no volume behind; new volumes are filled from the image (copy-up)."""
    for target in image_config.get("Volumes") or {}:
        if not target.startswith("/"):   # an image's config is data: checked like a -v
            raise PalletError(f"invalid mount path in the image's Volumes: '{target}' mount "
                              "path must be absolute", exit_code=125)
    requests = []
    for volume in options.volumes:
        target = os.path.normpath(volume.target)
        if not volume.target.startswith("/"):
            raise PalletError(f"invalid volume specification: '{volume.spec}': invalid mount "
                              f'config for type "{volume.type}": invalid mount path: '
                              f"'{volume.target}' mount path must be absolute", exit_code=125)
        if volume.type == "volume" and volume.source:
            from pallet.runtime.volume.store import check_name   # only then: it loads uuid
            try:
                check_name(volume.source, short_ok=True)   # docker run -v x:/d is accepted
            except PalletError as error:
                raise PalletError(error.message, exit_code=125) from None
        if volume.type == "bind" and not os.path.exists(volume.source) and volume.mode is None:
            raise PalletError(f"invalid mount config for type \"bind\": bind source path does "
                              f"not exist: {volume.source}", exit_code=125)
        requests.append((volume, target))
    inherited = _volumes_from(root, options.volumes_from)
    targets = {target for _, target in requests} | {m["Destination"] for m in inherited}
    mounts: list[dict] = []
    for volume, target in requests:
        if volume.type == "bind":
            if not os.path.exists(volume.source):
                os.makedirs(volume.source, mode=0o755, exist_ok=True)  # -v creates it, as Docker
            mounts.append({"Type": "bind", "Source": os.path.abspath(volume.source),
                           "Destination": target, "Mode": volume.mode or "",
                           "RW": not volume.readonly, "Propagation": "rprivate"})
        elif volume.type == "tmpfs":
            mounts.append({"Type": "tmpfs", "Source": "", "Destination": target, "Mode": "",
                           "RW": not volume.readonly, "Propagation": "",
                           "Options": list(volume.options)})
        else:
            mode = volume.mode if volume.mode is not None else "z"
            if volume.mode == "" and volume.source:
                mode = "z"
            mounts.append(_volume_mount(root, volume.source or None, target, volume.readonly,
                                        lower_dirs, mode, volume.nocopy))
    mounts += inherited
    for target in sorted(image_config.get("Volumes") or {}):
        if os.path.normpath(target) not in targets:
            mounts.append(_volume_mount(root, None, os.path.normpath(target), False, lower_dirs,
                                        "", False))
    return mounts


def _volumes_from(root: Path, references: tuple[str, ...]) -> list[dict]:
    """--volumes-from CONTAINER[:ro|:rw]: that container's volumes and binds, same sources."""
    from pallet.runtime.container.state import ContainerStore
    found = []
    for reference in references:
        name, _, mode = reference.partition(":")
        if mode not in ("", "ro", "rw"):
            raise PalletError(f"invalid mode: {mode}", exit_code=125)
        try:
            record = ContainerStore(root).resolve(name)
        except PalletError as error:
            raise PalletError(error.message, exit_code=125) from None
        for mount in record.config.get("Mounts") or []:
            if mount["Type"] in ("volume", "bind"):
                copied = {k: v for k, v in mount.items() if k != "Anonymous"}
                if mode:
                    copied["RW"] = mode == "rw"
                found.append(copied)
    return found


def _volume_mount(root: Path, name: str | None, target: str, readonly: bool,
                  lower_dirs: list[Path], mode: str, nocopy: bool) -> dict:
    from pallet.runtime.volume.mounting import copy_up, mount_volume
    from pallet.runtime.volume.store import create_volume
    try:
        volume = create_volume(root, name, anonymous=name is None, short_ok=True)
        if not nocopy and "nocopy" not in mode.split(","):
            mount_volume(volume)
            copy_up(volume, target, lower_dirs)
    except PalletError as error:
        raise PalletError(error.message, exit_code=125) from None
    return {"Type": "volume", "Name": volume.name, "Source": str(volume.data),
            "Destination": target, "Driver": "local", "Mode": mode, "RW": not readonly,
            "Propagation": "", "Anonymous": volume.anonymous}

