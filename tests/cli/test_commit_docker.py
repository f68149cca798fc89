"""diff and commit side by side with a private dockerd: the same changes in the same image give
the same A/C/D lines, the same committed content and config, the same errors and exit codes."""

from __future__ import annotations

import json

import pytest

from tests.cli.ctr_helpers import out, pallet, remove_all_containers
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

IMAGE = "cmtcmp/busybox:1"
SCRIPT = ("mkdir -p /new/sub && echo x > /new/sub/f && echo y >> /etc/passwd && rm /bin/vi "
          "&& touch /tmp/t && rm -r /usr/sbin")


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("cmtcmp") / "store"
    make_busybox_image(root, IMAGE, changes=('CMD ["sh"]', "ENV A=1"))
    archive = root.parent / "image.tar"
    assert pallet(root, "save", "-o", str(archive), IMAGE).returncode == 0
    dockerd.docker("load", "-i", str(archive))
    for runner in (lambda *a: dockerd.docker(*a, check=False), lambda *a: pallet(root, *a)):
        made = runner("run", "--network", "none", "--name", "cmt-src", IMAGE, "sh", "-c", SCRIPT)
        assert made.returncode == 0, made.stderr
        runner("create", "--network", "none", "--name", "cmt-idle", IMAGE, "true")
    yield root, dockerd
    remove_all_containers(root)


def side_by_side(both, *args):
    root, engine = both
    theirs = engine.docker(*args, check=False)
    ours = pallet(root, *args)
    return ((ours.returncode, ours.stdout.decode(), ours.stderr.decode()),
            (theirs.returncode, theirs.stdout.decode(), theirs.stderr.decode()))


def test_diff_matches_docker(both):
    ours, theirs = side_by_side(both, "diff", "cmt-src")
    assert ours[0] == theirs[0] == 0
    assert sorted(ours[1].splitlines()) == sorted(theirs[1].splitlines())
    assert ours[1].splitlines() == sorted(ours[1].splitlines(), key=lambda l: l[2:])
    ours, theirs = side_by_side(both, "diff", "cmt-idle")
    assert ours == theirs == (0, "", "")


@pytest.mark.parametrize("args", [
    ("commit", "-c", "BOGUS x", "cmt-src"), ("commit", "-c", "EXPOSE abc", "cmt-src"),
    ("commit", "-c", "RUN x", "cmt-src"), ("commit", "cmt-src", "bad name"),
    ("commit", "nosuch"), ("diff", "nosuch"),
])
def test_commit_errors_match_docker(both, args):
    ours, theirs = side_by_side(both, *args)
    assert ours == theirs


def test_committed_image_matches_docker(both):
    root, engine = both
    ours, theirs = side_by_side(both, "commit", "-a", "me <me@example.com>", "-m", "the msg",
                                "-c", 'CMD ["cat", "/new/sub/f"]', "-c", "ENV Z=1",
                                "-c", "EXPOSE 8080", "-c", "WORKDIR /new", "cmt-src", "cmt/out:1")
    assert ours[0] == theirs[0] == 0 and ours[1].startswith("sha256:")
    template = ("{{json .Config.Cmd}} {{json .Config.Env}} {{json .Config.ExposedPorts}} "
                "{{.Config.WorkingDir}} {{.Author}} {{.Comment}} {{len .RootFS.Layers}}")
    ours, theirs = side_by_side(both, "image", "inspect", "-f", template, "cmt/out:1")
    assert ours == theirs
    ours, theirs = side_by_side(both, "history", "--no-trunc", "--format",
                                "{{.CreatedBy}}|{{.Comment}}", "cmt/out:1")
    assert ours[1].splitlines()[0] == theirs[1].splitlines()[0]
    check = ("cat /new/sub/f; tail -1 /etc/passwd; ls /bin/vi /usr/sbin 2>&1; ls /tmp; pwd")
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", "cmt/out:1", "sh", "-c",
                                check)
    assert ours == theirs
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", "cmt/out:1")
    assert ours == theirs == (0, "x\n", "")


def test_commit_of_a_running_container_pauses_it_and_it_runs_on(both):
    root, _ = both
    cid = out(pallet(root, "run", "-d", "--network", "none", IMAGE, "sh", "-c",
                     "echo live > /live; sleep 60")).strip()
    try:
        for _ in range(50):
            if "A /live" in out(pallet(root, "diff", cid)):
                break
        made = pallet(root, "commit", cid, "cmt/live:1")
        assert made.returncode == 0, made.stderr
        state = json.loads(out(pallet(root, "inspect", "-f", "{{json .State}}", cid)))
        assert state["Running"] and not state["Paused"]
        assert out(pallet(root, "run", "--rm", "cmt/live:1", "cat", "/live")) == "live\n"
    finally:
        pallet(root, "rm", "-f", cid)


def _last_layer_members(runner, image: str, tmp_path) -> list[str]:
    import tarfile
    archive = tmp_path / f"{abs(hash(runner))}.tar"
    assert runner("save", "-o", str(archive), image).returncode == 0
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        with tarfile.open(fileobj=outer.extractfile(manifest[0]["Layers"][-1])) as layer:
            return sorted(member.name.rstrip("/") for member in layer.getmembers())


@pytest.mark.parametrize("script, expected", [
    ("echo hi > /newfile", ["newfile"]),
    ("echo y >> /etc/passwd", ["etc", "etc/passwd"]),
])
def test_committed_layer_leaves_out_the_runtime_mount_points(both, tmp_path, script, expected):
    """/etc/hosts, hostname and resolv.conf are bind mounts the runtime makes (Docker: in
    its init layer): a running container's commit has only what the container changed."""
    root, engine = both
    runners = {"docker": lambda *a: engine.docker(*a, check=False),
               "pallet": lambda *a: pallet(root, *a)}
    members = {}
    for tool, runner in runners.items():
        runner("run", "-d", "--network", "none", "--name", "cmt-live", IMAGE, "sh", "-c",
               f"{script}; sleep 60")
        try:
            for _ in range(50):   # the script ran: its change is in the diff
                if runner("diff", "cmt-live").stdout.strip():
                    break
            diff = runner("diff", "cmt-live").stdout.decode().splitlines()
            assert runner("commit", "cmt-live", "cmt/live:1").returncode == 0
            members[tool] = (sorted(diff), _last_layer_members(runner, "cmt/live:1", tmp_path))
        finally:
            runner("rm", "-f", "cmt-live")
            runner("rmi", "cmt/live:1")
    assert members["pallet"] == members["docker"]
    assert members["pallet"][1] == expected
