"""`commit` and `diff`: a container's changes, as Docker prints and records them."""

from __future__ import annotations

import click

from pallet.base.errors import PalletError


class DaemonError(PalletError):
    bare = True

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(f"Error response from daemon: {message}", exit_code=exit_code)


class BareError(PalletError):
    bare = True


def _record(ctx, reference: str):
    from pallet.runtime.container.lifecycle import get
    try:
        return get(ctx.obj["root"], reference)
    except PalletError as error:
        raise DaemonError(error.message) from error


@click.command("commit")
@click.option("-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", default="", help="Commit message")
@click.option("-p", "--pause", type=click.BOOL, default=True, show_default=True,
              help="Pause container during commit")
@click.argument("container_ref", metavar="CONTAINER")
@click.argument("reference", metavar="[REPOSITORY[:TAG]]", required=False)
@click.pass_context
def commit(ctx, author, changes, message, pause, container_ref, reference) -> None:
    """Create a new image from a container's changes"""
    from pallet.runtime.container.changes import commit_container
    from pallet.runtime.store.references import parse_reference
    if reference:
        try:
            parse_reference(reference)
        except PalletError:
            raise BareError("invalid reference format") from None
    record = _record(ctx, container_ref)
    try:
        image = commit_container(ctx.obj["root"], record, reference, author=author,
                                 message=message, changes=changes, pause=pause)
    except PalletError as error:
        raise DaemonError(error.message) from error
    click.echo(image.id)


@click.command("diff")
@click.argument("container_ref", metavar="CONTAINER")
@click.pass_context
def diff(ctx, container_ref) -> None:
    """Inspect changes to files or directories on a container's filesystem"""
    from pallet.runtime.container.changes import container_changes
    for change in container_changes(_record(ctx, container_ref)):
        click.echo(str(change))
