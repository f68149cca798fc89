"""ssh:// as Docker does it, across a network boundary: `ssh -T ... HOST -- pallet system
dial-stdio` with HTTP over the pipe, one ssh master connection for many sessions; the stock
docker CLI and docker-py reach a pallet host through its `docker` stand-in; failures are one
paragraph."""

from __future__ import annotations

import subprocess

import pytest

from tests.api.conftest import DOCKER_CLI
from tests.remote.conftest import ok, run_pallet
from tests.remote.sshremote import ssh_remote

pytestmark = [pytest.mark.server, pytest.mark.root, pytest.mark.netns]


def test_pallet_over_ssh_runs_dial_stdio_and_multiplexes_one_connection(api, client_env):
    ok(run_pallet("--root", str(api.root), "create", "--name", "far", "busybox", "true",
                  env=client_env))
    with ssh_remote(api, client_env) as remote:
        names = ok(run_pallet("-H", remote.url, "ps", "-a", "--format", "{{.Names}}",
                              env=remote.env))
        assert names == "far\n"
        assert "busybox" in ok(run_pallet("-H", remote.url, "images", env=remote.env))
        text = ok(run_pallet("-H", remote.url, "version", env=remote.env))
        assert "Server: pallet" in text
        commands = remote.host.commands()
        assert commands and set(commands) == {"pallet system dial-stdio"}, commands
        # three commands, each at least one session: one ssh login, the master's
        assert len(commands) >= 3 and remote.logins() == 1
        assert len(remote.masters()) == 1
        control = remote.control_dir()
        assert control.stat().st_mode & 0o777 == 0o700


def test_a_context_names_an_ssh_host(api, client_env):
    with ssh_remote(api, client_env) as remote:
        ok(run_pallet("context", "create", "far", "--docker", f"host={remote.url}",
                      env=remote.env))
        ok(run_pallet("--root", str(api.root), "create", "--name", "ctx1", "busybox", "true",
                      env=client_env))
        assert ok(run_pallet("--context", "far", "ps", "-aq", "--no-trunc",
                             "--format", "{{.Names}}", env=remote.env)) == "ctx1\n"
        ok(run_pallet("context", "use", "far", env=remote.env))
        assert ok(run_pallet("ps", "-a", "--format", "{{.Names}}", env=remote.env)) == "ctx1\n"
        version = ok(run_pallet("version", "--format", "{{.Client.Context}}", env=remote.env))
        assert version == "far\n"


def test_the_stock_docker_cli_and_docker_py_reach_a_pallet_host_over_ssh(api, client_env):
    ok(run_pallet("--root", str(api.root), "create", "--name", "viadocker", "busybox", "true",
                  env=client_env))
    with ssh_remote(api, client_env) as remote:
        env = {**remote.env, "DOCKER_HOST": remote.url, "DOCKER_CLI_HINTS": "false"}
        result = subprocess.run([DOCKER_CLI, "ps", "-a", "--format", "{{.Names}}"], env=env,
                                capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.decode() == "viadocker\n"
        script = ("import docker, sys\n"
                  "client = docker.DockerClient(base_url=sys.argv[1], use_ssh_client=True)\n"
                  "print(sorted(c.name for c in client.containers.list(all=True)))\n"
                  "print(client.version()['Components'][0]['Name'])\n")
        import sys
        sdk = subprocess.run([sys.executable, "-c", script, remote.url], env=env,
                             capture_output=True, timeout=120)
        assert sdk.returncode == 0, sdk.stderr.decode()
        assert sdk.stdout.decode().splitlines() == ["['viadocker']", "Engine"]
        assert "docker system dial-stdio" in remote.host.commands()
        # the stand-in serves nothing else: a clear error, not a half-working docker
        other = remote.host.run("docker ps", check=False)
        assert other.returncode == 1
        assert b"this host runs pallet, not Docker" in other.stderr


def test_ssh_failures_are_one_paragraph(api, client_env, tmp_path):
    with ssh_remote(api, client_env) as remote:
        address = remote.host.address
        refused = run_pallet("-H", f"ssh://root@{address}:2", "ps", env=remote.env)
        err = refused.stderr.decode()
        assert refused.returncode == 1
        assert err.startswith(f"Cannot connect to the pallet engine at ssh://root@{address}:2: "
                              "ssh exited with status 255: ssh: connect to host"), err
        assert "Connection refused" in err and err.count("\n") == 1
        # a key the host does not know
        stranger = tmp_path / "stranger"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                       check=True)
        wrapper = tmp_path / "bin"
        wrapper.mkdir()
        (wrapper / "ssh").write_text(
            "#!/bin/sh\nexec /usr/bin/ssh -o IdentitiesOnly=yes -i " + str(stranger) +
            " -o UserKnownHostsFile=" + str(remote.host.known_hosts) + ' "$@"\n')
        (wrapper / "ssh").chmod(0o755)
        wrong = run_pallet("-H", remote.url, "ps",
                           env={**remote.env, "PATH": f"{wrapper}:/usr/bin:/bin"})
        err = wrong.stderr.decode()
        assert wrong.returncode == 1 and "Permission denied (publickey)" in err, err
        assert "Traceback" not in err
