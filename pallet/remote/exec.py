"""exec on a remote host: create, start (hijacked, or detached), resize, then the exec's
ExitCode as ours, as the docker CLI does.

    exec_(client, request: ExecRequest) -> int
"""

from __future__ import annotations

from dataclasses import dataclass

from pallet.base.errors import PalletError
from pallet.remote.calls import api_call
from pallet.remote.errors import RemoteError


@dataclass(frozen=True)
class ExecRequest:
    container: str
    command: tuple[str, ...]
    detach: bool = False
    interactive: bool = False
    tty: bool = False
    env: tuple[str, ...] = ()
    user: str | None = None
    workdir: str | None = None
    privileged: bool = False
    detach_keys: str | None = None


def _create(client, request: ExecRequest) -> str:
    body = {"User": request.user or "", "Privileged": request.privileged, "Tty": request.tty,
            "AttachStdin": request.interactive and not request.detach,
            "AttachStdout": not request.detach, "AttachStderr": not request.detach,
            "Env": list(request.env), "WorkingDir": request.workdir or "",
            "Cmd": list(request.command)}
    if request.detach_keys:
        body["DetachKeys"] = request.detach_keys
    with api_call(1):
        response = client._post_json(client._url("/containers/{0}/exec", request.container),
                                     data=body)
        return client._result(response, True)["Id"]


def exec_(client, request: ExecRequest) -> int:
    import os

    from pallet.remote.hijack import Detached, pump, upgrade
    if request.tty and request.interactive and not request.detach and not os.isatty(0):
        raise PalletError("the input device is not a TTY", exit_code=1)
    keys = None
    if request.tty and request.interactive:
        from pallet.commands.attach import detach_sequence
        keys = detach_sequence(request.detach_keys, exec_=True)
    exec_id = _create(client, request)
    start = client._url("/exec/{0}/start", exec_id)
    if request.detach:
        with api_call(1):
            client._raise_for_status(client._post_json(start, data={"Detach": True,
                                                                    "Tty": request.tty}))
        return 0
    connection = upgrade(client, start, body={"Detach": False, "Tty": request.tty})

    def resize(rows: int, columns: int) -> bool:
        try:
            response = client.post(client._url("/exec/{0}/resize", exec_id),
                                   params={"h": rows, "w": columns})
        except OSError:
            return False
        response.close()
        return response.ok

    try:
        pump(connection, tty=request.tty, stdin=request.interactive, detach_keys=keys,
             on_resize=resize)
    except Detached:     # the exec runs on; docker's CLI fails with the escape error
        raise RemoteError("read escape sequence") from None
    finally:
        connection.close()
    with api_call(1):
        status = client.exec_inspect(exec_id)
    code = status.get("ExitCode")
    if code is None:
        raise RemoteError("Error response from daemon: the exec's exit code is unknown")
    return int(code)
