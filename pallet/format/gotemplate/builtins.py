"""text/template's builtin functions and the docker CLI's (templates.go), with Go's
signatures: each is (callable, parameter kinds, variadic kind or None). Kinds: "any" (Go's
interface{} / reflect.Value), "string", "int", "[]string". A FuncError becomes
"error calling NAME: ..."."""

from __future__ import annotations

import json
import urllib.parse

from pallet.format.gotemplate.gofmt import format_value, go_float, sprint, sprintf, sprintln
from pallet.format.gotemplate.values import GoMap, GoNil, Struct, basic_kind, is_true, type_name


class FuncError(Exception):
    pass


def _truth(value) -> bool:
    return is_true(value)[0]


def _not(value):
    return not _truth(value)


def _len(value):
    if isinstance(value, GoNil):
        if value.kind == "ptr":
            raise FuncError("len of nil pointer")
        return 0
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (list, tuple, dict)):
        return len(value)
    if value is None:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    raise FuncError(f"len of type {type_name(value)}")


def _index_arg(index, cap: int) -> int:
    if index is None:
        raise FuncError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise FuncError(f"cannot index slice/array with type {type_name(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _index(item, *indexes):
    if item is None:
        raise FuncError("index of untyped nil")
    for index in indexes:
        if isinstance(item, GoNil) and item.kind == "ptr":
            raise FuncError("index of nil pointer")
        if isinstance(item, (str, list, tuple)) or isinstance(item, GoNil) and item.kind == "slice":
            position = _index_arg(index, len(item))
            if position >= len(item):
                kind = "string" if isinstance(item, str) else "slice"
                raise FuncError(f"reflect: {kind} index out of range")
            item = item.encode()[position] if isinstance(item, str) else item[position]
        elif isinstance(item, (dict, GoNil)):
            if not isinstance(index, str):
                raise FuncError(f"value has type {type_name(index)}; should be string")
            if isinstance(item, GoNil) or index not in item:
                item = "" if isinstance(item, GoMap) or isinstance(item, GoNil) else None
            else:
                item = item[index]
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def _slice(item, *indexes):
    if item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
    elif not isinstance(item, (list, tuple)):
        raise FuncError(f"can't slice item of type {type_name(item)}")
    cap = len(item)
    bounds = [0, len(item)]
    for position, index in enumerate(indexes):
        bounds_value = _index_arg(index, cap)
        if position < 2:
            bounds[position] = bounds_value
    if bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if isinstance(item, str):
        return item.encode()[bounds[0]:bounds[1]].decode(errors="replace")
    return list(item[bounds[0]:bounds[1]])


def _eq(first, *others):
    if not others:
        raise FuncError("missing argument for comparison")
    kind1 = basic_kind(first)
    for other in others:
        kind2 = basic_kind(other)
        if kind1 != kind2:
            if first is not None and other is not None and not isinstance(first, GoNil) \
                    and not isinstance(other, GoNil):
                raise FuncError("incompatible types for comparison")
            truth = _is_nil(first) and _is_nil(other)
        elif kind1 is None:
            if isinstance(first, (list, dict, tuple)) or isinstance(other, (list, dict, tuple)):
                raise FuncError(f"non-comparable types {format_value(first)}: {type_name(first)}, "
                                f"{type_name(other)}: {format_value(other)}")
            truth = first == other
        else:
            truth = first == other
        if truth:
            return True
    return False


def _is_nil(value) -> bool:
    return value is None or isinstance(value, GoNil)


def _ne(first, second):
    return not _eq(first, second)


def _lt(first, second):
    kind1, kind2 = basic_kind(first), basic_kind(second)
    if kind1 is None or kind2 is None:
        raise FuncError("invalid type for comparison")
    if kind1 != kind2:
        raise FuncError("incompatible types for comparison")
    if kind1 == "bool":
        raise FuncError("invalid type for comparison")
    return first < second


def _le(first, second):
    return _lt(first, second) or _eq(first, second)


def _gt(first, second):
    return not _le(first, second)


def _ge(first, second):
    return not _lt(first, second)


def _html(*args):
    text = _eval_args(args)
    return (text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&#34;").replace("\x00", "\ufffd"))


def _js(*args):
    text = _eval_args(args)
    out = []
    for char in text:
        if char in "\\'\"":
            out.append("\\" + char)
        elif char in "<>&=":
            out.append(f"\\u{ord(char):04X}")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _urlquery(*args):
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _eval_args(args) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*args)


def _call(function, *args):
    if not callable(function):
        raise FuncError(f"non-function of type {type_name(function)}")
    return function(*args)


# Docker's functions (docker/cli templates/templates.go)
def go_json_text(value, escape_html: bool = False) -> str:
    """encoding/json's Encoder output (no trailing newline)."""
    text = json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


class _GoNumber(float):
    """A float json.dumps writes as Go does (1e+21, 1e-7, integral values without .0)."""

    def __repr__(self) -> str:
        value = float(self)
        exp = abs(value)
        if exp != 0 and (exp < 1e-6 or exp >= 1e21):
            text = go_float(value)
            mantissa, _, exponent = text.partition("e")
            sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
            return f"{mantissa}e{sign if sign == '-' else '+'}{digits}"
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text


def _jsonable(value):
    if isinstance(value, GoNil) or value is None:
        return None
    if isinstance(value, GoMap):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Struct):
        if value.json_fields is not None:
            return _jsonable(value.json_fields)
        fields = {k: v for k, v in value.fields.items() if not callable(v)}
        return {k: _jsonable(fields[k]) for k in sorted(fields)}
    if isinstance(value, float) and not isinstance(value, bool):
        return _GoNumber(value)
    return value


def _json(value):
    # A formatter context marshals itself with json.Marshal (HTML-escaped); the encoder keeps
    # that; anything else is encoded with HTML escaping off.
    return go_json_text(value, escape_html=isinstance(value, Struct) and value.escape_html)


def _split(text, separator):
    if separator == "":
        return list(text)
    return text.split(separator)


def _join(items, separator):
    return separator.join(items)


def _title(text):
    out, previous = [], " "
    for char in text:
        separator = not (previous.isalnum() or previous == "_") if ord(previous) < 0x80 else \
            previous.isspace()
        out.append(char.upper() if separator else char)
        previous = char
    return "".join(out)


def _pad(source, prefix, suffix):
    if source == "":
        return source
    return " " * prefix + source + " " * suffix


def _truncate(source, length):
    if len(source) < length:
        return source
    return source[:length]


ANY = "any"
BUILTINS = {
    "and": (None, (ANY,), ANY), "or": (None, (ANY,), ANY),
    "not": (_not, (ANY,), None), "len": (_len, (ANY,), None),
    "index": (_index, (ANY,), ANY), "slice": (_slice, (ANY,), ANY),
    "print": (sprint, (), ANY), "printf": (sprintf, ("string",), ANY),
    "println": (sprintln, (), ANY),
    "eq": (_eq, (ANY,), ANY), "ne": (_ne, (ANY, ANY), None), "lt": (_lt, (ANY, ANY), None),
    "le": (_le, (ANY, ANY), None), "gt": (_gt, (ANY, ANY), None), "ge": (_ge, (ANY, ANY), None),
    "html": (_html, (), ANY), "js": (_js, (), ANY), "urlquery": (_urlquery, (), ANY),
    "call": (_call, (ANY,), ANY),
}

DOCKER_FUNCTIONS = {
    "json": (_json, (ANY,), None), "split": (_split, ("string", "string"), None),
    "join": (_join, ("[]string", "string"), None), "title": (_title, ("string",), None),
    "lower": (str.lower, ("string",), None), "upper": (str.upper, ("string",), None),
    "pad": (_pad, ("string", "int", "int"), None), "truncate": (_truncate, ("string", "int"), None),
}


def _identity(value, *_):
    return value


# docker/cli's HeaderFunctions: in a table header every function returns its first argument.
HEADER_FUNCTIONS = {
    "json": (_identity, ("string",), None), "split": (_identity, ("string", "string"), None),
    "join": (_identity, ("string", "string"), None), "title": (_identity, ("string",), None),
    "lower": (_identity, ("string",), None), "upper": (_identity, ("string",), None),
    "pad": (_identity, ("string", "int", "int"), None),
    "truncate": (_identity, ("string", "int"), None),
}
