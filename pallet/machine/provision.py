"""Installing pallet on a machine's host over ssh, and taking it off again.

    facts = probe(ssh, prefix)           # one ssh round trip: what the host is and has
    check(facts, prefix)                 # Linux, root (or sudo -n), overlayfs, namespaces, ...
    install(ssh, facts, layout, ...)     # one ssh round trip: a tar of the wheels, the server's
                                         # certificates and install.sh, unpacked and run
    host_action(ssh, record, "stop")     # pallet.machine.hostside on the host
    uninstall(ssh, record)               # everything under the prefix, links, unit

Each step is one ssh session; the host side's work (the service, the links, taking the store
apart) is pallet.machine.hostside, which runs in the installed venv.
"""

from __future__ import annotations

import io
import json
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pallet.base.errors import PalletError
from pallet.machine.layout import SOCKET_MAX, HostLayout
from pallet.machine.ssh import Ssh

_PROBE = r"""
echo "os=$(uname -s)"; echo "arch=$(uname -m)"; echo "kernel=$(uname -r)"; echo "uid=$(id -u)"
if [ "$(id -u)" = 0 ]; then echo sudo=root
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then echo sudo=yes
else echo sudo=no; fi
if ! grep -qw overlay /proc/filesystems; then
  if [ "$(id -u)" = 0 ]; then modprobe overlay 2>/dev/null
  elif command -v sudo >/dev/null 2>&1; then sudo -n modprobe overlay 2>/dev/null; fi
fi
grep -qw overlay /proc/filesystems && echo overlay=yes || echo overlay=no
missing=""; for n in mnt pid net uts ipc; do [ -e /proc/self/ns/$n ] || missing="$missing $n"; done
echo "ns_missing=$missing"
grep -qE '^[^ ]+ [^ ]+ cgroup2? ' /proc/mounts && echo cgroups=yes || echo cgroups=no
python3 -c '
import sys; print("python=%d.%d" % sys.version_info[:2])
try:
    import venv, ensurepip; print("venv=yes")
except ImportError: print("venv=no")' 2>/dev/null || echo venv=no
PATH="$PATH:/usr/sbin:/sbin"
command -v nft >/dev/null 2>&1 && echo nft=yes || echo nft=no
command -v ip >/dev/null 2>&1 && echo ip=yes || echo ip=no
ldconfig -p 2>/dev/null | grep -q 'libseccomp.so.2 ' && echo seccomp=yes || echo seccomp=no
[ -d /run/systemd/system ] && echo systemd=yes || echo systemd=no
command -v apt-get >/dev/null 2>&1 && echo apt=yes || echo apt=no
if [ -e "$P/machine.json" ]; then echo "prefix=ours"
elif [ -e "$P" ] && [ -n "$(ls -A "$P" 2>/dev/null)" ]; then echo prefix=other
else echo prefix=free; fi
"""


@dataclass(frozen=True)
class HostFacts:
    values: dict

    def __getitem__(self, key: str) -> str:
        return self.values.get(key, "")

    @property
    def privilege(self) -> str:
        """What commands needing root are prefixed with."""
        return "" if self["sudo"] == "root" else "sudo -n "

    @property
    def python_tag(self) -> str:
        return f"cp{self['python'].replace('.', '')}-{self['arch']}"


def probe(ssh: Ssh, prefix: PurePosixPath) -> HostFacts:
    script = f"P={shlex.quote(str(prefix))}\n{_PROBE}"
    out = ssh.check("sh -s", input=script.encode(), what="checking the host", timeout=60)
    values = {}
    for line in out.decode(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return HostFacts(values)


def packages_to_install(facts: HostFacts) -> list[str]:
    wanted = []
    version = tuple(int(p) for p in facts["python"].split(".") if p.isdigit())
    if version < (3, 11) or facts["venv"] != "yes":
        wanted += ["python3", "python3-venv"]
    if facts["nft"] != "yes":
        wanted.append("nftables")
    if facts["ip"] != "yes":
        wanted.append("iproute2")
    if facts["seccomp"] != "yes":
        wanted.append("libseccomp2")
    return wanted


def check(facts: HostFacts, where: str, prefix: PurePosixPath, machine: str) -> None:
    """A clear error for a host pallet cannot run on (nothing is changed on it yet)."""
    if facts["os"] != "Linux":
        raise PalletError(f"{where} runs {facts['os'] or 'an unknown system'}, not Linux: "
                          "pallet's containers need Linux namespaces, cgroups and overlayfs")
    if facts["sudo"] == "no":
        raise PalletError(f"{where}: the ssh user is not root and cannot use sudo without a "
                          "password: pallet needs root on the host (namespaces, mounts, cgroups)",
                          hint="use --generic-ssh-user root, or give the user passwordless sudo")
    if facts["overlay"] != "yes":
        raise PalletError(f"{where}: the kernel has no overlayfs (not in /proc/filesystems, and "
                          "`modprobe overlay` did not add it): pallet's image layers need it")
    if facts["ns_missing"]:
        raise PalletError(f"{where}: the kernel lacks namespaces pallet needs:"
                          f"{facts['ns_missing']}")
    if facts["cgroups"] != "yes":
        raise PalletError(f"{where}: no cgroup filesystem is mounted: pallet limits and "
                          "accounts containers through cgroups")
    if packages_to_install(facts) and facts["apt"] != "yes":
        raise PalletError(f"{where}: missing {', '.join(packages_to_install(facts))} and no "
                          "apt-get to install them", hint="install them on the host first")
    if facts["prefix"] == "ours":
        raise PalletError(f"{where} already has a pallet machine installed in {prefix}",
                          hint=f"remove it with `pallet machine rm` of the machine that made it, "
                               f"or choose another --pallet-prefix for {machine}")
    if facts["prefix"] == "other":
        raise PalletError(f"{where}: {prefix} exists and is not empty; pallet machine installs "
                          "into a directory of its own (and `machine rm` removes all of it)",
                          hint="choose another --pallet-prefix")


def check_prefix(prefix: str) -> PurePosixPath:
    path = PurePosixPath(prefix)
    if not path.is_absolute() or ".." in path.parts or len(path.parts) < 3:
        raise PalletError(f"--pallet-prefix {prefix}: give an absolute directory at least two "
                          "levels deep (it is removed whole by `machine rm`)")
    if path.parts[1] in ("proc", "sys", "dev", "etc", "usr", "bin", "sbin", "lib", "lib64",
                         "boot", "run"):
        raise PalletError(f"--pallet-prefix {prefix}: not under /{path.parts[1]}")
    socket = HostLayout(path).socket
    if len(str(socket).encode()) > SOCKET_MAX:
        raise PalletError(f"--pallet-prefix {prefix} is too long: the server's socket "
                          f"{socket} would pass the {SOCKET_MAX}-byte limit of a socket path")
    return path


def _install_script(layout: HostLayout, wheels, offline: bool, action: str,
                    packages: list[str]) -> str:
    """install.sh: a fresh venv (on upgrade the old one is moved aside while the server is
    stopped, then removed), the wheels, then the host side's ACTION."""
    p = shlex.quote(str(layout.prefix))
    apt = ""
    if packages:
        listed = " ".join(packages)
        apt = ("export DEBIAN_FRONTEND=noninteractive\n"
               f"apt-get install -y -q --no-install-recommends {listed} >/dev/null || "
               f"{{ apt-get update -q >/dev/null && "
               f"apt-get install -y -q --no-install-recommends {listed} >/dev/null; }}\n")
    aside = ""
    if action == "upgrade":
        aside = ('"$P/venv/bin/python" -m pallet.machine.hostside stop "$P"\n'
                 'rm -rf "$P/venv.old" && mv "$P/venv" "$P/venv.old"\n')
    if offline:
        # the same Python as here: our wheels fit; no pip, no index
        names = " ".join(f'"$P/wheels/{w.name}"' for w in (wheels.pallet, *wheels.dependencies))
        venv = ('python3 -m venv --without-pip "$P/venv"\n'
                f'PYTHONPATH="$P/wheels/{wheels.installer.name}" "$P/venv/bin/python" '
                f"-m installer --no-compile-bytecode {names}\n")
    else:
        # another Python: pip takes what fits from the wheels and the rest from its index
        venv = ('python3 -m venv "$P/venv"\n'
                '"$P/venv/bin/python" -m pip install -q --disable-pip-version-check '
                f'--find-links "$P/wheels" "$P/wheels/{wheels.pallet.name}"\n')
    then = "start" if action == "upgrade" else action
    return ("set -eu\ncd /\n"
            f"P={p}\n{apt}{aside}{venv}"
            'rm -rf "$P/wheels" "$P/install.sh" "$P/venv.old"\n'
            f'exec "$P/venv/bin/python" -m pallet.machine.hostside {then} "$P"\n')


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def install(ssh: Ssh, facts: HostFacts, layout: HostLayout, *, wheels,
            certs: dict[str, Path] | None, record: dict | None, action: str = "install") -> None:
    """Copy the wheels (a wheels.Wheelhouse; on create also the server's certificates and the
    host record) and run install.sh: a venv with the wheels, then hostside install (or, for
    action "upgrade", the venv replaced while the server is stopped, then started)."""
    from pallet.machine.wheels import python_tag
    offline = facts.python_tag == python_tag()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for wheel in wheels.all:
            tar.add(wheel, arcname=f"wheels/{wheel.name}")
        for name, path in (certs or {}).items():
            _add(tar, f"certs/{name}", path.read_bytes())
        if record is not None:
            _add(tar, "machine.json", json.dumps(record, indent=2).encode())
        _add(tar, "install.sh", _install_script(layout, wheels, offline, action,
                                                packages_to_install(facts)).encode())
    p = shlex.quote(str(layout.prefix))
    command = (f"umask 077 && mkdir -p {p} && tar -xf - -C {p} --no-same-owner && "
               f"sh {p}/install.sh")
    ssh.check(f"{facts.privilege}sh -c {shlex.quote(command)}", input=buffer.getvalue(),
              what="installing pallet", timeout=900)


def host_action(ssh: Ssh, prefix: str, sudo: bool, action: str) -> str:
    layout = HostLayout(PurePosixPath(prefix))
    command = f"{layout.python} -m pallet.machine.hostside {action} {shlex.quote(prefix)}"
    out = ssh.check(("sudo -n " if sudo else "") + command, what=f"pallet machine {action}",
                    timeout=120)
    return out.decode(errors="replace").strip()


def uninstall(ssh: Ssh, prefix: str, sudo: bool) -> None:
    """hostside uninstall where the venv got installed; else the prefix is only files (a
    create that stopped before pallet ever ran there) and goes as such."""
    layout = HostLayout(PurePosixPath(prefix))
    p = shlex.quote(prefix)
    command = (f"if [ -x {layout.python} ]; then {layout.python} -m pallet.machine.hostside "
               f"uninstall {p}; else rm -rf {p}; fi")
    ssh.check(("sudo -n " if sudo else "") + f"sh -c {shlex.quote(command)}",
              what="removing pallet", timeout=300)
