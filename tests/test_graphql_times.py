"""Publish and receipt times over GraphQL: ranges in Beijing time, and polling for what is new.

Against a running hub on SQLite and PostgreSQL, with the demo loaded through the pipeline.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.publishing.publishers import add_publisher
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import penalty, project_releases, transaction
from tests.hub_server import graphql, running

# Per list: its root field, its table, its filter type and the id a client would recognise.
LISTS = {
    "transactions": ("transactions", "TransactionFilter", "orderId", "order_id"),
    "penalties": ("penalty_records", "PenaltyFilter", "recordId", "record_id"),
    "notices": ("notices", "NoticeFilter", "releaseId", "release_id"),
}
ORDER = {
    "transactions": "TransactionOrder",
    "penalties": "PenaltyOrder",
    "notices": "NoticeOrder",
}


@dataclass
class Hub:
    base: str
    engine: Engine
    tokens: dict[str, str]  # by publish kind: a publisher of that kind for Jilin

    def query(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        return graphql(self.base, query, variables, token)

    def data(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        answer = self.query(query, variables, token)
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def count(self, statement: str, **params: object) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(statement), params).scalar_one())


@pytest.fixture(scope="module")
def hub(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp(f"times-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        app = create_app(Settings(url, str(folder / "exports"), None))
        engine: Engine = app.state.engine
        files = generate(folder / "demo", projects=12, transactions=400, penalties=12)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        accounts = {
            "TRANSACTION": ("测试电子卖场", PublisherRole.trading_platform, RecordKind.transaction),
            "PENALTY": ("测试财政局", PublisherRole.finance_department, RecordKind.penalty),
            "NOTICE": ("测试采购网", PublisherRole.regional_site, RecordKind.notice),
        }
        tokens = {}
        with engine.begin() as conn:
            for kind, (name, role, record_kind) in accounts.items():
                _, tokens[kind] = add_publisher(conn, name, role, ["220000"], [record_kind])
        with running(app) as base:
            yield Hub(base, engine, tokens)
        engine.dispose()


def page_query(field: str) -> str:
    _, filter_type, key, _ = LISTS[field]
    return f"""
query($filter: {filter_type}, $orderBy: {ORDER[field]}, $first: Int, $after: String) {{
  {field}(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {{
    totalCount
    nodes {{ {key} publishedAt receivedAt }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""


def total(hub: Hub, field: str, filter: dict[str, Any]) -> int:
    return hub.data(page_query(field), {"filter": filter, "first": 0})[field]["totalCount"]


@pytest.mark.parametrize("field", list(LISTS))
def test_publish_time_ranges_agree_with_sql_from_inclusive_to_exclusive(
    hub: Hub, field: str
) -> None:
    table = LISTS[field][0]
    sql = f"SELECT count(*) FROM {table} WHERE published_at >= :start AND published_at < :end"
    march = hub.count(sql, start=datetime(2024, 3, 1), end=datetime(2024, 4, 1))
    if field != "penalties":  # a dozen penalty records need not fall in March
        assert march > 0
    beijing = {"from": "2024-03-01T00:00:00", "to": "2024-04-01T00:00:00"}
    assert total(hub, field, {"publishedAt": beijing}) == march
    utc = {"from": "2024-02-29T16:00:00Z", "to": "2024-03-31T16:00:00+00:00"}
    assert total(hub, field, {"publishedAt": utc}) == march  # the same moments

    # One record's exact publish time: `from` takes it in, `to` leaves it out.
    with hub.engine.connect() as conn:
        moment = conn.execute(text(f"SELECT max(published_at) FROM {table}")).scalar_one()
    if isinstance(moment, str):  # SQLite hands back text
        moment = datetime.fromisoformat(moment)
    at = moment.isoformat()
    at_or_after = hub.count(f"SELECT count(*) FROM {table} WHERE published_at >= :t", t=moment)
    assert total(hub, field, {"publishedAt": {"from": at}}) == at_or_after > 0
    everything = hub.count(f"SELECT count(*) FROM {table}")
    assert total(hub, field, {"publishedAt": {"to": at}}) == everything - at_or_after
    assert total(hub, field, {"publishedAt": {"from": at, "to": at}}) == 0


def poll(hub: Hub, field: str, since: str | None, after: str | None) -> tuple[list[str], dict]:
    """Every record received since `since` (and after the cursor `after`), page by page, as
    a client keeping up would ask: oldest receipt first."""
    key = LISTS[field][2]
    found: list[str] = []
    last: dict = {"receivedAt": since, "cursor": after}
    while True:
        filter = {"receivedAt": {"from": since}} if since else {}
        answer = hub.data(
            page_query(field),
            {"filter": filter, "orderBy": {"field": "RECEIVED_AT", "direction": "ASC"},
             "first": 100, "after": after},
        )[field]  # fmt: skip
        found += [node[key] for node in answer["nodes"]]
        if answer["nodes"]:
            last = {"receivedAt": answer["nodes"][-1]["receivedAt"]}
        if answer["pageInfo"]["endCursor"]:
            after = last["cursor"] = answer["pageInfo"]["endCursor"]
        if not answer["pageInfo"]["hasNextPage"]:
            return found, last


PUBLISH = """mutation($kind: PublishKind!, $records: [JSON!]!) {
  publish(kind: $kind, records: $records) { status accepted refusals { recordId reason } }
}"""


def new_records(field: str, tag: str) -> tuple[str, list[dict[str, Any]], list[str]]:
    """Records to publish (kind, records) and the ids the list will show for them."""
    if field == "transactions":
        ids = [f"POLL-{tag}-{n}" for n in range(3)]
        return "TRANSACTION", [transaction(i, published_at="2024-02-01T10:00:00+08:00")
                               for i in ids], ids  # fmt: skip
    if field == "penalties":
        ids = [f"POLL-{tag}-{n}" for n in range(2)]
        return "PENALTY", [penalty(i) for i in ids], ids
    releases = project_releases(f"ocds-cghub1-POLL-{tag}")
    return "NOTICE", releases, [release["id"] for release in releases]


@pytest.mark.parametrize("field", list(LISTS))
def test_a_client_polling_by_receipt_time_gets_only_what_is_new(hub: Hub, field: str) -> None:
    table = LISTS[field][0]
    seen, last = poll(hub, field, None, None)
    assert len(seen) == len(set(seen)) == hub.count(f"SELECT count(*) FROM {table}")
    assert poll(hub, field, last["receivedAt"], last["cursor"])[0] == []  # nothing new yet

    kind, records, ids = new_records(field, "A")
    published = hub.data(PUBLISH, {"kind": kind, "records": records}, hub.tokens[kind])
    assert published["publish"]["status"] == "accepted", published
    new, later = poll(hub, field, last["receivedAt"], last["cursor"])
    assert sorted(new) == sorted(ids)  # published in the past (2024), received just now

    # `from` is inclusive: without the cursor, the last batch seen comes again.
    again, _ = poll(hub, field, last["receivedAt"], None)
    assert set(ids) < set(again) and set(again) <= set(seen) | set(ids)

    kind, records, more = new_records(field, "B")
    hub.data(PUBLISH, {"kind": kind, "records": records}, hub.tokens[kind])
    assert sorted(poll(hub, field, later["receivedAt"], later["cursor"])[0]) == sorted(more)


@pytest.mark.parametrize(
    ("filter", "words"),
    [
        ({"publishedAt": {"from": "yesterday"}}, "DateTime"),
        ({"receivedAt": {"to": "2024-02-30T00:00:00"}}, "DateTime"),
        ({"receivedAt": {"from": "2024-03-02T00:00:00", "to": "2024-03-01T00:00:00"}},
         "`receivedAt`: `to` (2024-03-01 00:00:00) is before `from` (2024-03-02 00:00:00)"),
        ({"publishedAt": {"from": "0001-01-01T00:00:00+14:00"}}, "publishedAt.from"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("field", list(LISTS))
def test_bad_times_are_bad_user_input(hub: Hub, field: str, filter: dict, words: str) -> None:
    answer = hub.query(page_query(field), {"filter": filter, "first": 1})
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
    assert words in answer["errors"][0]["message"]


def test_transaction_stats_take_the_publish_time_range(hub: Hub) -> None:
    """A month of orders by when they were published, as the exports date them."""
    query = """query($filter: TransactionFilter) {
      transactionStats(groupBy: [MONTH], filter: $filter) { count }
    }"""
    march = {"publishedAt": {"from": "2024-03-01T00:00", "to": "2024-04-01T00:00"}}
    rows = hub.data(query, {"filter": march})["transactionStats"]
    expected = hub.count(
        "SELECT count(*) FROM transactions WHERE published_at >= :start AND published_at < :end",
        start=datetime(2024, 3, 1), end=datetime(2024, 4, 1),
    )  # fmt: skip
    assert sum(row["count"] for row in rows) == expected > 0


@pytest.mark.parametrize("field", list(LISTS))
def test_a_cursor_forged_with_a_time_offset_is_refused(hub: Hub, field: str) -> None:
    """The API hands out naive Beijing times in cursors; one carrying an offset would be read
    one way by SQLite and another by PostgreSQL, so it is refused as not the API's."""
    order = {"field": "RECEIVED_AT", "direction": "ASC"}
    first = hub.data(page_query(field), {"orderBy": order, "first": 1})[field]
    cursor = first["pageInfo"]["endCursor"]
    values = orjson.loads(base64.urlsafe_b64decode(cursor))
    forged = [["dt", v[1] + "+05:00"] if isinstance(v, list) and v[0] == "dt" else v
              for v in values]  # fmt: skip
    token = base64.urlsafe_b64encode(orjson.dumps(forged)).decode()
    assert token != cursor
    answer = hub.query(page_query(field), {"orderBy": order, "first": 1, "after": token})
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
    assert "is not a cursor given by this API" in answer["errors"][0]["message"]
