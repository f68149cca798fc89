"""`inspect`: containers first (Docker's container JSON), then images (the image commands' shape)."""

from __future__ import annotations

import click

from pallet.base.errors import PalletError


@click.command("inspect")
@click.option("-f", "--format", "format_", default=None, help="Format output using a custom template")
@click.option("--type", "type_", type=click.Choice(["container", "image"]), default=None,
              help="Only inspect objects of this type")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is container")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, format_, type_, size, names) -> None:
    """Return low-level information on pallet objects"""
    from pallet.runtime.container import state as cs
    from pallet.runtime.container.lifecycle import refresh
    from pallet.runtime.container.views import inspect_document as container_document
    from pallet.format.documents import compile_document_template, inspect_output
    root = ctx.obj["root"]
    if format_ and format_ != "json":
        compile_document_template(format_)  # a bad template fails before any lookup (exit 64)
    store = cs.ContainerStore(root)
    documents, errors = [], []
    for name in names:
        document = None
        if type_ in (None, "container"):
            try:
                document = container_document(refresh(store, store.resolve(name)), size=size)
            except PalletError:
                document = None
        if document is None and type_ in (None, "image"):
            document = _image_document(root, name)
        if document is None:
            errors.append(f"Error: No such object: {name}")
        else:
            documents.append(document)
    text, failures = inspect_output(format_, documents)
    click.echo(text, nl=False)
    for message in errors + failures:
        click.echo(message, err=True)
    if errors or failures:
        raise SystemExit(1)


def _image_document(root, name: str) -> dict | None:
    from pallet.runtime.image.views import inspect_document
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    try:
        return inspect_document(resolve_image(Store.open(root), name))
    except PalletError:
        return None


@click.command("inspect")
@click.option("-f", "--format", "format_", default=None, help="Format output using a custom template")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def container_inspect(ctx: click.Context, format_, size, names) -> None:
    """Display detailed information on one or more containers"""
    ctx.invoke(inspect, format_=format_, type_="container", size=size, names=names)
