"""commit, diff and history on a remote host (contract: pallet/remote/__init__.py), printed by
the local commands' own code.

    commit   POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=
    diff     GET /containers/{id}/changes          Kind 0/1/2 -> "C"/"A"/"D"
    history  GET /images/{name}/history            Created (Unix seconds) -> RFC 3339
"""

from __future__ import annotations

import click

from pallet.base.errors import PalletError
from pallet.remote import client

KINDS = {0: "C", 1: "A", 2: "D"}   # the spec's ChangeType


class _Bare(PalletError):
    bare = True


def _split(reference: str) -> tuple[str, str]:
    """REPOSITORY[:TAG] as the docker CLI sends it (the tag after the last colon that is not
    part of a registry's host:port)."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        return reference, ""
    return repository, tag


def commit(ctx, author, changes, message, pause, container_ref, reference) -> None:
    repository, tag = "", ""
    if reference:
        from pallet.runtime.store.references import parse_reference
        try:
            parse_reference(reference)   # the local command's check, before the host is asked
        except PalletError:
            raise _Bare("invalid reference format") from None
        repository, tag = _split(reference)
    answer = client(ctx).commit(container_ref, repository=repository or None, tag=tag or None,
                                message=message or None, author=author or None, pause=pause,
                                changes=list(changes) or None)
    click.echo(answer["Id"])


def diff(ctx, container_ref) -> None:
    for change in client(ctx).diff(container_ref) or ():
        click.echo(f"{KINDS.get(change.get('Kind'), '?')} {change.get('Path', '')}")


def history(ctx, image, human, no_trunc, quiet, format_) -> None:
    from pallet.commands.images import show_history
    from pallet.remote.convert import rfc3339
    entries = client(ctx).history(image)
    rows = [{"CreatedBy": entry.get("CreatedBy") or "", "Created": rfc3339(entry.get("Created")),
             "Comment": entry.get("Comment") or "", "Size": entry.get("Size") or 0}
            for entry in entries]
    image_id = entries[0].get("Id", "") if entries else ""
    show_history(image_id, rows, human=human, no_trunc=no_trunc, quiet=quiet, format_=format_)
