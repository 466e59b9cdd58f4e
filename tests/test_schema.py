"""The schema: migrations equal the tables, the field catalogue is complete, layers hold."""

from __future__ import annotations

import ast
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from hub.demo import generate
from hub.demo.load import load_demo
from schema.catalogue import ENTITIES, public_fields
from schema.db import current_revision, ensure_schema, head_revision, make_engine, upgrade
from schema.tables import metadata

ROOT = Path(__file__).resolve().parents[1]


def test_migrations_produce_exactly_the_declared_tables(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_a_new_sqlite_database_is_created_by_migrations(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert current_revision(engine) is None
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_every_public_field_has_a_chinese_label_and_a_description() -> None:
    for entity in ENTITIES:
        fields = public_fields(entity)
        assert fields, entity
        for spec in fields:
            assert spec.label and spec.label != spec.name, (entity, spec.name)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in spec.label), (entity, spec.name)
            assert len(spec.description.split()) >= 2, (entity, spec.name)


def test_secrets_and_payloads_are_not_public() -> None:
    assert "token_hash" not in {f.name for f in public_fields("publishers")}
    assert "payload" not in {f.name for f in public_fields("transactions")}


def _imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_layers_only_import_downwards() -> None:
    assert not _imports("schema") & {"hub", "indexer", "exports", "starlette", "strawberry"}
    assert not _imports("exports") & {"hub", "indexer"}
    assert not _imports("indexer") & {"hub"}


def test_times_stored_to_the_second_by_older_code_are_found_by_a_range_from_that_second(
    tmp_path: Path,
) -> None:
    """Migration 0014: before the bulk insert wrote six places, SQLite kept a transaction's
    time as `2024-01-02 10:13:35`, which sorts before the bound `…35.000000`, so a
    `publishedAt` range from that second missed it. Upgrading rewrites those values."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    ensure_schema(engine)
    files = generate(tmp_path / "demo", projects=1, transactions=20, penalties=0)
    results = [(b.kind, r.status, r.accepted) for b, r in load_demo(engine, files)]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transactions")).scalar_one() == 20, results
    with engine.begin() as conn:  # as the older code stored them, at the older revision
        conn.execute(text("UPDATE transactions SET published_at = substr(published_at, 1, 19)"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0013'"))
        first = conn.execute(text("SELECT min(published_at) FROM transactions")).scalar_one()
    bound = f"{first}.000000"
    query = text("SELECT count(*) FROM transactions WHERE published_at >= :bound")
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
        assert conn.execute(query, {"bound": bound}).scalar_one() < total  # the bug
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(query, {"bound": bound}).scalar_one() == total == 20
    engine.dispose()
