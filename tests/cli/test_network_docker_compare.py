"""Side by side with a private dockerd that has a bridge of its own (tests/dockerd.py,
networking=True: its own bridge and address pool, --iptables=false): the same /etc/hosts and
resolv.conf shapes, network ls/inspect fields, ps PORTS text and `port` output."""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.cli.ctr_helpers import out, pallet, remove_all_containers
from tests.dockerd import networked_dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image
from tests.netutil import free_net

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root, pytest.mark.netns]

IMAGE = "cmpnet/busybox:1"


@pytest.fixture(scope="module")
def both(networked_dockerd, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("cmpnet") / "store"
    make_busybox_image(root, IMAGE)
    archive = root.parent / "image.tar"
    assert pallet(root, "save", "-o", str(archive), IMAGE).returncode == 0
    networked_dockerd.docker("load", "-i", str(archive))
    yield root, networked_dockerd
    remove_all_containers(root)
    for name in out(pallet(root, "network", "ls", "-q", "--filter", "type=custom")).split():
        pallet(root, "network", "rm", name)


def both_run(both, *args: str):
    root, engine = both
    theirs = engine.docker(*args, check=False)
    ours = pallet(root, *args)
    return ours, theirs


def neutral(text: str) -> str:
    """Addresses and IDs differ between the engines; the shape must not."""
    text = re.sub(r"\b\d+\.\d+\.\d+\.\d+(/\d+)?\b", "ADDR", text)
    return re.sub(r"\b[0-9a-f]{12}\b", "ID", text)


def test_etc_files_on_the_default_bridge_have_docker_shapes(both):
    script = "cat /etc/hosts; echo ---; cat /etc/hostname; ip route"
    ours, theirs = both_run(both, "run", "--rm", "--add-host", "db:10.1.2.3", IMAGE, "sh", "-c",
                            script)
    assert neutral(out(ours)) == neutral(out(theirs)), (out(ours), out(theirs))
    ours, theirs = both_run(both, "run", "--rm", "--dns", "10.0.0.53", "--dns-search", "corp",
                            "--dns-option", "ndots:3", IMAGE, "cat", "/etc/resolv.conf")
    assert out(ours) == out(theirs)


def test_etc_files_on_a_user_network_have_docker_shapes(both):
    root, engine = both
    assert pallet(root, "network", "create", "cmp-user").returncode == 0
    engine.docker("network", "create", "cmp-user")
    ours, theirs = both_run(both, "run", "--rm", "--network", "cmp-user", "--hostname", "h1",
                            IMAGE, "sh", "-c", "cat /etc/hosts /etc/resolv.conf; hostname")
    assert neutral(out(ours)) == neutral(out(theirs)), (out(ours), out(theirs))


def test_network_ls_and_inspect_fields_match(both):
    root, engine = both
    my_net, their_net = free_net(), free_net()  # two bridges on one subnet would collide
    pallet(root, "network", "create", "--subnet", f"{my_net}.0/24", "--label", "k=v", "cmp-ls")
    engine.docker("network", "create", "--subnet", f"{their_net}.0/24", "--label", "k=v", "cmp-ls")
    fmt = "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Labels}}"
    ours, theirs = both_run(both, "network", "ls", "--format", fmt)
    assert out(ours) == out(theirs)
    ours, theirs = both_run(both, "network", "ls")
    assert neutral(out(ours)) == neutral(out(theirs))
    ours, theirs = both_run(both, "network", "inspect", "cmp-ls")
    mine_doc, docker = json.loads(out(ours))[0], json.loads(out(theirs))[0]
    assert list(mine_doc) == list(docker)
    assert mine_doc["IPAM"]["Config"] == [{"Subnet": f"{my_net}.0/24"}]
    assert docker["IPAM"]["Config"] == [{"Subnet": f"{their_net}.0/24"}]
    for field in ("Name", "Scope", "Driver", "EnableIPv6", "Internal", "Attachable",
                  "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"):
        assert mine_doc[field] == docker[field], field
    ours, theirs = both_run(both, "network", "inspect", "bridge", "-f", "{{json .IPAM.Options}} "
                            "{{.Driver}} {{index .Options \"com.docker.network.driver.mtu\"}}")
    assert out(ours) == out(theirs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ps_ports_and_port_output_match(both):
    root, engine = both
    ports = {}
    for name, runner in (("pallet", lambda *args: pallet(root, *args)),
                         ("docker", lambda *args: engine.docker(*args))):
        a, b = free_port(), free_port()
        ports[name] = (a, b)
        started = runner("run", "-d", "--name", "cmp-ports", "-p", f"127.0.0.1:{a}:80",
                         "-p", f"127.0.0.1:{b}:53/udp", "--expose", "5555", IMAGE, "sleep", "60")
        assert started.returncode == 0

    def same(ours, theirs) -> None:
        mine, docker = out(ours), out(theirs)
        for a, b in (ports["pallet"], ports["docker"]):
            mine, docker = mine.replace(str(a), "PORT-A").replace(str(b), "PORT-B"), \
                docker.replace(str(a), "PORT-A").replace(str(b), "PORT-B")
        assert mine == docker

    same(*both_run(both, "ps", "--format", "{{.Ports}}", "--filter", "name=cmp-ports"))
    same(*both_run(both, "port", "cmp-ports"))
    same(*both_run(both, "port", "cmp-ports", "53/udp"))
    same(*both_run(both, "inspect", "-f", "{{json .NetworkSettings.Ports}}", "cmp-ports"))
    ours, theirs = both_run(both, "port", "cmp-ports", "5555")
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.decode().split("Error: ")[-1] == theirs.stderr.decode().split("Error: ")[-1]


@pytest.mark.parametrize("spec", ["70000:80", "80/sctpx", "abc", "1.2.3:80:80", "8000-8002:80-81"])
def test_bad_publish_values_match_dockers_texts(both, spec):
    ours, theirs = both_run(both, "run", "--rm", "-p", spec, IMAGE, "true")
    assert ours.returncode == theirs.returncode == 125
    docker_text = theirs.stderr.decode().splitlines()[0].removeprefix("docker: ")
    assert docker_text in ours.stderr.decode()


@pytest.mark.parametrize("args", [
    ("--subnet", "10.239.0.0/33", "cmp-bad"),
    ("--subnet", "10.239.1.0/24", "--gateway", "10.99.0.1", "cmp-bad"),
    ("--gateway", "10.99.0.1", "cmp-bad"),
    ("--subnet", "10.239.1.0/24", "--ip-range", "10.239.2.0/28", "cmp-bad"),
    ("bridge",),
])
def test_bad_network_create_matches_dockers_texts(both, args):
    ours, theirs = both_run(both, "network", "create", *args)
    assert ours.returncode == theirs.returncode == 1
    docker_text = theirs.stderr.decode().strip().removeprefix("Error response from daemon: ")
    assert docker_text in ours.stderr.decode()
