"""Sizes, durations and times as Docker reads and writes them: one parser for each.

    parse_size(text) -> int              go-units RAMInBytes: "64m", "1.5g", "512kb", "2GiB"
                                         (binary units, case-insensitive; Docker's --memory,
                                         --shm-size, tmpfs size, builder --keep-storage)
    parse_go_duration(text) -> int       Go's time.ParseDuration, in nanoseconds ("1m30s", "-2h")
    parse_rfc3339(text) -> datetime|None a stored RFC 3339 time (nanoseconds cut to microseconds);
                                         None for "", Go's zero time or an unreadable text
    rfc3339_nanos(text) -> int           the same time as exact nanoseconds since the epoch
    now_rfc3339() -> str                 the time now, as the store and logs record it (ns)
    docker_timestamp(value, now) -> float  Docker's GetTimestamp (--since/--until, until=
                                         filters): a Go duration back from now, an RFC 3339 time
                                         or date (local when it names no zone), or Unix seconds

Parsers raise ValueError with Go's own wording; each caller wraps it into its PalletError with
the flag or instruction it came from. Here (pallet.base, which imports nothing of ours) because
the grammar (HEALTHCHECK durations), the builder (--mount size), the engine (stored times) and
both fronts use them, and the grammar and the engine may import nothing else of ours.
"""

from __future__ import annotations

import re
TYPE_CHECKING = False   # typing's flag without importing typing (~3 ms of every command)

if TYPE_CHECKING:   # datetime is imported where a time is parsed (`exec` never does: ~1.5 ms)
    from datetime import datetime

# Patterns as strings: re compiles (and caches) one on its first use, not at import time.
_SIZE = r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?"
_BINARY = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

_NUMBER = r"([0-9]*)(?:\.([0-9]*))?"
_UNIT = r"[^0-9.]*"
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
            "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_MAX_NS = (1 << 63) - 1

_RFC3339 = r"(?i)(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?"
_ISO_DATE = r"\d{4}-\d\d-\d\d"
_UNIX_SECONDS = r"\d+(?:\.\d{1,9})?"
ZERO_TIME = "0001-01-01T00:00:00Z"


def parse_size(text: str) -> int:
    """go-units RAMInBytes: a number (fractions allowed) and an optional binary unit."""
    match = re.fullmatch(_SIZE, text)
    try:
        number = float(match.group(1)) if match else None
    except ValueError:
        number = None          # "1.2.3" matches go-units' pattern but is no number
    if number is None:
        raise ValueError(f"invalid size: '{text}'")
    unit = match.group(2).lower() if match.group(2) else None
    return int(number * _BINARY[unit])


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, step for step (time/format.go): [-+]("0" | (decimal unit)+),
    units ns us µs ms s m h; the fraction is scaled in floating point as Go does."""
    invalid = ValueError(f'time: invalid duration "{text}"')
    rest = text
    negative = rest[:1] == "-"
    if rest[:1] in ("-", "+"):
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        number = re.match(_NUMBER, rest)
        whole, fraction = number.group(1), number.group(2)
        if not whole and not fraction:
            raise invalid
        rest = rest[number.end():]
        unit = re.match(_UNIT, rest).group(0)
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _UNIT_NS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        rest = rest[len(unit):]
        scale = _UNIT_NS[unit]
        value = int(whole or "0")
        if value > (1 << 63) // scale:
            raise invalid
        value *= scale
        if fraction:
            digits, divisor = _leading_fraction(fraction)
            value += int(digits * (scale / divisor))
        total += value
        if value > 1 << 63 or total > 1 << 63:
            raise invalid
    if negative:
        return -total
    if total > _MAX_NS:
        raise invalid
    return total


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's leadingFraction: the digits that fit in 63 bits, and 10 to their count."""
    value, divisor = 0, 1.0
    for digit in digits:
        if value > _MAX_NS // 10:
            break
        bigger = value * 10 + int(digit)
        if bigger > 1 << 63:
            break
        value, divisor = bigger, divisor * 10
    return value, divisor


def _split_rfc3339(text: str) -> tuple[datetime, int] | None:
    """(the time to the second, in UTC; the nanoseconds) or None."""
    from datetime import datetime, timezone
    match = re.fullmatch(_RFC3339, text.strip()) if text else None
    if match is None or text.startswith("0001-"):
        return None
    zone = match.group(3) or "Z"
    try:
        moment = datetime.fromisoformat(match.group(1) + ("+00:00" if zone in "Zz" else zone))
    except ValueError:
        return None
    nanos = int((match.group(2) or "0")[:9].ljust(9, "0"))
    return moment.astimezone(timezone.utc), nanos


def parse_rfc3339(text: str) -> datetime | None:
    split = _split_rfc3339(text)
    if split is None:
        return None
    moment, nanos = split
    return moment.replace(microsecond=nanos // 1000)


def rfc3339_nanos(text: str) -> int:
    split = _split_rfc3339(text)
    if split is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    moment, nanos = split
    return int(moment.timestamp()) * 1_000_000_000 + nanos


def now_rfc3339() -> str:
    """Now, in UTC with nanoseconds, as Docker writes its times (RFC3339Nano)."""
    import time

    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{nanos:09d}Z"


def docker_timestamp(value: str, now: float) -> float:
    """Docker's api/types/time.GetTimestamp, as seconds since the epoch."""
    if value != "0":
        try:
            return now - parse_go_duration(value) / 1e9
        except ValueError:
            pass
    if re.match(_ISO_DATE, value):
        from datetime import datetime
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError(f'failed to parse value as time or duration: "{value}"') from None
        if moment.tzinfo is None:
            moment = moment.astimezone()     # no zone named: local time, as Go's ParseInLocation
        fraction = value.partition(".")[2]
        digits = fraction[:len(fraction) - len(fraction.lstrip("0123456789"))] if fraction else ""
        return int(moment.replace(microsecond=0).timestamp()) + int(digits[:9].ljust(9, "0")) / 1e9
    if re.fullmatch(_UNIX_SECONDS, value):
        return float(value)
    raise ValueError(f'failed to parse value as time or duration: "{value}"')
