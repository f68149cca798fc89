"""What the prune commands print, as the docker CLI prints it: a section per kind of thing
removed (heading, one line each, a blank line; nothing when none went), then the space.

    deleted("Deleted Containers:", ids)
    deleted("Deleted Images:", image_lines(answer))     untagged: / deleted: lines
    reclaimed(total_bytes)                                "Total reclaimed space: 4.2MB"
"""

from __future__ import annotations

from typing import Iterable


def deleted(heading: str, lines: Iterable[str]) -> None:
    import click
    lines = list(lines)
    if lines:
        click.echo(heading)
        for line in lines:
            click.echo(line)
        click.echo("")


def image_lines(entries) -> list[str]:
    """The API's ImagesDeleted ([{"Untagged": ...} | {"Deleted": ...}]) or the library's
    (action, subject) pairs, as `untagged: NAME` / `deleted: sha256:...`."""
    pairs = [pair for entry in entries for pair in
             (entry.items() if isinstance(entry, dict) else [entry])]
    return [f"{action.lower()}: {subject}" for action, subject in pairs]


def reclaimed(size: int) -> None:
    import click
    from pallet.base.humanize import human_size
    click.echo(f"Total reclaimed space: {human_size(size)}")
