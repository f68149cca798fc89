"""`pallet run/exec/ps/build` without importing click, when click would do nothing but parse.

Importing click and building the command tree is ~15-20 ms of CPU, a fifth of `pallet exec`
and a quarter of a cached `pallet build`. The flags of these commands are data
(pallet.argspec; the click commands are made from the same lists), so the common argv is
parsed here, the way click's parser does it, and the command's click-free function is called
with the same values click would pass. Everything else goes to click unchanged: any global
option but --root/--debug, a remote host (-H, a context, DOCKER_HOST, ...), help, shell
completion, an argv click would refuse or convert in a way argspec does not mirror, streams
click would re-wrap (an ASCII stdout) -- then ``main`` returns False having done nothing
visible.

Failures are presented as pallet.cli presents them (``present`` is shared), including what
click's own main does around a command: Ctrl-C prints a newline and "Aborted." (exit 130), a
closed stdout pipe exits 1 quietly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# command -> the click-free module with its SPEC and the function taking (root, **params)
COMMANDS = {
    "exec": ("pallet.commands.exec_command", "exec_command"),
    "ps": ("pallet.commands.ps_command", "ps_command"),
    "run": ("pallet.commands.run_command", "run_command"),
    "build": ("pallet.commands.build_command", "build_command"),
}


def main(args: list[str]) -> bool:
    """Run args here if nothing in them needs click; False when nothing was done."""
    prepared = _prepare(args)
    if prepared is None:
        return False
    function, root, params, debug = prepared
    import errno

    try:
        sweep_scratch(root / "tmp")
        function(root, **params)
    except (EOFError, KeyboardInterrupt):
        from pallet.commands.echo import echo
        echo(err=True)                 # click: the blank line closes the terminal's ^C echo
        echo("Aborted.", err=True)
        sys.exit(130)
    except OSError as error:
        if error.errno != errno.EPIPE:
            present(error, args, debug)
        # as click: `pallet ps | head` ends quietly, exit 1, no complaint at the final flush
        sys.stdout = _PacifyFlush(sys.stdout)
        sys.stderr = _PacifyFlush(sys.stderr)
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - presented exactly as the click path does
        present(error, args, debug)
    return True


def _prepare(args: list[str]):
    """(function, root, params, debug) when the fast path can run args, else None."""
    root_text, index = None, 0
    while index < len(args):
        word = args[index]
        if word == "--root" and index + 1 < len(args):
            root_text = args[index + 1]
            index += 2
        elif word.startswith("--root="):
            root_text = word[7:]
            index += 1
        elif word == "--debug":
            index += 1
        elif word.startswith("-"):
            return None              # any other global option, "--", help, version: click's
        else:
            break
    if index >= len(args) or args[index] not in COMMANDS:
        return None
    if root_text is None:
        root_text = os.environ.get("PALLET_ROOT") or None   # click: an empty variable is unset
    if root_text is not None and not _plain_root(root_text):
        return None
    environ = os.environ
    if environ.get("_PALLET_COMPLETE") or not _plain_stream(sys.stdout) \
            or not _plain_stream(sys.stderr) or host_requested({}):
        return None
    # before any module of ours defines a dataclass (base/codecache.py)
    from pallet.base.codecache import install_dataclass_cache
    install_dataclass_cache()
    import importlib

    from pallet.argspec import parse
    module_name, function_name = COMMANDS[args[index]]
    module = importlib.import_module(module_name)
    params = parse(module.SPEC, args[index + 1:])
    if params is None:
        return None
    root = (Path(root_text) if root_text is not None else default_root()).absolute()
    # as pallet.cli: --debug anywhere in argv (even after the command) shows tracebacks
    debug = "--debug" in args or bool(environ.get("PALLET_DEBUG"))
    return getattr(module, function_name), root, params, debug


def _plain_root(text: str) -> bool:
    """Whether click's Path(file_okay=False) takes text as it is (else click says why)."""
    import stat
    if not text:
        return False
    try:
        status = os.stat(text)
    except OSError:
        return True
    return not stat.S_ISREG(status.st_mode) and os.access(text, os.R_OK)


def _plain_stream(stream) -> bool:
    """A stream click.echo would use as it is: present, and not ASCII (click re-wraps those)."""
    from pallet.commands.echo import plain_stream
    return stream is not None and plain_stream(stream)


class _PacifyFlush:
    """click's _PacifyFlushWrapper: a flush into a closed pipe is no error."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        import errno
        try:
            self.wrapped.flush()
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str):
        return getattr(self.wrapped, name)


def default_root() -> Path:
    """Docker-like default store: /var/lib/pallet for root, else under XDG_DATA_HOME."""
    if os.geteuid() == 0:
        return Path("/var/lib/pallet")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "pallet"


def host_requested(params: dict) -> bool:
    """Whether anything asks for a host other than the local store: docker's inputs (-H,
    --context, the environment, a currentContext in the Docker config). pallet.remote.hosts
    resolves it (the "default" context is the local store); this only keeps the local path
    from importing it."""
    if params.get("hosts") or params.get("context"):
        return True
    environ = os.environ
    if environ.get("PALLET_HOST") or environ.get("DOCKER_HOST") or environ.get("DOCKER_CONTEXT"):
        return True
    directory = environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(directory, "config.json"), "rb") as config:
            return b'"currentContext"' in config.read()
    except OSError:
        return False


def sweep_scratch(tmp: Path) -> None:
    """Every command first clears what killed pallet processes left in the store's tmp/
    (runtime/store/scratch.py); a store with nothing there costs one directory read."""
    try:
        if not any(os.scandir(tmp)):
            return
    except OSError:
        return  # no store yet, or not ours to read: the command reports what matters
    from pallet.runtime.store import scratch
    scratch.sweep(tmp)


def present(error: BaseException, args: list[str], debug: bool) -> None:
    """A failure as the user sees it (both paths): a PalletError's one paragraph and exit
    code, a full disk named, anything else an internal error; --debug raises it instead."""
    from pallet.base.errors import PalletError
    from pallet.commands.echo import echo
    if isinstance(error, PalletError):
        if debug:
            raise error
        # Some of Docker's messages stand alone ("template parsing error: ..."), no "Error:".
        prefix = "" if getattr(error, "bare", False) else "Error: "
        echo(f"{prefix}{error.render()}", err=True)
        sys.exit(error.exit_code)
    if isinstance(error, BrokenPipeError):
        # `pallet images | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        sys.exit(0)
    if isinstance(error, KeyboardInterrupt):
        sys.exit(130)
    if isinstance(error, OSError):
        from pallet.base.diskspace import is_no_space, no_space_error
        if debug or not is_no_space(error):
            _internal_error(error, debug)
        # a write site that did not say what it was writing: name the command at least
        command = _command_name(args)
        where = getattr(error, "filename", None) or f"the store at {_root_of(args)}"
        message = no_space_error(f"running `pallet {command}`", where)
        echo(f"Error: {message.render()}", err=True)
        sys.exit(125 if command in ("run", "create", "start") else 1)
    _internal_error(error, debug)


def _command_name(args: list[str]) -> str:
    """The subcommand in argv (after the global options)."""
    words = iter(args)
    for word in words:
        if word in ("--root", "-H", "--host", "-c", "--context", "--tlscacert", "--tlscert",
                    "--tlskey"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def _root_of(args: list[str]) -> Path:
    for index, word in enumerate(args[:-1]):
        if word == "--root":
            return Path(args[index + 1])
    return Path(os.environ.get("PALLET_ROOT") or default_root())


def _internal_error(error: BaseException, debug: bool) -> None:
    if debug:
        raise error
    from pallet.commands.echo import echo
    echo(f"Error: internal error: {type(error).__name__}: {error}\n"
         "(this is a bug in pallet; rerun with --debug for the traceback)", err=True)
    sys.exit(125)
