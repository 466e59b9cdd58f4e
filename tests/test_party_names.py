"""Names and credit codes beside every party id: what a researcher reading one table sees."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import Engine, text

from exports.arrow import column_list, entity_schema, to_export
from exports.party_names import PartyNames, add_party_names, named_schema
from exports.source import open_source
from hub.demo import generate
from hub.demo.load import load_demo
from schema.catalogue import ENTITIES, public_fields
from schema.db import make_engine
from schema.party_names import published_fields
from schema.relations import party_id_columns
from tests.conftest import fresh_database


@pytest.fixture(scope="module")
def demo(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp(f"names-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=20, transactions=200, penalties=10)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        yield engine
        engine.dispose()


def _named(engine: Engine, entity: str) -> pa.Table:
    """Every row of `entity` as the export reads it, with the names added."""
    with open_source(engine) as source:
        names = PartyNames.load(source)
        sql = f"SELECT {column_list(entity)} FROM {entity} ORDER BY id"
        batches = [to_export(b, entity) for b in source.batches(sql, entity)]
    table = pa.Table.from_batches(batches, schema=entity_schema(entity))
    return add_party_names(table, entity, names)


@pytest.mark.parametrize(
    ("entity", "columns"),
    [
        ("transactions", ("purchaser_id", "supplier_id")),
        ("projects", ("purchaser_id", "agency_id")),
        ("contracts", ("supplier_id",)),
    ],
)
def test_every_party_id_is_followed_by_the_party_name_and_credit_code(
    demo: Engine, entity: str, columns: tuple[str, ...]
) -> None:
    table = _named(demo, entity)
    with demo.connect() as conn:
        parties = {
            r.id: (r.name, r.uscc) for r in conn.execute(text("SELECT id, name, uscc FROM parties"))
        }
    assert table.num_rows > 0
    for column in columns:
        stem = column.removesuffix("_id")
        at = table.schema.get_field_index(column)
        assert table.schema.names[at + 1 : at + 3] == [f"{stem}_name", f"{stem}_uscc"]
        ids = table.column(column).to_pylist()
        names = table.column(f"{stem}_name").to_pylist()
        codes = table.column(f"{stem}_uscc").to_pylist()
        for pk, name, code in zip(ids, names, codes, strict=True):
            assert (name, code) == (parties[pk] if pk is not None else (None, None))
        assert any(ids) and any(codes)  # the demo's parties carry credit codes


def test_labels_come_from_the_id_field_and_match_the_declaration(demo: Engine) -> None:
    table = _named(demo, "transactions")
    meta = table.schema.field("purchaser_name").metadata
    assert meta[b"label_zh"].decode() == "采购人名称"
    assert (
        table.schema.field("supplier_uscc").metadata[b"label_zh"].decode()
        == "供应商统一社会信用代码"
    )
    declared = [(f.name, f.label) for f in published_fields("transactions")]
    found = [(f.name, (f.metadata or {}).get(b"label_zh", b"").decode()) for f in table.schema]
    assert found == declared


def test_penalty_subjects_keep_the_published_name_beside_the_hubs(demo: Engine) -> None:
    table = _named(demo, "penalty_records")
    names = table.schema.names
    at = names.index("subject_id")
    assert names[at + 1 : at + 3] == ["subject_party_name", "subject_uscc"]
    assert names.count("subject_name") == 1  # the name as the finance department wrote it
    assert (
        table.schema.field("subject_party_name").metadata[b"label_zh"].decode() == "当事人主体名称"
    )


def test_every_party_foreign_key_of_every_entity_gets_names() -> None:
    """A party id column added later without a relation would be published bare."""
    for entity, model in ENTITIES.items():
        table = getattr(model, "__table__", None)
        public = {f.name for f in public_fields(entity)}
        keyed = {
            c.name for c in (table.c if table is not None else [])
            if c.name in public and any(k.target_fullname == "parties.id" for k in c.foreign_keys)
        }  # fmt: skip
        assert keyed <= set(party_id_columns(entity)), entity
        declared = {f.name for f in published_fields(entity)}
        schema_names = set(named_schema(entity_schema(entity), entity).names)
        assert declared == schema_names, entity
    assert party_id_columns("transparency_scores") == ("party_id",)  # computed: no foreign key


def test_an_unknown_party_id_names_the_table_and_column() -> None:
    names = PartyNames.from_table(
        pa.table({"id": [1, 2], "name": ["甲", "乙"], "uscc": [None, "1"]})
    )
    fields = {f.name: f for f in entity_schema("contracts")}
    table = pa.table({"project_id": [7], "supplier_id": [3]}).cast(
        pa.schema([fields["project_id"], fields["supplier_id"]])
    )
    with pytest.raises(ValueError, match=r"contracts\.supplier_id: party id 3 is not in parties"):
        add_party_names(table, "contracts", names)


def test_a_million_transactions_get_their_names_within_a_second_or_two() -> None:
    """Column-wise lookups: a generous guard for a shared machine (about 0.25 s measured)."""
    count, rows = 50_000, 1_000_000
    parties = pa.table({"id": pa.array(range(1, count + 1), pa.int64()),
                        "name": [f"公司{i}" for i in range(count)],
                        "uscc": [f"9122{i:014d}" for i in range(count)]})  # fmt: skip
    names = PartyNames.from_table(parties)
    schema = entity_schema("transactions")
    ids = np.random.default_rng(1).integers(1, count + 1, rows)
    columns = {f.name: pa.nulls(rows, f.type) for f in schema}
    columns["purchaser_id"] = columns["supplier_id"] = pa.array(ids)
    table = pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
    started = time.perf_counter()
    named = add_party_names(table, "transactions", names)
    assert time.perf_counter() - started < 2.0
    assert named.column("supplier_uscc")[0].as_py() == f"9122{ids[0] - 1:014d}"


def test_a_table_without_party_ids_is_returned_unchanged() -> None:
    names = PartyNames.from_table(pa.table({"id": [1], "name": ["甲"], "uscc": [None]}))
    table = pa.table({"id": [1], "title": ["x"]})
    assert add_party_names(table, "lots", names) is table
