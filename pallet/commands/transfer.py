"""Transfer commands: import (rootfs tarball -> image), save (docker-archive / oci-archive),
load (docker-archive, oci-archive, OCI layout directory)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pallet.base.errors import PalletError


def _store(ctx: click.Context):
    from pallet.runtime.store.content import Store
    return Store.open(ctx.obj["root"])


def _root_ctx(ctx: click.Context) -> click.Context:
    return ctx.find_root()


def _transient():
    """save and import: Docker shows nothing, so pallet draws the progress on stderr when it
    is a terminal and erases it at the end (the final screen stays Docker's)."""
    from pallet.format.progress import display_for
    return display_for(sys.stderr, transient=True)


@click.command("import")
@click.argument("source")
@click.argument("reference", required=False)
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", default=None, help="Set commit message for imported image")
@click.option("--platform", default=None, help="Set platform if server is multi-platform capable")
@click.pass_context
def import_(ctx, source, reference, changes, message, platform):
    """Import the contents from a tarball to create a filesystem image"""
    from pallet.runtime.image.importing import import_rootfs
    store = _store(_root_ctx(ctx))
    tags = [reference] if reference else []
    if tags:
        from pallet.runtime.image.committing import normalize_tags
        normalize_tags(tags)   # a bad name fails before any work
    if source == "-":
        display = _transient()
        try:
            image = import_rootfs(store, sys.stdin.buffer, tags=tags, changes=changes,
                                  message=message, source_name="-", platform=platform,
                                  progress=display)
        finally:
            display.close()
    else:
        path = Path(source)
        if "://" in source:
            raise PalletError(f"cannot import from {source}: URLs are not supported",
                              hint="download the tarball first, then `pallet import FILE`")
        try:
            handle = open(path, "rb")
        except OSError as error:
            raise PalletError(f"open {source}: {error.strerror.lower()}") from error
        display = _transient()
        with handle:
            size = os.fstat(handle.fileno()).st_size if path.is_file() else None
            try:
                image = import_rootfs(store, handle, tags=tags, changes=changes, message=message,
                                      source_name=source, platform=platform, source_size=size,
                                      progress=display)
            finally:
                display.close()
    click.echo(image.id)


@click.command("save")
@click.argument("names", nargs=-1, required=True)
@click.option("-o", "--output", default=None, help="Write to a file, instead of STDOUT")
@click.option("--format", "format_", type=click.Choice(["docker-archive", "oci-archive"]),
              default="docker-archive", show_default=True, help="Archive format")
@click.pass_context
def save(ctx, names, output, format_):
    """Save one or more images to a tar archive (streamed to STDOUT by default)"""
    from pallet.runtime.image.archive import save_images
    store = _store(_root_ctx(ctx))
    if output is None and sys.stdout.isatty():
        raise PalletError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    display = _transient()
    try:
        save_images(store, list(names), sys.stdout.buffer if output is None else Path(output),
                    archive_format=format_, progress=display)
    finally:
        display.close()


@click.command("load")
@click.option("-i", "--input", "input_", default=None, help="Read from tar archive file, instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
@click.option("--platform", default=None,
              help="Platform to load from a multi-platform image index (default: this machine's)")
@click.pass_context
def load(ctx, input_, quiet, platform):
    """Load an image from a tar archive (docker-archive or oci-archive) or an OCI layout directory"""
    from pallet.format.progress import display_for
    from pallet.runtime.image.archive import load_images
    store = _store(_root_ctx(ctx))
    if input_ is None and sys.stdin.isatty():
        raise PalletError("requested load from stdin, but stdin is empty",
                          hint="use -i FILE or pipe an archive in")
    # Docker: "Loading layer" bars on a terminal; off one (or with -q) only the result lines
    display = display_for(sys.stdout, "quiet" if quiet else "auto")
    try:
        loaded = load_images(store, sys.stdin.buffer if input_ is None else Path(input_),
                             platform=platform, progress=display)
    finally:
        display.close()
    for line in loaded:
        click.echo(line)
