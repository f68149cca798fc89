"""Live progress of pull, push and load, as the docker CLI shows it.

Each command runs on a pseudo-terminal this test opens (tests/ptyrun.py), against a real
registry (tests/registry.py) reached through a throttling proxy on 127.0.0.1
(tests/throttle.py) so a 16 MB layer takes about two seconds to move. What the terminal
received is read as it arrives, together with how many bytes the proxy had passed at that
moment: the byte counts must grow on the screen while the layer is still on the wire. The
final screen (pyte, a VT100 emulator) is compared with the docker CLI's for the same pull from
the same registry on a terminal of the same width, and the output off a terminal with
docker's line for line.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.bigimage import push_big_image
from tests.conftest import PALLET
from tests.dockerd import DOCKER, dockerd  # noqa: F401  (module-scoped fixture)
from tests.ptyrun import final_screen, run_in_pty
from tests.registry import private_registry
from tests.throttle import throttled_proxy

pytestmark = [pytest.mark.server, pytest.mark.root]

LAYER = 16 << 20
RATE = 8 << 20     # bytes a second through the proxy: the layer takes ~2 s
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
BYTES = re.compile(rb"(Downloading|Extracting|Pushing|Loading layer) *(?:\[[= >]*\] )? *"
                   rb"([0-9.]+)(B|kB|MB|GB)/([0-9.]+)(B|kB|MB|GB)")


def _pallet_argv(root, *args) -> list[str]:
    return [str(PALLET), "--root", str(root), *args]


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.pop("PALLET_ROOT", None)
    env["TERM"] = "xterm"
    env.update(extra or {})
    return env


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """(store, registry, reference): a one-layer image of 16 MB of random bytes, pushed."""
    work = tmp_path_factory.mktemp("progress")
    with private_registry(work / "registry") as registry:
        store, reference = push_big_image(work, registry.host, LAYER)
        yield store, registry, reference


def _counts(run, action: bytes):
    """[(bytes shown, proxy counters when the terminal got them)] for one action's updates."""
    seen = []
    for _, data, counters in run.chunks:
        for match in BYTES.finditer(data):
            if match.group(1) == action:
                seen.append((float(match.group(2)) * UNITS[match.group(3).decode()], counters))
    return seen


def test_pull_on_a_terminal_shows_the_download_growing_while_it_happens(big, tmp_path):
    _, registry, reference = big
    with throttled_proxy(int(registry.host.split(":")[1]), RATE) as proxy:
        slow = reference.replace(registry.host, proxy.host)
        run = run_in_pty(_pallet_argv(tmp_path / "fresh", "pull", slow), env=_env(),
                         columns=120, on_chunk=lambda: proxy.down)
    assert run.returncode == 0, run.raw.decode(errors="replace")
    shown = _counts(run, b"Downloading")
    during = [count for count, down in shown if down < LAYER]
    assert len(during) >= 5, shown
    assert during == sorted(during) and len(set(during)) == len(during), shown
    assert during[-1] - during[0] > LAYER / 4, shown
    # dockerd's throttle: at most ten updates a second for the layer
    times = [when for when, data, _ in run.chunks if b"Downloading" in data]
    assert len(times) <= (times[-1] - times[0]) / 0.1 + 2
    # The layer is unpacked while it downloads (one pass): its extraction ends with the
    # download, so the line goes from the growing Downloading count to Pull complete.
    assert not any(down < LAYER for _, down in _counts(run, b"Extracting"))
    # each update redraws the layer's own line: up to it, erase, draw, back down
    assert re.search(rb"\x1b\[1A\x1b\[2K\r[0-9a-f]{12}: Downloading \[=+>", run.raw)
    screen = final_screen(run.raw, 120)
    short = screen[1].split(":")[0]
    assert screen[0] == "1: Pulling from prog/big"
    assert screen[1:] == [f"{short}: Pull complete", screen[2], f"Status: Downloaded newer image "
                          f"for {slow}", slow] and screen[2].startswith("Digest: sha256:")


def test_push_on_a_terminal_shows_the_upload_growing_while_it_happens(big, tmp_path):
    store, registry, reference = big
    with throttled_proxy(int(registry.host.split(":")[1]), RATE) as proxy:
        target = f"{proxy.host}/prog/copy:1"
        tagged = subprocess.run(_pallet_argv(store, "tag", reference, target), env=_env())
        assert tagged.returncode == 0
        run = run_in_pty(_pallet_argv(store, "push", target), env=_env(), columns=120,
                         on_chunk=lambda: proxy.up)
    assert run.returncode == 0, run.raw.decode(errors="replace")
    during = [count for count, up in _counts(run, b"Pushing") if up < LAYER]
    assert len(during) >= 5, during
    assert during[-1] - during[0] > LAYER / 4, during
    screen = final_screen(run.raw, 120)
    assert screen[0] == f"The push refers to repository [{target.rsplit(':', 1)[0]}]"
    assert re.fullmatch(r"[0-9a-f]{12}: Pushed", screen[1]), screen
    assert re.fullmatch(r"1: digest: sha256:[0-9a-f]{64} size: \d+", screen[2]), screen
    assert len(screen) == 3


def test_pull_and_push_off_a_terminal_print_one_line_per_state_and_no_carriage_return(
        big, tmp_path):
    _, registry, reference = big
    result = subprocess.run(_pallet_argv(tmp_path / "s", "pull", reference),
                            capture_output=True, env=_env(), timeout=120)
    assert result.returncode == 0
    assert b"\r" not in result.stdout and b"\x1b" not in result.stdout
    lines = result.stdout.decode().splitlines()
    short = lines[1].split(":")[0]
    assert lines[:5] == ["1: Pulling from prog/big", f"{short}: Pulling fs layer",
                         f"{short}: Verifying Checksum", f"{short}: Download complete",
                         f"{short}: Pull complete"]


def test_quiet_pull_and_push_print_only_the_reference_even_on_a_terminal(big, tmp_path):
    _, registry, reference = big
    run = run_in_pty(_pallet_argv(tmp_path / "q", "pull", "-q", reference), env=_env())
    assert run.returncode == 0
    assert run.raw == reference.encode() + b"\r\n"
    target = f"{registry.host}/prog/quiet:1"
    assert subprocess.run(_pallet_argv(tmp_path / "q", "tag", reference, target)).returncode == 0
    run = run_in_pty(_pallet_argv(tmp_path / "q", "push", "-q", target), env=_env())
    assert run.returncode == 0
    assert run.raw == target.encode() + b"\r\n"


# ---- the same screens as the docker CLI -------------------------------------------------------

def _docker_argv(engine, *args) -> list[str]:
    return [DOCKER, "-H", engine.host, *args]


def _docker_env(engine) -> dict:
    return _env({"DOCKER_CONFIG": str(engine.directory / "client"), "DOCKER_CLI_HINTS": "false"})


@pytest.mark.docker
@pytest.mark.parametrize("columns", [120, 100])
def test_pull_final_screen_is_dockers(big, tmp_path, dockerd, columns):  # noqa: F811
    _, registry, reference = big
    dockerd.docker("rmi", "-f", reference, check=False)
    theirs = run_in_pty(_docker_argv(dockerd, "pull", reference), env=_docker_env(dockerd),
                        columns=columns)
    ours = run_in_pty(_pallet_argv(tmp_path / "s", "pull", reference), env=_env(),
                      columns=columns)
    assert theirs.returncode == 0 and ours.returncode == 0
    assert final_screen(ours.raw, columns) == final_screen(theirs.raw, columns)
    # pulled again: every layer exists, the image is up to date
    theirs = run_in_pty(_docker_argv(dockerd, "pull", reference), env=_docker_env(dockerd),
                        columns=columns)
    ours = run_in_pty(_pallet_argv(tmp_path / "s", "pull", reference), env=_env(),
                      columns=columns)
    assert final_screen(ours.raw, columns) == final_screen(theirs.raw, columns)


@pytest.mark.docker
def test_pull_off_a_terminal_prints_dockers_lines(big, tmp_path, dockerd):  # noqa: F811
    _, registry, reference = big
    dockerd.docker("rmi", "-f", reference, check=False)
    theirs = dockerd.docker("pull", reference).stdout.decode()
    ours = subprocess.run(_pallet_argv(tmp_path / "s", "pull", reference), capture_output=True,
                          env=_env(), timeout=120).stdout.decode()
    assert ours == theirs


def _normal(text: str) -> str:
    """Digests, sizes and the repository a push went to are what may differ."""
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:D", text)
    text = re.sub(r"size: \d+", "size: N", text)
    return re.sub(r"/(mine|theirs)/", "/R/", text)


@pytest.mark.docker
def test_push_screen_and_plain_lines_are_dockers(big, tmp_path, dockerd):  # noqa: F811
    store, registry, reference = big
    dockerd.docker("pull", reference)
    for on_tty in (True, False):
        # a registry per round: docker would mount the layer from its own earlier push
        with private_registry(tmp_path / f"second-{on_tty}") as second:
            shown = {}
            for who in ("mine", "theirs"):
                target = f"{second.host}/{who}/copy:1"
                if who == "mine":
                    tagged = subprocess.run(_pallet_argv(store, "tag", reference, target))
                    assert tagged.returncode == 0
                    argv, env = _pallet_argv(store, "push", target), _env()
                else:
                    dockerd.docker("tag", reference, target)
                    argv, env = _docker_argv(dockerd, "push", target), _docker_env(dockerd)
                if on_tty:
                    run = run_in_pty(argv, env=env, columns=120)
                    assert run.returncode == 0, run.raw
                    shown[who] = "\n".join(final_screen(run.raw, 120))
                else:
                    result = subprocess.run(argv, env=env, capture_output=True, timeout=120)
                    assert result.returncode == 0, result.stderr
                    shown[who] = result.stdout.decode()
            assert _normal(shown["mine"]) == _normal(shown["theirs"])


def _forget_images(engine) -> None:
    """Every image of the engine removed: a layer another image holds is not loaded again."""
    ids = engine.docker("images", "-aq").stdout.decode().split()
    if ids:
        engine.docker("rmi", "-f", *sorted(set(ids)))


@pytest.mark.docker
def test_load_screen_is_dockers(big, tmp_path, dockerd):  # noqa: F811
    store, _, reference = big
    archive = tmp_path / "big.tar"
    saved = subprocess.run(_pallet_argv(store, "save", "-o", str(archive), reference), env=_env())
    assert saved.returncode == 0
    _forget_images(dockerd)
    theirs = run_in_pty(_docker_argv(dockerd, "load", "-i", str(archive)),
                        env=_docker_env(dockerd), columns=120)
    ours = run_in_pty(_pallet_argv(tmp_path / "s", "load", "-i", str(archive)), env=_env(),
                      columns=120)
    assert theirs.returncode == 0 and ours.returncode == 0
    assert final_screen(ours.raw, 120) == final_screen(theirs.raw, 120)
    assert b"Loading layer" in ours.raw
    # off a terminal and with -q: only the result lines, as docker
    for args in ((), ("-q",)):
        _forget_images(dockerd)
        theirs = dockerd.docker("load", *args, "-i", str(archive)).stdout
        ours = subprocess.run(_pallet_argv(tmp_path / f"s{len(args)}", "load", *args, "-i",
                                           str(archive)), capture_output=True, env=_env()).stdout
        assert ours == theirs


def test_long_local_work_says_what_it_does_on_a_terminal_and_leaves_only_the_result(tmp_path):
    from tests.images import make_busybox_image

    root = tmp_path / "local"
    make_busybox_image(root, "busybox:latest")
    for args, said in ((("system", "prune", "-f"), b"Removing stopped containers"),
                       (("system", "check"), b"Verifying every blob and reference"),
                       (("builder", "prune", "-f"), b"Removing build cache")):
        run = run_in_pty(_pallet_argv(root, *args), env=_env(), columns=120)
        plain = subprocess.run(_pallet_argv(root, *args), capture_output=True, env=_env())
        assert run.returncode == 0 and plain.returncode == 0, run.raw
        assert b"\x1b[2K\r" + said in run.raw, run.raw
        assert said not in plain.stdout + plain.stderr     # off a terminal: the result only
        assert final_screen(run.raw, 120) == plain.stdout.decode().rstrip("\n").split("\n")
