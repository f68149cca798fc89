"""build on a remote host: the local context streamed as a tar to POST /build, the host's
progress drawn by the local build display, the image ID as the local build reports it.

    build(client, request: BuildRequest, *, progress="auto", quiet=False) -> image ID

The request is the same BuildRequest the CLI makes for a local build (builder/request.py);
every field the classic build API has travels as its query parameter (t, dockerfile,
buildargs, labels, target, nocache, pull, networkmode, platform, memory, cpuquota/cpuperiod,
cachefrom, extrahosts, q). Fields the API has no place for (secrets, --no-cache-filter,
--cache-to, --compression, --allow) are refused before anything is sent: a remote build
never silently drops what was asked. SOURCE_DATE_EPOCH (--reproducible) travels as the build
argument the builder reads it from.

The body is written while it is sent (context_tar.py through a pipe, chunked), never held
whole; the host receives the whole tar on every build (the classic API has no way to send
only what changed).
"""

from __future__ import annotations

import json
import queue
import sys
import threading

from pallet.base.errors import PalletError
from pallet.remote.calls import api_call
from pallet.remote.errors import RemoteError


class BuildFailed(PalletError):
    """The host's build error, already rendered there (file:line:col, caret, hint)."""

    def render(self) -> str:
        return self.message


_UNSENDABLE = (("secrets", "--secret"), ("no_cache_filter", "--no-cache-filter"),
               ("cache_to", "--cache-to"), ("allow", "--allow"))


def _params(request, dockerfile: str, quiet: bool) -> dict:
    for field, flag in _UNSENDABLE:
        if getattr(request, field):
            raise PalletError(f"{flag} is not supported when building on a remote host",
                              hint="the Engine API's build endpoint has no place for it; "
                                   "build locally, or leave it out")
    if request.compression != "none":
        raise PalletError("--compression is not supported when building on a remote host",
                          hint="the host stores its layers as it is configured to")
    args = dict(request.build_args)
    if request.source_date_epoch is not None:
        args["SOURCE_DATE_EPOCH"] = str(request.source_date_epoch)
    params: dict = {"dockerfile": dockerfile, "t": list(request.tags), "rm": 1,
                    "networkmode": request.network}
    if args:
        params["buildargs"] = json.dumps(args)
    if request.labels:
        params["labels"] = json.dumps(dict(request.labels))
    if request.target:
        params["target"] = request.target
    if request.no_cache:
        params["nocache"] = 1
    if request.pull:
        params["pull"] = 1
    if request.platform:
        params["platform"] = request.platform
    if request.memory:
        params["memory"] = request.memory
    if request.cpus:
        params["cpuperiod"] = 100_000
        params["cpuquota"] = int(request.cpus * 100_000)
    if request.cache_from:
        params["cachefrom"] = json.dumps(list(request.cache_from))
    if request.add_hosts:
        params["extrahosts"] = list(request.add_hosts)  # repeated, as the docker CLI sends them
    if quiet:
        params["q"] = 1
    return params


def _body(request):
    """(the upload body, the build file's name in it, the body when a packer of ours makes
    it: its error is then the one to report)."""
    from pallet.remote.pipe import Produced
    context = request.context
    if context.directory is None:                 # `build -` : stdin is the body as it is
        def read(sink) -> None:
            while chunk := context.stream.read(1 << 20):
                sink.write(chunk)
        return Produced(read), request.dockerfile or "Dockerfile", None
    from pallet.remote.context_tar import prepare
    text = request.dockerfile_text
    if isinstance(text, str):
        text = text.encode()
    sent = prepare(context.directory, dockerfile=None if text is not None else request.dockerfile,
                   dockerfile_text=text)
    produced = Produced(sent.write)
    return produced, sent.dockerfile, produced


def _reader(response, documents: queue.Queue) -> None:
    """The host's JSON lines, into the queue as they come (None at the end)."""
    buffer = b""
    try:
        for chunk in response.iter_content(chunk_size=None):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    documents.put(json.loads(line))
        if buffer.strip():
            documents.put(json.loads(buffer))
    except (ValueError, OSError) as error:
        documents.put(error)
    except Exception as error:  # noqa: BLE001 - requests' stream errors, handed over whole
        documents.put(error)
    documents.put(None)


def build(client, request, *, progress: str = "auto", quiet: bool = False) -> str:
    from pallet.builder.progress import make_progress
    from pallet.remote.build_progress import Replay
    view = make_progress("quiet" if progress == "rawjson" else progress, quiet=quiet)
    replay = Replay(view)
    try:
        body, dockerfile, produced = _body(request)
        params = _params(request, dockerfile, quiet)
        headers = {"Content-Type": "application/x-tar"}
        client._set_auth_headers(headers)
        replay.start_upload(lambda: body.sent)
        try:
            with api_call(1):
                response = client.post(client._url("/build"), params=params, data=iter(body),
                                       headers=headers, stream=True)
                client._raise_for_status(response)
        except Exception:
            if produced is not None and isinstance(produced.error, PalletError):
                raise produced.error from None
            raise
        return _follow(response, replay, quiet=quiet)
    finally:
        view.close()


def _follow(response, replay, *, quiet: bool) -> str:
    documents: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(response, documents), daemon=True).start()
    image_id = None
    try:
        while True:
            try:
                document = documents.get(timeout=0.1 if replay.pending else None)
            except queue.Empty:
                replay.flush()
                continue
            if document is None:
                break
            if isinstance(document, Exception):
                raise RemoteError(f"the host's build stream broke: {document}") from document
            if document.get("errorDetail") or document.get("error"):
                replay.finish()
                detail = document.get("errorDetail") or {}
                raise BuildFailed(detail.get("message") or document.get("error"))
            if "aux" in document:
                image_id = (document["aux"] or {}).get("ID") or image_id
                continue
            text = document.get("stream")
            if quiet or not text or text.startswith(("Successfully built ",
                                                     "Successfully tagged ")):
                continue    # docker clients' lines (-q: the ID, printed by the caller)
            for line in replay.text(text):
                sys.stderr.write(line + "\n")
    finally:
        response.close()
    replay.finish()
    if image_id is None:
        raise RemoteError("the host ended the build without an image ID")
    return image_id
