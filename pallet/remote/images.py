"""Image commands on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations

import sys

import click

from pallet.base.errors import PalletError
from pallet.remote import client
from pallet.remote.convert import image_rows
from pallet.remote.errors import RemoteError, daemon_error


def images(ctx, repository, all_, quiet, digests, no_trunc, filters, format_) -> None:
    from pallet.commands.flags import filter_flags
    from pallet.commands.images import show_images
    wanted = filter_flags(filters)
    if repository:
        wanted.setdefault("reference", []).append(repository)   # as docker's CLI sends it
    from pallet.remote.light import listing
    summaries = listing(ctx, "/images/json", {"all": 1 if all_ else 0}, wanted)
    rows = [row for summary in summaries for row in image_rows(summary)]
    show_images(rows, quiet=quiet, digests=digests, no_trunc=no_trunc, format_=format_)


def image_inspect(ctx, names, format_) -> None:
    from docker.errors import NotFound
    from pallet.remote.documents import NotThere, show_documents

    def fetch(api, name):
        try:
            return api.inspect_image(name)
        except NotFound as error:
            raise NotThere(daemon_error(error).message) from error
    show_documents(ctx, format_, names, fetch)


def tag(ctx, source, target) -> None:
    from docker.utils import parse_repository_tag
    repository, tag_ = parse_repository_tag(target)
    client(ctx).tag(source, repository, tag_ or "latest")


def rmi(ctx, names, force, no_prune) -> None:
    from docker.errors import APIError, NotFound
    api = client(ctx)
    fatal = False
    for name in names:
        try:
            for entry in api.remove_image(name, force=force, noprune=no_prune):
                for action, subject in entry.items():
                    click.echo(f"{action}: {subject}")
        except NotFound as error:
            # with -f docker's CLI reports a missing image and still exits 0
            click.echo(daemon_error(error).message, err=True)
            fatal = fatal or not force
        except APIError as error:
            click.echo(daemon_error(error).message, err=True)
            fatal = True
    if fatal:
        sys.exit(1)


def prune(ctx, all_, force, filters) -> None:
    from pallet.commands.flags import filter_flags
    from pallet.commands.image_format import confirm
    wanted = filter_flags(filters)
    wanted["dangling"] = ["false" if all_ else "true"]    # as docker's CLI sends -a
    warning = ("WARNING! This will remove all images without at least one container associated to them."
               if all_ else "WARNING! This will remove all dangling images.")
    if not force and not confirm(warning):
        return
    answer = client(ctx).prune_images(filters=wanted)
    from pallet.format.prune import deleted, image_lines, reclaimed
    deleted("Deleted Images:", image_lines(answer.get("ImagesDeleted") or []))
    reclaimed(answer.get("SpaceReclaimed") or 0)


# ---- pull / push: the host's JSON-lines progress, drawn by pallet's own display -------------

def _event(message: dict):
    """One of dockerd's JSONMessages back into the progress event it was made from
    (pallet.base.progress.json_message's inverse)."""
    from pallet.base.progress import Bytes, Note, State
    status, item = message.get("status", ""), message.get("id", "")
    detail = message.get("progressDetail")
    if isinstance(detail, dict) and (detail.get("current") or detail.get("total")):
        return Bytes(item, status, int(detail.get("current") or 0), int(detail.get("total") or 0))
    if detail is not None and item:
        return State(item, status)
    return Note(item, status)


def _relay(stream, display) -> None:
    for message in stream:
        if message.get("error") or message.get("errorDetail"):
            text = message.get("error") or (message.get("errorDetail") or {}).get("message", "")
            display.close()
            raise RemoteError(text or "the host reported an error", exit_code=1)
        if "status" in message:
            display.emit(_event(message))


def _display(quiet: bool):
    from pallet.format.progress import display_for
    return display_for(sys.stdout, "quiet" if quiet else "auto")


def pull(ctx, name, platform, quiet) -> None:
    from docker.utils import parse_repository_tag
    from pallet.runtime.store import references as refs
    parsed = refs.parse_reference(name)   # a bad name fails before anything is sent
    repository, tag_ = parse_repository_tag(name)
    api = client(ctx)
    display = _display(quiet)
    try:
        _relay(api.pull(repository, tag=tag_ or "latest", stream=True, decode=True,
                        platform=platform), display)
    finally:
        display.close()
    click.echo(str(parsed if parsed.digest else parsed.with_default_tag()))


def push(ctx, name, all_tags, quiet) -> None:
    from docker.utils import parse_repository_tag
    from pallet.runtime.store import references as refs
    parsed = refs.parse_reference(name)
    if all_tags and (parsed.tag or parsed.digest):
        raise PalletError("tag can't be used with --all-tags/-a")
    repository, tag_ = parse_repository_tag(name)
    api = client(ctx)
    display = _display(quiet)
    try:
        _relay(api.push(repository, tag=None if all_tags else (tag_ or "latest"), stream=True,
                        decode=True), display)
    finally:
        display.close()
    if quiet:
        click.echo(str(parsed.with_default_tag()))
