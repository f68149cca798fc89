"""`events`: the engine's event log (runtime/store/events.py), as docker events prints it."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

import click

from pallet.base.errors import PalletError


class BareError(PalletError):
    bare = True

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code=exit_code)


def _moment(value: str | None, now: float) -> float | None:
    from pallet.base.units import docker_timestamp
    if value is None:
        return None
    try:
        return docker_timestamp(value, now)
    except ValueError as error:
        raise BareError(str(error)) from None


def _pretty(event: dict) -> str:
    nanos = event["timeNano"]
    stamp = datetime.fromtimestamp(nanos // 1_000_000_000, tz=timezone.utc).astimezone()
    zone = stamp.strftime("%z")
    zone = "Z" if zone in ("+0000", "") else f"{zone[:3]}:{zone[3:]}"
    text = f"{stamp.strftime('%Y-%m-%dT%H:%M:%S')}.{nanos % 1_000_000_000:09d}{zone} "
    actor = event.get("Actor") or {}
    text += f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attributes = actor.get("Attributes") or {}
    if attributes:
        text += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return text


def _struct(event: dict):
    from pallet.format.gotemplate import GoMap, Struct
    actor = event.get("Actor") or {}
    fields = {"Status": event.get("status", ""), "ID": event.get("id", ""),
              "From": event.get("from", ""), "Type": event.get("Type", ""),
              "Action": event.get("Action", ""),
              "Actor": {"ID": actor.get("ID", ""),
                        "Attributes": GoMap(actor.get("Attributes") or {})},
              "Scope": event.get("scope", ""), "Time": event.get("time", 0),
              "TimeNano": event.get("timeNano", 0)}
    return Struct("events.Message", fields, json_fields=event, escape_html=False)


@click.command("events")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "format_", default=None, help="Format output using a custom template")
@click.option("--since", default=None, help="Show all events created since timestamp")
@click.option("--until", default=None, help="Stream events until this timestamp")
@click.pass_context
def events(ctx, filters, format_, since, until) -> None:
    """Get real time events from the server"""
    from pallet.runtime.store.events import follow_events
    start, stop, wanted = event_query(filters, since, until)
    emit = event_printer(format_)
    for event in follow_events(ctx.obj["root"],
                               since_ns=int(start * 1e9) if start is not None else None,
                               until_ns=int(stop * 1e9) if stop is not None else None,
                               filters=wanted):
        emit(event)


def event_query(filters, since, until) -> tuple[float | None, float | None, dict]:
    """--since/--until as Unix seconds (docker's time forms) and -f as {key: [values]}."""
    now = time.time()
    start, stop = _moment(since, now), _moment(until, now)
    wanted: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            raise PalletError(f"bad format of filter (expected name=value): {item}")
        wanted.setdefault(key, []).append(value)
    return start, stop, wanted


def event_printer(format_: str | None):
    """A function printing one event document as docker events does (also the remote
    events' printer); a bad --format fails here, before any event is read."""
    from pallet.format.gotemplate import TemplateError, parse
    template = None
    if format_:
        # docker tries the format on an empty *events.Message first: exit 64 if it fails
        try:
            template = parse("{{json .}}" if format_ == "json" else format_)
            empty = _struct({})
            empty.type_name = "*events.Message"
            template.execute(empty)
        except TemplateError as error:
            raise BareError(f"Error parsing format: {error.message}", exit_code=64) from None

    def emit(event: dict) -> None:
        if template is None:
            line = _pretty(event)
        else:
            try:
                line = template.execute(_struct(event))
            except TemplateError as error:
                raise BareError(error.message) from None
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    return emit
