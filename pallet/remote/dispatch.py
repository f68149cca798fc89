"""Remote dispatch: the local click command, its callback swapped for the remote one.

    remote_command(ctx, name, command) -> click.Command   what cli.py's lazy group returns
    selected_host(ctx) -> hosts.Host

REMOTE maps a command path as typed to "module:function"; the function is called as
``function(ctx, **params)`` with the local callback's parameters (contract: pallet/remote/
__init__.py). CLIENT_SIDE paths run locally whatever host is selected.
"""

from __future__ import annotations

import copy
import importlib
import sys

import click

from pallet.base.errors import PalletError

_HOST_KEY = "pallet.remote.host"

# The docker SDK imports paramiko for its own ssh transport when it can; pallet never uses that
# transport (transport.py is ours) and paramiko costs more start-up than the rest of the SDK.
sys.modules.setdefault("paramiko", None)

_C = "pallet.remote.containers"
_I = "pallet.remote.images"
_S = "pallet.remote.system"
_N = "pallet.remote.networks"
_V = "pallet.remote.volumes"

REMOTE: dict[str, str] = {
    # containers
    "ps": f"{_C}:ps", "container ls": f"{_C}:ps", "container ps": f"{_C}:ps",
    "stop": f"{_C}:stop", "container stop": f"{_C}:stop",
    "kill": f"{_C}:kill", "container kill": f"{_C}:kill",
    "restart": f"{_C}:restart", "container restart": f"{_C}:restart",
    "rm": f"{_C}:rm", "container rm": f"{_C}:rm", "container remove": f"{_C}:rm",
    "pause": f"{_C}:pause", "container pause": f"{_C}:pause",
    "unpause": f"{_C}:unpause", "container unpause": f"{_C}:unpause",
    "rename": f"{_C}:rename", "container rename": f"{_C}:rename",
    "port": f"{_C}:port", "container port": f"{_C}:port",
    "container prune": f"{_C}:prune",
    "inspect": f"{_C}:inspect", "container inspect": f"{_C}:container_inspect",
    # images
    "images": f"{_I}:images", "image ls": f"{_I}:images",
    "image inspect": f"{_I}:image_inspect",
    "tag": f"{_I}:tag", "image tag": f"{_I}:tag",
    "rmi": f"{_I}:rmi", "image rm": f"{_I}:rmi",
    "image prune": f"{_I}:prune",
    "pull": f"{_I}:pull", "image pull": f"{_I}:pull",
    "push": f"{_I}:push", "image push": f"{_I}:push",
    # networks and volumes
    **{f"network {name}": f"{_N}:{name}" for name in
       ("create", "ls", "inspect", "rm", "prune", "connect", "disconnect")},
    "network list": f"{_N}:ls", "network remove": f"{_N}:rm",
    **{f"volume {name}": f"{_V}:{name}" for name in ("create", "ls", "inspect", "rm", "prune")},
    # the engine
    "version": f"{_S}:version", "info": f"{_S}:info",
    "system df": f"{_S}:df", "system prune": f"{_S}:prune",
}
# the streaming commands (pallet/remote/commands.py), also under `container`
_STREAMING = {"run": "run", "create": "create", "start": "start", "attach": "attach",
              "wait": "wait", "logs": "logs", "exec": "exec_", "cp": "cp", "top": "top",
              "stats": "stats"}
REMOTE.update({path: f"pallet.remote.commands:{function}" for name, function in
               _STREAMING.items() for path in (name, f"container {name}")})
REMOTE.update({path: "pallet.remote.commands:build"
               for path in ("build", "image build", "builder build")})
# archives, changes and the event log (transfer.py, changes.py, events.py)
_MORE = {("history", "image history"): "changes:history",
         ("commit", "container commit"): "changes:commit",
         ("diff", "container diff"): "changes:diff",
         ("save", "image save"): "transfer:save", ("load", "image load"): "transfer:load",
         ("export", "container export"): "transfer:export", ("events",): "events:events"}
REMOTE.update({path: f"pallet.remote.{target}" for paths, target in _MORE.items()
               for path in paths})

# Commands about the client itself (or the host side of a connection): never remote.
CLIENT_SIDE = {"check", "context", "machine", "login", "logout", "serve", "system dial-stdio"}


def selected_host(ctx: click.Context):
    return ctx.meta[_HOST_KEY]


def options_of(params: dict):
    from pallet.remote.select import HostOptions
    return HostOptions(hosts=tuple(params.get("hosts") or ()), context=params.get("context"),
                       tls=bool(params.get("tls")), tlsverify=bool(params.get("tlsverify")),
                       tlscacert=params.get("tlscacert"), tlscert=params.get("tlscert"),
                       tlskey=params.get("tlskey"))


def remote_command(ctx: click.Context, name: str, command: click.Command) -> click.Command:
    """``command`` itself when the resolved host is the local store (context "default"),
    else its remote twin."""
    from pallet.remote.select import resolve
    if name in CLIENT_SIDE:
        return command
    host = resolve(options_of(ctx.params))
    if host is None:
        return command
    ctx.meta[_HOST_KEY] = host
    return _twin(command, name)


def _twin(command: click.Command, path: str) -> click.Command:
    if path in CLIENT_SIDE:
        return command
    twin = copy.copy(command)
    if isinstance(command, click.Group):
        # through get_command, so a group's lazily added subcommands (image pull) are
        # twinned too: none may slip through to the local store
        def get_command(ctx, name, _original=command.get_command):
            sub = _original(ctx, name)
            return None if sub is None else _twin(sub, f"{path} {name}")
        twin.get_command = get_command
        return twin
    twin.callback = _remote_callback(path)
    return twin


def _remote_callback(path: str):
    target = REMOTE.get(path)

    def callback(**params):
        ctx = click.get_current_context()
        host = selected_host(ctx)
        if target is None:
            raise PalletError(f"`pallet {path}` is not supported on a remote host "
                              f"(selected: {host.url})",
                              hint="run it on the host itself, or select the local store with "
                                   "`--context default`")
        module_name, _, attribute = target.partition(":")
        function = getattr(importlib.import_module(module_name), attribute)
        from pallet.remote.errors import translated
        with translated(host, lambda: _dialer(ctx)):
            return function(ctx, **params)

    return callback


def _dialer(ctx: click.Context):
    api = ctx.meta.get("pallet.remote.client")
    return getattr(api, "pallet_dialer", None)
