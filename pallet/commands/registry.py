"""`pull` and `push`: Docker's commands and output over pallet.runtime.registry_transfer."""

from __future__ import annotations

import sys

import click


def _store(ctx: click.Context):
    from pallet.runtime.store import Store
    return Store.open(ctx.obj["root"])


def _refused(error) -> None:
    """What the registry refused, as Docker's CLI shows the engine's error; exit 1."""
    click.echo(f"Error response from daemon: {error.message}", err=True)
    sys.exit(1)   # click's main(standalone_mode=False) would swallow ctx.exit's code


@click.command("pull")
@click.argument("name")
@click.option("--platform", default="linux/amd64", help="Set platform if server is multi-platform capable")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.pass_context
def pull(ctx, name, platform, quiet):
    """Download an image from a registry"""
    from pallet.runtime import references as refs
    from pallet.runtime.registry import RegistryError
    from pallet.runtime.registry_transfer import pull_image

    parsed = refs.parse_reference(name).with_default_tag()
    if not quiet:
        click.echo(f"{parsed.tag or parsed.digest}: Pulling from {refs.familiar(parsed.name)}")
    try:
        result = pull_image(_store(ctx), name, platform=platform)
    except RegistryError as error:
        _refused(error)
    if not quiet:
        for digest, fetched in result.layers:
            click.echo(f"{digest[7:19]}: {'Pull complete' if fetched else 'Already exists'}")
        click.echo(f"Digest: {result.digest}")
        status = "Image is up to date for" if result.up_to_date else "Downloaded newer image for"
        click.echo(f"Status: {status} {refs.familiar_string(result.reference)}")
    click.echo(result.reference)


@click.command("push")
@click.argument("name")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.pass_context
def push(ctx, name, quiet):
    """Upload an image to a registry"""
    from pallet.runtime import references as refs
    from pallet.runtime.registry import RegistryError
    from pallet.runtime.registry_transfer import NotLocal, push_image

    parsed = refs.parse_reference(name)
    if not quiet:
        click.echo(f"The push refers to repository [{parsed.name}]")
    try:
        result = push_image(_store(ctx), name)
    except NotLocal as error:
        click.echo(error.message, err=True)
        sys.exit(1)
    except RegistryError as error:
        _refused(error)
    if quiet:
        click.echo(str(parsed.with_default_tag()))
        return
    for diff_id, uploaded in reversed(result.layers):   # Docker lists the top layer first
        click.echo(f"{diff_id[7:19]}: {'Pushed' if uploaded else 'Layer already exists'}")
    click.echo(f"{result.tag}: digest: {result.digest} size: {result.size}")
