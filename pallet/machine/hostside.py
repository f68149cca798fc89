"""The machine's host side: run there, as root, by provisioning and the machine commands.

    PREFIX/venv/bin/python -m pallet.machine.hostside install|start|stop|status|uninstall PREFIX

PREFIX/machine.json (written by `machine create`) says the machine's name and where the TLS
listener binds; `install` adds what it made (the links, the service kind) so `uninstall` removes
exactly that and then PREFIX. The service is a systemd unit where systemd is PID 1 (the test
for that is sd_booted()'s: /run/systemd/system exists), else `pallet serve` under
pallet.machine.supervise with a pidfile and a log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pallet.machine.layout import HostLayout, unit_name

READY_SECONDS = 60


class HostError(Exception):
    pass


def _record(layout: HostLayout) -> dict:
    return json.loads(Path(layout.record).read_text())


def _save(layout: HostLayout, record: dict) -> None:
    path = Path(layout.record)
    path.with_suffix(".tmp").write_text(json.dumps(record, indent=2) + "\n")
    os.rename(path.with_suffix(".tmp"), path)


def _systemd() -> bool:
    return os.path.isdir("/run/systemd/system") and shutil.which("systemctl") is not None


def serve_argv(layout: HostLayout, record: dict) -> list[str]:
    listen = record["listen"]
    host = f"[{listen}]" if ":" in listen else listen
    return [str(layout.venv / "bin" / "pallet"), "--root", str(layout.root), "serve",
            "-H", f"unix://{layout.socket}", "-H", f"tcp://{host}:{record['port']}",
            "--tlsverify", "--tlscacert", str(layout.certs / "ca.pem"),
            "--tlscert", str(layout.certs / "server.pem"),
            "--tlskey", str(layout.certs / "server-key.pem"), "--pidfile", str(layout.pidfile)]


def _unit_text(layout: HostLayout, record: dict) -> str:
    return (f"# made by `pallet machine create {record['name']}`; removed by `pallet machine rm`\n"
            f"[Unit]\nDescription=pallet Engine API (machine {record['name']})\n"
            "After=network-online.target\nWants=network-online.target\n\n"
            "[Service]\nType=simple\n"
            f"ExecStart={' '.join(serve_argv(layout, record))}\n"
            f"PIDFile={layout.pidfile}\n"
            # containers have their own monitors and outlive a restart of the server
            "KillMode=process\nTimeoutStopSec=45\nRestart=on-failure\nRestartSec=2\n"
            "Delegate=yes\nLimitNOFILE=1048576\nTasksMax=infinity\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


def _write_script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _pallet_wrapper(layout: HostLayout) -> str:
    # pallet on the host works on the machine's store directly (daemonless, as everywhere);
    # only `pallet system dial-stdio` (what pallet's ssh:// clients run here) needs to know
    # which server to dial
    return ("#!/bin/sh\n# pallet machine: pallet with this machine's store\n"
            f"PALLET_ROOT={layout.root}\nexport PALLET_ROOT\n"
            'if [ "$1" = system ] && [ "$2" = dial-stdio ]; then\n'
            f"  PALLET_HOST=unix://{layout.socket}\n  export PALLET_HOST\nfi\n"
            f'exec {layout.venv / "bin" / "pallet"} "$@"\n')


def install(layout: HostLayout) -> None:
    record = _record(layout)
    bin_dir = Path(layout.bin)
    bin_dir.mkdir(exist_ok=True)
    for sub in ("run", "log", "root"):
        (Path(layout.prefix) / sub).mkdir(mode=0o700, exist_ok=True)
    _write_script(bin_dir / "pallet", _pallet_wrapper(layout))
    # Docker's ssh:// clients (the docker CLI, docker-py, compose) run `docker system
    # dial-stdio` on the host: pallet.remote.shim answers that (and only that)
    from pallet.remote.shim import docker_shim
    _write_script(bin_dir / "docker", docker_shim(str(layout.python), str(layout.socket)))
    links = []
    link_dir = record.get("link_dir") or ""
    if link_dir:
        for name in ("pallet", "docker"):
            target = Path(link_dir) / name
            # never over something the host has: a real docker stays the host's docker
            if os.path.lexists(target) or (name == "docker" and shutil.which("docker")):
                continue
            Path(link_dir).mkdir(parents=True, exist_ok=True)
            os.symlink(bin_dir / name, target)
            links.append(str(target))
    record["links"] = links
    record["service"] = "systemd" if _systemd() else "supervisor"
    _save(layout, record)
    if record["service"] == "systemd":
        unit = Path(layout.prefix) / unit_name(record["name"])
        unit.write_text(_unit_text(layout, record))
        _run(["systemctl", "link", str(unit)])
        _run(["systemctl", "daemon-reload"])
        _run(["systemctl", "enable", unit_name(record["name"])])
    start(layout)


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise HostError(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")


def _pid(path) -> int | None:
    try:
        pid = int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else pid


def _answers(layout: HostLayout) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(5)
            probe.connect(str(layout.socket))
            probe.sendall(b"GET /_ping HTTP/1.0\r\nHost: pallet\r\n\r\n")
            status = probe.recv(64).split(b"\r\n", 1)[0].split()
            return len(status) >= 2 and status[0].startswith(b"HTTP/") and status[1] == b"200"
    except OSError:
        return False


def start(layout: HostLayout) -> None:
    record = _record(layout)
    if record["service"] == "systemd":
        _run(["systemctl", "start", unit_name(record["name"])])
    elif _pid(layout.supervisor_pidfile) is None:
        log = open(layout.log, "ab")
        subprocess.Popen([str(layout.python), "-m", "pallet.machine.supervise",
                          str(layout.supervisor_pidfile), "--", *serve_argv(layout, record)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, cwd="/")
        log.close()
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if _answers(layout):
            return
        time.sleep(0.1)
    raise HostError(f"pallet serve did not answer on {layout.socket} within {READY_SECONDS} s: "
                    + _log_tail(layout, record))


def _log_tail(layout: HostLayout, record: dict) -> str:
    if record["service"] == "systemd":
        result = subprocess.run(["journalctl", "-u", unit_name(record["name"]), "-n", "5",
                                 "--no-pager"], capture_output=True, text=True)
        return result.stdout.strip()
    try:
        return " / ".join(Path(layout.log).read_text(errors="replace").splitlines()[-5:])
    except OSError:
        return "(no log)"


def stop(layout: HostLayout) -> None:
    record = _record(layout)
    if record.get("service") == "systemd":
        _run(["systemctl", "stop", unit_name(record["name"])])
        return
    pid = _pid(layout.supervisor_pidfile)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and _pid(layout.supervisor_pidfile) == pid:
        time.sleep(0.05)
    if _pid(layout.supervisor_pidfile) == pid:
        os.kill(pid, signal.SIGKILL)


def status(layout: HostLayout) -> str:
    return "running" if _answers(layout) else "stopped"


def uninstall(layout: HostLayout) -> None:
    """Stop the service, remove the store's containers and networking, the links, the unit,
    then PREFIX (never across a mount: what is mounted inside is detached first)."""
    prefix = Path(layout.prefix)
    try:
        record = _record(layout)
    except (OSError, ValueError):
        record = {}
    if record.get("service"):
        try:
            stop(layout)
        except HostError as error:
            # a unit systemd no longer knows: nothing runs from it; the removal goes on
            print(f"pallet machine (uninstall): {error}", file=sys.stderr)
    if record.get("service") == "systemd":
        unit = unit_name(record["name"])
        subprocess.run(["systemctl", "disable", unit], capture_output=True)
        subprocess.run(["systemctl", "daemon-reload"], capture_output=True)
    pallet = prefix / "bin" / "pallet"
    if pallet.exists() and (prefix / "root").is_dir():
        listed = subprocess.run([str(pallet), "ps", "-aq", "--no-trunc"], capture_output=True,
                                text=True)
        ids = listed.stdout.split()
        if ids:
            subprocess.run([str(pallet), "rm", "-f", "-v", *ids], capture_output=True)
    for link in record.get("links", []):
        if os.path.islink(link) and os.readlink(link).startswith(str(prefix) + "/"):
            os.unlink(link)
    from pallet.base.files import remove_tree
    from pallet.runtime.network.networks import reclaim_orphans
    from pallet.runtime.store.scratch import detach_mounts_under
    detach_mounts_under(prefix)
    remove_tree(prefix / "root", one_device=True)
    reclaim_orphans()   # the bridges and nftables table of the store just removed
    remove_tree(prefix, one_device=True)


def restart(layout: HostLayout) -> None:
    stop(layout)
    start(layout)


ACTIONS = {"install": install, "start": start, "stop": stop, "restart": restart,
           "uninstall": uninstall}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in (*ACTIONS, "status"):
        print(f"usage: python -m pallet.machine.hostside {'|'.join([*ACTIONS, 'status'])} PREFIX",
              file=sys.stderr)
        return 2
    action, layout = argv[0], HostLayout(Path(argv[1]))
    try:
        if action == "status":
            print(status(layout))
        else:
            ACTIONS[action](layout)
    except (HostError, OSError) as error:
        print(f"pallet machine ({action}): {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
