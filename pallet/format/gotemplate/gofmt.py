"""The part of Go's fmt that templates reach: Sprint, Sprintln, Sprintf and %v of every value.

    format_value(v) -> str         fmt's %v ([a b], map[k:v], {field values}, <nil>, 1e+06)
    sprint(*args) / sprintln(*args) / sprintf(format, *args)
"""

from __future__ import annotations

import re
from decimal import Decimal

from pallet.format.gotemplate.lexer import go_quote
from pallet.format.gotemplate.values import GoMap, GoNil, Struct, type_name


def go_float(value: float, verb: str = "g", precision: int | None = None) -> str:
    """strconv.FormatFloat as fmt calls it: %v and %g are the shortest form, switching to an
    exponent when it is below -4 or at least 6 (or the precision)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if verb in ("e", "E", "f", "F"):
        text = f"{value:.{6 if precision is None else precision}{verb.lower()}}"
        return text.upper() if verb in "EF" else text
    if precision is not None:
        return f"{value:.{precision or 1}g}"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    if digits == [0]:
        return "-0" if sign else "0"
    text_digits = "".join(map(str, digits))
    decimal_point = len(digits) + exponent
    exp = decimal_point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text_digits[0] + ("." + text_digits[1:] if len(text_digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if decimal_point <= 0:
        return f"{prefix}0.{'0' * -decimal_point}{text_digits}"
    if decimal_point >= len(text_digits):
        return prefix + text_digits + "0" * (decimal_point - len(text_digits))
    return f"{prefix}{text_digits[:decimal_point]}.{text_digits[decimal_point:]}"


def format_value(value, plus: bool = False, depth: int = 0) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, GoNil):
        return {"slice": "[]", "map": "map[]"}.get(value.kind, "<nil>")
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(format_value(item, plus, depth + 1) for item in value) + "]"
    if isinstance(value, GoMap):
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{format_value(k, plus, depth + 1)}:"
                                 f"{format_value(v, plus, depth + 1)}" for k, v in items) + "]"
    if isinstance(value, dict):
        if plus:
            return "{" + " ".join(f"{k}:{format_value(v, plus, depth + 1)}"
                                  for k, v in value.items()) + "}"
        return "{" + " ".join(format_value(v, plus, depth + 1) for v in value.values()) + "}"
    if isinstance(value, Struct):
        return "&{" + " ".join(format_value(v, plus, depth + 1) for v in value.fields.values()
                               if not callable(v)) + "}"
    return str(value)


def _sort_key(key):
    return (0, key, "") if isinstance(key, (int, float)) and not isinstance(key, bool) else (1, 0, str(key))


def sprint(*args) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for index, arg in enumerate(args):
        if index and not isinstance(arg, str) and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintln(*args) -> str:
    return " ".join(format_value(arg) for arg in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.|$)", re.S)


def _bad(verb: str, arg) -> str:
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(arg)}={format_value(arg)})"


def _pad(text: str, width: int | None, flags: str, numeric: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text + " " * (width - len(text))
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + "0" * (width - len(text)) + text[len(sign):]
    return " " * (width - len(text)) + text


def _format_one(verb: str, flags: str, width, precision, arg) -> str:
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    if verb == "v":
        if isinstance(arg, str) and precision is not None:
            return _pad(arg[:precision], width, flags)
        if isinstance(arg, float) and precision is not None:
            return _pad(go_float(arg, "g", precision), width, flags, True)
        return _pad(format_value(arg, plus="+" in flags), width, flags, is_int)
    if verb == "s":
        if isinstance(arg, str):
            return _pad(arg if precision is None else arg[:precision], width, flags)
        if isinstance(arg, (list, tuple)) and all(isinstance(x, str) for x in arg):
            return _pad(format_value(list(arg)), width, flags)
        return _bad(verb, arg)
    if verb == "q":
        if isinstance(arg, str):
            return _pad(go_quote(arg), width, flags)
        if is_int:
            return _pad("'" + chr(arg) + "'", width, flags)
        return _bad(verb, arg)
    if verb in "dboxXc" and is_int:
        sign = "-" if arg < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
        if verb == "c":
            return _pad(chr(arg), width, flags)
        body = {"d": str, "b": lambda x: format(x, "b"), "o": lambda x: format(x, "o"),
                "x": lambda x: format(x, "x"), "X": lambda x: format(x, "X")}[verb](abs(arg))
        if precision is not None and len(body) < precision:
            body = "0" * (precision - len(body)) + body
        if "#" in flags and verb in "xX":
            body = "0" + verb + body
        return _pad(sign + body, width, flags, True)
    if verb in "xX" and isinstance(arg, str):
        text = arg.encode().hex()
        return _pad(text.upper() if verb == "X" else text, width, flags)
    if verb in "eEfFgG" and isinstance(arg, float):
        text = go_float(arg, verb.lower() if verb in "gG" else verb, precision)
        if "+" in flags and not text.startswith("-"):
            text = "+" + text
        return _pad(text, width, flags, True)
    if verb == "t" and isinstance(arg, bool):
        return _pad("true" if arg else "false", width, flags)
    if isinstance(arg, (list, tuple)) and verb in "dsqxXfeg":
        return "[" + " ".join(_format_one(verb, flags, width, precision, x) for x in arg) + "]"
    return _bad(verb, arg)


def sprintf(format_: str, *args) -> str:
    out, index, used = [], 0, 0
    position = 0
    while position < len(format_):
        percent = format_.find("%", position)
        if percent < 0:
            out.append(format_[position:])
            break
        out.append(format_[position:percent])
        match = _VERB.match(format_, percent)
        flags, width, precision, verb = match.group(1), match.group(2), match.group(3), match.group(4)
        position = match.end()
        if verb == "%":
            out.append("%")
            continue
        if verb == "":
            out.append("%!(NOVERB)")
            break
        if width == "*":
            width = args[index] if index < len(args) and isinstance(args[index], int) else None
            index += 1
        if precision == "*":
            precision = args[index] if index < len(args) and isinstance(args[index], int) else None
            index += 1
        width = int(width) if isinstance(width, str) and width else width
        if isinstance(precision, str):
            precision = int(precision) if precision else 0
        if index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_one(verb, flags, width, precision, args[index]))
        index += 1
        used = index
    if used < len(args) and index < len(args):
        extra = ", ".join(f"{type_name(a)}={format_value(a)}" for a in args[index:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
