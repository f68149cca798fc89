"""events side by side with a private dockerd: the same commands leave the same container,
volume and image events (type, action, attributes), filtered and formatted the same way."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.cli.ctr_helpers import pallet, remove_all_containers
from tests.conftest import PALLET
from tests.dockerd import DOCKER, dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

IMAGE = "evcmp/busybox:1"
SCRIPT = [
    ("run", "--rm", "--network", "none", "-l", "tier=web", "--name", "ev-once", IMAGE, "true"),
    ("volume", "create", "ev-vol"),
    ("volume", "rm", "ev-vol"),
    ("run", "-d", "--network", "none", "--name", "ev-busy", IMAGE, "sleep", "30"),
    ("pause", "ev-busy"), ("unpause", "ev-busy"),
    ("exec", "ev-busy", "sh", "-c", "exit 3"), ("exec", "ev-busy", "true"),
    ("exec", "-d", "ev-busy", "true"), ("PAUSE",),
    ("rename", "ev-busy", "ev-renamed"),
    ("kill", "-s", "USR1", "ev-renamed"), ("stop", "-t", "1", "ev-renamed"),
    ("commit", "ev-renamed", "ev/committed:1"), ("rm", "ev-renamed"),
    ("tag", IMAGE, "ev/tagged:2"), ("rmi", "ev/tagged:2"), ("rmi", "ev/committed:1"),
    ("save", "-o", "ARCHIVE", IMAGE), ("load", "-i", "ARCHIVE"),
    ("run", "-d", "--network", "none", "-v", "ev-data:/data", "-v", "ev-ro:/ro:ro",
     "--name", "ev-att", IMAGE, "sleep", "3"),
    ("CONCURRENTLY", "attach", "--no-stdin", "ev-att"), ("rm", "-v", "ev-att"), ("volume", "rm", "ev-data", "ev-ro"),
    ("import", "ROOTFS", "ev/imported:3"),
    ("run", "-d", "--network", "none", "--name", "ev-force", IMAGE, "sleep", "30"),
    ("rm", "-f", "ev-force"),
]
ACTIONS = ("create start die destroy kill stop pause unpause rename commit tag untag delete load "
           "save import attach exec_create exec_start exec_die mount unmount")


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("evcmp") / "store"
    make_busybox_image(root, IMAGE, changes=('CMD ["sh"]',))
    archive = root.parent / "image.tar"
    assert pallet(root, "save", "-o", str(archive), IMAGE).returncode == 0
    dockerd.docker("load", "-i", str(archive))
    time.sleep(1.1)            # the set-up's own load is before the window
    since = str(time.time())
    from tests.images import busybox_rootfs_tarball
    for args in SCRIPT:
        if args == ("PAUSE",):     # a detached exec ends on its own time: let it, in both
            time.sleep(1)
            continue
        args = tuple(str(root.parent / "saved.tar") if a == "ARCHIVE" else
                     str(busybox_rootfs_tarball()) if a == "ROOTFS" else a for a in args)
        if args[0] == "CONCURRENTLY":   # both attached while both containers run
            procs = [subprocess.Popen([DOCKER, *args[1:]], env=dockerd.env(),
                                      stdin=subprocess.DEVNULL),
                     subprocess.Popen([str(PALLET), "--root", str(root), *args[1:]],
                                      stdin=subprocess.DEVNULL)]
            assert [p.wait(timeout=60) for p in procs] == [0, 0]
            continue
        theirs = dockerd.docker(*args, check=False)
        ours = pallet(root, *args)
        assert ours.returncode == theirs.returncode, (args, ours.stderr, theirs.stderr)
    until = str(time.time() + 0.5)
    time.sleep(0.6)
    yield root, dockerd, since, until
    remove_all_containers(root)


def _events(both, *extra):
    root, engine, since, until = both
    args = ("events", "--since", since, "--until", until,
            *[f"--filter=event={a}" for a in ACTIONS.split()], *extra)
    theirs = engine.docker(*args, check=False)
    ours = pallet(root, *args)
    return ours, theirs


def _shape(text: str) -> list:
    shaped = []
    for line in text.splitlines():
        event = json.loads(line)
        attributes = {k: v for k, v in event["Actor"]["Attributes"].items()
                      if k not in ("imageID", "comment", "imageRef")}
        if event["Type"] == "volume" and len(event["Actor"]["ID"]) == 64:
            continue   # an anonymous volume: docker makes them for every run, at other moments
        name = attributes.get("name")
        name = "ID" if name and name.startswith("sha256:") else name
        shaped.append((event["Type"], event["Action"], sorted(event.get("status", "") for _ in [0]),
                       name, attributes.get("signal"), attributes.get("exitCode"),
                       attributes.get("tier"), attributes.get("oldName"),
                       attributes.get("destination"), attributes.get("read/write"),
                       attributes.get("driver"), "execID" in attributes))
    return shaped


def _volumes_sorted(shaped: list) -> list:
    """dockerd mounts a container's volumes in its map's (random) order: within a run of
    volume mount (or unmount) events the order is not part of the contract."""
    out: list = []
    run: list = []
    for item in shaped + [None]:
        key = None if item is None else (str(item).split("|")[:2] if isinstance(item, str)
                                         else list(item[:2]))
        if key in (["volume", "mount"], ["volume", "unmount"], ["volume", "destroy"]) and (
                not run or key == run[0][0]):
            run.append((key, item))
            continue
        out += sorted((entry for _, entry in run), key=str)
        run = []
        if key in (["volume", "mount"], ["volume", "unmount"], ["volume", "destroy"]):
            run.append((key, item))
        elif item is not None:
            out.append(item)
    return out


def test_events_match_docker(both):
    ours, theirs = _events(both, "--format", "{{json .}}")
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    ours_shape = _volumes_sorted(_shape(ours.stdout.decode()))
    theirs_shape = _volumes_sorted(_shape(theirs.stdout.decode()))
    assert ours_shape == theirs_shape, "\n".join(map(str, ours_shape)) + "\n--\n" + "\n".join(map(str, theirs_shape))


@pytest.mark.parametrize("extra", [
    ("--filter", "type=volume"), ("--filter", "container=ev-once"),
    ("--filter", "label=tier=web"), ("--filter", "image=ev/tagged:2"),
])
def test_event_filters_match_docker(both, extra):
    ours, theirs = _events(both, *extra, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
    assert ours.stdout.decode().splitlines() == [
        line for line in theirs.stdout.decode().splitlines() if line]


@pytest.mark.parametrize("extra", [
    ("--filter", "event=exec_die"), ("--filter", "event=exec_create"),
    ("--filter", "event=mount", "--filter", "event=unmount"), ("--filter", "volume=ev-ro"),
    ("--filter", "event=save"), ("--filter", "event=import", "--filter", "event=tag"),
    ("--filter", "event=attach"), ("--filter", "volume=ev-data"),
])
def test_new_event_kinds_filter_and_format_as_docker(both, extra):
    """attach, exec_*, volume mount/unmount, image save/import: each filter alone (no event
    list around it), formatted; image IDs and container IDs differ between the engines."""
    root, engine, since, until = both
    args = ("events", "--since", since, "--until", until, *extra, "--format",
            "{{.Type}}|{{.Action}}|{{.Actor.Attributes.name}}|{{index .Actor.Attributes "
            "\"read/write\"}}|{{.Actor.Attributes.exitCode}}|{{len .Actor.Attributes}}")
    ours, theirs = pallet(root, *args), engine.docker(*args, check=False)

    def shaped(text: str) -> list[str]:
        return _volumes_sorted([line.replace("sha256:", "ID:")[:3 + line.find("ID:")]
                                if "sha256:" in line else line
                                for line in text.decode().splitlines() if line])
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert shaped(ours.stdout) == shaped(theirs.stdout)
    assert shaped(ours.stdout), "the script made no such event"


def test_event_errors_match_docker(both):
    root, engine, _, _ = both
    for args in (("events", "--since", "xyz"), ("events", "--until", "1", "--format", "{{.Nope}}")):
        theirs = engine.docker(*args, check=False)
        ours = pallet(root, *args)
        assert (ours.returncode, ours.stderr.decode()) == (theirs.returncode, theirs.stderr.decode())




def test_an_unknown_filter_key_matches_every_event_as_in_dockerd(both):
    """dockerd's getEvents parses the filters without validating their keys."""
    root, engine, since, until = both
    plain = ("events", "--since", since, "--until", until, "--format", "{{.Type}} {{.Action}}")
    unknown = plain + ("--filter", "nosuchkey=1")
    theirs, ours = engine.docker(*unknown, check=False), pallet(root, *unknown)
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr) == (0, b"")
    assert theirs.stdout == engine.docker(*plain, check=True).stdout
    assert ours.stdout == pallet(root, *plain).stdout and ours.stdout
