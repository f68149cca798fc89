"""Docker's image filters (`images --filter`, GET /images/json, POST /images/prune).

    ImageFilter.parse(store, {"dangling": ["true"], "label": ["a=b"], ...}, allowed=...) -> ImageFilter
    flt.matches(summary, labels) -> bool
    flt.tags(summary) -> the familiar tags a `reference` filter lets through
    image_labels(store, summary) -> dict      the image's labels (for label filters)
    prune_selection(store, filters) -> (all_images, selected)   `image prune`'s filters, for
        check.prune_images: dangling=true (the default) or false (-a), label, label!, until

Keys as moby's daemon knows them: dangling, label, before, since, reference (list), until
(prune). An unknown key or a bad value is Docker's "invalid filter" error.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from pallet.base.errors import PalletError

LIST_KEYS = frozenset({"dangling", "label", "before", "since", "reference"})
PRUNE_KEYS = frozenset({"dangling", "label", "label!", "until"})


class InvalidFilter(PalletError):
    http_status = 400


@dataclass(frozen=True)
class ImageFilter:
    """`images --filter` and prune's filters, parsed."""

    dangling: bool | None = None
    labels: tuple[str, ...] = ()          # key or key=value, all must match
    not_labels: tuple[str, ...] = ()      # label!= (prune): none may match
    before: float | None = None           # created strictly before this image
    since: float | None = None            # created strictly after this image
    references: tuple[str, ...] = ()      # any pattern matches a tag
    until: float | None = None            # created before this time (prune)

    @property
    def needs_labels(self) -> bool:
        return bool(self.labels or self.not_labels)

    @classmethod
    def parse(cls, store, filters: dict[str, list[str]], *,
              allowed: frozenset[str] = LIST_KEYS) -> "ImageFilter":
        for key in filters:
            if key not in allowed:
                raise InvalidFilter(f"invalid filter '{key}'")
        fields = {}
        for value in filters.get("dangling", []):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidFilter(f"Invalid filter 'dangling={value}'")
            fields["dangling"] = value.lower() in ("true", "1")
        fields["labels"] = tuple(filters.get("label", []))
        fields["not_labels"] = tuple(filters.get("label!", []))
        fields["references"] = tuple(filters.get("reference", []))
        for key in ("before", "since"):
            for value in filters.get(key, []):
                fields[key] = _image_time(store, value)
        for value in filters.get("until", []):
            fields["until"] = _timestamp(value)
        return cls(**fields)

    def matches(self, summary, labels: dict | None = None) -> bool:
        if self.dangling is not None and summary.dangling != self.dangling:
            return False
        created = _created(summary)
        if self.before is not None and not created < self.before:
            return False
        if self.since is not None and not created > self.since:
            return False
        if self.until is not None and not created < self.until:
            return False
        labels = labels or {}
        if not all(_label_matches(labels, wanted) for wanted in self.labels):
            return False
        if any(_label_matches(labels, unwanted) for unwanted in self.not_labels):
            return False
        if self.references and not self.tags(summary):
            return False
        return True

    def repository_matches(self, repository: str) -> bool:
        """Whether a repository (familiar name) passes the reference filter, if any."""
        return not self.references or any(fnmatch.fnmatchcase(repository, pattern)
                                          for pattern in self.references)

    def tags(self, summary) -> list[str]:
        """The image's familiar tags (name:tag), only those a reference filter matches."""
        from pallet.runtime.store.references import familiar_string
        tags = [familiar_string(name) for name in summary.references if "@" not in name]
        if not self.references:
            return tags
        return [tag for tag in tags if any(_reference_matches(tag, pattern)
                                           for pattern in self.references)]


def image_labels(store, summary) -> dict:
    """The labels of the summary's image config, read through its manifest: two small blob
    reads, no index scan per image (GET /images/json shows every image's labels)."""
    try:
        manifest = store.read_json_blob(summary.manifest_digest)
        config = store.read_json_blob(manifest["config"]["digest"])
    except (PalletError, OSError, KeyError, TypeError):
        return {}    # removed while we listed (or unreadable): no labels to show
    labels = (config.get("config") or {}).get("Labels") if isinstance(config, dict) else None
    return labels if isinstance(labels, dict) else {}


def prune_selection(store, filters: dict[str, list[str]]):
    """What `image prune` (and POST /images/prune) removes: dangling images unless
    dangling=false (the CLI's -a), narrowed by the other prune filters."""
    filters = dict(filters)
    dangling_only = True
    for value in filters.pop("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidFilter(f"Invalid filter 'dangling={value}'")
        dangling_only = value.lower() in ("true", "1")
    wanted = ImageFilter.parse(store, filters, allowed=PRUNE_KEYS)

    def selected(summary) -> bool:
        return wanted.matches(summary, image_labels(store, summary) if wanted.needs_labels else None)

    return not dangling_only, selected


def _reference_matches(tag: str, pattern: str) -> bool:
    repository = tag.rsplit(":", 1)[0]
    return fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(repository, pattern)


def _label_matches(labels: dict, wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _created(summary) -> float:
    from pallet.base.units import parse_rfc3339
    moment = parse_rfc3339(summary.created)
    return moment.timestamp() if moment else 0.0


def _image_time(store, reference: str) -> float:
    from pallet.base.units import parse_rfc3339
    from pallet.runtime.image.images import ImageNotFound, resolve_image
    try:
        image = resolve_image(store, reference)
    except ImageNotFound as error:
        raise InvalidFilter(error.message) from error
    moment = parse_rfc3339(image.created)
    return moment.timestamp() if moment else 0.0


def _timestamp(value: str) -> float:
    """until=: Docker's GetTimestamp forms (a Go duration before now, a time, Unix seconds)."""
    import time

    from pallet.base.units import docker_timestamp
    try:
        return docker_timestamp(value, time.time())
    except ValueError as error:
        raise InvalidFilter(f"invalid filter 'until={value}'") from error
