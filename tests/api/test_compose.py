"""docker-compose 1.29 (Debian's package) against `pallet serve`: a two-service project — a web
service a second service reaches by name on the project's network, a published port on
127.0.0.1, a named volume, an env file — through up -d, ps, logs, exec and down -v."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.netutil import store_bridges, store_veths

pytestmark = [pytest.mark.server, pytest.mark.root, pytest.mark.netns]

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"

PROJECT = """\
version: "3.7"
services:
  web:
    image: busybox
    env_file: web.env
    command: ["sh", "-c", "mkdir -p /www && echo \\"hello from $$GREETING\\" > /www/index.html && cp /www/index.html /data/copy.html && exec httpd -f -p 80 -h /www"]
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - data:/data
  client:
    image: busybox
    command: ["sleep", "300"]
    depends_on: [web]
volumes:
  data:
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_compose_up_ps_logs_exec_down(api, tmp_path, pallet_root):
    port = _free_port()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "docker-compose.yml").write_text(PROJECT.format(port=port))
    (project / "web.env").write_text("GREETING=compose\n")
    name = f"pc{os.getpid()}"
    env = api.env(COMPOSE_PROJECT_NAME=name, COMPOSE_INTERACTIVE_NO_CLI="1")

    def compose(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([COMPOSE, *args], cwd=project, env=env, capture_output=True,
                                timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}: {result.returncode}\n"
                                 f"{result.stdout.decode()}\n{result.stderr.decode()}")
        return result

    try:
        compose("up", "-d")
        listed = compose("ps").stdout.decode()
        assert f"{name}_web_1" in listed and f"{name}_client_1" in listed
        assert listed.count("Up") == 2
        deadline = time.monotonic() + 30
        page = None
        while time.monotonic() < deadline:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert page == b"hello from compose\n"
        # the client reaches the web service by its name on the project's network
        fetched = compose("exec", "-T", "client", "wget", "-qO-", "http://web/")
        assert fetched.stdout == b"hello from compose\n"
        copied = compose("exec", "-T", "web", "cat", "/data/copy.html")
        assert copied.stdout == b"hello from compose\n"
        assert compose("logs", "web").returncode == 0
    finally:
        down = compose("down", "-v", check=False)
    assert down.returncode == 0, down.stderr
    assert api.docker("ps", "-aq").stdout.strip() == b""
    assert name not in api.docker("network", "ls").stdout.decode()
    assert name not in api.docker("volume", "ls").stdout.decode()
    # nothing of the project's networking is left on the host: no veth, lease or DNAT element,
    # and no bridge but the default one
    from pallet.runtime.network.firewall import port_elements
    from pallet.runtime.network.names import default_bridge, nft_table
    assert store_veths(pallet_root) == [] and port_elements(nft_table(pallet_root)) == []
    endpoints = pallet_root / "network" / "endpoints"
    assert not endpoints.exists() or list(endpoints.rglob("*.json")) == []
    assert set(store_bridges(pallet_root)) <= {default_bridge(pallet_root)}
