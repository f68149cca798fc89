"""RUN steps on `--network default`: a namespace of their own on the store's default bridge
(not the host's), with a way out through the bridge, and --add-host in their /etc/hosts."""

from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.builder.conftest import write_tree
from tests.netutil import store_veths

pytestmark = [pytest.mark.root, pytest.mark.netns]


def gateway(root: Path) -> str:
    result = pallet(root, "network", "inspect", "bridge")
    return json.loads(out(result))[0]["IPAM"]["Config"][0]["Gateway"]


def read_file(root: Path, image: str, path: str) -> str:
    result = pallet(root, "run", "--rm", "--network", "none", image, "cat", path)
    assert result.returncode == 0, result.stderr
    return out(result)


def test_a_run_step_reaches_a_server_on_the_bridge_gateway(busybox_root, tmp_path):
    address = gateway(busybox_root)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"served-by-the-test\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer((address, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        context = write_tree(tmp_path / "ctx", {"Dockerfile": (
            "FROM busybox\n"
            f"RUN wget -q -O /fetched http://{address}:{server.server_port}/page\n")})
        built = pallet(busybox_root, "build", "-q", "-t", "fetched", str(context))
        assert built.returncode == 0, built.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert read_file(busybox_root, "fetched", "/fetched") == "served-by-the-test\n"
    assert store_veths(busybox_root) == []
    assert list((busybox_root / "network" / "endpoints").rglob("*.json")) == []


def test_a_run_step_has_its_own_namespace_with_eth0(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\n"
        "RUN readlink /proc/self/ns/net > /ns && ls /sys/class/net > /ifaces "
        "&& ip route > /routes\n")})
    built = pallet(busybox_root, "build", "-q", "-t", "ns", str(context))
    assert built.returncode == 0, built.stderr
    assert read_file(busybox_root, "ns", "/ns").strip() != os.readlink("/proc/self/ns/net")
    assert read_file(busybox_root, "ns", "/ifaces").split() == ["eth0", "lo"]
    assert f"default via {gateway(busybox_root)} dev eth0" in read_file(busybox_root, "ns",
                                                                        "/routes")


def test_add_host_on_build_reaches_the_run_steps_etc_hosts(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nRUN cat /etc/hosts > /hosts\n")})
    built = pallet(busybox_root, "build", "-q", "-t", "hosts", "--add-host", "db:10.1.2.3",
                   "--add-host", "gw:host-gateway", str(context))
    assert built.returncode == 0, built.stderr
    hosts = read_file(busybox_root, "hosts", "/hosts")
    assert "10.1.2.3\tdb\n" in hosts and f"{gateway(busybox_root)}\tgw\n" in hosts
    bad = pallet(busybox_root, "build", "--add-host", "nocolon", str(context))
    assert bad.returncode != 0 and 'bad format for add-host: "nocolon"' in bad.stderr.decode()


def test_add_host_is_part_of_the_run_steps_cache_key(busybox_root, tmp_path):
    # A RUN step that ran with one --add-host must not be reused for another (or for none):
    # what it wrote depends on the names it saw. The same --add-host is a hit.
    context = write_tree(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nRUN grep -w db /etc/hosts > /db || echo none > /db\n")})

    def build(*hosts: str) -> tuple[str, str]:
        args = [arg for host in hosts for arg in ("--add-host", host)]
        built = pallet(busybox_root, "build", "--progress", "plain", "-t", "dbhost", *args,
                       str(context))
        assert built.returncode == 0, built.stderr
        return read_file(busybox_root, "dbhost", "/db"), built.stderr.decode() + out(built)

    first, log = build("db:10.1.2.3")
    assert first == "10.1.2.3\tdb\n" and "CACHED" not in log
    again, log = build("db:10.1.2.3")
    assert again == first and "CACHED" in log
    other, log = build("db:10.9.8.7")
    assert other == "10.9.8.7\tdb\n" and "CACHED" not in log
    none, log = build()
    assert none == "none\n" and "CACHED" not in log
