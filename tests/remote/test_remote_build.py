"""build through `pallet -H unix://...`: the local context sent after .dockerignore (the build
file and the ignore file always, a build file from outside the context under a name COPY
does not see), the host's progress drawn as a local build draws it (plain lines, the
terminal's view), -q/--iidfile, and failures in the local build's words."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PALLET
from tests.ptyrun import final_screen, run_in_pty
from tests.remote.streams_support import remote_env, local, ok, remote, remote_argv

pytestmark = [pytest.mark.root, pytest.mark.server]

BUILD_FILE = "FROM busybox\nCOPY . /app\nRUN ls -A /app | sort; echo built\nENV DONE=1\n"


def _context(tmp_path: Path) -> Path:
    context = tmp_path / "ctx"
    (context / "sub").mkdir(parents=True)
    (context / "Dockerfile").write_text(BUILD_FILE)
    (context / "sub" / "kept.txt").write_text("kept\n")
    (context / "secret.txt").write_text("never sent\n")
    (context / "big.bin").write_bytes(b"\0" * (3 << 20))
    (context / ".dockerignore").write_text("secret.txt\nDockerfile\n.dockerignore\n")
    return context


def _steps(stderr: bytes) -> list[str]:
    """Plain progress with step numbers and times taken out; the context upload dropped."""
    lines = []
    numbers: dict[str, str] = {}
    for line in stderr.decode().splitlines():
        found = re.match(r"#(\d+) (.*)", line)
        if not found:
            lines.append(line)
            continue
        number, rest = found.groups()
        if rest == "[internal] load build context":
            numbers[number] = "context"
        if numbers.get(number) == "context":
            continue
        rest = re.sub(r"^\d+\.\d{3} ", "", rest)
        rest = re.sub(r"DONE \d+\.\ds", "DONE", rest)
        rest = re.sub(r" \d+\.\ds done$", " T done", rest)
        rest = re.sub(r"sha256:[0-9a-f]{64}", "sha256:ID", rest)
        lines.append(rest)
    return lines


def test_remote_build_sends_the_context_and_shows_the_local_progress(api, tmp_path):
    context = _context(tmp_path)
    there = remote(api, "build", "--progress", "plain", "-t", "rio-built:1", str(context))
    assert there.returncode == 0, there.stderr.decode()
    here = local(api, "build", "--progress", "plain", "--no-cache", "-t", "rio-local:1",
                 str(context))
    assert here.returncode == 0, here.stderr.decode()
    shown = there.stderr.decode()
    # the upload is the [internal] step, with BuildKit's transfer line (3 MiB and a bit)
    assert re.search(r"#1 \[internal\] load build context\n#1 transferring context: "
                     r"3\.\d\dMB \d+\.\ds done\n#1 DONE \d+\.\ds\n", shown), shown
    assert _steps(there.stderr) == [line.replace("rio-local", "rio-built")
                                    for line in _steps(here.stderr)]
    # .dockerignore kept secret.txt out (the build file and the ignore file travel, so the
    # host could read them, and its COPY leaves them out as the rules say)
    listed = ok(remote(api, "run", "--rm", "rio-built:1", "ls", "-A", "/app")).split()
    assert listed == ["big.bin", "sub"]
    assert ok(local(api, "run", "--rm", "rio-local:1", "ls", "-A", "/app")).split() == listed
    assert b"built" in there.stderr and there.stdout == b""


def test_a_build_file_outside_the_context_and_quiet_output(api, tmp_path):
    context = _context(tmp_path)
    (context / "Dockerfile").unlink()
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text(BUILD_FILE)
    iidfile = tmp_path / "iid"
    there = remote(api, "build", "-q", "--iidfile", str(iidfile), "-f", str(outside), "-t",
                   "rio-outside:1", str(context))
    assert there.returncode == 0, there.stderr.decode()
    image_id = there.stdout.decode().strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id) and there.stderr == b""
    assert iidfile.read_text() == image_id
    assert image_id in ok(local(api, "images", "-q", "--no-trunc")).split()
    listed = ok(remote(api, "run", "--rm", "rio-outside:1", "ls", "-A", "/app")).split()
    assert listed == ["big.bin", "sub"]     # no .dockerfile.<random> in it


def test_the_terminal_view_is_the_local_one(api, tmp_path):
    context = _context(tmp_path)
    env = remote_env(api)
    there = run_in_pty(remote_argv(api, "build", "-t", "rio-tty:1", str(context)), env=env)
    here = run_in_pty([str(PALLET), "--root", str(api.root), "build", "--no-cache", "-t",
                       "rio-tty:1", str(context)], env=env)
    assert there.returncode == here.returncode == 0

    def screen(raw: bytes) -> list[str]:
        lines = [re.sub(r"\d+\.\ds", "T", line) for line in final_screen(raw)]
        return [re.sub(r"sha256:[0-9a-f]{64}", "ID", line) for line in lines
                if "load build context" not in line and "transferring context" not in line]

    assert screen(there.raw) == screen(here.raw)
    assert any("load build context" in line for line in final_screen(there.raw))


def test_build_failures_read_as_the_local_ones(api, tmp_path):
    context = tmp_path / "failing"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo about to fail; exit 3\n")
    here = local(api, "build", "--progress", "plain", str(context))
    there = remote(api, "build", "--progress", "plain", str(context))
    assert there.returncode == here.returncode == 1
    assert there.stderr.decode().splitlines()[-3:] == here.stderr.decode().splitlines()[-3:]
    (context / "Dockerfile").write_text("FROM busybox\nBOGUS thing\n")
    here = local(api, "build", str(context))
    there = remote(api, "build", str(context))
    assert there.returncode == here.returncode == 1
    assert there.stderr.decode().splitlines()[-4:] == here.stderr.decode().splitlines()[-4:]
    missing = remote(api, "build", str(tmp_path / "no-such-dir"))
    assert missing.returncode == 1
    assert missing.stderr == local(api, "build", str(tmp_path / "no-such-dir")).stderr


def test_an_unreadable_file_in_the_context_stops_the_build_before_anything_is_sent(
        api, tmp_path):
    context = _context(tmp_path)
    unreadable = context / "sub" / "locked.bin"
    unreadable.write_bytes(b"x")
    unreadable.chmod(0)
    before = len(api.wire.exchanges)
    # root reads anything: the client runs without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed"
    there = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", "--",
                            *remote_argv(api, "build", str(context))],
                           capture_output=True, env=remote_env(api), timeout=60)
    assert there.returncode == 1
    assert there.stderr.decode().strip() == \
        f"Error: error checking context: no permission to read from '{unreadable}'"
    assert not [e for e in api.wire.exchanges[before:] if "/build" in e.path]
