"""The typed request to create a container: what both fronts (the CLI's run/create flags, the
Engine API's ContainerCreate body) build and hand to lifecycle.create_container, and the
engine's own checks of it, whichever front built it.

    VolumeSpec      one -v/--mount/--tmpfs (HostConfig.Binds/Mounts/Tmpfs) request
    CreateRequest   everything `create` is asked for
    check_request(request)   Docker's daemon-side refusals (exit 125), before anything is made
    parse_restart(text)      --restart / RestartPolicy as Docker records it
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from pallet.base.errors import PalletError
from pallet.runtime.isolation.spec import Ulimit


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
class CreateRequest:
    """What a container is created from: the CLI's flags or the API's create body, typed."""

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
    # more user networks to join at start, after the one above (the API's EndpointsConfig
    # from 1.44 on; runtime.network.model.Attachment each)
    more_networks: tuple = ()
    ulimits: tuple[Ulimit, ...] = ()
    stop_signal: str | None = None
    stop_timeout: int | None = None
    healthcheck: dict | None = None  # Docker's Healthcheck shape; None keeps the image's
    volumes_from: tuple[str, ...] = ()



def check_request(options: CreateRequest) -> None:
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

