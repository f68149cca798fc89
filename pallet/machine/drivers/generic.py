"""docker-machine's generic driver: a host that already exists and answers ssh. It makes
nothing and destroys nothing; power state is whether sshd answers."""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse

import click

from pallet.base.errors import PalletError
from pallet.machine.drivers import ERROR, RUNNING, STOPPED, Driver, SshAddress
from pallet.machine.store import ENGINE_PORT

_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*$")


def parse_address(value: str) -> tuple[str, str | None, int | None]:
    """--generic-ip-address: an IP, a host name, or ssh://[user@]host[:port] (no path)."""
    if "://" in value:
        parsed = urllib.parse.urlsplit(value)
        if parsed.scheme != "ssh":
            raise PalletError(f"--generic-ip-address {value}: give an address or "
                              f"ssh://[user@]host[:port], not a {parsed.scheme}:// URL")
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
            raise PalletError(f"--generic-ip-address {value}: an ssh URL names a host, not a "
                              f"path ({parsed.path!r})",
                              hint="give ssh://[user@]host[:port] with nothing after the port")
        try:
            port = parsed.port
        except ValueError as error:
            raise PalletError(f"--generic-ip-address {value}: {error}") from error
        if not parsed.hostname:
            raise PalletError(f"--generic-ip-address {value}: no host in the URL")
        return parsed.hostname, parsed.username, port
    host = value.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME_RE.match(host):
            raise PalletError(f"--generic-ip-address {value!r} is neither an IP address nor a "
                              "host name") from None
    return host, None, None


class GenericDriver(Driver):
    name = "generic"

    @classmethod
    def options(cls) -> list:
        return [
            click.Option(["--generic-ip-address"], metavar="HOST",
                         help="IP address (or name, or ssh://user@host:port) of the host"),
            click.Option(["--generic-ssh-user"], default="root", show_default=True,
                         help="SSH user"),
            click.Option(["--generic-ssh-key"], type=click.Path(dir_okay=False), default=None,
                         help="SSH private key (default: the ssh client's own)"),
            click.Option(["--generic-ssh-port"], type=click.IntRange(1, 65535), default=None,
                         help="SSH port [default: 22]"),
            click.Option(["--generic-engine-port"], type=click.IntRange(1, 65535),
                         default=ENGINE_PORT, show_default=True,
                         help="Port pallet serve listens on with TLS"),
        ]

    def create(self, name: str, flags: dict) -> None:
        value = flags.get("generic_ip_address")
        if not value:
            raise PalletError("generic driver requires the --generic-ip-address option")
        host, user, port = parse_address(value)
        key = flags.get("generic_ssh_key")
        if key:
            from pathlib import Path
            path = Path(key).expanduser()
            if not path.is_file():
                raise PalletError(f"--generic-ssh-key {key}: no such file")
            key = str(path.absolute())
        self.state = {"ip": host, "ssh_user": user or flags.get("generic_ssh_user") or "root",
                      "ssh_port": port or flags.get("generic_ssh_port") or 22,
                      "ssh_key": key, "engine_port": flags.get("generic_engine_port") or ENGINE_PORT}

    def ssh_address(self) -> SshAddress:
        return SshAddress(host=self.state["ip"], port=int(self.state["ssh_port"]),
                          user=self.state["ssh_user"], key=self.state.get("ssh_key"))

    def engine_address(self) -> tuple[str, int]:
        return self.state["ip"], int(self.state.get("engine_port", ENGINE_PORT))

    def listen_address(self) -> str:
        # a name is not something to bind: listen everywhere (mutual TLS guards the port)
        try:
            ipaddress.ip_address(self.state["ip"])
        except ValueError:
            return "0.0.0.0"
        return self.state["ip"]

    def power_state(self) -> str:
        """Running when an ssh server greets on the host's ssh port (a bare TCP accept is not
        enough: a proxy or firewall in between may accept anything)."""
        try:
            with socket.create_connection((self.state["ip"], int(self.state["ssh_port"])),
                                          timeout=3) as connection:
                connection.settimeout(3)
                greeting = connection.recv(256)
        except (TimeoutError, socket.timeout):
            return STOPPED
        except OSError:
            return STOPPED
        return RUNNING if greeting.startswith(b"SSH-") else ERROR
