"""Containers through the stock docker CLI: run (attach before start, exit codes, stdin,
--rm), run -d + ps + logs -f + exec + cp both ways + stop + rm, inspect, pause, top, rename,
kill, wait, prune, `run -it` and `exec -it` through a pty. Every response is checked against
the spec by the `api` fixture."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.api.conftest import DOCKER_CLI

pytestmark = [pytest.mark.server, pytest.mark.root]


def test_run_prints_output_and_returns_the_exit_code(api):
    result = api.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert api.docker("ps", "-aq").stdout.strip() == b""   # --rm removed it


def test_run_never_loses_the_first_bytes(api):
    # attach and wait come before start: a container that prints and exits at once must
    # still show its output, every time
    for number in range(8):
        result = api.docker("run", "--rm", "busybox", "echo", f"line {number}")
        assert (result.returncode, result.stdout) == (0, f"line {number}\n".encode()), result.stderr


def test_run_with_stdin_and_half_close(api):
    result = api.docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo after-eof",
                        input=b"one\ntwo\n")
    assert result.returncode == 0
    assert result.stdout == b"one\ntwo\nafter-eof\n"


def test_run_failures_have_dockers_exit_codes(api):
    missing = api.docker("run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == 127
    assert b"executable file not found" in missing.stderr
    image = api.docker("run", "--rm", "no-such-image:1")
    assert image.returncode == 125
    assert b"Unable to find image 'no-such-image:1' locally" in image.stderr
    assert api.docker("ps", "-aq").stdout.strip() == b""


def test_detached_container_lifecycle(api, tmp_path):
    cid = api.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                     "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
                     check=True).stdout.decode().strip()
    assert len(cid) == 64
    listed = api.docker("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}", check=True)
    assert listed.stdout.decode().startswith(f"{cid[:12]} ticker Up")
    # logs -f streams until we stop reading; --tail limits the replay
    follow = subprocess.Popen([DOCKER_CLI, "logs", "-f", "ticker"], stdout=subprocess.PIPE,
                              env=api.env())
    lines = [follow.stdout.readline() for _ in range(3)]
    follow.kill()
    follow.wait()
    assert lines == [b"tick 0\n", b"tick 1\n", b"tick 2\n"]
    tail = api.docker("logs", "--tail", "1", "ticker", check=True).stdout.decode()
    assert len(tail.splitlines()) == 1 and tail.startswith("tick ")
    # exec: output and exit code
    executed = api.docker("exec", "ticker", "sh", "-c", "echo in-exec; exit 5")
    assert (executed.returncode, executed.stdout) == (5, b"in-exec\n")
    missing_exec = api.docker("exec", "ticker", "no-such-tool")
    assert missing_exec.returncode == 126
    assert b"executable file not found" in missing_exec.stdout + missing_exec.stderr
    # cp both ways
    source = tmp_path / "payload.txt"
    source.write_bytes(b"from the host\n")
    api.docker("cp", str(source), "ticker:/tmp/payload.txt", check=True)
    assert api.docker("exec", "ticker", "cat", "/tmp/payload.txt").stdout == b"from the host\n"
    directory = tmp_path / "tree"
    (directory / "sub").mkdir(parents=True)
    (directory / "sub" / "f").write_text("nested\n")
    api.docker("cp", str(directory), "ticker:/srv", check=True)
    assert api.docker("exec", "ticker", "cat", "/srv/sub/f").stdout == b"nested\n"
    api.docker("cp", "ticker:/srv", str(tmp_path / "back"), check=True)
    assert (tmp_path / "back" / "sub" / "f").read_text() == "nested\n"
    api.docker("cp", "ticker:/etc/hostname", str(tmp_path / "hostname"), check=True)
    assert (tmp_path / "hostname").read_text().strip() == cid[:12]
    missing = api.docker("cp", "ticker:/no/such/file", str(tmp_path / "x"))
    # the CLI words the 404 itself, as with dockerd
    assert missing.returncode == 1
    assert b"No such container:path: ticker:/no/such/file" in missing.stderr
    # stop (SIGTERM ignored by sh as PID 1 here, so the timeout's SIGKILL), then rm
    started = time.monotonic()
    api.docker("stop", "-t", "1", "ticker", check=True)
    assert time.monotonic() - started < 10
    state = json.loads(api.docker("inspect", "ticker", check=True).stdout)[0]["State"]
    assert state["Status"] == "exited" and state["Running"] is False
    api.docker("rm", "ticker", check=True)
    assert api.docker("ps", "-aq").stdout.strip() == b""


def test_inspect_pause_top_rename_kill_wait(api):
    api.docker("run", "-d", "--name", "sleeper", "--label", "tier=web", "busybox",
               "sleep", "300", check=True)
    document = json.loads(api.docker("inspect", "sleeper", check=True).stdout)[0]
    assert document["Name"] == "/sleeper"
    assert document["Config"]["Labels"]["tier"] == "web"
    assert document["State"]["Running"] is True and document["State"]["Pid"] > 0
    top = api.docker("top", "sleeper", check=True).stdout.decode().splitlines()
    assert top[0].split()[:2] == ["UID", "PID"] and "sleep 300" in top[1]
    api.docker("pause", "sleeper", check=True)
    assert "(Paused)" in api.docker("ps", "--format", "{{.Status}}").stdout.decode()
    again = api.docker("pause", "sleeper")
    assert again.returncode == 1 and b"already paused" in again.stderr
    api.docker("unpause", "sleeper", check=True)
    labelled = api.docker("ps", "-q", "--filter", "label=tier=web").stdout.decode().split()
    assert len(labelled) == 1
    assert api.docker("ps", "-q", "--filter", "label=tier=db").stdout.strip() == b""
    api.docker("rename", "sleeper", "renamed", check=True)
    bad = api.docker("rename", "renamed", "with/slash")
    assert bad.returncode == 1 and b"Invalid container name" in bad.stderr
    api.docker("kill", "renamed", check=True)
    assert api.docker("wait", "renamed", check=True).stdout.strip() == b"137"
    pruned = api.docker("container", "prune", "-f", check=True).stdout.decode()
    assert document["Id"] in pruned
    unknown = api.docker("inspect", "--type", "container", "nothing-here")
    assert unknown.returncode == 1 and b"No such container: nothing-here" in unknown.stderr


def _through_pty(api, command: list[str], typed: bytes) -> tuple[int, bytes]:
    """Run the docker CLI on a real terminal (script(1) gives it a pty)."""
    shell_line = " ".join(command)
    result = subprocess.run(["script", "-qec", shell_line, "/dev/null"], input=typed,
                            capture_output=True, env=api.env(), timeout=60)
    return result.returncode, result.stdout


def _detach_from_run(api) -> int:
    """docker run -it on a pty of our own: type a command, wait for its output (the CLI's
    terminal is raw by then, so Ctrl-Q is not flow control), then type the detach keys."""
    import pty
    import select
    master, slave = pty.openpty()
    process = subprocess.Popen([DOCKER_CLI, "run", "-it", "--name", "detached", "busybox", "sh"],
                               stdin=slave, stdout=slave, stderr=slave, env=api.env(),
                               start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        os.write(master, b"echo typed-$((40+2))\n")
        deadline = time.monotonic() + 60
        while b"typed-42" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 65536)
        assert b"typed-42" in seen, seen
        os.write(master, b"\x10\x11")
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code


def test_run_and_exec_interactive_through_a_pty(api):
    code, output = _through_pty(api, [DOCKER_CLI, "run", "-it", "--rm", "busybox", "sh"],
                                b"echo typed-$((6*7)); tty; exit 7\n")
    assert code == 7
    assert b"typed-42" in output
    assert b"/dev/pts/0" in output
    # Ctrl-P Ctrl-Q detaches `run -it`: the CLI returns 0, the shell runs on
    assert _detach_from_run(api) == 0
    assert api.docker("inspect", "-f", "{{.State.Running}}", "detached").stdout == b"true\n"
    api.docker("rm", "-f", "detached", check=True)
    api.docker("run", "-d", "--name", "shell", "busybox", "sleep", "300", check=True)
    code, output = _through_pty(api, [DOCKER_CLI, "exec", "-it", "shell", "sh"],
                                b"echo exec-$((2+3)); tty; exit 4\n")
    assert code == 4
    assert b"exec-5" in output and b"/dev/pts/" in output


def test_bad_container_requests_change_nothing(api):
    before = set(os.listdir(api.root / "containers")) if (api.root / "containers").exists() \
        else set()
    status, _, body = api.request("POST", "/v1.44/containers/create", body=b"{not json",
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and json.loads(body)["message"].startswith("invalid JSON")
    status, _, body = api.request("POST", "/v1.44/containers/create?name=a/b",
                                  body=json.dumps({"Image": "busybox"}),
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and "Invalid container name" in json.loads(body)["message"]
    status, _, body = api.request(
        "POST", "/v1.44/containers/create",
        body=json.dumps({"Image": "busybox", "HostConfig": {"Devices": [
            {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]}}),
        headers={"Content-Type": "application/json"})
    assert status == 400 and "devices" in json.loads(body)["message"]
    status, _, body = api.request("GET", "/v1.44/containers/nope/json")
    assert status == 404 and json.loads(body) == {"message": "No such container: nope"}
    after = set(os.listdir(api.root / "containers")) if (api.root / "containers").exists() \
        else set()
    assert {e for e in after if len(e) == 64} == {e for e in before if len(e) == 64}
