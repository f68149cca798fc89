"""POST /images/create (pull) and /images/{name}/push stream the engine's progress as dockerd's
JSON lines while the transfer happens, and the docker CLI and docker-py read them as they read
dockerd's: the CLI draws its bars from them on a terminal."""

from __future__ import annotations

import http.client
import json
import re
import socket

import pytest

from tests.bigimage import push_big_image
from tests.dockerd import DOCKER
from tests.ptyrun import final_screen, run_in_pty
from tests.registry import private_registry
from tests.throttle import throttled_proxy

pytestmark = [pytest.mark.server, pytest.mark.root]

LAYER = 16 << 20
RATE = 8 << 20


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


@pytest.fixture
def big(tmp_path):
    with private_registry(tmp_path / "registry") as registry:
        _, reference = push_big_image(tmp_path, registry.host, LAYER)
        yield registry, reference


def test_pull_streams_growing_byte_counts_while_the_layer_downloads(api, big):
    registry, reference = big
    with throttled_proxy(int(registry.host.split(":")[1]), RATE) as proxy:
        repository = reference.replace(registry.host, proxy.host).rsplit(":", 1)[0]
        connection = _Unix(api.proxy_socket)
        connection.request("POST", f"/v1.44/images/create?fromImage={repository}&tag=1")
        response = connection.getresponse()
        assert response.status == 200
        arrived = []
        while True:
            line = response.readline()
            if not line:
                break
            arrived.append((json.loads(line), proxy.down))
        connection.close()
    downloading = [(message, down) for message, down in arrived
                   if message.get("status") == "Downloading"]
    during = [message["progressDetail"]["current"] for message, down in downloading
              if down < LAYER]
    assert len(during) >= 5 and during == sorted(during), during
    for message, _ in downloading:   # dockerd's shape, and its presentation of the numbers
        detail = message["progressDetail"]
        assert set(message) == {"status", "progressDetail", "progress", "id"}
        assert detail["total"] >= LAYER and re.fullmatch(r"[0-9a-f]{12}", message["id"])
        assert re.fullmatch(r"\[=*>? *\] +[0-9.]+[kMG]?B/[0-9.]+MB", message["progress"])
    statuses = [message.get("status") for message, _ in arrived]
    assert statuses[0] == "Pulling from prog/big" and arrived[0][0]["id"] == "1"
    short = downloading[0][0]["id"]
    assert [m["status"] for m, _ in arrived if m.get("id") == short and "progress" not in m] == [
        "Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete"]
    assert "Extracting" in statuses
    assert statuses[-2].startswith("Digest: sha256:")
    assert statuses[-1] == f"Status: Downloaded newer image for {repository}:1"


def test_docker_cli_draws_pallets_pull_and_push_like_dockerds(api, big, tmp_path):
    registry, reference = big
    with throttled_proxy(int(registry.host.split(":")[1]), RATE) as proxy:
        slow = reference.replace(registry.host, proxy.host)
        run = run_in_pty([DOCKER, "pull", slow], env=api.env(TERM="xterm"), columns=120)
    assert run.returncode == 0, run.raw
    assert re.search(rb"Downloading \[=*>", run.raw) and b"Extracting" in run.raw
    screen = final_screen(run.raw, 120)
    assert screen[0] == "1: Pulling from prog/big"
    assert re.fullmatch(r"[0-9a-f]{12}: Pull complete", screen[1])
    assert screen[3:] == [f"Status: Downloaded newer image for {slow}", slow]
    target = f"{registry.host}/prog/again:1"
    api.docker("tag", slow, target, check=True)
    run = run_in_pty([DOCKER, "push", target], env=api.env(TERM="xterm"), columns=120)
    assert run.returncode == 0, run.raw
    screen = final_screen(run.raw, 120)
    assert re.fullmatch(r"[0-9a-f]{12}: (Pushed|Layer already exists)", screen[1]), screen
    assert re.fullmatch(r"1: digest: sha256:[0-9a-f]{64} size: \d+", screen[2]), screen


def test_docker_py_reads_the_stream(api, big):
    registry, reference = big
    repository = reference.rsplit(":", 1)[0]
    client = api.client()
    messages = list(client.api.pull(repository, tag="1", stream=True, decode=True))
    assert messages[0] == {"status": "Pulling from prog/big", "id": "1"}
    assert any(m.get("status") == "Pull complete" for m in messages)
    assert client.images.get(reference).id.startswith("sha256:")
