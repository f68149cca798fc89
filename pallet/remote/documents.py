"""inspect on a remote host: the host's documents printed as the local inspect prints them.

    show_documents(ctx, format_, names, fetch)   fetch(api, name) -> document, or raises
                                                  NotThere(message) for a name the host lacks
"""

from __future__ import annotations

import sys

import click

from pallet.remote import client


class NotThere(Exception):
    """A name the host does not have; the message is what the user is told."""


def show_documents(ctx, format_, names, fetch) -> None:
    """Every name's document through the template (a bad template fails before any lookup,
    as locally); missing names and template failures on stderr, exit 1 after either."""
    from pallet.format.documents import compile_document_template, inspect_output
    if format_ and format_ != "json":
        compile_document_template(format_)
    api = client(ctx)
    documents, errors = [], []
    for name in names:
        try:
            documents.append(fetch(api, name))
        except NotThere as missing:
            errors.append(str(missing))
    text, failures = inspect_output(format_, documents)
    click.echo(text, nl=False)
    for message in errors + failures:
        click.echo(message, err=True)
    if errors or failures:
        sys.exit(1)
