"""`pallet machine`: docker-machine's commands for hosts running pallet (pallet.machine)."""

from __future__ import annotations

import os
import sys

import click

from pallet.base.errors import PalletError


@click.group("machine")
def machine() -> None:
    """Provision and manage hosts that run pallet (docker-machine's commands)"""


def _driver_options(command):
    """Every installed driver's flags on `machine create` (click needs them before parsing)."""
    from pallet.machine.drivers import available, driver_class
    for name in available():
        command.params.extend(driver_class(name).options())
    return command


@machine.command("create")
@click.option("-d", "--driver", default="generic", show_default=True,
              help="Driver to create the machine with")
@click.option("--pallet-prefix", default=None, metavar="DIR",
              help="Directory on the host that holds the whole install "
                   "[default: /opt/pallet-machine/NAME]")
@click.option("--pallet-link-dir", default="/usr/local/bin", show_default=True, metavar="DIR",
              help="Where to link `pallet` (and `docker`, if the host has none) on the host; "
                   "'none' for no links")
@click.argument("name")
@click.pass_context
def create(ctx, driver, pallet_prefix, pallet_link_dir, name, **flags) -> None:
    """Create a machine"""
    from pallet.machine import lifecycle
    link_dir = "" if pallet_link_dir in ("", "none") else pallet_link_dir
    if link_dir and not link_dir.startswith("/"):
        raise PalletError(f"--pallet-link-dir {pallet_link_dir}: give an absolute directory")
    lifecycle.create(name, driver, flags, prefix=pallet_prefix, link_dir=link_dir,
                     say=lambda text: click.echo(text))


_driver_options(create)


@machine.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Enable quiet mode")
@click.option("-f", "--format", "format_", default=None, help="Pretty-print machines using a Go template")
@click.option("-t", "--timeout", default=10, type=int, show_default=True,
              help="Timeout in seconds for each machine's check")
def ls(quiet, format_, timeout) -> None:
    """List machines"""
    from pallet.machine.views import listing_rows, render
    from pallet.machine import store
    if quiet and not format_:
        for name in store.names():
            click.echo(name)
        return
    click.echo(render(format_, listing_rows(timeout)), nl=False)


@machine.command("env")
@click.option("--shell", type=click.Choice(["bash", "sh", "zsh", "fish", "powershell", "cmd"]),
              default=None, help="Force environment to be configured for a specified shell")
@click.option("-u", "--unset", is_flag=True, help="Unset variables instead of setting them")
@click.argument("name", required=False)
def env(shell, unset, name) -> None:
    """Display the commands to set up the environment for the Docker client"""
    from pallet.machine.views import env_text
    if not unset and not name:
        raise PalletError("Error: No machine name(s) specified and no \"default\" machine exists")
    click.echo(env_text(name, shell or _shell(), unset), nl=False)


def _shell() -> str:
    shell = os.path.basename(os.environ.get("SHELL", "bash"))
    return shell if shell in ("fish", "zsh", "sh") else "bash"


@machine.command("ssh", context_settings={"ignore_unknown_options": True,
                                          "allow_interspersed_args": False})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(name, command) -> None:
    """Log into or run a command on a machine with SSH"""
    from pallet.machine import lifecycle, store
    record = store.load(name)
    sys.exit(lifecycle.ssh_for(record).interactive(list(command)))


def _each(names, action) -> None:
    failed = []
    for name in names:
        try:
            action(name)
        except PalletError as error:
            click.echo(f"Error: {error.render()}", err=True)
            failed.append(name)
    if failed:
        sys.exit(1)


@machine.command("status")
@click.argument("name")
def status(name) -> None:
    """Get the status of a machine"""
    from pallet.machine import lifecycle
    click.echo(lifecycle.status(name))


def _service_command(action: str, verb: str, done: str):
    @click.argument("names", nargs=-1, required=True)
    def command(names) -> None:
        from pallet.machine import lifecycle

        def one(name):
            click.echo(f'{verb} "{name}"...')
            lifecycle.service(name, action)
            if done:
                click.echo(done.format(name=name))
        _each(names, one)
    command.__doc__ = f"{action.capitalize()} pallet serve on one or more machines"
    return machine.command(action)(command)


_service_command("start", "Starting", "Started machines may have new IP addresses. "
                 "You may need to re-run the `pallet machine env` command.")
_service_command("stop", "Stopping", "Machine \"{name}\" was stopped.")
_service_command("restart", "Restarting", "Restarted machines may have new IP addresses. "
                 "You may need to re-run the `pallet machine env` command.")


@machine.command("upgrade")
@click.argument("names", nargs=-1, required=True)
def upgrade(names) -> None:
    """Upgrade a machine's pallet to this pallet"""
    from pallet.machine import lifecycle
    _each(names, lambda name: lifecycle.upgrade(name, say=lambda text: click.echo(text)))


@machine.command("rm")
@click.option("-f", "--force", is_flag=True,
              help="Remove local configuration even if machine cannot be removed, also implies -y")
@click.option("-y", "yes", is_flag=True, help="Assumes automatic yes to proceed with remove, "
              "without prompting further user confirmation")
@click.argument("names", nargs=-1, required=True)
def rm(force, yes, names) -> None:
    """Remove a machine"""
    from pallet.machine import lifecycle, store
    for name in names:
        store.load(name)   # an unknown name fails before any question
    if not (force or yes):
        click.echo("About to remove " + ", ".join(names))
        click.echo("WARNING: This action will delete both local reference and remote "
                   "instance.")
        answer = click.prompt("Are you sure?", prompt_suffix=" (y/n): ", default="",
                              show_default=False)
        if answer.strip().lower() not in ("y", "yes"):
            raise PalletError("Remove aborted: nothing was removed")

    def one(name):
        for warning in lifecycle.remove(name, force=force):
            click.echo(f"WARNING: {warning}", err=True)
        click.echo(f"Successfully removed {name}")
    _each(names, one)


@machine.command("inspect")
@click.option("-f", "--format", "format_", default=None, help="Format the output using the given Go template")
@click.argument("names", nargs=-1, required=True)
def inspect(format_, names) -> None:
    """Inspect information about a machine"""
    from pallet.format.documents import inspect_output
    from pallet.machine.views import inspect_document
    documents = [inspect_document(name) for name in names]
    if not format_:
        import json
        # docker-machine prints the one machine's document itself, not a list of one
        shown = documents[0] if len(documents) == 1 else documents
        click.echo(json.dumps(shown, indent=4))
        return
    text, failures = inspect_output(format_, documents)
    click.echo(text, nl=False)
    if failures:
        raise PalletError(failures[0], exit_code=1)


@machine.command("ip")
@click.argument("names", nargs=-1, required=True)
def ip(names) -> None:
    """Get the IP address of one or more machines"""
    from pallet.machine import lifecycle, store
    _each(names, lambda name: click.echo(
        lifecycle.driver_for(store.load(name)).engine_address()[0]))


@machine.command("url")
@click.argument("name")
def url(name) -> None:
    """Get the URL of a machine"""
    from pallet.machine import lifecycle, store
    click.echo(lifecycle.url(store.load(name)))


@machine.command("config")
@click.argument("name")
def config(name) -> None:
    """Print the connection config for a machine"""
    from pallet.machine import lifecycle, store
    certs = lifecycle.certs_for(name)
    click.echo(f'--tlsverify\n--tlscacert="{certs.ca}"\n--tlscert="{certs.cert}"\n'
               f'--tlskey="{certs.key}"\n-H={lifecycle.url(store.load(name))}')


@machine.command("active")
def active() -> None:
    """Print which machine is active (the one DOCKER_HOST points at)"""
    from pallet.machine.views import active_name
    name = active_name()
    if not name:
        raise PalletError("No active host found")
    click.echo(name)
