"""The embedded index's catch-up in a background thread of the serving process.

Without a `caigou indexer run` beside it (the demo, a small install on SQLite), the hub
drains the search outbox itself, but never inside a request: a search answers from what is
indexed and reports the lag. One batch at a time, each in its own short write transaction,
with a pause between batches, so ingests get SQLite's write lock between two batches and the
event loop keeps the GIL for most of each second. Several processes may drain at once: the
outbox's claims keep them apart.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

log = logging.getLogger("caigou.search")

BATCH = 500  # changes per write transaction: ~0.1-0.3 s of SQLite's write lock
PAUSE = 0.05  # seconds between two batches while behind
POLL = 0.5  # seconds between two looks at the outbox while up to date


class CatchesUp(Protocol):
    def catch_up(self, *, batch: int = ..., max_batches: int | None = ...) -> int: ...


class CatchUpThread:
    """Drains the outbox into `backend` until `stop()`; `nudge()` wakes it at once."""

    def __init__(
        self, backend: CatchesUp, *, batch: int = BATCH, pause: float = PAUSE, poll: float = POLL
    ) -> None:
        self.backend = backend
        self.batch, self.pause, self.poll = batch, pause, poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.indexed = 0

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="search-catch-up", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ends after the batch in hand; a batch not acknowledged simply stays in the outbox."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def nudge(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.backend.catch_up(batch=self.batch, max_batches=1)
            except Exception:  # a bug or a damaged file: logged, tried again later
                log.exception("search catch-up failed")
                done = 0
            self.indexed += done
            # Behind: a short pause that lets writers and the event loop in; else poll.
            self._wake.wait(self.pause if done else self.poll)
            self._wake.clear()
            if done:
                time.sleep(0)  # give the GIL away before the next batch
