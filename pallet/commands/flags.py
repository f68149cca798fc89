"""Flag values the commands share, refused with the docker CLI's words (cobra's
'invalid argument "V" for "FLAG" flag: REASON', exit status 125); the parsing itself is
pallet.base.units', which the engine and the grammar use too."""

from __future__ import annotations

from pallet.base.errors import PalletError


def _invalid(text: str, flag: str, error: ValueError, hint: str | None = None) -> PalletError:
    return PalletError(f'invalid argument "{text}" for "{flag}" flag: {error}', hint=hint,
                       exit_code=125)


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
