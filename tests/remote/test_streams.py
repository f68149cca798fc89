"""run, exec, logs, attach, start -a, wait and top through `pallet -H unix://...` against
`pallet serve` on a temp socket: output, stream separation and exit codes as the same command
gives on the same store locally; -it on a terminal the test holds (raw mode, the window size
and its changes, Ctrl-P Ctrl-Q); stdin piped; a logs -f whose connection is cut."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time

import pytest

from tests.remote.streams_support import (Terminal, local, ok, read_exactly, remote,
                                          remote_argv, remote_env)

pytestmark = [pytest.mark.root, pytest.mark.server]

SCRIPT = "echo out1; echo err1 >&2; echo out2; exit 3"


def test_run_foreground_demultiplexes_and_returns_the_exit_code(api):
    here = local(api, "run", "--rm", "busybox", "sh", "-c", SCRIPT)
    there = remote(api, "run", "--rm", "busybox", "sh", "-c", SCRIPT)
    assert (there.returncode, there.stdout, there.stderr) == (3, b"out1\nout2\n", b"err1\n")
    assert (here.returncode, here.stdout, here.stderr) == \
        (there.returncode, there.stdout, there.stderr)
    assert local(api, "ps", "-aq").stdout == b""          # --rm: the host removed it


def test_run_with_stdin_piped_ends_at_its_eof(api):
    there = remote(api, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done",
                   input=b"hi\nthere\n")
    assert (there.returncode, there.stdout) == (0, b"hi\nthere\ndone\n")
    big = os.urandom(3 << 20).hex().encode()              # more than any pipe buffer
    counted = remote(api, "run", "--rm", "-i", "busybox", "wc", "-c", input=big)
    assert (counted.returncode, counted.stdout.strip()) == (0, str(len(big)).encode())


def test_run_detached_prints_the_id_and_logs_match_the_local_ones(api):
    there = remote(api, "run", "-d", "--name", "rio-logs", "busybox", "sh", "-c",
                   "for i in 1 2 3 4; do echo line$i; echo warn$i >&2; done")
    container = ok(there).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", container)
    assert ok(remote(api, "wait", "rio-logs")) == "0\n"
    for flags in ((), ("--tail", "2"), ("-t",), ("--tail", "0"), ("--since", "1h"),
                  ("--until", "2000-01-01T00:00:00Z")):
        here, there = local(api, "logs", *flags, "rio-logs"), remote(api, "logs", *flags,
                                                                     "rio-logs")
        assert (there.returncode, there.stdout, there.stderr) == \
            (here.returncode, here.stdout, here.stderr), flags
    last = remote(api, "logs", "--tail", "2", "rio-logs")    # two lines of either stream
    assert len((last.stdout + last.stderr).splitlines()) == 2
    missing = remote(api, "logs", "no-such-ctr")
    assert missing.returncode == 1
    assert missing.stderr == b"Error response from daemon: No such container: no-such-ctr\n"


def test_logs_follow_streams_until_the_container_stops(api):
    ok(remote(api, "run", "-d", "--name", "rio-follow", "busybox", "sh", "-c",
              "echo first; sleep 1.5; echo second; echo third >&2"))
    started = time.monotonic()
    followed = remote(api, "logs", "-f", "rio-follow")
    assert (followed.returncode, followed.stdout, followed.stderr) == \
        (0, b"first\nsecond\n", b"third\n")
    assert time.monotonic() - started > 0.5               # it waited for the rest


class _CutProxy:
    """A unix socket in front of the server whose connections the test can cut."""

    def __init__(self, target: str, path: str) -> None:
        self.target, self.path = target, path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(8)
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.target)
            self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._copy, args=(a, b), daemon=True).start()

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        for client, server in self.pairs:
            for sock in (client, server):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


def test_a_logs_follow_whose_connection_drops_ends_cleanly(api):
    ok(remote(api, "run", "-d", "--name", "rio-cut", "busybox", "sh", "-c",
              "echo before; sleep 60"))
    proxy = _CutProxy(api.server_socket, str(api.directory / "cut.sock"))
    try:
        argv = [argv for argv in [remote_argv(api, "logs", "-f", "rio-cut")]][0]
        argv[2] = f"unix://{proxy.path}"
        follower = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=remote_env(api))
        read_exactly(follower.stdout, b"before\n")     # the backlog is through
        time.sleep(0.3)                                  # the follow waits for more
        proxy.cut()
        stdout, stderr = follower.communicate(timeout=20)
    finally:
        proxy.close()
    assert (follower.returncode, stdout) == (0, b""), stderr
    assert b"Traceback" not in stderr
    # the server is unharmed: another request is answered
    assert ok(remote(api, "logs", "rio-cut")) == "before\n"
    ok(local(api, "rm", "-f", "rio-cut"))


def test_run_it_on_a_terminal_raw_mode_window_size_and_exit_code(api):
    terminal = Terminal(remote_argv(api, "run", "-it", "--rm", "busybox", "sh"),
                        env=remote_env(api), rows=30, columns=100)
    terminal.read_until(b"# ")
    terminal.send(b"echo sum-$((40+2))\r")
    terminal.read_until(b"sum-42")
    terminal.ask_until(b"stty size\r", b"30 100")        # the size sent at the start
    terminal.resize(40, 132)                              # SIGWINCH -> POST .../resize
    terminal.ask_until(b"stty size\r", b"40 132")
    terminal.send(b"exit 5\r")
    assert terminal.wait() == 5
    assert local(api, "ps", "-aq").stdout == b""


def test_run_it_detach_keys_leave_the_container_running(api):
    terminal = Terminal(remote_argv(api, "run", "-it", "--name", "rio-detach", "busybox",
                                    "sh"), env=remote_env(api))
    terminal.read_until(b"# ")
    terminal.send(b"echo still-$((1+1))\r")
    terminal.read_until(b"still-2")
    terminal.send(b"\x10\x11")                            # Ctrl-P Ctrl-Q
    assert terminal.wait() == 0
    state = ok(local(api, "inspect", "-f", "{{.State.Running}}", "rio-detach"))
    assert state == "true\n"
    # attach joins it again; detaching from an attach is docker's escape error (exit 1)
    again = Terminal(remote_argv(api, "attach", "rio-detach"), env=remote_env(api))
    time.sleep(0.5)
    again.send(b"echo back-$((2+3))\r")
    again.read_until(b"back-5")
    again.send(b"\x10\x11")
    assert again.wait() == 1
    assert again.seen.rstrip().endswith(b"read escape sequence")
    # and once more, until its exit, whose code is attach's
    last = Terminal(remote_argv(api, "attach", "rio-detach"), env=remote_env(api))
    time.sleep(0.5)
    last.send(b"exit 4\r")
    assert last.wait() == 4


def test_it_without_a_terminal_is_refused_as_locally(api):
    here = local(api, "run", "-it", "--rm", "busybox", "true")
    there = remote(api, "run", "-it", "--rm", "busybox", "true")
    assert there.returncode == here.returncode == 1
    assert b"the input device is not a TTY" in there.stderr


def test_exec_exit_code_env_user_workdir_and_stdin(api):
    ok(remote(api, "run", "-d", "--name", "rio-exec", "busybox", "sleep", "60"))
    script = "echo $GREETING in $(pwd) as $(id -u); echo oops >&2; exit 6"
    args = ("exec", "-e", "GREETING=hello", "-u", "1000", "-w", "/tmp", "rio-exec",
            "sh", "-c", script)
    here, there = local(api, *args), remote(api, *args)
    assert (there.returncode, there.stdout, there.stderr) == \
        (6, b"hello in /tmp as 1000\n", b"oops\n")
    assert (here.returncode, here.stdout, here.stderr) == \
        (there.returncode, there.stdout, there.stderr)
    piped = remote(api, "exec", "-i", "rio-exec", "tr", "a-z", "A-Z", input=b"shout\n")
    assert (piped.returncode, piped.stdout) == (0, b"SHOUT\n")
    detached = remote(api, "exec", "-d", "rio-exec", "sh", "-c", "echo made > /tmp/flag")
    assert (detached.returncode, detached.stdout) == (0, b"")
    deadline = time.monotonic() + 20     # it runs on its own: done a moment later
    while (flag := remote(api, "exec", "rio-exec", "cat", "/tmp/flag")).returncode != 0 \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert flag.stdout == b"made\n"
    relative = remote(api, "exec", "-w", "rel", "rio-exec", "true")
    assert (relative.returncode, relative.stdout) == (126, local(api, "exec", "-w", "rel",
                                                                 "rio-exec", "true").stdout)


def test_exec_it_on_a_terminal(api):
    ok(remote(api, "run", "-d", "--name", "rio-exec-it", "busybox", "sleep", "60"))
    terminal = Terminal(remote_argv(api, "exec", "-it", "rio-exec-it", "sh"),
                        env=remote_env(api), rows=25, columns=90)
    terminal.read_until(b"# ")
    terminal.ask_until(b"stty size\r", b"25 90")   # set just after the start, as the CLI does
    terminal.send(b"tty; exit 9\r")
    assert terminal.wait() == 9
    assert b"/dev/pts/" in terminal.seen
    detaching = Terminal(remote_argv(api, "exec", "-it", "rio-exec-it", "sh", "-c",
                                     "echo ready; sleep 30"), env=remote_env(api))
    detaching.read_until(b"ready")
    detaching.send(b"\x10\x11")
    assert detaching.wait() == 1
    assert detaching.seen.rstrip().endswith(b"read escape sequence")


def test_exec_into_a_stopped_container_is_refused(api):
    container = ok(remote(api, "run", "-d", "busybox", "true")).strip()
    assert ok(remote(api, "wait", container)) == "0\n"
    there = remote(api, "exec", container, "true")
    assert there.returncode == 1
    assert there.stderr == \
        f"Error response from daemon: Container {container} is not running\n".encode()
    assert local(api, "exec", container, "true").returncode == 1


def test_start_attached_wait_and_top(api):
    container = ok(remote(api, "create", "--name", "rio-start", "busybox", "sh", "-c",
                          "echo started; exit 2")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", container)
    started = remote(api, "start", "-a", "rio-start")
    assert (started.returncode, started.stdout) == (2, b"started\n")
    waited = remote(api, "wait", "rio-start", "no-such-ctr")
    assert (waited.returncode, waited.stdout) == (1, b"2\n")
    assert b"No such container: no-such-ctr" in waited.stderr
    ok(remote(api, "run", "-d", "--name", "rio-top", "busybox", "sleep", "60"))
    shown = ok(remote(api, "top", "rio-top"))
    assert shown.splitlines()[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY",
                                             "TIME", "CMD"]
    assert shown.splitlines()[1].endswith("sleep 60")


def test_run_of_an_image_the_host_cannot_find(api):
    with socket.socket() as probe:          # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    image = f"127.0.0.1:{port}/nosuch:1"
    there = remote(api, "run", "--rm", image, "true")
    assert there.returncode == 125
    lines = there.stderr.decode().splitlines()
    assert lines[0] == f"Unable to find image '{image}' locally"
    assert lines[-1].startswith("Error response from daemon: ") and "refused" in lines[-1]
    missing = remote(api, "run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == local(api, "run", "--rm", "busybox",
                                       "no-such-command").returncode == 127


def test_run_pulls_an_image_the_host_lacks_and_shows_the_pull_as_locally(api, tmp_path):
    from tests.registry import private_registry
    with private_registry(tmp_path / "registry") as registry:
        image = f"{registry.host}/team/bb:1"
        ok(local(api, "tag", "busybox", image))
        ok(local(api, "push", image))
        ok(local(api, "rmi", image))
        there = remote(api, "run", "--rm", image, "echo", "pulled-and-ran")
        assert there.returncode == 0, there.stderr.decode()
        assert there.stdout == b"pulled-and-ran\n"
        lines = there.stderr.decode().splitlines()
        assert lines[0] == f"Unable to find image '{image}' locally"
        # the pull's own lines, as `pallet pull` prints them off a terminal (the display
        # drawn from the host's JSON stream)
        assert lines[1] == "1: Pulling from team/bb", lines
        assert re.fullmatch(r"Digest: sha256:[0-9a-f]{64}", lines[-2]), lines
        assert lines[-1] == f"Status: Downloaded newer image for {image}", lines
        assert all(re.fullmatch(r"[0-9a-f]{12}: [A-Z][A-Za-z ]+", line) for line in lines[2:-2]), lines
        assert image in ok(local(api, "images", "--format", "{{.Repository}}:{{.Tag}}"))


def test_stats_no_stream_prints_the_local_table(api):
    ok(remote(api, "run", "-d", "--name", "rio-stats", "busybox", "sleep", "60"))
    template = "{{.Container}} {{.Name}} {{.PIDs}} {{.BlockIO}}"
    there = remote(api, "stats", "--no-stream", "--format", template, "rio-stats")
    here = local(api, "stats", "--no-stream", "--format", template, "rio-stats")
    assert (there.returncode, there.stdout) == (here.returncode, here.stdout) == \
        (0, b"rio-stats rio-stats 1 0B / 0B\n")
    table = ok(remote(api, "stats", "--no-stream")).splitlines()
    # the same columns (their widths follow the readings, which move between two calls)
    assert re.split(r"\s{2,}", table[0]) == \
        re.split(r"\s{2,}", ok(local(api, "stats", "--no-stream")).splitlines()[0])
    assert table[1].split()[1] == "rio-stats" and len(table) == 2
    missing = remote(api, "stats", "--no-stream", "no-such-ctr")
    assert (missing.returncode, missing.stderr) == \
        (1, b"Error response from daemon: No such container: no-such-ctr\n")


FLAGS = ("-e", "A=1", "-w", "/tmp", "-u", "1:1", "--memory", "64m", "--cpus", "0.5",
         "--pids-limit", "50", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "--read-only",
         "--init", "--label", "a=b", "--ulimit", "nofile=100:200", "--tmpfs", "/x:size=1m",
         "-v", "rio-vol1:/data", "-v", "/tmp:/hosttmp:ro", "--mount",
         "type=tmpfs,target=/m,tmpfs-size=1000000", "--restart", "on-failure:3",
         "--stop-signal", "SIGUSR1", "--stop-timeout", "7", "--hostname", "h1", "--dns",
         "1.1.1.1", "--add-host", "x:1.2.3.4", "--health-cmd", "true", "--entrypoint", "sh",
         "-t", "-i", "--expose", "81", "-p", "127.0.0.1::80", "--security-opt",
         "no-new-privileges")


def test_create_records_what_the_local_create_records(api):
    """The create body (createbody.py) carries every flag as the local create applies it."""
    ok(remote(api, "create", "--name", "rio-made-remote", *FLAGS, "busybox", "-c", "true"))
    ok(local(api, "create", "--name", "rio-made-local", *FLAGS, "busybox", "-c", "true"))
    for part in ("{{json .Config}}", "{{json .HostConfig}}", "{{json .Mounts}}",
                 "{{json .Path}} {{json .Args}}"):
        there = ok(local(api, "inspect", "-f", part, "rio-made-remote"))
        here = ok(local(api, "inspect", "-f", part, "rio-made-local"))
        assert there == here, part
