"""`run` flag validation against the reference: a private dockerd (tests/dockerd.py) is given the
same bad flags, and pallet must refuse each with the same exit code and the same message (the
text after Docker's "docker: " / "Error response from daemon: " prefixes), creating nothing.
Before this, several were accepted (-v :/x, --add-host a:notanip, --dns notanip, -l =x), others
were internal errors (--workdir relative, --cpus nan) or click usage errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.conftest import run_pallet
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.root, pytest.mark.docker, pytest.mark.server]

ENV_FILE = "/tmp/pallet-test-run-validation.env"

CASES = [
    ("--workdir", "relative"),
    ("--cpus", "nan"), ("--cpus", "inf"), ("--cpus", " 1"), ("--cpus", "0.0000000001"),
    ("--cpus", "-1"),
    ("-v", ":/x"), ("-v", "/tmp:"), ("-v", "/tmp:/x:ro:extra"), ("-v", "/tmp:relative"),
    ("-v", "vol:relative"), ("-v", "vol:/x:bogus"), ("-v", "/tmp:/x:rw,ro"),
    ("--add-host", "a:notanip"), ("--add-host", ":1.2.3.4"), ("--add-host", "nocolon"),
    ("--add-host", "a:b:1.2.3.4"),
    ("--dns", "notanip"), ("--dns", "fe80::1%eth0"),
    ("--tmpfs", "relative"), ("--tmpfs", "/x:bogus"),
    ("--mount", "type=bind,source=/tmp,target=relative"), ("--mount", "type=bind,target=/x"),
    ("--mount", "bogus"), ("--mount", "type=volume,src=v,target=/x,bogus=1"),
    ("--mount", "type=volume,target=/x,readonly=maybe"),
    ("--mount", "type=tmpfs,target=/x,tmpfs-size=abc"),
    ("--mount", "type=tmpfs,target=/x,tmpfs-mode=abc"),
    ("--mount", "type=bind,source=relative,target=/x"),
    ("--mount", "type=bind,src=/tmp,target=/x,bind-propagation=bogus"),
    ("--mount", "type=volume,target=/x,volume-nocopy=maybe"),
    ("--mount", "type=volume,target=/x,ro=1"), ("--mount", "target=/x,type=tmpfs,source=abc"),
    ("--mount", "type=bogus,target=/x"), ("--mount", "type=volume"),
    ("--mount", "type=volume,target=relative"),
    ("--pids-limit", "abc"), ("--stop-timeout", "abc"), ("--health-retries", "abc"),
    ("--health-retries", "-1"), ("--health-interval", "-5s"), ("--health-timeout", "-1s"),
    ("--health-start-period", "-1s"),
    ("-e", "=x"), ("-l", "=x"), ("-l", " =x"), ("--env-file", ENV_FILE),
    ("--ulimit", "nofile=10:5"), ("--ulimit", "bogus=1"), ("--ulimit", "nofile=abc"),
    ("--ulimit", "nofile"), ("--ulimit", "nofile=1:abc"),
    ("-m", "-5m"), ("--cap-add", "NOPE"), ("--cap-drop", "nope"),
    ("--restart", "on-failure:abc"), ("--restart", "sometimes"), ("--restart", ":3"),
    ("--restart", "always:3"), ("--restart", "on-failure:-1"),
    ("--rm", "--restart", "always"),
]


@pytest.fixture(scope="module")
def engine(dockerd, tmp_path_factory):  # noqa: F811
    from tests.images import make_busybox_image

    store = tmp_path_factory.mktemp("ref") / "root"
    make_busybox_image(store, "busybox:latest")
    archive = store.parent / "busybox.tar"
    assert run_pallet("save", "-o", str(archive), "busybox", root=store).returncode == 0
    dockerd.docker("load", "-i", str(archive))
    Path(ENV_FILE).write_text("x=1\n=y\n")
    yield dockerd
    Path(ENV_FILE).unlink(missing_ok=True)


def _message(stderr: bytes) -> str:
    """The first line of an error, without the front's prefixes."""
    line = stderr.decode().strip().splitlines()[0]
    for prefix in ("docker: ", "Error: ", "Error response from daemon: "):
        line = line.removeprefix(prefix)
    return line


@pytest.mark.parametrize("flags", CASES, ids=[" ".join(case) for case in CASES])
def test_bad_run_flags_read_as_dockers(engine, root, flags):
    args = ("run", "--name", "never", *flags, "busybox", "true")
    theirs = engine.docker(*args, check=False)
    ours = pallet(root, *args)
    assert theirs.returncode == 125, theirs.stderr.decode()
    assert ours.returncode == 125, ours.stderr.decode()
    assert _message(ours.stderr) == _message(theirs.stderr)
    assert "Traceback" not in ours.stderr.decode()
    assert out(pallet(root, "ps", "-a", "-q")) == ""
    assert not (root / "volumes").exists() or list((root / "volumes").iterdir()) == []


@pytest.mark.parametrize("flags", [
    ("--cpus", "0"), ("--cpus", "3/2"), ("--cpus", "1.5e0"), ("--add-host", "a=1.2.3.4"),
    ("--add-host", "a:[::1]"), ("--add-host", "a:::1"), ("--add-host", "a:host-gateway"),
    ("--dns", " 1.2.3.4"), ("--dns", "::1"), ("-v", "v:/x"), ("--pids-limit", "0x10"),
    ("--stop-timeout", "-5"), ("--mount", "type=tmpfs,target=/x,readonly"),
    ("--mount", "TYPE=tmpfs,target=/x"), ("--mount", "type=volume,source=vv,target=/x,readonly"),
    ("--restart", "on-failure:3"),
], ids=lambda flags: " ".join(flags))
def test_what_docker_accepts_is_accepted(engine, root, flags):
    args = ("create", *flags, "busybox", "true")
    theirs = engine.docker(*args, check=False)
    ours = pallet(root, *args)
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert ours.returncode == 0, ours.stderr.decode()


def test_the_parsed_values_land_in_the_container_config(root):
    created = pallet(root, "create", "--cpus", "3/2", "--add-host", "a=1.2.3.4",
                     "--add-host", "b:[::1]", "--dns", " 1.2.3.4", "--pids-limit", "0x10",
                     "--ulimit", "nofile=10:20", "--restart", "on-failure:3", "busybox", "true")
    assert created.returncode == 0, created.stderr.decode()
    document = json.loads(out(pallet(root, "inspect", out(created).strip())))[0]
    host = document["HostConfig"]
    assert host["NanoCpus"] == 1_500_000_000
    assert host["ExtraHosts"] == ["a:1.2.3.4", "b:::1"]
    assert host["Dns"] == ["1.2.3.4"]
    assert host["PidsLimit"] == 16
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}


def test_an_image_with_a_relative_workdir_is_a_clear_error(root, tmp_path):
    from tests.images import make_busybox_image

    make_busybox_image(root, "rel:1", changes=('CMD ["true"]', "WORKDIR relative"))
    result = pallet(root, "run", "--rm", "rel:1")
    err = result.stderr.decode()
    assert result.returncode == 125, err
    assert "the working directory 'relative' is invalid, it needs to be an absolute path" in err
    assert out(pallet(root, "ps", "-a", "-q")) == ""
