"""docker/cli's formatter.Context: what `--format` means for a listing (ps, images, volume ls,
network ls, stats, history).

    render_listing(format_, rows, kind) -> str
        format_ None/""/"table" -> the kind's default table; "json" -> {{json .}} per row;
        "table TEMPLATE" -> TEMPLATE with a header row, through tabwriter; anything else -> the
        template once per row. Literal \\t and \\n in the format become tab and newline.
    ListingKind(type_name, default_table, headers, error_prefix, quiet_format)

Rows are Structs (values.Struct) built by the commands, fields named as Docker's contexts name
them. The header is the same template run over the kind's header map with docker's
HeaderFunctions (each returns its argument), errors there ignored, as docker does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pallet.format.gotemplate import GoMap, Struct, TemplateError, parse
from pallet.format.gotemplate.builtins import HEADER_FUNCTIONS
from pallet.format.tabwriter import tabwrite


@dataclass(frozen=True)
class ListingKind:
    type_name: str                 # Go's type in "can't evaluate field X in type T"
    default_table: str             # the format of plain `pallet KIND ls`
    headers: dict = field(default_factory=dict)
    parse_prefix: str = "template parsing error"
    exec_prefix: str = "template parsing error"
    validate: bool = False         # ps checks the template against an empty row first


class HeaderMap(GoMap):
    """docker's SubHeaderContext: a map[string]string whose Label method names a label column."""

    methods = {"Label": lambda name: name.split(".")[-1].replace("-", " ").replace("_", " ")}


class ListingError(TemplateError):
    pass


def prepare(format_: str | None, kind: ListingKind) -> tuple[str, bool]:
    """(template text, table?) for a --format value."""
    text = format_ or "table"
    if text == "json":
        return "{{json .}}", False
    table = text.startswith("table")
    if table:
        text = text[len("table"):].strip(" ") or kind.default_table
    return text.replace("\\t", "\t").replace("\\n", "\n"), table


def compile_listing(format_: str | None, kind: ListingKind, empty_row: Struct | None = None):
    """Parse (and for ps, try on an empty row) the format; ListingError with docker's text."""
    text, table = prepare(format_, kind)
    try:
        template = parse(text)
    except TemplateError as error:
        raise ListingError(f"{kind.parse_prefix}: {error.message}") from None
    if kind.validate and empty_row is not None:
        # docker ps tries the format as given (a "table" prefix and \\t escapes included)
        # on an empty container before listing, so its errors come first, at those columns.
        try:
            parse(format_ or "").execute(empty_row)
        except TemplateError as error:
            raise ListingError(f"{kind.exec_prefix}: {error.message}") from None
    return template, table


def render_listing(format_: str | None, rows: list, kind: ListingKind,
                   empty_row: Struct | None = None) -> str:
    template, table = compile_listing(format_, kind, empty_row)
    body = []
    for row in rows:
        try:
            body.append(template.execute(row) + "\n")
        except TemplateError as error:
            raise ListingError(f"{kind.exec_prefix}: {error.message}") from None
    if not table:
        return "".join(body)
    header = _header(template, kind)
    return tabwrite(header + "\n" + "".join(body))


def _header(template, kind: ListingKind) -> str:
    return template.execute_partial(HeaderMap(kind.headers), funcs=HEADER_FUNCTIONS)
