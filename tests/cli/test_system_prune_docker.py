"""`system prune` side by side with a private dockerd and the docker.io CLI (20.10, whose words
pallet's prompts follow): the same warning, and the same sections for what went, networks
included (pallet's local prune left unused networks and did not name them in its warning)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.cli.ctr_helpers import pallet
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image
from tests.netutil import remove_store_network

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

DOCKER_20 = "/usr/bin/docker"
IMAGE = "prunecmp/busybox:1"


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("prunecmp") / "store"
    make_busybox_image(root, IMAGE)
    archive = root.parent / "image.tar"
    assert pallet(root, "save", "-o", str(archive), IMAGE).returncode == 0
    dockerd.docker("load", "-i", str(archive))
    yield root, dockerd
    remove_store_network(root)


def _docker(engine, *args: str, input: bytes | None = None):
    return subprocess.run([DOCKER_20, *args], input=input, env=engine.env(), capture_output=True,
                          timeout=120)


@pytest.mark.parametrize("flags", [(), ("-a",)])
def test_the_warning_is_dockers(both, flags):
    root, engine = both
    theirs = _docker(engine, "system", "prune", *flags, input=b"n\n")
    ours = pallet(root, "system", "prune", *flags, input=b"n\n")
    assert theirs.returncode == 0 and b"all networks not used" in theirs.stdout
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)


def test_unused_networks_and_stopped_containers_go_as_in_docker(both):
    root, engine = both
    for run, name in ((lambda *a: _docker(engine, *a), "docker"), (lambda *a: pallet(root, *a), "pallet")):
        assert run("network", "create", "prn-unused").returncode == 0, name
        assert run("create", "--network", "none", "--name", "prn-stopped", IMAGE,
                   "true").returncode == 0, name
    theirs = _docker(engine, "system", "prune", "-f")
    ours = pallet(root, "system", "prune", "-f")
    assert ours.returncode == theirs.returncode == 0, ours.stderr

    def shaped(text: bytes) -> str:
        return re.sub(r"\b[0-9a-f]{64}\b", "ID", text.decode())

    assert shaped(ours.stdout) == shaped(theirs.stdout)
    assert "Deleted Networks:\nprn-unused\n\n" in shaped(ours.stdout)
    assert b"prn-unused" not in pallet(root, "network", "ls").stdout
    assert pallet(root, "ps", "-aq").stdout == b""
