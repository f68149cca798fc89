"""Side by side with a real Docker engine (private dockerd): the same image, the same commands,
the same observable results -- exit codes, environment, /etc files, mounts, /dev, process tree,
capabilities and the inspect fields users script against."""

from __future__ import annotations

import json

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.cli.docker_pair import docker_pair
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

IMAGE = "cmp/busybox:1"


@pytest.fixture(scope="module")
def both(dockerd, tmp_path_factory):  # noqa: F811
    """(pallet store root, docker engine), with the same image in each."""
    pair = docker_pair(dockerd, tmp_path_factory, "cmp", IMAGE,
                       changes=('CMD ["sh"]', "ENV GREETING=hello", "WORKDIR /work"))
    yield pair
    pair.close()


def side_by_side(both, *args: str, input: bytes | None = None):
    root, engine = both
    theirs = engine.docker(*args, input=input, check=False)
    ours = pallet(root, *args, input=input)
    return ours, theirs


def test_exit_codes_match(both, tmp_path):
    cases = [
        ("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "exit 7"),
        ("run", "--rm", "--network", "none", IMAGE, "nosuchcmd"),
        ("run", "--rm", "--network", "none", IMAGE, "/etc/passwd"),
        ("run", "--rm", "--network", "none", "-u", "nobody2", IMAGE, "true"),
        ("run", "--rm", "--network", "none", "-w", "/etc/passwd", IMAGE, "true"),
        ("run", "--rm", "--network", "none", "-m", "12q", IMAGE, "true"),
        ("run", "--rm", "--network", "none", "-v", f"{tmp_path}/missing:/x", IMAGE, "true"),
        ("run", "--rm", "--network", "none", "localhost:1/no/such:image", "true"),
        ("run", "--rm", "--network", "none", "--entrypoint", "/bin/nothing", IMAGE),
    ]
    for args in cases:
        ours, theirs = side_by_side(both, *args)
        assert ours.returncode == theirs.returncode, (args, ours.stderr, theirs.stderr)


def test_create_refusals_exit_as_docker_create_does(both, tmp_path):
    """`docker create` exits 125 for what the CLI refuses itself and 1 for the daemon's
    refusals (`run` makes both 125)."""
    root, engine = both
    for runner in (lambda *a: engine.docker(*a, check=False), lambda *a: pallet(root, *a)):
        runner("create", "--network", "none", "--name", "cmp-taken", IMAGE, "true")
    cases = [
        ("create", "--network", "none", "--name", "cmp-taken", IMAGE, "true"),
        ("create", "--network", "none", "-m", "1m", IMAGE, "true"),
        ("create", "--network", "none", "-m", "12q", IMAGE, "true"),
        ("create", "--network", "none", "--memory-swap", "64m", IMAGE, "true"),
        ("create", "--network", "none", "-m", "64m", "--memory-swap", "32m", IMAGE, "true"),
        ("create", "--network", "none", "-v", f"{tmp_path}/missing:/x", IMAGE, "true"),
        ("create", "--network", "none", "-v", "relative:/x:bogus", IMAGE, "true"),
        ("create", "--network", "none", "--restart", "bogus", IMAGE, "true"),
        ("create", "--network", "none", "--restart", "always", "--rm", IMAGE, "true"),
        ("create", "--network", "none", "--cap-add", "NOPE", IMAGE, "true"),
        ("create", "--network", "none", "-w", "relative", IMAGE, "true"),
        ("create", "--network", "none", "--name", "bad/name", IMAGE, "true"),
        ("create", "--network", "none", "--pids-limit", "x", IMAGE, "true"),
        ("create", "--network", "none", "--cpus", "99", IMAGE, "true"),
        ("create", "--network", "none", "localhost:1/no/such:image", "true"),
    ]
    try:
        mismatched = []
        for args in cases:
            ours, theirs = side_by_side(both, *args)
            if ours.returncode != theirs.returncode:
                mismatched.append((args[3:], ours.returncode, theirs.returncode,
                                   theirs.stderr.decode()[-200:]))
        assert not mismatched, "\n".join(map(repr, mismatched))
    finally:
        for runner in (lambda *a: engine.docker(*a, check=False), lambda *a: pallet(root, *a)):
            runner("container", "prune", "-f")


def test_lifecycle_error_exit_codes_match(both):
    root, engine = both
    for runner in (lambda *a: engine.docker(*a, check=False), lambda *a: pallet(root, *a)):
        runner("run", "-d", "--network", "none", "--name", "cmp-busy", IMAGE, "sleep", "60")
        runner("create", "--network", "none", "--name", "cmp-idle", IMAGE, "true")
    for args in (("rm", "cmp-busy"), ("exec", "cmp-idle", "true"), ("kill", "cmp-idle"),
                 ("run", "--network", "none", "--name", "cmp-busy", IMAGE, "true"),
                 ("start", "cmp-nothing"), ("exec", "cmp-busy", "nosuchcmd"),
                 ("exec", "cmp-busy", "sh", "-c", "exit 9")):
        ours, theirs = side_by_side(both, *args)
        assert ours.returncode == theirs.returncode, (args, ours.stderr, theirs.stderr)
    for args in (("rm", "-f", "cmp-busy"), ("rm", "cmp-idle")):
        ours, theirs = side_by_side(both, *args)
        assert ours.returncode == theirs.returncode == 0


def test_environment_matches(both, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=1\nGREETING=overridden-by-flag\n")
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", "--env-file",
                                str(env_file), "-e", "GREETING=flag", "-e", "EMPTY=", IMAGE,
                                "env")

    def normal(result):
        return sorted(line for line in out(result).splitlines() if not line.startswith("HOSTNAME="))

    assert normal(ours) == normal(theirs)
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", "-u", "nobody", IMAGE,
                                "sh", "-c", "id; echo $HOME; pwd")
    assert out(ours) == out(theirs)


def test_etc_files_and_hostname_match(both):
    script = "cat /etc/hosts; echo; cat /etc/resolv.conf; echo; hostname"
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", "--hostname", "box",
                                "--add-host", "db:10.1.2.3", "--dns", "9.9.9.9", IMAGE,
                                "sh", "-c", script)
    assert out(ours) == out(theirs)


def _mount_table(result) -> list[tuple[str, str, str]]:
    rows = []
    for line in out(result).splitlines():
        _source, point, fstype, options = line.split()[:4]
        if point in ("/proc/interrupts", "/sys/devices/virtual/powercap"):
            continue  # masked by newer Docker releases (and by pallet), not by this engine's 20.10
        rows.append((point, fstype, options.split(",")[0]))
    return sorted(rows)


def test_mounts_dev_and_process_tree_match(both, tmp_path):
    (tmp_path / "data").mkdir()
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", "-v",
                                f"{tmp_path}/data:/data:ro", "--tmpfs", "/scratch", IMAGE,
                                "cat", "/proc/mounts")
    assert _mount_table(ours) == _mount_table(theirs)
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", IMAGE, "sh", "-c",
                                "ls -l /dev | awk '{print $1, $NF}'; ps -o pid,args")
    assert out(ours) == out(theirs)


def test_capabilities_match(both):
    # --privileged is left out: this machine's bounding set lacks CAP_SYS_RESOURCE, so runc
    # fails with "unable to apply caps" (125) where pallet passes on every capability it holds.
    for flags in ((), ("--cap-add", "NET_ADMIN", "--cap-drop", "chown"), ("--cap-drop", "ALL"),
                  ("--cap-drop", "ALL", "--cap-add", "KILL"), ("-u", "nobody")):
        ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", *flags, IMAGE,
                                    "grep", "^Cap", "/proc/self/status")
        assert theirs.returncode == 0, theirs.stderr
        assert out(ours) == out(theirs), flags


def test_oom_kill_matches(both):
    root, engine = both
    args = ("run", "--network", "none", "--name", "cmp-oom", "-m", "32m", "--memory-swap", "32m",
            IMAGE, "tail", "/dev/zero")
    ours, theirs = side_by_side(both, *args)
    assert ours.returncode == theirs.returncode == 137
    our_state = json.loads(out(pallet(root, "inspect", "cmp-oom")))[0]["State"]
    their_state = json.loads(engine.docker("inspect", "cmp-oom").stdout)[0]["State"]
    # dockerd sets OOMKilled from containerd's OOM event, which can come after the exit
    # (moby#18510): on a loaded machine the reference itself says false now and then, so it
    # gets two more tries to show the flag; pallet's is asserted on its one run
    for _ in range(2):
        if their_state["OOMKilled"]:
            break
        engine.docker("rm", "cmp-oom", check=False)
        assert engine.docker(*args, check=False).returncode == 137
        their_state = json.loads(engine.docker("inspect", "cmp-oom").stdout)[0]["State"]
    assert our_state["OOMKilled"] is True
    assert their_state["OOMKilled"] is True
    side_by_side(both, "rm", "cmp-oom")


def test_inspect_essentials_match(both, tmp_path):
    root, engine = both
    create = ("create", "--network", "none", "--name", "cmp-insp", "-v", f"{tmp_path}:/data:ro",
              "-e", "A=1", "--restart", "on-failure:3", "-m", "64m", "--pids-limit", "50",
              "--cap-add", "NET_ADMIN", "-l", "k=v", "--read-only", IMAGE, "sleep", "1")
    ours, theirs = side_by_side(both, *create)
    assert ours.returncode == theirs.returncode == 0
    mine = json.loads(out(pallet(root, "inspect", "cmp-insp")))[0]
    docker = json.loads(engine.docker("inspect", "cmp-insp").stdout)[0]
    assert set(docker["State"]) == set(mine["State"])
    for key in ("Status", "Running", "ExitCode", "Pid", "OOMKilled"):
        assert mine["State"][key] == docker["State"][key], key
    for key in ("Path", "Args", "Name", "RestartCount", "Driver", "Platform"):
        assert mine[key] == docker[key], key
    for key in ("Env", "Cmd", "Image", "WorkingDir", "Entrypoint", "User", "Tty", "OpenStdin",
                "Labels", "Volumes", "AttachStdout"):
        assert mine["Config"][key] == docker["Config"][key], key
    assert mine["Config"]["Hostname"] == mine["Id"][:12]
    for key in ("Binds", "NetworkMode", "RestartPolicy", "AutoRemove", "Privileged",
                "ReadonlyRootfs", "Memory", "MemorySwap", "PidsLimit", "CapAdd", "CapDrop", "Dns", "ShmSize",
                "LogConfig"):
        assert mine["HostConfig"][key] == docker["HostConfig"][key], key
    essentials = lambda mounts: [{k: m[k] for k in ("Type", "Source", "Destination", "Mode", "RW")}
                                 for m in mounts]
    assert essentials(mine["Mounts"]) == essentials(docker["Mounts"])
    side_by_side(both, "start", "-a", "cmp-insp")
    mine = json.loads(out(pallet(root, "inspect", "cmp-insp")))[0]["State"]
    docker = json.loads(engine.docker("inspect", "cmp-insp").stdout)[0]["State"]
    for key in ("Status", "Running", "ExitCode", "Pid", "OOMKilled", "Error"):
        assert mine[key] == docker[key], key
    side_by_side(both, "rm", "cmp-insp")


def test_host_network_mounts_hosts_and_hostname_match(both):
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "host", IMAGE, "cat", "/proc/mounts")
    assert _mount_table(ours) == _mount_table(theirs)
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "host", IMAGE, "sh", "-c",
                                "hostname; cat /etc/hosts; readlink /proc/self/ns/net")
    assert out(ours) == out(theirs)


def test_ps_columns_and_format_match(both):
    import re

    root, engine = both
    for runner in (lambda *a: engine.docker(*a, check=False), lambda *a: pallet(root, *a)):
        runner("create", "--network", "none", "--name", "cmp-ps-created", IMAGE, "echo", "a long argument list here")
        runner("run", "--network", "none", "--name", "cmp-ps-exited", IMAGE, "sh", "-c", "exit 3")
    fmt = "{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}|{{.State}}|{{.Ports}}"
    ours, theirs = side_by_side(both, "ps", "-a", "--filter", "name=cmp-ps-", "--format", fmt)

    def normal(result):
        # Durations depend on when each engine ran the command; everything else must match.
        return sorted(re.sub(r"\) [^|]* ago\|", ") <ago>|", line) for line in out(result).splitlines())

    assert normal(ours) == normal(theirs)
    header_ours, header_theirs = (out(r).splitlines()[0].split() for r in side_by_side(both, "ps", "-a"))
    assert header_ours == header_theirs
    for args in (("rm", "cmp-ps-created"), ("rm", "cmp-ps-exited")):
        side_by_side(both, *args)


def test_exec_environment_and_logs_match(both):
    root, engine = both
    for runner in (lambda *a: engine.docker(*a, check=False), lambda *a: pallet(root, *a)):
        runner("run", "-d", "--network", "none", "--name", "cmp-env", "-e", "A=1", IMAGE, "sh", "-c",
               "echo to-out; sleep 0.3; echo to-err >&2; sleep 60")
    import time
    deadline = time.time() + 20
    while time.time() < deadline:  # until both containers have written both lines
        ours, theirs = side_by_side(both, "logs", "cmp-env")
        if ours.stderr and theirs.stderr:
            break
        time.sleep(0.1)
    ours, theirs = side_by_side(both, "exec", "-e", "B=2", "-u", "nobody", "-w", "/tmp", "cmp-env",
                                "sh", "-c", "env | grep -v HOSTNAME | sort; id; pwd")
    assert out(ours) == out(theirs)
    ours, theirs = side_by_side(both, "logs", "cmp-env")
    assert (out(ours), ours.stderr) == (out(theirs), theirs.stderr) == ("to-out\n", b"to-err\n")
    ours, theirs = side_by_side(both, "logs", "--tail", "1", "cmp-env")
    assert (out(ours), ours.stderr) == (out(theirs), theirs.stderr) == ("", b"to-err\n")
    side_by_side(both, "rm", "-f", "cmp-env")


def test_mount_options_match_for_kernel_filesystems_and_tmpfs(both):
    def options(result) -> list[tuple[str, str, list[str]]]:
        rows = []
        for line in out(result).splitlines():
            _source, point, fstype, opts = line.split()[:4]
            if point in ("/", "/proc/interrupts", "/sys/devices/virtual/powercap") or point.startswith("/etc/"):
                continue  # host-specific layer paths and file systems
            rows.append((point, fstype, sorted(opts.split(","))))
        return sorted(rows)

    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", "--read-only",
                                "--tmpfs", "/scratch", "--tmpfs", "/sized:size=1m,mode=700", IMAGE,
                                "cat", "/proc/mounts")
    assert options(ours) == options(theirs)
    ours, theirs = side_by_side(both, "run", "--rm", "--network", "none", "--read-only", IMAGE,
                                "sh", "-c", "touch /x 2>&1; grep ' / ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1")
    assert out(ours) == out(theirs)


def test_rmi_conflicts_with_containers_match(both):
    """By ID: a running container's image cannot be deleted, not even with -f; a stopped
    container's needs -f. Same words as the engine's 409, container ID aside."""
    import re

    root, engine = both
    image = "cmp/rmi:1"
    image_id = make_busybox_image(root, image, changes=("ENV RMI_TEST=1",))
    archive = root.parent / "rmi-image.tar"
    assert pallet(root, "save", "-o", str(archive), image).returncode == 0
    engine.docker("load", "-i", str(archive))
    short = image_id[7:19]
    runners = {"docker": lambda *a: engine.docker(*a, check=False), "pallet": lambda *a: pallet(root, *a)}
    seen: dict[str, list[tuple[int, str]]] = {"docker": [], "pallet": []}
    for name, runner in runners.items():
        started = runner("run", "-d", "--network", "none", image, "sleep", "60")
        assert started.returncode == 0, started.stderr
        container = out(started).strip()[:12]
        for args in (("rmi", short), ("rmi", "-f", short), ("stop", "-t", "0", container),
                     ("rmi", short)):
            result = runner(*args)
            if args[0] == "rmi":
                text = result.stderr.decode().replace(container, "<container>")
                seen[name].append((result.returncode, text))
        assert runner("rm", container).returncode == 0
        assert runner("rmi", image).returncode == 0
    assert seen["pallet"] == seen["docker"]
    assert re.search(r"\(cannot be forced\) - image is being used by running container <container>",
                     seen["docker"][0][1])
