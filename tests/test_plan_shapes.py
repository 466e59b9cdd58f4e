"""The planner over HTTP: shapes (a) and (b) answered by one statement per root field, byte
for byte the answer the resolvers give (`CAIGOU_PLANNER=off`), on SQLite and PostgreSQL.

Two real hubs on one database, the planner on and off; every answer says in its
`x-caigou-plan` header which path it took.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from tests.conftest import fresh_database
from tests.hub_server import running
from tests.web_client import web

# bench/graphql.py HUB_QUERIES "a" and "b", as the benchmark sends them.
SHAPE_A = """query A($d: Date!) { transactions(first: 100, filter: {orderDate: {from: $d, to: $d}})
  { edges { node { orderId amount orderDate supplier { name uscc } purchaser { name } } } } }"""
SHAPE_B = """query B($uscc: String!) { suppliers(filter: {uscc: $uscc}) { nodes { name uscc
  contracts(first: 20) { nodes { contractId title amount dateSigned } }
  transactions(first: 20) { nodes { orderId amount orderDate } }
  penalties { recordId kind decisionDate penalty } } } }"""
EVERYTHING = """query All($first: Int, $after: String, $order: TransactionOrder) {
  transactions(first: $first, after: $after, orderBy: $order) {
    totalCount __typename
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id __typename orderId channel channelLabel itemName brand model
      categoryCode quantity unit unitPrice amount returnOf orderDate regionCode agreementId
      sourceSite publishedAt receivedAt
      supplier { id name uscc regionCode address } purchaser { id name } } }
  }
}"""


@dataclass
class Hubs:
    on: str
    off: str
    engine: Engine

    def post(self, base: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = {"query": query, "variables": variables or {}}
        response = web.post(f"{base}/graphql", json=body, timeout=60)
        assert response.status_code == 200, response.text
        return response

    def both(self, query: str, variables: dict[str, Any] | None = None) -> tuple[str, bytes]:
        """The planner's path and answer; the answer must be the resolvers' (request ids
        aside: each request has its own)."""
        on, off = self.post(self.on, query, variables), self.post(self.off, query, variables)
        assert off.headers["x-caigou-plan"] == "fallback"
        assert _without_request_id(on.content) == _without_request_id(off.content), query
        return on.headers["x-caigou-plan"], on.content

    def sql(self, statement: str) -> list[Any]:
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(text(statement))]


def _without_request_id(body: bytes) -> bytes:
    answer = orjson.loads(body)
    extensions = answer.get("extensions") or {}
    if "request_id" in extensions:
        extensions.pop("request_id")
        if not extensions:
            answer.pop("extensions")
        return orjson.dumps(answer)
    return body


@pytest.fixture(scope="module")
def hubs(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hubs]:
    folder = tmp_path_factory.mktemp(f"plan-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        planned = create_app(Settings(url, str(folder / "exports"), None))
        resolved = create_app(Settings(url, str(folder / "exports"), None, planner=False))
        engine: Engine = planned.state.engine
        files = generate(folder / "demo", projects=30, transactions=800, penalties=40)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with running(planned) as on, running(resolved) as off:
            yield Hubs(on, off, engine)
        engine.dispose()
        resolved.state.engine.dispose()


def test_shape_a_is_planned_and_the_resolvers_answer(hubs: Hubs) -> None:
    days = hubs.sql("SELECT DISTINCT order_date FROM transactions ORDER BY 1 LIMIT 4")
    days.append("1999-01-01")  # no transaction that day: an empty page
    for day in days:
        path, body = hubs.both(SHAPE_A, {"d": str(day)[:10]})
        assert path == "planned"
    assert orjson.loads(body)["data"]["transactions"]["edges"] == []


def test_shape_b_is_planned_and_the_resolvers_answer(hubs: Hubs) -> None:
    # Suppliers with contracts, with penalty records, and one with neither.
    usccs = hubs.sql(
        "SELECT p.uscc FROM parties p WHERE p.uscc IS NOT NULL AND (p.id IN "
        "(SELECT party_id FROM contract_suppliers) OR p.id IN "
        "(SELECT subject_id FROM penalty_records)) ORDER BY p.id LIMIT 12"
    )
    assert len(usccs) > 3
    seen = {"contracts": 0, "penalties": 0, "transactions": 0}
    for uscc in [*usccs, "91110000000000000X"]:
        path, body = hubs.both(SHAPE_B, {"uscc": uscc})
        assert path == "planned"
        for supplier in orjson.loads(body)["data"]["suppliers"]["nodes"]:
            seen["contracts"] += len(supplier["contracts"]["nodes"])
            seen["penalties"] += len(supplier["penalties"])
            seen["transactions"] += len(supplier["transactions"]["nodes"])
    assert all(seen.values()), seen  # each nested list was compared with rows in it


@pytest.mark.parametrize(
    "order",
    [None, {"field": "AMOUNT", "direction": "DESC"}, {"field": "UNIT_PRICE", "direction": "ASC"},
     {"field": "PUBLISHED_AT"}, {"field": "RECEIVED_AT"}, {"field": "ID", "direction": "ASC"}],
)  # fmt: skip
def test_pages_walked_by_cursor_are_the_resolvers_pages(hubs: Hubs, order: Any) -> None:
    after, pages = None, 0
    while pages < 4:
        path, body = hubs.both(EVERYTHING, {"first": 37, "after": after, "order": order})
        assert path == "planned"
        page = orjson.loads(body)["data"]["transactions"]
        assert len(page["edges"]) == 37
        after, pages = page["pageInfo"]["endCursor"], pages + 1


def test_parties_with_nested_pages_are_planned(hubs: Hubs) -> None:
    query = """query($after: String) { parties(first: 15, after: $after) { totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id name uscc regionCode
        contracts(first: 2) { totalCount pageInfo { hasNextPage endCursor }
          edges { cursor node { id contractId amount dateSigned periodStart status } } }
        transactions(as: PURCHASER, first: 3, orderBy: {field: AMOUNT}) {
          nodes { orderId amount supplier { name } } pageInfo { hasNextPage } }
        penalties { id recordId fineAmount debarmentStart publishedAt } } } }"""
    after = None
    for _ in range(3):
        path, body = hubs.both(query, {"after": after})
        assert path == "planned"
        after = orjson.loads(body)["data"]["parties"]["pageInfo"]["endCursor"]
    # A nested list's next page: after a cursor it gave.
    query = """query($first: Int) { parties(first: 15) { nodes {
      transactions(as: PURCHASER, first: $first) { pageInfo { endCursor } } } } }"""
    _, body = hubs.both(query, {"first": 1})
    nodes = orjson.loads(body)["data"]["parties"]["nodes"]
    cursors = [n["transactions"]["pageInfo"]["endCursor"] for n in nodes]
    cursor = next(c for c in cursors if c)
    query = """query($after: String) { parties(first: 15) { nodes { name
      transactions(as: PURCHASER, first: 2, after: $after) {
        totalCount pageInfo { hasPreviousPage endCursor } nodes { orderId } } } } }"""
    path, _ = hubs.both(query, {"after": cursor})
    assert path == "planned"


def test_a_field_the_planner_does_not_cover_falls_back_alone(hubs: Hubs) -> None:
    query = """query Mixed($d: Date!) {
  publishers { name }
  transactions(first: 3, filter: {orderDate: {from: $d}}) { nodes { orderId amount } }
  scores: transparencyScores(groupBy: PURCHASER, first: 3) { rank score projects }
}"""
    path, _ = hubs.both(query, {"d": "2024-01-01"})
    assert path == "partial"


def test_errors_of_the_fields_left_to_the_resolvers_keep_their_place(hubs: Hubs) -> None:
    # The node id is refused; its error names line 3, column 3, as the whole query has it.
    query = """query($d: Date!) {
  transactions(first: 2, filter: {orderDate: {from: $d}}) { nodes { orderId } }
  n: node(id: "not-an-id") { id }
}"""
    path, body = hubs.both(query, {"d": "2024-01-01"})
    assert path == "partial"
    answer = orjson.loads(body)
    assert answer["data"]["n"] is None and len(answer["data"]["transactions"]["nodes"]) == 2
    assert answer["errors"][0]["locations"] == [{"line": 3, "column": 3}]
    # A variable of each: the narrowed query keeps only the fallback's definition.
    query = """query Two(
  $d: Date!,
  $id: ID!
) { transactions(first: 2, filter: {orderDate: {from: $d}}) { nodes { orderId } }
    n: node(id: $id) { id } }"""
    path, body = hubs.both(query, {"d": "2024-01-01", "id": "bad"})
    assert path == "partial"
    assert orjson.loads(body)["errors"][0]["locations"] == [{"line": 5, "column": 5}]


def test_the_planner_switch_is_named_when_wrong() -> None:
    assert Settings.from_env({"CAIGOU_PLANNER": "off"}).planner is False
    assert Settings.from_env({}).planner is True
    with pytest.raises(ValueError, match="CAIGOU_PLANNER"):
        Settings.from_env({"CAIGOU_PLANNER": "maybe"})


@pytest.mark.parametrize(
    "arguments",
    [
        "first: 1000",
        "first: -1",
        'after: "not a cursor"',
        'after: "' + base64.urlsafe_b64encode(b"[1]").decode() + '", '
        "orderBy: {field: AMOUNT}",  # a cursor of another ordering
        'filter: {regionCode: "12"}',
        "last: 2",
    ],
)
def test_a_planned_field_with_a_bad_argument_gives_the_resolvers_error(
    hubs: Hubs, arguments: str
) -> None:
    query = f"{{ transactions({arguments}) {{ nodes {{ orderId }} }} }}"
    path, body = hubs.both(query)
    assert path == "fallback"
    if arguments != "last: 2":
        assert orjson.loads(body)["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_counts_and_flags_alone_are_one_row_however_long_the_page(hubs: Hubs) -> None:
    for query in (
        "{ transactions { totalCount } }",
        "{ transactions(first: 0) { totalCount pageInfo { hasPreviousPage } } }",
        "{ transactions(first: 50) { pageInfo { __typename hasPreviousPage } } }",
        '{ transactions(filter: {brand: "none such"}) { totalCount __typename } }',
        '{ transactions(filter: {brand: "none such"}) { nodes { orderId } pageInfo { '
        "hasNextPage startCursor endCursor } } }",
        "{ parties(first: 3) { nodes { contracts { totalCount } transactions { totalCount } } } }",
    ):
        path, _ = hubs.both(query)
        assert path == "planned"


def test_an_unknown_ocid_is_null_and_the_other_fields_answer(hubs: Hubs) -> None:
    ocid = hubs.sql("SELECT ocid FROM projects ORDER BY id LIMIT 1")[0]
    query = """query($ocid: String!) {
  missing: project(ocid: "ocds-none-such") { title }
  found: project(ocid: $ocid) { id ocid title budget purchaser { name } agency { name } }
  transactions(first: 1) { nodes { orderId } }
}"""
    path, body = hubs.both(query, {"ocid": ocid})
    assert path == "planned"
    data = orjson.loads(body)["data"]
    assert data["missing"] is None and data["found"]["ocid"] == ocid
    assert "errors" not in orjson.loads(body)


def test_fragments_directives_and_aliases_are_planned(hubs: Hubs) -> None:
    query = """query($skip: Boolean!) {
  ...Root
  second: transactions(first: 2, after: null) @include(if: true) { nodes { ...T } }
}
fragment Root on Query { first: transactions(first: 2) { nodes { ...T } } }
fragment T on Transaction { orderId price: unitPrice supplier @skip(if: $skip) { name } }"""
    path, _ = hubs.both(query, {"skip": True})
    assert path == "fallback"  # a fragment at the root: the whole query to the resolvers
    query = query.replace("  ...Root\n", "  first: transactions(first: 2) { nodes { ...T } }\n")
    query = query.replace("fragment Root on Query { first: transactions(first: 2) { nodes "
                          "{ ...T } } }\n", "")  # fmt: skip
    for skip in (True, False):
        path, _ = hubs.both(query, {"skip": skip})
        assert path == "planned"


def test_a_planned_get_revalidates_with_its_etag(hubs: Hubs) -> None:
    params = {"query": "{ transactions(first: 3) { nodes { orderId amount } } }"}
    first = web.get(f"{hubs.on}/graphql", params=params, timeout=60)
    assert first.headers["x-caigou-plan"] == "planned" and first.headers["etag"]
    again = web.get(
        f"{hubs.on}/graphql", params=params, headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304
    metrics = web.get(f"{hubs.on}/metrics").text
    assert 'caigou_graphql_plan_total{outcome="planned"}' in metrics
