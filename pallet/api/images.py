"""Image endpoints: list, inspect, history, tag, delete, prune, get (save), load, search."""

from __future__ import annotations

from pallet.api.protocol import ApiError, Reply


def _store(request):
    from pallet.runtime.store.content import Store
    return Store.open(request.server.root)


def unix_time(created: str) -> int:
    from pallet.base.units import parse_rfc3339
    moment = parse_rfc3339(created)
    return int(moment.timestamp()) if moment else 0


def list_images(request) -> list:
    from pallet.runtime.image.filters import ImageFilter, image_labels
    from pallet.runtime.image.images import list_images as summaries_of
    from pallet.runtime.store.references import familiar_string
    store = _store(request)
    wanted = ImageFilter.parse(store, request.filters())
    with_digests = request.flag("digests", True)
    documents = []
    for summary in summaries_of(store):
        labels = image_labels(store, summary)
        if not wanted.matches(summary, labels):
            continue
        tags = wanted.tags(summary)
        digests = sorted({familiar_string(name) for name in summary.references if "@" in name})
        document = {
            "Id": summary.id, "ParentId": "", "RepoTags": tags,
            "RepoDigests": digests if with_digests else [],
            "Created": unix_time(summary.created), "Size": summary.size, "SharedSize": -1,
            "Labels": labels, "Containers": -1,
        }
        if request.version < (1, 44):
            document["VirtualSize"] = summary.size   # removed from the API in 1.44
            if not tags:
                document["RepoTags"] = ["<none>:<none>"] if request.version < (1, 40) else []
        documents.append(document)
    return documents


def inspect(request) -> dict:
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.views import inspect_document
    document = inspect_document(resolve_image(_store(request), request.params["name"]))
    document["GraphDriver"] = {"Name": "overlay2", "Data": {}}
    # the API leaves out empty config fields (Go's omitempty); the CLI's document shows null
    document["Config"] = {k: v for k, v in document["Config"].items() if v is not None}
    if request.version >= (1, 44):
        for key in ("VirtualSize", "Container", "ContainerConfig"):
            document.pop(key, None)
    return document


def history(request) -> list:
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.views import history_entries
    store = _store(request)
    image = resolve_image(store, request.params["name"])
    entries = history_entries(store, image)
    return [{"Id": image.id if position == 0 else "<missing>",
             "Created": unix_time(entry.created), "CreatedBy": entry.created_by,
             "Tags": list(image.repo_tags) if position == 0 else [], "Size": entry.size,
             "Comment": entry.comment}
            for position, entry in enumerate(entries)]


def tag(request) -> Reply:
    from pallet.base.errors import PalletError
    from pallet.runtime.image.committing import tag_image
    from pallet.runtime.image.images import ImageNotFound
    repository = request.arg("repo") or ""
    label = request.arg("tag") or ""
    if not repository:
        raise ApiError(400, "repository name must have at least one component")
    target = f"{repository}:{label}" if label else repository
    try:
        tag_image(_store(request), request.params["name"], target)
    except ImageNotFound:
        raise
    except PalletError as error:
        raise ApiError(400, error.message) from error
    return Reply(201)


def delete(request) -> list:
    from pallet.runtime.image.removal import remove_image
    lines = remove_image(_store(request), request.params["name"], force=request.flag("force"))
    return [{action: subject} for action, subject in lines]


def prune(request) -> dict:
    from pallet.runtime.image.filters import prune_selection
    from pallet.runtime.store.check import prune_images
    store = _store(request)
    all_images, selected = prune_selection(store, request.filters())
    lines, reclaimed = prune_images(store, all_images=all_images, selected=selected)
    return {"ImagesDeleted": [{action: subject} for action, subject in lines],
            "SpaceReclaimed": reclaimed}


def _save(request, names: list[str]) -> None:
    from pallet.runtime.image.archive_save import save_images
    from pallet.runtime.image.images import ImageNotFound, resolve_image
    store = _store(request)
    for name in names:
        try:
            resolve_image(store, name)   # a missing image is a 404, before any byte of the tar
        except ImageNotFound as error:
            # dockerd's image exporter names it as asked, unlike its other image lookups
            raise ApiError(404, f"No such image: {name}") from error
    writer = request.stream("application/x-tar")
    save_images(store, names, writer)
    writer.close()


def save_one(request) -> None:
    _save(request, [request.params["name"]])


def save_many(request) -> None:
    names = request.query.get("names") or []
    if not names:
        raise ApiError(400, "no images named: give names=")
    _save(request, names)


def load(request) -> None:
    from pallet.base.errors import PalletError
    from pallet.runtime.image.archive import load_images
    store = _store(request)
    body = request.body()
    try:
        lines = load_images(store, body, stream_name="the uploaded archive")
    except PalletError as error:
        # Docker answers a bad archive in the stream's error shape, after a 200
        writer = request.stream("application/json")
        writer.json({"errorDetail": {"message": error.message}, "error": error.message})
        writer.close()
        return
    writer = request.stream("application/json")
    for line in lines:
        writer.json({"stream": line.rstrip("\n") + "\n"})
    writer.close()


def search(request) -> Reply:
    # the spec's only failure status here is 500; the message says why
    raise ApiError(500, "pallet does not search registries: it keeps no index of them")
