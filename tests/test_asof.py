"""A past day's compiled state in the dumps is what that day's notices said, nothing later.

`exports.asof.project_states` computes every compiled entity from the notices published up
to a day. Proved against the database itself: as of today it equals the compiled tables; as
of a past day it equals the tables of a second database into which only the releases
published by then were ingested through the real pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, text

from exports.arrow import column_list, entity_schema, export_fields, to_export
from exports.asof import COMPILED_ENTITIES, KEYS, changed_projects, project_states
from exports.source import Source, open_source
from hub.demo import generate
from hub.demo.generate import DemoFiles
from hub.demo.load import ensure_publishers, load_demo
from hub.flags.asof import flags_as_of
from hub.flags.engine import flags_for_projects
from hub.publishing import ingest_file
from schema.catalogue import exported_fields, public_fields
from schema.compiled import STATUS_OF
from schema.db import make_engine
from schema.types import NoticeType, RecordKind
from tests.conftest import fresh_database

PARTY_COLUMNS = {"purchaser_id", "agency_id", "supplier_id", "party_id"}


@dataclass
class Demo:
    engine: Engine
    files: DemoFiles
    folder: Path
    days: list[date]  # the Beijing days notices were published on


@pytest.fixture(scope="module")
def demo(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp(f"asof-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=16, transactions=20, penalties=4)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with open_source(engine) as source:
            days = [_day(row[0]) for row in source.rows(
                "SELECT DISTINCT published_at FROM notices ORDER BY published_at")]  # fmt: skip
        yield Demo(engine, files, folder, sorted(set(days)))
        engine.dispose()


def _day(value: Any) -> date:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.date()


def _compiled_tables(source: Source) -> dict[str, pa.Table]:
    """Today's compiled tables, read as the dumps read them (exported columns)."""
    tables = {}
    for entity in COMPILED_ENTITIES:
        sql = f"SELECT {column_list(entity)} FROM {entity}"
        batches = [to_export(b, entity) for b in source.batches(sql, entity)]
        table = pa.Table.from_batches(batches, schema=entity_schema(entity))
        tables[entity] = table.sort_by([(k, "ascending") for k in KEYS[entity]])
    return tables


def _all_projects(source: Source) -> list[int]:
    return [int(r[0]) for r in source.rows("SELECT id FROM projects")]


def test_as_of_after_the_last_notice_equals_the_compiled_tables(demo: Demo) -> None:
    with open_source(demo.engine) as source:
        expected = _compiled_tables(source)
        found = project_states(source, _all_projects(source), demo.days[-1] + timedelta(days=1))
    for entity in COMPILED_ENTITIES:
        assert found[entity].schema.equals(entity_schema(entity), check_metadata=True)
        assert expected[entity].num_rows, f"the demo compiles {entity}"
        assert found[entity].to_pylist() == expected[entity].to_pylist(), entity


def _ingest_published_by(demo: Demo, day: date, engine: Engine) -> None:
    """Only the releases published by the end of `day`, through the real pipeline."""
    ensure_publishers(engine, demo.files.publishers)
    for batch in demo.files.batches:
        if batch.kind != "notice":
            continue
        package = json.loads(batch.path.read_text("utf-8"))
        package["releases"] = [
            r for r in package["releases"] if datetime.fromisoformat(r["date"]).date() <= day
        ]
        if not package["releases"]:
            continue
        path = demo.folder / f"upto-{day}-{batch.path.name}"
        path.write_text(json.dumps(package, ensure_ascii=False), "utf-8")
        result = ingest_file(engine, path, batch.publisher, kind=RecordKind.notice)
        assert result.status == "accepted" and result.rejected == 0, result.refusals[:3]


def _readable(source: Source, tables: dict[str, pa.Table]) -> dict[str, list[dict]]:
    """Rows with database-local ids (projects, parties, notices) replaced by what they name,
    so two databases compare: ocid, the party's normalised name, the release id."""
    ocids = dict(source.rows("SELECT id, ocid FROM projects"))
    parties = dict(source.rows("SELECT id, name_normalised FROM parties"))
    releases = dict(source.rows("SELECT id, release_id FROM notices"))
    readable: dict[str, list[dict]] = {}
    for entity, table in tables.items():
        rows = []
        for row in table.to_pylist():
            row["project_id" if entity != "projects" else "id"] = ocids[
                row.get("project_id", row.get("id"))
            ]
            for column in PARTY_COLUMNS & row.keys():
                row[column] = parties.get(row[column])
            if "notice_id" in row:
                row["notice_id"] = releases[row["notice_id"]]
            rows.append(row)
        readable[entity] = sorted(rows, key=lambda r: json.dumps(r, default=str, sort_keys=True))
    return readable


@pytest.mark.parametrize("share", [0.25, 0.5, 0.8])
def test_as_of_a_past_day_equals_a_database_given_only_that_days_notices(
    demo: Demo, share: float, dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    day = demo.days[int(len(demo.days) * share)]
    with open_source(demo.engine) as source:
        found = _readable(source, project_states(source, _all_projects(source), day))
    with fresh_database(dialect, request, tmp_path) as url:
        engine = make_engine(url)
        _ingest_published_by(demo, day, engine)
        with open_source(engine) as source:
            expected = _readable(source, _compiled_tables(source))
        engine.dispose()
    assert found["projects"], "projects had notices by then"
    for entity in COMPILED_ENTITIES:
        assert found[entity] == expected[entity], entity


def test_nothing_decided_or_signed_after_the_day_and_status_as_published(demo: Demo) -> None:
    changed_status = 0
    with open_source(demo.engine) as source:
        ids = _all_projects(source)
        today = project_states(source, ids, demo.days[-1])
        notices = source.rows(
            "SELECT project_id, notice_type, published_at FROM notices "
            "ORDER BY project_id, published_at, id"
        )
        for day in demo.days[:: max(1, len(demo.days) // 8)]:
            states = project_states(source, ids, day)
            end = datetime.combine(day + timedelta(days=1), datetime.min.time())
            decided = [a["decision_date"] for a in states["awards"].to_pylist()]
            assert all(d is None or d < end for d in decided), day
            signed = [c["date_signed"] for c in states["contracts"].to_pylist()]
            assert all(s is None or s < end for s in signed), day
            said: dict[int, str] = {}
            for project_id, notice_type, published_at in notices:
                if _moment(published_at) < end:
                    status = STATUS_OF.get(NoticeType(notice_type))
                    said[project_id] = status.value if status else said.get(project_id, "planning")
            statuses = {p["id"]: p["status"] for p in states["projects"].to_pylist()}
            assert statuses == said, day
            now = {p["id"]: p["status"] for p in today["projects"].to_pylist()}
            changed_status += sum(statuses[p] != now[p] for p in statuses)
    assert changed_status, "some project's status on an earlier day differs from today's"


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def test_changed_projects_are_those_with_a_notice_published_or_arrived_that_day(
    demo: Demo,
) -> None:
    with open_source(demo.engine) as source:
        rows = source.rows("SELECT project_id, published_at, received_at FROM notices")
        # The demo is received today, years after it was published: today every project of
        # an earlier publish day changes (its late notices reach the dumps).
        arrived = sorted({_moment(received).date() for _, _, received in rows})
        for day in demo.days[:3] + demo.days[-2:] + arrived:
            expected = sorted({
                int(p) for p, published, received in rows
                if _moment(published).date() == day
                or (_moment(received).date() == day and _moment(published).date() < day)
            })  # fmt: skip
            assert changed_projects(source, day) == expected
            assert expected


def test_compiled_dumps_carry_natural_keys_not_database_ids() -> None:
    """A past version has no surrogate id: the dumps key rows by project and natural ids,
    while the API keeps reading every public field."""
    for entity in COMPILED_ENTITIES:
        names = [f.name for f in export_fields(entity)]
        assert set(KEYS[entity]) <= set(names), entity
        assert not {"award_pk", "contract_pk"} & set(names), entity
        if entity != "projects":
            assert "id" not in names and names[0] == "project_id", entity
        for spec in exported_fields(entity):
            assert any("\u4e00" <= ch <= "\u9fff" for ch in spec.label), (entity, spec.name)
    assert [f.name for f in export_fields("award_suppliers")] == [
        "project_id",
        "award_id",
        "party_id",
    ]
    assert "id" in {f.name for f in public_fields("awards")}  # GraphQL reads it still


def _flag_rows(flags: list, ocids: dict[int, str]) -> list[tuple]:
    return sorted((ocids[f.project_id], f.code, f.severity) for f in flags)


def test_flags_as_of_today_are_the_engines_and_of_a_past_day_that_days(
    demo: Demo, dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Stretch of issue 15: the rules on the as-of state, with today = the day."""
    with open_source(demo.engine) as source:
        # After every notice and penalty record (the demo's penalties are published when
        # they are received: today), so the engine's facts and the as-of facts are the same.
        known = source.rows("SELECT max(published_at) FROM penalty_records")[0][0]
        last = max(demo.days[-1], _moment(known).date()) + timedelta(days=1)
        ids = _all_projects(source)
        ocids = dict(source.rows("SELECT id, ocid FROM projects"))
        now = flags_as_of(source, project_states(source, ids, last), last)
        day = demo.days[len(demo.days) // 2]
        then = flags_as_of(source, project_states(source, ids, day), day)
    with demo.engine.connect() as conn:
        engine_flags = flags_for_projects(conn, ids, today=last)
    fields = ("code", "severity", "project_id", "party_id", "notice_ids", "message", "evidence")
    assert sorted(tuple(getattr(f, k) for k in fields) for f in now) == sorted(
        tuple(getattr(f, k) for k in fields) for f in engine_flags
    )
    assert now, "the demo plants findings"
    with fresh_database(dialect, request, tmp_path) as url:
        engine = make_engine(url)
        _ingest_published_by(demo, day, engine)
        with engine.connect() as conn:
            past_ids = list(conn.execute(text("SELECT id FROM projects")).scalars())
            past_ocids: dict[int, str] = {
                r.id: r.ocid for r in conn.execute(text("SELECT id, ocid FROM projects"))
            }
            expected = flags_for_projects(conn, past_ids, today=day)
        engine.dispose()
    assert _flag_rows(then, ocids) == _flag_rows(expected, past_ocids)
    assert _flag_rows(then, ocids) != _flag_rows(now, ocids)
