"""update side by side with a private dockerd (same texts, exit codes, recorded limits), and
pallet's limits reaching the running container's cgroups and its restart policy."""

from __future__ import annotations

import re
import time

import pytest

from tests.cli.ctr_helpers import out, pallet, remove_all_containers
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image

# one worker for the module: one private dockerd for its tests
pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root,
              pytest.mark.xdist_group("update_docker")]

IMAGE = "updcmp/busybox:1"


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("updcmp") / "store"
    make_busybox_image(root, IMAGE, changes=('CMD ["sh"]',))
    archive = root.parent / "image.tar"
    assert pallet(root, "save", "-o", str(archive), IMAGE).returncode == 0
    dockerd.docker("load", "-i", str(archive))
    for runner in (lambda *a: dockerd.docker(*a, check=False), lambda *a: pallet(root, *a)):
        runner("run", "-d", "--network", "none", "--name", "upd-a", IMAGE, "sleep", "3600")
        runner("run", "-d", "--rm", "--network", "none", "--name", "upd-rm", IMAGE, "sleep", "3600")
    yield root, dockerd
    for name in ("upd-a", "upd-rm"):
        dockerd.docker("rm", "-f", name, check=False)
    remove_all_containers(root)


def _normal(text: str) -> str:
    return re.sub(r"[0-9a-f]{64}", "ID", text)


# One test for the whole sequence: each step builds on the updates before it, and a module
# fixture does not keep state between tests (xdist may run another module's test on this worker
# in between, which tears the fixture down and makes fresh containers: failed CI 2 of 3 times).
UPDATES = [
    ("update", "-m", "32m", "upd-a"),
    ("update", "-m", "128m", "--memory-swap", "256m", "upd-a"),
    ("update", "--cpus", "0.5", "--pids-limit", "10", "--restart", "on-failure:3", "upd-a"),
    ("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} "
     "{{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} "
     "{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "upd-a"),
    ("update", "-m", "1m", "upd-a"), ("update", "--cpus", "9", "upd-a"),
    ("update", "--restart", "bogus", "upd-a"), ("update", "-m", "10m", "upd-nosuch"),
    ("update", "upd-a"), ("update", "--restart", "always", "upd-rm"),
    ("update", "-m", "7m", "upd-a"),
    ("inspect", "-f", "{{json .Config.Env}}", "upd-a"),   # an image without Env: null
]


def test_update_matches_docker(both):
    root, engine = both
    for args in UPDATES:
        theirs = engine.docker(*args, check=False)
        ours = pallet(root, *args)
        assert (args, ours.returncode, out(ours), _normal(ours.stderr.decode())) == \
            (args, theirs.returncode, theirs.stdout.decode(), _normal(theirs.stderr.decode()))


def test_update_reaches_the_cgroups_and_the_restart_policy(both):
    root, _ = both
    from pallet.runtime.container.update import _cgroup_dirs
    from pallet.runtime.container.lifecycle import get
    cid = out(pallet(root, "run", "-d", "--network", "none", IMAGE, "sleep", "300")).strip()
    try:
        assert pallet(root, "update", "-m", "96m", "--memory-swap", "-1", "--cpus", "0.25",
                      "--pids-limit", "7", cid).returncode == 0
        dirs = _cgroup_dirs(get(root, cid))
        assert (dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
        assert (dirs["pids"] / "pids.max").read_text().strip() == "7"
        assert (dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "25000"
        shown = pallet(root, "exec", cid, "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done")
        assert shown.returncode != 0                       # the 7-process limit holds
    finally:
        pallet(root, "rm", "-f", cid)
    flaky = out(pallet(root, "run", "-d", "--network", "none", IMAGE, "sh", "-c",
                       "sleep 1; exit 3")).strip()
    try:
        assert pallet(root, "update", "--restart", "on-failure:2", flaky).returncode == 0
        for _ in range(100):
            state = out(pallet(root, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", flaky))
            if state.startswith("2 exited"):
                break
            time.sleep(0.1)
        assert state.split() == ["2", "exited"]
    finally:
        pallet(root, "rm", "-f", flaky)


@pytest.mark.parametrize("create, updates", [
    (("-m", "64m"), [("--memory-swap", "5m"), ("-m", "100m")]),
    (("-m", "64m", "--memory-swap", "-1"), [("-m", "200m")]),
    (("-m", "64m"), [("-m", "32m", "--memory-swap", "16m")]),
    (("-m", "64m"), [("-m", "0"), ("-m", "100m")]),
    ((), [("-m", "100m")]),
    ((), [("-m", "100m", "--memory-swap", "200m"), ("--memory-swap", "-1")]),
])
def test_update_of_a_stopped_containers_memory_as_docker(both, create, updates):
    """dockerd checks the request alone first (no container in its words), then against the
    recorded limits: a swap below the recorded memory is taken, a memory above the recorded
    memory+swap (unlimited -1 included) is refused unless --memory-swap comes with it."""
    root, engine = both
    results = {}
    for tool, runner in (("docker", lambda *a: engine.docker(*a, check=False)),
                         ("pallet", lambda *a: pallet(root, *a))):
        runner("rm", "-f", "upd-stopped")
        runner("create", "--network", "none", "--name", "upd-stopped", *create, IMAGE, "true")
        steps = []
        for update in updates:
            done = runner("update", *update, "upd-stopped")
            steps.append((done.returncode, _normal(done.stderr.decode())))
        steps.append(runner("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
                            "upd-stopped").stdout.decode())
        runner("rm", "-f", "upd-stopped")
        results[tool] = steps
    assert results["pallet"] == results["docker"]
