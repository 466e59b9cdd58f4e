"""The change feed: every accepted record once, in acceptance order, over GraphQL and NDJSON."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from sqlalchemy import Engine, select

from hub.app import create_app
from hub.config import Settings
from hub.publishing import ingest_records
from hub.read.changes import read_changes
from schema.db import alembic_config
from schema.tables import CHANGES, NOTICES
from schema.types import RecordKind
from tests.factories import penalty, project_releases, transaction
from tests.hub_server import graphql, running
from tests.web_client import web

SITE = "吉林省政府采购网"
MALL = "吉林省政府采购电子卖场"
FINANCE = "吉林省财政厅"
FEED = """query($after: String, $first: Int, $kinds: [RecordKind!]) {
  changes(after: $after, first: $first, kinds: $kinds) {
    edges { cursor node { seq kind action acceptedAt contentHash ocid recordId payload
                          publisher publisherRole sourceSite publishedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _publish(engine: Engine, add: Any) -> list[tuple[str, dict[str, Any]]]:
    """Three batches of three kinds, a duplicate and a refused batch; what was accepted."""
    add(SITE, "regional_site", ["220000"], ["notice"])
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    add(FINANCE, "finance_department", ["220000"], ["penalty"])
    releases = project_releases()
    rows = [transaction(f"DD2024000000{i}") for i in range(1, 4)]
    fine = penalty()
    assert ingest_records(engine, SITE, RecordKind.notice, releases[:2]).accepted == 2
    assert ingest_records(engine, MALL, RecordKind.transaction, rows).accepted == 3
    assert ingest_records(engine, SITE, RecordKind.notice, releases[2:]).accepted == 2
    assert ingest_records(engine, FINANCE, RecordKind.penalty, [fine]).accepted == 1
    again = ingest_records(engine, MALL, RecordKind.transaction, rows[:2])
    assert (again.accepted, again.duplicates) == (0, 2)
    refused = ingest_records(engine, MALL, RecordKind.transaction, [transaction("X", amount="-")])
    assert refused.status == "rejected"
    return [
        *(("notice", r) for r in releases[:2]), *(("transaction", r) for r in rows),
        *(("notice", r) for r in releases[2:]), ("penalty", fine),
    ]  # fmt: skip


def _lines(base: str, **params: str) -> list[dict[str, Any]]:
    response = web.get(f"{base}/changes", params=params, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in response.content.splitlines()]


def test_every_accepted_record_is_one_change_in_the_order_accepted(
    engine: Engine, database_url: str, add: Any, tmp_path: Path
) -> None:
    accepted = _publish(engine, add)
    with running(create_app(Settings(database_url, str(tmp_path), None))) as base:
        lines = _lines(base)
        changes, last = lines[:-1], lines[-1]
        assert [(c["kind"], orjson.loads(c["payload"])) for c in changes] == accepted
        assert all(c["action"] == "insert" for c in changes)
        seqs = [c["seq"] for c in changes]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert last == {"next": changes[-1]["cursor"], "more": False}
        assert [c["publisher"] for c in changes[:5]] == [SITE, SITE, MALL, MALL, MALL]
        assert changes[-1]["publisherRole"] == "finance_department"
        assert changes[0]["ocid"] == "ocds-cghub1-JLZC2024-0153"
        assert changes[0]["publishedAt"] == "2024-03-01T09:00:00"
        # Page by page through GraphQL: the same changes, resumed from each page's end.
        seen: list[dict[str, Any]] = []
        after = None
        while True:
            page = graphql(base, FEED, {"after": after, "first": 3})["data"]["changes"]
            seen += [edge["node"] for edge in page["edges"]]
            after = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break
        assert [int(n["seq"]) for n in seen] == seqs
        assert [n["payload"] for n in seen] == [c["payload"] for c in changes]
        assert [n["kind"] for n in seen] == [c["kind"].upper() for c in changes]
        # Nothing after the last cursor, and a kind filter keeps the order.
        assert _lines(base, after=last["next"]) == [{"next": last["next"], "more": False}]
        notices = _lines(base, kinds="notice,penalty", limit="2")
        assert [c["seq"] for c in notices[:-1]] == [seqs[0], seqs[1]]
        assert notices[-1] == {"next": notices[1]["cursor"], "more": True}
        rest = _lines(base, kinds="notice,penalty", after=notices[-1]["next"])
        assert [c["kind"] for c in rest[:-1]] == ["notice", "notice", "penalty"]
        answer = graphql(base, FEED, {"kinds": ["PENALTY"]})["data"]["changes"]["edges"]
        assert [edge["node"]["seq"] for edge in answer] == [str(seqs[-1])]


def test_bad_cursor_kind_or_limit_is_refused_naming_the_parameter(
    engine: Engine, database_url: str, add: Any, tmp_path: Path
) -> None:
    with running(create_app(Settings(database_url, str(tmp_path), None))) as base:
        for params, named in (
            ({"after": "not-a-cursor"}, "after"), ({"kinds": "notice,order"}, "kinds"),
            ({"limit": "5000"}, "limit"), ({"limit": "-1"}, "limit"),
        ):  # fmt: skip
            response = web.get(f"{base}/changes", params=params, timeout=30)
            assert response.status_code == 400, params
            assert response.json()["error"].startswith(f"{named}:"), response.text
        answer = graphql(base, FEED, {"after": "bm9wZQ"})
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "after" in answer["errors"][0]["message"]
        answer = graphql(base, FEED, {"first": 1001})
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_change_is_written_with_its_record_or_not_at_all(engine: Engine, add: Any) -> None:
    """All-or-nothing refused: no record, no change; partial: a change per record kept."""
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    good, bad = transaction("DD1"), transaction("DD2", amount="abc")
    assert ingest_records(engine, MALL, RecordKind.transaction, [good, bad]).status == "rejected"
    with engine.connect() as conn:
        assert conn.execute(select(CHANGES.c.seq)).all() == []
    result = ingest_records(engine, MALL, RecordKind.transaction, [good, bad], partial=True)
    assert (result.accepted, result.rejected) == (1, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(CHANGES.c.kind, CHANGES.c.action)).all()
    assert rows == [("transaction", "insert")]


def test_a_hub_that_already_holds_records_gets_its_feed_from_the_migration(
    engine: Engine, add: Any
) -> None:
    """0016 writes the changes of what was stored before it, oldest arrival first."""
    add(SITE, "regional_site", ["220000"], ["notice"])
    ingest_records(engine, SITE, RecordKind.notice, project_releases()[:3])
    with engine.begin() as conn:
        before = conn.execute(select(CHANGES.c.record_id).order_by(CHANGES.c.seq)).scalars().all()
    config = alembic_config(engine)
    command.downgrade(config, "0015")
    command.upgrade(config, "head")
    with engine.connect() as conn:
        after = conn.execute(select(CHANGES.c.record_id).order_by(CHANGES.c.seq)).scalars().all()
        ids = conn.execute(select(NOTICES.c.id).order_by(NOTICES.c.id)).scalars().all()
    assert before == after == ids


def test_a_reader_following_concurrent_batches_never_misses_a_change(
    engine: Engine, add: Any
) -> None:
    """seq order is commit order: what a follower read up to a cursor never gains a change
    below it later, while batches commit from several threads at once."""
    add(MALL, "trading_platform", ["220000"], ["transaction"])
    done = threading.Event()

    def publish(thread: int) -> None:
        for batch in range(8):
            rows = [transaction(f"DD{thread}{batch:02d}{i:03d}") for i in range(3)]
            assert ingest_records(engine, MALL, RecordKind.transaction, rows).accepted == 3

    seen: list[int] = []

    def follow() -> None:
        after = 0
        while True:
            finished = done.is_set()
            with engine.connect() as conn:
                page = read_changes(conn, after, 5)
            seen.extend(row.seq for row in page.rows)
            after = page.rows[-1].seq if page.rows else after
            if finished and not page.rows:
                return
            time.sleep(0.005)

    follower = threading.Thread(target=follow)
    follower.start()
    publishers = [threading.Thread(target=publish, args=(t,)) for t in range(3)]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join()
    done.set()
    follower.join(timeout=60)
    with engine.connect() as conn:
        every = conn.execute(select(CHANGES.c.seq).order_by(CHANGES.c.seq)).scalars().all()
    assert len(every) == 3 * 8 * 3
    assert seen == every  # read once each, in order, none skipped
