"""Remote dispatch: with a host selected, commands act through the Engine API and print what the
local command prints; with none, nothing of the client is even imported."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.remote.conftest import ok, run_pallet

pytestmark = [pytest.mark.server, pytest.mark.root]

PS_FORMAT = "{{.ID}}|{{.Names}}|{{.Image}}|{{.Command}}|{{.Ports}}|{{.State}}|{{.Label \"k\"}}"


def _untimed(table: str) -> str:
    table = re.sub(r"(Less than a second|About a minute|\d+ seconds?)( ago)?", "T", table)
    return re.sub(r" {2,}", "  ", table)


def _local(api, *args, env):
    return ok(run_pallet("--root", str(api.root), *args, env=env))


def test_ps_over_the_api_prints_what_local_ps_prints(api, client_env):
    running = _local(api, "run", "-d", "--name", "up", "-l", "k=v", "-p", "127.0.0.1::80",
                     "busybox", "sleep", "60", env=client_env).strip()
    ok(run_pallet("--root", str(api.root), "create", "--name", "made", "busybox", "true",
                  env=client_env))
    for args in (["ps"], ["ps", "-a"], ["ps", "-q"], ["ps", "-aq", "--no-trunc"],
                 ["ps", "-a", "--format", PS_FORMAT], ["ps", "-a", "--filter", "name=made"],
                 ["ps", "-a", "--filter", "label=k=v", "--format", "{{.Names}}"],
                 ["ps", "-n", "1", "--format", "{{.Names}}"], ["ps", "-l", "-q"],
                 ["ps", "-a", "--format", "json"]):
        local = _local(api, *args, env=client_env)
        remote = ok(run_pallet("-H", api.host, *args, env=client_env))
        if "--format" not in args:
            # the CREATED/STATUS columns may tick between the two runs (and so the widths)
            local, remote = (_untimed(text) for text in (local, remote))
        elif "json" in args:
            local, remote = ([{k: v for k, v in json.loads(line).items()
                               if k not in ("RunningFor", "Status")}
                              for line in text.splitlines()] for text in (local, remote))
        assert remote == local, args
    assert running[:12] in ok(run_pallet("-H", api.host, "ps", "-q", env=client_env))


def test_images_over_the_api_prints_what_local_images_prints(api, client_env):
    _local(api, "tag", "busybox", "example.com/team/tool:1.0", env=client_env)
    for args in (["images", "--format", "{{.Repository}}|{{.Tag}}|{{.ID}}|{{.Size}}|{{.Digest}}"],
                 ["images", "-q"], ["images", "--no-trunc", "-q"], ["images", "busybox"],
                 ["images", "--filter", "reference=example.com/*/*", "--format",
                  "{{.Repository}}:{{.Tag}}"], ["images", "--digests"], ["images", "-a"]):
        remote = ok(run_pallet("-H", api.host, *args, env=client_env))
        local = _local(api, *args, env=client_env)
        assert _untimed(remote) == _untimed(local), args


def test_version_and_info_show_the_host(api, client_env):
    text = ok(run_pallet("-H", api.host, "version", env=client_env))
    assert "\nServer: pallet" in text and "API version:      1.44 (minimum version 1.24)" in text
    assert " Context:           default" in text
    served = ok(run_pallet("-H", api.host, "version", "--format", "{{json .Server}}",
                           env=client_env))
    assert json.loads(served)["ApiVersion"] == "1.44"
    root = ok(run_pallet("-H", api.host, "info", "--format", "{{.DockerRootDir}}",
                         env=client_env)).strip()
    assert root == str(api.root)       # the host's store, not the client's


def test_pallet_host_then_docker_host_select_the_host(api, client_env, tmp_path):
    missing = f"unix://{tmp_path}/no.sock"
    _local(api, "create", "--name", "seen", "busybox", "true", env=client_env)
    assert ok(run_pallet("ps", "-aq", env={**client_env, "PALLET_HOST": api.host})).strip()
    assert ok(run_pallet("ps", "-aq", env={**client_env, "DOCKER_HOST": api.host})).strip()
    # PALLET_HOST wins over DOCKER_HOST; -H over both
    both = {**client_env, "PALLET_HOST": api.host, "DOCKER_HOST": missing}
    assert "seen" in ok(run_pallet("ps", "-a", "--format", "{{.Names}}", env=both))
    refused = run_pallet("-H", missing, "ps", env=both)
    assert refused.returncode == 1
    assert refused.stderr.decode().startswith(
        f"Cannot connect to the pallet engine at {missing}: no such socket.")


def test_a_command_without_a_remote_form_refuses_and_never_runs_locally(api, client_env):
    result = run_pallet("-H", api.host, "update", "--cpus", "1", "x", env=client_env)
    assert result.returncode == 1
    assert f"`pallet update` is not supported on a remote host (selected: {api.host})" in \
        result.stderr.decode()
    nested = run_pallet("-H", api.host, "builder", "prune", "-f", env=client_env)
    assert nested.returncode == 1 and "`pallet builder prune` is not supported" in \
        nested.stderr.decode()


def test_bad_hosts_are_one_paragraph_errors(client_env, tmp_path):
    cases = {
        f"unix://{tmp_path}/absent.sock": "no such socket. Is `pallet serve`",
        "ssh://root@example.invalid/var/run/pallet.sock": "an ssh:// address takes no path",
        "ftp://host": "unsupported protocol 'ftp'",
        "tcp://127.0.0.1:1": "connection refused",
    }
    for url, words in cases.items():
        result = run_pallet("-H", url, "ps", env=client_env)
        err = result.stderr.decode()
        assert result.returncode == 1 and words in err, (url, err)
        assert "Traceback" not in err and "internal error" not in err
    both = run_pallet("-H", "unix:///x", "--context", "c", "ps", env=client_env)
    assert both.returncode == 1 and "conflicting options: either specify --host or --context" \
        in both.stderr.decode()


def test_the_local_path_imports_nothing_of_the_remote_client(api, client_env):
    probe = ("import sys, atexit\n"
             "atexit.register(lambda: print('LOADED', sorted(m for m in sys.modules if "
             "m.startswith(('pallet.remote', 'docker', 'requests', 'urllib3')))))\n"
             "from pallet.cli import main\n"
             "main(sys.argv[1:])\n")
    result = subprocess.run([sys.executable, "-c", probe, "--root", str(api.root), "ps", "-a"],
                            env=client_env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout.decode()
    remote = subprocess.run([sys.executable, "-c", probe, "-H", api.host, "ps", "-a"],
                            env=client_env, capture_output=True, timeout=60)
    assert "'pallet.remote.dispatch'" in remote.stdout.decode()   # the probe sees a remote run


def test_remote_listings_skip_the_docker_sdk(api, client_env):
    """ps, images, network ls, volume ls over unix:// (and tcp://) are one GET through
    http.client: the SDK's import (requests, urllib3, docker) was most of `pallet -H unix://
    ps`'s time."""
    probe = ("import sys, atexit\n"
             "atexit.register(lambda: print('SDK', sorted(m for m in sys.modules if "
             "m.split('.')[0] in ('docker', 'requests', 'urllib3'))))\n"
             "from pallet.cli import main\n"
             "main(sys.argv[1:])\n")
    ok(run_pallet("--root", str(api.root), "create", "--name", "listed", "busybox", "true",
                  env=client_env))
    ok(run_pallet("--root", str(api.root), "volume", "create", "listedvol", env=client_env))
    for args in (["ps", "-a", "--format", "{{.Names}}"], ["images", "-q"],
                 ["ps", "-a", "-f", "name=listed", "-q"], ["network", "ls", "-q"],
                 ["volume", "ls", "--format", "{{.Driver}}"]):
        result = subprocess.run([sys.executable, "-c", probe, "-H", api.host, *args],
                                env=client_env, capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.decode().splitlines()
        assert lines[-1] == "SDK []" and lines[:-1] and lines[0] != "", lines
    refused = subprocess.run([sys.executable, "-c", probe, "-H", api.host, "ps", "-f",
                              "nosuchkey=1"], env=client_env, capture_output=True, timeout=60)
    assert (refused.returncode, refused.stderr) == \
        (1, b"Error response from daemon: invalid filter 'nosuchkey'\n")


def test_every_remote_function_takes_the_local_commands_parameters():
    """dispatch calls REMOTE's function with the local callback's parameters: a local option
    added without its remote twin must fail here, not as a TypeError for a user."""
    import importlib
    import inspect

    import click

    from pallet.cli import cli
    from pallet.remote.dispatch import REMOTE
    checked = 0
    for path, target in REMOTE.items():
        words = path.split()
        ctx = click.Context(cli)
        command = cli.get_command(ctx, words[0])
        for word in words[1:]:
            command = command.get_command(ctx, word)
        assert command is not None, path
        local = [p.name for p in command.params]
        module_name, _, attribute = target.partition(":")
        function = getattr(importlib.import_module(module_name), attribute)
        parameters = list(inspect.signature(function).parameters.values())[1:]  # after ctx
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            continue   # (ctx, **params): takes whatever the local command has
        remote = [p.name for p in parameters]
        assert sorted(remote) == sorted(local), (path, remote, local)
        checked += 1
    assert checked > 50
