"""The one root error type, shared by every stage.

grammar/ and runtime/ import nothing of ours but pallet.base (docs/architecture.md); this
module is part of that base: it imports nothing itself (stdlib dataclasses only), so every
stage can raise the same structured error without creating a cycle or pulling in start-up
weight.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A region of a source file. Lines and columns count from 1; the end is inclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class PalletError(Exception):
    """A failure the user can act on: what went wrong, where, and what to do.

    ``exit_code`` follows Docker's CLI: 1 for a failed command, 125 when the engine itself
    fails for ``run``/``create``, 126/127 for a command that cannot run / is not found.
    ``source_line`` is the text of ``span.line`` so the message can show a caret.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        span: Span | None = None,
        source_line: str | None = None,
        exit_code: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.span = span
        self.source_line = source_line
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        head = f"{self.span}: {self.message}" if self.span else self.message
        parts = [head]
        if self.span is not None and self.source_line is not None:
            parts.append(caret_excerpt(self.span, self.source_line))
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


def caret_excerpt(span: Span, source_line: str) -> str:
    """Render the source line with carets under the span (clipped to that line)."""
    text = source_line.rstrip("\n")
    if len(text) > 200:
        # A 10 MB line must not flood the terminal; show the window around the column.
        start = max(0, span.column - 80)
        text = ("..." if start else "") + text[start:start + 160] + "..."
        col = span.column - start + (3 if start else 0)
    else:
        col = span.column
    gutter = f"{span.line:>5} | "
    end_col = span.end_column if span.end_line == span.line else len(text)
    width = max(1, min(end_col, len(text)) - col + 1)
    return f"{gutter}{text}\n{' ' * (len(gutter) - 2)}| {' ' * (col - 1)}{'^' * width}"
