"""pallet.base.units: the one parser each for sizes, Go durations and times, checked against
the cases of their Go originals (go-units' size tests, Go's time.ParseDuration tests, Docker's
api/types/time GetTimestamp tests)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from pallet.base.units import (ZERO_TIME, docker_timestamp, now_rfc3339, parse_go_duration,
                               parse_rfc3339, parse_size, rfc3339_nanos)

KiB, MiB, GiB, TiB, PiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40, 1 << 50
SECOND, MINUTE, HOUR = 10 ** 9, 60 * 10 ** 9, 3600 * 10 ** 9


@pytest.mark.parametrize("text, size", [
    ("32", 32), ("32b", 32), ("32B", 32), ("32k", 32 * KiB), ("32K", 32 * KiB),
    ("32kb", 32 * KiB), ("32Kb", 32 * KiB), ("32Kib", 32 * KiB), ("32KIB", 32 * KiB),
    ("32Mb", 32 * MiB), ("32Gb", 32 * GiB), ("32Tb", 32 * TiB), ("32Pb", 32 * PiB),
    ("32PB", 32 * PiB), ("32P", 32 * PiB), ("32.3", 32), ("32.3 mb", int(32.3 * MiB)),
    ("1.5g", int(1.5 * GiB))])
def test_sizes_read_as_go_units_ram_in_bytes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "hello", "-32", " 32 ", "32m b", "32bm", "1.2.3m"])
def test_malformed_sizes_are_refused_in_go_units_words(text):
    with pytest.raises(ValueError, match=f"^invalid size: '{text}'$"):
        parse_size(text)


@pytest.mark.parametrize("text, nanos", [
    ("0", 0), ("5s", 5 * SECOND), ("30s", 30 * SECOND), ("1478s", 1478 * SECOND),
    ("-5s", -5 * SECOND), ("+5s", 5 * SECOND), ("-0", 0), ("+0", 0),
    ("5.0s", 5 * SECOND), ("5.6s", 5600 * 10 ** 6), ("5.s", 5 * SECOND), (".5s", 500 * 10 ** 6),
    ("1.004s", 1004 * 10 ** 6), ("100.00100s", 100001 * 10 ** 6),
    ("10ns", 10), ("11us", 11_000), ("12µs", 12_000), ("12μs", 12_000), ("13ms", 13 * 10 ** 6),
    ("15m", 15 * MINUTE), ("16h", 16 * HOUR), ("3h30m", 3 * HOUR + 30 * MINUTE),
    ("10.5s4m", 4 * MINUTE + 10500 * 10 ** 6), ("-2m3.4s", -(2 * MINUTE + 3400 * 10 ** 6)),
    ("1h2m3s4ms5us6ns", HOUR + 2 * MINUTE + 3 * SECOND + 4_005_006),
    ("39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14425 * 10 ** 6),
    ("0.3333333333333333333h", 20 * MINUTE), ("9223372036854775807ns", (1 << 63) - 1),
    ("-9223372036854775808ns", -(1 << 63)),
    ("0.830103483285477580700h", 49 * MINUTE + 48 * SECOND + 372539827)])
def test_durations_read_as_go_parse_duration(text, nanos):
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize("text, message", [
    ("", 'time: invalid duration ""'), ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'), ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'), (".s", 'time: invalid duration ".s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("3000000h", 'time: invalid duration "3000000h"')])
def test_malformed_durations_are_refused_in_go_words(text, message):
    with pytest.raises(ValueError) as caught:
        parse_go_duration(text)
    assert str(caught.value) == message


def test_stored_times_keep_nanoseconds_and_the_zero_time_is_none():
    assert rfc3339_nanos("2023-11-14T22:13:20.123456789Z") == 1_700_000_000_123_456_789
    assert rfc3339_nanos("2023-11-15T00:13:20.5+02:00") == 1_700_000_000_500_000_000
    assert parse_rfc3339("2023-11-14T22:13:20.123456789Z") == \
        datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
    assert parse_rfc3339(ZERO_TIME) is None and parse_rfc3339("") is None
    assert parse_rfc3339("yesterday") is None
    written = now_rfc3339()
    assert len(written.partition(".")[2]) == 10 and written.endswith("Z")   # 9 digits + Z
    assert abs(rfc3339_nanos(written) / 1e9 - time.time()) < 5


def test_docker_timestamps_durations_times_dates_and_unix_seconds(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        now = 1_700_000_000.0
        assert docker_timestamp("10m", now) == now - 600
        assert docker_timestamp("1h30m", now) == now - 5400
        assert docker_timestamp("1700000000", now) == 1_700_000_000
        assert docker_timestamp("1700000000.5", now) == 1_700_000_000.5
        assert docker_timestamp("2023-11-14T22:13:20Z", now) == 1_700_000_000
        assert docker_timestamp("2023-11-14T23:13:20+01:00", now) == 1_700_000_000
        assert docker_timestamp("2023-11-14T22:13:20.25Z", now) == 1_700_000_000.25
        assert docker_timestamp("2023-11-14", now) == 1_699_920_000    # local midnight (UTC here)
        assert docker_timestamp("2023-11-14T22:13", now) == 1_699_999_980
        for bad in ("bogus", "2023-13-99", "1h1"):
            with pytest.raises(ValueError, match="failed to parse value as time or duration"):
                docker_timestamp(bad, now)
    finally:
        monkeypatch.undo()
        time.tzset()
