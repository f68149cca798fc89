"""The same docker CLI against `pallet serve` and a private dockerd with a bridge of its own
(tests/dockerd.py, networking=True): container networking as the API shows it — inspect's
NetworkSettings (its keys, the primary network's fields, aliases), `docker port` and ps's PORTS
— must have Docker's shapes. Addresses and IDs differ between the engines; the shapes may not.
No traffic: the containers are only inspected."""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.dockerd import networked_dockerd  # noqa: F401  (module-scoped fixture)
from tests.netutil import free_net

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root, pytest.mark.netns]


def _neutral(text: str) -> str:
    # Docker 20.10 also shows IPv6 bindings ([::] in port, ::: in ps); pallet publishes IPv4
    text = re.sub(r", (\[::\]|::):\d+->[^,\s]+", "", text)
    text = "".join(line for line in text.splitlines(True) if "[::]" not in line)
    text = re.sub(r"\b\d+\.\d+\.\d+\.\d+(/\d+)?\b", "ADDR", text)
    text = re.sub(r"(ADDR|\[::\]|0\.0\.0\.0):\d+", r"\1:PORT", text)
    text = re.sub(r'"HostPort": "\d+"', '"HostPort": "PORT"', text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "LONGID", text)
    return re.sub(r"\b[0-9a-f]{12}\b", "ID", text)


def _shape(value):
    """The document's structure: keys and the types of leaves (lists by their first item).
    Null fields are left out: dockerd 20.10 sends nulls the spec's types (arrays, objects)
    have no room for, which pallet serve omits."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


def _both(api, engine, *args: str) -> tuple[str, str]:
    ours = api.docker(*args, check=True).stdout.decode()
    theirs = engine.docker(*args).stdout.decode()
    return ours, theirs


def test_network_settings_port_and_ps_match_dockerd(api, networked_dockerd):  # noqa: F811
    engine = networked_dockerd
    archive = api.directory / "busybox.tar"
    api.docker("save", "-o", str(archive), "busybox", check=True)
    engine.docker("load", "-i", str(archive))
    ours_net, theirs_net = free_net(), free_net()
    api.docker("network", "create", "--subnet", f"{ours_net}.0/24", "cmpapi", check=True)
    engine.docker("network", "create", "--subnet", f"{theirs_net}.0/24", "cmpapi")
    try:
        for docker, prefix in ((api.docker, ours_net), (engine.docker, theirs_net)):
            docker("run", "-d", "--name", "pub", "-p", "127.0.0.1::80", "-p",
                   f"{_free_udp_port()}:81/udp",
                   "--expose", "90", "busybox", "sleep", "300", check=True)
            docker("run", "-d", "--name", "onnet", "--network", "cmpapi", "--ip",
                   f"{prefix}.40", "--network-alias", "svc", "busybox", "sleep", "300",
                   check=True)
        for args in (("port", "pub"), ("port", "pub", "81/udp"),
                     ("ps", "--format", "{{.Names}} {{.Ports}} {{.Networks}}")):
            ours, theirs = _both(api, engine, *args)
            assert _neutral(ours) == _neutral(theirs), (args, ours, theirs)
        for name in ("pub", "onnet"):
            ours, theirs = (json.loads(text)[0]["NetworkSettings"]
                            for text in _both(api, engine, "inspect", name))
            # Docker 20.10 also shows IPv6 ([::]) bindings; pallet publishes IPv4 only
            for key, binding in theirs["Ports"].items():
                if binding:
                    theirs["Ports"][key] = [b for b in binding if b["HostIp"] != "::"]
            assert _shape(ours) == _shape(theirs), name
            assert _neutral(json.dumps(ours["Ports"], sort_keys=True)) == \
                _neutral(json.dumps(theirs["Ports"], sort_keys=True))
            top = ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress", "EndpointID")
            assert {key: bool(ours[key]) for key in top} == \
                {key: bool(theirs[key]) for key in top}, (name, ours, theirs)
            assert [len(a) == 12 or a for a in ours["Networks"].get("cmpapi", {}).get(
                "Aliases") or []] == [len(a) == 12 or a for a in theirs["Networks"].get(
                    "cmpapi", {}).get("Aliases") or []]
        ours, theirs = (json.loads(text)[0]["NetworkSettings"]["Networks"]["cmpapi"]
                        for text in _both(api, engine, "inspect", "onnet"))
        assert ours["IPAMConfig"] == {"IPv4Address": f"{ours_net}.40"}
        assert theirs["IPAMConfig"] == {"IPv4Address": f"{theirs_net}.40"}
    finally:
        for docker in (api.docker, engine.docker):
            docker("rm", "-f", "pub", "onnet", check=False)
            docker("network", "rm", "cmpapi", check=False)
