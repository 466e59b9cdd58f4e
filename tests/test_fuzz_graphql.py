"""GraphQL fuzzing against a real hub: generated queries and publishes, 0 server errors.

hypothesis-graphql writes valid and invalid operations over the checked-in `schema.graphql`;
they go over HTTP to a uvicorn hub on a small demo database (SQLite and PostgreSQL). A
server error is an HTTP 5xx, an `Unexpected error.`, or an error without `extensions.code`.
Each test runs every example, then fails once with the distinct faults found, each with its
shortest reproducing request and the traceback's innermost project frame (read from the
server's own log), so one run gives the whole list. `CAIGOU_TEST_FUZZ_EXAMPLES` scales the
number of examples (default: 420 generated requests and 16 known ones a dialect).
"""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries
from sqlalchemy import Engine, func, select

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.graphql.errors import ApiError
from hub.publishing.publishers import add_publisher
from hub.read.cursors import global_id
from schema.tables import Notice, PenaltyRecord, Transaction
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.factories import penalty, project_releases, transaction
from tests.hub_server import running
from tests.web_client import web

SCHEMA = graphql.build_schema((Path(__file__).parents[1] / "schema.graphql").read_text("utf-8"))
SCALE = float(os.environ.get("CAIGOU_TEST_FUZZ_EXAMPLES", "1"))
PROJECT_DIRS = {"hub", "schema", "indexer", "exports"}
ROOT = Path(__file__).resolve().parents[1]


def examples(n: int) -> Any:
    """Bounded, reproducible runs: the lead reruns the same inputs after the fixes land."""
    return settings(
        max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )  # fmt: skip


# --- what a hostile client sends ---------------------------------------------------------

NASTY_TEXT = st.sampled_from([
    "", " ", "\x00", "a\x00b", "9999-12-31", "2024-02-30", "0000-01-01", "-1", "1e400", "NaN",
    "Infinity", "18446744073709551616", "-9223372036854775809", "0.0000000000000000000001",
    "=HYPERLINK(\"http://x\")", "'; DROP TABLE transactions; --", "\ufeff", "\ud7ff", "x" * 70_000,
    "91220101MA0Y12345X", "2024-03-01T25:61:00", "2024-03-01garbage", "%s%n", "\\", "\"",
])  # fmt: skip
TEXT = st.one_of(NASTY_TEXT, st.text(max_size=40))
DATES = st.one_of(st.dates().map(str), NASTY_TEXT, st.text(max_size=12))
DATETIMES = st.one_of(st.datetimes().map(lambda d: d.isoformat()), DATES)
NUMBERS = st.one_of(
    st.decimals(allow_nan=False, places=2).map(str),
    st.integers().map(str),
    NASTY_TEXT,
    st.integers(min_value=2**63 - 2, max_value=2**80).map(str),
)
BIG_INT = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 2**31, 2**63]))


def ids(samples: list[str]) -> st.SearchStrategy[str]:
    made = st.builds(global_id, st.sampled_from(["Transaction", "Project", "Party", "Nope", ""]),
                     BIG_INT)  # fmt: skip
    return st.one_of(st.sampled_from(samples), made, TEXT)


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(), st.booleans(), BIG_INT, st.floats(allow_nan=False, allow_infinity=False), TEXT
    )
    return st.recursive(
        leaves, lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), inner, max_size=3),
        ), max_leaves=max_leaves,
    )  # fmt: skip


def value_node(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal (object keys must be GraphQL names)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(value_node(v) for v in value))
    return nodes.Object([
        graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=value_node(v))
        for k, v in value.items()
    ])  # fmt: skip


def scalars(samples: list[str]) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    return {
        "ID": ids(samples).map(nodes.String),
        "Date": DATES.map(nodes.String),
        "DateTime": DATETIMES.map(nodes.String),
        "Decimal": st.one_of(NUMBERS.map(nodes.String), BIG_INT.map(nodes.Int)),
        "JSON": st.one_of(records(), json_values()).map(value_node),
    }


def mutated(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A good record with a few fields set to hostile values, removed, or one unknown added."""
    hostile = st.one_of(TEXT, NUMBERS, json_values(3))

    def build(changes: dict[str, Any], removed: list[str], extra: bool) -> dict[str, Any]:
        record = {k: v for k, v in {**base, **changes}.items() if k not in removed}
        return {**record, "surprise": "!"} if extra else record

    return st.builds(build, st.dictionaries(st.sampled_from(keys), hostile, max_size=3),
                     st.lists(st.sampled_from(keys), max_size=1), st.booleans())  # fmt: skip


def records() -> st.SearchStrategy[dict[str, Any]]:
    unique = st.uuids().map(lambda u: u.hex[:14].upper())
    rows = st.one_of(
        unique.flatmap(lambda i: mutated(transaction(f"FZ{i}"), list(transaction()))),
        unique.flatmap(lambda i: mutated(penalty(f"FZ-{i}"), list(penalty()))),
        st.builds(lambda i, n: {**project_releases(f"ocds-cghub1-FZ{i}")[n]}, unique,
                  st.integers(0, 3)).flatmap(lambda r: mutated(r, ["date", "tag", "ocid", "id",
                  "title", "buyer", "parties", "tender", "awards", "contracts", "classified"])),
    )  # fmt: skip
    return rows


# --- the hub, and what counts as a server error ------------------------------------------


@dataclass
class Fault:
    signature: str
    request: str
    detail: str


@dataclass
class Hub:
    base: str
    engine: Engine
    tokens: dict[str, str]
    samples: list[str]
    log: list[logging.LogRecord] = field(default_factory=list)
    faults: dict[str, Fault] = field(default_factory=dict)

    def send(self, request: dict[str, Any], token: str | None = None) -> httpx.Response:
        """One request; any server error is recorded under its signature, shortest kept."""
        response = self.post(request, token)
        for signature, detail in list(self.judge(response)):
            known = self.faults.get(signature)
            smallest = request if known else self.minimise(request, token, signature)
            shown = repr(smallest)[:2000] + (f" token={token[:8]}…" if token else "")
            if known is None or len(shown) < len(known.request):
                self.faults[signature] = Fault(signature, shown, detail)
        return response

    def post(self, request: dict[str, Any], token: str | None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.log.clear()
        if "raw" in request:
            headers["content-type"] = "application/json"
            return web.post(f"{self.base}/graphql", content=request["raw"], headers=headers,
                              timeout=60)  # fmt: skip
        return web.post(f"{self.base}/graphql", json=request, headers=headers, timeout=60)

    def minimise(
        self, request: dict[str, Any], token: str | None, signature: str
    ) -> dict[str, Any]:
        """The one root field of a generated operation that still gives `signature`."""
        try:
            document = graphql.parse(request.get("query") or "")
        except (graphql.GraphQLError, TypeError):
            return request
        operations = [
            d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)
        ]
        if len(document.definitions) != 1 or len(operations) != 1:
            return request
        operation = operations[0]
        for selection in operation.selection_set.selections:
            single = graphql.OperationDefinitionNode(
                operation=operation.operation, name=operation.name,
                variable_definitions=operation.variable_definitions, directives=operation.directives,
                selection_set=graphql.SelectionSetNode(selections=(selection,)),
            )  # fmt: skip
            smaller = {
                **request,
                "query": graphql.print_ast(graphql.DocumentNode(definitions=(single,))),
            }
            if any(s == signature for s, _ in self.judge(self.post(smaller, token))):
                return smaller
        return request

    def judge(self, response: httpx.Response) -> Iterator[tuple[str, str]]:
        where = self.where()
        if response.status_code >= 500:
            yield f"HTTP {response.status_code} {where}", response.text[:300]
            return
        try:
            body = response.json()
        except ValueError:
            return  # a plain-text 4xx ("Unable to parse request body as JSON"): a client error
        for error in (body.get("errors") or []) if isinstance(body, dict) else []:
            message = str(error.get("message", ""))
            code = (error.get("extensions") or {}).get("code")
            if message == "Unexpected error.":
                yield f"Unexpected error. {where}", message
            elif not code:
                yield f"no extensions.code: {_shape(message)}", message[:300]

    def where(self) -> str:
        """The exception and innermost project frame the server logged for this request."""
        for record in self.log:
            exc = record.exc_info[1] if record.exc_info else None
            if exc is None or isinstance(exc, ApiError):
                continue
            frames = traceback.extract_tb(exc.__traceback__)
            ours = [f for f in frames if _ours(f.filename)] or frames
            if not ours:
                return f"{type(exc).__name__} (no traceback): {str(exc).splitlines()[0][:100]}"
            path = Path(ours[-1].filename)
            place = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{ours[-1].lineno}"
            return f"{type(exc).__name__} at {place}: {str(exc).splitlines()[0][:100]}"
        return "(no traceback logged)"

    def counts(self) -> tuple[int, ...]:
        with self.engine.connect() as conn:
            return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                         for t in (Transaction, Notice, PenaltyRecord))  # fmt: skip

    def assert_no_faults(self, requests: int) -> None:
        listing = "\n".join(f"- {f.signature}\n    request: {f.request}\n    answer: {f.detail}"
                            for f in sorted(self.faults.values(), key=lambda f: f.signature))  # fmt: skip
        assert not self.faults, (
            f"{len(self.faults)} distinct server errors in {requests} requests:\n{listing}"
        )


def _ours(filename: str) -> bool:
    path = Path(filename)
    return path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in PROJECT_DIRS


def _shape(message: str) -> str:
    """A message's kind, values blanked, so that one fault is one signature."""
    kind = re.sub(r"'[^']*'|\"[^\"]*\"", "''", message.split(": ")[0])
    return re.sub(r"-?\d[\w.+-]*", "N", kind)[:120]


class _Capture(logging.Filter):
    """Takes the server's error records for `Hub.where` and keeps them out of pytest's report."""

    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__()
        self.sink = sink

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self.sink.append(record)
        return False


@pytest.fixture(scope="module")
def hub(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp(f"fuzz-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        # no rate limit: the generated requests come faster than 600 a minute (more with
        # CAIGOU_TEST_FUZZ_EXAMPLES)
        app = create_app(Settings(url, str(folder / "exports"), None, rate_limit=0))
        engine: Engine = app.state.engine
        files = generate(folder / "demo", projects=20, transactions=400, penalties=20)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        tokens = {}
        with engine.begin() as conn:
            for name, role, kind in [
                ("transaction", PublisherRole.trading_platform, RecordKind.transaction),
                ("notice", PublisherRole.regional_site, RecordKind.notice),
                ("penalty", PublisherRole.finance_department, RecordKind.penalty),
            ]:
                _, tokens[name] = add_publisher(conn, f"fuzz-{name}", role, ["220000"], [kind])
        sink: list[logging.LogRecord] = []
        capture = _Capture(sink)
        loggers = [logging.getLogger(n) for n in ("strawberry.execution", "uvicorn.error")]
        with running(app) as base:
            for logger in loggers:  # after uvicorn's own logging set-up
                logger.addFilter(capture)
            try:
                answer = web.post(f"{base}/graphql", json={"query": SAMPLE_IDS}, timeout=60).json()
                data = answer["data"]
                samples = [
                    n["id"]
                    for key in ("projects", "parties", "transactions", "penalties")
                    for n in data[key]["nodes"]
                ] + [n["ocid"] for n in data["projects"]["nodes"]]
                yield Hub(base, engine, tokens, samples, sink)
            finally:
                for logger in loggers:
                    logger.removeFilter(capture)
        engine.dispose()


SAMPLE_IDS = """{ projects(first: 3) { nodes { id ocid } } parties(first: 3) { nodes { id } }
  transactions(first: 3) { nodes { id } } penalties(first: 3) { nodes { id } } }"""


def fuzz(hub: Hub, strategy: st.SearchStrategy[Any], n: int,
         send: Callable[[Hub, Any], None], known: Sequence[Any] = ()) -> int:  # fmt: skip
    """Run the `known` inputs and `n` generated ones through `send`; returns how many."""
    sent = 0
    hub.faults.clear()

    @examples(n)
    @given(strategy)
    def run(example: Any) -> None:
        nonlocal sent
        sent += 1
        send(hub, example)

    for one in known:
        run = example(one)(run)
    run()
    return sent


# --- the fuzz ----------------------------------------------------------------------------


# What issue 13 lists, always tried before the generated inputs (the 40-level fragment
# fan-out is left to its own test: today it hangs the server for good).
KNOWN_QUERIES = [
    "{ transactionStats(groupBy: [SUPPLIER]) { count } }",
    "{ contractStats(groupBy: [PURCHASER]) { count } }",
    "{ awardStats(groupBy: [SUPPLIER]) { count } }",
    '{ node(id: "' + global_id("Party", 2**63) + '") { id } }',
    '{ project(ocid: "a\\u0000b") { ocid } }',
    '{ transactions(first: 1, filter: {orderDate: {from: "2024-02-30"}}) { totalCount } }',
    '{ transactions(first: 1, filter: {amount: {min: "1e400"}}) { totalCount } }',
]


def test_generated_valid_queries(hub: Hub) -> None:
    strategy = queries(SCHEMA, custom_scalars=scalars(hub.samples))
    sent = fuzz(hub, strategy, 150, lambda h, q: h.send({"query": q}), KNOWN_QUERIES)
    hub.assert_no_faults(sent)


def test_generated_invalid_queries(hub: Hub) -> None:
    strategy = queries(SCHEMA, custom_scalars=scalars(hub.samples), mode=Mode.NEGATIVE)
    known = ["{ nope }", "{ projects(first: 1) { nope } }", "{ projects(first: 1) {", "{}"]
    sent = fuzz(hub, strategy, 100, lambda h, q: h.send({"query": q}), known)
    hub.assert_no_faults(sent)


def test_generated_publish_mutations(hub: Hub) -> None:
    """Schema-driven `publish` with and without a token, records as literals."""
    tokens = st.sampled_from([None, "not-a-token", *hub.tokens.values()])
    strategy = st.tuples(mutations(SCHEMA, custom_scalars=scalars(hub.samples)), tokens)
    sent = fuzz(hub, strategy, 50, lambda h, qt: h.send({"query": qt[0]}, qt[1]))
    hub.assert_no_faults(sent)


PUBLISH = """mutation ($kind: PublishKind!, $records: [JSON!]!, $partial: Boolean!) {
  publish(kind: $kind, records: $records, partial: $partial) {
    status total accepted duplicates rejected refusals { position recordId field reason } } }"""


def test_publish_batches_in_variables(hub: Hub) -> None:
    """Batches as a publisher sends them: a refused batch leaves every count as it was."""
    batch = st.tuples(st.sampled_from(["TRANSACTION", "NOTICE", "PENALTY", "OTHER"]),
                      st.lists(st.one_of(records(), json_values(4)), max_size=4), st.booleans(),
                      st.sampled_from([None, "not-a-token", *hub.tokens.values()]))  # fmt: skip

    def send(h: Hub, example: tuple[str, list[Any], bool, str | None]) -> None:
        kind, rows, partial, token = example
        before = h.counts()
        request = {
            "query": PUBLISH,
            "variables": {"kind": kind, "records": rows, "partial": partial},
        }
        answer = h.send(request, token)
        result = (
            (answer.json().get("data") or {}).get("publish") if answer.status_code == 200 else None
        )
        if not result or result["status"] == "rejected":
            assert h.counts() == before, f"a refused batch changed the counts: {request}"
        else:
            assert sum(h.counts()) - sum(before) <= result["accepted"], request

    sent = fuzz(hub, batch, 60, send)
    hub.assert_no_faults(sent)


def test_hostile_request_bodies(hub: Hub) -> None:
    """Whatever the body, variables or operation name, the answer is a coded client error."""
    body = st.one_of(
        json_values(6).map(lambda v: {"raw": json.dumps(v).encode()}),
        st.binary(max_size=64).map(lambda b: {"raw": b}),
        st.fixed_dictionaries({"query": st.sampled_from([PUBLISH, SAMPLE_IDS, "{ node(id: $x) { id } }",
                                                         "query ($f: Int) { projects(first: $f) { totalCount } }"]),
                               "variables": json_values(6), "operationName": st.one_of(st.none(), TEXT)}),
        st.text(max_size=200).map(lambda q: {"query": q}),
    )  # fmt: skip
    known = [{"raw": b"123"}, {"raw": b"[]"}, {"raw": b"{"},
             {"query": "query ($f: Int) { projects(first: $f) { totalCount } }", "variables": {"f": "x"}},
             {"query": PUBLISH, "variables": {"kind": "TRANSACTION", "records": [{"order_id": 2**70}], "partial": False}}]  # fmt: skip
    sent = fuzz(hub, body, 60, lambda h, b: h.send(b), known)
    hub.assert_no_faults(sent)
