"""The streaming commands on a remote host: click's parsed flags (the same params the local
command's callback gets, as pallet/remote/__init__.py's contract hands them) -> the typed
request -> the remote module; each returns the exit code (sys.exit'ed by the caller).

    build, run, create, start, attach, wait, logs, exec_, cp, top, stats
                                                          (ctx, **params) -> int

The flag parsing is the local commands' own (create_options, build_request, log_time,
expand_env, ...), so a flag means the same thing and fails with the same words whichever
host the command acts on; only the act differs.
"""

from __future__ import annotations

import os
import sys

from pallet.base.errors import PalletError


def _client(ctx):
    from pallet.remote import client
    return client(ctx)


def build(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.commands.build import build_request
    from pallet.remote.build import build as remote_build
    request = build_request(params)
    progress, quiet, iidfile = params["progress"], params["quiet"], params["iidfile"]
    image_id = remote_build(client, request, progress=progress, quiet=quiet)
    if iidfile is not None:
        from pallet.base.files import atomic_write
        atomic_write(iidfile, image_id, mode=None, durable=False)
    if quiet:
        print(image_id, flush=True)
    return 0


def run(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.commands.container_options import create_options
    from pallet.remote.run import run as remote_run
    request = create_options(params)
    return remote_run(client, request, detach=params["detach"],
                      sig_proxy=params.get("sig_proxy", True),
                      detach_keys=params.get("detach_keys"))


def create(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.commands.container_options import create_options
    from pallet.remote.createbody import create_body
    from pallet.remote.run import create
    from pallet.commands.flags import create_exit_codes
    if params["detach"]:
        raise PalletError("unknown shorthand flag: 'd' in -d")
    with create_exit_codes():
        body, name = create_body(create_options(params))
        print(create(client, body, name), flush=True)
    return 0


def start(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.remote.calls import api_call
    from pallet.remote.errors import RemoteError
    from pallet.remote.run import start_attached
    containers = params["containers"]
    if params["attach"] or params["interactive"]:
        if len(containers) > 1:
            raise PalletError("you cannot start and attach multiple containers at once")
        return start_attached(client, containers[0], interactive=params["interactive"],
                              detach_keys=params.get("detach_keys"))
    failed = False
    for name in containers:
        try:
            with api_call(1):
                client.start(name)
            print(name, flush=True)
        except RemoteError as error:
            print(error.message, file=sys.stderr, flush=True)
            failed = True
    return 1 if failed else 0


def attach(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.remote.run import attach as remote_attach
    return remote_attach(client, params["container_ref"], no_stdin=params["no_stdin"],
                         sig_proxy=params["sig_proxy"], detach_keys=params["detach_keys"])


def wait(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.remote.run import wait as remote_wait
    return remote_wait(client, params["containers"])


def logs(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.commands.container_views import log_time
    from pallet.remote.logs import LogsRequest
    from pallet.remote.logs import logs as remote_logs
    tail = params["tail"]
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise PalletError(f'invalid value for "tail": "{tail}"')
    request = LogsRequest(
        container=params["container_ref"], follow=params["follow"], tail=tail,
        timestamps=params["timestamps"], details=params["details"],
        since=log_time(params["since"]) if params["since"] else None,
        until=log_time(params["until"], "until") if params["until"] else None)
    remote_logs(client, request)
    return 0


def exec_(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.commands.container_options import expand_env, read_env_file
    from pallet.remote.exec import ExecRequest
    from pallet.remote.exec import exec_ as remote_exec
    given = []
    for path in params["env_file"]:
        given += read_env_file(path)
    given += expand_env(params["env"])
    given += [name for name in params["env"] if "=" not in name and name not in os.environ]
    workdir = params["workdir"]
    if workdir is not None and not workdir.startswith("/"):
        print("OCI runtime exec failed: exec failed: Cwd must be an absolute path: unknown",
              flush=True)
        return 126
    request = ExecRequest(
        container=params["container_ref"], command=tuple(params["command"]),
        detach=params["detach"], interactive=params["interactive"], tty=params["tty"],
        env=tuple(given), user=params["user"], workdir=workdir,
        privileged=params["privileged"], detach_keys=params.get("detach_keys"))
    return remote_exec(client, request)


def _container_path(text: str) -> bool:
    head, sep, _ = text.partition(":")
    return bool(sep) and "/" not in head and bool(head)


def cp(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.remote.cp import copy_in, copy_out
    source, destination = params["source"], params["destination"]
    src_ctr, _, src_path = source.partition(":") if _container_path(source) else ("", "", source)
    dst_ctr, _, dst_path = destination.partition(":") if _container_path(destination) \
        else ("", "", destination)
    if bool(src_ctr) == bool(dst_ctr):
        raise PalletError("copying between containers is not supported" if src_ctr else
                          "must specify at least one container source")
    import contextlib

    from pallet.base.humanize import human_size
    from pallet.base.progress import NULL
    from pallet.format.progress import counting
    shown = not params.get("quiet") and sys.stderr.isatty()
    with counting("Preparing to copy") if shown else contextlib.nullcontext(NULL) as progress:
        if src_ctr:
            size = copy_out(client, src_ctr, src_path, dst_path, archive=params["archive"],
                            follow_link=params["follow_link"], progress=progress)
        else:
            size = copy_in(client, dst_ctr, src_path, dst_path, archive=params["archive"],
                           follow_link=params["follow_link"], progress=progress)
    if shown:    # as the local cp (docker's CLI), on a terminal only
        print(f"Successfully copied {human_size(size, 4)} to {destination}", file=sys.stderr,
              flush=True)
    return 0


def top(ctx, **params) -> int:
    client = _client(ctx)
    from pallet.commands.container_views import top_table
    from pallet.remote.calls import api_call
    with api_call(1):
        answer = client.top(params["container_ref"],
                            ps_args=" ".join(params["ps_args"]) or None)
    sys.stdout.write(top_table(answer.get("Titles") or [], answer.get("Processes") or []))
    sys.stdout.flush()
    return 0



def stats(ctx, **params) -> int:
    from pallet.remote.stats import stats as remote_stats
    return remote_stats(_client(ctx), params["containers"], all_=params["all_"],
                        format_=params["format_"], no_stream=params["no_stream"],
                        no_trunc=params["no_trunc"])
