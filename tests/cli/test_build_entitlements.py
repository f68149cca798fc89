"""Build steps and the sandbox: RUN --security=insecure and RUN --network=host need the
entitlement granted on the command line (BuildKit's rule); every other RUN step runs under
Docker's default seccomp profile in its own cgroup namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builder.conftest import write_tree
from tests.conftest import run_pallet

pytestmark = pytest.mark.root

INSECURE = "FROM busybox\nRUN --security=insecure grep ^Seccomp: /proc/self/status\n"
HOST_NET = "FROM busybox\nRUN --network=host readlink /proc/self/ns/net\n"


def build(root: Path, context: Path, *flags: str):
    return run_pallet("build", "--progress", "plain", "-t", "ent:1", *flags, str(context),
                      root=root)


@pytest.mark.parametrize("dockerfile,entitlement", [(INSECURE, "security.insecure"),
                                                    (HOST_NET, "network.host")])
def test_refused_without_the_entitlement_before_anything_runs(root, tmp_path, dockerfile,
                                                              entitlement):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN touch /ran\n"
                                            + dockerfile.split("\n", 1)[1]})
    result = build(root, context)
    error = result.stderr.decode()
    assert result.returncode == 1
    assert f"failed to load LLB: {entitlement} is not allowed" in error
    assert f"--allow {entitlement}" in error and "Traceback" not in error
    assert "RUN touch /ran" not in error  # refused at planning: no step ran
    assert b"ent" not in run_pallet("images", root=root).stdout
    other = "network.host" if entitlement == "security.insecure" else "security.insecure"
    assert build(root, context, "--allow", other).returncode == 1  # the other one does not do


def test_granted_insecure_step_runs_without_filter_and_sandboxed_steps_with(root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": INSECURE
                                            + "RUN grep ^Seccomp: /proc/self/status\n"})
    result = build(root, context, "--allow", "security.insecure")
    log = result.stderr.decode()
    assert result.returncode == 0, log
    # the progress names the step with its flag, as BuildKit prints the instruction
    assert "#2 [stage-0 2/3] RUN --security=insecure grep ^Seccomp: /proc/self/status" in log
    insecure, sandboxed = [line for line in log.splitlines() if "Seccomp:" in line
                           and "RUN" not in line]
    assert insecure.endswith("Seccomp:\t0") and sandboxed.endswith("Seccomp:\t2")
    # still required on a fully cached rebuild (BuildKit checks before solving)
    assert build(root, context).returncode == 1


def test_network_host_is_granted_by_allow_or_by_the_build_network(root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": HOST_NET})
    for flags in (("--allow", "network.host"), ("--allow", "security.insecure,network.host"),
                  ("--network", "host")):
        result = build(root, context, "--no-cache", *flags)
        assert result.returncode == 0, (flags, result.stderr)
        assert "RUN --network=host readlink /proc/self/ns/net" in result.stderr.decode()


def test_unknown_entitlements_are_refused(root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\n"})
    result = build(root, context, "--allow", "device")
    assert result.returncode == 1
    assert "unknown entitlement device" in result.stderr.decode()


def test_build_steps_see_only_their_own_cgroup(root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nRUN cat /proc/self/cgroup; find /sys/fs/cgroup -mindepth 2 -type d\n")})
    result = build(root, context)
    assert result.returncode == 0, result.stderr
    output = [line.split(" ", 2)[2] for line in result.stderr.decode().splitlines()
              if line.startswith("#2 ") and line[3:4].isdigit()]
    assert output and all(line.endswith(":/") for line in output), output
