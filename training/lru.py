"""A small thread-safe mapping that keeps the ``size`` most recently used entries (per process).

For values made from a key that says everything they depend on (a run's calendar, the run's part of its
e-mails, a rendered verification page): nothing to invalidate, a changed source makes a new key, and the
least recently used entries make room.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V, size: int | None = None) -> None:
        """Keep ``value`` under ``key``; ``size`` (when given) replaces the limit from now on."""
        with self._lock:
            if size is not None:
                self.size = size
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
