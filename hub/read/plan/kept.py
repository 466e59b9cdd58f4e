"""A small thread-safe LRU bounded in entries and in the bytes of text behind them.

The planner keeps a query's shape and its plans per variables. Counted in entries alone, a
client sending one 25-alias query with a fresh 3 kB variable each time grew a worker from
297 to 607 MB (a plan is ~130 bytes per byte of query and variables text); counted in text
bytes, as the parse cache counts its queries, the worst case is bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
MISSING = object()


class Kept(Generic[K, V]):
    """`get` and `put` under one lock; the least recently used go first past a bound."""

    def __init__(self, entries: int, text_bytes: int) -> None:
        self.entries, self.budget = entries, text_bytes
        self.items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.used = 0
        self.lock = threading.Lock()

    def get(self, key: K) -> V | object:
        """The value, or MISSING (a kept value may itself be None)."""
        with self.lock:
            found = self.items.get(key)
            if found is None:
                return MISSING
            self.items.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep `value`, which stands for `size` bytes of text; never one over the budget."""
        if size > self.budget:
            return
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.used -= old[1]
            self.items[key] = (value, size)
            self.used += size
            while len(self.items) > self.entries or self.used > self.budget:
                _, (_, freed) = self.items.popitem(last=False)
                self.used -= freed
