"""docker-compose 1.29 (Debian's, on its docker-py 5) with DOCKER_HOST=ssh://... against a pallet
host: the host is tests/sshhost.py's sshd in a network namespace, whose `docker` is pallet's
stand-in answering `docker system dial-stdio`. compose shells out to `ssh HOST docker system
dial-stdio` once per HTTP connection (COMPOSE_PARAMIKO_SSH unset), but its docker-py offers ssh://
only when paramiko imports (scripts/setup installs python3-paramiko; without it: "Install paramiko
package to enable ssh:// support"). Two services on a project network, one reaching the other by
name; up -d, ps, exec, down; nothing of the project left on the host."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.remote.sshremote import ssh_remote

pytestmark = [pytest.mark.server, pytest.mark.root, pytest.mark.netns]

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"

PROJECT = """\
version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello over ssh > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [back]
  client:
    image: busybox
    command: ["sleep", "300"]
    depends_on: [web]
    networks: [back]
networks:
  back:
"""


def test_compose_up_ps_exec_down_over_ssh(api, client_env, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "docker-compose.yml").write_text(PROJECT)
    name = f"cs{os.getpid()}"
    with ssh_remote(api, client_env) as remote:
        env = {**remote.env, "DOCKER_HOST": remote.url, "COMPOSE_PROJECT_NAME": name,
               "COMPOSE_INTERACTIVE_NO_CLI": "1"}

        def compose(*args: str, check: bool = True) -> subprocess.CompletedProcess:
            result = subprocess.run([COMPOSE, *args], cwd=project, env=env,
                                    capture_output=True, timeout=300)
            if check and result.returncode != 0:
                raise AssertionError(f"docker-compose {' '.join(args)}: {result.returncode}\n"
                                     f"{result.stdout.decode()}\n{result.stderr.decode()}")
            return result

        try:
            compose("up", "-d")
            listed = compose("ps").stdout.decode()
            assert f"{name}_web_1" in listed and f"{name}_client_1" in listed
            assert listed.count(" Up ") == 2, listed
            # the containers are the host's: its store lists them, on the project's network
            on_host = api.docker("ps", "--format", "{{.Names}} {{.Networks}}").stdout.decode()
            assert sorted(on_host.split("\n")[:-1]) == [f"{name}_client_1 {name}_back",
                                                       f"{name}_web_1 {name}_back"]
            fetched = compose("exec", "-T", "client", "wget", "-qO-", "http://web/")
            assert fetched.stdout == b"hello over ssh\n"
        finally:
            down = compose("down", "-t", "1", check=False)
        assert down.returncode == 0, down.stderr
        # every HTTP connection went through the stand-in, over the one sshd
        assert set(remote.host.commands()) == {"docker system dial-stdio"}
    assert api.docker("ps", "-aq").stdout.strip() == b""
    assert name not in api.docker("network", "ls").stdout.decode()
