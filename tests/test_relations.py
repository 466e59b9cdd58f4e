"""The declared keys between exported tables: Frictionless checks them on real data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import Engine

from exports.arrow import entity_schema, export_fields
from exports.catalog import primary_key_of, table_schema
from exports.flagrows import partition_batches
from exports.formats import CsvTableWriter
from exports.partitions import Partition
from exports.relations import declared, foreign_keys
from exports.source import open_source
from exports.storage import open_store
from hub.demo import generate
from hub.demo.load import load_demo
from schema.catalogue import ENTITIES
from schema.db import make_engine
from schema.relations import RELATIONS
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parents[1]
TABLES = [e for e in ENTITIES if e not in ("publishers", "transparency_scores")]


@pytest.fixture(scope="module")
def tables(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, pa.Table]]:
    """Every exported table of the demo, whole, as the export reads it."""
    folder = tmp_path_factory.mktemp(f"relations-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        engine: Engine = make_engine(url)
        files = generate(folder / "demo", projects=20, transactions=200, penalties=10)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        found = {}
        with open_source(engine) as source:
            for entity in TABLES:
                # as the dumps read them: flags with their key (exports.flagrows)
                batches = list(partition_batches(source, Partition(entity, "1 = 1")))
                found[entity] = pa.Table.from_batches(batches, schema=entity_schema(entity))
        engine.dispose()
        yield found


def _package(tables: dict[str, pa.Table], folder: Path) -> Path:
    """A Frictionless data package of `tables` (CSV as the dumps write it) with the keys."""
    store = open_store(str(folder))
    resources = []
    for entity, table in tables.items():
        writer = CsvTableWriter(store.open_output(f"{entity}.csv"), table.schema)
        writer.write(table)
        writer.close()
        schema = table_schema(entity, keyed=True, schema=table.schema,
                              primary_key=primary_key_of(entity, "current"))  # fmt: skip
        schema["foreignKeys"] = foreign_keys(entity, resources=tables)
        resources.append({"name": entity, "path": f"{entity}.csv", "profile": "tabular-data-resource",
                          "format": "csv", "encoding": "utf-8-sig", "schema": schema})  # fmt: skip
    package = {"name": "relations", "profile": "tabular-data-package", "resources": resources}
    (folder / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False), "utf-8")
    return folder / "datapackage.json"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    frictionless = Path(sys.executable).parent / "frictionless"
    return subprocess.run([str(frictionless), "validate", "--json", str(path.name)], cwd=path.parent,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_frictionless_finds_every_declared_key_in_the_demo(
    tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    path = _package(tables, tmp_path)
    package = json.loads(path.read_text("utf-8"))
    keyed = {r["name"]: r["schema"]["foreignKeys"] for r in package["resources"]}
    assert {
        "fields": ["purchaser_id"],
        "reference": {"resource": "parties", "fields": ["id"]},
    } in keyed["transactions"]
    assert {
        "fields": ["project_id"],
        "reference": {"resource": "projects", "fields": ["id"]},
    } in keyed["awards"]
    assert {"fields": ["supersedes_id"], "reference": {"resource": "", "fields": ["id"]}} in keyed[
        "notices"
    ]
    assert sum(len(k) for k in keyed.values()) >= 15
    done = _validate(path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_a_broken_key_is_reported_by_frictionless(
    tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    """The keys are really checked: a supplier id that is no party fails validation."""
    transactions = tables["transactions"]
    at = transactions.schema.get_field_index("supplier_id")
    ids = transactions.column("supplier_id").to_pylist()
    broken = transactions.set_column(
        at, transactions.schema.field(at), pa.array([987654321, *ids[1:]], pa.int64())
    )
    done = _validate(_package({**tables, "transactions": broken}, tmp_path))
    assert done.returncode != 0
    report = json.loads(done.stdout)
    errors = [e for task in report["tasks"] for e in task["errors"]]
    assert [e["type"] for e in errors] == ["foreign-key"]
    assert "987654321" in errors[0]["message"] and "supplier_id" in errors[0]["message"]


def test_unchecked_keys_are_documented_not_declared(tables: dict[str, pa.Table]) -> None:
    """A return of an order the hub does not hold is kept: declaring the key would make true
    data fail validation; its composite key is only described."""
    assert not any("return_of" in k["fields"] for k in foreign_keys("transactions"))
    returns = [r for r in declared("transactions", checked_only=False) if "return_of" in r.fields]
    assert returns and returns[0].note
    assert pc.sum(pc.is_valid(tables["transactions"].column("id"))).as_py() > 0


def test_resource_names_and_columns_follow_the_writer() -> None:
    keys = foreign_keys(
        "awards",
        columns=["project_id", "award_id"],
        resource_names={"projects": "current_projects"},
    )
    assert keys == [
        {"fields": ["project_id"], "reference": {"resource": "current_projects", "fields": ["id"]}}
    ]
    # The new layout's keys apply as soon as the columns are there (award_suppliers).
    keys = foreign_keys("award_suppliers", columns=["project_id", "award_id", "party_id"])
    assert {
        "fields": ["project_id", "award_id"],
        "reference": {"resource": "awards", "fields": ["project_id", "award_id"]},
    } in keys
    assert foreign_keys("awards", columns=["project_id"], resources={"awards"}) == []
    assert {tuple(k["fields"]) for k in foreign_keys("transactions")} == {
        ("purchaser_id",),
        ("supplier_id",),
    }
    assert {f.name for f in export_fields("transactions")} >= {"purchaser_id", "supplier_id"}


def test_the_guide_describes_every_relation() -> None:
    guide = (ROOT / "docs/open-data-tables.md").read_text("utf-8")
    for relation in RELATIONS:
        pattern = rf"`{relation.entity}\.\(?{re.escape(', '.join(relation.fields))}\)?`"
        assert re.search(pattern, guide), f"{relation.entity}.{relation.fields} is not described"
