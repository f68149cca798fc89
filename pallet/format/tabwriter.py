"""Go's text/tabwriter as docker/cli sets it up: NewWriter(out, 10, 1, 3, ' ', 0).

A cell is text ended by a tab; the last cell of a line is not part of any column. Column blocks
are runs of consecutive lines that have a cell in that column, each as wide as its widest cell
plus the padding (at least minwidth), exactly as Go formats them.
"""

from __future__ import annotations


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(start: int, end: int) -> None:
        for index in range(start, end):
            cells = lines[index]
            parts = []
            for column, cell in enumerate(cells):
                if column < len(widths) and column < len(cells) - 1:
                    parts.append(cell + " " * (widths[column] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))
            if index + 1 < len(lines):
                out.append("\n")

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        start = line0
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(start, this)
            start = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            format_block(start, this)
            widths.pop()
            start = this
        write_lines(start, line1)

    format_block(0, len(lines))
    return "".join(out)
