"""Sizes and durations for people, as Docker prints them (go-units).

    human_size(n) -> str          HumanSizeWithPrecision(n, 3): "4.26MB" (decimal units)
    human_size_binary(n) -> str   BytesSize: "23.54GiB" (binary units, %.4g)
    human_duration(seconds) -> str  HumanDuration: "About a minute", "3 weeks"

Here (pallet.base) because both fronts and the engine's views print them.
"""

from __future__ import annotations


def _go_g(value: float, precision: int) -> str:
    # Go's %.3g: like C's, but exponents have at least two digits (1e+03).
    return f"{value:.{precision}g}"


def human_size(size: float, precision: int = 3) -> str:
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    index = 0
    value = float(size)
    while value >= 1000.0 and index < len(units) - 1:
        value /= 1000.0
        index += 1
    return _go_g(value, precision) + units[index]


def human_size_binary(size: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    index = 0
    value = float(size)
    while value >= 1024.0 and index < len(units) - 1:
        value /= 1024.0
        index += 1
    return _go_g(value, 4) + units[index]


def human_duration(seconds: float) -> str:
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600 / 24 / 365)} years"
