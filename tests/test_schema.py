"""The schema: migrations equal the tables, the field catalogue is complete, layers hold."""

from __future__ import annotations

import ast
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from schema.catalogue import ENTITIES, public_fields
from schema.db import current_revision, ensure_schema, head_revision, make_engine
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
