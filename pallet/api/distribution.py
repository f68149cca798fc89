"""Registry endpoints: /images/create (pull, or import with fromSrc), push, distribution.

Progress is Docker's JSON-lines stream. As dockerd does, an error before the first line is an
HTTP error (404 for an image the registry does not have), one after it is the stream's
{"errorDetail": ..., "error": ...}. Credentials come only from X-Registry-Auth (base64url
JSON); the server's own logins are never used for a client.
"""

from __future__ import annotations

import base64
import binascii
import json

from pallet.api.protocol import ApiError


def registry_auth(request):
    """(user, password) from X-Registry-Auth, or () for anonymous."""
    header = request.headers.get("X-Registry-Auth")
    if not header:
        return ()
    try:
        padded = header + "=" * (-len(header) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise ApiError(400, "invalid X-Registry-Auth header: not base64url JSON") from None
    if not isinstance(document, dict):
        raise ApiError(400, "invalid X-Registry-Auth header: not a JSON object")
    if document.get("identitytoken"):
        raise ApiError(400, "identity tokens are not supported by pallet: send username and "
                            "password")
    if document.get("username") or document.get("password"):
        return (document.get("username") or "", document.get("password") or "")
    return ()


def _store(request):
    from pallet.runtime.store.content import Store
    return Store.open(request.server.root)


class _Progress:
    """Headers go out with the first line; until then an error is still an HTTP status.
    Also the engine's progress sink (pallet.base.progress): each event is one of dockerd's
    JSON lines, written as the work happens, from whichever thread does it."""

    def __init__(self, request) -> None:
        import threading

        self.request = request
        self.writer = None
        self.lock = threading.Lock()

    def line(self, document: dict) -> None:
        from pallet.base.progress import json_line
        with self.lock:
            if self.writer is None:
                self.writer = self.request.stream("application/json")
            self.writer.write(json_line(document))

    def emit(self, event) -> None:
        from pallet.base.progress import json_message
        self.line(json_message(event))

    def fail(self, error) -> None:
        from pallet.runtime.distribution.registry import RegistryError
        if self.writer is None:
            status = 404 if getattr(error, "status", None) in (401, 404) or \
                "not found" in error.message else 500
            if not isinstance(error, RegistryError):
                status = 500 if status != 404 else 404
            raise ApiError(status, error.message) from error
        self.writer.json({"errorDetail": {"message": error.message}, "error": error.message})

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def create_image(request) -> None:
    if request.arg("fromSrc") is not None:
        _import(request)
        return
    from pallet.base.errors import PalletError
    from pallet.runtime.distribution.transfer import pull_image
    from pallet.runtime.store import references as refs
    name = request.arg("fromImage") or ""
    if not name:
        raise ApiError(400, "fromImage or fromSrc is required")
    tag = request.arg("tag") or ""
    reference = name
    if tag:
        reference = f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"
    try:
        refs.parse_reference(reference).with_default_tag()   # a bad name is a 400 before any pull
    except PalletError as error:
        raise ApiError(400, error.message) from error
    credentials = registry_auth(request)
    platform = request.arg("platform") or "linux/amd64"
    progress = _Progress(request)
    try:   # the engine streams "Pulling from", each layer's states and bytes, Digest, Status
        pull_image(_store(request), reference, platform=platform, credentials=credentials,
                   progress=progress)
    except PalletError as error:
        progress.fail(error)
        progress.close()
        return
    progress.close()


def _import(request) -> None:
    from pallet.base.errors import PalletError
    from pallet.runtime.image.importing import import_rootfs
    source = request.arg("fromSrc")
    if source != "-":
        raise ApiError(400, "pallet imports only from the request body (fromSrc=-), not from "
                            "a URL")
    repository = request.arg("repo") or ""
    tag = request.arg("tag") or ""
    tags = [f"{repository}:{tag}" if tag else repository] if repository else []
    changes = request.query.get("changes") or []
    progress = _Progress(request)
    try:
        image = import_rootfs(_store(request), request.body(), tags=tags, changes=changes,
                              message=request.arg("message") or None,
                              platform=request.arg("platform") or None)
    except PalletError as error:
        progress.fail(error)
        progress.close()
        return
    progress.line({"status": image.id})
    progress.close()


def push(request) -> None:
    from pallet.base.errors import PalletError
    from pallet.runtime.distribution.transfer import NotLocal, push_image
    from pallet.runtime.store import references as refs
    name = request.params["name"]
    tag = request.arg("tag") or ""
    reference = f"{name}:{tag}" if tag else name
    try:
        parsed = refs.parse_reference(reference).with_default_tag()
    except PalletError as error:
        raise ApiError(400, error.message) from error
    credentials = registry_auth(request)
    progress = _Progress(request)
    # dockerd names the repository in full, then fails in the stream (the docker CLI prints
    # the message bare, without "Error response from daemon")
    progress.line({"status": f"The push refers to repository [{parsed.name}]"})
    try:
        from pallet.runtime.image.images import resolve_image
        resolve_image(_store(request), str(parsed))
    except PalletError:
        progress.fail(PalletError(f"An image does not exist locally with the tag: "
                                  f"{parsed.familiar_name}"))
        progress.close()
        return
    try:
        result = push_image(_store(request), str(parsed), credentials=credentials,
                            progress=progress)
    except NotLocal as error:
        progress.fail(error)
        progress.close()
        return
    except PalletError as error:
        progress.fail(error)
        progress.close()
        return
    progress.line({"progressDetail": {}, "aux": {"Tag": result.tag, "Digest": result.digest,
                                                 "Size": result.size}})
    progress.close()


def inspect(request) -> dict:
    """GET /distribution/{name}/json: the registry's descriptor of the image and the
    platforms it offers (an index's entries, or the one image's config)."""
    from pallet.base.errors import PalletError
    from pallet.runtime.distribution.registry import RegistryClient
    from pallet.runtime.store import references as refs
    try:
        parsed = refs.parse_reference(request.params["name"]).with_default_tag()
    except PalletError as error:
        raise ApiError(400, error.message) from error
    client = RegistryClient(parsed.domain, parsed.path, credentials=registry_auth(request))
    try:
        manifest = client.get_manifest(parsed.digest or parsed.tag)
        document = json.loads(manifest.data)
        platforms = [entry.get("platform") or {} for entry in document.get("manifests") or []]
        if not platforms and (document.get("config") or {}).get("digest"):
            blob = client.open_blob(document["config"]["digest"])
            try:
                config = json.loads(blob.read(1 << 20))
            finally:
                blob.close()
            platforms = [{"architecture": config.get("architecture", ""),
                          "os": config.get("os", "")}]
    except (PalletError, ValueError, AttributeError) as error:
        message = getattr(error, "message", str(error))
        # the spec's 401: "Failed authentication or no image found"
        status = 401 if getattr(error, "status", None) in (401, 403, 404) else 500
        raise ApiError(status, message) from error
    return {"Descriptor": {"mediaType": manifest.media_type, "digest": manifest.digest,
                           "size": len(manifest.data)},
            "Platforms": [{"architecture": p.get("architecture", ""), "os": p.get("os", ""),
                           **({"variant": p["variant"]} if p.get("variant") else {})}
                          for p in platforms]}
