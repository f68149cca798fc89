"""`pallet build`: Docker's build flags (pallet.argspec: the fast path and click read the same
list) and one call into pallet.builder.build, click-free so the fast path runs a build without
importing click (a quarter of a cached build's CPU)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from pallet.argspec import CHOICE, FLAG, MULTI, OTHER, Arg, Opt, Spec
from pallet.base.errors import PalletError

HELP = "Build an image from a build file."

SPEC = Spec([
    Arg("context_path", metavar="PATH | URL | -"),
    Opt("dockerfile", ("-f", "--file"), metavar="FILE",
        help="Name of the build file (default: PATH/Dockerfile); - reads it from stdin"),
    Opt("tags", ("-t", "--tag"), MULTI, help="Name and optionally a tag (name:tag)"),
    Opt("build_args", ("--build-arg",), MULTI, help="Set build-time variables"),
    Opt("target", ("--target",), help="Set the target build stage to build"),
    Opt("labels", ("--label",), MULTI, help="Set metadata for an image"),
    Opt("no_cache", ("--no-cache",), FLAG, help="Do not use cache when building the image"),
    Opt("no_cache_filter", ("--no-cache-filter",), MULTI, help="Do not cache specified stages"),
    Opt("pull", ("--pull",), FLAG, help="Always attempt to pull a newer version of the image"),
    Opt("network", ("--network",), CHOICE, "default", choices=("default", "none", "host"),
        help="Networking mode for the RUN instructions during build"),
    Opt("secrets", ("--secret",), MULTI,
        help="Secret to expose to the build (id=mysecret[,src=/local/secret|env=VAR])"),
    Opt("progress", ("--progress",), CHOICE, "auto",
        choices=("auto", "tty", "plain", "quiet", "rawjson"), help="Set type of progress output"),
    Opt("quiet", ("-q", "--quiet"), FLAG,
        help="Suppress the build output and print image ID on success"),
    Opt("iidfile", ("--iidfile",), OTHER, type="file-path", help="Write the image ID to the file"),
    Opt("platform", ("--platform",), help="Set target platform for build"),
    Opt("memory", ("--memory", "-m"), help="Memory limit for RUN steps"),
    Opt("cpus", ("--cpus",), OTHER, type="float", help="Number of CPUs for RUN steps"),
    Opt("cache_from", ("--cache-from",), MULTI,
        help="External cache sources (type=local,src=path/to/dir or "
             "type=registry,ref=host/repo:tag)"),
    Opt("cache_to", ("--cache-to",), MULTI,
        help="Cache export destinations (type=local,dest=path/to/dir or "
             "type=registry,ref=host/repo:tag; [,mode=max])"),
    Opt("compression", ("--compression",), CHOICE, "none", choices=("none", "gzip", "zstd"),
        help="Layer blob compression in the local store (default none, like Docker's "
             "local layers; registries get compressed layers at push)"),
    Opt("add_hosts", ("--add-host",), MULTI, metavar="HOST:IP",
        help="Add a custom host-to-IP mapping (host:ip) for RUN steps"),
    Opt("allow", ("--allow",), MULTI, metavar="ENTITLEMENT",
        help="Allow extra privileged entitlement (e.g., \"network.host\", "
             "\"security.insecure\")"),
    Opt("reproducible", ("--reproducible",), FLAG,
        help="Pin timestamps (SOURCE_DATE_EPOCH, default 0) for bit-identical images"),
])


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _parse_build_args(values: tuple[str, ...]) -> dict[str, str]:
    """``K=V``, or ``K`` alone taking the value from the environment (skipped when unset)."""
    args: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if sep:
            args[key] = rest
        elif key in os.environ:
            args[key] = os.environ[key]
    return args


def _parse_labels(values: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, _, rest = value.partition("=")
        labels[key] = rest
    return labels


def _parse_secrets(values: tuple[str, ...]) -> dict[str, bytes]:
    """``id=ID,src=PATH`` / ``id=ID,env=VAR`` (``source``/``type=file|env`` also accepted)."""
    secrets: dict[str, bytes] = {}
    for value in values:
        fields = dict(part.split("=", 1) if "=" in part else (part, "")
                      for part in value.split(","))
        secret_id = fields.get("id")
        src = fields.get("src") or fields.get("source")
        env = fields.get("env")
        if fields.get("type") == "env" and not env:
            env = src
            src = None
        if not secret_id:
            secret_id = env or (os.path.basename(src) if src else None)
        if not secret_id:
            raise PalletError(f"invalid secret {value!r}: no id", hint="use id=NAME,src=FILE")
        if env:
            if env not in os.environ:
                raise PalletError(f"secret {secret_id}: environment variable {env} is not set")
            secrets[secret_id] = os.environ[env].encode()
        elif src:
            try:
                secrets[secret_id] = Path(src).expanduser().read_bytes()
            except OSError as error:
                raise PalletError(f"secret {secret_id}: read {src}: {error.strerror}") from error
        elif secret_id in os.environ:
            secrets[secret_id] = os.environ[secret_id].encode()
        else:
            raise PalletError(f"invalid secret {value!r}: no src or env",
                              hint="use id=NAME,src=FILE or id=NAME,env=VAR")
    return secrets


def _memory(text: str | None) -> int | None:
    if text is None:
        return None
    from pallet.commands.flags import size_flag  # only with -m: a cached build stays light
    return size_flag(text, "-m, --memory")


def _entitlements(values: tuple[str, ...]) -> frozenset[str]:
    """--allow, repeated or comma-separated as buildx takes it (the request checks the names)."""
    return frozenset(name for value in values
                     for name in (part.strip() for part in value.split(",")) if name)


def build_command(root, **params) -> None:
    from pallet.builder.build import build as run_build

    # `docker stop`-style SIGTERM (CI cancelling a job) cleans up like Ctrl-C: the running
    # build container is killed and removed, nothing is tagged, the temp dirs are deleted.
    signal.signal(signal.SIGTERM, _interrupt)
    request = build_request(params)
    progress, quiet, iidfile = params["progress"], params["quiet"], params["iidfile"]
    result = run_build(request, root=root,
                       progress="quiet" if progress == "rawjson" else progress, quiet=quiet)
    if iidfile is not None:
        # written by the client, as docker's CLI does (the engine knows no iidfile)
        from pallet.base.files import atomic_write
        atomic_write(iidfile, result.image_id, mode=None, durable=False)
    if quiet:
        from pallet.commands.echo import echo
        echo(result.image_id)


def build_request(params: dict):
    """click's parsed build flags -> the BuildRequest (a local build's, or what a remote
    build sends: pallet/remote/build.py)."""
    from pallet.runtime.network.hostentries import extra_host
    from pallet.builder.request import BuildRequest, ContextSource

    context_path, dockerfile = params["context_path"], params["dockerfile"]
    reproducible = params["reproducible"]
    if context_path.startswith(("http://", "https://", "git@", "git://")):
        raise PalletError(f"remote build contexts are not supported: {context_path}",
                          hint="clone or download it and build the directory")
    dockerfile_text = None
    if context_path == "-":
        if dockerfile == "-":
            raise PalletError("invalid argument: can't use stdin for both build context and dockerfile")
        context = ContextSource(stream=sys.stdin.buffer)
    else:
        context = ContextSource(directory=Path(context_path))
        if dockerfile == "-":
            from pallet.grammar.lines import MAX_FILE_BYTES
            dockerfile_text = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    epoch = None
    env_epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if env_epoch:
        try:
            epoch = int(env_epoch)
        except ValueError as error:
            raise PalletError(f"invalid SOURCE_DATE_EPOCH {env_epoch!r}") from error
    elif reproducible:
        epoch = 0
    return BuildRequest(
        context=context, dockerfile=dockerfile, dockerfile_text=dockerfile_text,
        tags=params["tags"], build_args=_parse_build_args(params["build_args"]),
        target=params["target"], labels=_parse_labels(params["labels"]),
        no_cache=params["no_cache"], no_cache_filter=params["no_cache_filter"],
        pull=params["pull"], secrets=_parse_secrets(params["secrets"]),
        network=params["network"], platform=params["platform"], source_date_epoch=epoch,
        memory=_memory(params["memory"]), cpus=params["cpus"],
        cache_from=params["cache_from"], cache_to=params["cache_to"],
        compression=params["compression"], allow=_entitlements(params["allow"]),
        add_hosts=tuple(extra_host(h) for h in params.get("add_hosts") or ()))
