"""`search` planned (hub/read/search_plan.py) gives the resolvers' answer, byte for byte.

Each query runs through the real server (strawberry's resolvers) and through the planned path
on the same search backend and database, on both backends: SQLite FTS5 and Elasticsearch on
PostgreSQL. The planned answer's bytes must equal the server's `data.search` written by the
same encoder (orjson, which keeps key order and float digits when it reads the answer).
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    get_named_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values
from sqlalchemy import Engine
from strawberry.types.arguments import convert_arguments

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.graphql.context import SearchHere
from hub.graphql.schema import schema as hub_schema
from hub.read.plan.selection import Selection
from hub.read.search_plan import compile_search, run_planned
from indexer.worker import run as drain_outbox
from tests.conftest import fresh_database
from tests.elastic_fixtures import elastic_url  # noqa: F401  (a fixture)
from tests.hub_server import running
from tests.indexing import caught_up
from tests.web_client import web

GRAPHQL: GraphQLSchema = hub_schema._schema
SCALARS = hub_schema.schema_converter.scalar_registry

PAGE = """query($q: String!, $first: Int, $after: String, $filter: SearchFilterInput,
                $kinds: [SearchKind!], $order: SearchOrder) {
  search(query: $q, first: $first, after: $after, filter: $filter, kinds: $kinds,
         orderBy: $order) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor kind score highlights { field fragments }
      node { __typename
        ... on Transaction { id orderId itemName brand model amount unitPrice quantity
          orderDate channel regionCode categoryCode
          supplier { id name uscc regionCode } purchaser { name } }
        ... on Party { id name uscc address }
        ... on Notice { title noticeType ocid }
        ... on PenaltyRecord { recordId decisionDate fineAmount } } }
    facets { kind { key label count } channel { key label count } region { key label count }
             category { key label count } noticeType { key label count } year { key count } }
    amount { count sum min max avg }
  }
}"""
ONLY_ORDERS = """query($q: String!) { s: search(query: $q, first: 7) {
  nodes { ... on Transaction { amount t: orderId supplier { name } } } totalCount } }"""
NO_NODES = """query($q: String!) { search(query: $q) { edges { cursor kind score } } }"""


def search_selection(query: str, variables: dict[str, Any]) -> Selection:
    """The `search` root field as the planner's builder hands it over: fragments on the union
    as type-conditioned groups (name ""), other fragments inlined, arguments coerced."""
    document = parse(query)
    assert not validate(GRAPHQL, document)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")
                 and not isinstance(d, InlineFragmentNode)}  # fmt: skip
    coerced = get_variable_values(GRAPHQL, operation.variable_definitions or (), variables)
    assert not isinstance(coerced, list), coerced  # a list: the variables' errors

    def build(nodes: Any, parent: Any) -> tuple[Selection, ...]:
        out: list[Selection] = []
        for node in nodes:
            if isinstance(node, FieldNode):
                name = node.name.value
                if name == "__typename":
                    out.append(Selection(node.alias.value if node.alias else name, name))
                    continue
                definition = parent.fields[name]
                named = get_named_type(definition.type)
                args = get_argument_values(definition, node, coerced)
                field = definition.extensions.get("strawberry-definition")
                python = convert_arguments(args, field.arguments, config=hub_schema.config,
                                           scalar_registry=SCALARS) if field else {}  # fmt: skip
                children = build(node.selection_set.selections, named) if node.selection_set \
                    else ()  # fmt: skip
                key = node.alias.value if node.alias else name
                out.append(Selection(key, name, python, children, named.name))
                continue
            fragment = fragments[node.name.value] if isinstance(node, FragmentSpreadNode) \
                else node  # fmt: skip
            condition = GRAPHQL.get_type(fragment.type_condition.name.value)
            inner = build(fragment.selection_set.selections, condition)
            if isinstance(parent, GraphQLUnionType):
                out.append(Selection("", "", {}, inner, condition.name))  # type: ignore[union-attr]
            else:
                assert isinstance(parent, GraphQLObjectType) and condition is parent
                out += inner
        return tuple(out)

    root = build(operation.selection_set.selections, GRAPHQL.query_type)
    return next(s for s in root if s.name == "search")


@dataclass
class Hub:
    base: str
    engine: Engine
    search: Any
    off: str  # the same database and index, served with CAIGOU_PLANNER=off

    def both(self, query: str, **variables: Any) -> tuple[bytes, bytes | None]:
        """(the server's `search` value re-encoded, the planned bytes or None if declined)."""
        answer = web.post(f"{self.base}/graphql", json={"query": query, "variables": variables},
                            timeout=30).json()  # fmt: skip
        assert "errors" not in answer, answer["errors"]
        key = next(iter(answer["data"]))
        plan = compile_search(search_selection(query, variables), self.engine.dialect.name)
        if plan is None:
            return orjson.dumps(answer["data"][key]), None

        with self.engine.connect() as conn:
            return orjson.dumps(answer["data"][key]), run_planned(
                plan, conn, SearchHere(self.search)
            )


@pytest.fixture(scope="module", params=["embedded", "elasticsearch"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    backend = request.param
    folder = tmp_path_factory.mktemp(f"plan-{backend}")
    dialect = "sqlite" if backend == "embedded" else "postgresql"
    with fresh_database(dialect, request, folder) as url:
        es_url = request.getfixturevalue("elastic_url") if backend == "elasticsearch" else None
        settings = Settings(
            url, str(folder / "exports"), es_url, f"caigou-plan-{uuid.uuid4().hex[:8]}"
        )
        app = create_app(settings)
        engine: Engine = app.state.engine
        files = generate(folder / "demo", projects=30, transactions=1_500, penalties=30)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        search = app.state.search
        off = create_app(dataclasses.replace(settings, planner=False))
        with running(app) as base, running(off) as off_base:
            if es_url:
                drain_outbox(engine, search.backend, once=True)
                search.backend.refresh()
            else:
                caught_up(engine)
            yield Hub(base, engine, search, off_base)
        if es_url:
            search.backend.drop_all()
        off.state.engine.dispose()
        engine.dispose()


def _words(hub: Hub) -> list[str]:
    with hub.engine.connect() as conn:
        items = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT item_name FROM transactions GROUP BY item_name ORDER BY count(*) DESC LIMIT 3"
            )
        ]
        names = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT p.name FROM parties p JOIN transactions t ON t.supplier_id = p.id "
                "GROUP BY p.name ORDER BY count(*) DESC LIMIT 2"
            )
        ]
        brands = [r[0] for r in conn.exec_driver_sql(
            "SELECT brand || ' ' || model FROM transactions WHERE brand IS NOT NULL "
            "AND model IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 2")]  # fmt: skip
    return [*items, *names, *brands, "采购", "处罚"]


def test_a_planned_page_is_the_resolvers_answer_byte_for_byte(hub: Hub) -> None:
    compared = 0
    for word in _words(hub):
        for variables in ({}, {"first": 3}, {"kinds": ["TRANSACTION"], "order": "AMOUNT"},
                          {"filter": {"channel": "emall"}}, {"order": "DATE", "first": 50}):  # fmt: skip
            served, planned = hub.both(PAGE, q=word, **variables)
            assert planned is not None, (word, variables)
            assert planned == served, (word, variables)
            page = orjson.loads(served)
            compared += len(page["edges"])
            if page["pageInfo"]["hasNextPage"]:  # the next page, through the cursor
                after = page["pageInfo"]["endCursor"]
                served, planned = hub.both(PAGE, q=word, after=after, **variables)
                assert planned and _no_pit(planned) == _no_pit(served), (word, variables, "page 2")
    assert compared > 200  # hits of every kind, not a run of empty pages


def _no_pit(answer: bytes) -> bytes:
    """The answer with each cursor's point in time left out: on Elasticsearch every search
    past the first page opens one of its own, so two searches' cursors differ in it alone."""
    page = orjson.loads(answer)

    def bare(cursor: str | None) -> Any:
        values = orjson.loads(base64.urlsafe_b64decode(cursor)) if cursor else []
        return [v for v in values if not (isinstance(v, str) and v.startswith("pit:"))]

    for edge in page["edges"]:
        edge["cursor"] = bare(edge["cursor"])
    for end in ("startCursor", "endCursor"):
        page["pageInfo"][end] = bare(page["pageInfo"][end])
    return orjson.dumps(page)


def test_aliases_nodes_and_a_page_without_records(hub: Hub) -> None:
    for word in _words(hub)[:4]:
        for query in (ONLY_ORDERS, NO_NODES):
            served, planned = hub.both(query, q=word)
            assert planned is not None and planned == served, (query, word)
            assert orjson.loads(served)


@pytest.mark.parametrize(
    "query, variables",
    [
        (PAGE, {"first": 101}),  # over the limit: the resolver's error
        (PAGE, {"after": "not-a-cursor"}),
        (PAGE, {"filter": {"regionCode": "12"}}),  # not a division code
        (PAGE, {"q": "-词"}),  # nothing but an exclusion
        ("query($q: String!) { search(query: $q) { indexLag { pending } } }", {}),
        (
            "query($q: String!) { search(query: $q) { nodes { ... on Transaction { region { name } } } } }",
            {},
        ),
        (
            "query($q: String!) { search(query: $q) { nodes { ... on Notice { publishedAt } } } }",
            {},
        ),
        ("query($q: String!) { search(query: $q) { nodes { ... on Node { id } } } }", {}),
    ],
)
def test_what_it_is_not_sure_of_it_leaves_to_the_resolvers(query: str, variables: dict) -> None:
    assert compile_search(search_selection(query, {"q": "复印纸", **variables}), "sqlite") is None


def _served(base: str, query: str, variables: dict[str, Any]) -> httpx.Response:
    return web.post(f"{base}/graphql", json={"query": query, "variables": variables},
                      timeout=30)  # fmt: skip


def test_the_server_plans_a_search_and_answers_as_without_the_planner(hub: Hub) -> None:
    """Through the real server: header `planned`, the bytes of CAIGOU_PLANNER=off."""
    alongside = PAGE.replace("search(query", "transactions(first: 2) { totalCount nodes { "
                             "orderId supplier { name } } }\n  search(query")  # fmt: skip
    for word in _words(hub)[:3]:
        for query, variables in ((PAGE, {"q": word}), (ONLY_ORDERS, {"q": word}),
                                 (alongside, {"q": word, "first": 5})):  # fmt: skip
            planned, off = _served(hub.base, query, variables), _served(hub.off, query, variables)
            assert planned.headers["x-caigou-plan"] == "planned", (query, planned.text)
            assert off.headers["x-caigou-plan"] == "fallback"
            assert planned.content == off.content, (word, query)
            # kept: asked again, on PostgreSQL answered on the event loop (Elasticsearch's
            # async client, the records from the loop's pool), the very same bytes
            again = [_served(hub.base, query, variables) for _ in range(2)]
            assert [r.content for r in again] == [off.content] * 2, (word, query)
            page = orjson.loads(planned.content)["data"]
            if "search" in page and page["search"]["pageInfo"]["hasNextPage"]:
                after = {**variables, "after": page["search"]["pageInfo"]["endCursor"]}
                planned, off = _served(hub.base, query, after), _served(hub.off, query, after)
                assert planned.headers["x-caigou-plan"] == "planned"
                data = (orjson.loads(r.content)["data"]["search"] for r in (planned, off))
                assert _no_pit(orjson.dumps(next(data))) == _no_pit(orjson.dumps(next(data)))


def test_a_search_the_planner_is_not_sure_of_goes_to_the_resolvers(hub: Hub) -> None:
    query = "query($q: String!) { search(query: $q) { nodes { ... on Node { id } } } }"
    served = _served(hub.base, query, {"q": "采购"})
    assert served.headers["x-caigou-plan"] == "fallback"
    assert served.content == _served(hub.off, query, {"q": "采购"}).content
