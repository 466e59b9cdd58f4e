"""Notice details through a running hub: GraphQL, search and the project page.

SQLite with the embedded index and PostgreSQL with the real Elasticsearch, as deployed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.app import create_app
from hub.config import Settings
from hub.publishing import ingest_records
from hub.publishing.publishers import add_publisher
from indexer.worker import run as drain_outbox
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.details_data import EXPERTS, OCID, detailed_releases
from tests.elastic_fixtures import elastic_url  # noqa: F401  (a fixture)
from tests.hub_server import graphql, running
from tests.indexing import caught_up
from tests.web_client import web

JILIN = "吉林省政府采购网"


@dataclass
class DetailsHub:
    base: str
    engine: Engine

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = graphql(self.base, query, variables)
        assert "errors" not in answer, answer["errors"]
        return answer["data"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=["embedded", "elasticsearch"])
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DetailsHub]:
    backend = request.param
    folder = tmp_path_factory.mktemp(f"details-{backend}")
    dialect = "sqlite" if backend == "embedded" else "postgresql"
    with fresh_database(dialect, request, folder) as url:
        es_url = request.getfixturevalue("elastic_url") if backend == "elasticsearch" else None
        settings = Settings(
            url, str(folder / "exports"), es_url, f"caigou-test-{uuid.uuid4().hex[:8]}"
        )
        app = create_app(settings)
        engine: Engine = app.state.engine
        with engine.begin() as conn:
            add_publisher(conn, JILIN, PublisherRole.regional_site, ["220000"], [RecordKind.notice])
        result = ingest_records(engine, JILIN, RecordKind.notice, detailed_releases())
        assert result.status == "accepted", result.refusals
        target = app.state.search.backend
        with running(app) as base:
            if es_url:
                drain_outbox(engine, target, once=True)
                target.refresh()
            else:
                caught_up(engine)
            yield DetailsHub(base, engine)
        if es_url:
            target.drop_all()
        engine.dispose()


PROJECT = """
query P($ocid: String!) {
  project(ocid: $ocid) {
    budget ceilingPrice agencyFee smeSetAside consortiumAllowed
    agency { address contactName contactTelephone }
    items { lotId name specification quantity unit unitPrice }
    evaluationExperts { awardId name role }
    lots { lotId ceilingPrice smeSetAside consortiumAllowed items { name } }
    awards { awardId items { name specification unitPrice } evaluationExperts { name } }
    notices { noticeType publicityStart publicityEnd publicityDays evaluationExperts { name } }
  }
}"""


def test_graphql_shows_the_details_and_experts_only_on_the_result(hub: DetailsHub) -> None:
    project = hub.data(PROJECT, {"ocid": OCID})["project"]
    assert (project["budget"], project["ceilingPrice"], project["agencyFee"]) == (
        "480000.00", "480000.00", "6897.00"
    )  # fmt: skip
    assert (project["smeSetAside"], project["consortiumAllowed"]) == (True, False)
    assert project["agency"] == {
        "address": "长春市朝阳区人民大街1号", "contactName": "刘工", "contactTelephone": "0431-88886666"
    }  # fmt: skip
    assert [(i["name"], i["specification"], i["unitPrice"]) for i in project["items"]] == [
        ("台式计算机", "i5-13500/16G/512G SSD", "2900.0000"),
        ("复印纸", "A4 70g 500张/包", "0.0050"),
    ]
    lots = {lot["lotId"]: lot for lot in project["lots"]}
    assert lots["L1"]["ceilingPrice"] == "290000.00" and lots["L1"]["smeSetAside"] is True
    assert [i["name"] for i in lots["L2"]["items"]] == ["复印纸"]
    assert lots["L2"]["consortiumAllowed"] is True
    [award] = project["awards"]
    assert award["items"] == [
        {"name": "台式计算机", "specification": "联想 启天M4360", "unitPrice": "2898.0000"}
    ]
    names = [x["name"] for x in EXPERTS]
    assert [e["name"] for e in award["evaluationExperts"]] == names
    assert [(e["name"], e["role"]) for e in project["evaluationExperts"]] == [
        (x["name"], x["role"]) for x in EXPERTS
    ]
    by_type = {n["noticeType"]: n for n in project["notices"]}
    assert [e["name"] for e in by_type["result"]["evaluationExperts"]] == names
    assert all(not n["evaluationExperts"] for t, n in by_type.items() if t != "result")
    assert (by_type["tender"]["publicityDays"], by_type["tender"]["publicityEnd"]) == (
        5, "2024-03-07T17:00:00"
    )  # fmt: skip


SEARCH = """
query S($q: String!) {
  search(query: $q, kinds: [NOTICE], first: 20) {
    edges { node { ... on Notice { releaseId } } }
  }
}"""


@pytest.mark.parametrize("words", ["启天M4360", "i5-13500", "复印纸"])
def test_item_names_and_models_find_the_projects_notices(hub: DetailsHub, words: str) -> None:
    edges = hub.data(SEARCH, {"q": words})["search"]["edges"]
    found = {e["node"]["releaseId"] for e in edges}
    assert {r["id"] for r in detailed_releases()} <= found


def test_the_project_page_shows_the_details(hub: DetailsHub) -> None:
    response = web.get(f"{hub.base}/projects/{OCID}", timeout=30)
    assert response.status_code == 200
    page = response.text
    for shown in ("最高限价", "¥480,000.00", "代理服务收费金额", "¥6,897.00",
                  "专门面向中小企业", "是否接受联合体", "0431-88886666", "长春市朝阳区人民大街1号",
                  "i5-13500/16G/512G SSD", "联想 启天M4360", "0.005", "2,898.00",
                  "公告期限：2024-03-01 至 2024-03-07（5天）", "评审专家名单",
                  "王建国（评审组长）", "张秀英（采购人代表）"):  # fmt: skip
        assert shown in page, shown
