"""`pull` and `push`: Docker's commands and output over pallet.runtime.distribution.transfer."""

from __future__ import annotations

import sys

import click

from pallet.base.errors import PalletError


def _store(ctx: click.Context):
    from pallet.runtime.store.content import Store
    return Store.open(ctx.obj["root"])


def _refused(error) -> None:
    """What the registry refused, as Docker's CLI shows the engine's error; exit 1."""
    click.echo(f"Error response from daemon: {error.message}", err=True)
    sys.exit(1)   # click's main(standalone_mode=False) would swallow ctx.exit's code


@click.command("pull")
@click.argument("name")
@click.option("--platform", default=None, help="Set platform if server is multi-platform capable")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.pass_context
def pull(ctx, name, platform, quiet):
    """Download an image from a registry"""
    from pallet.runtime.store import references as refs
    from pallet.runtime.distribution.registry import RegistryError
    from pallet.runtime.distribution.transfer import pull_image

    parsed = refs.parse_reference(name).with_default_tag()

    def announce() -> None:   # Docker names the repository path without its registry here
        if not quiet:
            click.echo(f"{parsed.tag or parsed.digest}: Pulling from {parsed.path}")

    try:
        result = pull_image(_store(ctx), name, platform=platform, on_resolved=announce)
    except RegistryError as error:
        _refused(error)
    if not quiet:
        # Docker's plain (non-terminal) progress, in its order: every layer is announced, then
        # each download completes, then each layer is extracted.
        fetched = [digest[7:19] for digest, new in result.layers if new]
        for digest, new in result.layers:
            click.echo(f"{digest[7:19]}: {'Pulling fs layer' if new else 'Already exists'}")
        for short in fetched:
            click.echo(f"{short}: Verifying Checksum")
            click.echo(f"{short}: Download complete")
        for short in fetched:
            click.echo(f"{short}: Pull complete")
        click.echo(f"Digest: {result.digest}")
        status = "Image is up to date for" if result.up_to_date else "Downloaded newer image for"
        click.echo(f"Status: {status} {refs.familiar_string(result.reference)}")
    click.echo(result.reference)


@click.command("push")
@click.argument("name")
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of an image to the repository")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.pass_context
def push(ctx, name, all_tags, quiet):
    """Upload an image to a registry"""
    from pallet.runtime.store import references as refs
    from pallet.runtime.image.images import list_images
    from pallet.runtime.distribution.registry import RegistryError
    from pallet.runtime.distribution.transfer import NotLocal, push_image

    parsed = refs.parse_reference(name)
    store = _store(ctx)
    if all_tags:
        if parsed.tag or parsed.digest:
            raise PalletError("tag can't be used with --all-tags/-a")
        names = sorted({ref for summary in list_images(store) for ref in summary.references
                        if "@" not in ref and refs.parse_reference(ref).name == parsed.name})
        if not names:
            click.echo(f"An image does not exist locally with the tag: {parsed.familiar_name}",
                       err=True)
            sys.exit(1)
    else:
        names = [str(parsed.with_default_tag())]
    if not quiet:
        click.echo(f"The push refers to repository [{parsed.name}]")
    for full in names:
        try:
            result = push_image(store, full)
        except NotLocal as error:
            click.echo(error.message, err=True)
            sys.exit(1)
        except RegistryError as error:
            _refused(error)
        if quiet:
            click.echo(full)
            continue
        top_first = list(reversed(result.layers))   # Docker lists the top layer first
        for diff_id, _ in top_first:
            click.echo(f"{diff_id[7:19]}: Preparing")
        for diff_id, uploaded in top_first:
            click.echo(f"{diff_id[7:19]}: {'Pushed' if uploaded else 'Layer already exists'}")
        click.echo(f"{result.tag}: digest: {result.digest} size: {result.size}")


@click.command("login")
@click.argument("server", required=False)
@click.option("-u", "--username", default=None, help="Username")
@click.option("-p", "--password", default=None, help="Password")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin")
def login(server, username, password, password_stdin):
    """Log in to a registry (Docker Hub when SERVER is omitted)"""
    from pallet.runtime.distribution import credentials
    from pallet.runtime.distribution.registry import RegistryClient, RegistryError

    if password is not None and password_stdin:
        raise PalletError("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise PalletError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password is not None:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
                   err=True)
    domain = server or "docker.io"
    if username is None:
        username = click.prompt("Username")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    if not username or not password:
        raise PalletError("Non-null Username Required" if not username else "Password Required")
    client = RegistryClient(domain, "", credentials=(username, password))
    try:
        client.check_login()
    except RegistryError as error:
        _refused(error)
    path = credentials.save(domain, username, password)
    click.echo(f"WARNING! Your password will be stored unencrypted in {path}.", err=True)
    click.echo("Login Succeeded")


@click.command("logout")
@click.argument("server", required=False)
def logout(server):
    """Log out from a registry (Docker Hub when SERVER is omitted)"""
    from pallet.runtime.distribution import credentials

    domain = server or "docker.io"
    shown = credentials.DOCKER_HUB_KEY if domain == "docker.io" else domain
    if credentials.remove(domain):
        click.echo(f"Removing login credentials for {shown}")
    else:
        click.echo(f"Not logged in to {shown}")
