"""The listeners of `pallet serve`: a Unix socket (0660, group `pallet` where it exists) and
TCP, with mutual TLS unless the address is loopback; a clean stop on SIGTERM.

    serve(root, hosts, tls=TlsFiles|None, pidfile=None, debug=False)   # blocks until SIGTERM

Containers are not children of the server (each has its own monitor process), so stopping
the server leaves them running; in-flight requests that change state (a build, a pull, a
create) are given a grace period to finish, streams that only read are cut.
"""

from __future__ import annotations

import contextlib
import grp
import ipaddress
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from pallet.base.errors import PalletError
from pallet.api.protocol import Handler

DEFAULT_HOST = "unix:///run/pallet/pallet.sock"
SOCKET_GROUP = "pallet"
GRACE_SECONDS = 30
# Requests that only read or wait may be cut at shutdown; everything else gets the grace.
_CUTTABLE = ("/events", "/containers/{name}/logs", "/containers/{name}/attach",
             "/containers/{name}/wait", "/containers/{name}/stats", "/exec/{id}/start")


@dataclass(frozen=True)
class TlsFiles:
    ca: str | None
    cert: str
    key: str
    verify: bool


class _Engine:
    """What every listener shares: the store root, the router, the in-flight requests, and
    the server-side state of attach/exec sessions."""

    def __init__(self, root: Path, debug: bool) -> None:
        from pallet.api.router import Router
        self.root = Path(root)
        self.debug = debug
        self.router = Router()
        self.busy = 0
        self.idle = threading.Condition()
        self.state: dict[str, object] = {}   # per-concern registries (exec sessions, attaches)
        self.state_lock = threading.Lock()
        self.stopping = False

    def registry(self, name: str, factory):
        with self.state_lock:
            if name not in self.state:
                self.state[name] = factory()
            return self.state[name]

    @contextlib.contextmanager
    def tracking(self, request):
        if self.stopping:
            from pallet.api.protocol import ApiError
            raise ApiError(503, "the server is shutting down")
        cuttable = any(request.path == p or _same_shape(request.path, p) for p in _CUTTABLE)
        if cuttable:
            yield
            return
        with self.idle:
            self.busy += 1
        try:
            yield
        finally:
            with self.idle:
                self.busy -= 1
                self.idle.notify_all()

    def drain(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.busy == 0, timeout)


def _same_shape(path: str, pattern: str) -> bool:
    parts, shape = path.strip("/").split("/"), pattern.strip("/").split("/")
    return len(parts) == len(shape) and all(s.startswith("{") or s == p
                                            for p, s in zip(parts, shape))


class _Listener(socketserver.ThreadingMixIn):
    daemon_threads = True
    block_on_close = False
    # socketserver's backlog is 5; clients open many connections at once (`docker rm -f` of
    # N containers: N goroutines; compose's parallel steps) and a full backlog fails their
    # non-blocking connect ("Cannot connect to the Docker daemon"). The kernel's maximum, as Go.
    request_queue_size = socket.SOMAXCONN
    engine: _Engine
    tls: ssl.SSLContext | None = None

    # the handler reads these through self.server
    @property
    def router(self):
        return self.engine.router

    @property
    def debug(self):
        return self.engine.debug

    @property
    def root(self):
        return self.engine.root

    def tracking(self, request):
        return self.engine.tracking(request)

    def registry(self, name, factory):
        return self.engine.registry(name, factory)

    def finish_request(self, request, client_address) -> None:
        if self.tls is not None:
            try:
                request.settimeout(30)
                request = self.tls.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                # a client without a certificate the CA signed never reaches a handler
                with contextlib.suppress(OSError):
                    request.close()
                return
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address) -> None:
        if self.engine.debug:
            super().handle_error(request, client_address)


class UnixListener(_Listener, socketserver.UnixStreamServer):
    pass


class TcpListener(_Listener, socketserver.TCPServer):
    allow_reuse_address = True


def _unix_listener(path: str, engine: _Engine) -> UnixListener:
    if len(path.encode()) >= 108:
        raise PalletError(f"socket path too long (108 bytes at most): {path}")
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)   # a stale socket from a server that is gone
        else:
            raise PalletError(f"another server is listening on {path}",
                              hint="stop it first, or choose another -H unix://PATH")
        finally:
            probe.close()
    # Bind under a temporary name and rename into place, so the socket is never reachable
    # with a mode wider than 0660.
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    listener = UnixListener(temporary, Handler, bind_and_activate=False)
    listener.engine = engine
    try:
        listener.server_bind()
        os.chmod(temporary, 0o660)
        with contextlib.suppress(KeyError):
            os.chown(temporary, 0, grp.getgrnam(SOCKET_GROUP).gr_gid)
        os.rename(temporary, path)
        listener.server_address = path
        listener.server_activate()
    except BaseException:
        listener.server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return listener


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
        if tls.verify:
            context.load_verify_locations(cafile=tls.ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as error:
        raise PalletError(f"could not load the TLS files: {error}") from error
    return context


def _tcp_listener(netloc: str, engine: _Engine, tls: TlsFiles | None) -> TcpListener:
    parsed = urllib.parse.urlsplit(f"tcp://{netloc}")
    host, port = parsed.hostname or "", parsed.port
    if not host or port is None:
        raise PalletError(f"invalid -H tcp://{netloc}: give HOST:PORT")
    mutual = tls is not None and tls.verify and tls.ca
    if not mutual and not _is_loopback(host):
        raise PalletError(
            f"refusing to serve tcp://{netloc} without mutual TLS: anyone who can reach it "
            "could run containers as root",
            hint="add --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY, or listen on "
                 "127.0.0.1")

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener_class = type("TcpListener", (TcpListener,), {"address_family": family})
    try:
        listener = listener_class((host, port), Handler)
    except OSError as error:
        raise PalletError(f"listen tcp {netloc}: {error.strerror}") from error
    listener.engine = engine
    listener.tls = _tls_context(tls) if tls is not None else None
    return listener


def open_listeners(hosts: list[str], engine: _Engine, tls: TlsFiles | None) -> list:
    listeners = []
    try:
        for host in hosts:
            scheme, sep, rest = host.partition("://")
            if not sep:
                raise PalletError(f"invalid -H {host}: use unix:///PATH or tcp://HOST:PORT")
            if scheme == "unix":
                listeners.append(_unix_listener(rest, engine))
            elif scheme == "tcp":
                listeners.append(_tcp_listener(rest, engine, tls))
            else:
                raise PalletError(f"invalid -H {host}: unsupported protocol {scheme!r}",
                                  hint="use unix:///PATH or tcp://HOST:PORT")
    except BaseException:
        close_listeners(listeners)
        raise
    return listeners


def close_listeners(listeners) -> None:
    for listener in listeners:
        listener.server_close()
        if isinstance(listener, UnixListener):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(listener.server_address)


def _write_pidfile(path: Path) -> None:
    from pallet.runtime.container.state import process_start_time
    with contextlib.suppress(FileNotFoundError, ValueError):
        other = int(path.read_text().strip())
        if other != os.getpid() and process_start_time(other) is not None:
            raise PalletError(f"pid file found, ensure pallet serve is not running or delete "
                              f"{path}")
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(f"{os.getpid()}\n")
    os.replace(temporary, path)


# Imported before the first request: a container's monitor and an exec are forked from a
# request's thread, and a forked child that imports a module another thread was importing at
# that instant would wait forever on that module's lock. The lazy imports of the run, exec, cp
# and volume paths are taken here, once, while the server is still single-threaded.
WARM_IMPORTS = (
    "pallet.runtime.container.monitor", "pallet.runtime.container.health",
    "pallet.runtime.container.execute", "pallet.runtime.container.access",
    "pallet.runtime.container.archive", "pallet.runtime.store.events",
    "pallet.runtime.volume.store", "pallet.runtime.volume.mounting",
    "pallet.runtime.isolation.lowerdirs", "pallet.runtime.image.images",
    "pallet.runtime.image.layers", "pallet.runtime.image.removal", "pallet.api.streams",
    "pallet.api.containers", "pallet.api.create", "pallet.api.execs", "pallet.api.images",
)


def _warm_imports() -> None:
    import importlib
    for name in WARM_IMPORTS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            continue   # a part this build lacks: its endpoints answer 501


def serve(root: Path, hosts: list[str], *, tls: TlsFiles | None = None,
          pidfile: Path | None = None, debug: bool = False, ready=None) -> None:
    _warm_imports()
    engine = _Engine(root, debug)
    if pidfile is not None:
        _write_pidfile(pidfile)
    listeners = []
    stop = threading.Event()
    try:
        listeners = open_listeners(hosts or [DEFAULT_HOST], engine, tls)
        previous = {sig: signal.signal(sig, lambda *_: stop.set())
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)   # a vanished client is an EPIPE, not death
        threads = [threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.2},
                                    daemon=True) for listener in listeners]
        for thread in threads:
            thread.start()
        for host in hosts or [DEFAULT_HOST]:
            print(f"pallet serve: API listening on {host}", file=sys.stderr, flush=True)
        if ready is not None:
            ready()
        while not stop.wait(1.0):
            pass
        print("pallet serve: shutting down", file=sys.stderr, flush=True)
        engine.stopping = True
        for listener in listeners:
            listener.shutdown()
        if not engine.drain(GRACE_SECONDS):
            print("pallet serve: requests still running after the grace period; leaving them",
                  file=sys.stderr, flush=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    finally:
        close_listeners(listeners)
        if pidfile is not None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                if int(pidfile.read_text().strip()) == os.getpid():
                    pidfile.unlink()
