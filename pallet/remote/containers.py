"""Container commands on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations

from pallet.remote import client
from pallet.remote.convert import container_row


def ps(ctx, show_all, quiet, filters, format_, no_trunc, latest, last, **_ignored) -> None:
    from pallet.commands.container_views import show_containers
    from pallet.commands.flags import filter_flags
    wanted = filter_flags(filters)
    limit = 1 if latest else last
    summaries = client(ctx).containers(all=show_all, filters=wanted or None,
                                       limit=limit if limit > 0 else -1)
    show_containers([container_row(s) for s in summaries], quiet=quiet, format_=format_,
                    no_trunc=no_trunc)
