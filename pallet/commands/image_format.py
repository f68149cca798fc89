"""Docker's output helpers: column layout, human sizes and durations, --format templates.

    tabulate(rows) -> str                      text/tabwriter(minwidth 10, padding 3), like docker
    human_size(n) -> str                       go-units HumanSizeWithPrecision(n, 3): "4.26MB"
    human_duration(seconds) -> str             go-units HumanDuration: "About a minute", "3 weeks"
    since(rfc3339) -> str                      "4 weeks ago"
    render_template(template, obj) -> str      Go's text/template (pallet/format/gotemplate)
    go_json(obj) -> str                        JSON the way Go's encoding/json escapes it
    confirm(warning) -> bool                   Docker's prune prompt: warning, then [y/N]
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from pallet.base.humanize import human_duration, human_size  # noqa: F401 (the CLI's helpers)


def tabulate(rows: list[list[str]]) -> str:
    """Rows through Go's tabwriter as docker sets it up (pallet/format/tabwriter.py)."""
    from pallet.format.tabwriter import tabwrite
    return tabwrite("\n".join("\t".join(row) for row in rows)) if rows else ""


def since(created: datetime | None) -> str:
    if created is None:
        return "N/A"
    delta = (datetime.now(timezone.utc) - created).total_seconds()
    return human_duration(max(delta, 0)) + " ago"


def go_json(value) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_template(template: str, obj) -> str:
    """Go's text/template over obj (pallet/format/gotemplate); \\t and \\n are unescaped as
    docker does for --format."""
    from pallet.format.gotemplate import parse
    return parse(template.replace("\\t", "\t").replace("\\n", "\n")).execute(obj)


def confirm(warning: str) -> bool:
    """Docker's prune prompt, read from stdin (a closed stdin answers no)."""
    import sys

    import click

    click.echo(warning)
    click.echo("Are you sure you want to continue? [y/N] ", nl=False)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")
