"""Volumes side by side with a private dockerd: the same commands give the same output, error
texts and exit codes, and the same Mounts (type, destination, mode, RW) in inspect."""

from __future__ import annotations

import json

import pytest

from tests.cli.ctr_helpers import pallet
from tests.cli.docker_pair import docker_pair, side_by_side
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

IMAGE = "volcmp/busybox:1"


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory):  # noqa: F811
    pair = docker_pair(dockerd, tmp_path_factory, "volcmp", IMAGE,
                       changes=('CMD ["sh"]', "VOLUME /data"))
    yield pair
    pair.close()


@pytest.mark.parametrize("args", [
    ("volume", "create", "a/b"), ("volume", "create", ".."), ("volume", "create", "x"),
    ("volume", "create", "-o", "foo=bar", "qq"), ("volume", "create", "-o", "type=tmpfs", "qq2"),
    ("volume", "create", "-d", "other", "qq3"), ("volume", "create", "cmp-v1"),
    ("volume", "create", "cmp-v1"), ("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels}}",
                                     "cmp-v1"),
    ("volume", "inspect", "nope"), ("volume", "rm", "nope"), ("volume", "rm", "-f", "nope"),
    ("volume", "ls", "--filter", "bad=1"), ("volume", "ls", "--filter", "dangling=nah"),
    ("volume", "ls", "--filter", "name=cmp-", "--format", "{{.Name}}|{{.Driver}}|{{.Scope}}"),
    ("run", "--rm", "--network", "none", "--mount", "type=volume,src=a/b,dst=/d", IMAGE, "true"),
    ("run", "--rm", "--network", "none", "-v", "cmp-v1:/d:bogus", IMAGE, "true"),
    ("run", "--rm", "--network", "none", "--mount", "type=volume,src=cmp-v1", IMAGE, "true"),
    ("run", "--rm", "--network", "none", "-v", "cmp-v1:/d", IMAGE, "sh", "-c",
     "echo x > /d/f && cat /d/f"),
    ("volume", "rm", "cmp-v1"),
])
def test_volume_commands_match_docker(both, args):
    ours, theirs = side_by_side(both, *args)
    assert ours[0] == theirs[0], (ours, theirs)
    assert ours[1] == theirs[1], (ours, theirs)
    # docker's run errors carry "docker: " and a usage line; the message itself must match
    # (pallet's run, as for its other engine errors, says "Error: " where docker's CLI says
    # "docker: Error response from daemon: ": the message itself must be docker's)
    first = [line for line in theirs[2].splitlines() if line][:1]
    message = first[0].removeprefix("docker: ") if first else ""
    if args[0] == "run":
        message = message.removeprefix("Error response from daemon: ")
    assert message in ours[2], (ours, theirs)


def test_volume_in_use_refused_like_docker(both):
    root, engine = both
    for runner in (lambda *a: engine.docker(*a, check=False), lambda *a: pallet(root, *a)):
        runner("run", "-d", "--network", "none", "--name", "cmp-vbusy", "-v", "cmp-used:/d",
               IMAGE, "sleep", "60")
    ours, theirs = side_by_side(both, "volume", "rm", "-f", "cmp-used")
    assert ours[0] == theirs[0] == 1
    assert ours[2].split(" - [")[0] == theirs[2].split(" - [")[0]
    for runner in (lambda *a: engine.docker(*a, check=False), lambda *a: pallet(root, *a)):
        runner("rm", "-f", "cmp-vbusy")
        runner("volume", "rm", "cmp-used")


@pytest.mark.parametrize("flags", [
    ("-v", "cmp-m:/d"), ("-v", "cmp-m:/d:ro"), ("-v", "cmp-m:/d:nocopy"),
    ("-v", "cmp-m:/d:rw,nocopy"), ("--mount", "type=volume,src=cmp-m,dst=/d"),
    ("--mount", "type=volume,src=cmp-m,dst=/d,readonly,volume-nocopy"), ("-v", "/d"),
    ("--mount", "type=volume,dst=/d"),
])
def test_mounts_in_inspect_match_docker(both, flags):
    root, engine = both
    shape = []
    for runner in (lambda *a: engine.docker(*a, check=False), lambda *a: pallet(root, *a)):
        made = runner("create", "--network", "none", *flags, IMAGE, "true")
        assert made.returncode == 0, made.stderr
        cid = made.stdout.decode().strip()
        shown = runner("inspect", "-f", "{{json .Mounts}}|{{json .HostConfig.Binds}}", cid)
        mounts, binds = shown.stdout.decode().strip().split("|")
        shape.append((sorted((m["Type"], m["Destination"], m["Driver"], m["Mode"], m["RW"],
                              m["Propagation"], m["Name"] == "cmp-m") for m in json.loads(mounts)),
                      json.loads(binds)))
        runner("rm", "-v", cid)
    assert shape[0] == shape[1]
