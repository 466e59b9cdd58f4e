"""Aggregates by every grouping, on SQLite and PostgreSQL, checked against the rows themselves.

They were only ever tested grouped by MONTH. Each test asks GraphQL (a running hub, the
planner at its default) for every measure and recomputes them in Python from the stored
rows: counts, net sums, means over purchases rounded to the fen (ties to even), minima,
maxima, and party keys with their names. Then the compiled statements of
hub/read/plan/stats.py are run by hand and must give the resolvers' JSON exactly.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import Engine, text

from hub.app import create_app
from hub.config import Settings
from hub.read.cursors import global_id
from hub.read.plan.stats import ROOT
from tests.conftest import fresh_database
from tests.hub_server import graphql, running
from tests.plan_queries import load_dataset, resolve, root_selections

GROUPS = {
    "transactionStats": ["SUPPLIER", "PURCHASER", "REGION", "CATEGORY", "MONTH", "BRAND"],
    "contractStats": ["SUPPLIER", "PURCHASER", "REGION", "CATEGORY", "MONTH"],
    "awardStats": ["SUPPLIER", "PURCHASER", "REGION", "CATEGORY", "MONTH"],
}
PAIRS = {
    "transactionStats": [["REGION", "BRAND"], ["SUPPLIER", "MONTH"]],
    "contractStats": [["MONTH", "SUPPLIER"]],
    "awardStats": [["SUPPLIER", "CATEGORY"]],
}
CASES = [(f, [g]) for f, groups in GROUPS.items() for g in groups] + [
    (f, pair) for f, pairs in PAIRS.items() for pair in pairs
]
MEASURE = "{ sum avg min max }"
# One row per record: the keys of every grouping, then amount, unit price, quantity (stored
# integers: fen, 0.0001 yuan, 0.001 units).
MONTH = "substr(CAST({} AS VARCHAR), 1, 7)"
ROWS = {
    "transactionStats": f"""SELECT supplier_id, purchaser_id, region_code, category_code,
        {MONTH.format("order_date")}, brand, amount, unit_price, quantity FROM transactions""",
    "contractStats": f"""SELECT c.supplier_id, p.purchaser_id, p.region_code, p.category_code,
        {MONTH.format("c.date_signed")}, NULL, c.amount, NULL, NULL
        FROM contracts c JOIN projects p ON p.id = c.project_id""",
    "awardStats": f"""SELECT NULL, p.purchaser_id, p.region_code, p.category_code,
        {MONTH.format("a.decision_date")}, NULL, a.amount, NULL, NULL
        FROM awards a JOIN projects p ON p.id = a.project_id""",
    # one row per winner: an award with two suppliers counts for each
    "awardStats SUPPLIER": f"""SELECT s.party_id, p.purchaser_id, p.region_code, p.category_code,
        {MONTH.format("a.decision_date")}, NULL, a.amount, NULL, NULL FROM awards a
        JOIN projects p ON p.id = a.project_id JOIN award_suppliers s ON s.award_pk = a.id""",
}
COLUMN = {"SUPPLIER": 0, "PURCHASER": 1, "REGION": 2, "CATEGORY": 3, "MONTH": 4, "BRAND": 5}
MONEY = re.compile(r"-?[0-9]+\.[0-9]{2}")  # 成交金额: always two places
PRICE = re.compile(r"-?[0-9]+\.[0-9]{2}([0-9]?[1-9])?")  # 单价: two, up to four when it has them


@dataclass
class Hub:
    base: str
    engine: Engine

    def sql(self, statement: str) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(text(statement)).all()


@pytest.fixture(scope="module")
def hub(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp(f"stats-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        app = create_app(Settings(url, str(folder / "exports"), None))
        engine: Engine = app.state.engine
        load_dataset(engine, folder)
        with running(app) as base:
            yield Hub(base, engine)
        engine.dispose()


def _mean(values: list[int]) -> int | None:
    """The mean of stored integers to a whole one, ties to even (as the docs promise)."""
    if not values:
        return None
    value = Fraction(sum(values), len(values))
    floor = value.numerator // value.denominator
    rest = value - floor
    return floor + (rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1))


def _measures(values: list[int], purchases: list[int], *, net: bool) -> dict[str, int | None]:
    """sum (net of returns for amounts), and the mean, min and max over purchases only."""
    total = values if net else purchases
    return {
        "sum": sum(total) if total else None, "avg": _mean(purchases),
        "min": min(purchases, default=None), "max": max(purchases, default=None),
    }  # fmt: skip


def _expected(hub: Hub, field: str, groups: list[str]) -> dict[tuple, dict[str, Any]]:
    source = f"{field} SUPPLIER" if field == "awardStats" and "SUPPLIER" in groups else field
    rows: dict[tuple, list[Any]] = defaultdict(list)
    for row in hub.sql(ROWS[source]):
        rows[tuple(row[COLUMN[g]] for g in groups)].append(row)
    names = dict(hub.sql("SELECT id, name FROM parties"))
    out = {}
    for keys, members in rows.items():
        shown = tuple(
            (global_id("Party", k), names.get(k)) if g in ("SUPPLIER", "PURCHASER") and k is not None
            else (None if k is None else str(k), None)
            for g, k in zip(groups, keys, strict=True)
        )  # fmt: skip
        bought = [r for r in members if r[8] is None or r[8] >= 0]  # quantity < 0: a return
        amounts = [r[6] for r in members if r[6] is not None]
        measures = {
            "count": len(members),
            "amount": _measures(amounts, [r[6] for r in bought if r[6] is not None], net=True),
        }
        if field == "transactionStats":
            prices = [r[7] for r in bought if r[7] is not None]
            measures["unitPrice"] = _measures(prices, prices, net=False)
        out[tuple(v for v, _ in shown)] = {"labels": [label for _, label in shown], **measures}
    return out


@pytest.mark.parametrize(("field", "groups"), CASES, ids=[f"{f}-{'+'.join(g)}" for f, g in CASES])
def test_every_grouping_has_the_numbers_of_its_rows(
    hub: Hub, field: str, groups: list[str]
) -> None:
    price = f"unitPrice {MEASURE}" if field == "transactionStats" else ""
    query = (f"{{ {field}(groupBy: [{', '.join(groups)}], limit: 1000) {{ "
             f"keys {{ group value label }} count amount {MEASURE} {price} }} }}")  # fmt: skip
    answer = graphql(hub.base, query)
    assert "errors" not in answer, answer["errors"]
    got = answer["data"][field]
    expected = _expected(hub, field, groups)
    assert len(got) == len(expected) and sum(r["count"] for r in got) == sum(
        e["count"] for e in expected.values()
    )
    for row in got:
        assert [k["group"] for k in row["keys"]] == groups
        want = expected[tuple(k["value"] for k in row["keys"])]
        assert [k["label"] for k in row["keys"]] == want["labels"], row
        assert row["count"] == want["count"], row
        for name, scale, shape in (("amount", 100, MONEY), ("unitPrice", 10_000, PRICE)):
            if name not in want:
                continue
            for measure, value in want[name].items():
                shown = row[name][measure]
                assert (shown is None) == (value is None), (row, name, measure)
                if shown is not None:
                    assert shape.fullmatch(shown), (name, measure, shown)
                    assert Decimal(shown) == Decimal(value) / scale, (row, name, measure, value)
    ordered = [tuple(k["value"] for k in r["keys"]) for r in got]
    assert len(set(ordered)) == len(ordered)  # one row per group
    if groups == ["MONTH"]:  # YYYY-MM sorts alike in every collation; no date: first or last
        months = [k[0] for k in ordered if k[0] is not None]
        nulls = [i for i, k in enumerate(ordered) if k[0] is None]
        assert months == sorted(months) and nulls in ([], [0], [len(ordered) - 1])


def test_the_edge_rows_round_ties_to_even_and_keep_returns_apart(hub: Hub) -> None:
    """The cases a user would notice first: 0.015 yuan is 0.02, 0.025 is 0.02, not 0.03."""
    query = """{ transactionStats(groupBy: [BRAND], limit: 1000) { keys { value } count
        amount { sum avg min max } unitPrice { sum avg min max } } }"""
    rows = {r["keys"][0]["value"]: r for r in graphql(hub.base, query)["data"]["transactionStats"]}
    assert rows["均值甲"]["amount"] == {"sum": "0.03", "avg": "0.02", "min": "0.01", "max": "0.02"}
    assert rows["均值甲"]["unitPrice"]["avg"] == "0.015"
    assert rows["均值乙"]["amount"]["avg"] == "0.02"  # 2.5 fen: to even
    assert rows["均值乙"]["unitPrice"] == {
        "sum": "0.0005", "avg": "0.0002", "min": "0.0001", "max": "0.0004"
    }  # fmt: skip
    assert rows["只退货"]["amount"] == {"sum": "-5.00", "avg": None, "min": None, "max": None}
    assert rows["只退货"]["unitPrice"] == {"sum": None, "avg": None, "min": None, "max": None}
    assert rows["小数"]["amount"]["sum"] == "112.35"  # 12.50 + 100.00 - 0.15
    assert rows["小数"]["unitPrice"]["min"] == "0.005"
    assert rows["小数"]["unitPrice"]["max"] == "33.3333"


def _compiled(hub: Hub, query: str) -> Any:
    out = {}
    with hub.engine.connect() as conn:
        for selection in root_selections(query):
            compiled = ROOT[selection.name](selection, hub.engine.dialect.name)
            assert compiled is not None, query
            out[selection.key] = json.loads(conn.execute(compiled.statement).scalar_one())
    return out


@pytest.mark.parametrize(("field", "groups"), CASES, ids=[f"{f}-{'+'.join(g)}" for f, g in CASES])
def test_the_compiled_aggregate_is_the_resolvers_json(
    hub: Hub, field: str, groups: list[str]
) -> None:
    price = "unitPrice { max sum __typename a: avg }" if field == "transactionStats" else ""
    query = f"""{{ first: {field}(groupBy: [{", ".join(groups)}], limit: 1000) {{
        __typename count keys {{ label __typename group value }} amount {{ min avg sum max }}
        {price} }}
      few: {field}(groupBy: [{", ".join(reversed(groups))}], limit: 3) {{ keys {{ value }}
        m: amount {{ avg }} count }} }}"""
    expected = resolve(hub.engine, query)
    got = _compiled(hub, query)
    assert json.dumps(got, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_the_compiled_aggregates_take_filters_and_decline_what_the_resolver_refuses(
    hub: Hub,
) -> None:
    [(code,)] = hub.sql("SELECT region_code FROM transactions ORDER BY id LIMIT 1")
    query = f"""{{ t: transactionStats(groupBy: [MONTH], filter: {{regionCode: "{code}",
        channel: "emall", amount: {{min: "0.02"}}}}) {{ keys {{ value }} count amount {{ sum avg }} }}
      c: contractStats(groupBy: [PURCHASER], filter: {{regionCode: "220000"}}) {{ count }}
      a: awardStats(groupBy: [REGION], regionCode: "{code}") {{ count amount {{ max }} }} }}"""
    assert json.dumps(_compiled(hub, query)) == json.dumps(resolve(hub.engine, query))
    refused = [
        "{ transactionStats(groupBy: []) { count } }",
        "{ contractStats(groupBy: [BRAND]) { count } }",
        "{ transactionStats(groupBy: [MONTH], limit: 1001) { count } }",
        "{ transactionStats(groupBy: [MONTH], limit: 0) { count } }",
        '{ awardStats(groupBy: [MONTH], regionCode: "12") { count } }',
        '{ transactionStats(groupBy: [MONTH], filter: {regionCode: "x"}) { count } }',
        '{ transactionStats(groupBy: [MONTH], filter: {supplierId: "bad"}) { count } }',
    ]
    for query in refused:
        [selection] = root_selections(query)
        assert ROOT[selection.name](selection, hub.engine.dialect.name) is None, query
