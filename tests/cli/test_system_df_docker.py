"""`system df` beside a private dockerd: the same objects (two images sharing their layer, a
running and an exited container, a used and an unused volume) give the same summary (sizes,
active counts, reclaimable space as docker computes them), the same `-v` tables, and the same
`--format` output (json, templates, table templates, -v's json document and its errors)."""

from __future__ import annotations

import json
import re

import pytest

from tests.cli.docker_pair import docker_pair
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

IMAGES = ("dfcmp/busybox:1", "dfcmp/other:2")
WRITE = "head -c 100000 /dev/zero > /data/z; head -c 50000 /dev/zero > /big"


@pytest.fixture(scope="module")
def pair(dockerd, tmp_path_factory):  # noqa: F811
    pair = docker_pair(dockerd, tmp_path_factory, "dfcmp", *IMAGES)
    for args in (("volume", "create", "df-used"), ("volume", "create", "df-idle"),
                 ("run", "--network", "none", "-v", "df-used:/data", "--name", "df-exited",
                  IMAGES[0], "sh", "-c", WRITE),
                 ("run", "-d", "--network", "none", "--name", "df-running", IMAGES[0],
                  "sleep", "300")):
        theirs, ours = pair.on_both(*args)
        assert theirs.returncode == ours.returncode == 0, (args, ours.stderr, theirs.stderr)
    yield pair
    pair.docker("rm", "-f", "df-running", "df-exited")
    pair.close()


def _times(text: str) -> str:
    # creation times differ by the second or so between the two sides
    text = re.sub(r"(Less than a second|\d+ seconds?|About a minute) ago", "T ago", text)
    text = re.sub(r"Up (Less than a second|\d+ seconds?|About a minute)", "Up T", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", "DATE", text)
    return re.sub(r"\b[0-9a-f]{12}\b", "ID12", text)


@pytest.mark.parametrize("args", [
    (), ("--format", "json"), ("--format", "{{json .}}"), ("--format", "{{.Type}} {{.Size}}"),
    ("--format", "table {{.Type}}\t{{.Active}}\t{{.Reclaimable}}"),
    ("--format", "{{.Nope}}"), ("-v", "--format", "{{.Type}}"),
])
def test_summary_and_formats_match_docker(pair, args):
    ours, theirs = pair.side_by_side("system", "df", *args)
    assert ours == theirs


def _sections(text: str) -> list[list[str]]:
    # docker lists images and volumes in map order: compare each table's rows as a set
    sections = []
    for block in text.split("\n\n"):
        lines = _times(block).splitlines()
        # (column widths follow the time strings, which differ by a second: spaces folded)
        sections.append([re.sub(r" +", " ", line) for line in lines[:1]] +
                        sorted(re.sub(r" +", " ", line) for line in lines[1:]))
    return sections


def test_verbose_tables_match_docker(pair):
    ours, theirs = pair.side_by_side("system", "df", "-v")
    assert ours[0] == theirs[0] == 0 and ours[2] == theirs[2] == ""
    assert _sections(ours[1]) == _sections(theirs[1])
    assert ours[1].startswith("Images space usage:\n\nREPOSITORY      TAG       IMAGE ID")
    assert "\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE" in ours[1]


def test_verbose_json_matches_docker(pair):
    ours, theirs = pair.side_by_side("system", "df", "-v", "--format", "json")
    assert ours[0] == theirs[0] == 0
    mine, docker = json.loads(ours[1]), json.loads(theirs[1])
    assert list(mine) == list(docker) == ["Images", "Containers", "Volumes", "BuildCache"]
    for kind, key in (("Images", "ID"), ("Containers", "Names"), ("Volumes", "Name")):
        rows = [sorted(mine[kind], key=lambda r: r[key]), sorted(docker[kind], key=lambda r: r[key])]
        for row in rows[0] + rows[1]:
            for field in ("ID", "CreatedAt", "CreatedSince", "RunningFor", "Status",
                          "Mountpoint"):
                row.pop(field, None)
        assert rows[0] == rows[1], kind
    assert mine["BuildCache"] == docker["BuildCache"] == []
