"""events side by side with a private dockerd: the same commands leave the same container,
volume and image events (type, action, attributes), filtered and formatted the same way."""

from __future__ import annotations

import json
import time

import pytest

from tests.cli.ctr_helpers import pallet, remove_all_containers
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

IMAGE = "evcmp/busybox:1"
SCRIPT = [
    ("run", "--rm", "--network", "none", "-l", "tier=web", "--name", "ev-once", IMAGE, "true"),
    ("volume", "create", "ev-vol"),
    ("volume", "rm", "ev-vol"),
    ("run", "-d", "--network", "none", "--name", "ev-busy", IMAGE, "sleep", "30"),
    ("pause", "ev-busy"), ("unpause", "ev-busy"), ("rename", "ev-busy", "ev-renamed"),
    ("kill", "-s", "USR1", "ev-renamed"), ("stop", "-t", "1", "ev-renamed"),
    ("commit", "ev-renamed", "ev/committed:1"), ("rm", "ev-renamed"),
    ("tag", IMAGE, "ev/tagged:2"), ("rmi", "ev/tagged:2"), ("rmi", "ev/committed:1"),
    ("save", "-o", "ARCHIVE", IMAGE), ("load", "-i", "ARCHIVE"),
]
ACTIONS = "create start die destroy kill stop pause unpause rename commit tag untag delete load"


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("evcmp") / "store"
    make_busybox_image(root, IMAGE, changes=('CMD ["sh"]',))
    archive = root.parent / "image.tar"
    assert pallet(root, "save", "-o", str(archive), IMAGE).returncode == 0
    dockerd.docker("load", "-i", str(archive))
    time.sleep(1.1)            # the set-up's own load is before the window
    since = str(time.time())
    for args in SCRIPT:
        args = tuple(str(root.parent / "saved.tar") if a == "ARCHIVE" else a for a in args)
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
                       attributes.get("tier"), attributes.get("oldName")))
    return shaped


def test_events_match_docker(both):
    ours, theirs = _events(both, "--format", "{{json .}}")
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    ours_shape, theirs_shape = _shape(ours.stdout.decode()), _shape(theirs.stdout.decode())
    assert ours_shape == theirs_shape, "\n".join(map(str, ours_shape)) + "\n--\n" + "\n".join(map(str, theirs_shape))


@pytest.mark.parametrize("extra", [
    ("--filter", "type=volume"), ("--filter", "container=ev-once"),
    ("--filter", "label=tier=web"), ("--filter", "image=ev/tagged:2"),
])
def test_event_filters_match_docker(both, extra):
    ours, theirs = _events(both, *extra, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
    assert ours.stdout.decode().splitlines() == [
        line for line in theirs.stdout.decode().splitlines() if line]


def test_event_errors_match_docker(both):
    root, engine, _, _ = both
    for args in (("events", "--since", "xyz"), ("events", "--until", "1", "--format", "{{.Nope}}")):
        theirs = engine.docker(*args, check=False)
        ours = pallet(root, *args)
        assert (ours.returncode, ours.stderr.decode()) == (theirs.returncode, theirs.stderr.decode())
