"""The SDK's exceptions as the docker CLI words them (the contract is in pallet/remote/__init__).

    translated(host, dialer=None)   context manager: API and connection errors -> RemoteError
    RemoteError                     a PalletError printed bare, as docker prints its own
    for_each(names, action)         docker's multi-target shape over the API
"""

from __future__ import annotations

import contextlib
import sys

import click

from pallet.base.errors import PalletError


class RemoteError(PalletError):
    bare = True     # docker prints "Error response from daemon: ..." with no "Error:" before it


def daemon_error(error) -> RemoteError:
    """An API error (docker.errors.APIError, or a plain HTTP error of requests)."""
    response = getattr(error, "response", None)
    message = getattr(error, "explanation", None)
    if message is None and response is not None:
        try:
            message = response.json().get("message")
        except ValueError:
            message = (response.text or "").strip()
    if not message:
        status = response.status_code if response is not None else "?"
        message = f"the host answered HTTP {status} without a message"
    return RemoteError(f"Error response from daemon: {message}", exit_code=1)


def _cause(error: BaseException) -> str:
    """The innermost OS-level reason of a connection failure, in a few words."""
    seen = error
    while seen is not None:
        if isinstance(seen, FileNotFoundError):
            return "no such socket"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, PermissionError):
            return "permission denied (the socket is not open to this user)"
        if isinstance(seen, TimeoutError):
            return "timed out"
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        nested = getattr(seen, "reason", None)
        if isinstance(nested, BaseException) and nested is not seen:
            seen = nested
            continue
        if seen.args and isinstance(seen.args[-1], BaseException) and seen.args[-1] is not seen:
            seen = seen.args[-1]
            continue
        seen = seen.__cause__ or seen.__context__
    return str(error) or type(error).__name__


def connection_error(host, error: BaseException, dialer=None) -> RemoteError:
    """``dialer``: the ssh transport's SshDialer (or a function returning it, or None)."""
    if callable(dialer):
        dialer = dialer()
    where = host.url + ("" if host.context == "default" else f' (context "{host.context}")')
    if host.scheme == "ssh":
        reason = (dialer.failure() if dialer is not None else None) or \
            "the ssh session ended before the host answered"
        advice = ("Check that the host is reachable, that ssh can log in without a prompt "
                  "(key or agent, known host key), and that `pallet` is on the remote PATH.")
    else:
        reason = _cause(error)
        advice = ("Is `pallet serve` (or a docker daemon) running there?" if host.scheme == "unix"
                  else "Is `pallet serve` listening there, with the TLS settings given?")
    return RemoteError(f"Cannot connect to the pallet engine at {where}: {reason}. {advice}",
                       exit_code=1)


def tls_failure(host, error: BaseException) -> RemoteError:
    return RemoteError(f"TLS with {host.url} failed: {_cause(error)}. Check --tlscacert/"
                       "--tlscert/--tlskey (or the context's TLS files).", exit_code=1)


@contextlib.contextmanager
def translated(host, dialer=None):
    try:
        yield
    except RemoteError:
        raise
    except Exception as error:
        failure = _translation(error, host, dialer)
        if failure is None:
            raise
        raise failure from error


def _translation(error: Exception, host, dialer) -> RemoteError | None:
    """The SDK's (and requests') exceptions in docker's words, or None for anything else.
    Their classes are looked at only when they are imported: a command that never made an
    SDK client (light.py's GETs) never pays for importing them."""
    if "requests" not in sys.modules:
        return connection_error(host, error, dialer) if isinstance(error, ConnectionError) \
            else None
    import requests
    from docker.errors import APIError, DockerException
    if isinstance(error, APIError):
        return daemon_error(error)
    if isinstance(error, requests.exceptions.SSLError):
        return tls_failure(host, error)
    if isinstance(error, requests.exceptions.HTTPError):
        return daemon_error(error)
    if isinstance(error, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                          ConnectionError)):
        return connection_error(host, error, dialer)
    if isinstance(error, DockerException):
        cause = error.__cause__
        if isinstance(cause, APIError):
            return daemon_error(cause)
        if isinstance(cause, (requests.exceptions.ConnectionError, ConnectionError)):
            return connection_error(host, cause, dialer)
        return RemoteError(f"Error: {error}", exit_code=1)
    return None


def for_each(names, action, *, echo_result: bool = False) -> None:
    """Run ``action(name)`` for every target, echo the name (or its result), print each
    daemon error as docker does, exit 1 if any failed. Connection errors end it at once."""
    from requests.exceptions import HTTPError    # the SDK's APIError is one
    failed = False
    for name in names:
        try:
            result = action(name)
        except HTTPError as error:
            click.echo(daemon_error(error).message, err=True)
            failed = True
            continue
        click.echo(result if echo_result else name)
    if failed:
        sys.exit(1)
