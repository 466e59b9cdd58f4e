"""Transactions as e-malls publish them (issue 14 item 3), on SQLite and PostgreSQL: services
without a model, unit prices to 0.0001 yuan, returns (退货) as negative quantities linked to
their order, and platform columns of their own kept and named once. Through files, through
GraphQL `publish` on a running hub, and out again through GraphQL, stats, flags and dumps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from alembic import command
from sqlalchemy import Engine, select, text

from exports.write import export_day
from hub.app import create_app
from hub.config import Settings
from hub.flags import rebuild
from hub.publishing import ingest_file, ingest_records
from hub.publishing.publishers import add_publisher
from schema.db import alembic_config
from schema.tables import DATA_QUALITY_ISSUES, FLAGS
from schema.tables import TRANSACTIONS as T
from schema.types import PublisherRole, RecordKind
from tests.factories import PAPER_DEALER, credit_code, transaction, write_csv, write_ndjson
from tests.hub_server import graphql, running

MALL = "吉林省政府采购电子卖场"
CAIGOU = [str(Path(sys.executable).with_name("caigou"))]
PAPER = {"item_name": "复印纸", "brand": "得力", "model": "A4 70g 单张", "category_code": "A05040101",
         "unit": "张", "supplier_name": PAPER_DEALER[0], "supplier_uscc": PAPER_DEALER[1]}  # fmt: skip
CLEANING = {"item_name": "办公楼保洁服务", "brand": "", "model": "", "category_code": "C21040000",
            "unit": "月", "quantity": "12", "unit_price": "8500.00", "amount": "102000.00"}  # fmt: skip


@pytest.fixture
def mall(add):  # type: ignore[no-untyped-def]
    return add(MALL, "trading_platform", ["220000"], ["transaction"])


def stored(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.order_id: r for r in conn.execute(select(T))}


def issues(engine: Engine) -> list[tuple[str, str, str]]:
    table = DATA_QUALITY_ISSUES
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.record_ref, table.c.code)).all()
    return [(r.record_ref, r.code, r.field_name) for r in rows]


def test_a_service_may_go_without_a_model_goods_may_not(engine, mall, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "services.csv", [transaction("SV1", **CLEANING)])
    result = ingest_file(engine, path, MALL)
    assert (result.status, result.accepted) == ("accepted", 1)
    assert stored(engine)["SV1"].model is None
    goods = ingest_records(
        engine, MALL, RecordKind.transaction, [transaction("GD1", model=""), transaction("GD2")]
    )
    assert goods.status == "rejected"
    [refusal] = goods.refusals
    assert (refusal.position, refusal.record_id, refusal.field) == (1, "GD1", "model")
    assert "only a service" in refusal.reason and "C" in refusal.reason
    unclassified = ingest_records(
        engine, MALL, RecordKind.transaction,
        [transaction("SV2", **{**CLEANING, "category_code": ""})],
    )  # fmt: skip
    assert [r.field for r in unclassified.refusals] == ["model"]  # no category: not a service


def test_unit_prices_to_four_decimals_and_the_total_check(engine, mall, tmp_path: Path) -> None:
    rows = [
        transaction("ZP1", **PAPER, quantity="2500", unit_price="0.005", amount="12.50"),
        # a price published rounded: 100.00 for 3 is 33.3333 each, 3 × 33.3333 = 99.9999
        transaction("ZP2", **PAPER, quantity="3", unit_price="33.3333", amount="100.00"),
        transaction("ZP3", **PAPER, quantity="1000", unit_price="0.0033", amount="3.33"),
        transaction("ZP4", **PAPER, quantity="1000", unit_price="0.005", amount="6.00"),
    ]
    result = ingest_file(engine, write_csv(tmp_path / "paper.csv", rows), MALL)
    assert (result.status, result.accepted) == ("accepted", 4), result.refusals
    held = stored(engine)
    assert held["ZP1"].unit_price == Decimal("0.005") and str(held["ZP1"].unit_price) == "0.005"
    assert str(held["ZP2"].unit_price) == "33.3333"
    assert held["ZP1"].amount == Decimal("12.50")
    assert issues(engine) == [("ZP4", "amount_mismatch", "amount")]
    too_fine = ingest_records(
        engine, MALL, RecordKind.transaction, [transaction("ZP5", unit_price="0.00005")]
    )
    assert too_fine.refusals[0].field == "unit_price"
    assert "more than 4 decimal places" in too_fine.refusals[0].reason
    # the same row again, as JSON numbers, is the same record
    again = ingest_records(engine, MALL, RecordKind.transaction, [
        {**rows[0], "quantity": 2500, "unit_price": 0.005, "amount": 12.5}
    ])  # fmt: skip
    assert (again.accepted, again.duplicates) == (0, 1)


def test_returns_are_negative_and_linked_to_their_order(engine, mall, tmp_path: Path) -> None:
    rows = [
        transaction("DD1", quantity="3", amount="14997.00"),
        transaction("DD1-R1", quantity="-1", amount="-4999.00"),  # the order id says which
        transaction("TH9", quantity="-1", amount="-4999.00", return_of="DD1"),  # a column does
        transaction("DD2-R1", quantity="-1", amount="-4999.00"),  # its order comes later …
        transaction("DD2", quantity="1", amount="4999.00"),  # … in the same file
        transaction("DD7-R1", quantity="-2", amount="-9998.00"),  # an order the hub lacks
        transaction("TH8", quantity="-1", amount="-4999.00"),  # names no order at all
        transaction("DD2-R2", quantity="-1", amount="-4999.00"),  # more than DD2's one
    ]
    rows = [{**r, "return_of": r.get("return_of", "")} for r in rows]
    result = ingest_file(engine, write_csv(tmp_path / "orders.csv", rows), MALL)
    assert (result.status, result.accepted) == ("accepted", 8), result.refusals
    held = stored(engine)
    assert {k: (v.return_of, v.quantity, v.amount) for k, v in held.items() if v.return_of} == {
        "DD1-R1": ("DD1", Decimal("-1"), Decimal("-4999.00")),
        "TH9": ("DD1", Decimal("-1"), Decimal("-4999.00")),
        "DD2-R1": ("DD2", Decimal("-1"), Decimal("-4999.00")),
        "DD7-R1": ("DD7", Decimal("-2"), Decimal("-9998.00")),
        "DD2-R2": ("DD2", Decimal("-1"), Decimal("-4999.00")),
    }
    assert held["DD1"].return_of is None and held["TH8"].return_of is None
    assert issues(engine) == [
        ("DD2-R1", "return_exceeds_order", "quantity"),
        ("DD2-R2", "return_exceeds_order", "quantity"),
        ("DD7-R1", "return_without_original", "return_of"),
        ("TH8", "return_without_original", "return_of"),
    ]


def test_returns_whose_signs_contradict_are_refused_by_field(engine, mall) -> None:
    bad = [
        transaction("R1-R1", quantity="-1", amount="4999.00"),
        transaction("R2", quantity="1", amount="-4999.00"),
        transaction("R3", return_of="DD1"),
        transaction("R4-R1", quantity="-1", unit_price="-4999.00", amount="-4999.00"),
        transaction("R5", quantity="-1", amount="-4999.00", return_of="R5"),
    ]
    result = ingest_records(engine, MALL, RecordKind.transaction, bad, partial=True)
    assert [(r.record_id, r.field) for r in result.refusals] == [
        ("R1-R1", "amount"), ("R2", "amount"), ("R3", "return_of"), ("R4-R1", "unit_price"),
        ("R5", "return_of"),
    ]  # fmt: skip
    assert (
        "a return (退货) has a negative quantity and a negative amount" in result.refusals[0].reason
    )
    assert "not price" in result.refusals[3].reason
    assert stored(engine) == {}


def test_unknown_columns_are_kept_and_named_once_per_file(
    engine, database_url: str, mall, tmp_path: Path
) -> None:
    rows = [
        transaction(f"DD{i}") | {"order_status": "已完成", "发票号": f"FP{i}"} for i in range(3)
    ]
    path = write_csv(tmp_path / "mall-export.csv", rows)
    result = ingest_file(engine, path, MALL)
    assert (result.status, result.accepted) == ("accepted", 3)
    assert result.warnings == [
        "unknown columns order_status, 发票号 (first in record 1): not read, kept as received "
        "in each record's payload"
    ]
    assert json.loads(stored(engine)["DD2"].payload)["发票号"] == "FP2"
    again = ingest_file(engine, write_ndjson(tmp_path / "more.ndjson", [
        transaction("DD5"), transaction("DD6") | {"order_status": "退款中"},
        transaction("DD7") | {"order_status": "已完成", "sku_id": 42},
    ]), MALL)  # fmt: skip
    assert again.accepted == 3
    assert [w.split(" (")[0] for w in again.warnings] == [
        "unknown column order_status", "unknown column sku_id"
    ]  # fmt: skip
    # the command line says it too
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url, "COLUMNS": "300"}
    more = write_csv(tmp_path / "third.csv", [transaction("DD9") | {"order_status": "已完成"}])
    done = subprocess.run([*CAIGOU, "ingest", str(more), "--publisher", MALL],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "third.csv: warning: unknown column order_status (first in record 1)" in done.stderr


def test_returns_are_not_cheap_purchases_to_flags_or_stats(
    engine, database_url: str, mall, tmp_path: Path
) -> None:
    """Five schools paid 4,999; refunds of 2,000 a unit (partial refunds of damaged goods)
    would pull the median below 2,500 and make every purchase an outlier if counted."""
    purchases = [
        transaction(f"DD{i}", purchaser_name=f"长春市第{i}中学", quantity="1", amount="4999.00",
                    purchaser_uscc=credit_code(f"122201004127586{i:02d}"), order_date="2024-03-05")
        for i in range(5)
    ]  # fmt: skip
    refunds = [
        transaction(f"DD{i % 5}-R{i}", purchaser_name=f"长春市第{i % 5}中学", quantity="-1",
                    unit_price="2000.00", amount="-2000.00", order_date="2024-03-20",
                    purchaser_uscc=credit_code(f"122201004127586{i % 5:02d}"))
        for i in range(5, 12)
    ]  # fmt: skip
    result = ingest_records(engine, MALL, RecordKind.transaction, purchases + refunds)
    assert result.accepted == 12, result.refusals
    assert rebuild(engine)["transaction_flags"] == 0
    with engine.connect() as conn:
        assert conn.execute(select(FLAGS)).all() == []
    with running(create_app(Settings(database_url, str(tmp_path / "exports"), None))) as base:
        answer = graphql(base, """{ transactionStats(groupBy: [MONTH]) {
            count amount { sum min max avg } unitPrice { min max avg } } }""")  # fmt: skip
    [row] = answer["data"]["transactionStats"]
    assert row["count"] == 12
    assert Decimal(row["amount"]["sum"]) == 5 * Decimal("4999.00") - 7 * Decimal("2000.00")
    assert Decimal(row["amount"]["min"]) == Decimal("4999.00")  # returns are no purchases
    assert Decimal(row["unitPrice"]["min"]) == Decimal("4999.00")
    assert Decimal(row["unitPrice"]["avg"]) == Decimal("4999.00")


def test_graphql_publish_takes_the_same_rows_and_answers_four_decimals(
    engine, database_url: str, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        _, token = add_publisher(conn, MALL, PublisherRole.trading_platform, ["220000"],
                                 [RecordKind.transaction], "http://mall.example.gov.cn")  # fmt: skip
    records: list[dict[str, Any]] = [
        {**transaction("ZP1", **PAPER), "quantity": 2500, "unit_price": 0.005, "amount": 12.5,
         "order_status": "已完成"},
        transaction("ZP1-R1", **PAPER, quantity="-500", unit_price="0.005", amount="-2.50"),
        transaction("SV1", **CLEANING),
    ]  # fmt: skip
    publish = """mutation($records: [JSON!]!) { publish(kind: TRANSACTION, records: $records) {
        status accepted warnings refusals { recordId field reason } } }"""
    query = """{ transactions(first: 10, orderBy: {field: ID, direction: ASC}) { nodes {
        orderId model quantity unitPrice amount returnOf
        returnedOrder { orderId supplier { name } } } } }"""
    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    with running(app) as base:
        answer = graphql(base, publish, {"records": records}, token)["data"]["publish"]
        listed = graphql(base, query)["data"]["transactions"]["nodes"]
        # range ends finer than what is stored are rounded inwards, not an internal error
        narrow = """query($price: AmountRange, $amount: AmountRange) { transactions(first: 5,
            filter: {unitPrice: $price, amount: $amount}) { nodes { orderId } } }"""
        fine = graphql(base, narrow, {"price": {"min": "0.00499", "max": "0.00501"},
                                      "amount": {"min": "0.001"}})  # fmt: skip
        absurd = graphql(base, narrow, {"amount": {"max": "1e30"}})
    assert fine["data"]["transactions"]["nodes"] == [{"orderId": "ZP1"}]
    assert absurd["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "1E+30 is not an amount" in absurd["errors"][0]["message"]
    assert (answer["status"], answer["accepted"], answer["refusals"]) == ("accepted", 3, [])
    assert answer["warnings"] == [
        "unknown column order_status (first in record 1): not read, kept as received in each "
        "record's payload"
    ]
    assert listed == [
        {"orderId": "ZP1", "model": "A4 70g 单张", "quantity": "2500.000", "unitPrice": "0.005",
         "amount": "12.50", "returnOf": None, "returnedOrder": None},
        {"orderId": "ZP1-R1", "model": "A4 70g 单张", "quantity": "-500.000",
         "unitPrice": "0.005", "amount": "-2.50", "returnOf": "ZP1",
         "returnedOrder": {"orderId": "ZP1", "supplier": {"name": PAPER_DEALER[0]}}},
        {"orderId": "SV1", "model": None, "quantity": "12.000", "unitPrice": "8500.00",
         "amount": "102000.00", "returnOf": None, "returnedOrder": None},
    ]  # fmt: skip
    assert issues(engine) == []


def test_dumps_carry_four_decimals_and_negative_returns(engine, mall, tmp_path: Path) -> None:
    rows = [
        transaction("ZP1", **PAPER, quantity="2500", unit_price="0.005", amount="12.50"),
        transaction("ZP1-R1", **PAPER, quantity="-500", unit_price="0.005", amount="-2.50"),
    ]
    assert ingest_records(engine, MALL, RecordKind.transaction, rows).accepted == 2
    day = stored(engine)["ZP1"].published_at.date()
    export_day(engine, str(tmp_path / "out"), day)
    folder = f"transactions/date={day}/transactions"
    table = pq.read_table(tmp_path / "out" / f"parquet/{folder}.parquet")
    assert table.schema.field("unit_price").type == pa.decimal128(18, 4)
    got = {r["order_id"]: r for r in table.to_pylist()}
    assert got["ZP1"]["unit_price"] == Decimal("0.0050")
    assert (got["ZP1-R1"]["quantity"], got["ZP1-R1"]["amount"]) == (
        Decimal("-500.000"), Decimal("-2.50")
    )  # fmt: skip
    assert got["ZP1-R1"]["return_of"] == "ZP1"
    csv_text = (tmp_path / "out" / f"csv/{folder}.csv").read_text("utf-8-sig")
    assert '"ZP1-R1"' in csv_text and "0.0050" in csv_text and "-2.50" in csv_text


def test_migration_0009_moves_stored_prices_to_four_places_and_back(engine, mall) -> None:
    """Prices held in fen before 0009 read the same after it; going back is refused while
    the hub holds what the old schema cannot (a price below the fen)."""
    assert ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")]).accepted == 1
    config = alembic_config(engine)
    command.downgrade(config, "0006")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT unit_price FROM transactions")).scalar_one() == 499_900
    command.upgrade(config, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT unit_price FROM transactions")).scalar_one() == 49_990_000
    assert stored(engine)["DD1"].unit_price == Decimal("4999.00")
    again = ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")])
    assert again.duplicates == 1  # its content hash is the one computed in fen
    paper = transaction("ZP1", **PAPER, quantity="2500", unit_price="0.005", amount="12.50")
    assert ingest_records(engine, MALL, RecordKind.transaction, [paper]).accepted == 1
    with pytest.raises(RuntimeError, match="sub-fen prices"):
        command.downgrade(config, "0006")
    assert stored(engine)["ZP1"].unit_price == Decimal("0.005")


def test_a_column_named_twice_is_refused_not_guessed(engine, mall, tmp_path: Path) -> None:
    """With two `order_status` cells the payload would keep only one: nothing is written."""
    row = transaction("DD1")
    header = ",".join([*row, "order_status", "order_status"])
    path = tmp_path / "twice.csv"
    path.write_text(f"{header}\n{','.join([*row.values(), '已完成', '已退款'])}\n", "utf-8")
    result = ingest_file(engine, path, MALL)
    assert result.status == "rejected"
    [refusal] = result.refusals
    assert (refusal.field, refusal.reason) == ("header", "columns named twice: order_status")
    assert stored(engine) == {}
