"""`pallet serve`: the Docker Engine API over a Unix socket (and TCP with mutual TLS)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.option("-H", "--host", "hosts", multiple=True, metavar="ADDRESS",
              help="Where to listen: unix:///PATH (default unix:///run/pallet/pallet.sock) or "
                   "tcp://HOST:PORT (TLS with client certificates unless HOST is loopback)")
@click.option("--tlsverify", is_flag=True, help="Require client certificates signed by --tlscacert")
@click.option("--tlscacert", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Trust client certificates signed by this CA only")
@click.option("--tlscert", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The server's TLS certificate")
@click.option("--tlskey", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The server's TLS key")
@click.option("--pidfile", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the server's PID to this file (removed at exit)")
@click.pass_context
def serve(ctx: click.Context, hosts, tlsverify, tlscacert, tlscert, tlskey, pidfile) -> None:
    """Serve the Docker-compatible Engine API (runs in the foreground; SIGTERM stops it,
    containers keep running)."""
    from pallet.base.errors import PalletError
    from pallet.api.server import TlsFiles, serve as run_server

    tls = None
    if tlsverify or tlscert or tlskey or tlscacert:
        if not (tlscert and tlskey):
            raise PalletError("TLS needs both --tlscert and --tlskey")
        if tlsverify and not tlscacert:
            raise PalletError("--tlsverify needs --tlscacert (the CA that signs client certificates)")
        tls = TlsFiles(ca=tlscacert, cert=tlscert, key=tlskey, verify=tlsverify)
    run_server(ctx.obj["root"], list(hosts), tls=tls, pidfile=pidfile,
               debug=ctx.obj.get("debug", False))
