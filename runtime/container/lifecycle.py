"""Container lifecycle on the local store: create, start, stop, kill, wait, rm, pause, rename.

    create_container(root, request: CreateRequest) -> ContainerRecord   (both fronts)
    (starting is the monitor's: monitor.start_detached, monitor.supervise)
    stop_container(root, ref, timeout=None, sig=None), kill_container(root, ref, sig="KILL")
    wait_container(root, ref) -> int, remove_container(store, id, force, volumes)
    refresh(store, record) -> record             # corrects state after dead monitors/PIDs
    refreshed(store) -> [record]                 # every container, refreshed

State lives in ROOT/containers/<id>/ (container_state.py); the live processes are the truth,
so every read goes through refresh(): a "running" record whose PID or monitor is gone is
recorded as exited (137: its monitor's death SIGKILLed it) and its cgroup is removed. An
`--rm` container found so is removed with its anonymous volumes, as Docker's daemon removes
AutoRemove containers when it restarts: refresh then raises ContainerNotFound.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
TYPE_CHECKING = False   # typing's flag without importing typing (~3 ms of every command)

from pallet.base.errors import PalletError
from pallet.base.files import remove_tree
from pallet.base.units import now_rfc3339
from pallet.runtime.container import state as cs
from pallet.runtime.store.events import container_event

if TYPE_CHECKING:
    from pallet.runtime.container.request import CreateRequest


def _cgroup(record: cs.ContainerRecord):
    """The container's cgroup; imported here, as cgroups loads ctypes and `ps` never needs it."""
    from pallet.runtime.isolation.cgroups import Cgroup
    return Cgroup.attach(f"pallet-{record.id[:16]}")


def parse_signal(name: str | int) -> int:
    text = str(name).upper()
    if text.isdigit():
        return int(text)
    text = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise PalletError(f"Invalid signal: {name}") from None


def create_container(root: Path, options: CreateRequest) -> cs.ContainerRecord:
    from pallet.runtime.image.images import ImageNotFound, resolve_image
    from pallet.runtime.image.layers import layer_dirs
    from pallet.runtime.store.content import Store
    from pallet.runtime.container.request import check_request

    check_request(options)
    store = cs.ContainerStore(root)
    try:
        image_store = Store.open(root)
    except PalletError as error:
        raise PalletError(error.message, hint=error.hint, exit_code=125) from error
    # The lease keeps a concurrent rmi's garbage collection from deleting the image's layers
    # between resolving it and writing config.json, from where on the container holds them.
    with image_store.lease():
        try:
            image = resolve_image(image_store, options.image)
        except ImageNotFound as error:
            raise ImageNotFound(f"Unable to find image '{options.image}' locally",
                                hint=error.hint, exit_code=125) from error
        except PalletError as error:
            raise PalletError(error.message, hint=error.hint, exit_code=125) from error
        return _create(store, root, options, image, layer_dirs(image_store, image))


def _create(store: cs.ContainerStore, root: Path, options: CreateRequest, image,
            lowers: list[Path]) -> cs.ContainerRecord:
    from pallet.runtime.container.config import build_config, spec_from_config
    from pallet.runtime.container.networking import networks_at_create
    from pallet.runtime.isolation.etcfiles import write_etc_files

    container_id = store.new_id()
    directory = store.dir / container_id
    if options.name:
        # A dead --rm container holding the name goes first (outside the lock: removal takes it)
        for listed in store.with_name(options.name):
            try:
                refresh(store, store.load(listed.id))
            except cs.ContainerNotFound:
                pass
    with store.lock():
        if options.name:
            name = options.name
            store.check_name_free(name)
        else:
            name = cs.generate_name(store)   # free and valid: drawn under this same lock
        # Made in this process's scratch directory and renamed into place whole: a SIGKILL
        # half-way leaves it where the next command sweeps it, never a half container.
        stage = store.scratch() / f"create-{container_id}"
        os.mkdir(stage, 0o700)
        try:
            os.chmod(stage, 0o700)   # explicit modes, whatever the umask
            networks, joined_hostname = networks_at_create(root, options, container_id)
            config = build_config(options, image, container_id, name.lstrip("/"), directory,
                                  lowers, root, networks=networks,
                                  joined_hostname=joined_hostname)
            # the upper dir's mode is the container's "/": 0755 as in an image, never 0777
            for sub, mode in (("upper", 0o755), ("work", 0o700)):
                os.mkdir(stage / sub, mode)
                os.chmod(stage / sub, mode)
            write_etc_files(spec_from_config(config, directory), stage)
            cs.write_json(stage / "state.json", cs.initial_state())
            cs.write_json(stage / "config.json", config)
            os.rename(stage, directory)
        except BaseException:
            remove_tree(stage, ignore_errors=True)
            raise
    record = store.load(container_id)
    container_event(root, record, "create")
    return record


def refresh(store: cs.ContainerStore, record: cs.ContainerRecord) -> cs.ContainerRecord:
    """Make a 'running' record tell the truth when its processes are gone."""
    state = record.state
    if not state.get("Running"):
        return record
    pid_alive = cs.alive(state.get("Pid", 0), state.get("PidStart"))
    monitor_alive = cs.alive(state.get("MonitorPid", 0), state.get("MonitorStart"))
    if pid_alive and monitor_alive:
        return record
    time.sleep(0.05)  # the monitor may be writing the final state right now
    fresh = store.load(record.id)
    if not fresh.state.get("Running") or cs.alive(fresh.state.get("MonitorPid", 0),
                                                   fresh.state.get("MonitorStart")):
        return fresh
    from pallet.runtime.container.networking import release as release_network
    cgroup = _cgroup(record)
    cgroup.destroy()
    release_network(store.root, record.id)
    state = store.update_state(record.id, Status="exited", Running=False, Paused=False, Pid=0,
                               PidStart=None, ExitCode=137, FinishedAt=now_rfc3339(), MonitorPid=0,
                               MonitorStart=None, Error="the container's monitor died")
    if fresh.config["HostConfig"].get("AutoRemove"):
        # Its monitor would have removed it: nobody else will (there is no daemon to restart).
        try:
            remove_container(store, record.id, force=True, volumes=True)
        except cs.ContainerNotFound:
            pass  # another command removed it first
        raise cs.ContainerNotFound(f"No such container: {record.id}")
    return cs.ContainerRecord(record.id, record.directory, record.config, state)


def refreshed(store: cs.ContainerStore, *, shared: bool = False) -> list[cs.ContainerRecord]:
    """Every container, refreshed; dead --rm containers are removed on the way. shared: the
    store's read-only listing (for views that never change the records)."""
    records = []
    for record in (store.listing() if shared else store.all()):
        try:
            records.append(refresh(store, record))
        except cs.ContainerNotFound:
            continue
    return records


def get(root: Path, reference: str) -> cs.ContainerRecord:
    store = cs.ContainerStore(root)
    try:
        return refresh(store, store.resolve(reference))
    except cs.ContainerNotFound as error:
        raise cs.ContainerNotFound(f"No such container: {reference}") from error


def signal_container(root: Path, reference: str, sig: int) -> cs.ContainerRecord:
    record = get(root, reference)
    if not record.state.get("Running"):
        raise PalletError(f"Cannot kill container: {reference}: Container {record.id} is not running")
    if record.state.get("Paused") and sig == signal.SIGKILL:
        _cgroup(record).thaw()
    try:
        os.kill(record.state["Pid"], sig)
    except ProcessLookupError:
        pass
    return record


def kill_container(root: Path, reference: str, sig: str | int = "KILL") -> cs.ContainerRecord:
    number = parse_signal(sig)
    record = get(root, reference)
    if record.state.get("Running"):
        (record.directory / "stopping").touch()  # Docker: kill does not trigger a restart either
    record = signal_container(root, reference, number)
    container_event(root, record, "kill", signal=number)
    return record


def wait_exited(store: cs.ContainerStore, container_id: str, timeout: float | None) -> bool:
    """Poll until the record is no longer running (the monitor writes the exit)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            record = refresh(store, store.load(container_id))
        except PalletError:
            return True  # removed (--rm)
        if not record.state.get("Running") and record.state.get("Status") != "restarting":
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def stop_container(root: Path, reference: str, timeout: int | None = None,
                   sig: str | int | None = None) -> cs.ContainerRecord:
    """Docker's stop: sig (default: the container's StopSignal, else SIGTERM), then SIGKILL
    after timeout seconds (default: its StopTimeout, else 10)."""
    stop_signal = parse_signal(sig) if sig is not None else None
    store = cs.ContainerStore(root)
    record = get(root, reference)
    if not record.state.get("Running"):
        if record.state.get("Status") == "restarting":
            (record.directory / "stopping").touch()  # cancels the pending restart
            wait_exited(store, record.id, None)
        return record
    (record.directory / "stopping").touch()
    if timeout is None:
        timeout = record.config["Config"].get("StopTimeout", 10)
    if record.state.get("Paused"):
        _cgroup(record).thaw()
        store.update_state(record.id, Paused=False)
    if stop_signal is None:
        try:
            stop_signal = parse_signal(record.config["Config"].get("StopSignal") or "SIGTERM")
        except PalletError:   # an image's unknown StopSignal: Docker falls back to SIGTERM
            stop_signal = signal.SIGTERM
    container_event(root, record, "kill", signal=stop_signal)
    try:
        os.kill(record.state["Pid"], stop_signal)
    except ProcessLookupError:
        pass
    if not wait_exited(store, record.id, timeout):
        container_event(root, record, "kill", signal=int(signal.SIGKILL))
        try:
            os.kill(record.state["Pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_exited(store, record.id, None)
    container_event(root, record, "stop")
    return record


def wait_container(root: Path, reference: str) -> int:
    store = cs.ContainerStore(root)
    record = get(root, reference)
    wait_exited(store, record.id, None)
    try:
        return store.load(record.id).state.get("ExitCode", 0)
    except PalletError:
        return record.state.get("ExitCode", 0)


def remove_container(store: cs.ContainerStore, container_id: str, *, force: bool = False,
                     volumes: bool = False) -> None:
    record = refresh(store, store.load(container_id))
    if record.state.get("Running"):
        if not force:
            raise PalletError(
                f"You cannot remove a running container {record.id}. Stop the container before "
                "attempting removal or force remove")
        (record.directory / "stopping").touch()
        _cgroup(record).thaw()
        try:
            os.kill(record.state["Pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        container_event(store.root, record, "kill", signal=int(signal.SIGKILL))   # as dockerd
        wait_exited(store, record.id, None)
    with store.lock():
        if not record.directory.exists():
            return
        # Rename first so a half-removed directory is never listed as a container; into the
        # scratch directory, so what a SIGKILL during the removal leaves is swept.
        trash = store.scratch() / f"removing-{record.id}"
        os.replace(record.directory, trash)
    from pallet.runtime.container.networking import release as release_network
    _cgroup(record).destroy()
    release_network(store.root, record.id)
    remove_tree(trash, ignore_errors=True)
    container_event(store.root, record, "destroy")
    mounts = record.config.get("Mounts") or []
    if volumes and any(mount["Type"] == "volume" and mount.get("Anonymous") for mount in mounts):
        _remove_anonymous_volumes(store.root, mounts)
    _release_image_layers(store, record.config.get("Image"))


def _remove_anonymous_volumes(root: Path, mounts: list[dict]) -> None:
    """rm -v / --rm: the container's anonymous volumes go, unless another container (through
    --volumes-from) still uses one; Docker keeps it then."""
    from pallet.runtime.volume.store import remove_volume
    for mount in mounts:
        if mount["Type"] == "volume" and mount.get("Anonymous"):
            try:
                remove_volume(root, mount["Name"])
            except PalletError:
                continue


def _release_image_layers(store: cs.ContainerStore, image_id: str | None) -> None:
    """After a forced `rmi`, the container was what kept its image's layers (Docker frees
    them with the container): collect them once no image in the store has that ID."""
    from pallet.runtime.image.images import entry_image_id
    from pallet.runtime.store.content import Store

    images = Store.open(store.root)
    if image_id and not any(entry_image_id(images, e) == image_id for e in images.index_entries()):
        # only after a forced rmi: `run --rm` of an image that is still there stays light
        from pallet.runtime.image.removal import collect_garbage
        collect_garbage(images)


def prune_containers(root: Path) -> list[str]:
    """Remove every container that is not running (``container prune``, ``system prune``);
    returns the removed IDs in listing order."""
    store = cs.ContainerStore(root)
    removed = []
    for record in refreshed(store):
        if not record.state.get("Running"):
            remove_container(store, record.id)
            removed.append(record.id)
    return removed


def set_paused(root: Path, reference: str, paused: bool) -> cs.ContainerRecord:
    store = cs.ContainerStore(root)
    record = get(root, reference)
    if not record.state.get("Running"):
        raise PalletError(f"Container {record.id} is not running")
    if record.state.get("Paused") == paused:
        raise PalletError(f"Container {record.id} is {'already paused' if paused else 'not paused'}")
    cgroup = _cgroup(record)
    if paused:
        cgroup.freeze()
    else:
        cgroup.thaw()
    store.update_state(record.id, Paused=paused, Status="paused" if paused else "running")
    container_event(root, record, "pause" if paused else "unpause")
    return record


def rename_container(root: Path, reference: str, new_name: str) -> None:
    store = cs.ContainerStore(root)
    record = get(root, reference)
    with store.lock():
        if record.name == new_name.lstrip("/"):
            raise PalletError(f"Error when allocating new name: Renaming a container with the same name as its current name")
        store.check_name_free(new_name, ignore_id=record.id)
        config = store.load(record.id).config
        config["Name"] = f"/{new_name.lstrip('/')}"
        store.save_config(record.id, config)
    if record.state.get("Running"):
        from pallet.runtime.container.networking import rename_endpoints
        rename_endpoints(root, record.id, new_name.lstrip("/"))
    container_event(root, store.load(record.id), "rename", oldName=f"/{record.name}")
