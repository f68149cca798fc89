"""exec's -w/-u/-e/--env-file and logs' --since/--until/--timestamps/--details beside a private
dockerd: the same output, texts and exit codes."""

from __future__ import annotations

import pytest

from tests.cli.ctr_helpers import pallet
from tests.cli.docker_pair import docker_pair, side_by_side
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

IMAGE = "exlcmp/busybox:1"


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory):  # noqa: F811
    pair = docker_pair(dockerd, tmp_path_factory, "exlcmp", IMAGE,
                       changes=('CMD ["sh"]', "ENV A=1 B=two"))
    for runner in (pair.docker, pair.pallet):
        runner("run", "-d", "--network", "none", "--name", "exl-run", "-e", "BASE=1", IMAGE,
               "sleep", "300")
        runner("run", "--network", "none", "--name", "exl-logs", IMAGE, "sh", "-c",
               "echo one; sleep 1.1; echo two >&2; sleep 1.1; echo three")
    yield pair
    pair.docker("rm", "-f", "exl-run")
    pair.close()


def _env(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(("HOSTNAME=", "HOME="))]


@pytest.mark.parametrize("args", [
    ("-w", "/tmp", "exl-run", "pwd"), ("-w", "/no/such/dir", "exl-run", "pwd"),
    ("-w", "relative", "exl-run", "pwd"), ("-u", "nobody", "exl-run", "id"),
    ("-u", "nosuchuser", "exl-run", "id"), ("-u", "123:456", "exl-run", "id"),
    ("-e", "A=9", "-e", "BASE", "-e", "NEW=x", "exl-run", "env"),
    ("--env-file", "ENVFILE", "-e", "B=3", "exl-run", "env"),
    ("--env-file", "/no/such/file", "exl-run", "true"),
    ("-d", "exl-run", "sh", "-c", "sleep 1"),
    ("exl-run", "sh", "-c", "exit 3"), ("exl-run", "nosuchcmd"),
])
def test_exec_matches_docker(both, args, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROMFILE=2\nA=from-file\n")
    args = tuple(str(env_file) if a == "ENVFILE" else a for a in args)
    ours, theirs = side_by_side(both, "exec", *args)
    assert ours[0] == theirs[0], (ours, theirs)
    assert _env(ours[1]) == _env(theirs[1])
    if args[-1] != "nosuchcmd":   # runc's not-found wording names its own internals
        assert ours[2] == theirs[2]


def _stamp(both, engine_side: int, index: int) -> str:
    root, engine = both
    result = (pallet(root, "logs", "-t", "exl-logs") if engine_side == 0
              else engine.docker("logs", "-t", "exl-logs"))
    lines = sorted((result.stdout + result.stderr).decode().splitlines())
    return lines[index].split(" ", 1)[0]


@pytest.mark.parametrize("args", [
    ("--details",), ("-n", "1", "-t", "--details"), ("--until", "STAMP"), ("--since", "STAMP"),
    ("--until", "bad"), ("--since", "bad"), ("--until", "1s"), ("-n", "2"),
])
def test_logs_matches_docker(both, args):
    results = []
    for side in (0, 1):
        given = tuple(_stamp(both, side, 1) if a == "STAMP" else a for a in args)
        root, engine = both
        result = pallet(root, "logs", *given, "exl-logs") if side == 0 else \
            engine.docker("logs", *given, "exl-logs", check=False)
        text = result.stdout.decode()
        if "-t" in args:
            text = "\n".join(line.split(" ", 1)[1] for line in text.splitlines())
        results.append((result.returncode, text, result.stderr.decode()))
    assert results[0] == results[1]
