"""The image model: OCI manifest + config in the store, named by tags in index.json.

Public API (stable):

    Image               frozen: id, manifest_digest, manifest, config, layers (Descriptors),
                        diff_ids, repo_tags (familiar "busybox:latest"), references (full names),
                        media_type, created, size;  image.layer_objects() -> list[Layer]
    resolve_image(store, reference: str) -> Image
        name, name:tag, name@sha256:..., full ID (sha256:... or 64 hex), unique short ID prefix.
        Missing: PalletError("No such image: <reference>").
    select_platform(index: dict, platform: str | None = None) -> dict   (index/list entry; None:
        this machine's platform)
    list_images(store) -> list[ImageSummary]         newest first
    image_by_manifest(store, manifest_digest) -> Image
    entry_image_id(store, index entry) -> image ID; familiar_tag(name)
Writing images and moving tags (commit_image, store_manifest, tag_image, add_repo_digest,
index_entry) is in committing.py; removal and garbage collection (remove_image, image_users, collect_garbage, ...) are in
removal.py; both build on this module (this one imports neither).

Index entries: one descriptor per tag (org.opencontainers.image.ref.name = full reference,
e.g. docker.io/library/busybox:latest), or one without a name for a dangling image. Each entry
also carries vnd.pallet.image.{id,created,size} annotations so `pallet images` reads no blobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from pallet.base.errors import PalletError
from pallet.base.units import parse_rfc3339
from pallet.runtime.store import references as refs
from pallet.runtime.store.content import REF_NAME, Store
from pallet.runtime.store.digests import Descriptor, check_digest
from pallet.runtime.store.layerinfo import layer_content_size, layer_size

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MANIFEST_TYPES = {MT_OCI_MANIFEST, MT_DOCKER_MANIFEST}
INDEX_TYPES = {MT_OCI_INDEX, MT_DOCKER_LIST}
ANN_ID = "vnd.pallet.image.id"
ANN_CREATED = "vnd.pallet.image.created"
ANN_SIZE = "vnd.pallet.image.size"


@dataclass(frozen=True)
class Image:
    """An image in the store: its ID (the config's digest), manifest, config and layers."""

    id: str
    manifest_digest: str
    manifest: dict = field(compare=False, hash=False)
    config: dict = field(compare=False, hash=False)
    layers: tuple = ()
    diff_ids: tuple = ()
    repo_tags: tuple = ()
    references: tuple = ()
    media_type: str = MT_OCI_MANIFEST
    manifest_size: int = 0
    size: int = 0

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def created(self) -> str:
        created = self.config.get("created")
        return created if isinstance(created, str) else ""

    def layer_objects(self, store: Store | None = None) -> list:
        """The layers as Layer objects, e.g. to build on top of this image with commit_image."""
        from pallet.runtime.image.layers import Layer
        return [Layer(digest=d.digest, size=d.size, media_type=d.media_type, diff_id=diff_id,
                      uncompressed_size=layer_size(store, diff_id) if store else None)
                for d, diff_id in zip(self.layers, self.diff_ids)]


@dataclass(frozen=True)
class ImageSummary:
    """What `images` lists of an image: its ID, references, creation time and size."""

    id: str
    manifest_digest: str
    references: tuple      # full references, e.g. docker.io/library/busybox:latest
    created: str
    size: int

    @property
    def dangling(self) -> bool:
        return not self.references


def wanted_platform(platform: str | None):
    """The platform a pull or load asks for (None: this machine's), or a clear error."""
    from pallet.base.platforms import host_platform, parse_platform
    try:
        return parse_platform(platform) if platform else host_platform()
    except ValueError as error:
        raise PalletError(str(error), hint="use os/arch[/variant], e.g. linux/amd64") from error


def select_platform(index: dict, platform: str | None = None) -> dict:
    """The descriptor for platform ("os/arch[/variant]", normalised as containerd does) in an
    OCI index or Docker manifest list."""
    wanted = wanted_platform(platform)
    for entry in index.get("manifests") or []:
        offered = entry.get("platform") if isinstance(entry, dict) else None
        if isinstance(offered, dict) and all(isinstance(offered.get(k, ""), str)
                                             for k in ("os", "architecture", "variant")) and \
                wanted.matches(offered.get("os", ""), offered.get("architecture", ""),
                               offered.get("variant", "")):
            return entry
    raise PalletError(f"no image for platform {wanted} in the index",
                      hint="choose another --platform")


def diff_ids_of(config, *, what: str) -> list[str]:
    """rootfs.diff_ids of an image config, each a well-formed digest, else a PalletError (a
    config from outside, or a damaged store: never an AttributeError on `rootfs: 5`)."""
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if diff_ids is None and isinstance(rootfs, dict) and "diff_ids" not in rootfs:
        diff_ids = []
    if not isinstance(diff_ids, list):
        raise PalletError(f"invalid image config {what}: rootfs.diff_ids is not a list",
                          hint="the image is corrupt")
    for index, diff_id in enumerate(diff_ids):
        try:
            check_digest(diff_id, what=f"diff ID at rootfs/diff_ids/{index}")
        except PalletError as error:
            raise PalletError(f"invalid image config {what}: {error.message}",
                              hint=error.hint) from error
    return diff_ids


# ---- reading --------------------------------------------------------------------------------

def _load_image(store: Store, entry: dict, entries: list[dict]) -> Image:
    descriptor = Descriptor.from_json(entry)
    manifest = store.read_json_blob(descriptor.digest, descriptor.size)
    media_type = manifest.get("mediaType") or descriptor.media_type
    if media_type in INDEX_TYPES or "manifests" in manifest:
        raise PalletError(f"{descriptor.digest} is an image index, not an image manifest")
    try:
        config_desc = Descriptor.from_json(manifest["config"])
        layers = tuple(Descriptor.from_json(layer) for layer in manifest.get("layers") or [])
    except (KeyError, TypeError) as error:
        raise PalletError(f"manifest {descriptor.digest} is malformed: no config") from error
    config = store.read_json_blob(config_desc.digest, config_desc.size)
    diff_ids = tuple(diff_ids_of(config, what=config_desc.digest))
    if len(diff_ids) != len(layers):
        raise PalletError(f"image {config_desc.digest} is malformed: {len(layers)} layers but "
                          f"{len(diff_ids)} diff IDs")
    names = tuple(sorted({e["annotations"][REF_NAME] for e in entries
                          if entry_image_id(store, e) == config_desc.digest
                          and (e.get("annotations") or {}).get(REF_NAME)}))
    size = _entry_size(store, entry, diff_ids, layers)
    return Image(id=config_desc.digest, manifest_digest=descriptor.digest, manifest=manifest,
                 config=config, layers=layers, diff_ids=diff_ids,
                 repo_tags=tuple(familiar_tag(name) for name in names if "@" not in name),
                 references=names, media_type=media_type, manifest_size=descriptor.size, size=size)


def familiar_tag(name: str) -> str:
    try:
        return refs.familiar_string(name)
    except PalletError:
        return name


def _entry_size(store, entry, diff_ids, layers) -> int:
    annotated = (entry.get("annotations") or {}).get(ANN_SIZE)
    if annotated and annotated.isdigit():
        return int(annotated)
    return image_content_size(store, diff_ids, layers)


def image_content_size(store: Store, diff_ids, layers) -> int:
    """Docker's image SIZE: the layers' content bytes (blob sizes for layers never unpacked)."""
    total = 0
    for diff_id, layer in zip(diff_ids, layers):
        known = layer_content_size(store, diff_id)
        total += known if known is not None else layer.size
    return total


def entry_image_id(store: Store, entry: dict) -> str | None:
    annotated = (entry.get("annotations") or {}).get(ANN_ID)
    if annotated:
        return annotated
    try:
        manifest = store.read_json_blob(entry["digest"], entry.get("size"))
        return manifest["config"]["digest"]
    except (PalletError, KeyError, TypeError):
        return None


class ImageNotFound(PalletError):
    """No image by that reference (Docker's 404). ``reference``: what was looked up, when
    the message is resolve_image's "No such image" (the API answers in the engine's
    spelling of it, references.engine_spelling)."""

    reference: str | None = None


def _not_found(reference: str) -> PalletError:
    error = ImageNotFound(f"No such image: {reference}",
                          hint="run `pallet images` to see the local images, or pull/load/build it")
    error.reference = reference
    return error


def resolve_image(store: Store, reference: str) -> Image:
    """Find an image by name, name:tag, name@digest, full ID or unique short ID prefix."""
    entries = store.index_entries()
    text = reference.strip()
    if refs.is_full_id(text):
        full = text if text.startswith("sha256:") else "sha256:" + text
        for entry in entries:
            if entry_image_id(store, entry) == full:
                return _load_image(store, entry, entries)
        raise _not_found(reference)
    try:
        parsed = refs.parse_reference(text)
    except PalletError:
        if not refs.looks_like_id_prefix(text):
            raise
        parsed = None
    if parsed is not None:
        if parsed.digest:
            wanted = str(parsed)
            for entry in entries:
                if (entry.get("annotations") or {}).get(REF_NAME) == wanted or \
                        entry.get("digest") == parsed.digest:
                    return _load_image(store, entry, entries)
        else:
            wanted = str(parsed.with_default_tag())
            for entry in entries:
                if (entry.get("annotations") or {}).get(REF_NAME) == wanted:
                    return _load_image(store, entry, entries)
    if refs.looks_like_id_prefix(text) and ":" not in text.removeprefix("sha256:"):
        prefix = text if text.startswith("sha256:") else "sha256:" + text
        matches: dict[str, dict] = {}
        for entry in entries:
            image_id = entry_image_id(store, entry)
            if image_id and image_id.startswith(prefix):
                matches.setdefault(image_id, entry)
        if len(matches) == 1:
            return _load_image(store, next(iter(matches.values())), entries)
        if len(matches) > 1:
            raise PalletError(f"No such image: {reference} (the short ID is ambiguous: "
                              f"{len(matches)} images match)", hint="give more digits of the ID")
    raise _not_found(reference)


def names_to_ids(store: Store) -> dict[str, str]:
    """Every full reference name in the store -> the image ID it names (one index read)."""
    found = {}
    for entry in store.index_entries():
        name = (entry.get("annotations") or {}).get(REF_NAME)
        image_id = entry_image_id(store, entry) if name else None
        if image_id:
            found[name] = image_id
    return found


def still_names(reference: str, image_id: str, names: dict[str, str]) -> bool:
    """Whether reference (as a container was created from it) still names image_id: Docker's
    `ps` shows the image ID instead once the name was removed or moved to another image."""
    bare = reference.removeprefix("sha256:")
    if refs.looks_like_id_prefix(reference) and image_id.startswith("sha256:" + bare):
        return True
    try:
        parsed = refs.parse_reference(reference)
    except PalletError:
        return False
    if parsed.digest:
        return any(name.endswith("@" + parsed.digest) and found == image_id
                   for name, found in names.items())
    return names.get(str(parsed.with_default_tag())) == image_id


def image_by_manifest(store: Store, manifest_digest: str) -> Image:
    entries = store.index_entries()
    for entry in entries:
        if entry.get("digest") == manifest_digest:
            return _load_image(store, entry, entries)
    raise _not_found(manifest_digest)


def list_images(store: Store) -> list[ImageSummary]:
    """One summary per image ID, newest first (what `pallet images` shows)."""
    entries = store.index_entries()
    by_id: dict[str, dict] = {}
    for entry in entries:
        annotations = entry.get("annotations") or {}
        image_id = entry_image_id(store, entry)
        if image_id is None:
            continue
        info = by_id.get(image_id)
        if info is None:
            created = annotations.get(ANN_CREATED)
            size = annotations.get(ANN_SIZE)
            if created is None or size is None:
                try:
                    image = _load_image(store, entry, entries)
                except PalletError:
                    continue
                created, size = image.created, image.size
            info = by_id[image_id] = {"manifest": entry["digest"], "refs": [], "created": created,
                                      "size": int(size)}
        name = annotations.get(REF_NAME)
        if name:
            info["refs"].append(name)
    summaries = [ImageSummary(id=image_id, manifest_digest=info["manifest"],
                              references=tuple(sorted(set(info["refs"]))),
                              created=info["created"], size=info["size"])
                 for image_id, info in by_id.items()]
    epoch = datetime.fromtimestamp(0, timezone.utc)
    summaries.sort(key=lambda s: (parse_rfc3339(s.created) or epoch, s.id), reverse=True)
    return summaries


# ---- writing --------------------------------------------------------------------------------
