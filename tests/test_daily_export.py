"""The indexer's daily export: publishes yesterday at the set time and catches up after downtime."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from exports.manifest import manifest_path, published_days
from exports.schedule import DailyExport
from exports.storage import open_store
from hub.demo import generate
from hub.demo.load import load_demo
from indexer.embedded import EmbeddedBackend
from indexer.worker import run
from schema.db import make_engine
from tests.conftest import fresh_database


def test_yesterday_at_the_set_time_then_every_missed_day(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with fresh_database("sqlite", request, tmp_path) as url:
        engine = make_engine(url)
        files = generate(tmp_path / "demo", projects=10, transactions=100, penalties=5)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.connect() as conn:
            latest = conn.execute(text("SELECT max(published_at) FROM transactions")).scalar()
        day = datetime.fromisoformat(str(latest)).date()
        root = str(tmp_path / "out")
        clock = [datetime.combine(day + timedelta(days=1), time(0, 30))]
        daily = DailyExport(engine, root, time(1, 0), now=lambda: clock[0])
        store = open_store(root)

        assert [m.date for m in daily()] == [str(day - timedelta(days=1))]  # before 01:00
        clock[0] = clock[0].replace(hour=1, minute=5)
        assert [m.date for m in daily()] == [str(day)]  # the last day with records, whole
        assert day in published_days(store)
        assert daily() == []  # looked a moment ago: not again within a minute

        clock[0] += timedelta(days=4, hours=1)  # the hub was down for four days
        caught_up = [m.date for m in daily()]
        assert caught_up == [str(day + timedelta(days=n)) for n in (1, 2, 3, 4)]
        clock[0] += timedelta(minutes=5)
        assert daily() == []  # nothing is published twice

        # A day a crash left unpublished (files, no manifest) is repaired, not just newer ones.
        store.delete(manifest_path(day + timedelta(days=2)))
        clock[0] += timedelta(minutes=5)
        assert [m.date for m in daily()] == [str(day + timedelta(days=2))]
        # current/ and history/ follow the newest published day, as catalog.json says.
        catalog = json.loads((Path(root) / "catalog.json").read_text("utf-8"))
        assert catalog["current"]["as_of"] == str(day + timedelta(days=4))
        assert (Path(root) / "parquet" / "current" / "awards.parquet").exists()

        # The indexer's loop runs it on every turn, whatever the search target does.
        turns: list[int] = []
        stats = run(engine, EmbeddedBackend(engine), once=True, tick=lambda: turns.append(1))
        assert turns and stats.indexed > 0
        engine.dispose()
