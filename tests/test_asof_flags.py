"""Flags in the dumps as of each day: a backfill dates each finding on the day it first stood.

The demo is ingested at once (every flag stored today), then a stretch of its old days is
exported day by day with the hub's as-of flags (hub.flags.asof.FlagDays), as `caigou export
--from … --to …` does. Proved against the rules themselves run on every project as of each
day, against a second database fed only the releases published by a month end, and against
a day exported alone (a live export), byte for byte.
"""

from __future__ import annotations

import calendar
import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from exports.asof import project_states
from exports.flagrows import key_text
from exports.partitions import data_path
from exports.schedule import days_between, export_days
from exports.source import Source, open_source
from exports.write import export_day
from hub.demo import generate
from hub.demo.load import load_demo
from hub.flags.asof import FlagDays, flags_as_of
from hub.flags.engine import flags_for_projects
from hub.flags.stages import CONTRACT_DAYS
from hub.publishing import ingest_file
from schema.db import make_engine
from schema.types import RecordKind
from tests.conftest import fresh_database
from tests.test_asof import Demo, _ingest_published_by


@dataclass
class Backfill:
    demo: Demo
    root: Path
    days: list[date]
    award_day: date  # the day the planted award's contract window passed
    month_end: date


def _ingest_penalties_published_by(demo: Demo, day: date, engine: Engine) -> None:
    """The penalty records (debarments among them) published by the end of `day`."""
    for batch in demo.files.batches:
        if batch.kind != "penalty":
            continue
        with batch.path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            rows = [r for r in reader if datetime.fromisoformat(r["published_at"]).date() <= day]
            columns = reader.fieldnames or []
        if not rows:
            continue
        path = demo.folder / f"upto-{day}-{batch.path.name}"
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.DictWriter(out, columns)
            writer.writeheader()
            writer.writerows(rows)
        result = ingest_file(engine, path, batch.publisher, kind=RecordKind.penalty)
        assert result.status == "accepted" and result.rejected == 0, result.refusals[:3]


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@pytest.fixture(scope="module")
def backfill(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backfill]:
    folder = tmp_path_factory.mktemp(f"asof-flags-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        engine = make_engine(url)
        files = generate(folder / "demo", projects=16, transactions=20, penalties=4)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.connect() as conn:
            evidence = conn.execute(text(
                "SELECT evidence FROM flags WHERE code = 'AWARD_WITHOUT_CONTRACT' ORDER BY id"
            )).scalars().first()  # fmt: skip
        assert evidence, "the demo plants an award without a contract"
        since = next(f["value"] for f in json.loads(evidence)["fields"] if f["field"] != "today")
        award_day = datetime.fromisoformat(since).date() + timedelta(days=CONTRACT_DAYS + 1)
        month_end = _month_end(award_day + timedelta(days=2))
        days = days_between(award_day - timedelta(days=12), month_end)
        root = folder / "out"
        export_days(engine, str(root), days, flags=FlagDays())
        yield Backfill(Demo(engine, files, folder, []), root, days, award_day, month_end)
        engine.dispose()


def _rows(root: Path, folder: str, day: date) -> list[dict]:
    path = root / data_path("parquet", folder, "flags", day)
    return pq.read_table(path).to_pylist() if path.exists() else []


def _keys(flags: list) -> Counter[str]:
    return Counter(
        key_text(f.code, f.project_id, f.transaction_id, f.party_id, f.notice_ids, f.evidence)
        for f in flags
    )


def _standing(source: Source, day: date) -> Counter[str]:
    """Every project's findings at the end of `day`: the rules on all projects, no shortcut."""
    ids = [int(r[0]) for r in source.rows("SELECT id FROM projects")]
    return _keys(flags_as_of(source, project_states(source, ids, day), day))


def test_each_flag_lands_on_the_day_its_finding_first_stood(backfill: Backfill) -> None:
    found_on: dict[str, date] = {}
    keys: list[str] = []
    with open_source(backfill.demo.engine) as source:
        stored = {r[0] for r in source.rows("SELECT detected_at FROM flags")}
        before = _standing(source, backfill.days[0] - timedelta(days=1))
        for day in backfill.days:
            now = _standing(source, day)
            rows = _rows(backfill.root, "flags", day)
            written = Counter(r["flag_key"].split("#")[0] for r in rows)
            assert written == now - before, day
            assert all(r["detected_at"].date() == day for r in rows), day
            found_on |= {r["flag_key"]: day for r in rows if r["code"] == "AWARD_WITHOUT_CONTRACT"}
            keys += [r["flag_key"] for r in rows]
            before = now
    # datapackage.json declares flag_key the key of every daily file together.
    assert [k for k, n in Counter(keys).items() if n > 1] == []
    assert sum(len(_rows(backfill.root, "flags", d)) for d in backfill.days) >= 2
    # Stored today, years after: never the day a backfill wrote them on.
    assert not {str(s)[:10] for s in stored} & {d.isoformat() for d in backfill.days}
    assert backfill.award_day in found_on.values(), "on the day the contract window passed"


def test_a_month_end_snapshot_holds_the_findings_that_stood_then(
    backfill: Backfill, dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    day = backfill.month_end
    rows = _rows(backfill.root, "snapshots/flags", day)
    with open_source(backfill.demo.engine) as source:
        ocids = dict(source.rows("SELECT id, ocid FROM projects"))
        assert Counter(r["flag_key"].split("#")[0] for r in rows) == _standing(source, day)
    dumped = sorted((ocids[r["project_id"]], r["code"], r["severity"]) for r in rows)
    with fresh_database(dialect, request, tmp_path) as url:
        engine = make_engine(url)
        _ingest_published_by(backfill.demo, day, engine)
        _ingest_penalties_published_by(backfill.demo, day, engine)
        with engine.connect() as conn:
            past = {r.id: r.ocid for r in conn.execute(text("SELECT id, ocid FROM projects"))}
            expected = flags_for_projects(conn, list(past), today=day)
        engine.dispose()
    assert dumped, "findings stood then"
    assert dumped == sorted((past[f.project_id], f.code, f.severity) for f in expected)


def test_a_day_exported_alone_gives_the_backfills_flag_files_byte_for_byte(
    backfill: Backfill, tmp_path: Path
) -> None:
    compared = 0
    for day in (backfill.award_day, backfill.month_end, backfill.days[3]):
        alone = tmp_path / day.isoformat()
        export_day(backfill.demo.engine, str(alone), day, flags=FlagDays())
        for fmt in ("parquet", "csv"):
            for folder in ("flags", "snapshots/flags"):
                path = data_path(fmt, folder, "flags", day)
                if (backfill.root / path).exists() or (alone / path).exists():
                    assert (alone / path).read_bytes() == (backfill.root / path).read_bytes()
                    compared += 1
    assert compared >= 8


def test_a_snapshots_scores_count_the_flags_that_stood_then(backfill: Backfill) -> None:
    """Consistency (projects without a serious flag) counts the snapshot's own flags, not the
    stored ones, which a backfill finds only on the day it runs."""
    day = backfill.month_end
    flagged = {r["project_id"] for r in _rows(backfill.root, "snapshots/flags", day)
               if r["severity"] in ("high", "medium") and r["transaction_id"] is None}  # fmt: skip
    path = backfill.root / data_path("parquet", "snapshots/transparency_scores",
                                     "transparency_scores", day)  # fmt: skip
    scores = [r for r in pq.read_table(path).to_pylist() if r["group_by"] == "region"]
    assert flagged, "serious findings stood then"
    assert sum(r["flagged_projects"] for r in scores) == len(flagged)
