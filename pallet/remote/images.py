"""Image commands on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations

from pallet.remote import client
from pallet.remote.convert import image_rows


def images(ctx, repository, all_, quiet, digests, no_trunc, filters, format_) -> None:
    from pallet.commands.flags import filter_flags
    from pallet.commands.images import show_images
    wanted = filter_flags(filters)
    if repository:
        wanted.setdefault("reference", []).append(repository)   # as docker's CLI sends it
    summaries = client(ctx).images(all=all_, filters=wanted or None)
    rows = [row for summary in summaries for row in image_rows(summary)]
    show_images(rows, quiet=quiet, digests=digests, no_trunc=no_trunc, format_=format_)
