"""Network devices: bridges, veth pairs, a container's eth0 and loopback.

What every bridged start and stop does (the namespace's loopback, the veth pair, its address
and route, deleting a link) goes through rtnl.py's plain netlink socket: pyroute2 alone cost
more to import than the whole budget for bridged networking (see rtnl.py). The rare work that
reads the kernel's tables (a bridge made with its gateway address, the repair's listing of
links) uses pyroute2's IPRoute, loaded only then.

Everything inside a container's namespace is done by a netlink socket opened *in* that
namespace: the calling thread enters it with setns(2), opens the socket (the kernel binds a
netlink socket to the namespace of the thread that creates it) and returns at once; the socket
keeps talking to that namespace. pyroute2's own IPRoute(netns=...) does the same by forking a
helper process per socket, which measured 10-20 ms per container here; setns is per thread, so
other threads of the process (the embedded resolver) never notice.

The kernel needs br_netfilter for published ports and hairpin traffic to see bridged packets;
it is enabled per bridge (nf_call_iptables), never by flipping the host-wide sysctl.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from typing import Iterator

from pallet.base.errors import PalletError
from pallet.runtime.isolation import linux
from pallet.runtime.network import rtnl

RTPROT_BOOT = 3  # what `ip route add` records; Docker's routes show no proto either


def _iproute():
    return _iproute_class()()


def _netlink_error():
    _iproute_class()  # the package first, without its __init__ (see below)
    from pyroute2.netlink.exceptions import NetlinkError
    return NetlinkError


def _iproute_class():
    """pyroute2's IPRoute, loaded without the package's __init__.

    `import pyroute2` imports every API the library has (NDB, IPDB, conntrack, nl80211, ...):
    measured in the CLI, 244 modules and 93-125 ms of CPU on every bridged `run`, where
    rtnetlink alone (pyroute2.iproute.linux) is 171 modules and 51-63 ms. So the package module
    is registered from its spec without running its __init__, and its submodules load as usual
    from its __path__. Any other use of the package's own names (`from pyroute2 import NDB`, in
    this process, later) runs the real __init__ once, through the module's __getattr__.
    """
    import sys
    if "pyroute2" not in sys.modules:
        import importlib
        import importlib.util
        spec = importlib.util.find_spec("pyroute2")
        package = importlib.util.module_from_spec(spec)

        def attribute(name: str):
            if importlib.util.find_spec(f"pyroute2.{name}") is not None:
                return importlib.import_module(f"pyroute2.{name}")  # `from pyroute2 import config`
            del package.__getattr__
            spec.loader.exec_module(package)
            return getattr(package, name)

        package.__getattr__ = attribute
        sys.modules["pyroute2"] = package
    from pyroute2.iproute.linux import IPRoute
    return IPRoute


@contextlib.contextmanager
def entered(netns_fd: int) -> Iterator[None]:
    """Run the body with this thread in the network namespace netns_fd."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns(netns_fd, linux.CLONE_NEWNET)
        try:
            yield
        finally:
            linux.setns(own, linux.CLONE_NEWNET)
    finally:
        os.close(own)


def new_netns() -> int:
    """A fresh network namespace, held by the returned descriptor only (close-on-exec): it lives
    as long as that descriptor or a process inside it, and nothing of it is ever mounted, so
    no SIGKILL can leak it. Its loopback is up and IPv6 is off, as in a Docker container."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.unshare(linux.CLONE_NEWNET)
        try:
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _prepare_namespace()
            except BaseException:
                os.close(fd)
                raise
            return fd
        finally:
            linux.setns(own, linux.CLONE_NEWNET)
    finally:
        os.close(own)


def _prepare_namespace() -> None:
    for key in ("all", "default"):
        _write_sysctl(f"net/ipv6/conf/{key}/disable_ipv6", "1", must=False)
    with rtnl.RtnlSocket() as nl:
        nl.call(rtnl.set_link(index=1, up=True))  # lo is always index 1 in a new namespace


def _write_sysctl(key: str, value: str, *, must: bool = True) -> None:
    """Write /proc/sys/KEY; net.* keys are those of the calling thread's network namespace
    (the kernel resolves them for the task that opens the file)."""
    try:
        with open(f"/proc/sys/{key}", "w") as handle:
            handle.write(value)
    except OSError as error:
        if must:
            raise PalletError(f"cannot set {key.replace('/', '.')}={value}: "
                              f"{error.strerror}") from error


def prepare_host() -> None:
    """What the kernel needs for bridges with published ports: br_netfilter (for bridged
    packets to meet nftables) and IPv4 forwarding, both as Docker sets them."""
    if not os.path.isdir("/proc/sys/net/bridge"):
        import subprocess
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True)
        if not os.path.isdir("/proc/sys/net/bridge"):
            raise PalletError("the kernel module br_netfilter is not loaded and could not be "
                              "loaded", hint="run `modprobe br_netfilter` as root")
    with open("/proc/sys/net/ipv4/ip_forward") as handle:
        forwarding = handle.read().strip()
    if forwarding != "1":
        _write_sysctl("net/ipv4/ip_forward", "1")


def ensure_bridge(name: str, *, address: str, prefixlen: int, mtu: int, alias: str) -> None:
    """The bridge exists, carries the gateway address and is up (idempotent)."""
    NetlinkError = _netlink_error()
    with _iproute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            try:
                ipr.link("add", ifname=name, kind="bridge", br_nf_call_iptables=1)
            except NetlinkError as error:
                if error.code != errno.EEXIST:
                    raise PalletError(f"cannot create bridge {name}: {error}") from error
            found = ipr.link_lookup(ifname=name)
            ipr.link("set", index=found[0], ifalias=alias, mtu=mtu)
        index = found[0]
        present = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)}
        if address not in present:
            ipr.addr("add", index=index, address=address, prefixlen=prefixlen,
                     broadcast=_broadcast(address, prefixlen))
        ipr.link("set", index=index, state="up")
    # Published ports on 127.0.0.1 are DNATed to the container: their loopback source must be
    # routable on this bridge (nftables masquerades it; firewall.py drops 127/8 coming in).
    _write_sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")


def _broadcast(address: str, prefixlen: int) -> str:
    import ipaddress
    return str(ipaddress.ip_interface(f"{address}/{prefixlen}").network.broadcast_address)


def delete_link(name: str) -> bool:
    """Remove an interface if it exists; True when it did."""
    try:
        with rtnl.RtnlSocket() as nl:
            nl.call(rtnl.delete_link(name=name))
    except rtnl.NetlinkError as error:
        if error.code == errno.ENODEV:
            return False
        raise PalletError(f"cannot remove the interface {name}: {error.strerror}") from error
    return True


def delete_links_in_background(names: list[str]) -> None:
    """Start removing these interfaces on a daemon thread and return once it is inside the
    kernel. Deleting a veth waits for RCU grace periods (20-40 ms measured here, most of a
    bridged container's network cost): a process that is about to end need not wait for them
    itself, because its exit waits for a thread inside a system call, so the interfaces are
    gone by the time its parent sees it exit. Should the thread not get that far (the process
    ending sooner), the kernel removes a veth with the last reference to its namespace, and
    repair removes one on a bridge that no endpoint owns; a missing one is no error."""
    if not names:
        return
    import threading
    requests = [rtnl.delete_link(name=name) for name in names]
    inside = threading.Event()

    def delete() -> None:
        try:
            with rtnl.RtnlSocket() as nl:
                for request in requests:
                    inside.set()
                    with contextlib.suppress(rtnl.NetlinkError):
                        nl.call(request)
        finally:
            inside.set()

    threading.Thread(target=delete, name="pallet-veth-delete", daemon=True).start()
    inside.wait()


def add_interface(netns_fd: int, *, bridge: str, veth: str, interface: str, address: str,
                  prefixlen: int, gateway: str, mac: str, mtu: int,
                  default_route: bool) -> None:
    """A veth pair: `veth` on the host, enslaved to bridge; `interface` inside the namespace,
    with its address, MAC and MTU, up, and (default_route) the default route via gateway.
    Two netlink round trips: the pair (host end enslaved and up in the same request), then
    the inner end's address, state and route in one batch."""
    try:
        master = socket.if_nametoindex(bridge)
    except OSError:
        raise PalletError(f"the bridge {bridge} of this network is gone",
                          hint="run `pallet system check --repair`") from None
    with rtnl.RtnlSocket() as nl:
        try:
            nl.call(rtnl.add_veth(name=veth, mtu=mtu, master=master, peer=interface,
                                  peer_netns_fd=netns_fd, peer_mac=mac))
        except rtnl.NetlinkError as error:
            raise PalletError(f"cannot create the veth pair {veth}: {error.strerror}") from error
        try:
            _write_sysctl_host(f"/sys/class/net/{veth}/brport/hairpin_mode", "1")
            with entered(netns_fd), rtnl.RtnlSocket() as inside:
                inner = socket.if_nametoindex(interface)
                requests = [rtnl.add_address(index=inner, address=address, prefixlen=prefixlen,
                                             broadcast=_broadcast(address, prefixlen)),
                            rtnl.set_link(index=inner, up=True)]
                if default_route:
                    requests.append(rtnl.add_default_route(gateway=gateway,
                                                           protocol=RTPROT_BOOT))
                try:
                    inside.call(*requests)
                except rtnl.NetlinkError as error:
                    raise PalletError(f"cannot configure {interface} of the container: "
                                      f"{error.strerror}") from error
        except BaseException:
            with contextlib.suppress(rtnl.NetlinkError):
                nl.call(rtnl.delete_link(name=veth))
            raise


def remove_interface(netns_fd: int, interface: str) -> None:
    """Take `interface` out of a live namespace (its host end goes with it)."""
    with entered(netns_fd), rtnl.RtnlSocket() as inside:
        with contextlib.suppress(rtnl.NetlinkError):
            inside.call(rtnl.delete_link(name=interface))


def _write_sysctl_host(path: str, value: str) -> None:
    with contextlib.suppress(OSError):
        with open(path, "w") as handle:
            handle.write(value)


def list_links() -> list[dict]:
    """Every host interface: name, kind, master's name, alias (for repair)."""
    with _iproute() as ipr:
        links = ipr.get_links()
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in links}
        found = []
        for link in links:
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else ""
            found.append({"name": link.get_attr("IFLA_IFNAME"), "kind": kind or "",
                          "master": names.get(link.get_attr("IFLA_MASTER") or -1, ""),
                          "alias": link.get_attr("IFLA_IFALIAS") or ""})
        return found
