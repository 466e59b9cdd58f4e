"""`caigou db backup` / `restore` on SQLite and PostgreSQL: a restore answers and dumps alike."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from exports.manifest import manifest_path
from exports.write import export_day
from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.web.graphiql import EXAMPLES, VARIABLES
from schema.data_version import current_data_version
from schema.db import make_engine
from tests.conftest import fresh_database
from tests.hub_server import graphql, running
from tests.indexing import caught_up

CAIGOU = str(Path(sys.executable).with_name("caigou"))


def caigou(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "CAIGOU_DATABASE_URL": url, "COLUMNS": "200", **env}
    return subprocess.run([CAIGOU, *args], capture_output=True, text=True, env=environ,
                          timeout=300)  # fmt: skip


def observe(url: str, root: Path, day: date) -> tuple[list[Any], bytes]:
    """Every GraphiQL example's answer over HTTP, and the day's manifest as exported."""
    app = create_app(Settings(url, str(root), None))
    with running(app) as base:
        if url.startswith("sqlite"):  # searches answer from the index, filled in the background
            caught_up(app.state.engine)
        answers = [graphql(base, query, VARIABLES) for query in EXAMPLES.values()]
    for answer in answers:  # each request has its own id
        answer.get("extensions", {}).pop("request_id", None)
    engine: Engine = app.state.engine
    export_day(engine, str(root), day)
    engine.dispose()
    return answers, (root / manifest_path(day)).read_bytes()


def version(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = current_data_version(conn)
    engine.dispose()
    return found


def test_a_restore_gives_the_same_answers_and_dumps(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with fresh_database(dialect, request, tmp_path) as url:
        engine = make_engine(url)
        files = generate(tmp_path / "demo", projects=20, transactions=200, penalties=10)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.connect() as conn:
            latest = conn.execute(text("SELECT max(published_at) FROM notices")).scalar()
        engine.dispose()
        day = (latest if isinstance(latest, datetime) else datetime.fromisoformat(latest)).date()
        before = observe(url, tmp_path / "out-before", day)
        assert any(answer.get("data") for answer in before[0])
        version_backed_up = version(url)
        saved = tmp_path / "hub.backup"
        done = caigou(url, "db", "backup", str(saved))
        assert done.returncode == 0, done.stderr
        assert saved.stat().st_size > 0 and not list(tmp_path.glob(".hub.backup.partial"))
    with fresh_database(dialect, request, tmp_path, migrated=False) as restored:
        done = caigou(restored, "db", "restore", str(saved))
        assert done.returncode == 0, done.stderr
        assert "database at migration" in done.stdout
        after = observe(restored, tmp_path / "out-after", day)
        assert version(restored) > version_backed_up  # no ETag from before comes round again
        assert after[0] == before[0]
        assert after[1] == before[1]  # byte-identical manifests: every file's SHA-256 alike
        if dialect == "postgresql":  # a second restore would mix two databases: refused
            again = caigou(restored, "db", "restore", str(saved))
            assert again.returncode == 2 and "is not empty" in again.stderr


def test_restore_refuses_what_is_not_a_backup(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a backup")
    with fresh_database(dialect, request, tmp_path, migrated=False) as url:
        done = caigou(url, "db", "restore", str(bogus))
    assert done.returncode == 2 and "notes.txt is not a" in done.stderr


@pytest.mark.only_on("postgresql")
def test_backup_names_the_missing_pg_dump(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with fresh_database(dialect, request, tmp_path) as url:
        done = caigou(url, "db", "backup", str(tmp_path / "x.dump"), CAIGOU_PG_BIN=str(tmp_path))
    assert done.returncode == 2
    assert "pg_dump not found" in done.stderr and "CAIGOU_PG_BIN" in done.stderr
    assert not (tmp_path / "x.dump").exists()
