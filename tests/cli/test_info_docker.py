"""version and info beside the docker CLI: docker's layout (the same labels in the same order),
--format over the same field names, docker's template errors and exit codes."""

from __future__ import annotations

import json

import pytest

from tests.cli.ctr_helpers import pallet
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]


def _labels(text: str, section: str) -> list[str]:
    lines = text.split(section, 1)[1].splitlines()
    labels = []
    for line in lines[1:]:
        if not line.strip():
            break
        labels.append(line.split(":")[0])
    return labels


def test_version_layout_and_fields(pallet_root, dockerd):  # noqa: F811
    ours = pallet(pallet_root, "version")
    theirs = dockerd.docker("version")
    assert ours.returncode == theirs.returncode == 0
    assert _labels(ours.stdout.decode(), "Client:") == _labels(theirs.stdout.decode(), "Client:")
    engine = lambda text: [l.split(":")[0] for l in text.split(" Engine:")[1].splitlines()[1:8]]
    assert engine(ours.stdout.decode()) == engine(theirs.stdout.decode())
    template = "{{.Client.APIVersion}}|{{.Server.APIVersion}}|{{.Server.MinAPIVersion}}|{{.Server.Os}}"
    shown = pallet(pallet_root, "version", "--format", template).stdout.decode()
    assert shown == "1.44|1.44|1.24|linux\n"
    ours_json = json.loads(pallet(pallet_root, "version", "--format", "json").stdout)
    theirs_json = json.loads(dockerd.docker("version", "--format", "json").stdout)
    assert set(ours_json["Server"]) <= set(theirs_json["Server"])
    assert set(theirs_json["Client"]) - set(ours_json["Client"]) == set()


def test_info_layout_and_fields(pallet_root, dockerd):  # noqa: F811
    ours = pallet(pallet_root, "info")
    theirs = dockerd.docker("info")
    assert ours.returncode == theirs.returncode == 0
    ours_labels = [l.split(":")[0] for l in ours.stdout.decode().splitlines() if ":" in l]
    theirs_labels = [l.split(":")[0] for l in theirs.stdout.decode().splitlines() if ":" in l]
    missing = [label for label in ours_labels if label not in theirs_labels]
    assert missing == []
    assert [l for l in ours_labels if l in theirs_labels] == [
        l for l in theirs_labels if l in ours_labels]       # and in docker's order
    shown = pallet(pallet_root, "info", "-f", "{{.Containers}} {{.Driver}} {{.OSType}} "
                                               "{{.ClientInfo.Context}} {{.Swarm.LocalNodeState}}")
    assert shown.stdout.decode() == "0 overlay2 linux default inactive\n"


@pytest.mark.parametrize("args", [
    ("info", "-f", "{{.Nope}}"), ("info", "-f", "{{.ClientInfo.Nope}}"),
    ("version", "-f", "{{.Nope}}"), ("version", "-f", "{{.Server.Nope}}"),
    ("version", "-f", "{{nope}}"), ("info", "-f", "{{if}}"),
])
def test_format_errors_match_docker(pallet_root, dockerd, args):  # noqa: F811
    ours = pallet(pallet_root, *args)
    theirs = dockerd.docker(*args, check=False)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout,
                                                          theirs.stderr)
