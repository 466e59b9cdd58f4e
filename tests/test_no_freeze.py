"""Slow clients and a busy writer never hold up other requests.

A real hub under uvicorn on SQLite and PostgreSQL, real sockets that send a request body
slowly, and a real lock held by another connection (the lock every batch takes first).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select

from hub.app import create_app
from hub.config import Settings
from hub.publishing.ingest import BATCH_LOCK
from hub.publishing.publishers import add_publisher
from schema.db import make_engine
from schema.types import PublisherRole, RecordKind
from tests.factories import transaction
from tests.hub_server import graphql, running
from tests.web_client import web

SMALL = "{ transactions(first: 1) { totalCount } }"
MALL = "吉林省政府采购电子卖场"


@contextmanager
def dripping_body(base: str) -> Iterator[socket.socket]:
    """A POST /graphql whose head is sent whole and whose body never finishes."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"query\": \"")  # fmt: skip
    try:
        yield sock
    finally:
        sock.close()


def test_clients_sending_bodies_slowly_hold_no_database_connection(
    database_url: str, tmp_path: Path
) -> None:
    """More slow bodies than the pool has connections; small queries still answer at once."""
    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    pool_size = app.state.engine.pool.size() + app.state.engine.pool._max_overflow
    with running(app) as base, ExitStack() as slow:
        for _ in range(pool_size + 5):
            slow.enter_context(dripping_body(base))
        time.sleep(0.5)  # every one of them is inside the GraphQL view, waiting for its body
        started = time.perf_counter()
        answer = web.post(f"{base}/graphql", json={"query": SMALL}, timeout=20)
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
        assert web.get(f"{base}/healthz", timeout=20).status_code == 200
        assert time.perf_counter() - started < 5.0


@contextmanager
def writer_lock_held(engine: Engine) -> Iterator[None]:
    """The lock a batch takes before it reads, held by another connection meanwhile."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.begin()
            conn.execute(select(func.pg_advisory_xact_lock(BATCH_LOCK)))
        yield
        conn.rollback()


def test_a_publish_waiting_for_the_writer_lock_leaves_other_requests_served(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        _account, token = add_publisher(
            conn, MALL, PublisherRole.trading_platform, ["220000"], [RecordKind.transaction],
            "http://mall.example.gov.cn",
        )  # fmt: skip
    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    publish = """mutation($records: [JSON!]!) {
        publish(kind: TRANSACTION, records: $records) { status accepted } }"""
    outcome: dict[str, object] = {}
    with running(app) as base:
        with writer_lock_held(engine):
            thread = threading.Thread(target=lambda: outcome.update(
                graphql(base, publish, {"records": [transaction("SLOW-1")]}, token)))  # fmt: skip
            thread.start()
            time.sleep(1.0)  # the publish is now waiting for the lock
            assert thread.is_alive()
            started = time.perf_counter()
            answer = graphql(base, SMALL)
            assert "errors" not in answer and web.get(f"{base}/healthz").status_code == 200
            assert time.perf_counter() - started < 3.0
        thread.join(timeout=60)
    assert outcome["data"] == {"publish": {"status": "accepted", "accepted": 1}}, outcome
    engine.dispose()


def test_an_exhausted_pool_leaves_the_event_loop_serving(database_url: str, tmp_path: Path) -> None:
    """Every pooled connection taken (as by publishes waiting for the writer lock): requests
    that need one wait for one off the loop, and everything else is served meanwhile."""
    app = create_app(Settings(database_url, str(tmp_path / "exports"), None))
    engine: Engine = app.state.engine
    capacity = engine.pool.size() + engine.pool._max_overflow  # type: ignore[attr-defined]
    outcome: dict[str, object] = {}
    with running(app) as base:
        held = [engine.connect() for _ in range(capacity)]
        try:
            waiting = threading.Thread(target=lambda: outcome.update(graphql(base, SMALL)))
            waiting.start()
            time.sleep(0.5)  # the query is waiting for a connection
            started = time.perf_counter()
            assert web.get(f"{base}/static/hub.css", timeout=20).status_code == 200
            assert time.perf_counter() - started < 2.0
            assert waiting.is_alive()
        finally:
            for conn in held:
                conn.close()
        waiting.join(timeout=60)
    assert outcome["data"] == {"transactions": {"totalCount": 0}}, outcome
