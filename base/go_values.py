"""Values parsed as Docker's Go code parses them, with its error texts, for both fronts and the
engine (sizes and durations: pallet.base.units).

    parse_int(text, base=10) -> int            strconv.ParseInt(text, base, 64), ValueError(Go text)
    int_flag(text, flag) -> int | None         an int flag (base 0, as pflag), Docker's error
    parse_bool(text) -> bool                   strconv.ParseBool, ValueError
    parse_rational(text) -> Fraction           math/big Rat.SetString ('1.5', '3/2', '1e3'), ValueError

Docker's messages embed these texts (`strconv.ParseInt: parsing "abc": invalid syntax`), so a
user moving between the tools reads the same error; Python's int()/float() accept what Go does
not ('nan', 'inf', ' 1', '1_0' in places) and reject what it accepts ('3/2').
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pallet.base.errors import PalletError

if TYPE_CHECKING:
    from fractions import Fraction

_INT = re.compile(r"[+-]?[0-9]+")
# compiled by re's own cache on first use (--cpus): compiling it cost every `run` ~1 ms
_RATIONAL = (r"[+-]?(?:(?:[0-9]+(?:_[0-9]+)*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
             r"|[+-]?[0-9]+/[0-9]+")
INT64 = (-(1 << 63), (1 << 63) - 1)


def parse_int(text: str, base: int = 10) -> int:
    """strconv.ParseInt(text, base, 64) for base 10 or 0 (pflag's int flags: 0x10, 0o17, 017)."""
    try:
        if base == 10:
            if not _INT.fullmatch(text):
                raise ValueError(text)
            value = int(text)
        elif re.fullmatch(r"[+-]?0[0-7]+", text):
            value = int(text, 8)
        else:
            value = int(text, 0)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
    if not INT64[0] <= value <= INT64[1]:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


def parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def parse_rational(text: str) -> Fraction:
    # fractions imports decimal (10-40 ms here): only `--cpus` pays for it, not every `run`
    from fractions import Fraction

    if not re.fullmatch(_RATIONAL, text):
        raise ValueError(f"failed to parse {text} as a rational number")
    numerator, slash, denominator = text.replace("_", "").partition("/")
    if slash and int(denominator) == 0:
        raise ValueError(f"failed to parse {text} as a rational number")
    return Fraction(numerator) / (Fraction(denominator) if slash else 1)


def int_flag(text: str | None, flag: str) -> int | None:
    """An integer flag's value, or Docker's (pflag's) error for it."""
    if text is None:
        return None
    try:
        return parse_int(text, 0)
    except ValueError as error:
        raise PalletError(f'invalid argument "{text}" for "{flag}" flag: {error}',
                          exit_code=125) from None
