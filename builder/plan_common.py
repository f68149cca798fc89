"""What the planner's modules share (plan.py, plan_steps.py, plan_mounts.py), kept apart so
they import it instead of each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pallet.base.errors import PalletError, Span

PROXY_ARGS = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
              "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"}


@dataclass(frozen=True)
class BaseImage:
    """What the planner needs from an image: its id (for the cache key) and its config."""

    id: str
    config: dict[str, Any]  # the full OCI image config (architecture, os, config, history, ...)


ResolveBase = Callable[[str, "Span | None"], BaseImage]


def source_line_of(instruction) -> str | None:
    source = getattr(instruction, "source", None)
    return source.splitlines()[0] if source else None


def stage_reference(text: str, stage_names: dict[str, int], *, stage_count: int,
                    span: Span | None, source_line: str | None) -> int | None:
    """The stage a ``--from`` value names (name or index), or None for an image."""
    if "$" in text:
        raise PalletError(f"--from does not support variable expansion: {text!r}", span=span,
                          source_line=source_line,
                          hint="use an ARG in a FROM line: FROM ${IMAGE} AS src, then --from=src")
    if text.isdigit():
        index = int(text)
        if index >= stage_count:
            raise PalletError(f"invalid stage index {index}", span=span, source_line=source_line)
        return index
    return stage_names.get(text.lower())
