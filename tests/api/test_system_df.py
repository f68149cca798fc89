"""GET /system/df serialises the same view `pallet system df` formats: the stock docker CLI
through `pallet serve` prints what pallet's CLI prints (summary, -v tables, -v json), and the
type= parameter narrows the answer."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.cli.ctr_helpers import pallet

pytestmark = [pytest.mark.server, pytest.mark.root]


def _normal(text: str) -> str:
    text = re.sub(r"(Less than a second|\d+ seconds?|About a minute) ago", "T ago", text)
    text = re.sub(r"Up (Less than a second|\d+ seconds?|About a minute)", "Up T", text)
    return re.sub(r" +", " ", text)


def _docker(api, *args: str) -> str:
    # the current docker CLI (the one the dockerd comparisons use), not the api fixture's
    # docker.io 20.10 one: 20.10 printed -v's image SIZE with four digits, later ones three
    result = subprocess.run([shutil.which("docker"), *args], capture_output=True,
                            env=api.env(), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_docker_through_the_api_shows_what_the_cli_shows(api):
    api.docker("volume", "create", "kept", check=True)
    api.docker("run", "-v", "kept:/data", "--name", "writer", "busybox", "sh", "-c",
               "head -c 70000 /dev/zero > /data/z; head -c 30000 /dev/zero > /w", check=True)
    api.docker("tag", "busybox", "second:1", check=True)
    for args in ((), ("-v",), ("--format", "json")):
        theirs = _docker(api, "system", "df", *args)
        ours = pallet(api.root, "system", "df", *args)
        assert ours.returncode == 0, ours.stderr
        assert _normal(ours.stdout.decode()) == _normal(theirs), args
    summary = _docker(api, "system", "df", "--format",
                      "{{.Type}} {{.Size}} {{.Reclaimable}}").splitlines()
    assert summary == ["Images 1.986MB 0B (0%)", "Containers 30kB 30kB (100%)",
                       "Local Volumes 70kB 0B (0%)", "Build Cache 0B 0B"]
    mine = json.loads(pallet(api.root, "system", "df", "-v", "--format", "json").stdout)
    theirs = json.loads(_docker(api, "system", "df", "-v", "--format", "json"))
    for document in (mine, theirs):
        for row in document["Containers"] + document["Images"]:
            row.pop("RunningFor", None), row.pop("CreatedSince", None), row.pop("Status", None)
    assert mine == theirs


def test_type_narrows_the_answer_and_an_unknown_type_is_refused(api):
    status, _, body = api.request("GET", "/v1.44/system/df?type=volume")
    assert status == 200 and set(json.loads(body)) == {"Volumes"}
    status, _, body = api.request("GET", "/v1.44/system/df?type=image&type=build-cache")
    assert status == 200 and set(json.loads(body)) == {"LayersSize", "Images", "BuildCache",
                                                       "BuilderSize"}
    status, _, body = api.request("GET", "/v1.44/system/df?type=disks")
    assert status == 400 and json.loads(body)["message"] == "unknown object type: disks"
