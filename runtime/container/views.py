"""What a user sees of a container, computed once for both fronts (the CLI formats these, the
Engine API serialises them).

    inspect_document(record) -> dict        Docker's `container inspect` document
    status_text(state, now=None) -> str     ps's STATUS: "Up 3 minutes", "Exited (0) 2 hours ago"
    command_text(config) -> str             ps's COMMAND, untruncated, unquoted
    ContainerFilter.parse(root, {"label": ["a=b"], ...}) -> ContainerFilter;  .matches(record)
    container_rows(root, filters, all_=False, last=-1) -> list[ContainerRow]   what `ps` (and
        GET /containers/json) lists: newest first, running only unless all_, a status filter or
        a count (last) asks for more
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.base.humanize import human_duration

PRIVATE_STATE = ("PidStart", "MonitorPid", "MonitorStart")
STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
FILTER_KEYS = frozenset({"status", "name", "id", "ancestor", "label", "exited", "before",
                         "since", "health", "volume", "network", "is-task", "isolation",
                         "expose", "publish"})


def inspect_document(record, *, size: bool = False) -> dict:
    """config.json plus State, in Docker's field order, without our supervision fields; with
    size, Docker's SizeRw (the container's own files) and SizeRootFs (its image's too)."""
    state = {k: v for k, v in record.state.items() if k not in PRIVATE_STATE}
    document = {}
    for key, value in record.config.items():
        if key == "Pallet":
            continue
        document[key] = value
        if key == "Args":
            document["State"] = state
        if key == "GraphDriver" and size:
            document.update(_sizes(record))
    document["Mounts"] = [{k: v for k, v in m.items() if k not in ("Anonymous", "Options")}
                          for m in record.config.get("Mounts", [])]
    from pallet.runtime.container.networking import network_settings
    document["NetworkSettings"] = network_settings(record)
    return document


def _sizes(record) -> dict:
    from pallet.base.files import tree_size
    from pallet.runtime.image.images import ImageNotFound, resolve_image
    from pallet.runtime.store.content import Store

    own = tree_size(record.directory / "upper")
    try:
        image = resolve_image(Store.open(record.directory.parent.parent), record.config["Image"])
    except ImageNotFound:
        return {"SizeRw": own, "SizeRootFs": own}     # its image was removed (rmi -f)
    return {"SizeRw": own, "SizeRootFs": image.size + own}


def status_text(state: dict, now: float | None = None) -> str:
    from pallet.base.units import parse_rfc3339
    now = time.time() if now is None else now
    status = state.get("Status", "created")
    if status == "created":
        return "Created"
    if status in ("running", "paused"):
        started = parse_rfc3339(state.get("StartedAt", ""))
        up = human_duration(now - started.timestamp()) if started else ""
        health = (state.get("Health") or {}).get("Status")
        suffix = {"starting": " (health: starting)", "healthy": " (healthy)",
                  "unhealthy": " (unhealthy)"}.get(health or "", "")
        return f"Up {up}" + (" (Paused)" if state.get("Paused") else suffix)
    finished = parse_rfc3339(state.get("FinishedAt", ""))
    ago = human_duration(now - finished.timestamp()) + " ago" if finished else ""
    if status == "restarting":
        return f"Restarting ({state.get('ExitCode', 0)}) {ago}"
    return f"Exited ({state.get('ExitCode', 0)}) {ago}"


def command_text(config: dict) -> str:
    # moby's container list: arguments containing a space are wrapped in single quotes.
    args = [f"'{arg}'" if " " in arg else arg for arg in config["Args"]]
    return " ".join([config["Path"], *args])


@dataclass(frozen=True)
class ContainerRow:
    """One container as listings show it (`ps`, GET /containers/json)."""

    id: str
    name: str
    image: str            # the name it was created from while that still names its image, else the ID
    image_id: str
    command: str          # untruncated (command_text)
    created: str          # RFC 3339
    state: str
    status: str           # status_text: "Up 3 minutes"
    labels: dict = field(default_factory=dict, compare=False, hash=False)
    mounts: tuple[str, ...] = ()   # volume names or bind sources
    local_volumes: int = 0
    network: str = ""
    # what the API's ContainerSummary carries beyond ps's columns
    mount_points: tuple = field(default=(), compare=False, hash=False)   # Mounts entries
    networks: dict = field(default_factory=dict, compare=False, hash=False)
    health: dict | None = field(default=None, compare=False, hash=False)
    ports: dict = field(default_factory=dict, compare=False, hash=False)  # NetworkSettings.Ports


ROW_KEYS = frozenset({"Created", "Config", "Image", "Path", "Args", "HostConfig"})


def container_rows(root: Path, filters: dict[str, list[str]] | None = None, *,
                   all_: bool = False, last: int = -1) -> list[ContainerRow]:
    from pallet.runtime.container import state as cs
    from pallet.runtime.container.lifecycle import refreshed
    from pallet.runtime.container.networking import published_ports
    from pallet.runtime.image.images import names_to_ids, still_names
    from pallet.runtime.store.content import Store

    wanted = ContainerFilter.parse(root, filters or {})
    store = cs.ContainerStore(root)
    # A directory whose config lacks what a row shows is no container pallet made (a stand-in
    # or the leftovers of a crash, which system check reports): it lists as nothing.
    records = sorted((r for r in refreshed(store, shared=True) if ROW_KEYS <= r.config.keys()),
                     key=lambda r: r.config["Created"], reverse=True)
    if not all_ and last < 0 and not wanted.has_status:
        records = [r for r in records if r.state.get("Running")]
    records = [r for r in records if wanted.matches(r)]
    if last >= 0:
        records = records[:last]
    try:
        names = names_to_ids(Store.open(root)) if records else {}
    except PalletError:
        names = {}
    now = time.time()
    rows = []
    named: dict[tuple[str, str], bool] = {}   # many containers share an image reference
    for record in records:
        config = record.config
        image, image_id = config["Config"]["Image"], config["Image"]
        if image != image_id:
            if (image, image_id) not in named:
                named[image, image_id] = still_names(image, image_id, names)
            if not named[image, image_id]:
                image = image_id
        mounts = config.get("Mounts") or []
        rows.append(ContainerRow(
            id=record.id, name=record.name, image=image, image_id=image_id,
            command=command_text(config), created=config["Created"],
            state=record.state.get("Status", "created"), status=status_text(record.state, now),
            labels=dict(config["Config"].get("Labels") or {}),
            mounts=tuple(m.get("Name") or m["Source"] for m in mounts),
            local_volumes=sum(1 for m in mounts if m["Type"] == "volume"),
            network=config["HostConfig"]["NetworkMode"],
            mount_points=tuple(mounts),
            networks=dict((config.get("NetworkSettings") or {}).get("Networks") or {}),
            health=record.state.get("Health"), ports=published_ports(record)))
    return rows


def _port_keys(value: str) -> list[str]:
    """A publish=/expose= value: PORT[/PROTO] or START-END[/PROTO] -> port keys ("80/tcp")."""
    ports, _, proto = value.partition("/")
    start, _, end = ports.partition("-")
    if not start.isdigit() or (end and not end.isdigit()) or int(end or start) < int(start):
        raise InvalidFilter(f"invalid filter '{value}'" if not proto else
                            f"invalid range specified for port: {ports}")
    return [f"{number}/{proto or 'tcp'}" for number in range(int(start), int(end or start) + 1)]


class InvalidFilter(PalletError):
    http_status = 400


@dataclass(frozen=True)
class ContainerFilter:
    """Docker's container filters (daemon/list.go); every key present must match."""

    root: Path
    values: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, root: Path, filters: dict[str, list[str]]) -> "ContainerFilter":
        for key, values in filters.items():
            if key not in FILTER_KEYS:
                raise InvalidFilter(f"invalid filter '{key}'")
            for value in values:
                if key == "status" and value not in STATES:
                    raise InvalidFilter(f"invalid filter 'status={value}'")
                if key == "health" and value not in ("starting", "healthy", "unhealthy", "none"):
                    raise InvalidFilter(f"invalid filter 'health={value}'")
                if key == "exited" and not value.lstrip("-").isdigit():
                    raise InvalidFilter(f'invalid filter \'exited={value}\'')
                if key in ("publish", "expose"):
                    _port_keys(value)
        return cls(Path(root), {k: list(v) for k, v in filters.items() if v})

    @property
    def has_status(self) -> bool:
        """A status filter shows stopped containers without -a/all."""
        return "status" in self.values

    def matches(self, record) -> bool:
        values = self.values
        state = record.state
        if "status" in values and state.get("Status") not in values["status"]:
            return False
        if "name" in values and not any(v.lstrip("/") in record.name for v in values["name"]):
            return False
        if "id" in values and not any(record.id.startswith(v) for v in values["id"]):
            return False
        if "ancestor" in values and not any(self._is_ancestor(record, v)
                                            for v in values["ancestor"]):
            return False
        labels = record.config["Config"].get("Labels") or {}
        for value in values.get("label", []):
            name, sep, wanted = value.partition("=")
            if name not in labels or (sep and labels[name] != wanted):
                return False
        # daemon/list.go: publish= is among HostConfig.PortBindings, expose= among ExposedPorts
        for key, declared in (("publish", record.config["HostConfig"].get("PortBindings")),
                              ("expose", record.config["Config"].get("ExposedPorts"))):
            if key in values and not any(port in (declared or {}) for value in values[key]
                                         for port in _port_keys(value)):
                return False
        if "exited" in values and (state.get("Status") != "exited" or
                                   str(state.get("ExitCode")) not in values["exited"]):
            return False
        if "health" in values:
            health = (state.get("Health") or {}).get("Status") or "none"
            if health not in values["health"]:
                return False
        if "volume" in values:
            mounts = record.config.get("Mounts") or []
            if not any(m.get("Name") == v or m.get("Source") == v or m.get("Destination") == v
                       for m in mounts for v in values["volume"]):
                return False
        if "network" in values:
            networks = (record.config.get("NetworkSettings") or {}).get("Networks") or {}
            if not any(v in networks or any(n.get("NetworkID") == v for n in networks.values())
                       for v in values["network"]):
                return False
        if "is-task" in values and any(v.lower() in ("true", "1") for v in values["is-task"]):
            return False   # no swarm tasks here
        created = record.config.get("Created", "")
        for key, newer in (("before", False), ("since", True)):
            for reference in values.get(key, []):
                other = self._other(reference)
                if other is None:
                    return False
                if newer and not created > other.config.get("Created", ""):
                    return False
                if not newer and not created < other.config.get("Created", ""):
                    return False
        return True

    def _other(self, reference: str):
        from pallet.runtime.container.state import ContainerStore
        try:
            return ContainerStore(self.root).resolve(reference)
        except PalletError:
            return None

    def _is_ancestor(self, record, value: str) -> bool:
        if record.config["Config"]["Image"] == value or record.config["Image"].startswith(
                value if value.startswith("sha256:") else f"sha256:{value}"):
            return True
        from pallet.runtime.image.images import resolve_image
        from pallet.runtime.store.content import Store
        try:
            return resolve_image(Store.open(self.root), value).id == record.config["Image"]
        except PalletError:
            return False


def top_processes(record, ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
    """`top`: ps's columns for the container's processes (those in its cgroup), as Docker
    runs ps on the host and keeps the rows whose PID is the container's."""
    import subprocess
    from pallet.runtime.isolation.cgroups import Cgroup
    pids = set(Cgroup.attach(f"pallet-{record.id[:16]}").pids())
    result = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True)
    if result.returncode != 0:
        raise PalletError(f"ps: {result.stderr.strip() or 'failed'}")
    lines = result.stdout.splitlines()
    if not lines:
        return [], []
    titles = lines[0].split()
    if "PID" not in titles:
        raise PalletError("Couldn't find PID field in ps output")
    column = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
            rows.append(fields)
    return titles, rows
