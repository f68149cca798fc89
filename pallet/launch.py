"""The `pallet` console script: the CLI, except for the host side of ssh://.

`pallet system dial-stdio` is started by ssh once per HTTP connection of a remote client; it
only pumps bytes (pallet/remote/dialstdio.py), so it skips the CLI's start-up (click, the
command table, the code cache). Everything else goes to pallet.cli.main unchanged.
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
    from pallet.cli import main as cli_main
    cli_main()
