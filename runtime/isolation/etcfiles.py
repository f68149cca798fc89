"""The three /etc files every container gets as bind mounts: hosts, resolv.conf, hostname.

Written by the parent into a state/scratch dir (never into a layer), in Docker's shapes
(libnetwork's etchosts and resolvconf packages): the host's resolv.conf with loopback
nameservers dropped (or Google's when none is left) on the default bridge, --dns/--dns-search/
--dns-option rebuilding it, and the embedded resolver's `nameserver 127.0.0.11` plus
`options ndots:0` on user-defined networks.
"""

from __future__ import annotations

import os
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
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
EMBEDDED_RESOLVER = "127.0.0.11"
_LOCALHOST_NS = re.compile(r"(?m)^\s*nameserver\s*((127\.([0-9]{1,3}\.){2}[0-9]{1,3})|(::1))\s*$")
_IPV6_NS = re.compile(r"(?m)^\s*nameserver\s*((([0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})"
                      r"(%\w+)?)\s*$")

# Which file holds "the host's resolvers": /etc/resolv.conf unless this names another (dockerd's
# --dns in spirit; the tests point it at a stand-in resolver on loopback).
HOST_RESOLV_CONF = "PALLET_HOST_RESOLV_CONF"


def host_resolv_conf() -> str:
    return os.environ.get(HOST_RESOLV_CONF) or "/etc/resolv.conf"


def host_nameservers() -> list[str]:
    """The host's resolvers: the embedded resolver's upstreams when no --dns is given."""
    return _values(_read(host_resolv_conf()), "nameserver")


def hosts_text(spec: ContainerSpec) -> str:
    if spec.network == "host" and spec.net is None:
        text = _read("/etc/hosts")
        if text and not text.endswith("\n"):
            text += "\n"
    else:
        text = DEFAULT_HOSTS
    for entry in spec.extra_hosts:
        name, _, address = entry.partition(":")
        text += f"{address}\t{name}\n"
    if spec.net is not None and spec.net.addresses:
        text += f"{spec.net.addresses[0]}\t{spec.hostname}\n"
    return text


def _values(content: str, keyword: str) -> list[str]:
    found = []
    for line in content.splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[0] == keyword:
            found += fields[1:] if keyword != "nameserver" else fields[1:2]
    return found


def _build(nameservers: list[str], search: list[str], options: list[str]) -> str:
    """resolvconf.Build: search, nameservers, options, in that order."""
    text = ""
    if search and " ".join(search).strip() != ".":
        text += f"search {' '.join(search)}\n"
    text += "".join(f"nameserver {server}\n" for server in nameservers)
    if options:
        text += f"options {' '.join(options)}\n"
    return text


def resolv_text(spec: ContainerSpec) -> str:
    host = _read(host_resolv_conf())
    if spec.network == "host" and spec.net is None:
        return host
    net = spec.net
    search = list(net.dns_search) if net is not None and net.dns_search else _values(host, "search")
    options = list(net.dns_options) if net is not None and net.dns_options \
        else _values(host, "options")
    if net is not None and net.embedded_dns:
        return _embedded(search, options)
    filtered = _IPV6_NS.sub("", _LOCALHOST_NS.sub("", host))
    if spec.dns or (net is not None and (net.dns_search or net.dns_options)):
        servers = list(spec.dns) or _values(filtered, "nameserver") or list(FALLBACK_NAMESERVERS)
        return _build(servers, search, options)
    if not _values(filtered, "nameserver"):
        filtered += "\n" + "\n".join(f"nameserver {s}" for s in FALLBACK_NAMESERVERS)
    return filtered


def _embedded(search: list[str], options: list[str]) -> str:
    if not any("ndots" in option for option in options):
        options = [*options, "ndots:0"]
    return _build([EMBEDDED_RESOLVER], search, options)


def use_embedded_resolver(path: Path, dns_search: tuple[str, ...],
                          dns_options: tuple[str, ...]) -> None:
    """A running container connected to its first user-defined network: its resolv.conf
    names the embedded resolver from now on (Docker's rebuildDNS). Written in place, not
    replaced: the container sees this file through a bind mount of its inode."""
    host = _read(host_resolv_conf())
    text = _embedded(list(dns_search) or _values(host, "search"),
                     list(dns_options) or _values(host, "options"))
    with open(path, "r+") as handle:
        if handle.read() == text:
            return
        handle.seek(0)
        handle.truncate()
        handle.write(text)


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
