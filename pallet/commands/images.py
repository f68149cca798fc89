"""Image commands: images, image (ls, inspect, history, prune, tag, rm, import, save, load),
tag, rmi, history -- Docker's flags, columns, messages and exit codes."""

from __future__ import annotations

import sys
from datetime import timezone

import click

from pallet.commands.image_format import confirm, human_size, since
from pallet.base.errors import PalletError


def _store(ctx: click.Context):
    from pallet.runtime.store.content import Store
    return Store.open(ctx.obj["root"])


def _short(image_id: str, no_trunc: bool) -> str:
    return image_id if no_trunc else image_id.split(":", 1)[-1][:12]


def _created_at(moment) -> str:
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


@click.command("images")
@click.argument("repository", required=False)
@click.option("-a", "--all", "all_", is_flag=True,
              help="Show all images (pallet makes no intermediate images: the same list)")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "format_", default=None, help="Format output using a custom template ('table', 'json', or a Go template)")
@click.pass_context
def images(ctx, repository, all_, quiet, digests, no_trunc, filters, format_):
    """List images"""
    from pallet.commands.flags import filter_flags
    from pallet.runtime.image.views import image_rows
    wanted = filter_flags(filters)
    if repository:
        wanted.setdefault("reference", []).append(repository)   # as docker's CLI sends it
    show_images(image_rows(_store(ctx), wanted), quiet=quiet, digests=digests,
                no_trunc=no_trunc, format_=format_)


def show_images(rows, *, quiet: bool, digests: bool, no_trunc: bool, format_: str | None) -> None:
    """images' output for library ImageRows (the remote images builds them from the API)."""
    from pallet.base.units import parse_rfc3339
    if quiet and (not format_ or format_ == "table"):
        seen = []
        for row in rows:
            short = _short(row.id, no_trunc)
            if short not in seen:
                seen.append(short)
        if seen:
            click.echo("\n".join(seen))
        return
    from pallet.format.kinds import IMAGES, IMAGES_DIGESTS, listing
    data = []
    for row in rows:
        created = parse_rfc3339(row.created)
        data.append({"Containers": "N/A", "CreatedAt": _created_at(created),
                     "CreatedSince": since(created), "Digest": row.digest,
                     "ID": _short(row.id, no_trunc), "Repository": row.repository,
                     "SharedSize": "N/A", "Size": human_size(row.size), "Tag": row.tag,
                     "UniqueSize": "N/A", "VirtualSize": human_size(row.size)})
    click.echo(listing(format_, data, IMAGES_DIGESTS if digests else IMAGES), nl=False)


# ---- inspect ----------------------------------------------------------------------------------

@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "format_", default=None, help="Format the output using the given Go template")
@click.pass_context
def image_inspect(ctx, names, format_):
    """Display detailed information on one or more images"""
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.views import inspect_document
    from pallet.format.documents import compile_document_template
    if format_ and format_ != "json":
        compile_document_template(format_)  # a bad template fails before any lookup (exit 64)
    store = _store(ctx)
    documents, errors = [], []
    for name in names:
        try:
            documents.append(inspect_document(resolve_image(store, name)))
        except PalletError as error:
            errors.append(error)
    from pallet.format.documents import inspect_output
    text, failures = inspect_output(format_, documents)
    click.echo(text, nl=False)
    for message in failures:
        click.echo(message, err=True)
    if failures and not errors:
        raise SystemExit(1)
    _raise_collected(errors)


def _raise_collected(errors: list[PalletError]) -> None:
    if not errors:
        return
    for error in errors[:-1]:
        click.echo(f"Error: {error.message}", err=True)
    raise errors[-1]


# ---- history ----------------------------------------------------------------------------------

@click.command("history")
@click.argument("image")
@click.option("-H", "--human", type=bool, default=True, show_default=True,
              help="Print sizes and dates in human readable format")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--format", "format_", default=None, help="Format output using a custom template")
@click.pass_context
def history(ctx, image, human, no_trunc, quiet, format_):
    """Show the history of an image"""
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.views import history_entries
    store = _store(ctx)
    found = resolve_image(store, image)
    rows = [{"CreatedBy": entry.created_by, "Created": entry.created, "Comment": entry.comment,
             "Size": entry.size} for entry in history_entries(store, found)]
    show_history(found.id, rows, human=human, no_trunc=no_trunc, quiet=quiet, format_=format_)


def show_history(image_id: str, rows: list[dict], *, human: bool, no_trunc: bool, quiet: bool,
                 format_: str | None) -> None:
    """The history table (or -q, --format) of image_id's entries, newest first: each a dict
    of CreatedBy, Created (RFC 3339, "" when unknown), Comment, Size. Also the remote
    history's rendering."""
    from pallet.base.units import parse_rfc3339
    out = []
    for position, row in enumerate(rows):
        shown_id = _short(image_id, no_trunc) if position == 0 else "<missing>"
        created = parse_rfc3339(row["Created"]) if row["Created"] else None
        created_at = _go_rfc3339(created) if created else ""
        created_text = (since(created) if human else created_at) if created else "N/A"
        created_by = row["CreatedBy"].replace("\t", " ")
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "\u2026"
        size_text = human_size(row["Size"]) if human else str(row["Size"])
        out.append({"ID": shown_id, "CreatedSince": created_text, "CreatedAt": created_at,
                    "CreatedBy": created_by, "Size": size_text, "Comment": row["Comment"]})
    if quiet:
        click.echo("\n".join(item["ID"] for item in out))
        return
    from pallet.format.kinds import HISTORY, listing
    if not human and format_ in (None, "", "table"):
        # docker's nonHumanHistoryTableFormat: the column is CREATED AT
        format_ = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    click.echo(listing(format_, out, HISTORY), nl=False)


def _go_rfc3339(moment) -> str:
    """docker's CreatedAt: the API's whole seconds (time.Unix(created, 0)) in the local time
    zone, Go's RFC 3339 ("Z" for UTC)."""
    local = moment.replace(microsecond=0).astimezone()
    offset = local.strftime("%z")
    zone = "Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + zone


# ---- tag / rmi / prune --------------------------------------------------------------------------

@click.command("tag")
@click.argument("source")
@click.argument("target")
@click.pass_context
def tag(ctx, source, target):
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"""
    from pallet.runtime.image.committing import tag_image
    tag_image(_store(ctx), source, target)


@click.command("rmi")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents")
@click.pass_context
def rmi(ctx, names, force, no_prune):
    """Remove one or more images"""
    from pallet.runtime.image.images import ImageNotFound
    from pallet.runtime.image.removal import ImageConflict, remove_image
    store = _store(ctx)
    fatal = False
    for name in names:
        try:
            for action, subject in remove_image(store, name, force=force):
                click.echo(f"{action}: {subject}")
        except ImageNotFound:
            # The engine's 404 names the reference with its default tag; with -f Docker's CLI
            # reports it and still exits 0.
            click.echo(f"Error response from daemon: No such image: {_daemon_reference(name)}",
                       err=True)
            fatal = fatal or not force
        except ImageConflict as error:
            # The engine's refusal: Docker's CLI shows the daemon's 409 text verbatim.
            click.echo(f"Error response from daemon: {error.message}", err=True)
            fatal = True
        except PalletError as error:
            click.echo(f"Error: {error.message}", err=True)
            fatal = True
    if fatal:
        sys.exit(1)   # click's main(standalone_mode=False) would swallow ctx.exit's code


def _daemon_reference(name: str) -> str:
    """How the engine spells a reference it did not find: IDs as given, names familiar and
    with the default tag (`nosuch` -> `nosuch:latest`)."""
    from pallet.runtime.store import references as refs
    if refs.is_full_id(name) or refs.looks_like_id_prefix(name):
        return name
    try:
        return refs.familiar_string(str(refs.parse_reference(name).with_default_tag()))
    except PalletError:
        return name


@click.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=<timestamp>')")
@click.pass_context
def prune(ctx, all_, force, filters):
    """Remove unused images"""
    from pallet.commands.flags import filter_flags
    from pallet.runtime.image.filters import prune_selection
    from pallet.runtime.store.check import prune_images
    store = _store(ctx)
    wanted = filter_flags(filters)
    wanted["dangling"] = ["false" if all_ else "true"]    # as docker's CLI sends -a
    all_images, selected = prune_selection(store, wanted)   # bad filters fail before the prompt
    warning = ("WARNING! This will remove all images without at least one container associated to them."
               if all_ else "WARNING! This will remove all dangling images.")
    if not force and not confirm(warning):
        return
    from pallet.format import prune
    removed, reclaimed = prune_images(store, all_images=all_images, selected=selected)
    prune.deleted("Deleted Images:", prune.image_lines(removed))
    prune.reclaimed(reclaimed)


# ---- the `image` group ----------------------------------------------------------------------------

from pallet.commands.groups import ManagementGroup  # noqa: E402


@click.group("image", cls=ManagementGroup)
def image():
    """Manage images"""


image.add_command(images, "ls")
image.add_command(image_inspect, "inspect")
image.add_command(history, "history")
image.add_command(prune, "prune")
image.add_command(tag, "tag")
image.add_command(rmi, "rm")


