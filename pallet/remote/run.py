"""run, start -a, attach and wait on a remote host, in the docker CLI's order of calls.

    run(client, options: CreateRequest, *, detach, sig_proxy=True, detach_keys=None) -> int
    start_attached(client, container, *, interactive) -> int
    attach(client, container, *, no_stdin, sig_proxy, detach_keys) -> int
    wait(client, container) -> int

A foreground run is create, attach (hijacked, before start, so no output is lost), wait with
condition next-exit (removed with --rm, so the exit code is read once the host removed it),
start, resize, then the stream until the server ends it; the exit code is the container's.
An image the host lacks is pulled as docker does ("Unable to find image 'x:latest' locally",
the pull's progress on stderr), then the create is made again. Exit codes as the CLI's:
125 when the host refuses the create or start, 126/127 when the command cannot be run.
"""

from __future__ import annotations

import os
import sys

from pallet.base.errors import PalletError
from pallet.remote.calls import api_call, explanation
from pallet.remote.errors import RemoteError


def create(client, body: dict, name: str | None) -> str:
    import docker.errors
    params = {"name": name} if name else None
    with api_call(125):
        try:
            response = client._post_json(client._url("/containers/create"), data=body,
                                         params=params)
            return client._result(response, True)["Id"]
        except docker.errors.APIError as error:
            if error.status_code != 404 or not explanation(error).startswith("No such image"):
                raise
    from pallet.remote.progress import pull
    from pallet.runtime.store.references import familiar_string, parse_reference
    shown = familiar_string(str(parse_reference(body["Image"]).with_default_tag()))
    sys.stderr.write(f"Unable to find image '{shown}' locally\n")
    sys.stderr.flush()
    pull(client, body["Image"], sys.stderr, exit_code=125)
    with api_call(125):
        response = client._post_json(client._url("/containers/create"), data=body, params=params)
        return client._result(response, True)["Id"]


def _start_error(error: RemoteError) -> RemoteError:
    """The CLI's runStartContainerErr: 126 cannot execute, 127 not found, else 125."""
    text = error.message
    code = 125
    if "executable file not found" in text or "no such file or directory" in text:
        code = 127
    elif "permission denied" in text or "cannot execute" in text:
        code = 126
    return RemoteError(text, exit_code=code)


def _start(client, container: str) -> None:
    try:
        with api_call(125):
            client._raise_for_status(client.post(client._url("/containers/{0}/start", container)))
    except RemoteError as error:
        raise _start_error(error) from error


def _resize(client, path: str, ident: str):
    def resize(rows: int, columns: int) -> bool:
        try:
            response = client.post(client._url(path, ident), params={"h": rows, "w": columns})
        except OSError:
            return False   # a resize racing the container's exit is not an error
        response.close()
        return response.ok
    return resize


def _kill(client, container: str):
    def kill(number: int) -> None:
        try:
            client.post(client._url("/containers/{0}/kill", container),
                        params={"signal": str(number)}).close()
        except OSError:
            pass
    return kill


def _wait_request(client, container: str, condition: str):
    """The wait made before start: its headers come at once, its body at the exit."""
    with api_call(125):
        response = client.post(client._url("/containers/{0}/wait", container),
                               params={"condition": condition}, stream=True)
        client._raise_for_status(response)
    return response


def exit_status(response) -> int:
    import json

    from requests.exceptions import RequestException
    try:
        content = response.content
        # an answer without a status is a wait that failed, never an exit code 0 (the
        # docker CLI: "Error waiting for container", 125)
        if not content.strip():
            raise PalletError("Error waiting for container: the host's answer ended without "
                              "an exit status", exit_code=125)
        document = json.loads(content)
    except ValueError as error:
        raise PalletError("Error waiting for container: the host's answer is not JSON",
                          exit_code=125) from error
    except RequestException as error:   # the connection dropped in the middle of the answer
        raise PalletError(f"Error waiting for container: {error}", exit_code=125) from error
    finally:
        response.close()
    failure = (document.get("Error") or {}).get("Message")
    if failure:
        sys.stderr.write(f"{failure}\n")
    return int(document.get("StatusCode", 0))


def _session(client, container: str, *, tty: bool, stdin: bool, start: bool,
             condition: str, sig_proxy: bool, detach_keys: bytes | None) -> int:
    from pallet.remote.hijack import Detached, pump, upgrade
    params = {"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1}
    connection = upgrade(client, client._url("/containers/{0}/attach", container),
                         params=params)
    try:
        waited = _wait_request(client, container, condition)
        if start:
            _start(client, container)
        try:
            pump(connection, tty=tty, stdin=stdin, detach_keys=detach_keys,
                 on_resize=_resize(client, "/containers/{0}/resize", container),
                 on_signal=_kill(client, container) if sig_proxy and not tty else None)
        except Detached:
            waited.close()
            if not start:   # attach: docker's CLI returns the escape error it read
                raise RemoteError("read escape sequence") from None
            return 0        # run -it, start -ai: silent, the container runs on
    finally:
        connection.close()
    with api_call(125):
        return exit_status(waited)


def _keys(text: str | None) -> bytes:
    from pallet.commands.attach import detach_sequence
    return detach_sequence(text)


def run(client, options, *, detach: bool, sig_proxy: bool = True,
        detach_keys: str | None = None) -> int:
    from pallet.remote.createbody import create_body
    if options.tty and options.interactive and not detach and not os.isatty(0):
        raise PalletError("the input device is not a TTY", exit_code=1)
    keys = None if detach else _keys(detach_keys)   # refused before anything is made
    body, name = create_body(options)
    container = create(client, body, name)
    if detach:
        _start(client, container)
        print(container, flush=True)
        return 0
    condition = "removed" if options.auto_remove else "next-exit"
    return _session(client, container, tty=options.tty, stdin=options.interactive, start=True,
                    condition=condition, sig_proxy=sig_proxy, detach_keys=keys)


def inspect(client, container: str) -> dict:
    with api_call(1):
        return client.inspect_container(container)


def start_attached(client, container: str, *, interactive: bool,
                   detach_keys: str | None = None) -> int:
    keys = _keys(detach_keys)
    record = inspect(client, container)
    if record["State"].get("Running"):
        raise PalletError(f"container {record['Id']} is already running")
    config = record["Config"]
    condition = "removed" if record["HostConfig"].get("AutoRemove") else "next-exit"
    return _session(client, record["Id"], tty=bool(config.get("Tty")),
                    stdin=interactive and bool(config.get("OpenStdin")), start=True,
                    condition=condition, sig_proxy=True, detach_keys=keys)


def attach(client, container: str, *, no_stdin: bool, sig_proxy: bool,
           detach_keys: str | None) -> int:
    keys = _keys(detach_keys)
    record = inspect(client, container)
    state = record["State"]
    if state.get("Paused"):
        raise RemoteError("You cannot attach to a paused container, unpause it first")
    if not state.get("Running"):
        raise RemoteError("You cannot attach to a stopped container, start it first")
    config = record["Config"]
    tty = bool(config.get("Tty"))
    stdin = not no_stdin and bool(config.get("OpenStdin"))
    if tty and stdin and not os.isatty(0):
        raise RemoteError("the input device is not a TTY")
    return _session(client, record["Id"], tty=tty, stdin=stdin, start=False,
                    condition="not-running", sig_proxy=sig_proxy, detach_keys=keys)


def wait(client, containers) -> int:
    """Each container's exit code on its own line; a failure printed, exit 1 at the end."""
    failed = False
    for name in containers:
        try:
            with api_call(1):
                response = client.post(client._url("/containers/{0}/wait", name),
                                       params={"condition": "not-running"})
                client._raise_for_status(response)
                print(int(response.json().get("StatusCode", 0)), flush=True)
        except RemoteError as error:
            sys.stderr.write(error.message + "\n")
            failed = True
    return 1 if failed else 0
