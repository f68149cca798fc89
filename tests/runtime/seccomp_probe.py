"""The static syscall probe (seccomp_probe.c), built once per test session with gcc.

    probe_binary(directory) -> Path     # compile into directory (gcc and libc6-dev: scripts/setup)

Tests bind-mount it read-only at /probe in busybox containers of pallet and of a private
dockerd and run `/probe CALL [ARG]`, which prints CALL=ok or CALL=EPERM/ENOSYS/...
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("seccomp_probe.c")


def probe_binary(directory: Path) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:  # a missing tool is a failure, not a skip
        raise AssertionError("gcc is not installed: run ./scripts/setup (gcc, libc6-dev)")
    binary = directory / "probe"
    subprocess.run([gcc, "-static", "-O1", "-o", str(binary), str(SOURCE)], check=True,
                   capture_output=True)
    return binary


@pytest.fixture(scope="session")
def probe(tmp_path_factory) -> Path:
    return probe_binary(tmp_path_factory.mktemp("probe"))


def parse(output: str) -> dict[str, str]:
    """{'keyctl': 'EPERM', ...} from the probe's CALL=RESULT lines."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
