"""The Go values a template sees, and Go's names for their types (used in error texts)."""

from __future__ import annotations

from pallet.base.errors import PalletError


class TemplateError(PalletError):
    """A parse or execution error, worded as Go's text/template words it (and printed as
    docker prints it: the message alone, no "Error:" before it)."""

    bare = True

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code=exit_code)


class GoMap(dict):
    """A Go map: printed ``map[k:v ...]`` with sorted keys, encoded with sorted keys, true when
    not empty (a plain dict is a struct: printed ``{v ...}``, always true)."""


class GoNil:
    """A typed nil: a nil slice prints ``[]``, a nil map ``map[]``, a nil pointer ``<nil>``."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "slice", "map" or "ptr"

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __eq__(self, other) -> bool:
        return isinstance(other, GoNil) or other is None

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"GoNil({self.kind})"


class Struct:
    """A formatter context (docker/cli's *formatter.ContainerContext and friends): every field is
    a method. A plain value is a method without arguments; a callable takes the arguments."""

    def __init__(self, type_name: str, fields: dict, json_fields: dict | None = None,
                 escape_html: bool = True) -> None:
        self.type_name = type_name
        self.fields = fields
        self.json_fields = json_fields
        # docker's formatter contexts marshal themselves (json.Marshal escapes <, >, &); a
        # plain API struct goes through the encoder with HTML escaping off
        self.escape_html = escape_html

    def __repr__(self) -> str:
        return f"Struct({self.type_name})"


def type_name(value) -> str:
    """Go's name for the type of a value, as error texts print it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Struct):
        return value.type_name
    if isinstance(value, GoNil):
        return {"slice": "[]string", "map": "map[string]string"}.get(value.kind, "interface {}")
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(item, str) for item in value):
            return "[]string"
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "interface {}"


def basic_kind(value) -> str | None:
    """text/template's basicKind: the comparable families (None for everything else)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return None


def is_true(value) -> tuple[bool, bool]:
    """text/template's isTrue: (truth, ok)."""
    if value is None or isinstance(value, GoNil):
        return False, True
    if isinstance(value, (bool, int, float)):
        return bool(value), True
    if isinstance(value, (str, list, tuple, GoMap)):
        return len(value) > 0, True
    if isinstance(value, (dict, Struct)):
        return True, True
    if callable(value):
        return True, True
    return False, False
