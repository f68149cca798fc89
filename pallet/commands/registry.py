"""`pull` and `push`: Docker's commands and output over pallet.runtime.distribution.transfer."""

from __future__ import annotations

import sys

import click

from pallet.base.errors import PalletError


def _store(ctx: click.Context):
    from pallet.runtime.store.content import Store
    return Store.open(ctx.obj["root"])


def _display(quiet: bool):
    """Docker's progress display on stdout: live on a terminal, plain lines off one."""
    from pallet.format.progress import display_for
    return display_for(sys.stdout, "quiet" if quiet else "auto")


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

    refs.parse_reference(name)   # a bad name fails before any display
    display = _display(quiet)
    try:
        result = pull_image(_store(ctx), name, platform=platform, progress=display)
    except RegistryError as error:
        display.close()
        _refused(error)
    finally:
        display.close()
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
    from pallet.base.progress import Note

    display = _display(quiet)
    display.emit(Note("", f"The push refers to repository [{parsed.name}]"))
    for full in names:
        try:
            push_image(store, full, progress=display)
        except NotLocal as error:
            display.close()
            click.echo(error.message, err=True)
            sys.exit(1)
        except RegistryError as error:
            display.close()
            _refused(error)
        if quiet:
            click.echo(full)
    display.close()


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
