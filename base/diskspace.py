"""A full disk as a user error: what was being written, and how to get space back.

Every write of the engine can meet ENOSPC (or EDQUOT). A write site that knows what it is
doing wraps itself in ``writing("what")``; anything else is caught by the CLI's top level,
which names the command. Either way the user reads "no space left on device" and the way out,
never an internal error.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Iterator

from pallet.base.errors import PalletError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
HINT = ("free space on that filesystem: `pallet system prune -a`, `pallet builder prune`, "
        "`pallet rm` stopped containers; or put the store elsewhere with --root")


class NoSpaceError(PalletError):
    """The disk (or the quota) is full."""


def is_no_space(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in NO_SPACE


def no_space_error(what: str, where: object = None) -> NoSpaceError:
    place = f" ({where})" if where else ""
    return NoSpaceError(f"no space left on device while {what}{place}", hint=HINT)


@contextlib.contextmanager
def writing(what: str, where: object = None) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised inside into a NoSpaceError naming what was being written."""
    try:
        yield
    except OSError as error:
        if error.errno in NO_SPACE:
            raise no_space_error(what, where) from error
        raise
