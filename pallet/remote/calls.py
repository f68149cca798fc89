"""API calls whose refusal needs an exit code of its own (run and create: 125), as the
contract in pallet/remote/__init__.py asks: the host's error in docker's words
(errors.daemon_error), with the code the local command would exit with.

    with api_call(exit_code=125):
        client...                 docker.errors.APIError -> errors.RemoteError(exit_code)
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def api_call(exit_code: int = 1):
    from docker.errors import APIError

    from pallet.remote.errors import daemon_error
    try:
        yield
    except APIError as error:
        failure = daemon_error(error)
        failure.exit_code = exit_code
        raise failure from error


def explanation(error) -> str:
    """The host's {"message": ...} of an APIError."""
    from pallet.remote.errors import daemon_error
    return daemon_error(error).message.removeprefix("Error response from daemon: ")
