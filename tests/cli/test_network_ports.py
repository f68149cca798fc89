"""Published ports: -p on 127.0.0.1 served to the host, -P with `port`, UDP, hairpin, ranges,
and Docker's errors for bad -p values and taken ports (traffic only to 127.0.0.1, to the
store's own bridge and to the test's containers)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.netutil import udp_echo_binary

pytestmark = [pytest.mark.root, pytest.mark.netns]

HTTPD = ("sh", "-c", "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && "
         "exec httpd -f -p 80 -h /www")


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start(root: Path, *args: str) -> str:
    result = pallet(root, "run", "-d", *args)
    assert result.returncode == 0, result.stderr
    return out(result).strip()


def test_publish_on_loopback_serves_busybox_httpd_to_the_host(root):
    port = free_port()
    container = start(root, "--name", "web", "-p", f"127.0.0.1:{port}:80", "busybox", *HTTPD)
    assert fetch(f"http://127.0.0.1:{port}/") == f"hello-from-{container[:12]}\n"
    assert out(pallet(root, "port", "web")) == f"80/tcp -> 127.0.0.1:{port}\n"
    assert out(pallet(root, "port", "web", "80")) == f"127.0.0.1:{port}\n"
    assert f"127.0.0.1:{port}->80/tcp" in out(pallet(root, "ps", "--format", "{{.Ports}}"))
    ports = json.loads(out(pallet(root, "inspect", "-f", "{{json .NetworkSettings.Ports}}", "web")))
    assert ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    missing = pallet(root, "port", "web", "81")
    assert missing.returncode == 1 and "No public port '81' published for web" in \
        missing.stderr.decode()


def test_publish_all_picks_free_ports_that_port_reports(root):
    start(root, "--name", "all", "-P", "--expose", "80", "--expose", "7000/udp", "busybox",
          *HTTPD)
    lines = out(pallet(root, "port", "all")).splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["80/tcp", "7000/udp"]
    tcp_port = int(lines[0].rsplit(":", 1)[1])
    assert lines[0].startswith("80/tcp -> 0.0.0.0:") and tcp_port >= 1024
    assert fetch(f"http://127.0.0.1:{tcp_port}/").startswith("hello-from-")


def test_udp_echo_through_a_published_port(root, tmp_path):
    echo = udp_echo_binary(tmp_path)
    port = free_port(socket.SOCK_DGRAM)
    start(root, "-v", f"{echo}:/udp-echo:ro", "-p", f"127.0.0.1:{port}:5000/udp", "busybox",
          "/udp-echo", "5000")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(0.5)
        for _ in range(40):
            client.sendto(b"ping-over-udp", ("127.0.0.1", port))
            try:
                data, sender = client.recvfrom(100)
                break
            except socket.timeout:
                continue
        else:
            pytest.fail("no UDP echo through the published port")
    assert data == b"ping-over-udp" and sender == ("127.0.0.1", port)


def test_hairpin_from_a_second_container_to_the_published_port(root):
    gateway = json.loads(out(pallet(root, "network", "inspect", "bridge")))[0]["IPAM"]["Config"][0]["Gateway"]
    port = free_port()
    web = start(root, "-p", f"{gateway}:{port}:80", "busybox", *HTTPD)
    fetch(f"http://{gateway}:{port}/")  # up
    result = pallet(root, "run", "--rm", "busybox", "wget", "-q", "-O", "-",
                    f"http://{gateway}:{port}/")
    assert out(result) == f"hello-from-{web[:12]}\n", result.stderr
    # the container reaching its own published port through the host, too
    itself = pallet(root, "exec", web, "wget", "-q", "-O", "-", f"http://{gateway}:{port}/")
    assert out(itself) == f"hello-from-{web[:12]}\n", itself.stderr


def test_port_ranges_and_their_ps_column(root):
    low = free_port()
    while True:
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", low))
                b.bind(("127.0.0.1", low + 1))
            break
        except OSError:
            low = free_port()
    start(root, "--name", "ranges", "-p", f"127.0.0.1:{low}-{low + 1}:8000-8001", "busybox",
          "sleep", "60")
    assert out(pallet(root, "port", "ranges")).splitlines() == [
        f"8000/tcp -> 127.0.0.1:{low}", f"8001/tcp -> 127.0.0.1:{low + 1}"]
    assert out(pallet(root, "ps", "--format", "{{.Ports}}")).strip() == \
        f"127.0.0.1:{low}->8000/tcp, 127.0.0.1:{low + 1}->8001/tcp"


def test_a_port_another_container_holds_is_already_allocated(root):
    port = free_port()
    start(root, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "60")
    second = pallet(root, "run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert second.returncode == 125
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in \
        second.stderr.decode()


@pytest.mark.parametrize("spec, message", [
    ("70000:80", "invalid hostPort: 70000"),
    ("80/sctpx", "invalid proto: sctpx"),
    ("abc", "invalid containerPort: abc"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("8000-8002:80-81", "invalid ranges specified for container and host Ports: 80-81 and "
                        "8000-8002"),
])
def test_bad_publish_values_are_docker_errors_and_create_nothing(root, spec, message):
    result = pallet(root, "run", "--rm", "-p", spec, "busybox", "true")
    assert result.returncode == 125 and message in result.stderr.decode()
    assert out(pallet(root, "ps", "-aq")) == ""


def test_published_ports_are_discarded_on_the_host_network(root):
    result = pallet(root, "run", "--rm", "--network", "host", "-p", "80:80", "busybox", "true")
    assert result.returncode == 0
    assert "WARNING: Published ports are discarded when using host network mode" in \
        result.stderr.decode()


def test_ps_filters_publish_and_expose_and_container_port(root):
    port = free_port()
    start(root, "--name", "pub", "-p", f"127.0.0.1:{port}:80", "--expose", "9000-9001",
          "busybox", "sleep", "60")
    start(root, "--name", "plain", "busybox", "sleep", "60")
    names = lambda *f: out(pallet(root, "ps", "--format", "{{.Names}}", *f)).split()  # noqa: E731
    assert names("--filter", "publish=80") == ["pub"]
    assert names("--filter", "publish=80/udp") == []
    assert names("--filter", "expose=9001") == ["pub"]
    assert names("--filter", "expose=8990-9000/tcp") == ["pub"]
    assert out(pallet(root, "container", "port", "pub", "80")) == f"127.0.0.1:{port}\n"
