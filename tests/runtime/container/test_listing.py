"""ContainerStore.listing(): the shared, parse-once snapshots `ps` and GET /containers/json
read. In a long-lived process (the API server) every change to a container's files must show
in the next listing, and a removed container must not."""

from __future__ import annotations

import shutil

from pallet.runtime.container import state as cs


def _make(store: cs.ContainerStore, container_id: str, name: str) -> None:
    directory = store.dir / container_id
    directory.mkdir(parents=True)
    cs.write_json(directory / "config.json", {"Id": container_id, "Name": f"/{name}"})
    cs.write_json(directory / "state.json", cs.initial_state())


def _seen(store: cs.ContainerStore) -> dict[str, tuple[str, str]]:
    return {r.id: (r.name, r.state["Status"]) for r in store.listing()}


def test_listing_sees_every_change_made_between_two_listings(tmp_path):
    store = cs.ContainerStore(tmp_path)
    first, second = "a" * 64, "b" * 64
    _make(store, first, "one")
    _make(store, second, "two")
    (store.dir / "not-a-container").mkdir()
    assert _seen(store) == {first: ("one", "created"), second: ("two", "created")}
    assert {r.id: r.config for r in store.listing()} == {r.id: r.config for r in store.all()}
    store.update_state(first, Status="exited")
    config = store.load(second).config
    config["Name"] = "/renamed"
    store.save_config(second, config)
    assert _seen(store) == {first: ("one", "exited"), second: ("renamed", "created")}
    # removed, then a directory of the same ID made again: the new files, not the old ones
    shutil.rmtree(store.dir / first)
    assert _seen(store) == {second: ("renamed", "created")}
    _make(store, first, "again")
    assert _seen(store)[first] == ("again", "created")
    # a torn state file (a full disk's in-place rewrite, read mid-write) reads as created
    (store.dir / second / "state.json").write_text('{"Status": "exi')
    assert _seen(store)[second] == ("renamed", "created")
    (store.dir / second / "config.json").unlink()
    assert second not in _seen(store)
