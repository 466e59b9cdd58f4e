"""A planned statement cut short by CAIGOU_QUERY_TIMEOUT is answered once, on PostgreSQL.

Before, the failure sent the whole request to the resolvers, which ran the same slow
statement again and waited the limit out a second time. The planned answer is now the
resolvers' own error (QUERY_TIMEOUT, same message, path and location), given at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine, inspect

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from tests.conftest import fresh_database
from tests.hub_server import running
from tests.web_client import web

SLOW = """{ transactionStats(groupBy: [BRAND, MONTH, SUPPLIER], limit: 1000) {
    count amount { sum avg } unitPrice { min max } } }"""


@dataclasses.dataclass
class Served:
    planned: str
    off: str

    def timeouts(self, base: str) -> float:
        """Statements the hub at `base` saw cut short (its /metrics: every path counts)."""
        text = web.get(f"{base}/metrics", timeout=30).text
        line = next(x for x in text.splitlines() if x.startswith("caigou_statement_timeouts_total"))
        return float(line.split()[-1])


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder: Path = tmp_path_factory.mktemp("plan-timeouts")
    with fresh_database("postgresql", request, folder) as url:
        settings = Settings(url, str(folder / "exports"), None, query_timeout=0.05)
        app = create_app(settings)
        engine: Engine = app.state.engine
        files = generate(folder / "demo", projects=5, transactions=300, penalties=5)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        columns = [
            c["name"] for c in inspect(engine).get_columns("transactions") if c["name"] != "id"
        ]
        values = [
            "order_id || '-' || CAST(n AS VARCHAR)" if c == "order_id" else c for c in columns
        ]
        with engine.begin() as conn:  # ~200k transactions: an aggregate well past 50 ms
            conn.exec_driver_sql(
                "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 700) "
                f"INSERT INTO transactions ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM transactions, s"
            )
        off = create_app(dataclasses.replace(settings, planner=False))
        with running(app) as base, running(off) as off_base:
            yield Served(base, off_base)
        off.state.engine.dispose()
        engine.dispose()


def _post(base: str, query: str) -> httpx.Response:
    response = web.post(f"{base}/graphql", json={"query": query}, timeout=60)
    assert response.status_code == 200, response.text
    return response


def _bare(response: httpx.Response) -> dict:
    answer = orjson.loads(response.content)
    answer.get("extensions", {}).pop("request_id", None)
    return answer


def test_a_planned_statement_past_the_limit_is_answered_once(served: Served) -> None:
    before = served.timeouts(served.planned)
    planned = _post(served.planned, SLOW)
    assert planned.headers["x-caigou-plan"] == "planned"
    assert served.timeouts(served.planned) == before + 1  # before: again, in the resolvers
    answer = _bare(planned)
    assert answer["errors"][0]["extensions"]["code"] == "QUERY_TIMEOUT", answer
    assert "CAIGOU_QUERY_TIMEOUT" in answer["errors"][0]["message"]
    assert orjson.loads(planned.content)["extensions"]["request_id"]
    before = served.timeouts(served.planned)  # asked again: the plan kept, run on the loop
    assert _bare(_post(served.planned, SLOW)) == answer
    assert served.timeouts(served.planned) == before + 1
    before = served.timeouts(served.off)
    assert answer == _bare(_post(served.off, SLOW))  # the resolvers' very answer
    assert served.timeouts(served.off) == before + 1


def test_beside_a_field_that_answers(served: Served) -> None:
    """A fast field in the same query: the resolvers' answer, with one wait."""
    query = SLOW.replace("{ transactionStats", "{ publishers { name } transactionStats")
    before = served.timeouts(served.planned)
    planned = _post(served.planned, query)
    assert served.timeouts(served.planned) == before + 1
    assert _bare(planned) == _bare(_post(served.off, query))
