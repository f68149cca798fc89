"""The built image's config and the history entries its steps add (BuildKit's shapes).

``state`` is an execute.StageState (its history and the base's platform fields), ``options``
an execute.BuildOptions (SOURCE_DATE_EPOCH); ``step`` a steps.Step.

    created_time(options) -> str              now, or SOURCE_DATE_EPOCH, as the config writes it
    history_entry(line, created=, empty_layer=) -> dict    Go's field order
    add_history(history, entry, layers) -> History         one entry per layer
    last_created(state, options) -> str       the time a metadata step (and the image) takes
    final_image_config(state=, step=, labels=, options=) -> dict
"""

from __future__ import annotations

from typing import Any


def created_time(options) -> str:
    from datetime import datetime, timezone
    if options.source_date_epoch is not None:
        moment = datetime.fromtimestamp(options.source_date_epoch, timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def add_history(history, entry: dict, layers: int):
    """One history entry per layer (a chunked COPY has several, each with the step's entry),
    one for a step without a layer: the image spec pairs non-empty entries with layers."""
    for _ in range(max(layers, 1)):
        history = history.add(entry)
    return history


def history_entry(line: dict, *, created: str, empty_layer: bool | None = None) -> dict:
    """A history entry with Go's field order (created, created_by, author, comment,
    empty_layer): the config bytes, hence the image ID, must not depend on dict order."""
    entry = {"created": created, "created_by": line.get("created_by", "")}
    for key in ("author", "comment"):
        if line.get(key):
            entry[key] = line[key]
    empty = line.get("empty_layer") if empty_layer is None else empty_layer
    if empty:
        entry["empty_layer"] = True
    return entry


def last_created(state, options) -> str:
    if options.source_date_epoch is not None:
        return created_time(options)
    for entry in reversed(state.history):
        if entry.get("created"):
            return entry["created"]
    return created_time(options)


def final_image_config(*, state, step, labels: dict[str, str], options) -> dict[str, Any]:
    """The OCI image config of the built image (BuildKit's shape)."""
    config = dict(step.config)
    if labels:
        config["Labels"] = {**(config.get("Labels") or {}), **labels}
    image: dict[str, Any] = dict(state.image_config)
    if "architecture" not in image:
        from pallet.base.platforms import host_arch  # rare (scratch): cached builds skip it
        image["architecture"] = host_arch()
    image.setdefault("os", "linux")
    image["config"] = config
    image["created"] = last_created(state, options)
    image["history"] = list(state.history)
    if step.author:
        image["author"] = step.author
    return image

