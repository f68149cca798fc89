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


def test_resolve_finds_by_id_name_and_prefix_and_never_by_a_value_that_holds_the_name(tmp_path):
    """resolve() reads a record only where its config.json holds the name's bytes; a record
    whose other fields hold them is parsed and passed over, and Docker's order stays: full ID,
    then name, then unique ID prefix."""
    store = cs.ContainerStore(tmp_path)
    decoy, named, hexname = "a" * 63 + "1", "b" * 64, "c" * 64
    _make(store, decoy, "decoy")
    config = store.load(decoy).config
    config["Config"] = {"Env": ['X=web"', "Y=/web"], "Image": "web"}   # the name's bytes, twice
    store.save_config(decoy, config)
    _make(store, named, "web")
    _make(store, hexname, "aaa")           # a name that is also a prefix of the decoy's ID
    store.update_state(named, Status="running")
    assert store.resolve("web").id == named
    assert store.resolve("/web").state["Status"] == "running"
    assert store.resolve(" web ").id == named
    assert store.resolve("aaa").id == hexname               # the name wins over the prefix
    assert store.resolve("aaaa").id == decoy                # no such name: the unique prefix
    assert store.resolve(named).name == "web"
    assert store.resolve("bbbb").id == named
    (store.dir / named / "state.json").write_text("{")       # torn state: created, as load()
    assert store.resolve("web").state["Status"] == "created"
    _make(store, "b" * 63 + "2", "other")
    for missing, message in (("we", "No such container: we"), ("web2", "No such container: web2"),
                             ("x y", "No such container: x y"), ("", "No such container: ")):
        try:
            store.resolve(missing)
        except cs.ContainerNotFound as error:
            assert error.message == message
        else:
            raise AssertionError(f"{missing!r} resolved")
    try:
        store.resolve("bbb")
    except cs.PalletError as error:
        assert error.message == "multiple IDs found with provided prefix: bbb"
    else:
        raise AssertionError("an ambiguous prefix resolved")
    (store.dir / named / "config.json").unlink()              # half-removed: not a container
    (store.dir / hexname / "config.json").write_text("{torn")
    assert store.resolve("aaa").id == decoy     # the torn record is passed over: the prefix
    for gone in ("web", named):
        try:
            store.resolve(gone)
        except cs.ContainerNotFound:
            pass
        else:
            raise AssertionError(f"{gone!r} resolved")


def test_names_are_checked_and_drawn_against_every_record_but_not_against_other_fields(tmp_path):
    """check_name_free and generate_name read only the records whose config holds a name's
    bytes (with_name): a name in another field is no conflict, a taken name always is."""
    store = cs.ContainerStore(tmp_path)
    owner, decoy = "d" * 64, "e" * 64
    _make(store, owner, "web")
    _make(store, decoy, "other")
    config = store.load(decoy).config
    config["Config"] = {"Env": ['X=db"', "web"]}
    store.save_config(decoy, config)
    try:
        store.check_name_free("/web")
    except cs.NameConflict as error:
        assert owner in error.message and error.exit_code == 125
    else:
        raise AssertionError("a taken name was free")
    store.check_name_free("web", ignore_id=owner)          # a rename to its own name
    store.check_name_free("db")                             # only in another record's env
    assert [r.id for r in store.with_name("/web")] == [owner]
    assert store.with_name("we") == [] and store.with_name("bad name") == []
    # every plain adjective_surname taken: the drawn name is a numbered one, and free
    for number, (adjective, surname) in enumerate(
            (a, s) for a in cs.ADJECTIVES for s in cs.SURNAMES):
        _make(store, f"{number:064x}", f"{adjective}_{surname}")
    taken = {record.name for record in store.listing()}
    for _ in range(5):
        drawn = cs.generate_name(store)
        assert drawn not in taken and drawn.rstrip("0123456789") in taken, drawn
