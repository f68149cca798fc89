"""`pallet machine` with the generic driver against a namespace host reached over ssh: create
from scratch, the engine over mutual TLS for the stock docker CLI (`eval $(pallet machine env)`)
and docker-py, the service commands, upgrade, and rm leaving nothing behind.

The tests share one machine (conftest.machine) and run in file order in one xdist group; the
last one removes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.images import busybox_rootfs_tarball
from tests.machine.conftest import Machine

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.server,
              pytest.mark.xdist_group("machine")]

DOCKER = "/usr/bin/docker"


def _text(result) -> str:
    return result.stdout.decode() + result.stderr.decode()


def _docker_env(machine: Machine) -> dict[str, str]:
    """The variables `pallet machine env` prints, applied by bash's eval as a user would."""
    from tests.conftest import PALLET
    script = f'eval "$({PALLET} machine env {machine.name})" && env -0'
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True,
                         env={**os.environ, **machine.env}).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    env["DOCKER_CONFIG"] = str(machine.config)
    return env


def _docker(machine: Machine, *args: str, env=None, input=None, timeout=120):
    return subprocess.run([DOCKER, *args], capture_output=True, input=input, timeout=timeout,
                          env=env or _docker_env(machine))


def _serve_pids(machine: Machine) -> list[int]:
    """The machine's `pallet serve` (by its --pidfile; the containers' monitors are forks of
    it with the same command line), as a list: [] when it is not running."""
    from tests.sshhost import alive
    try:
        pid = int(Path(machine.prefix, "run", "pallet.pid").read_text())
    except (OSError, ValueError):
        return []
    if not alive(pid) or pid not in machine.host.processes():
        return []
    assert b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return [pid]


def test_create_installs_under_its_prefix_and_records_the_machine_privately(machine):
    # the local record: docker-machine's layout, the directory 0700 and every file 0600
    assert machine.directory.stat().st_mode & 0o777 == 0o700
    names = sorted(p.name for p in machine.directory.iterdir())
    assert names == ["ca-key.pem", "ca.pem", "cert.pem", "config.json", "key.pem",
                     "known_hosts", "server-key.pem", "server.pem"]
    for path in machine.directory.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
    # the server certificate names the host's address, signed by the machine's CA
    from cryptography import x509
    server = x509.load_pem_x509_certificate((machine.directory / "server.pem").read_bytes())
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert machine.host.address in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    # on the host: pallet in its own venv under the prefix, served by a supervised process
    # (this host's PID 1 is not systemd)
    assert os.access(f"{machine.prefix}/venv/bin/pallet", os.X_OK)
    assert json.loads(Path(machine.prefix, "machine.json").read_text())["service"] == "supervisor"
    assert len(_serve_pids(machine)) == 1
    # `pallet` linked into the link directory; `docker` not: this host has a docker of its own
    assert os.listdir(machine.link_dir) == ["pallet"]
    assert os.readlink(Path(machine.link_dir, "pallet")) == f"{machine.prefix}/bin/pallet"
    # what the machine commands report
    listed = machine.pallet("machine", "ls")
    assert listed.returncode == 0, _text(listed)
    header, *rows = listed.stdout.decode().splitlines()
    assert header.split() == ["NAME", "ACTIVE", "DRIVER", "STATE", "URL", "PALLET", "ERRORS"]
    url = f"tcp://{machine.host.address}:2376"
    assert [row.split() for row in rows] == [[machine.name, "-", "generic", "Running", url,
                                              "v0.1.0"]]
    assert machine.pallet("machine", "status", machine.name).stdout == b"Running\n"
    assert machine.pallet("machine", "ip", machine.name).stdout.decode() == f"{machine.host.address}\n"
    assert machine.pallet("machine", "url", machine.name).stdout.decode() == f"{url}\n"
    document = json.loads(machine.pallet("machine", "inspect", machine.name).stdout)
    assert document["DriverName"] == "generic" and document["Driver"]["ip"] == machine.host.address
    assert document["HostOptions"]["AuthOptions"]["CertDir"] == str(machine.directory)


def test_env_prints_docker_machines_variables(machine):
    result = machine.pallet("machine", "env", machine.name)
    assert result.stdout.decode() == (
        'export DOCKER_TLS_VERIFY="1"\n'
        f'export DOCKER_HOST="tcp://{machine.host.address}:2376"\n'
        f'export DOCKER_CERT_PATH="{machine.directory}"\n'
        f'export DOCKER_MACHINE_NAME="{machine.name}"\n'
        "# Run this command to configure your shell: \n"
        f"# eval $(pallet machine env {machine.name})\n")
    fish = machine.pallet("machine", "env", "--shell", "fish", machine.name).stdout.decode()
    assert f'set -gx DOCKER_HOST "tcp://{machine.host.address}:2376";\n' in fish
    unset = machine.pallet("machine", "env", "--unset").stdout.decode()
    assert unset.startswith("unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\n")
    powershell = machine.pallet("machine", "env", "--shell", "powershell", machine.name)
    assert f'$Env:DOCKER_MACHINE_NAME = "{machine.name}"' in powershell.stdout.decode()


@pytest.fixture(scope="module")
def sleeper(machine) -> str:
    """busybox imported into the machine through the docker CLI over TLS, and a container
    "sleeper" running there (made once; each test that needs it asks for it)."""
    env = _docker_env(machine)
    if not _docker(machine, "image", "inspect", "busybox", env=env).returncode == 0:
        imported = _docker(machine, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest",
                           env=env, input=busybox_rootfs_tarball().read_bytes())
        assert imported.returncode == 0, _text(imported)
    if _docker(machine, "ps", "-q", "--filter", "name=sleeper", env=env).stdout.strip() == b"":
        detached = _docker(machine, "run", "-d", "--name", "sleeper", "busybox", "sleep", "600",
                           env=env)
        assert detached.returncode == 0, _text(detached)
    return "sleeper"


def test_the_stock_docker_cli_drives_the_machine_over_tls(machine, sleeper, tmp_path):
    env = _docker_env(machine)
    assert env["DOCKER_TLS_VERIFY"] == "1"
    version = _docker(machine, "version", "--format", "{{.Server.APIVersion}}", env=env)
    assert version.stdout.strip() == b"1.44", _text(version)
    ran = _docker(machine, "run", "--rm", "busybox", "echo", "hello from the machine", env=env)
    assert ran.stdout == b"hello from the machine\n", _text(ran)
    listed = _docker(machine, "ps", "--format", "{{.Names}} {{.Image}}", env=env)
    assert listed.stdout == b"sleeper busybox\n"
    # the machine's store is the one under its prefix
    local = subprocess.run([f"{machine.prefix}/bin/pallet", "ps", "--format", "{{.Names}}"],
                           capture_output=True)
    assert local.stdout == b"sleeper\n"
    # the docker CLI's build (the classic API: no buildx here) of a local context
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello.txt").write_text("sent from here\n")
    (context / "Dockerfile").write_text("FROM busybox\nCOPY hello.txt /hello.txt\n"
                                        "RUN cat /hello.txt /hello.txt > /twice\n")
    built = _docker(machine, "build", "-q", "-t", "machine-built", str(context),
                    env={**env, "DOCKER_BUILDKIT": "0"})
    assert built.returncode == 0, _text(built)
    twice = _docker(machine, "run", "--rm", "--network", "none", "machine-built", "cat", "/twice",
                    env=env)
    assert twice.stdout == b"sent from here\nsent from here\n", _text(twice)


def test_pallet_reaches_the_machine_through_its_context_and_its_env(machine, sleeper):
    url = f"tcp://{machine.host.address}:2376"
    shown = machine.pallet("context", "inspect", machine.name, "--format",
                           "{{.Endpoints.docker.Host}}")
    assert shown.stdout.decode() == f"{url}\n", _text(shown)
    listed = machine.pallet("--context", machine.name, "ps", "--format", "{{.Names}}")
    assert listed.stdout == b"sleeper\n", _text(listed)
    images = machine.pallet("--context", machine.name, "images", "--format", "{{.Repository}}")
    assert b"busybox" in images.stdout.split(), _text(images)
    # the stock docker CLI reads the same context store
    docker_ps = _docker(machine, "--context", machine.name, "ps", "--format", "{{.Names}}",
                        env={**os.environ, **machine.env})
    assert docker_ps.stdout == b"sleeper\n", _text(docker_ps)
    # eval $(pallet machine env): DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH
    from tests.conftest import PALLET
    evaluated = subprocess.run(
        ["bash", "-c", f'eval "$({PALLET} machine env {machine.name})" && '
                       f"{PALLET} ps --format '{{{{.Names}}}}'"],
        capture_output=True, env={**os.environ, **machine.env}, timeout=120)
    assert evaluated.stdout == b"sleeper\n", _text(evaluated)


def test_pallets_commands_act_on_the_machine_through_its_context(machine, sleeper, tmp_path):
    """`pallet --context M`: build of a local context, run (stdin, exit code), run -it on a
    terminal, logs -f, exec, cp both ways, ps, rm; all over mutual TLS."""
    import time
    from tests.conftest import PALLET
    from tests.remote.streams_support import Terminal

    def over(*args, input=None):
        return machine.pallet("--context", machine.name, *args, input=input, timeout=180)

    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nCOPY payload.txt /\n")
    (context / "payload.txt").write_text("built through the context\n")
    built = over("build", "-q", "-t", "ctx-built:1", str(context))
    assert built.returncode == 0, _text(built)
    ran = over("run", "--rm", "--network", "none", "ctx-built:1", "sh", "-c",
               "cat /payload.txt; exit 7")
    assert (ran.returncode, ran.stdout) == (7, b"built through the context\n"), _text(ran)

    terminal = Terminal([str(PALLET), "--context", machine.name, "run", "-it", "--rm",
                         "--network", "none", "busybox", "sh"],
                        env={**os.environ, **machine.env}, rows=31, columns=97)
    terminal.read_until(b"# ")
    time.sleep(0.5)
    terminal.send(b"stty size; exit 4\r")
    assert terminal.wait() == 4
    assert b"31 97" in terminal.seen

    started = over("run", "-d", "--name", "ctx-box", "--network", "none", "busybox", "sh", "-c",
                   "mkdir /box; echo first; until [ -s /box/go ]; do sleep 0.1; done; "
                   "cat /box/go; sleep 600")
    assert started.returncode == 0, _text(started)
    follower = subprocess.Popen([str(PALLET), "--context", machine.name, "logs", "-f",
                                 "ctx-box"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **machine.env})
    try:
        source = tmp_path / "go"
        source.write_text("second\n")
        for _ in range(50):     # the container makes /box at its own pace
            if over("exec", "ctx-box", "test", "-d", "/box").returncode == 0:
                break
            time.sleep(0.2)
        copied = over("cp", str(source), "ctx-box:/box/go")
        assert copied.returncode == 0, _text(copied)
        back = tmp_path / "back"
        fetched = over("cp", "ctx-box:/box/go", str(back))
        assert fetched.returncode == 0 and back.read_text() == "second\n", _text(fetched)
        executed = over("exec", "ctx-box", "sh", "-c", "cat /box/go; exit 5")
        assert (executed.returncode, executed.stdout) == (5, b"second\n"), _text(executed)
        listed = over("ps", "--format", "{{.Names}}")
        assert sorted(listed.stdout.decode().split()) == ["ctx-box", "sleeper"], _text(listed)
        time.sleep(1)
        removed = over("rm", "-f", "ctx-box")
        assert removed.returncode == 0, _text(removed)
        stdout, stderr = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert stdout == b"first\nsecond\n", stderr
    assert over("ps", "-a", "--format", "{{.Names}}").stdout == b"sleeper\n"


def test_ssh_urls_reach_the_machine_through_its_dial_stdio(machine, sleeper,
                                                          no_ca_bundle_override):
    """ssh://root@HOST: Docker's clients run `docker system dial-stdio` there (the installed
    stand-in), pallet runs `pallet system dial-stdio` (the installed wrapper)."""
    runtime = Path(tempfile.mkdtemp(prefix="pm-xdg-"))   # pallet's ssh control sockets
    env = {**os.environ, **machine.env,
           "PATH": f"{machine.host.client_bin()}:{os.environ['PATH']}",
           "XDG_RUNTIME_DIR": str(runtime)}
    ssh_url = machine.host.url()
    try:
        docker_ps = subprocess.run([DOCKER, "-H", ssh_url, "ps", "--format", "{{.Names}}"],
                                   capture_output=True, env=env, timeout=120)
        assert docker_ps.stdout == b"sleeper\n", _text(docker_ps)
        pallet_ps = machine.pallet("-H", ssh_url, "ps", "--format", "{{.Names}}", env=env)
        assert pallet_ps.stdout == b"sleeper\n", _text(pallet_ps)
        import docker
        previous = os.environ["PATH"]
        os.environ["PATH"] = env["PATH"]     # docker-py's ssh client runs `ssh` from PATH
        try:
            client = docker.DockerClient(base_url=ssh_url, use_ssh_client=True, timeout=60)
            assert [c.name for c in client.containers.list()] == ["sleeper"]
            client.close()
        finally:
            os.environ["PATH"] = previous
    finally:
        # pallet's ssh master connections (ControlPersist) end with the test
        for control in (runtime / "pallet-ssh").glob("*") if (runtime / "pallet-ssh").exists() else []:
            subprocess.run(["ssh", "-o", f"ControlPath={control}", "-O", "exit", "x"],
                           capture_output=True, timeout=20)
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def no_ca_bundle_override(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE (set on this machine) override a
    session's own CA file (psf/requests#3829), and docker-py's TLSConfig sets exactly that."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def test_docker_py_reaches_the_machine_with_tlsconfig(machine, no_ca_bundle_override, sleeper):
    import docker
    certs = machine.directory
    tls = docker.tls.TLSConfig(client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
                               ca_cert=str(certs / "ca.pem"), verify=True)
    client = docker.DockerClient(base_url=f"tcp://{machine.host.address}:2376", tls=tls,
                                 timeout=60)
    try:
        assert client.version()["ApiVersion"] == "1.44"
        output = client.containers.run("busybox", ["echo", "docker-py"], remove=True,
                                       network_mode="none")
        assert output == b"docker-py\n"
    finally:
        client.close()


def test_a_client_certificate_from_another_ca_is_refused(machine, tmp_path, sleeper,
                                                        no_ca_bundle_override):
    from pallet.machine.certs import make_certificates
    other = tmp_path / "other"
    other.mkdir()
    make_certificates(other, "intruder", ("127.0.0.1",))
    intruder = tmp_path / "intruder"
    intruder.mkdir()
    # the machine's CA (so the server checks out), another CA's client certificate
    (intruder / "ca.pem").write_bytes((machine.directory / "ca.pem").read_bytes())
    (intruder / "cert.pem").write_bytes((other / "cert.pem").read_bytes())
    (intruder / "key.pem").write_bytes((other / "key.pem").read_bytes())
    env = {**_docker_env(machine), "DOCKER_CERT_PATH": str(intruder)}
    refused = _docker(machine, "ps", env=env)
    assert refused.returncode != 0 and b"sleeper" not in refused.stdout
    # TLS 1.3 checks the client's certificate after the client has finished its handshake, so
    # the refusal reaches the docker CLI as the server's alert or, when its request is already
    # on the wire, as a reset: either way nothing was answered
    assert (b"certificate" in refused.stderr or b"tls" in refused.stderr.lower()
            or b"connection reset by peer" in refused.stderr), refused.stderr
    import docker
    tls = docker.tls.TLSConfig(client_cert=(str(intruder / "cert.pem"), str(intruder / "key.pem")),
                               ca_cert=str(intruder / "ca.pem"), verify=True)
    with pytest.raises(docker.errors.DockerException):
        docker.DockerClient(base_url=f"tcp://{machine.host.address}:2376", tls=tls,
                            timeout=20).containers.list()
    # and the machine's own client certificate still gets in
    assert _docker(machine, "ps", "-q").returncode == 0


def test_machine_ssh_runs_a_command_and_passes_its_exit_status(machine):
    result = machine.pallet("machine", "ssh", machine.name, "uname", "-s")
    assert result.stdout == b"Linux\n", _text(result)
    failed = machine.pallet("machine", "ssh", machine.name, "sh", "-c", "'exit 3'")
    assert failed.returncode == 3


def test_stop_start_and_restart_drive_the_service(machine, sleeper):
    before = _serve_pids(machine)
    stopped = machine.pallet("machine", "stop", machine.name)
    assert stopped.returncode == 0, _text(stopped)
    assert _serve_pids(machine) == []
    assert machine.pallet("machine", "status", machine.name).stdout == b"Stopped\n"
    listed = machine.pallet("machine", "ls", "--format", "{{.Name}} {{.State}} {{.Error}}")
    assert listed.stdout.decode().startswith(f"{machine.name} Running cannot connect")
    # containers have their own monitors: stopping the server leaves them running
    assert subprocess.run([f"{machine.prefix}/bin/pallet", "ps", "-q"],
                          capture_output=True).stdout.strip() != b""
    started = machine.pallet("machine", "start", machine.name)
    assert started.returncode == 0, _text(started)
    assert machine.pallet("machine", "status", machine.name).stdout == b"Running\n"
    running = _serve_pids(machine)
    assert len(running) == 1 and running != before
    restarted = machine.pallet("machine", "restart", machine.name)
    assert restarted.returncode == 0, _text(restarted)
    after = _serve_pids(machine)
    assert len(after) == 1 and after != running
    assert _docker(machine, "ps", "--format", "{{.Names}}").stdout == b"sleeper\n"


def test_upgrade_reinstalls_pallet_and_restarts_the_server(machine, sleeper):
    before = _serve_pids(machine)
    marker, = Path(machine.prefix, "venv", "lib").glob("python3*/site-packages/pallet/machine/"
                                                       "__init__.py")
    marker.write_text("# stale\n")
    result = machine.pallet("machine", "upgrade", machine.name, timeout=600)
    assert result.returncode == 0, _text(result)
    # this tree's code again, and a new server process answering
    assert "docker-machine's" in marker.read_text()
    after = _serve_pids(machine)
    assert len(after) == 1 and after != before
    assert _docker(machine, "ps", "--format", "{{.Names}}").stdout == b"sleeper\n"


def test_a_taken_name_is_refused_and_the_machine_is_untouched(machine):
    again = machine.pallet(*machine.create_args())
    assert again.returncode != 0
    assert f'Host already exists: "{machine.name}"' in again.stderr.decode()
    assert b"Traceback" not in again.stderr
    assert machine.pallet("machine", "status", machine.name).stdout == b"Running\n"


def _mounts_under(prefix: str, pid: int) -> list[str]:
    """Mount points below prefix in pid's mount namespace."""
    return [line.split()[4] for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(prefix + "/")]


def _processes_using(prefix: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
            root = os.readlink(f"/proc/{entry}/root")
        except OSError:
            continue
        if prefix.encode() in argv or root.startswith(prefix + "/"):
            found.append(int(entry))
    return found


def test_rm_removes_the_install_the_record_and_every_process(machine, sleeper):
    from tests.sshhost import alive
    using = _processes_using(machine.prefix)   # the server, the supervisor, the monitor
    assert len(using) >= 3
    sleeper = int(subprocess.run([f"{machine.prefix}/bin/pallet", "inspect", "--format",
                                  "{{.State.Pid}}", "sleeper"], capture_output=True).stdout)
    assert alive(sleeper)
    answered = machine.pallet("machine", "rm", machine.name, input=b"n\n")
    assert answered.returncode != 0 and machine.directory.exists()   # asked, declined
    removed = machine.pallet("machine", "rm", "-y", machine.name)
    assert removed.returncode == 0, _text(removed)
    assert removed.stdout.decode().endswith(f"Successfully removed {machine.name}\n")
    assert not os.path.exists(machine.prefix)
    assert os.listdir(machine.link_dir) == []      # the link create made, and only that
    assert _mounts_under(machine.prefix, machine.host.sshd_pid) == []
    assert _mounts_under(machine.prefix, os.getpid()) == []
    assert [pid for pid in [*using, sleeper] if alive(pid)] == []
    assert [pid for pid in _processes_using(machine.prefix) if alive(pid)] == []
    assert [pid for pid in machine.host.processes() if alive(pid)] == []
    assert not machine.directory.exists()
    assert machine.pallet("context", "inspect", machine.name).returncode != 0   # context gone
    # the store's networking inside the namespace went with it
    links = subprocess.run(["ip", "-n", machine.host.netns, "-o", "link", "show", "type",
                            "bridge"], capture_output=True, text=True).stdout
    assert links == ""
    listed = machine.pallet("machine", "ls", "-q")
    assert machine.name not in listed.stdout.decode().split()
