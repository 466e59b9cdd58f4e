"""The `caigou` command as a user runs it: real processes, real files, real databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from hub.publishing.ingestlog import mark_interrupted
from schema.db import head_revision, make_engine
from schema.tables import INGESTIONS, PUBLISHERS, TRANSACTIONS
from tests.factories import transaction, write_csv
from tests.web_client import web

CAIGOU = [str(Path(sys.executable).with_name("caigou"))]  # the installed console script
MALL = "吉林省政府采购电子卖场"


def caigou(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run([*CAIGOU, *args], capture_output=True, text=True, env=env, timeout=120)


def add_mall(database_url: str) -> str:
    added = caigou(database_url, "publisher", "add", MALL, "--role", "trading_platform",
                   "--region", "220000", "--kind", "transaction")  # fmt: skip
    assert added.returncode == 0, added.stderr
    return added.stdout.strip().splitlines()[-1]


def test_a_command_starts_without_the_pipeline_the_dumps_or_an_http_client() -> None:
    """`caigou` registers every command, so it imports every command's module; what only
    some commands use (the ingest pipeline and its flag rules, pyarrow and pandas, the HTTP
    client: ~0.7 s of its ~1.6 s start) loads inside those commands."""
    code = "import sys, hub.cli.main; print(' '.join(sorted(sys.modules)))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=60)  # fmt: skip
    loaded = set(shown.stdout.split())
    assert {"hub.cli.export", "hub.cli.mirror", "hub.cli.pusher"} <= loaded
    heavy = {"hub.publishing.ingest", "hub.flags", "exports.derived", "pyarrow", "pandas",
             "httpx"}  # fmt: skip
    assert not loaded & heavy, sorted(loaded & heavy)


def test_publisher_tokens_are_shown_once_and_stored_hashed(database_url: str) -> None:
    token = add_mall(database_url)
    assert token.startswith("cgp_") and len(token) > 40
    listed = caigou(database_url, "publisher", "list")
    assert MALL in listed.stdout and "transaction" in listed.stdout and token not in listed.stdout
    engine = make_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(select(PUBLISHERS.c.token_hash)).scalar_one()
    engine.dispose()
    assert token not in stored
    again = caigou(database_url, "publisher", "add", MALL, "--role", "trading_platform",
                   "--region", "220000", "--kind", "transaction")  # fmt: skip
    assert again.returncode == 2 and "already exists" in again.stderr


def test_ingest_reports_each_refused_record_and_exits_non_zero(
    database_url: str, tmp_path: Path
) -> None:
    add_mall(database_url)
    rows = [
        transaction("DD1"),
        transaction("DD2"),
        transaction("DD3", supplier_uscc="91220101MA0Y123450"),
    ]
    path = write_csv(tmp_path / "orders.csv", rows)
    rejected = caigou(database_url, "ingest", str(path), "--publisher", MALL)
    assert rejected.returncode == 1
    assert "nothing written" in rejected.stderr
    assert "record 3 (DD3): supplier_uscc:" in rejected.stderr
    assert "--partial" in rejected.stderr
    partial = caigou(database_url, "ingest", str(path), "--publisher", MALL, "--partial")
    assert partial.returncode == 0, partial.stderr
    assert "2 accepted" in partial.stdout and "1 rejected" in partial.stdout
    assert (tmp_path / "orders.csv.rejects.ndjson").exists()
    again = caigou(database_url, "ingest", str(path), "--publisher", MALL, "--partial")
    assert "0 accepted, 2 duplicates, 1 rejected" in again.stdout


def test_unknown_publisher_says_how_to_add_one(database_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [transaction()])
    result = caigou(database_url, "ingest", str(path), "--publisher", "无名站点")
    assert result.returncode == 2
    assert "caigou publisher add" in result.stderr


def test_db_commands_report_the_migration(database_url: str) -> None:
    head = head_revision()
    result = caigou(database_url, "db", "upgrade")
    assert result.returncode == 0 and head in result.stdout
    assert f"database: {head}; code: {head}" in caigou(database_url, "db", "current").stdout


def test_a_killed_ingest_leaves_the_database_as_it_was_and_is_marked_interrupted(
    database_url: str, tmp_path: Path
) -> None:
    add_mall(database_url)
    rows = (transaction(f"DD{i:08d}") for i in range(25_000))
    path = write_csv(tmp_path / "big.csv", rows)
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url}
    engine = make_engine(database_url)
    log = INGESTIONS
    with subprocess.Popen([*CAIGOU, "ingest", str(path), "--publisher", MALL],
                          stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env) as process:  # fmt: skip
        assert process.stderr is not None
        line = process.stderr.readline()  # the first progress line: rows are being written now
        assert "records read" in line, line
        assert mark_interrupted(engine) == []  # alive: its row is left running
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one() == 0
        assert conn.execute(select(log.c.status)).scalar_one() == "running"
    listed = caigou(database_url, "publisher", "list")  # any command, on starting, finds it
    assert listed.returncode == 0 and "was interrupted" in listed.stderr
    with engine.connect() as conn:
        status, report = conn.execute(select(log.c.status, log.c.report)).one()
    engine.dispose()
    assert status == "interrupted"
    assert f"pid {process.pid}) ended before the batch finished" in report
    finished = caigou(database_url, "ingest", str(path), "--publisher", MALL)
    assert finished.returncode == 0 and "25,000 accepted" in finished.stdout


def test_serve_starts_the_hub_under_uvicorn(database_url: str) -> None:
    import time

    import httpx

    from tests.hub_server import free_port

    port = free_port()
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url}
    # Zeros switch limits off: the worker must read them back from its environment as zeros.
    serve = [*CAIGOU, "serve", "--port", str(port), "--rate-limit", "0", "--query-timeout", "0"]
    with subprocess.Popen(serve, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = web.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and process.poll() is None, (
                        "serve did not start"
                    )
                    time.sleep(0.2)
            assert health.json()["database"] == "ok"
            answer = web.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": "{ publishers { name } }"}
            )
            assert answer.json() == {"data": {"publishers": []}}
        finally:
            process.terminate()
            output, _ = process.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/graphql" in output
