"""`pallet serve` on a temp socket and a temp root, driven by real Docker clients.

The `api` fixture starts the installed `pallet serve` (the console script next to this
interpreter) and puts a recording proxy (wire.py) in front of it: clients talk to `api.host`,
and when the test ends every response they received is validated against the Engine API's
specification (spec.py); a violation fails the test. Then the server gets SIGTERM and must
exit 0 within seconds, its socket gone; the containers the test left are removed.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.api import spec
from tests.api.wire import WireRecorder
from tests.conftest import PALLET
from tests.images import make_busybox_image

DOCKER_CLI = "/usr/bin/docker"   # the docker.io package's CLI (scripts/setup installs it)


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class ApiServer:
    def __init__(self, root: Path, directory: Path) -> None:
        self.root = root
        self.directory = directory
        self.server_socket = str(directory / "pallet.sock")
        self.proxy_socket = str(directory / "docker.sock")
        self.host = f"unix://{self.proxy_socket}"
        self.config_dir = directory / "docker-config"
        self.config_dir.mkdir()
        self.log = directory / "serve.log"
        self.process: subprocess.Popen | None = None
        self.wire: WireRecorder | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env.pop("PALLET_ROOT", None)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(PALLET), "--root", str(self.root), "serve", "-H",
                 f"unix://{self.server_socket}", "--pidfile", str(self.directory / "serve.pid")],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"pallet serve exited: {self.log.read_text()}")
            if self._ping(self.server_socket):
                break
            time.sleep(0.02)
        else:
            raise AssertionError(f"pallet serve did not answer: {self.log.read_text()}")
        self.wire = WireRecorder(self.proxy_socket, self.server_socket).__enter__()

    @staticmethod
    def _ping(path: str) -> bool:
        try:
            connection = _UnixHTTP(path, timeout=2)
            connection.request("GET", "/_ping")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except OSError:
            return False

    # -- clients ---------------------------------------------------------------------------
    def env(self, **extra) -> dict:
        env = dict(os.environ)
        env.update({"DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0",
                    "DOCKER_CONFIG": str(self.config_dir), "DOCKER_CLI_HINTS": "false"})
        env.update(extra)
        return env

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 120,
               check: bool = False, **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run([DOCKER_CLI, *args], input=input, capture_output=True,
                                env=self.env(), timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout.decode(errors='replace')}\n"
                                 f"{result.stderr.decode(errors='replace')}")
        return result

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                timeout: float = 60) -> tuple[int, dict, bytes]:
        """One raw HTTP request through the recording proxy: (status, headers, body)."""
        connection = _UnixHTTP(self.proxy_socket, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def client(self, **kwargs):
        import docker
        return docker.DockerClient(base_url=self.host, **kwargs)

    # -- end of the test -------------------------------------------------------------------
    def wire_violations(self) -> list[str]:
        problems = []
        for exchange in list(self.wire.exchanges) if self.wire else []:
            problems += spec.violations(exchange.method, exchange.path, exchange.status,
                                        exchange.content_type, exchange.body)
        return problems

    def stop(self) -> int | None:
        if self.wire is not None:
            self.wire.close()
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("pallet serve did not stop within 40 s of SIGTERM")


def remove_containers(root: Path) -> None:
    from pallet.runtime.container.lifecycle import remove_container
    from pallet.runtime.container.state import ContainerStore
    store = ContainerStore(root)
    for record in store.all():
        try:
            remove_container(store, record.id, force=True, volumes=True)
        except Exception:  # noqa: BLE001 - best-effort cleanup after a failed test
            continue


@pytest.fixture
def api_root(pallet_root: Path) -> Path:
    """A store holding busybox:latest (made locally, no network)."""
    make_busybox_image(pallet_root, "busybox:latest")
    return pallet_root


@pytest.fixture
def api(api_root: Path):
    # Unix socket paths must stay under 108 bytes: pytest's tmp_path can be longer.
    directory = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp"))
    server = ApiServer(api_root, directory)
    try:
        server.start()
        yield server
        problems = server.wire_violations()
        assert not problems, "responses outside the Engine API spec:\n" + "\n".join(problems)
    finally:
        code = server.stop()
        remove_containers(api_root)
        log = server.log.read_text(errors="replace") if server.log.exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
    assert code == 0, f"pallet serve exited {code} on SIGTERM:\n{log}"
    assert not os.path.exists(server.server_socket), "the socket outlived the server"
    assert "Traceback" not in log, f"the server logged a traceback:\n{log}"
