"""A stage's image history as a persistent list: O(1) to extend, shared by every state.

The builder replaces a stage's state at each step; with the history as a tuple, each step
copied (and then freed) all the entries before it, so 100,000 metadata steps were
quadratic. Here a state's history is its last entry plus a link to the history before it;
a stage built FROM another stage extends that stage's history without changing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class History:
    __slots__ = ("_before", "_entry", "_length")

    def __init__(self, before: History | None = None, entry: dict | None = None) -> None:
        self._before = before
        self._entry = entry
        self._length = 0 if before is None else len(before) + 1

    @classmethod
    def of(cls, entries: Iterable[dict]) -> History:
        history = cls()
        for entry in entries:
            history = history.add(entry)
        return history

    def add(self, entry: dict) -> History:
        return History(self, entry)

    def __len__(self) -> int:
        return self._length

    def __reversed__(self) -> Iterator[dict]:
        node = self
        while node._before is not None:
            yield node._entry
            node = node._before

    def __iter__(self) -> Iterator[dict]:
        entries = list(reversed(self))
        entries.reverse()
        return iter(entries)
