"""pallet as a client of a remote host: host selection, the transports, remote dispatch.

Nothing here is imported on the local, daemonless path: cli.py asks only "was a host asked for
at all?" (-H, --context, PALLET_HOST, DOCKER_HOST, DOCKER_CONTEXT, a currentContext in the
Docker config) and imports pallet.remote.dispatch only then.

THE CONTRACT (for every command that works on a remote host)
- Dispatch: pallet.remote.dispatch.REMOTE maps a command path as typed ("ps", "container ls",
  "network create") to "module:function". With a remote host selected, cli.py's lazy group hands
  the local click command to dispatch.remote_command(), which returns a copy with the same
  options and help whose callback is that function, called as ``function(ctx, **params)`` with
  exactly the parameters the local callback gets. A path missing from REMOTE fails with "`pallet
  X` is not supported on a remote host ..." (exit 1): a command never silently runs locally.
  Paths in dispatch.CLIENT_SIDE (context, machine, login, serve, system dial-stdio, ...) run
  locally whatever host is selected.
- The client: ``pallet.remote.client(ctx)`` is a docker SDK ``APIClient`` connected to the
  selected host (one per command, made on first use, API version negotiated with the server);
  ``pallet.remote.host(ctx)`` is the hosts.Host (url, scheme, context name). For ssh:// its HTTP
  connections run over `ssh ... pallet system dial-stdio` (transport.py), multiplexed on one ssh
  master connection; hijacked streams (attach/exec) get a real socket from
  ``client._get_raw_response_socket`` / ``attach_socket`` as with a Unix socket.
- Errors: let the SDK's exceptions propagate. dispatch wraps every remote callback in
  errors.translated(): an API error (4xx/5xx with ``{"message": M}``) becomes a PalletError
  printed as docker prints it, ``Error response from daemon: M``, exit 1; a refused connection,
  a missing socket, a failed ssh or TLS handshake becomes one paragraph "Cannot connect to the
  pallet engine at URL ..." naming the cause (ssh's own stderr for ssh), exit 1. A command that
  needs another exit code (run: 125) catches errors.RemoteError and re-raises with its code.
  Commands over several targets (rm a b c) use errors.for_each(), which prints each failure as
  docker does and exits 1 at the end.
- Output: reuse the local command's rendering (pallet.format listings, Go templates, inspect
  documents): convert the API's Docker-shaped JSON into the row the local renderer takes
  (containers.py, images.py show how), never a second formatter.
"""

from __future__ import annotations


def host(ctx):
    """The selected hosts.Host of this command (set by dispatch)."""
    from pallet.remote.dispatch import selected_host
    return selected_host(ctx)


def client(ctx):
    """The docker SDK APIClient for the selected host, made on first use in this command."""
    from pallet.remote.client import client_for
    return client_for(ctx)
