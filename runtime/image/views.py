"""What a user sees of an image, computed once for both fronts (the CLI formats these
documents, the Engine API serialises them): the inspect document and the history entries.

    inspect_document(image) -> dict        Docker's `image inspect` document
    history_entries(store, image) -> list[HistoryEntry]   newest first, with layer sizes
    image_rows(store, filters) -> list[ImageRow]   `images`: one row per repository:tag (and per
        repository known only by digest), newest image first, filtered as moby filters
"""

from __future__ import annotations

from dataclasses import dataclass

CONTAINER_CONFIG_KEYS = [
    ("Hostname", ""), ("Domainname", ""), ("User", ""), ("AttachStdin", False),
    ("AttachStdout", False), ("AttachStderr", False), ("ExposedPorts", None), ("Tty", False),
    ("OpenStdin", False), ("StdinOnce", False), ("Env", None), ("Cmd", None), ("Healthcheck", None),
    ("ArgsEscaped", None), ("Image", ""), ("Volumes", None), ("WorkingDir", ""), ("Entrypoint", None),
    ("OnBuild", None), ("Labels", None), ("StopSignal", None), ("Shell", None)]
OMIT_EMPTY = {"ExposedPorts", "Healthcheck", "ArgsEscaped", "StopSignal", "Shell"}


def docker_config(section: dict | None) -> dict:
    """The image config's "config" in Docker's inspect shape (every field, Go zero values)."""
    section = section or {}
    out = {}
    for key, default in CONTAINER_CONFIG_KEYS:
        value = section.get(key, default)
        if key in OMIT_EMPTY and value in (None, {}, []):
            continue
        out[key] = value
    for key, value in section.items():
        out.setdefault(key, value)
    return out


def repo_digests(image) -> list[str]:
    """What a registry holds the image as (recorded by pull and push), as Docker shows it."""
    from pallet.runtime.store.references import familiar
    return sorted(f"{familiar(name.split('@')[0])}@{name.split('@')[1]}"
                  for name in image.references if "@" in name)


def inspect_document(image) -> dict:
    config = image.config
    document = {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": repo_digests(image),
        "Parent": "",
        "Comment": config.get("comment", ""),
        "Created": config.get("created", ""),
        "Container": config.get("container", ""),
        "ContainerConfig": docker_config(config.get("container_config")),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": docker_config(config.get("config")),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Data": None, "Name": "overlayfs"},
        "RootFS": {"Type": "layers", "Layers": list(image.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }
    if config.get("variant"):
        document["Variant"] = config["variant"]
    return document


@dataclass(frozen=True)
class HistoryEntry:
    """One line of `history`: a step of the image's config and its layer's size."""

    created: str          # RFC 3339 as the config records it ("" when unknown)
    created_by: str
    comment: str
    size: int             # the layer's content size; 0 for an empty_layer step
    empty_layer: bool


def history_entries(store, image) -> list[HistoryEntry]:
    """The config's history, newest first, each step with the size of the layer it made."""
    from pallet.runtime.store.layerinfo import layer_content_size
    entries = image.config.get("history") or [{} for _ in image.diff_ids]
    layer_index = 0
    result = []
    for entry in entries:
        size = 0
        empty = bool(entry.get("empty_layer"))
        if not empty and layer_index < len(image.diff_ids):
            known = layer_content_size(store, image.diff_ids[layer_index])
            size = known if known is not None else image.layers[layer_index].size
            layer_index += 1
        result.append(HistoryEntry(created=entry.get("created", ""),
                                   created_by=entry.get("created_by", ""),
                                   comment=entry.get("comment", ""), size=size, empty_layer=empty))
    result.reverse()
    return result


@dataclass(frozen=True)
class ImageRow:
    """One row of `images`: a reference (or <none>) of an image."""

    repository: str      # familiar, "<none>" for a dangling image
    tag: str
    id: str
    digest: str          # the repository's registry digest (pull/push), or "<none>"
    created: str         # RFC 3339
    size: int


def image_rows(store, filters: dict[str, list[str]] | None = None) -> list[ImageRow]:
    """What `images` lists. There are no intermediate images (pallet's builder makes none, and
    no image records a parent), so Docker's -a would list the same rows."""
    from pallet.runtime.image.filters import ImageFilter, image_labels
    from pallet.runtime.image.images import list_images
    from pallet.runtime.store.references import familiar

    wanted = ImageFilter.parse(store, filters or {})
    rows = []
    for summary in list_images(store):
        if not wanted.matches(summary, image_labels(store, summary) if wanted.needs_labels
                              else None):
            continue
        digests: dict[str, str] = {}
        for name in summary.references:
            if "@" in name:
                repository, _, digest = name.partition("@")
                digests.setdefault(familiar(repository), digest)
        pairs = [tag.rsplit(":", 1) for tag in wanted.tags(summary)]
        tagged = {repository for repository, _ in pairs}
        pairs += [(repository, "<none>") for repository in digests
                  if repository not in tagged and wanted.repository_matches(repository)]
        if not summary.references:
            pairs = [("<none>", "<none>")]
        rows += [ImageRow(repository=repository, tag=tag, id=summary.id,
                          digest=digests.get(repository, "<none>"), created=summary.created,
                          size=summary.size) for repository, tag in pairs]
    return rows
