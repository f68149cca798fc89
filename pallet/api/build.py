"""POST /build (the classic builder's API) and POST /build/prune.

The body is the context as a tar (chunked or not, maybe compressed); the query becomes the same
BuildRequest the CLI makes, and the same builder runs it. The answer is Docker's JSON-lines
stream: {"stream": text} for the progress (pallet's plain progress lines), {"aux": {"ID": id}}
and "Successfully built/tagged" at the end (docker-py finds the image by them), and a failure
as {"errorDetail": {"message": ...}, "error": ...}. A client that goes away mid-build stops
it: the next progress write fails, the builder unwinds (build containers killed, scratch
removed, nothing tagged).
"""

from __future__ import annotations

import json
import threading

from pallet.api.protocol import ApiError

# classic-builder parameters pallet has no counterpart for: refused unless at their zero value
_UNSUPPORTED = {"squash": "squashing", "outputs": "outputs",
                "cpusetcpus": "a CPU set", "cpusetmems": "a memory-node set",
                "cpushares": "CPU shares", "shmsize": "a /dev/shm size",
                "memswap": "a swap limit", "ulimits": "ulimits", "isolation": "isolation",
                "session": "a BuildKit session"}


class ClientGone(Exception):
    """The client stopped reading: the build is abandoned."""


class _StreamLines:
    """A text stream for the builder's progress that becomes {"stream": ...} messages."""

    def __init__(self, writer) -> None:
        self.writer = writer
        self.lock = threading.Lock()
        self.broken = False

    def write(self, text: str) -> int:
        if text:
            self.send({"stream": text})
        return len(text)

    def send(self, document: dict) -> None:
        with self.lock:
            if self.broken:
                raise ClientGone()
            try:
                self.writer.json(document)
            except OSError as error:
                self.broken = True
                raise ClientGone() from error

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


class _Body:
    """The request body as the builder reads it: a body that ends early (a client gone
    mid-upload, a short Content-Length body, broken chunking) is the builder's error, so the
    build stops with a message instead of taking what came for the whole context."""

    def __init__(self, reader) -> None:
        self.reader = reader

    def read(self, size: int = -1) -> bytes:
        from pallet.base.errors import PalletError
        try:
            data = self.reader.read(size)
        except (ApiError, OSError) as error:
            raise PalletError(f"the build context upload ended early: {error}",
                              hint="the client stopped sending; nothing was built") from error
        if size != 0 and not data and not self.reader.done:
            raise PalletError("the build context upload ended early: the connection closed "
                              "before the whole request body came",
                              hint="the client stopped sending; nothing was built")
        return data


def _kept_name(dockerfile: str, tags: tuple[str, ...]) -> str:
    """Which kept context tree the build updates (builder/keptcontext.py says why by the
    request's words): its Dockerfile path and its tags' repositories, so `-t app:2` after
    `-t app:1` finds the same tree."""
    from pallet.builder.keptcontext import slot_key
    repositories = sorted({tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
                           for tag in tags})
    return slot_key("api", dockerfile, *repositories)


def _json_arg(request, name: str) -> dict:
    text = request.arg(name)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ApiError(400, f"invalid {name}: not JSON: {text[:80]!r}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) or v is None
                                              for v in value.values()):
        raise ApiError(400, f"invalid {name}: expected an object of strings")
    return value


def _request(request):
    from pallet.base.errors import PalletError
    from pallet.builder.request import BuildRequest, ContextSource
    from pallet.runtime.image.committing import normalize_tags
    if request.arg("remote"):
        raise ApiError(400, "remote build contexts are not supported: send the context as the "
                            "request body")
    for name, what in _UNSUPPORTED.items():
        value = request.arg(name)
        if value not in (None, "", "0", "false", "[]", "{}", "null"):
            raise ApiError(400, f"pallet cannot build with {what} ({name}={value})")
    tags = tuple(request.query.get("t") or ())
    try:
        normalize_tags(tags)
    except PalletError as error:
        raise ApiError(400, error.message) from error
    cache_from = []
    for item in json.loads(request.arg("cachefrom") or "[]") if request.arg("cachefrom") else []:
        if not isinstance(item, str) or not item.startswith("type="):
            raise ApiError(400, f"cachefrom {item!r}: pallet takes its build cache from "
                                "type=local,src=DIR or type=registry,ref=REF, not from images")
        cache_from.append(item)
    network = request.arg("networkmode") or "default"
    if network == "bridge":
        network = "default"
    memory = request.int_arg("memory", 0) or None
    quota, period = request.int_arg("cpuquota", 0), request.int_arg("cpuperiod", 0)
    cpus = quota / (period or 100_000) if quota else None
    build_args = {k: v for k, v in _json_arg(request, "buildargs").items() if v is not None}
    try:
        from pallet.runtime.network.hostentries import extra_host
        # repeated, as the docker CLI and docker-py send them (url.Values / a list)
        add_hosts = tuple(extra_host(entry) for entry in request.query.get("extrahosts") or ())
        dockerfile = request.arg("dockerfile") or "Dockerfile"
        return BuildRequest(
            context=ContextSource(stream=_Body(request.body()),
                                  keep=_kept_name(dockerfile, tags)),
            dockerfile=dockerfile, dockerfile_in_context=True,
            tags=tags, build_args=build_args, target=request.arg("target") or None,
            labels={k: v or "" for k, v in _json_arg(request, "labels").items()},
            no_cache=request.flag("nocache"), pull=request.flag("pull"), network=network,
            platform=request.arg("platform") or None, memory=memory, cpus=cpus,
            cache_from=tuple(cache_from), add_hosts=add_hosts)
    except PalletError as error:
        raise ApiError(400, error.message) from error


def build(request) -> None:
    from pallet.base.errors import PalletError
    from pallet.builder.build import build as run_build
    build_request = _request(request)
    quiet = request.flag("q")
    writer = request.stream("application/json")
    lines = _StreamLines(writer)
    try:
        result = run_build(build_request, root=request.server.root,
                           progress="quiet" if quiet else "plain", quiet=quiet,
                           progress_stream=lines)
        if quiet:
            lines.send({"stream": f"{result.image_id}\n"})
        lines.send({"aux": {"ID": result.image_id}})
        if not quiet:
            lines.send({"stream": f"Successfully built {result.image_id.split(':', 1)[1][:12]}\n"})
            for name in result.tags:
                from pallet.runtime.store.references import familiar_string
                lines.send({"stream": f"Successfully tagged {familiar_string(name)}\n"})
    except ClientGone:
        return   # the builder has unwound; nobody is left to tell
    except PalletError as error:
        message = error.render()
        try:
            lines.send({"errorDetail": {"message": message}, "error": message})
        except ClientGone:
            return
    try:
        writer.close()
    except OSError:
        pass


def prune(request) -> dict:
    from pallet.builder.prune import prune_cache
    filters = request.filters()
    unknown = set(filters) - {"until"}
    if unknown:
        raise ApiError(400, f"invalid filter '{sorted(unknown)[0]}'")
    older = None
    for value in filters.get("until", []):
        from pallet.base.units import docker_timestamp
        import time
        try:
            older = max(time.time() - docker_timestamp(value, time.time()), 0)
        except ValueError as error:
            raise ApiError(400, f"invalid filter 'until={value}': {error}") from None
    keep = request.int_arg("keep-storage", 0) or None
    result = prune_cache(request.server.root, all_records=request.flag("all"),
                         older_than_s=older, keep_storage=keep)
    return {"CachesDeleted": [], "SpaceReclaimed": result.reclaimed}
