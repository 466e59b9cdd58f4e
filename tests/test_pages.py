"""The web pages in a real browser: Debian's Chromium driven by Playwright, axe-core checks.

A demo database (SQLite, embedded search) is served by uvicorn; every page is visited,
clicked through, screenshotted into tests/artifacts/screenshots/ and checked by axe-core
for serious or critical accessibility violations. Without Chromium the tests skip locally
and fail under CI (scripts/bootstrap.sh test installs it).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from starlette.applications import Starlette

from exports.write import export_day
from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.flags import rebuild
from hub.publishing import ingest_file
from hub.publishing.publishers import add_publisher
from hub.web import routes as web_routes
from hub.web.graphiql import EXAMPLES, VARIABLES
from indexer.embedded import EmbeddedBackend
from indexer.worker import run as run_indexer
from schema.types import PublisherRole, RecordKind
from tests.factories import transaction, write_csv
from tests.hub_server import running
from tests.indexing import caught_up
from tests.web_client import web

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"
# This machine's network is closed: anything reaching out on its own must stay off.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _require(ready: bool, message: str) -> None:
    if not ready:
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Site:
    base: str
    engine: Engine
    export_day: date

    def sql(self, statement: str) -> list:
        with self.engine.connect() as conn:
            return conn.execute(text(statement)).all()


@pytest.fixture(scope="module")
def site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("pages")
    shutil.copy(sqlite_template, folder / "hub.db")
    app = create_app(Settings(f"sqlite:///{folder / 'hub.db'}", str(folder / "exports"), None))
    engine: Engine = app.state.engine
    files = generate(folder / "demo", projects=40, transactions=1_500, penalties=30)
    assert all(result.status == "accepted" for _, result in load_demo(engine, files))
    rebuild(engine)
    with engine.connect() as conn:
        day = conn.execute(text("SELECT min(order_date) FROM transactions")).scalar()
    day = date.fromisoformat(str(day))
    export_day(engine, str(folder / "exports"), day)
    with running(app) as base:
        caught_up(engine)  # the hub indexes the demo in the background
        yield Site(base, engine, day)
    engine.dispose()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    _require(CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/bootstrap.sh test")
    _require(AXE.exists(), f"{AXE} is missing: run scripts/bootstrap.sh test (npm ci)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            accept_downloads=True, locale="zh-CN", viewport={"width": 1280, "height": 900},
            bypass_csp=True,  # axe-core goes in as an inline script; test_edge.py checks the CSP
        )  # fmt: skip
        yield context
        context.close()


@pytest.fixture
def page(browser_context):  # type: ignore[no-untyped-def]
    tab = browser_context.new_page()
    outside: list[str] = []
    tab.on("request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None)
    yield tab
    tab.close()
    assert not outside, f"pages loaded from outside the hub: {outside}"


def checked(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Screenshot the page, then fail on serious or critical axe-core violations."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    print(f"screenshot: {SHOTS / f'{name}.png'}")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: accessibility violations {bad}"


def test_search_facets_and_pages(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.base + "/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_label("关键词 Keywords").fill("采购")
    page.get_by_role("button", name="搜索 Search").click()
    page.wait_for_url("**/?q=*")
    assert page.locator("ol.hits > li").count() > 0
    assert page.locator("ol.hits em").count() > 0, "matches are highlighted"
    checked(page, "search")

    facet = page.locator("aside a").first
    facet_text = facet.inner_text()
    facet.click()
    page.wait_for_load_state()
    assert "q=" in page.url and any(k in page.url for k in ("notice_type=", "region=", "year="))
    assert facet_text in page.locator("p.filters").inner_text()

    page.goto(site.base + "/?kind=all&sort=date")
    first_page = page.locator("ol.hits > li a.hit").first.inner_text()
    page.get_by_role("link", name="下一页 Next →").click()
    page.wait_for_url("**after=*")
    assert page.locator("ol.hits > li a.hit").first.inner_text() != first_page
    page.get_by_role("link", name="下一页 Next →").click()
    page.wait_for_url("**prev=*prev=*")
    page.get_by_role("link", name="← 上一页 Previous").click()
    page.get_by_role("link", name="← 上一页 Previous").click()
    page.wait_for_load_state()
    assert "after=" not in page.url
    assert page.locator("ol.hits > li a.hit").first.inner_text() == first_page


def test_empty_search_offers_to_relax(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.base + "/?q=采购&min=999999999999")
    assert page.locator("ol.hits > li").count() == 0
    page.get_by_role("link", name="去掉最低金额").first.click()
    page.wait_for_load_state()
    assert "min=" not in page.url and page.locator("ol.hits > li").count() > 0
    checked(page, "search-empty")


def test_keyboard_reaches_search_box_and_a_result(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.base + "/?q=采购")
    seen = []
    for _ in range(80):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
        if "hit" in seen[-1].split():
            break
    assert "q" in seen, seen
    assert "hit" in seen[-1].split(), seen


def test_project_timeline(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    ocid, pk = site.sql(
        "SELECT p.ocid, p.id FROM projects p JOIN flags f ON f.project_id = p.id "
        "JOIN notices n ON n.project_id = p.id AND n.notice_type = 'correction' LIMIT 1"
    )[0]
    notices = site.sql(f"SELECT count(*) FROM notices WHERE project_id = {pk}")[0][0]
    page.goto(f"{site.base}/projects/{ocid}")
    items = page.locator("ol.timeline > li")
    assert items.count() == notices
    times = [items.nth(i).locator("time").get_attribute("datetime") for i in range(notices)]
    assert times == sorted(times)
    assert page.locator(".correction a").count() >= 1
    code = site.sql(f"SELECT code FROM flags WHERE project_id = {pk} LIMIT 1")[0][0]
    assert code in page.locator("#flags").locator("..").inner_text()
    checked(page, "project")
    page.locator(".correction a").first.click()
    assert "#notice-" in page.url


def test_supplier_page(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    pk, name = site.sql(
        "SELECT p.id, p.name FROM parties p JOIN award_suppliers a ON a.party_id = p.id "
        "JOIN transactions t ON t.supplier_id = p.id GROUP BY p.id, p.name "
        "ORDER BY count(*) DESC LIMIT 1"
    )[0]
    page.goto(f"{site.base}/parties/{pk}")
    assert page.locator("h1").inner_text() == name
    assert page.locator("#awards").count() == 1
    assert page.locator("#transactions + table tbody tr").count() > 0
    checked(page, "supplier")
    older = page.get_by_role("link", name="更早 Older →")
    if older.count():
        older.click()
        assert "before=" in page.url


def test_transactions_table_chart_and_csv(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.base + "/transactions?q=联想")
    rows = page.locator("table tbody tr")
    assert rows.count() > 0
    assert page.locator("figure svg rect").count() > 0, "the unit-price chart is drawn"
    assert "E+" not in page.locator("table").inner_text(), "quantities in plain digits"
    checked(page, "transactions")
    with page.expect_download() as info:
        page.get_by_role("link", name="下载 CSV Download CSV").click()
    body = Path(info.value.path()).read_bytes()
    assert body.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    total = int(page.locator("p", has_text="Download CSV").inner_text().split()[1])
    assert len(table) - 1 == total and table[0][0] == "商品名称"


def test_transparency_ranking_and_trend(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.base + "/transparency")
    assert page.locator("#ranking + table tbody tr").count() > 0
    assert page.locator("figure svg polyline").count() == 1
    page.get_by_label("评价对象 Group").select_option("purchaser")
    page.get_by_role("button", name="查看 Show").click()
    page.wait_for_url("**group=purchaser*")
    first = page.locator("#ranking + table tbody tr").first.locator("a").first
    name = first.inner_text()
    first.click()
    page.wait_for_url("**key=*")
    assert name in page.locator("#trend").inner_text()
    checked(page, "transparency")


def test_download_link_returns_the_file(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(site.base + "/downloads/")
    link = page.locator("a[href$='.csv']").first
    href = link.get_attribute("href")
    with page.expect_download() as info:
        link.click()
    got = Path(info.value.path()).read_bytes()
    assert got == web.get(site.base + href).content and len(got) > 0
    checked(page, "downloads")


def test_graphiql_is_served_by_the_hub(site: Site, page) -> None:  # type: ignore[no-untyped-def]
    """GraphiQL from /static/vendor (the page fixture fails on any outside request)."""
    page.goto(site.base + "/graphql")
    page.wait_for_selector(".graphiql-container", timeout=20_000)
    assert page.locator(".graphiql-tab").count() == len(EXAMPLES)
    page.screenshot(path=str(SHOTS / "graphiql.png"))
    for query in EXAMPLES.values():
        answer = web.post(site.base + "/graphql", json={"query": query, "variables": VARIABLES})
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text


def test_search_page_without_a_backend_still_serves_the_form(site: Site) -> None:
    """PostgreSQL without Elasticsearch: a 503 that keeps the form and the navigation."""
    app = Starlette(routes=web_routes(site.engine, None))
    with running(app) as base:
        response = web.get(base + "/?q=复印纸")
    assert response.status_code == 503
    assert 'id="q"' in response.text and "CAIGOU_ELASTICSEARCH_URL" in response.text


SEVERITY_ORDER = ("high", "medium", "low")  # as a reader expects them, most severe first


def _flags_shown(html: str) -> list[tuple[str, str]]:
    """(code, severity) of each flag heading of a page, in page order."""
    return [(code, severity) for severity, code in FLAG_HEADING.findall(html)]


FLAG_HEADING = re.compile(r'<h3 class="flag-(\w+)">([A-Z0-9_]+) ·')


def test_project_and_party_pages_list_flags_most_severe_first(site: Site) -> None:
    """Flags read high, medium, low (schema.severity), then by rule code, on both pages."""
    pk, ocid = site.sql(
        "SELECT p.id, p.ocid FROM projects p JOIN flags f ON f.project_id = p.id "
        "GROUP BY p.id, p.ocid ORDER BY count(DISTINCT f.severity) DESC, count(*) DESC LIMIT 1"
    )[0]
    rows = [tuple(r) for r in site.sql(f"SELECT code, severity FROM flags WHERE project_id = {pk}")]
    assert len({severity for _, severity in rows}) >= 2, "the demo plants flags of two severities"
    expected = sorted(rows, key=lambda r: (SEVERITY_ORDER.index(r[1]), r[0]))
    assert _flags_shown(web.get(f"{site.base}/projects/{ocid}").text) == expected
    party = site.sql(
        "SELECT party_id FROM flags WHERE party_id IS NOT NULL "
        "GROUP BY party_id ORDER BY count(*) DESC LIMIT 1"
    )[0][0]
    rows = [
        tuple(r) for r in site.sql(f"SELECT code, severity FROM flags WHERE party_id = {party}")
    ]
    expected = sorted(rows, key=lambda r: (SEVERITY_ORDER.index(r[1]), r[0]))
    assert _flags_shown(web.get(f"{site.base}/parties/{party}").text) == expected


@pytest.mark.parametrize(
    ("path", "status"),
    [("/projects/ocds-nothing", 404), ("/parties/abc", 404), ("/parties/999999", 404),
     ("/?from=yesterday", 400), ("/?after=zzz", 400), ("/?region=11", 400),
     ("/?min=abc", 400), ("/?sort=price", 400), ("/transactions?to=2024-13-01", 400),
     ("/parties/1?before=x", 400), ("/transparency?from=2024-13", 400),
     ("/transparency?group=purchaser&key=x", 400)],
)  # fmt: skip
def test_bad_input_gets_a_page(site: Site, path: str, status: int) -> None:
    response = web.get(site.base + path)
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"] and "<h1>" in response.text


# Kept last: it adds rows to the module's database.
def test_transactions_csv_neutralises_formula_cells(site: Site, tmp_path: Path) -> None:
    """Cells a spreadsheet would run (OWASP: = + - @ tab CR) come out prefixed with `'`."""
    risky = {"item_name": '=HYPERLINK("http://x","点击")', "brand": "+cmd|' /C calc'!A0",
             "model": "@SUM(1+1)", "unit": "-台"}  # fmt: skip
    with site.engine.begin() as conn:
        add_publisher(conn, "公式测试卖场", PublisherRole.trading_platform, ["220000"],
                      [RecordKind.transaction])  # fmt: skip
    rows = [transaction("DDFORMULA01", **risky)]  # ingest trims leading tabs and CRs
    path = write_csv(tmp_path / "formulas.csv", rows)
    assert ingest_file(site.engine, path, "公式测试卖场", kind=RecordKind.transaction).accepted == 1
    run_indexer(site.engine, EmbeddedBackend(site.engine), once=True)
    response = web.get(site.base + "/transactions.csv", timeout=60)  # every row: 1,501
    assert response.status_code == 200
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    by_item = {row["商品名称"]: row for row in table}
    first = by_item["'" + risky["item_name"]]
    assert (first["品牌"], first["规格型号"], first["单位"]) == (
        "'" + risky["brand"], "'" + risky["model"], "'" + risky["unit"])  # fmt: skip
    assert first["单价"] == "4999.0000"  # numbers stay numbers (unit prices: 4 places)
