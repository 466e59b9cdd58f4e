"""The dumps read as a researcher reads them: folder readers, README's DuckDB queries verbatim,
/downloads/'s snippets, totals against the database, a day rebuilt from snapshot + changes,
and backfills in any order giving the same bytes."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from exports.asof import project_states
from exports.schedule import days_between, export_days
from exports.source import open_source
from exports.tablefiles import naming, prepare
from exports.versions import as_of, projects_published_by
from hub.demo import generate
from hub.demo.load import load_demo
from hub.downloads import snippets
from schema.db import make_engine
from tests.conftest import fresh_database

README = Path(__file__).resolve().parents[1] / "README.md"
PAST = date(2024, 6, 30)  # the README's "state on" day
REBUILT = date(2024, 4, 15)  # the README's rebuilt day (snapshot of 2024-03-31 + changes)
BACKFILL_FROM = date(2024, 2, 20)  # the backfill's first day: Feb 29 and Mar 31 within


def readme_queries() -> dict[str, str]:
    """The SQL blocks of README's Open data section, by the sentence that introduces them."""
    section = README.read_text("utf-8").split("## Open data", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"\n([^\n]+):\n\n```sql\n(.+?)\n```", section, flags=re.S)
    return {intro.strip(): sql for intro, sql in found}


def query(name: str) -> str:
    [sql] = [sql for intro, sql in readme_queries().items() if name in intro]
    return sql


@dataclass
class Exported:
    engine: Engine
    root: Path
    days: list[date]
    folder: Path


def _dates(engine: Engine, sql: str) -> list[date]:
    with engine.connect() as conn:
        return [
            (v if isinstance(v, datetime) else datetime.fromisoformat(str(v))).date()
            for v in conn.execute(text(sql)).scalars()
        ]


@pytest.fixture(scope="module")
def exported(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exported]:
    """The demo, exported on every day a notice or record was published, every month end
    between, and a stretch of quiet days (straight, oldest first)."""
    folder = tmp_path_factory.mktemp(f"readers-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=8, transactions=200, penalties=5)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        busy = _dates(engine, "SELECT published_at FROM notices UNION SELECT published_at "
                      "FROM transactions UNION SELECT published_at FROM penalty_records")  # fmt: skip
        notices = _dates(engine, "SELECT published_at FROM notices")
        month_ends = [d for d in days_between(min(notices), max(notices))
                      if (d + timedelta(days=1)).day == 1]  # fmt: skip
        stretch = days_between(date(2024, 3, 28), date(2024, 4, 16))  # quiet days among them
        days = sorted(set(busy) | set(month_ends) | set(stretch) | {PAST})
        root = folder / "out"
        export_days(engine, str(root), days)
        yield Exported(engine, root, days, folder)
        engine.dispose()


def _arrow(sql: str) -> pa.Table:
    found = duckdb.sql(sql).arrow()
    return found.read_all() if isinstance(found, pa.RecordBatchReader) else found


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_folder_readers_read_every_transaction(exported: Exported) -> None:
    expected = _count(exported.engine, "SELECT count(*) FROM transactions")
    assert expected
    folder = exported.root / "parquet" / "transactions"
    table = ds.dataset(folder, partitioning="hive").to_table()
    assert table.num_rows == expected and "date" in table.column_names
    assert len(pd.read_parquet(folder)) == expected
    csv = ds.dataset(exported.root / "csv" / "transactions", format="csv", partitioning="hive")
    assert csv.count_rows() == expected


def test_current_awards_add_up_to_the_database(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(exported.root)
    [(count, total)] = duckdb.sql(query("Current awards")).fetchall()
    with exported.engine.connect() as conn:
        [(rows, fen)] = conn.execute(text("SELECT count(*), sum(amount) FROM awards")).fetchall()
    assert count == rows and count > 0
    assert Decimal(str(total)) == Decimal(fen).scaleb(-2)  # stored in fen
    projects = pq.read_table("parquet/history/projects.parquet")
    current = pq.read_table("parquet/current/projects.parquet")
    assert projects.num_rows > current.num_rows  # earlier versions are there, not counted


def test_no_award_or_contract_is_dumped_on_a_day_before_it_happened(exported: Exported) -> None:
    """Each day's change rows are that day's state: an award decided, a contract signed, only
    from that day on, even in this backfill (everything was loaded before it ran)."""
    for entity, column in (("awards", "decision_date"), ("contracts", "date_signed")):
        table = ds.dataset(exported.root / "parquet" / "changes" / entity,
                           partitioning="hive").to_table()  # fmt: skip
        assert table.num_rows
        for row in table.select(["valid_from", column]).to_pylist():
            if row[column] is not None:
                assert row[column].date() <= row["valid_from"], (entity, row)


def _rows(table: pa.Table, drop: tuple[str, ...] = ("valid_from", "valid_to", "date")) -> list:
    keep = [n for n in table.column_names if n not in drop]
    return sorted(table.select(keep).to_pylist(), key=repr)


def test_a_past_day_from_history_is_that_days_compiled_state(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's "state on 2024-06-30" query equals the as-of rows of every project published
    by then, computed from the notices published up to it (exports.asof)."""
    monkeypatch.chdir(exported.root)
    found = _arrow(query("2024-06-30"))
    with open_source(exported.engine) as source, naming(source):
        projects = projects_published_by(source, PAST)
        expected = prepare(project_states(source, projects, PAST)["awards"], "awards")
    assert projects and found.num_rows == expected.num_rows > 0
    assert _rows(found) == _rows(expected)


def test_a_day_rebuilt_from_the_snapshot_and_changes_equals_the_history(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(exported.root)
    rebuilt = _arrow(query("on 2024-04-15"))
    history = pq.read_table("parquet/history/awards.parquet")
    assert rebuilt.num_rows > 0
    assert _rows(rebuilt) == _rows(as_of(history, REBUILT))
    # Every compiled entity, on every exported day of the stretch, the same way in Python.
    for entity in ("projects", "lots", "contracts", "contract_suppliers"):
        key = "id" if entity == "projects" else "project_id"
        history = pq.read_table(f"parquet/history/{entity}.parquet")
        snapshot = pq.read_table(f"parquet/snapshots/{entity}/date=2024-03-31/{entity}.parquet")
        for day in days_between(date(2024, 4, 1), REBUILT):
            rows: dict[int, list[dict]] = {r[key]: [] for r in snapshot.to_pylist()}
            for r in snapshot.to_pylist():
                rows[r[key]].append(r)
            for changed_day in days_between(date(2024, 4, 1), day):
                path = Path(f"parquet/changes/{entity}/date={changed_day}/{entity}.parquet")
                projects = Path(f"parquet/changes/projects/date={changed_day}/projects.parquet")
                if not projects.exists():
                    continue
                for project in pq.read_table(projects)["id"].to_pylist():
                    rows[project] = []
                for r in pq.read_table(path).to_pylist():
                    rows[r[key]].append(r)
            flat = pa.Table.from_pylist([r for rs in rows.values() for r in rs])
            assert _rows(flat) == _rows(as_of(history, day)), (entity, day)


def test_readme_month_of_transactions_returns_that_months_rows(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Needs the demo's transactions published over the year (another branch of issue 15)."""
    monkeypatch.chdir(exported.root)
    rows = duckdb.sql(query("A month of transactions")).fetchall()
    assert rows, "no transaction published in March 2024"


def test_downloads_snippets_run(exported: Exported, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(exported.root)
    expected = _count(exported.engine, "SELECT count(*) FROM transactions")
    shown = snippets()
    for statement in shown["DuckDB"].split(";"):
        if statement.strip():
            assert duckdb.sql(statement).fetchall()[0][0] > 0, statement
    for tool in ("pyarrow", "pandas"):
        scope: dict[str, object] = {}
        exec(shown[tool], scope)  # the page's own snippet, as a reader pastes it
        assert len(scope["transactions"]) == expected, tool  # type: ignore[arg-type]
        assert len(scope["awards"]) > 0, tool  # type: ignore[arg-type]


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".staging" not in p.parts
    }


def test_out_of_order_backfill_and_forced_reexport_give_the_same_files(exported: Exported) -> None:
    # Six weeks up to REBUILT: two month ends, busy and quiet days, history; every day of
    # the demo, three times over, was a minute on PostgreSQL and told nothing more.
    days = [d for d in exported.days if BACKFILL_FROM <= d <= REBUILT]
    assert len(days) >= 30
    straight, shuffled = exported.folder / "straight", exported.folder / "shuffled"
    export_days(exported.engine, str(straight), days)
    mixed = days[:]
    random.Random(15).shuffle(mixed)
    for day in mixed:  # one day at a time, as a backfill run day by day would
        export_days(exported.engine, str(shuffled), [day])
    expected = _files(straight)
    assert any(p.startswith("parquet/history/") for p in expected)
    assert _files(shuffled) == expected
    export_days(exported.engine, str(shuffled), [days[len(days) // 3]], force=True)
    assert _files(shuffled) == expected


def test_a_month_end_snapshot_holds_exactly_the_parties_named_by_then(exported: Exported) -> None:
    """No supplier of an award decided later sits in an earlier snapshot of parties: the
    parties are those the snapshot's own rows and the records published by then name."""
    root = exported.root / "parquet"
    [first, *_] = sorted(p.name for p in (root / "snapshots" / "parties").iterdir())
    day = date.fromisoformat(first.removeprefix("date="))
    named: set[int] = set()
    for folder in (root / "snapshots").iterdir():
        if folder.name == "parties":
            continue
        table = pq.read_table(folder / first / f"{folder.name}.parquet")
        for column in ("purchaser_id", "agency_id", "supplier_id", "party_id"):
            if column in table.column_names:
                named |= set(table[column].drop_null().to_pylist())
    end = f"'{day + timedelta(days=1)}'"
    with exported.engine.connect() as conn:
        named |= set(conn.execute(text(
            f"SELECT purchaser_id FROM transactions WHERE published_at < {end} UNION "
            f"SELECT supplier_id FROM transactions WHERE published_at < {end} UNION "
            f"SELECT subject_id FROM penalty_records WHERE published_at < {end}"
        )).scalars())  # fmt: skip
        everyone = conn.execute(text("SELECT count(*) FROM parties")).scalar_one()
    parties = set(pq.read_table(root / "snapshots/parties" / first / "parties.parquet")["id"]
                  .to_pylist())  # fmt: skip
    assert parties == named and len(parties) < everyone
