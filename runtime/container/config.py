"""From `create` options and an image to a container record, and from a record to a spec.

Docker's rules live here: Entrypoint + Cmd, the environment (PATH default, HOSTNAME, TERM for
a TTY, image Env overridden by -e), WorkingDir, User, volumes (named, anonymous from the image's
Volumes, binds), tmpfs, limits and the restart policy.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.base.units import now_rfc3339
from pallet.runtime.isolation.spec import (DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS, ContainerSpec,
                                 Mount, Ulimit)


@dataclass(frozen=True)
class VolumeSpec:
    """A -v/--mount/--tmpfs request: type bind|volume|tmpfs; source empty = anonymous volume."""

    type: str
    source: str
    target: str
    readonly: bool = False
    options: tuple[str, ...] = ()
    mode: str | None = None    # -v's mode text as given ("ro", "rw,nocopy"); None for --mount
    nocopy: bool = False
    spec: str = ""             # the -v text (HostConfig.Binds) or the --mount text


@dataclass(frozen=True)
class CreateOptions:
    image: str
    command: tuple[str, ...] = ()
    entrypoint: str | tuple[str, ...] | None = None   # the API gives a list; "" or () clears it
    name: str | None = None
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    tty: bool = False
    interactive: bool = False
    stdin_once: bool | None = None   # None: as interactive (the CLI's -i is attached)
    volumes: tuple[VolumeSpec, ...] = ()
    readonly_rootfs: bool = False
    network: str = "default"
    memory: int | None = None
    memory_swap: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    no_new_privileges: bool = False
    seccomp: str = "default"  # "default", "unconfined" or a profile's compact JSON (as Docker)
    security_opt: tuple[str, ...] = ()  # as given (profile files as seccomp=<JSON>), for inspect
    init: bool = False
    auto_remove: bool = False
    restart: str = "no"
    labels: dict = field(default_factory=dict)
    extra_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    publish: tuple = ()                    # runtime.network.model.PortRequest per -p
    publish_all: bool = False
    expose: tuple[str, ...] = ()           # port keys ("80/tcp") from --expose
    ip: str = ""
    aliases: tuple[str, ...] = ()          # --network-alias
    mac_address: str = ""
    ulimits: tuple[Ulimit, ...] = ()
    stop_signal: str | None = None
    stop_timeout: int | None = None
    healthcheck: dict | None = None  # Docker's Healthcheck shape; None keeps the image's
    volumes_from: tuple[str, ...] = ()


def check_options(options: CreateOptions) -> None:
    """The engine's own checks of a create request, whichever front built it (Docker's
    daemon-side messages)."""
    from pallet.runtime.isolation.spec import normalize_capability
    if options.memory is not None and 0 < options.memory < 6 * 1024 * 1024:
        raise PalletError("Minimum memory limit allowed is 6MB", exit_code=125)
    if options.memory_swap not in (None, 0, -1):
        if not options.memory:
            raise PalletError("You should always set the Memory limit when using Memoryswap "
                              "limit, see usage", exit_code=125)
        if options.memory_swap < options.memory:
            raise PalletError("Minimum memoryswap limit should be larger than memory limit, "
                              "see usage", exit_code=125)
    if options.cpus is not None and options.cpus != 0:
        count = os.cpu_count() or 1
        if options.cpus < 0.01 or options.cpus > count:
            raise PalletError(f"range of CPUs is from 0.01 to {float(count):.2f}, as there are "
                              f"only {count} CPUs available", exit_code=125)
    for field_name, caps in (("CapAdd", options.cap_add), ("CapDrop", options.cap_drop)):
        for cap in caps:
            try:
                normalize_capability(cap)
            except ValueError:
                shown = cap.upper() if cap.upper().startswith("CAP_") else "CAP_" + cap.upper()
                raise PalletError(f'invalid {field_name}: unknown capability: "{shown}"',
                                  exit_code=125) from None
    for host in options.extra_hosts:
        name, sep, address = host.partition(":")
        if not sep or not name or any(c.isspace() for c in host):
            raise PalletError(f'invalid argument "{host}" for "--add-host" flag: bad format '
                              f'for add-host: "{host}"', exit_code=125)
    parse_restart(options.restart)


def merge_env(base: list[str], overrides: list[str]) -> list[str]:
    """Docker's ReplaceOrAppendEnvValues: same key replaces in place; 'KEY' alone unsets."""
    result = list(base)
    for item in overrides:
        key = item.split("=", 1)[0]
        index = next((i for i, e in enumerate(result) if e.split("=", 1)[0] == key), None)
        if "=" not in item:
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(item)
        else:
            result[index] = item
    return result


def merge_user_env(image_env: list[str], user_env: list[str]) -> list[str]:
    """Docker's create-time merge (daemon/commit.go Merge): the user's -e entries first, then
    each image entry whose key the user did not set."""
    if not user_env:
        return list(image_env)
    keys = {item.split("=", 1)[0] for item in user_env}
    return list(user_env) + [item for item in image_env if item.split("=", 1)[0] not in keys]


def _healthcheck(given: dict | None, image: dict | None) -> dict:
    """--health-* flags override the image's HEALTHCHECK field by field, as in Docker."""
    if given is None:
        return {"Healthcheck": image} if image else {}
    merged = {**(image or {}), **given}
    if not merged.get("Test"):
        return {}
    return {"Healthcheck": merged}


def _cap_names(caps: tuple[str, ...]) -> list[str] | None:
    """Docker 20.10 records capabilities normalized: 'net_admin' -> 'CAP_NET_ADMIN', 'ALL'."""
    from pallet.runtime.isolation.spec import normalize_capability
    names = [normalize_capability(c) for c in caps]
    return [n if n == "ALL" else f"CAP_{n}" for n in names] or None


def security_opt(options: CreateOptions) -> list[str] | None:
    """HostConfig.SecurityOpt as Docker records it: the options as given, a custom profile by
    its JSON text."""
    if options.security_opt:
        return list(options.security_opt)
    opts = ["no-new-privileges"] if options.no_new_privileges else []
    if options.seccomp != "default":
        opts.append(f"seccomp={options.seccomp}")
    return opts or None


def seccomp_of(host_config: dict) -> str:
    """The seccomp setting a container record carries: 'default', 'unconfined' or JSON."""
    for opt in host_config.get("SecurityOpt") or ():
        key, sep, value = opt.partition("=")
        if not sep:
            key, _, value = opt.partition(":")
        if key == "seccomp":
            return "default" if value == "builtin" else value
    return "default"


def parse_restart(policy: str) -> dict:
    """--restart NAME[:COUNT], with the texts of Docker's CLI (format) and daemon (policy)."""
    name, colon, count = policy.partition(":")
    if colon and not name:
        raise PalletError("invalid restart policy format: no policy provided before colon",
                          exit_code=125)
    if count and not re.fullmatch(r"[+-]?[0-9]+", count):
        raise PalletError("invalid restart policy format: maximum retry count must be an integer",
                          exit_code=125)
    if name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise PalletError(f"invalid restart policy '{name}'", exit_code=125)
    if count and name != "on-failure":
        raise PalletError(f"maximum retry count cannot be used with restart policy '{name}'",
                          exit_code=125)
    if count and int(count) < 0:
        raise PalletError("maximum retry count cannot be negative", exit_code=125)
    return {"Name": name or "no", "MaximumRetryCount": int(count or 0)}


def build_config(options: CreateOptions, image, container_id: str, name: str,
                 directory: Path, lower_dirs: list[Path], root: Path, *,
                 networks: dict | None = None, joined_hostname: str | None = None) -> dict:
    image_config = image.config.get("config") or {}
    if options.entrypoint is not None:
        if isinstance(options.entrypoint, tuple):
            # [""] is how API clients ask for no entrypoint at all
            entrypoint = list(options.entrypoint) if any(options.entrypoint) else []
        else:
            entrypoint = [options.entrypoint] if options.entrypoint else []
        cmd = list(options.command)
    else:
        entrypoint = list(image_config.get("Entrypoint") or [])
        cmd = list(options.command) or list(image_config.get("Cmd") or [])
    argv = entrypoint + cmd
    if not argv:
        raise PalletError("No command specified", hint="give a command after the image name",
                          exit_code=125)
    if options.network == "host":
        hostname = options.hostname or socket.gethostname()
    else:
        hostname = options.hostname or joined_hostname or container_id[:12]
    bindings = {}
    if options.publish and options.network != "host":
        from pallet.runtime.network.ports import bindings_of
        bindings = dict(sorted(bindings_of(list(options.publish)).items()))
    exposed = {**(image_config.get("ExposedPorts") or {}),
               **{key: {} for key in options.expose}, **{key: {} for key in bindings}}
    if options.publish_all:     # an image's keys are data: checked once they are published
        from pallet.runtime.network.ports import check_exposed_key
        for key in exposed:
            check_exposed_key(key)
    env = merge_user_env(list(image_config.get("Env") or []), list(options.env))
    restart = parse_restart(options.restart)
    if restart["Name"] != "no" and options.auto_remove:
        raise PalletError("conflicting options: cannot specify both --restart and --rm",
                          exit_code=125)
    workdir = options.workdir if options.workdir is not None else image_config.get("WorkingDir", "")
    if workdir and (not isinstance(workdir, str) or not workdir.startswith("/")):
        # the image's WORKDIR too: an image from elsewhere is untrusted input
        raise PalletError(f"the working directory '{workdir}' is invalid, it needs to be an "
                          "absolute path", exit_code=125)
    mounts = resolve_volumes(options, image_config, root, container_id, lower_dirs)  # creates volumes: last
    return {
        "Id": container_id,
        "Created": now_rfc3339(),
        "Path": argv[0],
        "Args": argv[1:],
        "Image": image.id,
        "ResolvConfPath": str(directory / "resolv.conf"),
        "HostnamePath": str(directory / "hostname"),
        "HostsPath": str(directory / "hosts"),
        "LogPath": str(directory / f"{container_id}-json.log"),
        "Name": f"/{name}",
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "HostConfig": {
            "Binds": [v.spec for v in options.volumes if v.mode is not None and v.source] or None,
            "Mounts": [_host_mount(v) for v in options.volumes
                       if v.mode is None and v.type != "tmpfs"] or None,
            "VolumesFrom": list(options.volumes_from) or None,
            "NetworkMode": options.network,
            "PortBindings": bindings, "PublishAllPorts": options.publish_all,
            "RestartPolicy": restart,
            "AutoRemove": options.auto_remove,
            "CapAdd": _cap_names(options.cap_add),
            "CapDrop": _cap_names(options.cap_drop),
            "Privileged": options.privileged,
            "ReadonlyRootfs": options.readonly_rootfs,
            "SecurityOpt": security_opt(options),
            "Memory": options.memory or 0,
            "MemorySwap": options.memory_swap or 0,
            "NanoCpus": int((options.cpus or 0) * 1e9),
            "PidsLimit": options.pids_limit,
            "Init": options.init or None,
            "ExtraHosts": list(options.extra_hosts) or None,
            "Dns": list(options.dns),
            "Tmpfs": {m["Destination"]: ",".join(m.get("Options") or []) for m in mounts
                      if m["Type"] == "tmpfs"} or None,
            "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in options.ulimits],
            "LogConfig": {"Type": "json-file", "Config": {}},
            "DnsOptions": list(options.dns_options), "DnsSearch": list(options.dns_search),
            "GroupAdd": None,
            "IpcMode": "private", "CgroupnsMode": "private", "ShmSize": 67108864,
            "Devices": [], "OomKillDisable": False, "Runtime": "pallet",
            "MaskedPaths": None if options.privileged else list(MASKED_PATHS),
            "ReadonlyPaths": None if options.privileged else list(READONLY_PATHS),
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": hostname, "Domainname": "", "User": options.user if options.user is not None else image_config.get("User", ""),
            "AttachStdin": options.interactive, "AttachStdout": True, "AttachStderr": True,
            **({"ExposedPorts": dict(sorted(exposed.items()))} if exposed else {}),
            "Tty": options.tty, "OpenStdin": options.interactive,
            "StdinOnce": options.interactive if options.stdin_once is None else options.stdin_once,
            "Env": env, "Cmd": cmd or None, "Image": options.image,
            "Volumes": {**(image_config.get("Volumes") or {}),
                        **{v.target: {} for v in options.volumes
                           if v.mode is not None and not v.source}} or None,
            "WorkingDir": workdir,
            "Entrypoint": entrypoint or None, "OnBuild": None,
            "Labels": {**(image_config.get("Labels") or {}), **options.labels},
            **({"StopSignal": options.stop_signal or image_config["StopSignal"]}
               if options.stop_signal or image_config.get("StopSignal") else {}),
            **({"StopTimeout": options.stop_timeout} if options.stop_timeout is not None else {}),
            **_healthcheck(options.healthcheck, image_config.get("Healthcheck")),
            **({"MacAddress": options.mac_address} if options.mac_address else {}),
        },
        "NetworkSettings": {"Networks": networks or {}},
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": ":".join(str(p) for p in lower_dirs),
            "UpperDir": str(directory / "upper"), "WorkDir": str(directory / "work"),
            "MergedDir": ""}},
        "Pallet": {"Ulimits": [[u.name, u.soft, u.hard] for u in options.ulimits],
                   "NoNewPrivileges": options.no_new_privileges,
                   "Memory": options.memory, "MemorySwap": options.memory_swap,
                   "Cpus": options.cpus},
    }


def _host_mount(volume: VolumeSpec) -> dict:
    """HostConfig.Mounts' entry for a --mount flag, as Docker records it."""
    entry = {"Type": volume.type, "Source": volume.source, "Target": volume.target}
    if not volume.source:
        del entry["Source"]
    if volume.readonly:
        entry["ReadOnly"] = True
    if volume.nocopy:
        entry["VolumeOptions"] = {"NoCopy": True, "DriverConfig": {}}
    return entry


def resolve_volumes(options: CreateOptions, image_config: dict, root: Path,
                    container_id: str, lower_dirs: list[Path]) -> list[dict]:
    """Docker's Mounts list: -v/--mount/--tmpfs, then --volumes-from, then the image's VOLUMEs
    not already covered. Everything is checked before any volume is created, so a refused
    request leaves no volume behind; new volumes are filled from the image (copy-up)."""
    from pallet.runtime.volume.store import check_name
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


def spec_from_config(config: dict, directory: Path) -> ContainerSpec:
    host = config["HostConfig"]
    extra = config.get("Pallet", {})
    env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={config['Config']['Hostname']}"]
    if config["Config"]["Tty"]:
        env.append("TERM=xterm")
    env = merge_env(env, config["Config"]["Env"] or [])
    mounts = tuple(Mount(type="bind" if m["Type"] in ("bind", "volume") else "tmpfs",
                         source=m["Source"], target=m["Destination"], readonly=not m["RW"],
                         options=tuple(m.get("Options") or ()))
                   for m in config["Mounts"])
    lowers = tuple(Path(p) for p in config["GraphDriver"]["Data"]["LowerDir"].split(":") if p)
    return ContainerSpec(
        rootfs_lowerdirs=lowers, upper_dir=directory / "upper", work_dir=directory / "work",
        argv=(config["Path"], *config["Args"]), env=tuple(env),
        cwd=config["Config"]["WorkingDir"] or "/", user=config["Config"]["User"] or "",
        hostname=config["Config"]["Hostname"],
        network="host" if host["NetworkMode"] == "host" else "none", mounts=mounts,
        memory=extra.get("Memory"), memory_swap=extra.get("MemorySwap"), cpus=extra.get("Cpus"),
        pids=host.get("PidsLimit"), extra_hosts=tuple(host.get("ExtraHosts") or ()),
        dns=tuple(host.get("Dns") or ()), readonly_rootfs=host["ReadonlyRootfs"],
        cap_add=tuple(host.get("CapAdd") or ()), cap_drop=tuple(host.get("CapDrop") or ()),
        privileged=host["Privileged"], no_new_privileges=extra.get("NoNewPrivileges", False),
        seccomp=seccomp_of(host), tty=config["Config"]["Tty"], init=bool(host.get("Init")),
        ulimits=tuple(Ulimit(*u) for u in extra.get("Ulimits", [])),
        etc_dir=directory, cgroup_name=f"pallet-{config['Id'][:16]}",
    )


__all__ = ["CreateOptions", "VolumeSpec", "build_config", "spec_from_config", "merge_env",
           "merge_user_env"]
