"""The `pallet` console script: the CLI, except for the host side of ssh:// and the fast path.

`pallet system dial-stdio` is started by ssh once per HTTP connection of a remote client; it
only pumps bytes (pallet/remote/dialstdio.py), so it skips the CLI's start-up (click, the
command table, the code cache). `run`, `exec`, `ps` and `build` with an argv click would only
parse go through pallet/fastpath.py, without importing click. Everything else goes to
pallet.cli.main unchanged (as `python -m pallet` always does).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    args = sys.argv[1:]
    if args[-2:] == ["system", "dial-stdio"]:
        from pallet.remote.shim import dial_target, main as dial
        if dial_target(args) is not None:
            os._exit(dial(args))     # stdout is closed by the pump; nothing left to flush
    from pallet import fastpath
    try:
        handled = fastpath.main(args)
    except BaseException:        # SystemExit too: the command's exit code
        _quiet_teardown()
        raise
    if handled:
        _quiet_teardown()
        return
    from pallet.cli import main as cli_main
    cli_main()


def _quiet_teardown() -> None:
    """The process ends now: without this the interpreter's teardown runs the cycle collector
    over every object of every module loaded (pallet.cli.main, which does the same, says
    more)."""
    import gc
    gc.freeze()
