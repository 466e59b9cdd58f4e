"""Compile once: the ingest hands the project it just compiled to the flag engine, which
neither reads nor parses nor merges its notices again, and the flags it stores are exactly
those `caigou flags rebuild` computes from the stored state."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from hub.demo import DemoFiles, generate
from hub.demo.load import ensure_publishers
from hub.flags import rebuild
from hub.publishing import ingest_file
from schema.tables import FLAGS, PROJECTS
from schema.types import RecordKind

SIZE = {"projects": 60, "transactions": 300, "penalties": 40}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(tmp_path_factory.mktemp("demo"), **SIZE)


def ingest(engine: Engine, demo: DemoFiles, kinds: tuple[str, ...]) -> None:
    ensure_publishers(engine, demo.publishers)
    for kind in kinds:
        for batch in (b for b in demo.batches if b.kind == kind):
            result = ingest_file(engine, batch.path, batch.publisher, kind=RecordKind(kind))
            assert result.rejected == 0, (batch.path.name, result.refusals[:3])


def project_flags(engine: Engine) -> list[dict[str, Any]]:
    """Every project flag as stored, every column (ids and detection times included)."""
    query = select(FLAGS).where(FLAGS.c.transaction_id.is_(None)).order_by(FLAGS.c.id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


@pytest.mark.parametrize(
    "order",
    [("penalty", "transaction", "notice"), ("transaction", "notice", "penalty")],
    ids=["penalties-first", "penalties-last"],
)
def test_flags_stored_by_the_ingest_are_those_a_full_recompute_gives(
    engine: Engine, demo: DemoFiles, order: tuple[str, ...]
) -> None:
    """Penalties last: a debarment published after the projects naming its party were
    compiled flags them in its own ingest, not at the next `caigou flags rebuild`."""
    ingest(engine, demo, order)
    after_ingest = project_flags(engine)
    assert len({f["code"] for f in after_ingest}) >= 5  # the demo plants many kinds
    assert len({f["project_id"] for f in after_ingest}) >= 10
    assert "SUPPLIER_DEBARRED" in {f["code"] for f in after_ingest}

    rebuild(engine)  # what `caigou flags rebuild` runs: every project read and merged anew

    recomputed = project_flags(engine)
    assert [f["id"] for f in recomputed] == [f["id"] for f in after_ingest]
    for ingested, again in zip(after_ingest, recomputed, strict=True):
        assert ingested == again, f"flag {ingested['id']} ({ingested['code']}) differs"


def test_an_ingest_reads_each_compiled_projects_notices_once(
    engine: Engine, demo: DemoFiles
) -> None:
    """Compiling, the flags and the publicity periods share one read of the notices (there
    were two reads, three JSON parses and two merges of every notice per compile)."""
    reads: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "notices.payload" in statement:
            reads.append(statement)

    ensure_publishers(engine, demo.publishers)
    batch = next(b for b in demo.batches if b.kind == "notice")
    result = ingest_file(engine, batch.path, batch.publisher, kind=RecordKind.notice)
    assert result.rejected == 0
    with engine.connect() as conn:  # a fresh database: the batch compiled each project once
        projects = conn.execute(select(func.count()).select_from(PROJECTS)).scalar_one()
    assert projects > 10
    assert len(reads) == projects
