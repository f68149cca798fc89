"""From a CreateRequest and an image to a container record, and from a record to a spec.

Docker's rules live here: Entrypoint + Cmd, the environment (PATH default, HOSTNAME, TERM for
a TTY, image Env overridden by -e), WorkingDir, User, limits and the restart policy; the
request itself is request.py's, its mounts are resolved by volumes.py.
"""

from __future__ import annotations

from pathlib import Path
TYPE_CHECKING = False   # typing's flag without importing typing (~3 ms of every command)

from pallet.base.errors import PalletError
from pallet.base.units import now_rfc3339
from pallet.runtime.isolation.spec import (DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS, ContainerSpec,
                                 Mount, Ulimit)

if TYPE_CHECKING:   # the create path's modules: `exec` reads a config without them
    from pallet.runtime.container.request import CreateRequest


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


def security_opt(options: CreateRequest) -> list[str] | None:
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


def build_config(options: CreateRequest, image, container_id: str, name: str,
                 directory: Path, lower_dirs: list[Path], root: Path, *,
                 networks: dict | None = None, joined_hostname: str | None = None) -> dict:
    from pallet.runtime.container.request import parse_restart
    from pallet.runtime.container.volumes import host_mount, resolve_volumes
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
        import socket
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
            "Mounts": [host_mount(v) for v in options.volumes
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
            # dockerd records twice the memory when no swap is asked (adaptContainerSettings)
            "MemorySwap": options.memory_swap or (options.memory * 2 if options.memory else 0),
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
            "Env": env or None, "Cmd": cmd or None, "Image": options.image,
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


__all__ = ["build_config", "spec_from_config", "merge_env", "merge_user_env", "parse_restart"]


def parse_restart(text: str):
    """request.parse_restart, still importable from here (update.py does)."""
    from pallet.runtime.container.request import parse_restart as parse
    return parse(text)
