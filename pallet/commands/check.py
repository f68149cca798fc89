"""``pallet check [-f FILE] [CONTEXT]``: report every error and warning of a build file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pallet.base.errors import PalletError


def _locate(context: str, file: str | None) -> tuple[str, Path | None]:
    """(display path, file path or None for stdin), Docker's lookup: Dockerfile, Containerfile."""
    if file == "-":
        return "<stdin>", None
    if file is not None:
        return file, Path(file)
    root = Path(context)
    if not root.is_dir():
        raise PalletError(f"build context {context!r} is not a directory",
                          hint="pass a directory, or the file with -f")
    for name in ("Dockerfile", "Containerfile"):
        if (root / name).is_file():
            shown = str(root / name) if context != "." else name
            return shown, root / name
    raise PalletError(f"no Dockerfile or Containerfile in {context!r}",
                      hint="name the build file with -f PATH")


@click.command("check")
@click.option("-f", "--file", "file", metavar="FILE", default=None,
              help="Build file (default: CONTEXT/Dockerfile, else CONTEXT/Containerfile; - for stdin)")
@click.argument("context", default=".", required=False)
def check(file: str | None, context: str) -> None:
    """Check a build file for errors and warnings (exit 1 when it has errors)."""
    from pallet.grammar.lint import check as run_check

    shown, path = _locate(context, file)
    from pallet.grammar.lines import MAX_FILE_BYTES

    if path is None:
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    else:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)  # one byte more tells it is too large
        except OSError as error:
            raise PalletError(f"cannot read build file {shown}: {error.strerror}",
                              hint="check the path given with -f") from error
    report = run_check(data, shown)
    for diagnostic in report.diagnostics:
        click.echo(diagnostic.render())
    errors, warnings = len(report.errors), len(report.warnings)
    if not report.diagnostics:
        click.echo(f"{shown}: no problems found")
    else:
        click.echo(f"{shown}: {errors} error{'s' * (errors != 1)}, "
                   f"{warnings} warning{'s' * (warnings != 1)}")
    if errors:
        # The diagnostics are already printed; exit 1 like a failed docker command. (SystemExit,
        # not ctx.exit: the CLI runs click with standalone_mode=False, which turns ctx.exit
        # into a return value that main() does not pass on.)
        sys.exit(1)
