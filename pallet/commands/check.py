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
        if (root / name).is_file() or (root / name).is_symlink():
            shown = str(root / name) if context != "." else name
            return shown, root / name
    raise PalletError(f"no Dockerfile or Containerfile in {context!r}",
                      hint="name the build file with -f PATH")


def _read_in_context(context: Path, name: str, shown: str, limit: int) -> bytes:
    """The context's own build file: a symlink is followed inside the context (a cloned
    repository's `Dockerfile -> /etc/shadow` must not print the host's file), a FIFO refused."""
    import os
    import stat
    try:
        fd = os.open(context / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno != 40:   # ELOOP: a symlink, resolved inside the context below
            raise PalletError(f"cannot read build file {shown}: {error.strerror}") from error
        from pallet.builder.context import read_in_context
        from pallet.runtime.isolation.confine import Root
        with Root(context) as root:
            data = read_in_context(root, name, limit=limit)
        if data is None:
            raise PalletError(f"cannot read build file {shown}: it is a symlink to nothing in "
                              "the context", hint="symlinks are followed inside the context, "
                                                  "as Docker does") from error
        return data
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PalletError(f"cannot read build file {shown}: not a regular file")
        return handle.read(limit + 1)   # one byte more tells it is too large


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
    elif file is None:
        data = _read_in_context(Path(context), path.name, shown, MAX_FILE_BYTES)
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
