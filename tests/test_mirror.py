"""`caigou mirror pull`: a hub rebuilt from another's change feed alone, over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, Table, func, select

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.publishing import ingest_records
from hub.publishing.publishers import add_publisher
from hub.read.rows import shown
from schema.db import make_engine
from schema.tables import CHANGES, MIRROR_CURSORS, TRANSACTIONS, metadata
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import transaction
from tests.hub_server import running

CAIGOU = str(Path(sys.executable).with_name("caigou"))
MALL = "吉林省政府采购电子卖场"
# The hub's own bookkeeping, not what it publishes; publishers compared by name and role.
NOT_MIRRORED = {"ingestions", "search_outbox", "search_state", "data_version", "mirror_cursors"}
INTERNAL = {"id", "seq", "record_pk", "record_id"}  # surrogate ids: equal content, other ids
EVIDENCE_IDS = {"id", "notice_id", "publisher_id", "party_id", "project_id", "transaction_id"}
SORTED = orjson.OPT_SORT_KEYS


def caigou(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CAIGOU_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.Popen([CAIGOU, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def without_ids(value: Any) -> Any:
    """A flag's evidence without the hub's internal ids (the business keys stay)."""
    if isinstance(value, dict):
        if str(value.get("field", "")).endswith(("_id", "_ids")):  # {"field": …ids, "value": [7]}
            value = {k: v for k, v in value.items() if k != "value"}
        return {k: without_ids(v) for k, v in value.items() if k not in EVIDENCE_IDS}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every published table as sorted rows of its public columns, each internal id
    replaced by the content of the row it points at (so two hubs' ids need not agree)."""
    rows: dict[str, dict[Any, dict[str, Any]]] = {}
    tables = [t for t in metadata.sorted_tables if t.name not in NOT_MIRRORED]
    with engine.connect() as conn:
        for table in tables:
            columns = shown(table)
            if "id" in table.c and table.c.id not in columns:
                columns.append(table.c.id)
            found = conn.execute(select(*columns))
            rows[table.name] = {
                (r._mapping["id"] if "id" in table.c else i): dict(r._mapping)
                for i, r in enumerate(found)
            }
    memo: dict[tuple[str, Any], str] = {}

    def content(table: Table, pk: Any) -> str:
        if (table.name, pk) in memo:
            return memo[(table.name, pk)]
        row = rows[table.name][pk]
        if table.name == "publishers":
            return f"{row['name']}/{row['role']}"
        links = {fk.parent.name: fk.column.table for fk in table.foreign_keys}
        values = []
        for name, value in sorted(row.items()):
            if name in INTERNAL:
                continue
            if name in links and value is not None:
                value = content(links[name], value)
            if table.name == "flags" and name == "detected_at":
                continue  # each hub's own check: when it ran, not what it found
            if name == "evidence" and value:  # internal ids inside, by their own content
                value = orjson.dumps(without_ids(orjson.loads(value)), option=SORTED)
            if name == "notice_ids" and value:  # a flag's notices, by (ocid, release id)
                value = sorted(content(metadata.tables["notices"], int(v))
                               for v in str(value).strip("[]").split(",") if v.strip())  # fmt: skip
            values.append(f"{name}={value!r}")
        memo[(table.name, pk)] = "; ".join(values)
        return memo[(table.name, pk)]

    return {t.name: sorted(content(t, pk) for pk in rows[t.name]) for t in tables}


DEMO_TABLES = ("notices", "transactions", "penalty_records", "projects", "parties", "awards",
               "contracts", "changes", "notice_sources", "flags")  # fmt: skip


def assert_same(
    source: dict[str, list[str]],
    mirror: dict[str, list[str]],
    required: tuple[str, ...] = DEMO_TABLES,
) -> None:
    for table in required:
        assert source[table], f"the demo has no {table}: the comparison would prove nothing"
    for table, rows in source.items():
        missing = sorted(set(rows) - set(mirror[table]))[:2]
        extra = sorted(set(mirror[table]) - set(rows))[:2]
        assert rows == mirror[table], f"{table}: missing {missing}, extra {extra}"


@pytest.fixture
def demo_hub(engine: Engine, database_url: str, tmp_path: Path) -> Any:
    files = generate(tmp_path / "demo", projects=16, transactions=600, penalties=12)
    outcomes = [result for _batch, result in load_demo(engine, files)]
    assert all(r.rejected == 0 for r in outcomes)
    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    with running(app) as base:
        yield base


def test_a_mirror_built_only_from_changes_equals_its_source(
    demo_hub: str, engine: Engine, dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    (tmp_path / "mirror").mkdir()
    with fresh_database(dialect, request, tmp_path / "mirror") as url:
        pulled = caigou(url, "mirror", "pull", demo_hub)
        out, err = pulled.communicate(timeout=600)
        assert pulled.returncode == 0, err
        assert "records stored" in out
        mirror = make_engine(url)
        assert_same(snapshot(engine), snapshot(mirror))
        # Pulling again finds nothing new and stores nothing twice.
        again = caigou(url, "mirror", "pull", demo_hub + "/")
        out, err = again.communicate(timeout=600)
        assert again.returncode == 0, err
        assert out.startswith("0 records stored"), out
        assert_same(snapshot(engine), snapshot(mirror))
        mirror.dispose()


def test_a_pull_killed_mid_way_resumes_and_stores_nothing_twice(
    demo_hub: str, engine: Engine, dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    (tmp_path / "mirror").mkdir()
    with fresh_database(dialect, request, tmp_path / "mirror") as url:
        mirror = make_engine(url)
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(CHANGES)).scalar_one()
        pulling = caigou(url, "mirror", "pull", demo_hub, "--limit", "7")
        deadline = time.monotonic() + 300
        moved = 0
        while moved < total // 3:  # killed a third of the way, wherever it stands
            assert pulling.poll() is None, pulling.communicate()
            assert time.monotonic() < deadline, "the pull did not move"
            time.sleep(0.05)
            try:
                with mirror.connect() as conn:
                    moved = conn.execute(select(func.count()).select_from(CHANGES)).scalar_one()
            except Exception:  # the schema is still being made
                moved = 0
        pulling.send_signal(signal.SIGKILL)
        pulling.communicate(timeout=60)
        with mirror.connect() as conn:
            assert conn.execute(select(func.count()).select_from(MIRROR_CURSORS)).scalar_one()
            assert conn.execute(select(func.count()).select_from(CHANGES)).scalar_one() < total
        resumed = caigou(url, "mirror", "pull", demo_hub)
        _out, err = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, err
        assert_same(snapshot(engine), snapshot(mirror))
        mirror.dispose()


@pytest.fixture
def small_hub(engine: Engine, database_url: str, add: Any, tmp_path: Path) -> Any:
    """A hub holding one e-mall order, served."""
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    assert ingest_records(engine, MALL, RecordKind.transaction, [transaction("DD1")]).accepted
    with running(create_app(Settings(database_url, str(tmp_path / "exports"), None))) as base:
        yield base


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_follow_stores_what_the_source_accepts_later(
    small_hub: str, engine: Engine, dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    (tmp_path / "mirror").mkdir()
    with fresh_database(dialect, request, tmp_path / "mirror") as url:
        mirror = make_engine(url)
        following = caigou(url, "mirror", "pull", small_hub, "--follow", "--interval", "0.2")
        try:
            deadline = time.monotonic() + 120
            while _count(mirror, TRANSACTIONS) < 1:
                assert following.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
            later = [transaction("DD2"), transaction("DD3")]
            assert ingest_records(engine, MALL, RecordKind.transaction, later).accepted == 2
            while _count(mirror, TRANSACTIONS) < 3:
                assert following.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            following.send_signal(signal.SIGINT)
            following.communicate(timeout=60)
        assert_same(snapshot(engine), snapshot(mirror), required=("transactions", "changes"))
        mirror.dispose()


def test_a_record_the_mirror_refuses_stops_the_pull_named(
    small_hub: str, dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A local account of the same name that may not publish there: refused, not skipped."""
    (tmp_path / "mirror").mkdir()
    with fresh_database(dialect, request, tmp_path / "mirror") as url:
        mirror = make_engine(url)
        with mirror.begin() as conn:
            add_publisher(conn, MALL, PublisherRole.trading_platform, ["110000"],
                          [RecordKind.transaction])  # fmt: skip
        pulled = caigou(url, "mirror", "pull", small_hub)
        _out, err = pulled.communicate(timeout=300)
        assert pulled.returncode == 1
        assert "record DD1, field region_code" in " ".join(err.split()), err
        assert _count(mirror, TRANSACTIONS) == 0
        assert _count(mirror, MIRROR_CURSORS) == 0  # the next pull starts at that record again
        mirror.dispose()
