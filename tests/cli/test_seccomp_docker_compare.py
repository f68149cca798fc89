"""Seccomp and the cgroup namespace side by side with a private dockerd: the same static probe,
bind-mounted into the same busybox image in both engines, must be refused the same calls."""

from __future__ import annotations

import json

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.cli.docker_pair import docker_pair
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.runtime.seccomp_probe import parse, probe  # noqa: F401

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

IMAGE = "cmp/busybox:seccomp"
# The calls Docker 20.10's default profile refuses, and two it allows. (AF_VSOCK is left out:
# its filter came after 20.10, and pallet's profile has it.)
CALLS = ["unshare-user", "clone-user", "clone-plain", "clone3", "keyctl", "add_key",
         "userns-mount", "getpid"]


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory, probe):  # noqa: F811
    pair = docker_pair(dockerd, tmp_path_factory, "seccomp", IMAGE)
    yield pair
    pair.close()


def side_by_side(both, probe_path, *args: str):  # noqa: F811
    root, engine = both
    run = ("run", "--rm", "--network", "none", "-v", f"{probe_path}:/probe:ro")
    theirs = engine.docker(*run, *args, check=False)
    ours = pallet(root, *run, *args)
    return ours, theirs


def test_the_same_calls_are_refused(both, probe):
    script = "; ".join(f"/probe {call}" for call in CALLS)
    ours, theirs = side_by_side(both, probe, IMAGE, "sh", "-c", script)
    assert parse(out(ours)) == parse(theirs.stdout.decode())
    assert parse(out(ours))["keyctl"] == "EPERM"
    for persona, expected in (("6", "EPERM"), ("8", "ok"), ("0xffffffff", "ok")):
        ours, theirs = side_by_side(both, probe, IMAGE, "/probe", "personality", persona)
        assert out(ours) == theirs.stdout.decode() == f"personality={expected}\n"


def test_status_shows_the_filter_and_unconfined_removes_it(both, probe):
    grep = ("grep", "^Seccomp:", "/proc/self/status")
    ours, theirs = side_by_side(both, probe, IMAGE, *grep)
    assert out(ours) == theirs.stdout.decode() == "Seccomp:\t2\n"
    ours, theirs = side_by_side(both, probe, "--security-opt", "seccomp=unconfined", IMAGE, *grep)
    assert out(ours) == theirs.stdout.decode() == "Seccomp:\t0\n"
    ours, _ = side_by_side(both, probe, "--security-opt", "seccomp=unconfined", IMAGE,
                           "/probe", "unshare-user")
    assert out(ours) == "unshare-user=ok\n"


def test_a_custom_profile_file(both, probe, tmp_path):
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}, indent=2))
    opt = ("--security-opt", f"seccomp={profile}")
    ours, theirs = side_by_side(both, probe, *opt, IMAGE, "mkdir", "/tmp/x")
    assert ours.returncode == theirs.returncode == 1
    assert b"Operation not permitted" in ours.stderr and b"Operation not permitted" in theirs.stderr
    ours, theirs = side_by_side(both, probe, *opt, IMAGE, "/probe", "keyctl")
    assert out(ours) == theirs.stdout.decode() == "keyctl=ok\n"
    root, engine = both
    fields = "{{json .HostConfig.SecurityOpt}}"
    for opts in (opt, ("--security-opt", "seccomp:unconfined", "--security-opt",
                       "no-new-privileges")):
        created = pallet(root, "create", *opts, IMAGE, "true")
        assert created.returncode == 0, created.stderr
        theirs_id = engine.docker("create", *opts, IMAGE, "true").stdout.decode().strip()
        assert (out(pallet(root, "inspect", "-f", fields, out(created).strip()))
                == engine.docker("inspect", "-f", fields, theirs_id).stdout.decode())
        engine.docker("rm", theirs_id)
        assert pallet(root, "rm", out(created).strip()).returncode == 0


def test_profile_file_errors_match(both, probe, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"defaultAction":')
    for path in (tmp_path / "missing.json", broken):
        ours, theirs = side_by_side(both, probe, "--security-opt", f"seccomp={path}", IMAGE, "true")
        assert ours.returncode == theirs.returncode == 125
        their_reason = theirs.stderr.decode().split("failed:")[0].split("docker: ")[1]
        assert their_reason in ours.stderr.decode()
    root, _ = both
    missing = pallet(root, "run", "--security-opt", f"seccomp={tmp_path}/missing.json", IMAGE)
    assert (f"opening seccomp profile ({tmp_path}/missing.json) failed: open "
            f"{tmp_path}/missing.json: no such file or directory") in missing.stderr.decode()
    assert pallet(root, "ps", "-aq").stdout == b""  # nothing was created


def test_exec_runs_under_the_containers_filter(both, probe):
    root, engine = both
    name = "seccomp-exec"
    for runner in (lambda *a: engine.docker(*a), lambda *a: pallet(root, *a)):
        runner("run", "-d", "--network", "none", "--name", name, "-v", f"{probe}:/probe:ro",
               IMAGE, "sleep", "60")
    try:
        for args, expected in ((("grep", "^Seccomp:", "/proc/self/status"), "Seccomp:\t2\n"),
                               (("/probe", "keyctl"), "keyctl=EPERM\n")):
            theirs = engine.docker("exec", name, *args, check=False)
            assert out(pallet(root, "exec", name, *args)) == theirs.stdout.decode() == expected
        # exec --privileged widens the capabilities, not the filter (Docker keeps it too)
        assert out(pallet(root, "exec", "--privileged", name, "/probe", "keyctl")) \
            == "keyctl=EPERM\n"
        # exec joins the container's cgroup namespace: its own cgroup is "/"
        lines = out(pallet(root, "exec", name, "cat", "/proc/self/cgroup")).splitlines()
        assert lines and all(line.endswith(":/") for line in lines)
    finally:
        engine.docker("rm", "-f", name, check=False)
        pallet(root, "rm", "-f", name)


def test_cgroup_view_matches_dockers_private_cgroupns(both, probe):
    script = "cat /proc/self/cgroup; grep ' /sys/fs/cgroup' /proc/self/mountinfo | cut -d' ' -f4-"
    root, engine = both
    theirs = engine.docker("run", "--rm", "--network", "none", "--cgroupns", "private", IMAGE,
                           "sh", "-c", script)
    ours = pallet(root, "run", "--rm", "--network", "none", IMAGE, "sh", "-c", script)
    assert out(ours) == theirs.stdout.decode()
