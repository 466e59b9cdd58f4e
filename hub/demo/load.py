"""Put the demo files into a database exactly as their publishers would: through the pipeline."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Engine, select

from hub.demo.generate import Batch, DemoFiles, PublisherSpec
from hub.publishing import IngestResult, ingest_file, ingest_records, readers
from hub.publishing.ingest import read_relays
from hub.publishing.publishers import add_publisher
from schema.tables import PUBLISHERS
from schema.types import PublisherRole, RecordKind


def ensure_publishers(engine: Engine, specs: list[PublisherSpec]) -> None:
    """Add the demo's publishers that the database does not have yet."""
    with engine.begin() as conn:
        known = set(conn.execute(select(PUBLISHERS.c.name)).scalars())
        for spec in specs:
            if spec.name not in known:
                add_publisher(
                    conn, spec.name, PublisherRole(spec.role), spec.regions,
                    [RecordKind(k) for k in spec.kinds], spec.source_site,
                )  # fmt: skip


def load_demo(engine: Engine, files: DemoFiles) -> Iterator[tuple[Batch, IngestResult]]:
    """Ingest every batch in order; yields each outcome as it lands."""
    ensure_publishers(engine, files.publishers)
    for batch in files.batches:
        if batch.arrivals:
            yield batch, _relayed(engine, batch)
        else:
            kind = RecordKind(batch.kind)
            yield batch, ingest_file(engine, batch.path, batch.publisher, kind=kind)


def _relayed(engine: Engine, batch: Batch) -> IngestResult:
    """A file whose relayed records each arrived at their own time: one batch per run of
    records with the same arrival (the relaying site's own records together, arriving now),
    so each relay's arrival here is its realistic one, not the load's. The outcome is the
    runs' added up (its batch id: the last run's)."""
    assert batch.relays is not None
    records = list(readers.read_releases(batch.path))
    relays = read_relays(batch.relays)
    runs = itertools.groupby(zip(records, relays, batch.arrivals, strict=True), lambda r: r[2])
    total: IngestResult | None = None
    for arrival, run in runs:
        rows = list(run)
        result = ingest_records(
            engine, batch.publisher, RecordKind.notice, [r for r, _, _ in rows],
            source=batch.path.name, relays=[relay for _, relay, _ in rows],
            received_at=datetime.fromisoformat(arrival) if arrival else None,
        )  # fmt: skip
        if total is None:
            total = result
        else:
            total.total += result.total
            total.accepted += result.accepted
            total.duplicates += result.duplicates
            total.rejected += result.rejected
            total.refusals += result.refusals
            total.ingestion_id, total.status = (
                result.ingestion_id,
                (total.status if result.status == "accepted" else result.status),
            )
    assert total is not None
    return total
