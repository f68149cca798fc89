"""The embedded resolver of user-defined networks, as Docker's: 127.0.0.11:53 inside the
container, answering the names of the containers on its networks (name, --network-alias /
connect --alias, short ID), forwarding every other name to the host's resolvers.

Which process serves it: the container's own monitor (the detached monitor of `run -d`, the
CLI itself for `run` in the foreground), on UDP and TCP sockets it opened *inside* the
container's network namespace before the container started (a thread enters the namespace for
the bind, so port 53 needs no NAT; standby.py binds them, and on the default bridge waits for
a `network connect` to need them). It is the monitor's threads, not a process of its own, so
it cannot outlive the container: the monitor stops it when the container exits, and if the
monitor is killed its sockets close with it (and its container dies by PDEATHSIG). Answers are
read from the endpoint records under the store on each query (cached by directory mtime), so
names appear and disappear as containers start and stop. Upstream queries leave from the host's
namespace, so a resolver on the host's loopback (systemd-resolved, the tests' stand-in) works;
--dns servers, when given, are the upstreams instead. Internal networks are not forwarded.
"""

from __future__ import annotations

import socket
import socketserver

from dnslib import PTR, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from pallet.runtime.network.standby import ADDRESS, bind_sockets
from pallet.runtime.network.store import NetworkStore

TTL = 600
class NetworkResolver(BaseResolver):
    def __init__(self, root, container_id: str, upstreams: list[str]) -> None:
        self.store = NetworkStore(root)
        self.container_id = container_id
        self.upstreams = upstreams
        self._cache: dict[str, tuple[int, list]] = {}

    def _endpoints(self, network_id: str) -> list:
        directory = self.store.endpoints_dir / network_id
        try:
            stamp = directory.stat().st_mtime_ns
        except OSError:
            return []
        cached = self._cache.get(network_id)
        if cached is None or cached[0] != stamp:
            cached = (stamp, self.store.endpoints(network_id))
            self._cache[network_id] = cached
        return cached[1]

    def _networks(self):
        """The user-defined networks this container is on now (connect/disconnect are live)."""
        found = []
        for endpoint in self.store.container_endpoints(self.container_id):
            network = self._network(endpoint.network_id)
            if network is not None and network.user_defined:
                found.append(network)
        return found

    def _network(self, network_id: str):
        try:
            return self.store.find(network_id)
        except Exception:  # noqa: BLE001 - removed meanwhile: no answers from it
            return None

    def lookup(self, name: str) -> tuple[list[str], bool]:
        """(addresses, forward?) for a query name."""
        networks = self._networks()
        name = name.rstrip(".").lower()
        addresses = []
        for network in networks:
            short = name[:-len(network.name) - 1] if name.endswith("." + network.name.lower()) \
                else name
            for endpoint in self._endpoints(network.id):
                names = {endpoint.name.lower(), endpoint.container_id[:12],
                         *(alias.lower() for alias in endpoint.aliases)}
                if short in names and endpoint.address not in addresses:
                    addresses.append(endpoint.address)
        return addresses, any(not n.internal for n in networks) and not addresses

    def reverse(self, name: str) -> str | None:
        labels = name.rstrip(".").lower().split(".")
        if len(labels) != 6 or labels[-2:] != ["in-addr", "arpa"]:
            return None
        address = ".".join(reversed(labels[:4]))
        for network in self._networks():
            for endpoint in self._endpoints(network.id):
                if endpoint.address == address:
                    return f"{endpoint.name}.{network.name}"
        return None

    def resolve(self, request, handler):
        question = request.q
        name = str(question.qname)
        reply = request.reply()
        reply.header.aa = 0  # Docker's resolver answers as a forwarder: not authoritative
        if question.qtype == QTYPE.PTR:
            target = self.reverse(name)
            if target is not None:
                reply.add_answer(RR(question.qname, QTYPE.PTR, rdata=PTR(target), ttl=TTL))
                return reply
            return self._forward(request, handler) if self._may_forward() else _refused(reply)
        addresses, forward = self.lookup(name)
        if addresses:
            if question.qtype in (QTYPE.A, QTYPE.ANY):
                for address in addresses:
                    reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=TTL))
            return reply  # AAAA of a container: no IPv6 address, no error
        if forward:
            return self._forward(request, handler)
        return _refused(reply)

    def _may_forward(self) -> bool:
        return any(not n.internal for n in self._networks())

    def _forward(self, request, handler):
        tcp = getattr(handler, "protocol", "udp") == "tcp"
        for server in self.upstreams:
            try:
                answer = DNSRecord.parse(request.send(server, 53, tcp=tcp, timeout=3))
            except (OSError, ValueError, Exception):  # noqa: BLE001 - next upstream
                continue
            if answer.header.tc and not tcp:
                try:
                    answer = DNSRecord.parse(request.send(server, 53, tcp=True, timeout=3))
                except Exception:  # noqa: BLE001 - keep the truncated answer
                    pass
            return answer
        reply = request.reply()
        reply.header.rcode = RCODE.SERVFAIL
        return reply


def _refused(reply):
    reply.header.rcode = RCODE.SERVFAIL
    return reply


class _QuietLogger(DNSLogger):
    """The container controls what it asks: nothing it sends may reach our terminal."""

    def __init__(self) -> None:
        super().__init__(log="-recv,-send,-request,-reply,-truncated,-error,-data",
                         logf=lambda _text: None)


def _server_class(sock: socket.socket, tcp: bool):
    base = socketserver.ThreadingTCPServer if tcp else socketserver.ThreadingUDPServer

    class Bound(base):
        daemon_threads = True
        allow_reuse_address = True

        def __init__(self, address, handler) -> None:
            super().__init__(address, handler, bind_and_activate=False)
            self.socket.close()
            self.socket = sock
            if tcp:
                self.server_activate()

        def handle_error(self, request, client_address) -> None:
            pass  # a malformed query is the container's problem, not a traceback of ours

    return Bound


class EmbeddedResolver:
    """The resolver of one container: sockets in its namespace, two serving threads."""

    def __init__(self, root, container_id: str, netns_fd: int | None, upstreams: list[str],
                 sockets: tuple[socket.socket, socket.socket] | None = None) -> None:
        # sockets: already bound by a StandbyResolver (standby.py), else bound here
        udp, tcp = sockets if sockets is not None else bind_sockets(netns_fd)
        resolver = NetworkResolver(root, container_id, upstreams)
        self.servers = [DNSServer(resolver, address=ADDRESS, port=53, logger=_QuietLogger(),
                                  server=_server_class(sock, kind), handler=DNSHandler)
                        for sock, kind in ((udp, False), (tcp, True))]
        for server in self.servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()


__all__ = ["EmbeddedResolver", "ADDRESS"]
