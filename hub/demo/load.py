"""Put the demo files into a database exactly as their publishers would: through the pipeline."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine, select

from hub.demo.generate import Batch, DemoFiles, PublisherSpec
from hub.publishing import IngestResult, ingest_file
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
        yield batch, ingest_file(engine, batch.path, batch.publisher, kind=RecordKind(batch.kind))
