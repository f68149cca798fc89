"""Compiled plans, cached: a rebuild of an unchanged build file skips parsing and planning.

Parsing (lark) and planning cost ~100 ms of a ~300 ms no-change rebuild, mostly importing and
running the grammar. A plan is a pure function of the build file text, its path, the build
args, the target, the platform and the base images it resolved; the cache key covers the
first five and the entry stores the base image IDs, which are re-resolved (an index lookup)
and must still match. Entries are pickles of builder.steps dataclasses under
ROOT/cache/plans/, written atomically; a stale or unreadable entry is a miss.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import xxhash

FORMAT = b"pallet-plan-v4"  # v2: RUN titles carry their flags; v3: metadata steps carry no
# config copy and key only their change, relative RUN --mount targets join the WORKDIR; v4:
# mount uid/gid/mode checked as 32-bit numbers (a v3 plan may hold one chown cannot take)


def plan_key(*, text: str, path: str, build_args: dict[str, str], target: str | None,
             platform: str | None) -> str:
    from pallet.builder.cachekey import canonical
    return xxhash.xxh3_128_hexdigest(FORMAT + canonical(
        {"text": text, "path": path, "args": build_args, "target": target,
         "platform": platform}))


def load(root: Path, key: str, resolve_id) -> object | None:
    """The cached plan if every base image still resolves to the recorded ID."""
    path = root / "cache" / "plans" / f"{key}.pickle"
    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return None
    for ref, image_id in payload["bases"].items():
        if resolve_id(ref) != image_id:
            return None
    return payload["plan"]


def store(root: Path, key: str, plan: object, bases: dict[str, str]) -> None:
    directory = root / "cache" / "plans"
    directory.mkdir(parents=True, exist_ok=True)
    from pallet.base.files import atomic_file

    # not durable: a plan lost in a crash is only planned again
    with atomic_file(directory / f"{key}.pickle", durable=False) as handle:
        pickle.dump({"format": FORMAT, "plan": plan, "bases": bases}, handle,
                    protocol=pickle.HIGHEST_PROTOCOL)
