"""The planner's caches stay bounded whatever the client sends (a reviewer grew a worker
from 297 to 607 MB with one query and a fresh 3 kB variable per request)."""

from __future__ import annotations

from graphql import parse

from hub.graphql.schema import schema
from hub.read.plan.kept import Kept
from hub.read.plan.run import KEPT_TEXT, PLANNED, Planner

QUERY = """query Q($region: String) { transactions(first: 100, filter: {regionCode: $region})
  { nodes { orderId amount supplier { name } } } }"""


def test_plans_for_ever_new_variables_keep_to_the_text_budget() -> None:
    planner = Planner(schema)
    document = parse(QUERY)
    for i in range(400):
        junk = f"{i:06d}" + "x" * 3000  # a fresh, long (undeclared) variable each time
        variables = {"region": "110105", "junk": junk}
        prepared = planner.prepare(document, QUERY, None, variables, "sqlite")
        assert prepared.outcome == PLANNED
    assert planner.plans.used <= KEPT_TEXT
    assert len(planner.plans.items) < 100  # 400 asked, the oldest let go


def test_a_repeated_request_reuses_its_plan() -> None:
    planner = Planner(schema)
    document = parse(QUERY)
    first = planner.prepare(document, QUERY, None, {"region": "110105"}, "sqlite")
    assert planner.prepare(document, QUERY, None, {"region": "110105"}, "sqlite") is first


def test_kept_lets_the_oldest_go_and_never_keeps_one_over_budget() -> None:
    kept: Kept[str, int] = Kept(entries=10, text_bytes=100)
    for i in range(5):
        kept.put(str(i), i, 30)
    assert list(kept.items) == ["2", "3", "4"] and kept.used == 90
    kept.put("big", 0, 101)
    assert "big" not in kept.items
