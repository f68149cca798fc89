"""The typed create request the CLI builds (CreateRequest) -> the Engine API's ContainerCreate
body, in one place: the inverse of pallet/api/create.py, so a remote host creates what the
local store would. The docker CLI's choices where the API has several spellings: -v texts as
HostConfig.Binds, --mount as HostConfig.Mounts, --tmpfs as HostConfig.Tmpfs, --entrypoint as a
one-element list ("" clears it), --cpus as NanoCpus.

    create_body(options) -> (body: dict, name: str | None)
"""

from __future__ import annotations

TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev")


def _volumes(options) -> tuple[list[str], list[dict], dict[str, str], dict[str, dict]]:
    binds, mounts, tmpfs, anonymous = [], [], {}, {}
    for spec in options.volumes:
        if spec.type == "tmpfs" and not spec.spec:         # --tmpfs PATH[:OPTIONS]
            given = spec.options[len(TMPFS_DEFAULTS):] \
                if spec.options[:len(TMPFS_DEFAULTS)] == TMPFS_DEFAULTS else spec.options
            tmpfs[spec.target] = ",".join(given)
        elif spec.mode is not None and spec.spec:            # -v [SRC:]DST[:MODE]
            if spec.type == "volume" and not spec.source:
                anonymous[spec.target] = {}
            else:
                binds.append(spec.spec)
        else:                                                # --mount
            mount = {"Type": spec.type, "Target": spec.target}
            if spec.source:
                mount["Source"] = spec.source
            if spec.readonly:
                mount["ReadOnly"] = True
            if spec.type == "volume" and spec.nocopy:
                mount["VolumeOptions"] = {"NoCopy": True}
            if spec.type == "tmpfs":
                mount["TmpfsOptions"] = _tmpfs_options(spec.options)
            mounts.append(mount)
    return binds, mounts, tmpfs, anonymous


def _tmpfs_options(options: tuple[str, ...]) -> dict:
    result = {}
    for option in options:
        key, _, value = option.partition("=")
        if key == "size":
            result["SizeBytes"] = int(value)
        elif key == "mode":
            result["Mode"] = int(value, 8)
    return result


def _ports(options) -> tuple[dict, dict]:
    """(ExposedPorts, HostConfig.PortBindings) from -p requests and --expose keys."""
    exposed: dict[str, dict] = {key: {} for key in options.expose}
    bindings: dict[str, list] = {}
    for request in options.publish:
        count = request.container_end - request.container_start + 1
        for offset in range(count):
            key = f"{request.container_start + offset}/{request.proto}"
            exposed[key] = {}
            host = ""
            if request.host_start:
                host = str(request.host_start + offset) if request.host_end else \
                    str(request.host_start)
                if request.host_end and request.host_end - request.host_start + 1 != count:
                    host = f"{request.host_start}-{request.host_end}"
            bindings.setdefault(key, []).append({"HostIp": request.host_ip, "HostPort": host})
    return exposed, bindings


def _restart(policy: str) -> dict:
    from pallet.runtime.container.request import parse_restart
    return parse_restart(policy)


def create_body(options) -> tuple[dict, str | None]:
    binds, mounts, tmpfs, anonymous = _volumes(options)
    exposed, bindings = _ports(options)
    entrypoint = options.entrypoint
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    elif entrypoint is not None:
        entrypoint = list(entrypoint)
    stdin_once = options.interactive if options.stdin_once is None else options.stdin_once
    host: dict = {
        "Binds": binds or None, "Mounts": mounts or None, "Tmpfs": tmpfs or None,
        "NetworkMode": options.network, "PortBindings": bindings or None,
        "PublishAllPorts": options.publish_all, "RestartPolicy": _restart(options.restart),
        "AutoRemove": options.auto_remove, "ReadonlyRootfs": options.readonly_rootfs,
        "Memory": options.memory or 0, "MemorySwap": options.memory_swap or 0,
        "NanoCpus": int(round(options.cpus * 1e9)) if options.cpus else 0,
        "PidsLimit": options.pids_limit, "CapAdd": list(options.cap_add) or None,
        "CapDrop": list(options.cap_drop) or None, "Privileged": options.privileged,
        "SecurityOpt": list(options.security_opt) or None, "Init": options.init or None,
        "ExtraHosts": list(options.extra_hosts) or None, "Dns": list(options.dns),
        "DnsSearch": list(options.dns_search), "DnsOptions": list(options.dns_options),
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard}
                    for u in options.ulimits] or None,
        "VolumesFrom": list(options.volumes_from) or None,
    }
    body: dict = {
        "Image": options.image, "Cmd": list(options.command) or None, "Entrypoint": entrypoint,
        "Env": list(options.env), "WorkingDir": options.workdir or "",
        "User": options.user or "", "Hostname": options.hostname or "", "Tty": options.tty,
        "OpenStdin": options.interactive, "StdinOnce": bool(stdin_once),
        "AttachStdin": options.interactive, "AttachStdout": True, "AttachStderr": True,
        "Labels": dict(options.labels), "ExposedPorts": exposed or None,
        "Volumes": anonymous or None, "HostConfig": host,
    }
    if options.stop_signal:
        body["StopSignal"] = options.stop_signal
    if options.stop_timeout is not None:
        body["StopTimeout"] = options.stop_timeout
    if options.healthcheck is not None:
        body["Healthcheck"] = options.healthcheck
    if options.mac_address:
        body["MacAddress"] = options.mac_address
    if options.aliases or options.ip:
        endpoint: dict = {}
        if options.aliases:
            endpoint["Aliases"] = list(options.aliases)
        if options.ip:
            endpoint["IPAMConfig"] = {"IPv4Address": options.ip}
        body["NetworkingConfig"] = {"EndpointsConfig": {options.network: endpoint}}
    return body, options.name
