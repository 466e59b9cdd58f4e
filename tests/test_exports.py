"""Daily dumps on SQLite and PostgreSQL: round trip, CSV readers, atomicity, determinism."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select, text

from exports.arrow import entity_schema, export_fields
from exports.formats import neutralise_formulas
from exports.manifest import Manifest, manifest_path
from exports.party_names import named_schema
from exports.schedule import DailyExport, beijing_today, export_range, unpublished_days
from exports.storage import open_store
from exports.write import export_day
from hub.demo import generate
from hub.demo.load import load_demo
from hub.publishing import ingest_file
from hub.publishing.publishers import add_publisher
from schema.catalogue import ENTITIES
from schema.columns import table_of
from schema.db import make_engine
from schema.relations import party_id_columns
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import transaction, write_csv

ROOT = Path(__file__).resolve().parents[1]
RISKY = {"item_name": "=HYPERLINK(\"http://x\")", "brand": "-联想", "model": "@SUM(1)",
         "unit": "+台"}  # fmt: skip


@dataclass
class Dumped:
    url: str
    engine: Engine
    day: date
    root: Path
    manifest: Manifest


def _records_day(engine: Engine) -> date:
    """The latest day on which the demo published both orders and penalty records."""

    def days(table: str) -> set[date]:
        with engine.connect() as conn:
            values = conn.execute(text(f"SELECT published_at FROM {table}")).scalars()
            return {(v if isinstance(v, datetime) else datetime.fromisoformat(v)).date()
                    for v in values}  # fmt: skip

    return max(days("transactions") & days("penalty_records"))


def _between(day: date) -> dict[str, datetime]:
    start = datetime.combine(day, datetime.min.time())
    return {"start": start, "end": start + timedelta(days=1)}


@pytest.fixture(scope="module")
def dumped(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dumped]:
    """The demo data plus a few formula-like cells, exported for a day orders and penalty
    records were published."""
    folder = tmp_path_factory.mktemp(f"exports-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=30, transactions=300, penalties=10)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.begin() as conn:
            add_publisher(conn, "测试电子卖场", PublisherRole.trading_platform, ["220000"],
                          [RecordKind.transaction])  # fmt: skip
        day = _records_day(engine)
        risky = write_csv(folder / "risky.csv", [transaction(
            "DDRISKY0001", published_at=f"{day}T12:00:00+08:00", **RISKY
        )])  # fmt: skip
        assert ingest_file(engine, risky, "测试电子卖场", kind=RecordKind.transaction).accepted == 1
        manifest = export_day(engine, str(folder / "out"), day)
        yield Dumped(url, engine, day, folder / "out", manifest)
        engine.dispose()


def _day_rows(engine: Engine, entity: str, day: date) -> list[dict]:
    """The entity's public fields for the day, read through SQLAlchemy (decimals as Decimal)."""
    table = table_of(ENTITIES[entity])
    start = datetime.combine(day, datetime.min.time())
    columns = [table.c[f.name] for f in export_fields(entity)]
    query = select(*columns).where(
        table.c.published_at >= start, table.c.published_at < start + timedelta(days=1)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query.order_by(table.c.id))]


def _parquet(dumped: Dumped, path: str) -> pa.Table:
    return pq.read_table(dumped.root / path)


@pytest.mark.parametrize("entity", ["transactions", "penalty_records"])
def test_round_trip_equals_the_database(dumped: Dumped, entity: str) -> None:
    expected = _day_rows(dumped.engine, entity, dumped.day)
    assert expected, "the demo publishes records on the day"
    found = _parquet(dumped, f"parquet/{entity}/date={dumped.day}/{entity}.parquet")
    # The entity's columns, each party id followed by its party's name and credit code.
    assert found.schema.equals(named_schema(entity_schema(entity), entity), check_metadata=True)
    assert found.select(entity_schema(entity).names).to_pylist() == expected
    with dumped.engine.connect() as conn:
        parties = {r.id: (r.name, r.uscc) for r in conn.execute(text("SELECT * FROM parties"))}
    for column in party_id_columns(entity):
        stem = column.removesuffix("_id")
        name = (
            f"{stem}_party_name" if f"{stem}_party_name" in found.column_names else f"{stem}_name"
        )
        for row in found.select([column, name, f"{stem}_uscc"]).to_pylist():
            assert parties[row[column]] == (row[name], row[f"{stem}_uscc"]), (entity, row)
    entry = next(f for f in dumped.manifest.files if f.path.endswith(f"{entity}.parquet"))
    assert entry.rows == len(expected)


def test_money_is_decimal_yuan_and_text_is_chinese(dumped: Dumped) -> None:
    found = _parquet(dumped, f"parquet/transactions/date={dumped.day}/transactions.parquet")
    assert found.schema.field("amount").type == pa.decimal128(18, 2)
    assert found.schema.field("quantity").type == pa.decimal128(18, 3)
    assert found.schema.field("published_at").type == pa.timestamp("us")
    assert found.schema.field("order_date").type == pa.date32()
    meta = found.schema.field("amount").metadata
    assert meta[b"label_zh"].decode() == "成交金额" and b"yuan" in meta[b"description_en"]
    risky = next(r for r in found.to_pylist() if r["order_id"] == "DDRISKY0001")
    assert risky["amount"] == Decimal("9998.00") and risky["quantity"] == Decimal("2.000")
    assert risky["item_name"] == RISKY["item_name"]  # Parquet keeps the value as published


def test_private_fields_never_leave(dumped: Dumped) -> None:
    for entry in dumped.manifest.files:
        if entry.format == "parquet":
            names = pq.read_schema(dumped.root / entry.path).names
            assert not {"payload", "content_hash", "token_hash", "scope_regions"} & set(names)
    assert not (dumped.root / "publishers").exists()


def test_current_state_and_one_format_per_tree(dumped: Dumped) -> None:
    """current/ holds every project changed that day and every party the day's records name,
    once each; no folder under
    parquet/ holds anything but Parquet, nor under csv/ anything but CSV."""
    with dumped.engine.connect() as conn:
        named = set(conn.execute(text(
            "SELECT purchaser_id FROM transactions WHERE published_at < :end UNION "
            "SELECT supplier_id FROM transactions WHERE published_at < :end UNION "
            "SELECT subject_id FROM penalty_records WHERE published_at < :end"
        ), {"end": str(dumped.day + timedelta(days=1))}).scalars())  # fmt: skip
        changed = set(conn.execute(text(  # published, or received late, on the day
            "SELECT project_id FROM notices WHERE (published_at >= :start AND published_at < :end)"
            " OR (received_at >= :start AND received_at < :end)"
        ), {"start": str(dumped.day), "end": str(dumped.day + timedelta(days=1))}).scalars())  # fmt: skip
    parties = _parquet(dumped, "parquet/current/parties.parquet")["id"].to_pylist()
    assert named <= set(parties) and len(parties) == len(set(parties))
    projects = _parquet(dumped, "parquet/current/projects.parquet")["id"].to_pylist()
    assert set(projects) == changed and len(projects) == len(set(projects))
    for fmt in ("parquet", "csv"):
        found = {p.suffix for p in (dumped.root / fmt).rglob("*") if p.is_file()}
        assert found == {f".{fmt}"}, fmt


def test_csv_reads_back_in_pandas_and_duckdb(dumped: Dumped) -> None:
    path = dumped.root / f"csv/transactions/date={dumped.day}/transactions.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf" + b'"id","order_id"')
    expected = _day_rows(dumped.engine, "transactions", dumped.day)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == named_schema(entity_schema("transactions"), "transactions").names
    assert len(frame) == len(expected)
    assert [Decimal(a) for a in frame["amount"]] == [r["amount"] for r in expected]
    assert set(frame["item_name"]) >= {
        r["item_name"] for r in expected if r["order_id"] != "DDRISKY0001"
    }
    [(rows, total, chinese)] = duckdb.sql(
        f"SELECT count(*), sum(amount::DECIMAL(18, 2)), count(*) FILTER (WHERE item_name = '台式计算机') "
        f"FROM read_csv('{path}')"
    ).fetchall()
    assert rows == len(expected)
    assert Decimal(str(total)) == sum(r["amount"] for r in expected)
    assert chinese == sum(r["item_name"] == "台式计算机" for r in expected)


def test_csv_times_are_to_the_second_as_excel_reads_them(dumped: Dumped) -> None:
    """`2024-01-02 13:20:00`, not `…13:20:00.000000` (a text cell in Excel); same instant as
    the Parquet file, and DuckDB still reads the column as a TIMESTAMP."""
    folder = dumped.root / f"csv/transactions/date={dumped.day}"
    frame = pd.read_csv(folder / "transactions.csv", dtype=str, keep_default_na=False)
    parquet = pq.read_table(
        dumped.root / f"parquet/transactions/date={dumped.day}/transactions.parquet"
    )
    times = [f.name for f in entity_schema("transactions") if pa.types.is_timestamp(f.type)]
    assert times
    seen = 0
    for name in times:
        for cell, moment in zip(frame[name], parquet.column(name).to_pylist(), strict=True):
            if moment is None:
                assert cell == ""
                continue
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cell), cell
            assert cell == moment.replace(microsecond=0).isoformat(sep=" "), name
            seen += 1
    assert seen
    described = duckdb.sql(f"DESCRIBE SELECT {times[0]} FROM read_csv('{folder}/transactions.csv')")
    assert described.fetchall()[0][1] == "TIMESTAMP"


def test_duckdb_reads_the_partitions_in_one_line(dumped: Dumped) -> None:
    glob = dumped.root / "parquet" / "transactions" / "*" / "*.parquet"
    [(rows, day)] = duckdb.sql(
        f"SELECT count(*), any_value(date) FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()
    assert rows == len(_day_rows(dumped.engine, "transactions", dumped.day))
    assert str(day) == str(dumped.day)


def test_formulas_are_neutralised_in_csv(dumped: Dumped) -> None:
    path = dumped.root / f"csv/transactions/date={dumped.day}/transactions.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = frame[frame["order_id"] == "DDRISKY0001"].iloc[0]
    for name, value in RISKY.items():
        assert row[name] == "'" + value


def test_negative_numbers_stay_numbers() -> None:
    amounts = pa.array([-500, 12], pa.int64()).cast(pa.decimal128(19, 0)).view(pa.decimal128(18, 2))
    table = pa.table({"amount": amounts, "note": ["-5", "正常\t"], "tab": ["\tx", "\ry"]})
    safe = neutralise_formulas(table).to_pydict()
    assert safe["amount"] == [Decimal("-5.00"), Decimal("0.12")]
    assert safe["note"] == ["'-5", "正常\t"]
    assert safe["tab"] == ["'\tx", "'\ry"]


def test_same_data_gives_the_same_bytes(dumped: Dumped, tmp_path: Path) -> None:
    again = export_day(dumped.engine, str(tmp_path), dumped.day)
    assert again == dumped.manifest
    assert (tmp_path / manifest_path(dumped.day)).read_bytes() == (
        dumped.root / manifest_path(dumped.day)
    ).read_bytes()
    for entry in again.files:
        assert (tmp_path / entry.path).read_bytes() == (dumped.root / entry.path).read_bytes()


def test_catalog_and_manifest_describe_the_files(dumped: Dumped) -> None:
    import hashlib

    catalog = json.loads((dumped.root / "catalog.json").read_text("utf-8"))
    entry = next(e for e in catalog["days"] if e["date"] == dumped.day.isoformat())
    assert entry["manifest"] == manifest_path(dumped.day)
    assert entry["rows"] == dumped.manifest.rows and entry["files"] == len(dumped.manifest.files)
    assert entry["watermark"]["ingestion_id"] >= 1
    # Without a setting the compilation is CC BY 4.0, the publishers' terms respected.
    cc_by = "https://creativecommons.org/licenses/by/4.0/"
    assert catalog["license"] == cc_by and "respected" in catalog["provenance"]
    package = json.loads((dumped.root / "datapackage.json").read_text("utf-8"))
    assert package["licenses"] == [
        {
            "name": "CC-BY-4.0",
            "path": cc_by,
            "title": "Creative Commons Attribution 4.0 International",
        }
    ]
    for file in dumped.manifest.files:
        data = (dumped.root / file.path).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (file.bytes, file.sha256)
    # current/ and history/ are no day's: catalog.json lists them, as of the newest day.
    assert not any("/current/" in f.path or "/history/" in f.path for f in dumped.manifest.files)
    for tree in ("current", "history"):
        assert catalog[tree]["as_of"] == dumped.day.isoformat()
        listed = {f["path"]: f for f in catalog[tree]["files"]}
        assert f"parquet/{tree}/awards.parquet" in listed and f"csv/{tree}/awards.csv" in listed
        for path, file in listed.items():
            data = (dumped.root / path).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (file["bytes"], file["sha256"])
    assert {"parties", "flags", "transparency_scores"} <= {
        f["entity"] for f in catalog["current"]["files"]
    }


def test_frictionless_validates_the_data_package(dumped: Dumped) -> None:
    frictionless = Path(sys.executable).parent / "frictionless"
    done = subprocess.run([str(frictionless), "validate", "datapackage.json"], cwd=dumped.root,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    package = json.loads((dumped.root / "datapackage.json").read_text("utf-8"))
    fields = {f["name"]: f for r in package["resources"] if r["name"] == "transactions"
              for f in r["schema"]["fields"]}  # fmt: skip
    assert fields["amount"]["title"] == "成交金额" and fields["amount"]["type"] == "number"


CRASHING = """
import sys, time
from datetime import date
import exports.flagrows as rows  # where a partition's batches are read
import exports.write as write
from schema.db import make_engine

convert = rows.to_export
def slow(batch, entity):
    if entity == "transactions":
        time.sleep(60)  # the parent kills us here, mid-write
    return convert(batch, entity)
rows.to_export = slow
write.export_day(make_engine(sys.argv[1]), sys.argv[2], date.fromisoformat(sys.argv[3]))
"""


def test_a_crash_mid_export_publishes_nothing_and_the_next_run_finishes(
    dumped: Dumped, tmp_path: Path
) -> None:
    root = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", CRASHING, dumped.url, str(root),
                              dumped.day.isoformat()], cwd=ROOT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list((root / ".staging").glob("*/csv/transactions/*/transactions.csv")):
            assert child.poll() is None and time.monotonic() < deadline, "never got mid-write"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert not (root / manifest_path(dumped.day)).exists()
    assert not (root / "catalog.json").exists()
    assert not (root / "parquet").exists() and not (root / "csv").exists()
    manifest = export_day(dumped.engine, str(root), dumped.day)
    assert manifest == dumped.manifest
    assert list((root / ".staging").iterdir()) == []
    assert (
        json.loads((root / "catalog.json").read_text())["days"][0]["date"] == dumped.day.isoformat()
    )


def test_unpublished_days_are_gaps_catch_up_and_crash_leftovers(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    assert unpublished_days(store, date(2024, 3, 9)) == [date(2024, 3, 9)]
    for day in ("2024-03-03", "2024-03-05"):
        store.write_bytes(manifest_path(day), b"{}")
    (tmp_path / "parquet" / "transactions" / "date=2024-03-01").mkdir(
        parents=True
    )  # files, no manifest
    (tmp_path / "csv" / "changes" / "awards" / "date=2024-03-02").mkdir(parents=True)
    (tmp_path / ".staging" / "2024-02-28-0a1b2c").mkdir(parents=True)
    (tmp_path / ".staging" / "catalog-0a1b2c").mkdir(parents=True)
    assert unpublished_days(store, date(2024, 3, 7)) == [
        date(2024, 2, 28), date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 4),
        date(2024, 3, 6), date(2024, 3, 7),
    ]  # fmt: skip
    assert unpublished_days(store, date(2024, 3, 1)) == [date(2024, 2, 28), date(2024, 3, 1)]


CRASHING_IN_PUBLISH = """
import sys, time
from datetime import date
import exports.storage as storage
import exports.write as write
from schema.db import make_engine

move = storage.Store.move
def slow(self, source, target):
    move(self, source, target)
    if target.startswith("parquet/transactions/"):
        time.sleep(60)  # the old manifest is gone, the new one not yet written: killed here
storage.Store.move = slow
write.export_day(make_engine(sys.argv[1]), sys.argv[2], date.fromisoformat(sys.argv[3]))
"""


def test_a_crash_mid_forced_export_unlists_the_day_and_a_plain_run_repairs_it(
    dumped: Dumped, tmp_path: Path
) -> None:
    """kill -9 while `export --force` rewrites a published day: the catalog stops listing it
    (its manifest is gone), and the daily run (plain `caigou export`'s rule) republishes it."""
    root = tmp_path / "out"
    shutil.copytree(dumped.root, root)
    child = subprocess.Popen([sys.executable, "-c", CRASHING_IN_PUBLISH, dumped.url, str(root),
                              dumped.day.isoformat()], cwd=ROOT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (root / manifest_path(dumped.day)).exists():
            assert child.poll() is None and time.monotonic() < deadline, "never got mid-write"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert not (root / manifest_path(dumped.day)).exists()
    assert json.loads((root / "catalog.json").read_text())["days"] == []
    clock = datetime.combine(dumped.day + timedelta(days=1), datetime.min.time()).replace(hour=2)
    daily = DailyExport(dumped.engine, str(root), datetime.min.time(), now=lambda: clock)
    assert daily() == [dumped.manifest]
    assert list((root / ".staging").iterdir()) == []
    assert [e["date"] for e in json.loads((root / "catalog.json").read_text())["days"]] == [
        dumped.day.isoformat()
    ]


def test_export_range_skips_published_days_unless_forced(dumped: Dumped, tmp_path: Path) -> None:
    first, last = dumped.day - timedelta(days=2), dumped.day
    export_day(dumped.engine, str(tmp_path), first + timedelta(days=1))
    seen: list[tuple[date, bool]] = []
    written = export_range(dumped.engine, str(tmp_path), first, last,
                           progress=lambda d, m: seen.append((d, m is not None)))  # fmt: skip
    assert seen == [(first, True), (first + timedelta(days=1), False), (last, True)]
    assert [m.date for m in written] == [first.isoformat(), last.isoformat()]
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    assert [e["date"] for e in catalog["days"]] == [
        last.isoformat(),
        (first + timedelta(days=1)).isoformat(),
        first.isoformat(),
    ]
    again = export_range(dumped.engine, str(tmp_path), first, last, force=True)
    assert len(again) == 3


def test_cli_exports_a_day_and_refuses_one_not_over(dumped: Dumped, tmp_path: Path) -> None:
    def caigou(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CAIGOU_DATABASE_URL": dumped.url,
               "CAIGOU_EXPORT_ROOT": str(tmp_path), "COLUMNS": "200"}  # fmt: skip
        command = [str(Path(sys.executable).with_name("caigou")), "export", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    done = caigou("--date", "2024-03-04")
    assert done.returncode == 0, done.stderr
    assert re.search(r"2024-03-04: \d+ files", done.stdout), done.stdout
    assert (tmp_path / manifest_path(date(2024, 3, 4))).exists()
    again = caigou("--from", "2024-03-03", "--to", "2024-03-04")
    assert again.returncode == 0 and "2024-03-04: already published" in again.stdout
    assert (tmp_path / manifest_path(date(2024, 3, 3))).exists()
    future = caigou("--date", "2999-01-01")
    assert future.returncode == 2 and "has not begun" in future.stderr
    forced = caigou("--date", "2999-01-01", "--force")  # nothing to publish for it yet
    assert forced.returncode == 2 and not (tmp_path / manifest_path(date(2999, 1, 1))).exists()
    today = caigou("--date", beijing_today().isoformat())
    assert today.returncode == 2 and "--force" in today.stderr


CRASHING_IN_REFRESH = """
import sys, time
from datetime import date
import exports.storage as storage
import exports.write as write
from schema.db import make_engine

move = storage.Store.move
def slow(self, source, target):
    move(self, source, target)
    if target.startswith("parquet/current/"):
        time.sleep(60)  # the day is published, current/ half replaced: killed here
storage.Store.move = slow
write.export_day(make_engine(sys.argv[1]), sys.argv[2], date.fromisoformat(sys.argv[3]))
"""


def test_a_crash_while_current_is_rebuilt_is_repaired_by_the_next_run(
    dumped: Dumped, tmp_path: Path
) -> None:
    """kill -9 between moving current/ files and listing them: the listing no longer matches
    the files, and the next run (here the plain `caigou export` path) rebuilds them."""
    from exports.derived import refresh
    from exports.manifest import DERIVED, read_derived

    root = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", CRASHING_IN_REFRESH, dumped.url, str(root),
                              dumped.day.isoformat()], cwd=ROOT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (root / "parquet" / "current").exists():
            assert child.poll() is None and time.monotonic() < deadline, "never got mid-move"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert (root / manifest_path(dumped.day)).exists() and not (root / DERIVED).exists()
    listed = refresh(dumped.engine, open_store(str(root)))
    expected = read_derived(open_store(str(dumped.root)))
    assert listed == expected and expected is not None
    for entry in expected.files:
        assert (root / entry.path).read_bytes() == (dumped.root / entry.path).read_bytes()
    assert list((root / ".staging").iterdir()) == []


def test_a_record_arriving_after_its_day_was_dumped_goes_out_on_the_day_it_arrives(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """An order published on P but pushed after P's dump was cut is in the files of the day
    it arrived (never lost); a backfill cut after it arrived lists it once, on P."""
    with fresh_database(dialect, request, tmp_path) as url:
        engine = make_engine(url)
        files = generate(tmp_path / "demo", projects=2, transactions=20, penalties=0)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.begin() as conn:
            add_publisher(conn, "测试电子卖场", PublisherRole.trading_platform, ["220000"],
                          [RecordKind.transaction])  # fmt: skip
        day = _records_day_of(engine, "transactions")
        live, backfill = tmp_path / "live", tmp_path / "backfill"
        export_day(engine, str(live), day)  # P is dumped ...
        late = write_csv(tmp_path / "late.csv", [transaction(
            "DDLATE0001", published_at=f"{day}T09:00:00+08:00")])  # fmt: skip
        assert ingest_file(engine, late, "测试电子卖场", kind=RecordKind.transaction).accepted == 1
        with engine.connect() as conn:  # ... then the order arrives, published on P
            received = conn.execute(
                text("SELECT received_at FROM transactions WHERE order_id = 'DDLATE0001'")
            ).scalar()
        arrived = datetime.fromisoformat(str(received)).date()

        def orders(root: Path, on: date) -> list[str]:
            path = root / f"parquet/transactions/date={on}/transactions.parquet"
            return pq.read_table(path)["order_id"].to_pylist() if path.exists() else []

        export_day(engine, str(live), arrived)
        assert "DDLATE0001" not in orders(live, day) and "DDLATE0001" in orders(live, arrived)
        for on in (day, arrived):  # cut after it arrived: on its publish day only
            export_day(engine, str(backfill), on)
        assert "DDLATE0001" in orders(backfill, day)
        assert "DDLATE0001" not in orders(backfill, arrived)
        engine.dispose()


def _records_day_of(engine: Engine, table: str) -> date:
    with engine.connect() as conn:
        value = conn.execute(text(f"SELECT min(published_at) FROM {table}")).scalar()
    return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).date()
