"""Flag values the commands share, refused with the docker CLI's words (cobra's
'invalid argument "V" for "FLAG" flag: REASON', exit status 125); the parsing itself is
pallet.base.units', which the engine and the grammar use too."""

from __future__ import annotations

import contextlib

from pallet.base.errors import PalletError


def _invalid(text: str, flag: str, error: ValueError, hint: str | None = None) -> PalletError:
    return PalletError(f'invalid argument "{text}" for "{flag}" flag: {error}', hint=hint,
                       exit_code=125)


# What docker's CLI refuses itself in its run/create option parsing (cli/command/container/
# opts.go), besides the flag parser's 'invalid argument' texts.
CLIENT_REFUSALS = ("conflicting options: cannot specify both --restart and --rm",)


def is_client_refusal(error: PalletError) -> bool:
    """A refusal of docker's CLI itself (the flag parser's words, or its option checks), as
    opposed to a refusal of the engine: the CLI makes the first exit 125 for every command."""
    return ((error.message.startswith('invalid argument "') and '" flag: ' in error.message)
            or error.message.startswith(CLIENT_REFUSALS))


@contextlib.contextmanager
def create_exit_codes():
    """`docker create` exits 125 for the flag parser's refusals and 1 for the engine's
    (name taken, a memory below 6MB, an unknown capability, an image it cannot pull); `run`
    makes both 125, which is what pallet's refusals carry."""
    try:
        yield
    except PalletError as error:
        if error.exit_code == 125 and not is_client_refusal(error):
            error.exit_code = 1
        raise


def size_flag(text: str, flag: str) -> int:
    """A size (go-units RAMInBytes: 64m, 1.5g, 512kb)."""
    from pallet.base.units import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise _invalid(text, flag, error,
                       "use a number with an optional unit: b, k, m or g (e.g. 256m)") from error


def duration_flag(text: str, flag: str) -> int:
    """A Go duration (1m30s, 500ms), in nanoseconds."""
    from pallet.base.units import parse_go_duration

    try:
        return parse_go_duration(text)
    except ValueError as error:
        raise _invalid(text, flag, error) from error


def filter_flags(values) -> dict[str, list[str]]:
    """Repeated --filter name=value, as docker's opts.FilterOpt collects them."""
    filters: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise PalletError(f'invalid argument "{item}" for "-f, --filter" flag: bad format '
                              "of filter (expected name=value)", exit_code=125)
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters
