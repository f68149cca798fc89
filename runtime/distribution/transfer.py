"""`pull` and `push`: images between the store and an OCI Distribution registry.

    pull_image(store, reference, *, platform=None (this machine's), on_resolved=None,
               credentials=None, progress=None) -> PullResult
    push_image(store, reference, *, credentials=None, progress=None) -> PushResult
                                                   (NotLocal: not in the store)

progress is a pallet.base.progress sink: the events dockerd streams for the same work, as the
work happens ("Pulling from", per layer Pulling fs layer / Downloading n of m / Verifying
Checksum / Download complete / Extracting / Pull complete, "Digest:", "Status:"; per layer
Preparing / Pushing / Pushed or Layer already exists, "TAG: digest: D size: N").

pull resolves the tag (or digest) to a manifest, picks the platform from an index or manifest
list, and then runs the same loader as `load` (runtime/archive.py) over the registry: every blob
is verified against its descriptor, every layer is unpacked with the layer checks and its diff
ID verified, and on any failure the blobs this pull added are deleted: no partial image, no tag.

push uploads what the registry lacks (HEAD first), config and layers before the manifest.
Layers go up several at once (runtime/distribution/upload.py); those the store keeps
uncompressed (the builder's default, as Docker's graph driver keeps them) are gzip-compressed
on both cores while they stream, as `docker push` compresses them, and a layer pushed before is
found by its recorded compressed digest (HEAD, or a cross-repository mount) instead of being
compressed again; the pushed manifest is an OCI image manifest naming the same config, so the
image ID is the same on every side.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass

from pallet.base.errors import PalletError
from pallet.base.progress import NULL, Note, State
from pallet.runtime.store import references as refs
from pallet.runtime.distribution.registry import RegistryClient, RegistryError
from pallet.runtime.store.content import REF_NAME, Store
from pallet.runtime.store.digests import Descriptor

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class NotLocal(PalletError):
    """push of a name the store does not have (Docker's CLI prints it without a prefix)."""


@dataclass(frozen=True)
class PullResult:
    reference: str               # full name, e.g. localhost:5000/app:1
    digest: str                  # what the tag pointed at in the registry
    layers: tuple[tuple[str, bool], ...]   # (blob digest, fetched now)
    up_to_date: bool


@dataclass(frozen=True)
class PushResult:
    repository: str              # full repository name
    tag: str
    digest: str                  # the manifest digest the registry stored
    size: int                    # its length in bytes
    layers: tuple[tuple[str, bool], ...]   # (diff ID, uploaded now)


def _client(parsed: refs.Reference, *, push: bool, credentials=None) -> RegistryClient:
    """credentials: (user, password); None reads the caller's stored login, () is anonymous
    (the Engine API passes what its client sent, never the server's own logins)."""
    return RegistryClient(parsed.domain, parsed.path, push=push, credentials=credentials)


class _RegistrySource:
    """The archive loader's view of a registry: members named blobs/<algorithm>/<hex> (the
    loader names only digests it has checked)."""

    def __init__(self, client: RegistryClient, manifests: dict[str, bytes]) -> None:
        self.client = client
        self.manifests = manifests
        self.fetched: set[str] = set()

    def has(self, name: str) -> bool:
        return False

    @contextlib.contextmanager
    def open(self, name: str):
        algorithm, hexdigest = name.split("/")[-2:]
        digest = f"{algorithm}:{hexdigest}"
        if digest in self.manifests:
            yield io.BytesIO(self.manifests[digest])
            return
        try:
            response = self.client.open_blob(digest)
        except RegistryError as error:
            if getattr(error, "status", None) != 404:
                raise
            response = self.client.open_manifest(digest)  # a platform manifest of an index
        self.fetched.add(digest)
        try:
            yield response
        finally:
            response.close()


def pull_image(store: Store, reference: str, *, platform: str | None = None,
               on_resolved=None, credentials=None, progress=None) -> PullResult:
    """on_resolved(): called once the registry has answered for the manifest (Docker prints
    its "Pulling from" line only then)."""
    from pallet.runtime.image.archive import Loader, load_oci_manifest
    from pallet.runtime.image.images import wanted_platform

    wanted_platform(platform)   # a bad --platform fails before the registry is asked
    parsed = refs.parse_reference(reference).with_default_tag()
    client = _client(parsed, push=False, credentials=credentials)
    client.ping()   # as Docker does first: an unreachable registry reads the same
    try:
        manifest = client.get_manifest(parsed.digest or parsed.tag)
    except RegistryError as error:
        if getattr(error, "status", None) == 404:
            raise RegistryError(f"manifest for {parsed.familiar()} not found: {error.message}",
                                hint="check the name and tag") from error
        raise
    progress = progress or NULL
    if on_resolved is not None:
        on_resolved()
    # Docker names the repository path without its registry here
    progress.emit(Note(parsed.tag or parsed.digest, f"Pulling from {parsed.path}"))
    full = str(parsed)
    before = {(e.get("annotations") or {}).get(REF_NAME): e.get("digest")
              for e in store.index_entries()}
    source = _RegistrySource(client, {manifest.digest: manifest.data})
    descriptor = Descriptor(manifest.digest, len(manifest.data), manifest.media_type).to_json()
    tags = [] if parsed.digest and not parsed.tag else [full]   # by digest: the digest names it
    with store.lease():
        loader = Loader(store, source, platform, progress, what=f"from {parsed.familiar()}",
                        pulling=True)
        try:
            image = load_oci_manifest(loader, descriptor, tags)
        except BaseException:
            loader.rollback()
            raise
    from pallet.runtime.image.committing import add_repo_digest

    add_repo_digest(store, image, parsed.name, manifest.digest)
    layers = tuple((layer.digest, layer.digest in source.fetched) for layer in image.layers)
    result = PullResult(reference=full, digest=manifest.digest, layers=layers,
                        up_to_date=before.get(full) == image.manifest_digest and not any(
                            fetched for _, fetched in layers))
    progress.emit(Note("", f"Digest: {result.digest}"))
    status = "Image is up to date for" if result.up_to_date else "Downloaded newer image for"
    progress.emit(Note("", f"Status: {status} {refs.familiar_string(result.reference)}"))
    from pallet.runtime.store.events import record_event
    record_event(store.root, "image", "pull", refs.familiar_string(result.reference),
                 {"name": refs.familiar_string(result.reference)})
    return result


def push_image(store: Store, reference: str, *, credentials=None, progress=None) -> PushResult:
    from pallet.runtime.image.images import resolve_image

    parsed = refs.parse_reference(reference)
    if parsed.digest:
        raise PalletError("cannot push a digest reference", hint="push name[:tag]")
    parsed = parsed.with_default_tag()
    try:
        image = resolve_image(store, str(parsed))
    except PalletError as error:
        raise NotLocal(f"An image does not exist locally with the tag: {parsed.familiar_name}",
                       exit_code=1) from error
    progress = progress or NULL
    client = _client(parsed, push=True, credentials=credentials)
    client.ping()
    # Docker works from the top layer down and lists the layers in that order
    top_first = list(zip(image.layers, image.diff_ids))[::-1]
    for _, diff_id in top_first:
        progress.emit(State(diff_id[7:19], "Preparing"))
    from pallet.runtime.distribution.upload import push_layers

    with store.lease():
        done = push_layers(store, client, top_first, progress)
        layers = {item.diff_id: item.descriptor for item in done}
        pushed = [(item.diff_id, item.uploaded) for item in reversed(done)]
        config = image.manifest["config"]
        if not client.has_blob(config["digest"]):
            with open(store.blob_path(config["digest"]), "rb") as handle:
                client.upload_blob(handle, config["digest"], config["size"])
        body = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                "config": {"mediaType": config.get("mediaType") or
                           "application/vnd.oci.image.config.v1+json",
                           "digest": config["digest"], "size": config["size"]},
                "layers": [layers[diff_id].to_json() for diff_id in image.diff_ids]}
        data = json.dumps(body, separators=(",", ":")).encode()
        digest = client.put_manifest(parsed.tag, data, MT_OCI_MANIFEST)
    progress.emit(Note("", f"{parsed.tag}: digest: {digest} size: {len(data)}"))
    from pallet.runtime.image.committing import add_repo_digest

    add_repo_digest(store, image, parsed.name, digest)   # Docker's RepoDigests after a push
    from pallet.runtime.store.events import record_event
    pushed_name = refs.familiar_string(f"{parsed.name}:{parsed.tag}")
    record_event(store.root, "image", "push", pushed_name, {"name": pushed_name})
    return PushResult(repository=parsed.name, tag=parsed.tag, digest=digest, size=len(data),
                      layers=tuple(pushed))
