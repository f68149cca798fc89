"""Docker's output helpers: column layout, human sizes and durations, --format templates.

    tabulate(rows) -> str                      text/tabwriter(minwidth 10, padding 3), like docker
    human_size(n) -> str                       go-units HumanSizeWithPrecision(n, 3): "4.26MB"
    human_duration(seconds) -> str             go-units HumanDuration: "About a minute", "3 weeks"
    since(rfc3339) -> str                      "4 weeks ago"
    render_template(template, obj) -> str      a subset of Go templates: {{.A.B}}, {{json .}},
                                               {{json .A}}, "table " prefix handled by callers
    go_json(obj) -> str                        JSON the way Go's encoding/json escapes it
    confirm(warning) -> bool                   Docker's prune prompt: warning, then [y/N]
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from pallet.base.humanize import human_duration, human_size  # noqa: F401 (the CLI's helpers)


def tabulate(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    widths = [0] * columns
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(cell) + 3, 10)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[index]) for index, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return "\n".join(lines)


def since(created: datetime | None) -> str:
    if created is None:
        return "N/A"
    delta = (datetime.now(timezone.utc) - created).total_seconds()
    return human_duration(max(delta, 0)) + " ago"


def go_json(value) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _go_print(value) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_go_print(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{_go_print(val)}" for key, val in sorted(value.items())) + "]"
    return str(value)


_ACTION = re.compile(r"{{-?\s*(json\s+)?(\.[\w.]*)\s*-?}}")


def _lookup(obj, path: str):
    value = obj
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
    return value


def render_template(template: str, obj) -> str:
    """Render {{.Field}}, {{.A.B}}, {{json .}} and {{json .Field}}; \\t and \\n are unescaped."""
    text = template.replace("\\t", "\t").replace("\\n", "\n")

    def action(match: re.Match) -> str:
        value = _lookup(obj, match.group(2))
        return go_json(value) if match.group(1) else _go_print(value)

    return _ACTION.sub(action, text)


def confirm(warning: str) -> bool:
    """Docker's prune prompt, read from stdin (a closed stdin answers no)."""
    import sys

    import click

    click.echo(warning)
    click.echo("Are you sure you want to continue? [y/N] ", nl=False)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")
