"""Upstreams and the pusher's bookkeeping on both databases: the CLI never shows a token,
a new upstream starts at the feed's end unless `--from-start`, a refused record is parked
with the upstream's reason (and the cursor moves past it), an unreachable upstream moves
nothing, and /metrics shows the backlog and the park."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hub.app import create_app
from hub.config import Settings
from hub.federation.pusher import PushFailed, backoff, push_once, retry_parked
from hub.federation.status import statuses
from hub.federation.upstreams import add_upstream
from hub.publishing import ingest_records
from hub.publishing.publishers import add_publisher
from schema.tables import PUBLISHERS, PUSH_PARKED, TRANSACTIONS, UPSTREAMS
from schema.types import PublisherRole, RecordKind
from tests.factories import penalty, transaction
from tests.hub_server import free_port, running
from tests.web_client import web

MALL = "吉林省政府采购电子卖场"
PROVINCE = "吉林省政府采购网"
CAIGOU = [sys.executable, "-m", "hub.cli.main"]


def caigou(database_url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIGOU_DATABASE_URL": database_url, "COLUMNS": "200", **extra}
    return subprocess.run([*CAIGOU, *args], capture_output=True, text=True, env=env, timeout=120)


def orders(engine: Engine, *regions: str) -> None:
    """Transactions accepted here by the mall, one per region given."""
    with engine.begin() as conn:
        if not conn.execute(select(PUBLISHERS.c.id).where(PUBLISHERS.c.name == MALL)).first():
            add_publisher(conn, MALL, PublisherRole.trading_platform, ["100000"],
                          [RecordKind.transaction])  # fmt: skip
    start = len(held(engine))
    rows = [transaction(f"DD2024{start + i:08d}", region_code=region)
            for i, region in enumerate(regions)]  # fmt: skip
    assert ingest_records(engine, MALL, RecordKind.transaction, rows).accepted == len(rows)


def held(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(TRANSACTIONS.c.order_id)).scalars())


@pytest.fixture
def central(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, Engine, str]]:
    """A real upstream hub that knows this hub as the provincial site of Jilin (220000)."""
    import shutil

    shutil.copy(sqlite_template, tmp_path / "central.db")
    app = create_app(Settings(f"sqlite:///{tmp_path / 'central.db'}", str(tmp_path / "x"), None,
                              public_url="http://hub.central.example.gov.cn"))  # fmt: skip
    with app.state.engine.begin() as conn:
        _, token = add_publisher(conn, PROVINCE, PublisherRole.regional_site, ["220000"],
                                 [RecordKind.notice, RecordKind.transaction])  # fmt: skip
    token_file = tmp_path / "central.token"
    token_file.write_text(token)
    with running(app) as base:
        yield base, app.state.engine, str(token_file)
    app.state.engine.dispose()


def test_upstream_commands_never_show_the_token_and_start_at_the_feed_end(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    orders(engine, "220102", "220102")
    token = tmp_path / "token"
    token.write_text("s3cret-token-value\n")
    missing = caigou(database_url, "upstream", "add", "central", "http://127.0.0.1:9",
                     "--token-file", str(tmp_path / "nope"))  # fmt: skip
    assert missing.returncode == 2 and "token file" in missing.stderr and "nope" in missing.stderr
    added = caigou(database_url, "upstream", "add", "central", "http://127.0.0.1:9",
                   "--token-file", str(token), "--kinds", "transaction")  # fmt: skip
    assert added.returncode == 0, added.stderr
    backfill = caigou(database_url, "upstream", "add", "mirror", "http://127.0.0.1:9/",
                      "--token-file", str(token), "--from-start")  # fmt: skip
    assert backfill.returncode == 0, backfill.stderr
    bad = caigou(database_url, "upstream", "add", "x", "http://127.0.0.1:9", "--token-file",
                 str(token), "--kinds", "notices")  # fmt: skip
    assert bad.returncode == 2 and "notices" in bad.stderr
    assert caigou(database_url, "upstream", "pause", "mirror").returncode == 0
    listed = caigou(database_url, "upstream", "list")
    status = caigou(database_url, "pusher", "status")
    for shown in (added, backfill, listed, status):
        assert "s3cret" not in shown.stdout + shown.stderr
    assert "paused" in listed.stdout and "running" in listed.stdout
    with engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(UPSTREAMS))}
        by_name = {s.name: s for s in statuses(conn)}
    assert rows["central"].cursor > 0 and rows["mirror"].cursor == 0
    assert rows["mirror"].url == "http://127.0.0.1:9"
    assert (by_name["central"].backlog, by_name["mirror"].backlog) == (0, 2)
    assert "s3cret" not in str(rows["central"]._mapping)  # only the file's path is stored
    assert caigou(database_url, "upstream", "remove", "mirror").returncode == 0
    gone = caigou(database_url, "upstream", "resume", "mirror")
    assert gone.returncode == 2 and "no upstream named mirror" in gone.stderr


def test_a_refused_record_is_parked_with_the_reason_and_the_rest_go_on(
    database_url: str, engine: Engine, central: tuple[str, Engine, str]
) -> None:
    base, upstream_engine, token_file = central
    orders(engine, "220102", "110101", "220203")  # Beijing is outside the site's scope
    with engine.begin() as conn:
        add_upstream(conn, "central", base, token_file, [RecordKind.transaction],
                     from_start=True)  # fmt: skip
    report = push_once(engine, "central")
    assert (report.sent, report.accepted, report.parked) == (3, 2, 1)
    assert held(upstream_engine) == ["DD202400000000", "DD202400000002"]
    with engine.connect() as conn:
        [park] = conn.execute(select(PUSH_PARKED)).all()
        [status] = statuses(conn)
    assert park.kind == "transaction" and "region" in park.reason and "110101" in park.reason
    assert (status.backlog, status.parked) == (0, 1)  # the cursor moved past it
    listed = caigou(database_url, "pusher", "parked", "central")
    assert listed.returncode == 0 and str(park.seq) in listed.stdout

    app = create_app(Settings(database_url, "/tmp", None))
    with running(app) as here:
        metrics = web.get(f"{here}/metrics").text
    app.state.engine.dispose()
    assert 'caigou_push_parked{upstream="central"} 1.0' in metrics
    assert 'caigou_push_backlog{upstream="central"} 0.0' in metrics

    again = retry_parked(engine, "central")  # still out of scope: still parked, not lost
    assert (again.sent, again.parked) == (1, 1)
    with upstream_engine.begin() as conn:  # the central operator widens the site's scope
        conn.execute(PUBLISHERS.update().where(PUBLISHERS.c.name == PROVINCE)
                     .values(scope_regions="220000,110000"))  # fmt: skip
    retried = caigou(database_url, "pusher", "retry-parked", "central")
    assert retried.returncode == 0 and "1 accepted" in retried.stdout, retried.stdout
    assert len(held(upstream_engine)) == 3
    with engine.connect() as conn:
        assert conn.execute(select(PUSH_PARKED)).all() == []


def test_an_unreachable_upstream_moves_nothing_and_says_why(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    orders(engine, "220102")
    token = tmp_path / "token"
    token.write_text("t")
    with engine.begin() as conn:
        add_upstream(conn, "central", f"http://127.0.0.1:{free_port()}", str(token),
                     from_start=True)  # fmt: skip
    with pytest.raises(PushFailed, match="ConnectError"):
        push_once(engine, "central")
    run = caigou(database_url, "pusher", "run", "--once")
    assert run.returncode == 1 and "ConnectError" in run.stderr
    with engine.connect() as conn:
        [status] = statuses(conn)
    assert (status.cursor, status.backlog, status.parked) == (0, 1, 0)
    assert status.last_error and "ConnectError" in status.last_error
    assert status.oldest_pending is not None
    delays = [backoff(attempt) for attempt in range(12) for _ in range(20)]
    assert all(0 <= d <= 60 for d in delays) and max(delays) > 30  # capped, full jitter


def test_a_penalty_goes_up_as_its_finance_departments_and_indexer_run_pushes(
    tmp_path: Path, sqlite_template: Path, central: tuple[str, Engine, str]
) -> None:
    """The site pushing a penalty is no finance department: the relay names the original
    one, and a central hub that registered the site for penalties takes it. `caigou indexer
    run --once` pushes too, unless `--no-push`."""
    import shutil

    from schema.tables import PENALTY_RECORDS, RECORD_SOURCES

    base, upstream_engine, token_file = central
    with upstream_engine.begin() as conn:
        conn.execute(PUBLISHERS.update().where(PUBLISHERS.c.name == PROVINCE)
                     .values(scope_kinds="notice,transaction,penalty"))  # fmt: skip
    shutil.copy(sqlite_template, tmp_path / "province.db")
    url = f"sqlite:///{tmp_path / 'province.db'}"
    from schema.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        add_publisher(conn, "吉林省财政厅", PublisherRole.finance_department, ["220000"],
                      [RecordKind.penalty])  # fmt: skip
        add_upstream(conn, "central", base, token_file, [RecordKind.penalty])
    assert ingest_records(engine, "吉林省财政厅", RecordKind.penalty, [penalty()]).accepted == 1
    env = {"CAIGOU_EXPORT_ROOT": str(tmp_path / "x"), "CAIGOU_ELASTICSEARCH_URL": ""}
    idle = caigou(url, "indexer", "run", "--once", "--no-push", **env)
    assert idle.returncode == 0, idle.stderr
    with upstream_engine.connect() as conn:
        assert conn.execute(select(PENALTY_RECORDS)).all() == []
    pushed = caigou(url, "indexer", "run", "--once", **env)
    assert pushed.returncode == 0, pushed.stderr
    with upstream_engine.connect() as conn:
        [record] = conn.execute(select(PENALTY_RECORDS)).all()
        [source] = conn.execute(select(RECORD_SOURCES)).all()
    assert record.record_id == "JLCZ-2024-001"
    assert (source.original_publisher, source.original_role) == (
        "吉林省财政厅",
        "finance_department",
    )
    engine.dispose()


def test_refusals_in_pipelined_batches_park_exactly_those_records(
    engine: Engine, central: tuple[str, Engine, str]
) -> None:
    """1,300 orders go as three batches, two in flight at a time; the Beijing orders the
    upstream refuses (in the first and the last batch) are the ones parked, at their own
    seqs, and every other order arrives once."""
    base, upstream_engine, token_file = central
    regions = ["220102"] * 1_300
    for position in (7, 480, 1_210):
        regions[position] = "110101"
    orders(engine, *regions)
    with engine.begin() as conn:
        add_upstream(conn, "central", base, token_file, [RecordKind.transaction],
                     from_start=True)  # fmt: skip
    report = push_once(engine, "central")
    assert (report.batches, report.sent, report.accepted, report.parked) == (3, 1_300, 1_297, 3)
    every = [f"DD2024{i:08d}" for i in range(1_300)]
    refused = {every[p] for p in (7, 480, 1_210)}
    assert held(upstream_engine) == [o for o in every if o not in refused]
    with engine.connect() as conn:
        parked_ids = conn.execute(
            select(TRANSACTIONS.c.order_id)
            .join(PUSH_PARKED, PUSH_PARKED.c.record_id == TRANSACTIONS.c.id)
            .order_by(PUSH_PARKED.c.seq)
        ).scalars().all()  # fmt: skip
        [status] = statuses(conn)
    assert parked_ids == sorted(refused)
    assert (status.backlog, status.parked) == (0, 3)
    assert push_once(engine, "central").sent == 0
