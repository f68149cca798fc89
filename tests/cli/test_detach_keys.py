"""Detaching, side by side with docker on a pty each test opens: Ctrl-P Ctrl-Q leaves a
foreground `run -it` (exit 0, nothing printed), an `attach` and an `exec -it` ("read escape
sequence", exit 1) with the container (and the exec'd process) running; --detach-keys as
docker parses them, and docker's refusals of a bad spec."""

from __future__ import annotations

import os
import pty
import select
import time

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.conftest import PALLET
from tests.dockerd import DOCKER, dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.root, pytest.mark.docker, pytest.mark.server]


def _on_pty(argv: list[str], env: dict, keys: list[bytes], wait_for: bytes = b"/ # "):
    """Run argv on a new pty: wait for the prompt, type each of keys (waiting for its echo or
    output between them); return (everything the terminal showed, exit code or None if it
    did not exit within 20 s)."""
    pid, master = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    if wait_for:
        seen = _read_until(master, wait_for, b"")
    else:   # attaching: a prompt answers Enter once the attach (and raw mode) is in place
        seen = b""
        deadline = time.monotonic() + 20
        while b"/ # " not in seen and time.monotonic() < deadline:
            os.write(master, b"\r")
            seen = _read_until(master, b"/ # ", seen, timeout=0.5)
    for typed in keys:
        os.write(master, typed)
        seen = _read_until(master, None, seen, settle=0.7)
    code = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen = _read_until(master, None, seen, settle=0.1)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    seen = _read_until(master, None, seen, settle=0.1)
    os.close(master)
    return seen, code


def _read_until(fd: int, wanted: bytes | None, seen: bytes, settle: float = 0.0,
                timeout: float = 20) -> bytes:
    deadline = time.monotonic() + (settle if wanted is None else timeout)
    while time.monotonic() < deadline and (wanted is None or wanted not in seen):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def _tools(root, engine):
    pallet_argv = [str(PALLET), "--root", str(root)]
    return {"docker": ([DOCKER], engine.env(), lambda *a: engine.docker(*a, check=False)),
            "pallet": (pallet_argv, dict(os.environ), lambda *a: pallet(root, *a))}


def _running(runner, name: str) -> str:
    return runner("inspect", "-f", "{{.State.Running}}", name).stdout.decode().strip()


def _tail(shown: bytes) -> bytes:
    """What the tool printed after the shell's last prompt (the shell's own bytes differ in
    nothing but timing)."""
    return shown.rpartition(b"/ # ")[2].replace(b"\x1b[6n", b"")


@pytest.fixture
def images(root, dockerd):  # noqa: F811
    from tests.images import busybox_rootfs_tarball
    dockerd.docker("import", "-c", 'CMD ["sh"]', str(busybox_rootfs_tarball()), "busybox")
    yield
    dockerd.docker("rm", "-f", "dk-run", "dk-keys", check=False)


def test_ctrl_p_ctrl_q_detaches_run_attach_and_exec_as_docker(root, dockerd, images):  # noqa: F811
    for tool, (argv, env, runner) in _tools(root, dockerd).items():
        shown, code = _on_pty(argv + ["run", "-it", "--network", "none", "--name", "dk-run",
                                      "busybox", "sh"], env,
                              [b"echo in-$((20+22))\r", b"\x10\x11"])
        # run: the shell's output reached the terminal, then a silent detach, exit 0
        assert b"in-42" in shown, (tool, shown)
        assert (code, _tail(shown)) == (0, b""), (tool, shown)
        assert _running(runner, "dk-run") == "true", tool

        shown, code = _on_pty(argv + ["attach", "dk-run"], env,
                              [b"echo again-$((1+1))\r", b"\x10\x11"], wait_for=b"")
        assert b"again-2" in shown, (tool, shown)
        assert (code, _tail(shown)) == (1, b"read escape sequence\r\n"), (tool, shown)
        assert _running(runner, "dk-run") == "true", tool

        # a lone Ctrl-P is the shell's (passed on when the next byte is not Ctrl-Q)
        shown, code = _on_pty(argv + ["exec", "-it", "dk-run", "sh"], env,
                              [b"sleep 300 &\r", b"\x10\x15", b"echo ex-$((3*3))\r",
                               b"\x10\x11"])
        assert b"ex-9" in shown, (tool, shown)
        assert (code, _tail(shown)) == (1, b"read escape sequence\r\n"), (tool, shown)
        # the detached exec's shell (and its background sleep) run on
        processes = runner("exec", "dk-run", "ps").stdout.decode()
        assert "sleep 300" in processes, (tool, processes)
        runner("rm", "-f", "dk-run")


def test_custom_detach_keys_for_run_and_attach(root, dockerd, images):  # noqa: F811
    for tool, (argv, env, runner) in _tools(root, dockerd).items():
        shown, code = _on_pty(argv + ["run", "-it", "--detach-keys", "ctrl-a,b", "--network",
                                      "none", "--name", "dk-keys", "busybox", "sh"], env,
                              [b"\x10\x11echo still-$((5+5))\r", b"\x01b"])
        # Ctrl-P Ctrl-Q are plain input now; ctrl-a then b detaches
        assert b"still-10" in shown and code == 0, (tool, shown)
        assert _running(runner, "dk-keys") == "true", tool
        shown, code = _on_pty(argv + ["attach", "--detach-keys", "DEL", "dk-keys"], env,
                              [b"echo del-$((2+3))\r", b"\x7f"], wait_for=b"")
        assert b"del-5" in shown and code == 1, (tool, shown)
        assert _tail(shown) == b"read escape sequence\r\n", (tool, shown)
        assert _running(runner, "dk-keys") == "true", tool
        runner("rm", "-f", "dk-keys")


@pytest.mark.parametrize("spec", ["ctrl-aa", "ctrl-A", "ab", "a,", "ctrl-~", "del", " a"])
def test_invalid_detach_keys_refused_as_docker(root, dockerd, images, spec):  # noqa: F811
    results = {}
    for tool, (_, _, runner) in _tools(root, dockerd).items():
        runner("run", "-d", "--network", "none", "--name", "dk-bad", "busybox", "sleep", "60")
        results[tool] = [
            (r.returncode, r.stderr.decode()) for r in (
                runner("exec", "--detach-keys", spec, "dk-bad", "true"),
                runner("exec", "-d", "--detach-keys", spec, "dk-bad", "true"),
                runner("attach", "--detach-keys", spec, "dk-bad"),
                runner("run", "--detach-keys", spec, "--network", "none", "--rm", "busybox",
                       "true"))]
        runner("rm", "-f", "dk-bad")
    assert results["pallet"] == results["docker"]
    assert results["pallet"][0] == (1, f"Error response from daemon: Invalid escape keys "
                                       f"({spec}) provided\n")
    # nothing half-made: the refused run left no container (docker leaves a Created one)
    assert out(pallet(root, "ps", "-aq")) == ""
