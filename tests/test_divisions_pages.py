"""Region and category names, not only codes, on `/`, `/transparency`, the project and party
pages and in GraphQL, from one read path (schema.divisions, the item catalogue)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.app import create_app
from hub.config import Settings
from hub.publishing import ingest_records
from hub.publishing.publishers import add_publisher
from schema.types import PublisherRole, RecordKind
from tests.factories import project_releases, transaction
from tests.hub_server import graphql, running
from tests.indexing import caught_up
from tests.web_client import web

OCID = "ocds-cghub1-JLZC2024-0153"
COUNTY = "220421 吉林省辽源市东丰县"
CATEGORY = "A02010105 台式计算机"


@pytest.fixture(scope="module")
def base(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("names")
    shutil.copy(sqlite_template, folder / "hub.db")
    app = create_app(Settings(f"sqlite:///{folder / 'hub.db'}", str(folder / "exports"), None))
    engine = app.state.engine
    with engine.begin() as conn:
        for name, role, kind in [("吉林省政府采购网", "regional_site", "notice"),
                                 ("吉林省电子卖场", "trading_platform", "transaction")]:  # fmt: skip
            add_publisher(conn, name, PublisherRole(role), ["220000"], [RecordKind(kind)],
                          "http://www.ccgp-jilin.gov.cn")  # fmt: skip
    releases = project_releases(OCID)
    releases[0]["parties"][0]["address"]["region"] = "吉林省辽源市东丰县"  # a name, read as 220421
    assert ingest_records(engine, "吉林省政府采购网", RecordKind.notice, releases).accepted == 4
    rows = [transaction("DD1", region_code="东丰县", item_name="计算机")]
    assert ingest_records(engine, "吉林省电子卖场", RecordKind.transaction, rows).accepted == 1
    with running(app) as url:
        caught_up(engine)
        yield url
    engine.dispose()


def get(base: str, path: str) -> str:
    response = web.get(base + path, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def test_the_project_page_names_its_region_and_category(base: str) -> None:
    html = get(base, f"/projects/{OCID}")
    assert COUNTY in html and CATEGORY in html


def test_search_names_regions_in_facets_and_hits(base: str) -> None:
    html = get(base, "/?q=计算机")
    assert "220000 吉林省" in html and "A02 设备" in html  # the province and 品目 facets
    assert COUNTY in html and CATEGORY in html  # the hits: a notice and an order
    assert "去掉地区（220000 吉林省）" in get(base, "/?q=无此商品&region=220000")


def test_transparency_ranks_regions_by_name(base: str) -> None:
    html = get(base, "/transparency?group=region")
    assert COUNTY in html


def test_graphql_gives_names_where_it_gives_codes(base: str) -> None:
    data = graphql(
        base,
        """{
      projects(first: 1) { nodes { regionCode regionName categoryName
                                   region { name fullName parentCode } } }
      transactions(first: 1) { nodes { regionName categoryName } }
      transparencyScores(groupBy: REGION) { regionCode regionName }
      search(query: "计算机") { facets { region { key label } } }
    }""",
    )
    assert "errors" not in data, data
    project = data["data"]["projects"]["nodes"][0]
    assert project == {
        "regionCode": "220421", "regionName": "吉林省辽源市东丰县", "categoryName": "台式计算机",
        "region": {"name": "东丰县", "fullName": "吉林省辽源市东丰县", "parentCode": "220400"},
    }  # fmt: skip
    assert data["data"]["transactions"]["nodes"] == [
        {"regionName": "吉林省辽源市东丰县", "categoryName": "台式计算机"}
    ]  # fmt: skip
    scores = data["data"]["transparencyScores"]
    assert {"regionCode": "220421", "regionName": "吉林省辽源市东丰县"} in scores
    assert {"key": "220000", "label": "吉林省"} in data["data"]["search"]["facets"]["region"]
