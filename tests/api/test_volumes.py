"""Volumes through the stock docker CLI and the SDK: create, ls (filters), inspect, a named
volume that outlives its container, rm refused while in use, prune (anonymous only unless
--all, as API 1.42+ says)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root]


def test_volume_lifecycle_through_the_cli(api):
    assert api.docker("volume", "create", "--label", "kind=data", "keep", check=True) \
        .stdout.strip() == b"keep"
    api.docker("volume", "create", "other", check=True)
    listed = api.docker("volume", "ls", "-q", check=True).stdout.decode().split()
    assert listed == ["keep", "other"]
    labelled = api.docker("volume", "ls", "-q", "--filter", "label=kind=data", check=True)
    assert labelled.stdout.decode().split() == ["keep"]
    document = json.loads(api.docker("volume", "inspect", "keep", check=True).stdout)[0]
    assert document["Name"] == "keep" and document["Driver"] == "local"
    assert document["Labels"] == {"kind": "data"}
    api.docker("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c",
               "echo persisted > /data/file", check=True)
    again = api.docker("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/file",
                       check=True)
    assert again.stdout == b"persisted\n"
    api.docker("run", "-d", "--name", "holder", "-v", "keep:/data", "busybox", "sleep", "300",
               check=True)
    refused = api.docker("volume", "rm", "keep")
    assert refused.returncode == 1 and b"volume is in use" in refused.stderr
    api.docker("rm", "-f", "holder", check=True)
    api.docker("volume", "rm", "keep", check=True)
    missing = api.docker("volume", "inspect", "keep")
    assert missing.returncode == 1 and b"No such volume: keep" in missing.stderr   # the CLI words a 404
    bad = api.docker("volume", "create", "bad/name")
    assert bad.returncode == 1 and b"includes invalid characters" in bad.stderr


def test_volume_prune_keeps_named_volumes_unless_all(api):
    api.docker("volume", "create", "named", check=True)
    api.docker("run", "--name", "anon", "-v", "/scratch", "busybox", "true", check=True)
    api.docker("rm", "anon", check=True)   # without -v: its anonymous volume stays
    before = api.docker("volume", "ls", "-q", check=True).stdout.decode().split()
    assert "named" in before and len(before) == 2
    # API 1.42+ (the SDK speaks 1.44): only anonymous volumes unless all=true
    client = api.client(version="auto")
    pruned = client.volumes.prune()
    assert len(pruned["VolumesDeleted"]) == 1 and "named" not in pruned["VolumesDeleted"]
    assert api.docker("volume", "ls", "-q").stdout.decode().split() == ["named"]
    # the 20.10 CLI speaks 1.41, where prune takes every unused volume (dockerd does the same)
    api.docker("volume", "prune", "-f", check=True)
    assert api.docker("volume", "ls", "-q").stdout.strip() == b""


def test_sdk_volumes(api):
    client = api.client(version="auto")
    volume = client.volumes.create("sdk-vol", labels={"a": "b"})
    assert volume.name == "sdk-vol" and volume.attrs["Labels"] == {"a": "b"}
    assert [v.name for v in client.volumes.list()] == ["sdk-vol"]
    output = client.containers.run("busybox", ["sh", "-c", "echo x > /v/f && cat /v/f"],
                                   volumes={"sdk-vol": {"bind": "/v", "mode": "rw"}},
                                   remove=True)
    assert output == b"x\n"
    volume.remove()
    assert client.volumes.list() == []
