"""POST /containers/create: the ContainerCreate body -> the engine's CreateRequest.

Everything the runtime can do is translated; a field asking for something it cannot do (a
non-zero value where Docker's zero means "not asked") is refused with a 400 that names it,
never silently dropped. The checks every front shares (memory minimum, CPU range,
capabilities, restart policy) are the engine's (request.check_request).
"""

from __future__ import annotations

from pallet.api.protocol import ApiError

# HostConfig fields pallet cannot honour yet: refused unless they hold their zero value.
_UNSUPPORTED_HOST = {
    "Links": "links", "VolumesFrom": "--volumes-from", "Devices": "devices",
    "DeviceRequests": "device requests (GPUs)", "DeviceCgroupRules": "device cgroup rules",
    "Sysctls": "sysctls", "GroupAdd": "supplementary groups (--group-add)",
    "PidMode": "a shared PID namespace", "UTSMode": "a shared UTS namespace",
    "UsernsMode": "user namespaces", "CgroupParent": "a cgroup parent",
    "OomScoreAdj": "an OOM score adjustment", "OomKillDisable": "disabling the OOM killer",
    "CpuShares": "CPU shares", "CpusetCpus": "a CPU set", "CpusetMems": "a memory-node set",
    "CpuRealtimePeriod": "realtime CPU periods", "CpuRealtimeRuntime": "realtime CPU runtime",
    "BlkioWeight": "block I/O weights", "MemoryReservation": "a memory reservation",
    "KernelMemory": "kernel memory limits", "KernelMemoryTCP": "kernel TCP memory limits",
    "StorageOpt": "storage options", "BlkioWeightDevice": "block I/O weights",
    "BlkioDeviceReadBps": "block I/O limits", "BlkioDeviceWriteBps": "block I/O limits",
    "BlkioDeviceReadIOps": "block I/O limits", "BlkioDeviceWriteIOps": "block I/O limits",
    "CpuCount": "CPU counts", "CpuPercent": "CPU percentages",
    "IOMaximumIOps": "I/O limits", "IOMaximumBandwidth": "I/O limits",
}


def _refuse(what: str) -> ApiError:
    return ApiError(400, f"pallet cannot run containers with {what}: this engine does not "
                         "support it")


def _zero(value) -> bool:
    if isinstance(value, dict):
        return all(_zero(v) for v in value.values()) if value else True
    return value in (None, "", 0, False, [], {})


def _object(body, key: str) -> dict:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"invalid {key}: expected an object")
    return value


def _strings(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"invalid {what}: expected a list of strings")
    return tuple(value)


def _network(body: dict, host: dict) -> dict:
    """NetworkMode, the endpoint settings of its network (aliases, address, MAC), published
    and exposed ports: the CreateRequest fields the CLI's network flags fill."""
    from pallet.base.errors import PalletError
    from pallet.runtime.network.ports import parse_publish
    mode = host.get("NetworkMode") or "default"
    endpoints = (_object(body, "NetworkingConfig").get("EndpointsConfig") or {})
    if not isinstance(endpoints, dict):
        raise ApiError(400, "invalid NetworkingConfig.EndpointsConfig: expected an object")
    if not all(isinstance(value, (dict, type(None))) for value in endpoints.values()):
        raise ApiError(400, "invalid NetworkingConfig.EndpointsConfig: expected objects")
    if mode in ("default", "bridge") and endpoints and \
            not endpoints.keys() & {"default", "bridge"}:
        mode = next(iter(endpoints))   # the network named by the endpoint (as docker-py sends)
    endpoint = endpoints.get(mode) or {}
    publish, more = [], []
    try:
        from pallet.runtime.network.model import Attachment
        for name, other in endpoints.items():   # API 1.44: more networks joined at start
            if name != mode and not (name in ("default", "bridge") and
                                     mode in ("default", "bridge")):
                other = other or {}
                more.append(Attachment(
                    network=name, aliases=_strings(other.get("Aliases"), "Aliases"),
                    address=(other.get("IPAMConfig") or {}).get("IPv4Address") or ""))
        for key, bindings in (host.get("PortBindings") or {}).items():
            port, _, proto = key.partition("/")
            for binding in bindings or [{}]:
                ip, hostport = (binding or {}).get("HostIp") or "", \
                    (binding or {}).get("HostPort") or ""
                text = f"{port}/{proto or 'tcp'}"
                if ip or hostport:
                    text = f"{ip}:{hostport}:{text}" if ip else f"{hostport}:{text}"
                publish += parse_publish(text)
        mac = body.get("MacAddress") or endpoint.get("MacAddress") or ""
        if mac:
            from pallet.runtime.network import ipam
            mac = ipam.parse_mac(mac)
    except PalletError as error:
        raise ApiError(400, error.message) from error
    expose = tuple(key if "/" in key else f"{key}/tcp" for key in
                   (body.get("ExposedPorts") or {}))
    return {"network": mode, "publish": tuple(publish),
            "publish_all": bool(host.get("PublishAllPorts")), "expose": expose,
            "ip": ((endpoint.get("IPAMConfig") or {}).get("IPv4Address")) or "",
            "aliases": tuple(endpoint.get("Aliases") or ()), "mac_address": mac,
            "more_networks": tuple(more),
            "dns_search": _strings(host.get("DnsSearch"), "DnsSearch"),
            "dns_options": _strings(host.get("DnsOptions"), "DnsOptions")}


def _volumes(config: dict, host: dict):
    # the -v/--tmpfs forms' one parser, shared with the CLI (Binds are -v's text)
    from pallet.runtime.container.mount_specs import parse_tmpfs, parse_volume
    from pallet.runtime.container.request import VolumeSpec
    specs = [parse_volume(text) for text in _strings(host.get("Binds"), "HostConfig.Binds")]
    for mount in host.get("Mounts") or []:
        if not isinstance(mount, dict):
            raise ApiError(400, "invalid HostConfig.Mounts: expected objects")
        kind = mount.get("Type") or "volume"
        target = mount.get("Target") or ""
        if kind not in ("bind", "volume", "tmpfs"):
            raise ApiError(400, f"invalid mount config: mount type {kind} is not supported")
        if not target:
            raise ApiError(400, "invalid mount config: Target must not be empty")
        if kind == "tmpfs":
            options = []
            tmpfs = mount.get("TmpfsOptions") or {}
            if tmpfs.get("SizeBytes"):
                options.append(f"size={int(tmpfs['SizeBytes'])}")
            if tmpfs.get("Mode"):
                options.append(f"mode={int(tmpfs['Mode']):o}")
            specs.append(parse_tmpfs(f"{target}:{','.join(options)}"))
            continue
        if kind == "bind" and not mount.get("Source"):
            raise ApiError(400, "invalid mount config for type \"bind\": field Source must "
                                "not be empty")
        specs.append(VolumeSpec(type=kind, source=mount.get("Source") or "", target=target,
                                readonly=bool(mount.get("ReadOnly"))))
    for target, options in (host.get("Tmpfs") or {}).items():
        specs.append(parse_tmpfs(f"{target}:{options or ''}"))
    for target in (config.get("Volumes") or {}):
        if not any(spec.target == target for spec in specs):
            specs.append(VolumeSpec(type="volume", source="", target=target))
    return tuple(specs)


def _restart(host: dict) -> str:
    policy = host.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    count = policy.get("MaximumRetryCount") or 0
    if count and name != "on-failure":
        raise ApiError(400, f"invalid restart policy: maximum retry count cannot be used with "
                            f"restart policy '{name}'")
    return f"{name}:{count}" if count else name


def _security(host: dict) -> bool:
    no_new_privileges = False
    for option in _strings(host.get("SecurityOpt"), "HostConfig.SecurityOpt"):
        if option in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            no_new_privileges = True
        elif option not in ("no-new-privileges:false", "no-new-privileges=false"):
            raise ApiError(400, f"invalid --security-opt: {option!r}")
    return no_new_privileges


def _cpus(host: dict) -> float | None:
    if host.get("NanoCpus"):
        if host.get("CpuQuota") or host.get("CpuPeriod"):
            raise ApiError(400, "Conflicting options: Nano CPUs and CPU Period cannot both be set")
        return host["NanoCpus"] / 1e9
    if host.get("CpuQuota"):
        period = host.get("CpuPeriod") or 100_000
        return host["CpuQuota"] / period
    return None


def _ulimits(host: dict):
    from pallet.runtime.isolation.process import RLIMITS
    from pallet.runtime.isolation.spec import Ulimit
    result = []
    for item in host.get("Ulimits") or []:
        name = (item or {}).get("Name")
        if name not in RLIMITS:
            raise ApiError(400, f"invalid ulimit: {name}")
        soft, hard = item.get("Soft"), item.get("Hard")
        if not isinstance(soft, int) or not isinstance(hard, int):
            raise ApiError(400, f"invalid ulimit {name}: Soft and Hard must be integers")
        result.append(Ulimit(name=name, soft=soft, hard=hard))
    return tuple(result)


def _check_unsupported(config: dict, host: dict) -> None:
    for key, what in _UNSUPPORTED_HOST.items():
        if not _zero(host.get(key)):
            raise _refuse(what)
    if host.get("IpcMode") not in (None, "", "private", "shareable"):
        raise _refuse(f"IPC mode {host['IpcMode']!r}")
    if host.get("MemorySwappiness") not in (None, -1):
        raise _refuse("a memory swappiness")
    if (host.get("LogConfig") or {}).get("Type") not in (None, "", "json-file"):
        raise _refuse(f"the {host['LogConfig']['Type']} logging driver (pallet logs as json-file)")
    if host.get("VolumeDriver") not in (None, "", "local"):
        raise _refuse(f"the volume driver {host['VolumeDriver']!r}")
    if host.get("Runtime") not in (None, "", "pallet", "runc"):
        raise _refuse(f"the runtime {host['Runtime']!r}")
    if host.get("ShmSize") not in (None, 0, 64 * 1024 * 1024):
        raise _refuse("a /dev/shm size other than 64 MB")
    if host.get("Isolation") not in (None, "", "default"):
        raise _refuse(f"isolation {host['Isolation']!r}")
    if config.get("Domainname"):
        raise _refuse("a domain name")


def create_options(body: dict, name: str | None):
    from pallet.runtime.container.request import CreateRequest
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON: expected an object")
    host = _object(body, "HostConfig")
    image = body.get("Image")
    if not image or not isinstance(image, str):
        raise ApiError(400, "No image was specified: give Image")
    _check_unsupported(body, host)
    entrypoint = body.get("Entrypoint")
    if isinstance(entrypoint, str):
        entrypoint = (entrypoint,)
    elif entrypoint is not None:
        entrypoint = _strings(entrypoint, "Entrypoint")
    labels = _object(body, "Labels")
    if not all(isinstance(v, str) for v in labels.values()):
        raise ApiError(400, "invalid Labels: values must be strings")
    stop_timeout = body.get("StopTimeout")
    pids = host.get("PidsLimit")
    return CreateRequest(
        image=image, command=_strings(body.get("Cmd"), "Cmd"), entrypoint=entrypoint,
        name=name or None, env=_strings(body.get("Env"), "Env"),
        workdir=body.get("WorkingDir") or None, user=body.get("User") or None,
        hostname=body.get("Hostname") or None, tty=bool(body.get("Tty")),
        interactive=bool(body.get("OpenStdin")), stdin_once=bool(body.get("StdinOnce")),
        volumes=_volumes(body, host), readonly_rootfs=bool(host.get("ReadonlyRootfs")),
        memory=host.get("Memory") or None,
        memory_swap=host.get("MemorySwap") or None, cpus=_cpus(host),
        pids_limit=pids if pids and pids > 0 else None,
        cap_add=_strings(host.get("CapAdd"), "CapAdd"),
        cap_drop=_strings(host.get("CapDrop"), "CapDrop"),
        privileged=bool(host.get("Privileged")), no_new_privileges=_security(host),
        init=bool(host.get("Init")), auto_remove=bool(host.get("AutoRemove")),
        restart=_restart(host), labels=dict(labels),
        extra_hosts=_strings(host.get("ExtraHosts"), "ExtraHosts"),
        dns=_strings(host.get("Dns"), "Dns"), ulimits=_ulimits(host),
        stop_signal=body.get("StopSignal") or None,
        stop_timeout=stop_timeout if isinstance(stop_timeout, int) else None,
        healthcheck=body.get("Healthcheck") or None, **_network(body, host))


def create(request):
    from pallet.base.errors import PalletError
    from pallet.runtime.container.lifecycle import create_container
    from pallet.runtime.container.state import NameConflict
    from pallet.runtime.image.images import ImageNotFound
    from pallet.api.protocol import Reply
    import json
    name = request.arg("name")
    if name is not None and "/" in name.lstrip("/"):
        raise ApiError(400, f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                            "are allowed")
    options = create_options(request.json(), name)
    try:
        record = create_container(request.server.root, options)
    except ImageNotFound as error:
        from pallet.runtime.store.references import familiar_string, parse_reference
        try:
            shown = familiar_string(str(parse_reference(options.image).with_default_tag()))
        except PalletError:
            shown = options.image
        raise ApiError(404, f"No such image: {shown}") from error
    except NameConflict:
        raise
    except PalletError as error:
        if type(error).__name__ == "NetworkNotFound":
            raise ApiError(404, error.message) from error
        raise ApiError(400, error.message) from error
    body = json.dumps({"Id": record.id, "Warnings": []}).encode()
    return Reply(201, body, "application/json")
