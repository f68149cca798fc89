"""The few rtnetlink requests a container's start and stop make, over a plain netlink socket.

    with RtnlSocket() as nl:          # talks to the calling thread's network namespace
        nl.call(set_link(index=1, up=True), add_address(...), add_default_route(...))

Why not pyroute2 here (links.py still uses it for bridges and the repair listing): on every
bridged `run` pyroute2 cost more than the whole budget for networking (15 ms). Its rtnetlink
API imports 171 modules (asyncio, ssl, unittest.mock, multiprocessing) in 45-65 ms, and every
call goes through an asyncio event loop; even its message classes alone (ifinfmsg, ifaddrmsg,
rtmsg) import in ~19 ms. A start needs five fixed message shapes (link set, veth pair, address,
default route, link delete): packing them with struct and reading the acknowledgements costs
nothing to import and one round trip per batch (the kernel handles the messages of one send in
order, so a batch needs no waits between its steps).

Each builder returns one request (type, flags, payload); call() sends a batch in one sendmsg
and raises NetlinkError (an OSError with the kernel's errno and, when the kernel gives one, its
extended-ack text) for the first request the kernel refused.
"""

from __future__ import annotations

import os
import socket
import struct

NETLINK_ROUTE = 0
NETLINK_EXT_ACK = 11          # the kernel's error text in acknowledgements
NETLINK_CAP_ACK = 10          # acknowledgements without a copy of the request
SOL_NETLINK = 270             # not in Python 3.11's socket module

RTM_NEWLINK, RTM_DELLINK = 16, 17
RTM_NEWADDR = 20
RTM_NEWROUTE = 24

NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLM_F_ACK_TLVS = 0x200        # in an error message: extended-ack attributes follow
NLMSG_ERROR = 2
NLMSGERR_ATTR_MSG = 1

IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_NET_NS_FD = 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_GATEWAY = 5
RT_TABLE_MAIN, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 0, 1

HEADER = struct.Struct("=IHHII")          # nlmsghdr: length, type, flags, seq, port
IFINFO = struct.Struct("=BxHiII")         # ifinfomsg: family, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")          # ifaddrmsg: family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")       # rtmsg: family, dst/src len, tos, table, protocol,
                                          #        scope, type, flags
ATTR = struct.Struct("=HH")


class NetlinkError(OSError):
    """The kernel refused a request: errno as OSError's, .code as pyroute2's NetlinkError."""

    @property
    def code(self) -> int:
        return self.errno


def attr(kind: int, value: bytes) -> bytes:
    length = ATTR.size + len(value)
    return ATTR.pack(length, kind) + value + b"\0" * (-length % 4)


def _string(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def _u32(kind: int, number: int) -> bytes:
    return attr(kind, struct.pack("=I", number))


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _ifinfo(index: int = 0, up: bool | None = None) -> bytes:
    return IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0,
                       IFF_UP if up is not None else 0)


def set_link(*, index: int, up: bool | None = None, master: int | None = None,
             mtu: int | None = None) -> tuple[int, int, bytes]:
    body = _ifinfo(index, up)
    if master is not None:
        body += _u32(IFLA_MASTER, master)
    if mtu is not None:
        body += _u32(IFLA_MTU, mtu)
    return RTM_NEWLINK, 0, body


def add_veth(*, name: str, mtu: int, master: int, peer: str, peer_netns_fd: int,
             peer_mac: str) -> tuple[int, int, bytes]:
    """A veth pair: `name` here, enslaved to master and up; `peer` (down) moved into the
    namespace peer_netns_fd with its MAC and MTU."""
    peer_body = (_ifinfo() + _string(IFLA_IFNAME, peer) + _u32(IFLA_NET_NS_FD, peer_netns_fd)
                 + attr(IFLA_ADDRESS, _mac(peer_mac)) + _u32(IFLA_MTU, mtu))
    info = attr(IFLA_INFO_KIND, b"veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_body))
    body = (_ifinfo(up=True) + _string(IFLA_IFNAME, name) + _u32(IFLA_MTU, mtu)
            + _u32(IFLA_MASTER, master) + attr(IFLA_LINKINFO, info))
    return RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body


def delete_link(*, name: str = "", index: int = 0) -> tuple[int, int, bytes]:
    body = _ifinfo(index) + (_string(IFLA_IFNAME, name) if name else b"")
    return RTM_DELLINK, 0, body


def add_address(*, index: int, address: str, prefixlen: int,
                broadcast: str) -> tuple[int, int, bytes]:
    packed = socket.inet_aton(address)
    body = (IFADDR.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
            + attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed)
            + attr(IFA_BROADCAST, socket.inet_aton(broadcast)))
    return RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body


def add_default_route(*, gateway: str, protocol: int) -> tuple[int, int, bytes]:
    body = (RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, protocol, RT_SCOPE_UNIVERSE,
                       RTN_UNICAST, 0)
            + attr(RTA_GATEWAY, socket.inet_aton(gateway)))
    return RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body


class RtnlSocket:
    """A NETLINK_ROUTE socket bound in the calling thread's network namespace (the kernel ties
    a netlink socket to the namespace of the task that creates it, for its whole life)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_ROUTE)
        try:
            for option in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
                try:
                    self.sock.setsockopt(SOL_NETLINK, option, 1)
                except OSError:
                    pass  # older kernels: plain errno-only acknowledgements
            self.sock.bind((0, 0))
        except BaseException:
            self.sock.close()
            raise
        self.seq = 0

    def __enter__(self) -> RtnlSocket:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def call(self, *requests: tuple[int, int, bytes]) -> None:
        """Send the requests in one batch; wait for every acknowledgement. The first refusal
        is raised (the kernel still answers the rest, which are read and dropped)."""
        pending = {}
        batch = bytearray()
        for kind, flags, body in requests:
            self.seq += 1
            pending[self.seq] = kind
            batch += HEADER.pack(HEADER.size + len(body), kind,
                                 NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0) + body
        self.sock.send(batch)
        failure = None
        while pending:
            data = self.sock.recv(65536)
            offset = 0
            while offset + HEADER.size <= len(data):
                length, kind, flags, seq, _ = HEADER.unpack_from(data, offset)
                if length < HEADER.size:
                    break
                if kind == NLMSG_ERROR and seq in pending:
                    del pending[seq]
                    code = -struct.unpack_from("=i", data, offset + HEADER.size)[0]
                    if code and failure is None:
                        failure = _error(code, data[offset:offset + length], flags)
                offset += (length + 3) & ~3
        if failure is not None:
            raise failure


def _error(code: int, message: bytes, flags: int) -> NetlinkError:
    text = os.strerror(code)
    if flags & NLM_F_ACK_TLVS:
        # nlmsgerr: the error, the request's header (NETLINK_CAP_ACK: no payload), then TLVs
        offset = HEADER.size + 4 + HEADER.size
        while offset + ATTR.size <= len(message):
            length, kind = ATTR.unpack_from(message, offset)
            if length < ATTR.size:
                break
            if kind == NLMSGERR_ATTR_MSG:
                detail = message[offset + ATTR.size:offset + length].rstrip(b"\0").decode(
                    errors="replace")
                if detail:
                    text = f"{text} ({detail})"
                break
            offset += (length + 3) & ~3
    return NetlinkError(code, text)


__all__ = ["NetlinkError", "RtnlSocket", "add_address", "add_default_route", "add_veth",
           "delete_link", "set_link"]
