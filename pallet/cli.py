"""The `pallet` command: global options, lazy command loading, and error presentation.

Commands live in pallet.commands.* and are imported only when invoked, so `pallet --help`
never pays for lark, networkx or pyroute2.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

# The entry point, before any module of ours defines a dataclass: reuse their compiled methods
# (base/codecache.py says why; it is a fifth of a cached build's start-up on Python 3.11).
from pallet.base.codecache import install_dataclass_cache

install_dataclass_cache()

import click  # noqa: E402  (after the cache is installed, on purpose)

from pallet import __version__  # noqa: E402
from pallet.commands import COMMANDS  # noqa: E402
from pallet.fastpath import default_root, host_requested, present, sweep_scratch  # noqa: E402,F401


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, (module, _, _) in COMMANDS.items() if _module_exists(module))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _module_exists(entry[0]):
            return None
        module_name, attribute, _ = entry
        command = getattr(importlib.import_module(module_name), attribute)
        if not host_requested(ctx.params):
            return command
        # only now, and only then, anything of the remote client (pallet/remote) is imported
        from pallet.remote.dispatch import remote_command
        return remote_command(ctx, cmd_name, command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(module_name: str) -> bool:
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-v", prog_name="pallet",
                      message="%(prog)s version %(version)s")
@click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path),
              envvar="PALLET_ROOT", default=None,
              help="Store directory (default /var/lib/pallet as root; env PALLET_ROOT).")
@click.option("--debug", is_flag=True, envvar="PALLET_DEBUG",
              help="Show tracebacks for errors.")
@click.option("-H", "--host", "hosts", multiple=True, metavar="URL",
              help="Act on this host: unix:///PATH, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT] "
                   "(env PALLET_HOST, else DOCKER_HOST; default: the local store)")
@click.option("-c", "--context", default=None, metavar="NAME",
              help='Act on this context\'s host (env DOCKER_CONTEXT; see "pallet context")')
@click.option("--tls", is_flag=True, help="Use TLS; implied by --tlsverify")
@click.option("--tlsverify", is_flag=True, help="Use TLS and verify the remote (env DOCKER_TLS_VERIFY)")
@click.option("--tlscacert", default=None, metavar="FILE",
              help="Trust certs signed only by this CA (default $DOCKER_CERT_PATH/ca.pem)")
@click.option("--tlscert", default=None, metavar="FILE",
              help="TLS certificate file (default $DOCKER_CERT_PATH/cert.pem)")
@click.option("--tlskey", default=None, metavar="FILE",
              help="TLS key file (default $DOCKER_CERT_PATH/key.pem)")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, debug: bool, **_host_options) -> None:
    """Build images from Dockerfile-style build files and run them."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = (root or default_root()).absolute()
    ctx.obj["debug"] = debug
    if "pallet.remote.host" not in ctx.meta:      # a remote host's command has no local store
        sweep_scratch(ctx.obj["root"] / "tmp")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turn PalletError into a one-paragraph message and an exit code."""
    try:
        _main(argv)
    finally:
        if argv is None:
            # The process ends now: the interpreter's teardown would run the cycle collector
            # over every object of every module loaded (measured 20-30 ms of each command's
            # wall time, a sixth of `run --rm`). Frozen objects are skipped by it; everything
            # else of the teardown (threads joined, atexit, files closed) still happens.
            import gc
            gc.freeze()


def _main(argv: list[str] | None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("PALLET_DEBUG"))
    try:
        # Without standalone mode click returns ctx.exit()'s code instead of exiting.
        code = cli.main(args=args, prog_name="pallet", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - present() sorts them:
        present(error, args, debug)                  # a bug is the last line of defence


if __name__ == "__main__":
    main()
