"""The three /etc files every container gets as bind mounts: hosts, resolv.conf, hostname.

Written by the parent into a state/scratch dir (never into a layer), in Docker's shapes.
"""

from __future__ import annotations

import re
from pathlib import Path

from pallet.base.files import atomic_write
from pallet.runtime.isolation.spec import ContainerSpec

DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
# moby libnetwork/resolvconf: used when filtering leaves no nameserver at all.
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844")
_LOCALHOST_NS = re.compile(r"^\s*nameserver\s+(127\.\d+\.\d+\.\d+|::1)\s*$")


def hosts_text(spec: ContainerSpec) -> str:
    if spec.network == "host":
        text = _read("/etc/hosts")
        if text and not text.endswith("\n"):
            text += "\n"
    else:
        text = DEFAULT_HOSTS
    for entry in spec.extra_hosts:
        name, _, address = entry.partition(":")
        text += f"{address}\t{name}\n"
    return text


def resolv_text(spec: ContainerSpec) -> str:
    host = _read("/etc/resolv.conf")
    lines = host.splitlines()
    if spec.network != "host":
        # A loopback resolver on the host is unreachable from a private network namespace.
        lines = [line for line in lines if not _LOCALHOST_NS.match(line)]
    if spec.dns:
        lines = [line for line in lines if not line.strip().startswith("nameserver")]
        lines += [f"nameserver {server}" for server in spec.dns]
    elif not any(line.strip().startswith("nameserver") for line in lines):
        lines += [f"nameserver {server}" for server in FALLBACK_NAMESERVERS]
    return "\n".join(lines) + "\n"


def write_etc_files(spec: ContainerSpec, directory: Path) -> None:
    """Write hosts, resolv.conf and hostname into directory (atomically, mode 0644)."""
    for name, text in (("hosts", hosts_text(spec)), ("resolv.conf", resolv_text(spec)),
                       ("hostname", f"{spec.hostname}\n")):
        atomic_write(directory / name, text, mode=0o644, durable=False)


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""
