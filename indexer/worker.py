"""The indexer process: drain the outbox for ever, report lag, rebuild the indices.

`run` never gives up on a target that is down: it backs off and tries again, and since the
outbox keeps every unacknowledged change the index catches up on its own when the target is
back. SIGTERM and SIGINT stop it between batches, so a batch is either acknowledged and
forgotten or left in the outbox, never half-forgotten.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from indexer.outbox import (
    DocumentBuilder,
    IndexOp,
    TargetUnavailable,
    backlog,
    build_documents,
    drain,
    failure_key,
    version_stamp,
)
from indexer.search import KINDS
from schema.ocds import utc_now_beijing
from schema.search_outbox import STATE, enqueue
from schema.tables import NOTICES, PARTIES, PENALTY_RECORDS, TRANSACTIONS

log = logging.getLogger("caigou.indexer")
TABLES = {
    "notice": NOTICES,
    "transaction": TRANSACTIONS,
    "party": PARTIES,
    "penalty": PENALTY_RECORDS,
}
MAX_BACKOFF = 30.0


class SearchTarget(Protocol):
    """What the worker needs of `indexer.elastic.ElasticBackend`."""

    def bulk(
        self, ops: Sequence[IndexOp], *, indices: Mapping[str, str] | None = None
    ) -> Sequence[Any]: ...

    def count(self, kind: str) -> int: ...

    def ensure_indices(self) -> Mapping[str, str]: ...

    def create_indices(self) -> Mapping[str, str]: ...

    def refresh(self, indices: Sequence[str] | None = None) -> None: ...

    def swap_aliases(self, new: Mapping[str, str]) -> Mapping[str, str]: ...

    def drop_indices(self, names: Sequence[str]) -> None: ...


@dataclass
class RunStats:
    batches: int = 0
    indexed: int = 0
    parked: int = 0
    outages: int = 0


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop`; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    engine: Engine,
    target: Any,
    *,
    once: bool = False,
    batch: int = 1000,
    poll: float = 1.0,
    stop: threading.Event | None = None,
    build: DocumentBuilder | None = None,
    tick: Callable[[], object] | None = None,
) -> RunStats:
    """Drain until stopped (or, with `once`, until nothing is due); sleep `poll` when idle.

    With `once`, an unreachable target raises TargetUnavailable instead of waiting. `tick`
    runs on every turn of the loop, whatever the target's state: the daily export.
    """
    stop = stop or threading.Event()
    stats = RunStats()
    backoff = 0.0
    ready = not hasattr(target, "ensure_indices")
    with _stop_on_signals(stop):
        while not stop.is_set():
            if tick is not None:
                tick()
            try:
                if not ready:  # writing to a missing alias would create an unmapped index
                    _ensure(target)
                    ready = True
                result = drain(engine, target, batch=batch, build=build)
            except TargetUnavailable as exc:
                if once:
                    raise
                stats.outages += 1
                backoff = min(MAX_BACKOFF, max(poll, backoff * 2))
                log.warning("search target unavailable (%s); retrying in %.0f s", exc, backoff)
                stop.wait(backoff)
                continue
            backoff = 0.0
            stats.batches += 1
            stats.indexed += result.indexed
            stats.parked += result.parked
            if result.errors:
                log.warning("%d documents failed: %s", len(result.errors), result.errors)
            if result.claimed == 0 or result.paused:
                if once:
                    break
                stop.wait(poll)
    return stats


def _ensure(target: Any) -> None:
    try:
        target.ensure_indices()
    except Exception as exc:
        raise TargetUnavailable(f"{type(exc).__name__}: {exc}") from exc


def database_counts(conn: Connection) -> dict[str, int]:
    return {
        k: conn.execute(select(func.count()).select_from(t)).scalar_one() for k, t in TABLES.items()
    }


def status(engine: Engine, target: Any) -> dict[str, Any]:
    """Lag and completeness: outbox depth, oldest pending change, parked, counts per kind."""
    with engine.connect() as conn:
        waiting = backlog(conn)
        counts = database_counts(conn)
        rebuilding = conn.execute(select(STATE.c.value).where(STATE.c.name == "rebuild")).scalar()
    kinds: dict[str, dict[str, int | None]] = {}
    for kind in KINDS:
        try:
            indexed: int | None = target.count(kind)
        except Exception as exc:  # status must answer while the target is down
            log.warning("cannot count %s documents: %s", kind, exc)
            indexed = None
        kinds[kind] = {"database": counts[kind], "index": indexed}
    return {
        "pending": waiting.pending,
        "oldest_pending": waiting.oldest_pending,
        "parked": waiting.parked,
        "rebuilding": json.loads(rebuilding) if rebuilding else None,
        "kinds": kinds,
    }


def _heartbeat(engine: Engine, value: str | None) -> None:
    """Mark (or, with None, clear) a running rebuild; drains wait while it is fresh."""
    with engine.begin() as conn:
        conn.execute(delete(STATE).where(STATE.c.name == "rebuild"))
        if value is not None:
            conn.execute(
                insert(STATE).values(name="rebuild", value=value, updated_at=utc_now_beijing())
            )


def _record_pks(engine: Engine, kind: str, batch: int) -> Iterator[list[int]]:
    """Every id of `kind` in batches by keyset: bounded memory and no long-held snapshot."""
    table = TABLES[kind]
    last = 0
    while True:
        with engine.connect() as conn:
            pks = list(
                conn.execute(
                    select(table.c.id).where(table.c.id > last).order_by(table.c.id).limit(batch)
                ).scalars()
            )
        if not pks:
            return
        yield pks
        last = pks[-1]


def rebuild(
    engine: Engine,
    target: Any,
    *,
    batch: int = 1000,
    build: DocumentBuilder | None = None,
) -> dict[str, int]:
    """Index everything into new versioned indices, swap the aliases, then drain the outbox.

    Searches keep answering on the old indices meanwhile and move in one atomic alias swap.
    Changes that arrive during the rebuild wait in the outbox (drains pause while the rebuild
    heart-beats) and go into the new indices right after the swap; the rebuild's documents
    carry older version stamps, so the later changes win. A document that fails is queued in
    the outbox, for its retries and parking.
    """
    if build is None:
        from indexer.documents import documents

        build = documents
    indices = dict(target.create_indices())
    marker = json.dumps(indices, sort_keys=True)
    _heartbeat(engine, marker)
    counts = dict.fromkeys(KINDS, 0)
    try:
        for kind in KINDS:
            for pks in _record_pks(engine, kind, batch):
                with engine.connect() as conn:
                    version = version_stamp(conn)
                    docs, errors = build_documents(conn, [(kind, pk) for pk in pks], build)
                ops = [IndexOp(kind, pk, doc, version) for (_, pk), doc in docs.items() if doc]
                failed = {failure_key(f)[0][1] for f in target.bulk(ops, indices=indices)}
                counts[kind] += len(ops) - len(failed)
                failed |= {pk for _, pk in errors}
                if failed:
                    with engine.begin() as conn:
                        enqueue(conn, kind, failed, utc_now_beijing())
                _touch(engine)
        target.refresh(list(indices.values()))
        old = target.swap_aliases(indices)
    finally:
        _heartbeat(engine, None)
    run(engine, target, once=True, batch=batch, build=build)
    # Old indices go once the new ones hold everything; a search already paging through
    # an old index by point in time loses its cursor, which a rebuild may cost.
    target.drop_indices(list(old.values()))
    return counts


def _touch(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(STATE).where(STATE.c.name == "rebuild").values(updated_at=utc_now_beijing())
        )
