"""The embedded resolver's sockets, and the resolver in waiting of a default-bridge container.

A container started on the default bridge has no resolver (its resolv.conf names the host's
servers, as Docker's). When `network connect` adds a user-defined network while it runs, Docker
starts the embedded resolver and rewrites resolv.conf to 127.0.0.11. pallet's resolver is
threads of the container's monitor, and the process running `network connect` is another one,
so the monitor of every default-bridge container binds the two sockets at start (cheap: no
DNS code is imported) and one thread waits on them; the first query, which only comes once a
connect rewrote resolv.conf, makes it start the resolver (dns.py) on those same sockets. So the
resolver still lives and dies with the monitor, and a run that never connects pays a thread
and two sockets, not the DNS library's import.
"""

from __future__ import annotations

import os
import select
import socket
import threading

from pallet.runtime.network import links

ADDRESS = "127.0.0.11"


def bind_sockets(netns_fd: int) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on 127.0.0.11:53 inside the namespace (a socket belongs to the
    namespace of the thread that creates it: both are made, not only bound, inside it)."""
    sockets: list[socket.socket] = []
    try:
        with links.entered(netns_fd):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(udp)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(tcp)
            udp.bind((ADDRESS, 53))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((ADDRESS, 53))
            tcp.listen(16)   # a client's connect waits in the backlog until the resolver serves
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return udp, tcp


class StandbyResolver:
    """Sockets bound now, the resolver started on the first query."""

    def __init__(self, netns_fd: int, start) -> None:
        # start(sockets) -> the resolver serving them (dns.EmbeddedResolver; passed in, so
        # this module never imports the DNS code)
        self.start = start
        self.sockets = bind_sockets(netns_fd)
        self.active = None
        self._lock = threading.Lock()
        self._stopped = False
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._wait, name="dns-standby", daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        try:
            ready, _, _ = select.select([*self.sockets, self._wake_read], [], [])
        except (OSError, ValueError):
            return   # stop() closed the descriptors under us
        with self._lock:
            if self._stopped or self._wake_read in ready:
                return
            self.active = self.start(self.sockets)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            os.write(self._wake_write, b"x")
        self._thread.join(timeout=5)
        if self.active is not None:
            self.active.stop()
        else:
            for sock in self.sockets:
                sock.close()
        os.close(self._wake_read)
        os.close(self._wake_write)


__all__ = ["ADDRESS", "StandbyResolver", "bind_sockets"]
