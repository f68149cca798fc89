"""--add-host / ExtraHosts entries, parsed once for every front (run, create, build; CLI and
Engine API): docker's opts.ValidateExtraHost, and Go's net.ParseIP behind it."""

from __future__ import annotations

from pallet.base.errors import PalletError


def is_ip(text: str) -> bool:
    """Go's net.ParseIP (after TrimSpace): a plain IPv4 or IPv6 address, no zone."""
    import ipaddress
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


def extra_host(text: str) -> str:
    """opts.ValidateExtraHost: NAME:IP or NAME=IP, IP may be [v6] or host-gateway; returns
    NAME:IP as the engine records it."""
    name, sep, address = text.partition("=")
    if not sep:
        name, sep, address = text.partition(":")
    if not sep or not name or ":" in name:
        raise PalletError(f'invalid argument "{text}" for "--add-host" flag: bad format for '
                          f'add-host: "{text}"', exit_code=125)
    if address != "host-gateway":
        if len(address) > 2 and address[0] == "[" and address[-1] == "]":
            address = address[1:-1]
        if not is_ip(address):
            raise PalletError(f'invalid argument "{text}" for "--add-host" flag: invalid IP '
                              f'address in add-host: "{address}"', exit_code=125)
    return f"{name}:{address}"
