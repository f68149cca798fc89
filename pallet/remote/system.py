"""version, info, system df/prune on a remote host (contract: pallet/remote/__init__.py)."""

from __future__ import annotations

from pallet.remote import client, host


def version(ctx, format_) -> None:
    from pallet.commands.info import show_version
    api = client(ctx)
    show_version(format_, api.version(), api.api_version, host(ctx).context)


def info(ctx, format_) -> None:
    from pallet.commands.info import show_info
    show_info(format_, client(ctx).info(), host(ctx).context)
