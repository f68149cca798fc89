"""The commands that act on a remote host through the Engine API: each prints what the same
command prints locally on the host's store, and changes the host's store, not the client's."""

from __future__ import annotations

import json

import pytest

from tests.registry import private_registry
from tests.remote.conftest import ok, run_pallet

pytestmark = [pytest.mark.server, pytest.mark.root]


def _both(api, env):
    """(remote, local) runners: the same arguments through the API and on the host's store."""
    def remote(*args, **kwargs):
        return run_pallet("-H", api.host, *args, env=env, **kwargs)

    def local(*args, **kwargs):
        return run_pallet("--root", str(api.root), *args, env=env, **kwargs)
    return remote, local


def test_container_lifecycle_over_the_api(api, client_env):
    remote, local = _both(api, client_env)
    ok(local("create", "--name", "life", "-p", "127.0.0.1::8080", "busybox", "sleep", "300"))
    started = remote("start", "life", "nope")
    assert started.returncode == 1 and started.stdout == b"life\n"
    assert started.stderr == b"Error response from daemon: No such container: nope\n"
    status = ["ps", "--format", "{{.Names}} {{.State}}"]
    assert ok(remote(*status)) == ok(local(*status)) == "life running\n"
    assert ok(remote("port", "life")) == ok(local("port", "life"))
    assert ok(remote("port", "life", "8080")) == ok(local("port", "life", "8080"))
    assert "sleep 300" in ok(remote("top", "life"))
    assert ok(remote("pause", "life")) == "life\n"
    assert ok(local("ps", "--format", "{{.State}}")) == "paused\n"
    assert ok(remote("unpause", "life")) == "life\n"
    assert ok(remote("rename", "life", "long")) == ""
    inspected = json.loads(ok(remote("inspect", "long")))
    assert inspected[0]["Name"] == "/long" and inspected[0]["State"]["Running"]
    assert ok(remote("container", "inspect", "-f", "{{.Config.Cmd}}", "long")) == \
        ok(local("container", "inspect", "-f", "{{.Config.Cmd}}", "long"))
    assert ok(remote("kill", "long")) == "long\n"
    assert ok(remote("wait", "long")) == "137\n"
    assert ok(remote("restart", "-t", "1", "long")) == "long\n"
    assert ok(remote("stop", "-t", "1", "long")) == "long\n"
    assert ok(local("ps", "-a", "--format", "{{.State}}")) == "exited\n"
    assert ok(remote("start", "long")) == "long\n"
    assert ok(remote("stop", "-s", "KILL", "long")) == "long\n"
    bad = remote("kill", "-s", "NOSUCH", "long")
    assert bad.returncode != 0 and b"Traceback" not in bad.stderr
    assert ok(remote("rm", "-f", "long")) == "long\n"
    assert ok(local("ps", "-aq")) == ""
    ok(local("create", "--name", "gone", "busybox", "true"))
    pruned = ok(remote("container", "prune", "-f"))
    assert pruned.startswith("Deleted Containers:\n") and "Total reclaimed space:" in pruned
    missing = remote("inspect", "nothing-here")
    assert missing.returncode == 1 and missing.stderr == b"Error: No such object: nothing-here\n"


def test_images_networks_and_volumes_over_the_api(api, client_env):
    remote, local = _both(api, client_env)
    assert ok(remote("tag", "busybox", "mine:2")) == ""
    assert "mine:2" in ok(local("images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert ok(remote("image", "inspect", "-f", "{{.Id}}", "mine:2")) == \
        ok(local("image", "inspect", "-f", "{{.Id}}", "mine:2"))
    removed = remote("rmi", "mine:2", "nosuch")
    assert removed.returncode == 1 and removed.stdout == b"Untagged: mine:2\n"
    # the host's own words (dockerd says "nosuch:latest"; pallet serve, for now, "nosuch")
    assert removed.stderr.startswith(b"Error response from daemon: No such image: nosuch")

    network_id = ok(remote("network", "create", "--label", "team=a", "--subnet",
                           "10.231.7.0/24", "rnet")).strip()
    listing = ["network", "ls", "--format", "{{.ID}} {{.Name}} {{.Driver}} {{.Labels}}"]
    assert ok(remote(*listing)) == ok(local(*listing))
    assert network_id[:12] in ok(remote("network", "ls", "-q"))
    assert ok(remote("network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}"
                     "{{end}}", "rnet")) == "rnet 10.231.7.0/24\n"
    ok(local("create", "--name", "member", "--network", "rnet", "busybox", "true"))
    networks = ["inspect", "-f", "{{json .NetworkSettings.Networks}}", "member"]
    ok(remote("network", "disconnect", "rnet", "member"))
    assert "rnet" not in ok(local(*networks))
    ok(remote("network", "connect", "--alias", "web", "rnet", "member"))
    assert "rnet" in ok(local(*networks)) and "web" in ok(local(*networks))
    ok(local("rm", "member"))
    assert ok(remote("network", "rm", "rnet")) == "rnet\n"
    absent = remote("network", "rm", "rnet")
    assert absent.returncode == 1 and b"Error response from daemon: " in absent.stderr
    assert ok(remote("network", "rm", "-f", "rnet")) == ""
    ok(remote("network", "create", "spare"))
    assert "Deleted Networks:\nspare\n" in ok(remote("network", "prune", "-f"))

    assert ok(remote("volume", "create", "--label", "k=v", "rvol")) == "rvol\n"
    assert ok(remote("volume", "ls")) == ok(local("volume", "ls"))
    assert ok(remote("volume", "ls", "-q", "--filter", "label=k=v")) == "rvol\n"
    assert ok(remote("volume", "inspect", "-f", "{{.Mountpoint}}", "rvol")) == \
        ok(local("volume", "inspect", "-f", "{{.Mountpoint}}", "rvol"))
    assert ok(remote("volume", "rm", "rvol")) == "rvol\n"
    ok(remote("volume", "create", "spare"))
    assert "spare" in ok(remote("volume", "prune", "-a", "-f"))
    assert ok(local("volume", "ls", "-q")) == ""

    df = ok(remote("system", "df")).splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].split()[:3] == ["Images", "1", "0"]
    assert df == ok(local("system", "df")).splitlines()
    ok(local("create", "--name", "stale", "busybox", "true"))
    pruned = ok(remote("system", "prune", "-f"))
    assert "Deleted Containers:" in pruned and pruned.endswith("\n")
    assert ok(local("ps", "-aq")) == ""


def test_pull_and_push_over_the_api(api, client_env, tmp_path):
    remote, local = _both(api, client_env)
    with private_registry(tmp_path / "registry") as registry:
        target = f"{registry.host}/team/box:1"
        ok(remote("tag", "busybox", target))
        pushed = ok(remote("push", target))
        assert pushed.startswith(f"The push refers to repository [{registry.host}/team/box]")
        assert "1: digest: sha256:" in pushed
        ok(remote("rmi", target))
        first = ok(remote("pull", target))
        assert first.startswith("1: Pulling from team/box\n") and ": Pulling fs layer\n" in first
        assert ": Download complete\n" in first and first.endswith(f"\n{target}\n"), first
        # the same store state, then the same command here and through the API: the same text
        ok(remote("rmi", target))
        here = ok(local("pull", target))
        ok(remote("rmi", target))
        assert ok(remote("pull", target)) == here
        assert target in ok(local("images", "--format", "{{.Repository}}:{{.Tag}}"))
        assert ok(remote("pull", "-q", target)) == f"{target}\n"
        failed = remote("pull", f"{registry.host}/team/nothing:1")
        assert failed.returncode == 1
        assert failed.stderr.decode().startswith("Error response from daemon: ")
