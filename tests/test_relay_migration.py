"""Migration 0017: records held before relays existed get the sources they were delivered
with, the same rows the pipeline writes now (but for the path before this hub, unknown)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import Engine, select

from hub.demo import generate
from hub.demo.load import ensure_publishers
from hub.publishing import ingest_file
from schema.db import alembic_config
from schema.tables import RECORD_SOURCES
from schema.types import RecordKind

COLUMNS = ("kind", "record_id", "publisher_id", "original_publisher", "original_role",
           "source_site", "first_published_at", "received_at")  # fmt: skip


def held(engine: Engine) -> list[tuple[object, ...]]:
    c = RECORD_SOURCES.c
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(*(c[n] for n in COLUMNS))))


def test_upgrading_gives_records_held_the_sources_the_pipeline_writes(
    engine: Engine, tmp_path: Path
) -> None:
    files = generate(tmp_path / "demo", projects=6, transactions=40, penalties=4)
    ensure_publishers(engine, files.publishers)
    # The demo's files as a hub held them before relays existed: every record delivered as
    # its deliverer's own (the demo's relays files, which no hub before 0017 took, left out).
    results = [ingest_file(engine, b.path, b.publisher, kind=RecordKind(b.kind))
               for b in files.batches]  # fmt: skip
    assert all(r.status == "accepted" for r in results)
    written = held(engine)
    kinds = {row[0] for row in written}
    assert kinds == {"notice", "transaction", "penalty"}
    config = alembic_config(engine)
    command.downgrade(config, "0015")
    command.upgrade(config, "head")
    assert held(engine) == written
    with engine.connect() as conn:
        assert set(conn.execute(select(RECORD_SOURCES.c.hops)).scalars()) == {"[]"}
