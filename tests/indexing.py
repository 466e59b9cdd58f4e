"""Waiting for the search index: searches answer from what is indexed, never catch up first."""

from __future__ import annotations

import time

from sqlalchemy import Engine, select

from schema.search_outbox import OUTBOX


def caught_up(engine: Engine, timeout: float = 60.0) -> None:
    """Until the hub's background catch-up (or an indexer) has drained the search outbox."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            waiting = conn.execute(
                select(OUTBOX.c.id).where(OUTBOX.c.parked_at.is_(None)).limit(1)
            ).first()
        if waiting is None:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the search outbox still holds changes after {timeout} s")
        time.sleep(0.05)
