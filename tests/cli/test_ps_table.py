"""Plain `ps` prints its default table without the Go template engine
(ps_command.default_table): the text must be what the template gives, column for column."""

from __future__ import annotations

import re

from pallet.commands.ps_command import DEFAULT_COLUMNS, default_table
from pallet.format.kinds import PS, listing

ROWS = [
    {"ID": "4c1699db4a6f", "Image": "busybox", "Command": '"sleep 36000"',
     "RunningFor": "26 minutes ago", "Status": "Up 26 minutes", "Ports": "", "Names": "web"},
    {"ID": "ae1461c79589", "Image": "registry.example:5000/some/long-image-name:v1.2.3",
     "Command": '"sh -c \'echo hé…"', "RunningFor": "About a minute ago",
     "Status": "Exited (137) 5 seconds ago", "Ports": "0.0.0.0:8080->80/tcp, :::8080->80/tcp",
     "Names": "über_name"},
    {"ID": "1d2d5e212277", "Image": "sha256:abc", "Command": '""', "RunningFor": "",
     "Status": "Created", "Ports": "80/tcp", "Names": "x"},
]


def _rows(count: int) -> list[dict]:
    extra = {"CreatedAt": "", "Labels": "", "LocalVolumes": "0", "Mounts": "", "Networks": "",
             "Size": "0B", "State": "", "_labels": {}}
    return [{**ROWS[i % len(ROWS)], **extra} for i in range(count)]


def test_the_default_columns_are_the_default_templates():
    fields = re.findall(r"\{\{\.(\w+)\}\}", PS.default_table)
    assert [field for field, _ in DEFAULT_COLUMNS] == fields
    assert [header for _, header in DEFAULT_COLUMNS] == [PS.headers[f] for f in fields]


def test_the_default_table_is_the_templates_text():
    for count in (0, 1, 3, 40):
        rows = _rows(count)
        assert default_table(rows) == listing(None, rows, PS) == \
            listing("table " + PS.default_table, rows, PS)
