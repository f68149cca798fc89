"""pallet as a client: `pallet serve` on a temp socket (tests/api's `api` fixture: a recording
proxy in front, every response checked against the Engine API spec), driven by `pallet -H`,
PALLET_HOST, DOCKER_HOST and contexts.

`client_env` is an environment with no ambient host selection (no PALLET_HOST, DOCKER_HOST,
DOCKER_CONTEXT, TLS variables) and a private Docker config directory, so contexts a test makes
never touch the user's ~/.docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.api.conftest import api, api_root  # noqa: F401  (the fixtures, reused)
from tests.conftest import PALLET

HOST_VARIABLES = ("PALLET_HOST", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                  "DOCKER_CERT_PATH", "DOCKER_CONFIG", "PALLET_ROOT")


@pytest.fixture
def client_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in HOST_VARIABLES}
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    # ssh control sockets go here: a short path (a socket's is at most 107 bytes)
    runtime = tempfile.mkdtemp(prefix="prt-", dir="/tmp")
    env["XDG_RUNTIME_DIR"] = runtime
    yield env
    shutil.rmtree(runtime, ignore_errors=True)


def run_pallet(*args: str, env: dict, input: bytes | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(PALLET), *args], env=env, capture_output=True, input=input,
                          timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (f"exit {result.returncode}\nstdout: "
                                    f"{result.stdout.decode(errors='replace')}\nstderr: "
                                    f"{result.stderr.decode(errors='replace')}")
    return result.stdout.decode()
