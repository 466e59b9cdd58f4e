"""Excel workbooks read back as Excel would: codes stay text, money numbers, times dates."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from exports.arrow import column_list, entity_schema, to_export
from exports.party_names import PartyNames, add_party_names
from exports.source import open_source
from exports.storage import open_store
from exports.xlsx import (
    MAX_CELL_CHARS,
    completed_month,
    header,
    write_current_workbooks,
    write_month_workbooks,
)
from hub.demo import generate
from hub.demo.load import load_demo
from schema.db import make_engine
from tests.conftest import fresh_database

STAGING = ".staging/xlsx-test"


@dataclass
class Demo:
    engine: Engine
    root: Path
    month: str


def _named(engine: Engine, entity: str) -> pa.Table:
    with open_source(engine) as source:
        names = PartyNames.load(source)
        sql = f"SELECT {column_list(entity)} FROM {entity} ORDER BY id"
        batches = [to_export(b, entity) for b in source.batches(sql, entity)]
    return add_party_names(pa.Table.from_batches(batches, entity_schema(entity)), entity, names)


@pytest.fixture(scope="module")
def demo(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    """The demo's transactions as day files under parquet/ and its parties as current/."""
    folder = tmp_path_factory.mktemp(f"xlsx-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=20, transactions=200, penalties=10)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        root = folder / "out"
        transactions = _named(engine, "transactions")
        days = pc.cast(pc.cast(transactions.column("published_at"), pa.date32()), pa.string())
        for day in sorted(set(days.to_pylist())):
            path = root / f"parquet/transactions/date={day}/transactions.parquet"
            path.parent.mkdir(parents=True)
            pq.write_table(transactions.filter(pc.equal(days, day)), path)
        (root / "parquet/current").mkdir(parents=True)
        pq.write_table(_named(engine, "parties"), root / "parquet/current/parties.parquet")
        yield Demo(engine, root, min(days.to_pylist())[:7])
        engine.dispose()


def _rows(path: Path) -> list[tuple[Any, ...]]:
    sheet = openpyxl.load_workbook(path).active
    return [tuple(c for c in row) for row in sheet.iter_rows()]


def test_transactions_of_a_month_read_back_with_codes_as_text(demo: Demo) -> None:
    store = open_store(str(demo.root))
    [entry] = write_month_workbooks(store, STAGING, demo.month, ["transactions"])
    assert entry.path == f"xlsx/transactions/month={demo.month}/transactions.xlsx"
    path = demo.root / STAGING / entry.path
    data = path.read_bytes()
    assert (entry.bytes, entry.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    heading, *cells = _rows(path)
    names = [h.value.rsplit(" (", 1)[-1].rstrip(")") for h in heading]
    assert heading[names.index("supplier_uscc")].value == "供应商统一社会信用代码 (supplier_uscc)"
    year, month = (int(p) for p in demo.month.split("-"))
    after = f"{year + month // 12}-{month % 12 + 1:02d}-01"  # the month's orders only
    with demo.engine.connect() as conn:
        expected = conn.execute(text(
            "SELECT t.order_id, t.amount, t.published_at, p.uscc FROM transactions t "
            "JOIN parties p ON p.id = t.supplier_id WHERE t.published_at >= :start AND "
            "t.published_at < :end ORDER BY t.order_id"
        ), {"start": f"{demo.month}-01", "end": after}).all()  # fmt: skip
    assert entry.rows == len(cells) == len(expected) > 0
    digits = 0
    at = names.index("order_id")
    cells.sort(key=lambda row: row[at].value)  # day files in turn: compared by order id
    for row, (order_id, fen, published_at, uscc) in zip(cells, expected, strict=True):
        found = dict(zip(names, row, strict=True))
        code = found["supplier_uscc"]
        assert (code.value, code.data_type) == (uscc, "s")  # all-digit codes stay text
        digits += uscc.isdigit()
        assert (found["order_id"].value, found["order_id"].data_type) == (order_id, "s")
        amount = found["amount"]
        assert amount.data_type == "n" and amount.number_format == "#,##0.00"
        assert Decimal(str(amount.value)) == Decimal(fen) / 100
        moment = (
            published_at
            if isinstance(published_at, datetime)
            else datetime.fromisoformat(published_at)
        )
        assert found["published_at"].value == moment.replace(microsecond=0)
        assert found["published_at"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert digits > 0, "the demo has suppliers whose credit code is all digits"


def test_current_parties_workbook(demo: Demo) -> None:
    store = open_store(str(demo.root))
    [entry] = write_current_workbooks(store, STAGING, ["parties", "awards"], date(2026, 12, 5))
    assert entry.path == "xlsx/current/parties.xlsx"  # no Parquet file of awards: no workbook
    heading, *cells = _rows(demo.root / STAGING / entry.path)
    column = [h.value for h in heading].index("统一社会信用代码 (uscc)")
    with demo.engine.connect() as conn:
        codes = conn.execute(text("SELECT uscc FROM parties ORDER BY id")).scalars().all()
    assert [r[column].value for r in cells] == codes
    assert all(r[column].data_type == "s" for r in cells if r[column].value is not None)


def _records(count: int, start: int = 0) -> pa.Table:
    """Transactions with odd cells: digits, formulas, a long text, a negative amount."""
    schema = entity_schema("transactions")
    columns = {f.name: pa.nulls(count, f.type) for f in schema}
    columns["id"] = pa.array(range(start, start + count), pa.int64())
    columns["order_id"] = pa.array([f"{i:018d}" for i in range(start, start + count)])
    columns["item_name"] = pa.array(
        ["=SUM(A1:A2)", "x" * (MAX_CELL_CHARS + 10)] + ["台式计算机"] * (count - 2)
    )
    columns["amount"] = pa.array([Decimal("-12.30")] * count, schema.field("amount").type)
    columns["unit_price"] = pa.array([Decimal("0.0050")] * count, schema.field("unit_price").type)
    columns["order_date"] = pa.array([date(2024, 3, 1)] * count, pa.date32())
    columns["published_at"] = pa.array(
        [datetime(2024, 3, 1, 9, 5, 7, 999999)] * count, schema.field("published_at").type
    )
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _day_file(root: Path, day: str, table: pa.Table) -> None:
    path = root / f"parquet/transactions/date={day}/transactions.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)


def test_a_month_splits_into_parts_under_the_cap_and_leaves_other_months_out(
    tmp_path: Path,
) -> None:
    _day_file(tmp_path, "2024-03-01", _records(12))
    _day_file(tmp_path, "2024-03-31", _records(13, start=12))
    _day_file(tmp_path, "2024-04-01", _records(5, start=25))
    store = open_store(str(tmp_path))
    entries = write_month_workbooks(store, STAGING, "2024-03", ["transactions"], max_rows=10)
    folder = "xlsx/transactions/month=2024-03"
    assert [(e.path, e.rows) for e in entries] == [
        (f"{folder}/transactions.xlsx", 10),
        (f"{folder}/transactions-part2.xlsx", 10),
        (f"{folder}/transactions-part3.xlsx", 5),
    ]
    order_ids = []
    for entry in entries:
        heading, *cells = _rows(tmp_path / STAGING / entry.path)
        assert heading[1].value == "订单编号 (order_id)"  # every part has the header
        order_ids += [r[1].value for r in cells]
    assert order_ids == [f"{i:018d}" for i in range(25)]  # day by day, in order, none lost
    again = write_month_workbooks(store, ".staging/again", "2024-03", ["transactions"], max_rows=10)
    assert [e.sha256 for e in again] == [e.sha256 for e in entries]  # same data, same bytes


def test_odd_cells_stay_what_they_are(tmp_path: Path) -> None:
    _day_file(tmp_path, "2024-03-01", _records(3))
    store = open_store(str(tmp_path))
    [entry] = write_month_workbooks(store, STAGING, "2024-03", ["transactions"])
    heading, *cells = _rows(tmp_path / STAGING / entry.path)
    names = [h.value.rsplit(" (", 1)[-1].rstrip(")") for h in heading]
    first, second = (dict(zip(names, row, strict=True)) for row in cells[:2])
    assert (first["item_name"].value, first["item_name"].data_type) == ("=SUM(A1:A2)", "s")
    assert len(second["item_name"].value) == MAX_CELL_CHARS and second["item_name"].value.endswith(
        "…"
    )
    assert first["amount"].value == -12.3 and first["amount"].data_type == "n"
    assert first["unit_price"].value == 0.005 and first["unit_price"].number_format == "#,##0.00##"
    assert (
        first["order_date"].value == datetime(2024, 3, 1)
        and first["order_date"].number_format == "yyyy-mm-dd"
    )
    assert first["published_at"].value == datetime(2024, 3, 1, 9, 5, 7)  # to the second
    assert first["brand"].value is None  # empty stays empty


def test_a_month_is_complete_on_its_last_day() -> None:
    assert completed_month(date(2024, 3, 31)) == "2024-03"
    assert completed_month(date(2024, 2, 29)) == "2024-02"
    assert completed_month(date(2024, 3, 30)) is None
    assert header(pa.field("x", pa.int64())) == "x"
