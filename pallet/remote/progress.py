"""dockerd's JSON-lines progress (pull, push, load) -> pallet's own progress display.

The server writes pallet.base.progress events as Docker's JSONMessages (base/progress.py
json_message); this reads them back into the same events, so a remote pull draws exactly
the screen a local one draws (pallet/format/progress.py), on a terminal or off one.

    follow(documents, display) -> list of "aux" values; raises RemoteError on "errorDetail"
    pull(client, image, stream) -> None    POST /images/create with the display on stream
"""

from __future__ import annotations

from pallet.base.progress import Bytes, Note, State
from pallet.remote.calls import api_call
from pallet.remote.errors import RemoteError


def event_of(document: dict):
    """One JSONMessage as the event it was made from."""
    status = document.get("status") or ""
    ident = document.get("id") or ""
    detail = document.get("progressDetail")
    if detail and ("current" in detail or "total" in detail):
        return Bytes(ident, status, int(detail.get("current") or 0),
                     int(detail.get("total") or 0))
    if ident and detail is not None:
        return State(ident, status)
    return Note(ident, status)


def follow(documents, display, *, exit_code: int = 1) -> list:
    aux = []
    for document in documents:
        if not isinstance(document, dict):
            continue
        if document.get("errorDetail") or document.get("error"):
            detail = document.get("errorDetail") or {}
            message = detail.get("message") or document.get("error") or "unknown error"
            raise RemoteError(message, exit_code=exit_code)
        if "aux" in document:
            aux.append(document["aux"])
            continue
        if "status" in document:
            display.emit(event_of(document))
    return aux


def registry_auth(domain: str) -> str:
    """X-Registry-Auth as the docker CLI sends it: the login this client holds for the
    image's registry (`pallet login`/`docker login`, ~/.docker/config.json), else `{}`."""
    import base64
    import json

    from pallet.runtime.distribution.credentials import lookup
    found = lookup(domain)
    document = {"username": found[0], "password": found[1], "serveraddress": domain} \
        if found else {}
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def pull(client, image: str, stream, *, exit_code: int = 125) -> None:
    """Pull image on the host, its progress drawn on stream (the CLI's run: stderr)."""
    from pallet.format.progress import display_for
    from pallet.runtime.store.references import parse_reference
    reference = parse_reference(image)
    tag = reference.digest or reference.tag or "latest"
    display = display_for(stream, "auto")
    try:
        with api_call(exit_code):
            response = client.post(client._url("/images/create"),
                                   params={"fromImage": reference.name, "tag": tag},
                                   headers={"X-Registry-Auth": registry_auth(reference.domain)},
                                   stream=True)
            client._raise_for_status(response)
            documents = client._stream_helper(response, decode=True)
            follow(documents, display, exit_code=exit_code)
    except RemoteError as error:
        if not error.message.startswith("Error response from daemon"):
            raise RemoteError(f"Error response from daemon: {error.message}",
                              exit_code=exit_code) from error
        raise
    finally:
        display.close()
