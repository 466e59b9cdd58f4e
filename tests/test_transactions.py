"""Transaction records through the publishing pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from hub.publishing import PublisherError, ingest_file, ingest_records
from schema.columns import table_of
from schema.tables import DATA_QUALITY_ISSUES, INGESTIONS, PARTIES, TRANSACTIONS, Party, Transaction
from schema.types import RecordKind
from tests.factories import PAPER_DEALER, credit_code, transaction, write_csv, write_ndjson

MALL = "吉林省政府采购电子卖场"


@pytest.fixture
def mall(add):  # type: ignore[no-untyped-def]
    return add(
        MALL, "trading_platform", ["220000"], ["transaction"], "http://mall.ccgp-jilin.gov.cn"
    )


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table_of(model))).scalar_one()


def test_rows_are_stored_with_exact_money_and_their_publisher(engine, mall, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [
        transaction("DD1"),
        transaction("DD2", item_name="复印纸", brand="得力", model="A4 70g", category_code="A05040101",
                    quantity="2.5", unit="箱", unit_price="120.35", amount="300.88",
                    supplier_name=PAPER_DEALER[0], supplier_uscc=PAPER_DEALER[1], channel="协议供货"),
    ])  # fmt: skip
    result = ingest_file(engine, path, MALL)
    assert (result.status, result.accepted, result.rejected) == ("accepted", 2, 0)
    with engine.connect() as conn:
        rows = {r.order_id: r for r in conn.execute(select(TRANSACTIONS))}
    assert rows["DD2"].unit_price == Decimal("120.35")
    assert rows["DD2"].amount == Decimal("300.88")
    assert rows["DD2"].quantity == Decimal("2.500")
    assert rows["DD2"].channel == "framework"
    assert rows["DD1"].publisher_id == mall.id
    assert rows["DD1"].source_site == "http://mall.ccgp-jilin.gov.cn"
    assert json.loads(rows["DD1"].payload)["model"] == "启天M4360"
    assert rows["DD1"].received_at is not None


def test_reingesting_the_same_file_is_a_no_op(engine, mall, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [transaction("DD1"), transaction("DD2")])
    ingest_file(engine, path, MALL)
    again = ingest_file(engine, path, MALL)
    assert (again.status, again.accepted, again.duplicates) == ("accepted", 0, 2)
    assert count(engine, Transaction) == 2


def test_same_order_in_csv_and_ndjson_is_one_record(engine, mall, tmp_path: Path) -> None:
    ingest_file(engine, write_csv(tmp_path / "a.csv", [transaction("DD1")]), MALL)
    as_json = transaction("DD1") | {"quantity": 2, "unit_price": 4999, "amount": 9998.0}
    again = ingest_file(engine, write_ndjson(tmp_path / "a.ndjson", [as_json]), MALL)
    assert again.duplicates == 1
    assert count(engine, Transaction) == 1


def test_same_id_with_different_content_is_refused(engine, mall, tmp_path: Path) -> None:
    ingest_file(engine, write_csv(tmp_path / "a.csv", [transaction("DD1")]), MALL)
    changed = write_csv(
        tmp_path / "b.csv", [transaction("DD1", unit_price="4899.00", amount="9798.00")]
    )
    result = ingest_file(engine, changed, MALL)
    assert result.status == "rejected"
    [refusal] = result.refusals
    assert (refusal.position, refusal.record_id, refusal.field) == (1, "DD1", "order_id")
    assert "different content" in refusal.reason
    with engine.connect() as conn:
        assert conn.execute(select(TRANSACTIONS.c.unit_price)).scalar_one() == Decimal("4999.00")


def test_one_bad_record_rejects_the_whole_batch(engine, mall, tmp_path: Path) -> None:
    rows = [transaction(f"DD{i}") for i in range(1, 6)]
    rows[2]["supplier_uscc"] = "91220101MA0Y123450"  # wrong check character
    rows[4]["order_date"] = "2024/13/45"
    result = ingest_file(engine, write_csv(tmp_path / "a.csv", rows), MALL)
    assert result.status == "rejected"
    assert [(r.position, r.record_id, r.field) for r in result.refusals] == [
        (3, "DD3", "supplier_uscc"),
        (5, "DD5", "order_date"),
    ]
    assert "check digit" in result.refusals[0].reason
    assert count(engine, Transaction) == 0
    assert count(engine, Party) == 0
    with engine.connect() as conn:
        log = conn.execute(select(INGESTIONS)).one()
    assert (log.status, log.rejected, log.accepted) == ("rejected", 2, 0)
    assert json.loads(log.report)[0]["field"] == "supplier_uscc"


def test_partial_keeps_valid_records_and_writes_rejects_beside_the_input(
    engine, mall, tmp_path: Path
) -> None:
    rows = [
        transaction("DD1"),
        transaction("DD2", quantity="1.2345"),  # thousandths at most
        transaction("DD3", channel="团购"),
    ]
    path = write_csv(tmp_path / "orders.csv", rows)
    result = ingest_file(engine, path, MALL, partial=True)
    assert (result.status, result.accepted, result.rejected) == ("partial", 1, 2)
    assert result.rejects_path == tmp_path / "orders.csv.rejects.ndjson"
    rejects = [json.loads(line) for line in result.rejects_path.read_text("utf-8").splitlines()]
    assert [(r["record_id"], r["field"]) for r in rejects] == [
        ("DD2", "quantity"),
        ("DD3", "channel"),
    ]
    assert rejects[1]["record"]["channel"] == "团购"
    assert count(engine, Transaction) == 1


def test_amount_not_quantity_times_price_is_kept_and_flagged(engine, mall, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [transaction("DD1", amount="9999.00"), transaction("DD2")])
    result = ingest_file(engine, path, MALL)
    assert result.accepted == 2
    with engine.connect() as conn:
        issue = conn.execute(select(DATA_QUALITY_ISSUES)).one()
    assert (issue.record_ref, issue.code, issue.field_name) == ("DD1", "amount_mismatch", "amount")
    assert "9999.00" in issue.message


def test_out_of_region_records_are_refused(engine, mall, tmp_path: Path) -> None:
    result = ingest_file(
        engine, write_csv(tmp_path / "a.csv", [transaction("DD1", region_code="110101")]), MALL
    )
    assert result.status == "rejected"
    assert result.refusals[0].field == "region_code"
    assert "outside" in result.refusals[0].reason


def test_a_purchaser_registered_in_another_region_is_refused(engine, mall) -> None:
    beijing = credit_code("12110000412758693")  # a Beijing unit (characters 3–8: 110000)
    central = credit_code("12100000412758693")  # a central unit buys everywhere
    refused = ingest_records(engine, MALL, RecordKind.transaction, [
        transaction("DD1", purchaser_name="北京市某中学", purchaser_uscc=beijing),
    ])  # fmt: skip
    [refusal] = refused.refusals
    assert refusal.field == "purchaser_uscc"
    assert refusal.reason == f"{beijing} is registered in 110000, outside {MALL}'s scope (220000)"
    ok = ingest_records(engine, MALL, RecordKind.transaction, [
        transaction("DD2", purchaser_name="某中央单位", purchaser_uscc=central),
    ])  # fmt: skip
    assert ok.accepted == 1


def test_publisher_without_the_kind_is_refused_outright(engine, add, tmp_path: Path) -> None:
    add("吉林省政府采购网", "regional_site", ["220000"], ["notice"])
    with pytest.raises(PublisherError, match="may not publish transaction"):
        ingest_file(engine, write_csv(tmp_path / "a.csv", [transaction()]), "吉林省政府采购网")
    assert count(engine, Transaction) == 0


def test_unknown_columns_and_missing_required_columns_name_the_column(
    engine, mall, tmp_path: Path
) -> None:
    row = transaction()
    row["suplier_name"] = row.pop("supplier_name")
    result = ingest_file(engine, write_csv(tmp_path / "a.csv", [row]), MALL)
    assert result.status == "rejected"
    [refusal] = result.refusals
    assert refusal.field == "header"
    assert "missing columns supplier_name" in refusal.reason
    assert "unknown columns suplier_name" in refusal.reason


def test_csv_without_bom_and_category_from_an_older_edition(engine, mall, tmp_path: Path) -> None:
    rows = [transaction("DD1", category_code="A02010104") | {"category_edition": "2013"}]
    result = ingest_file(engine, write_csv(tmp_path / "a.csv", rows, bom=False), MALL)
    assert result.accepted == 1
    with engine.connect() as conn:
        row = conn.execute(select(TRANSACTIONS)).one()
    assert (row.category_code, row.category_edition) == ("A02010104", "2013")
    unknown = ingest_records(
        engine, MALL, RecordKind.transaction, [transaction("DD2", category_code="A99999999")]
    )
    assert unknown.refusals[0].field == "category_code"
    assert "2022" in unknown.refusals[0].reason


def test_publish_time_is_kept_when_given_and_is_the_arrival_otherwise(
    engine, mall, tmp_path: Path
) -> None:
    rows = [
        transaction("DD1") | {"published_at": "2024-03-02T10:15:00+08:00"},
        transaction("DD2") | {"published_at": ""},
    ]
    ingest_file(engine, write_csv(tmp_path / "a.csv", rows), MALL)
    with engine.connect() as conn:
        stored = {r.order_id: r for r in conn.execute(select(TRANSACTIONS))}
    assert str(stored["DD1"].published_at) == "2024-03-02 10:15:00"
    assert stored["DD2"].published_at == stored["DD2"].received_at
    bad = ingest_records(
        engine, MALL, RecordKind.transaction, [transaction("DD3") | {"published_at": "昨天"}]
    )
    assert bad.refusals[0].field == "published_at"


def test_a_gbk_csv_from_chinese_excel_is_read_as_gb18030(engine, mall, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", [transaction("DD1"), transaction("DD2")], bom=False)
    path.write_bytes(path.read_text("utf-8").encode("gbk"))
    result = ingest_file(engine, path, MALL)
    assert (result.status, result.accepted) == ("accepted", 2)
    with engine.connect() as conn:
        names = conn.execute(select(TRANSACTIONS.c.item_name)).scalars().all()
        purchasers = conn.execute(select(PARTIES.c.name)).scalars().all()
    assert names == ["台式计算机", "台式计算机"]
    assert "吉林省实验中学" in purchasers


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data[:-1], "line 3 has truncated UTF-8 at byte"),
        (lambda data: data.replace("启天".encode(), "启天".encode("gbk"), 1),
         "line 2 has invalid UTF-8 at byte"),
        (lambda data: data.split(b"\n", 1)[0] + b"\n\x80\xff\n", "line 2 is neither UTF-8 nor GB18030"),
    ],
    ids=["truncated", "GBK inside UTF-8", "neither"],
)  # fmt: skip
def test_a_file_with_bad_bytes_names_the_line_and_writes_nothing(
    engine, mall, tmp_path: Path, damage, reason: str
) -> None:
    rows = [transaction("DD1"), transaction("DD2", agreement_id="协议甲")]  # ends in 3 bytes
    path = write_csv(tmp_path / "a.csv", rows, bom=False)
    path.write_bytes(damage(path.read_bytes().rstrip(b"\r\n")))
    result = ingest_file(engine, path, MALL, partial=True)
    [refusal] = result.refusals
    assert (refusal.position, refusal.field) == (0, "encoding")
    assert reason in refusal.reason
    assert count(engine, Transaction) == 0


def test_bad_lines_and_rows_name_their_line(engine, mall, tmp_path: Path) -> None:
    ndjson = tmp_path / "a.ndjson"
    ndjson.write_text(json.dumps(transaction("DD1")) + "\n{not json\n[1]\n", "utf-8")
    refused = ingest_file(engine, ndjson, MALL).refusals
    assert [(r.position, r.field, r.reason[:26]) for r in refused] == [
        (2, "line", "line 2 is not valid JSON: "),
        (3, "line", "line 3 is not a JSON objec"),
    ]
    path = write_csv(tmp_path / "a.csv", [transaction("DD1")])
    path.write_text(path.read_text("utf-8-sig") + "DD2,emall\n", "utf-8")
    [short] = ingest_file(engine, path, MALL).refusals
    assert (short.position, short.field) == (2, "row")
    assert short.reason == "line 3 has 2 cells, the header has 17"


def test_a_csv_with_old_mac_line_endings_is_read(engine, mall, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "mac.csv", [transaction("DD1"), transaction("DD2")])
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\r"))
    assert ingest_file(engine, path, MALL).accepted == 2
