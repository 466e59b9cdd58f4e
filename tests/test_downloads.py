"""`/downloads/` and GraphQL `exports` over HTTP: listings, ETag, Last-Modified, Range."""

from __future__ import annotations

import calendar
import hashlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from exports.manifest import Manifest
from exports.write import export_day
from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from tests.conftest import fresh_database
from tests.hub_server import graphql, running
from tests.web_client import web

CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"  # a licence other than the default
POLICY = "https://caigou.example.cn/downloads/policy"


@dataclass
class Served:
    base: str
    root: Path
    manifest: Manifest


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("downloads")
    with fresh_database("sqlite", request, folder) as url:
        root = folder / "out"
        settings = Settings(url, str(root), None, data_license=CC0,
                            public_url="https://caigou.example.cn")  # fmt: skip
        app = create_app(settings)
        engine = app.state.engine
        files = generate(folder / "demo", projects=20, transactions=300, penalties=10)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.connect() as conn:
            latest = conn.execute(text("SELECT max(published_at) FROM transactions")).scalar()
        day = datetime.fromisoformat(str(latest)).date()
        manifest = export_day(engine, str(root), day, publication=settings.publication())
        (root / ".staging" / "half-written").mkdir(parents=True)
        (root / ".staging" / "half-written" / "transactions.csv").write_text("partial")
        with running(app) as base:
            yield Served(base, root, manifest)
        engine.dispose()


def test_the_listing_shows_every_published_file_for_people_and_programs(served: Served) -> None:
    listing = web.get(f"{served.base}/downloads/?format=json").json()
    [day] = listing["days"]
    assert day["date"] == served.manifest.date
    listed = {f["path"]: f for f in day["files"]}
    assert set(listed) == {f.path for f in served.manifest.files}
    for entry in served.manifest.files:
        assert (
            listed[entry.path]["sha256"] == entry.sha256
            and listed[entry.path]["rows"] == entry.rows
        )
    page = web.get(f"{served.base}/downloads/")
    assert page.headers["content-type"].startswith("text/html")
    transactions = next(f for f in served.manifest.files if f.path.endswith("transactions.csv"))
    assert f"/downloads/{transactions.path}" in page.text and transactions.sha256 in page.text
    assert "read_parquet" in page.text  # the copy-paste snippets


def test_a_file_downloads_whole_revalidates_and_resumes(served: Served) -> None:
    entry = next(f for f in served.manifest.files if f.path.endswith("transactions.parquet"))
    url = f"{served.base}/downloads/{entry.path}"
    whole = web.get(url)
    assert whole.status_code == 200 and hashlib.sha256(whole.content).hexdigest() == entry.sha256
    assert whole.headers["etag"] == f'"{entry.sha256}"' and "last-modified" in whole.headers
    again = web.get(url, headers={"If-None-Match": whole.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    part = web.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    catalog = web.get(f"{served.base}/downloads/catalog.json").json()
    assert catalog  # the catalogue files are served too


def test_the_configured_licence_is_stated_wherever_the_data_goes(served: Served) -> None:
    """CAIGOU_DATA_LICENSE reaches the page, its JSON, both catalogue files and OCDS."""
    listing = web.get(f"{served.base}/downloads/?format=json").json()
    catalog = web.get(f"{served.base}/downloads/catalog.json").json()
    for stated in (listing, catalog):
        assert stated["license"] == CC0 and stated["licenseName"] == "CC0-1.0"
        assert stated["publicationPolicy"] == POLICY
        assert "respected" in stated["provenance"]
    package = web.get(f"{served.base}/downloads/datapackage.json").json()
    assert package["licenses"] == [
        {"name": "CC0-1.0", "path": CC0, "title": "Creative Commons Zero v1.0 Universal"}
    ]
    for entry in served.manifest.files:
        if entry.format == "ocds":
            ocds = web.get(f"{served.base}/downloads/{entry.path}").json()
            assert (ocds["license"], ocds["publicationPolicy"]) == (CC0, POLICY), entry.path
    page = web.get(f"{served.base}/downloads/").text
    assert f'rel="license" href="{CC0}"' in page and 'href="/downloads/policy"' in page
    policy = web.get(f"{served.base}/downloads/policy")
    assert policy.status_code == 200 and policy.headers["content-type"].startswith("text/html")
    assert CC0 in policy.text and "whose own terms are respected" in policy.text


def test_nothing_unpublished_is_reachable(served: Served) -> None:
    for path in (".staging/half-written/transactions.csv", "../hub.db",
                 "transactions/date=1999-01-01/transactions.csv"):  # fmt: skip
        assert web.get(f"{served.base}/downloads/{path}").status_code == 404, path


def test_graphql_lists_the_same_catalogue(served: Served) -> None:
    answer = graphql(served.base, """{ exports(entity: "transactions") { date format path url rows
        sha256 } }""")  # fmt: skip
    found = answer["data"]["exports"]
    expected = [f for f in served.manifest.files if f.entity == "transactions"]
    assert {(f["path"], f["sha256"], f["rows"]) for f in found} == {
        (f.path, f.sha256, f.rows) for f in expected
    }
    assert all(f["url"] == f"/downloads/{f['path']}" for f in found)
    later = graphql(served.base, '{ exports(from: "2999-01-01") { path } }')
    assert later["data"]["exports"] == []


def _parquet(served: Served) -> tuple[str, str, int]:
    entry = next(f for f in served.manifest.files if f.path.endswith("transactions.parquet"))
    size = (served.root / entry.path).stat().st_size
    return f"{served.base}/downloads/{entry.path}", f'"{entry.sha256}"', size


@pytest.mark.parametrize(
    "asked",
    ["bytes=abc", "bytes=5-3", "bytes=", "items=0-10", "bytes=1_0-20", "bytes=--5",
     "bytes=0-" + "9" * 5000],  # past int()'s digit limit: unparsable, not a 500
)  # fmt: skip
def test_an_unparsable_range_is_ignored(served: Served, asked: str) -> None:
    """RFC 9110 §14.2: the whole file, 200, as if no Range had been sent."""
    url, _, size = _parquet(served)
    whole = web.get(url, headers={"Range": asked})
    assert whole.status_code == 200 and len(whole.content) == size, whole.text[:200]


def test_ranges_per_rfc_9110(served: Served) -> None:
    url, etag, size = _parquet(served)
    content = web.get(url).content
    suffix = web.get(url, headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == content[-10:]
    open_ended = web.get(url, headers={"Range": f"bytes={size - 5}-"})
    assert open_ended.status_code == 206 and open_ended.content == content[-5:]
    beyond = web.get(url, headers={"Range": f"bytes={size}-{size + 10}"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert beyond.json()["code"] == "RANGE_NOT_SATISFIABLE" and beyond.json()["request_id"]
    # If-Range resumes only on a strong match; a weak or stale tag gets the whole file.
    strong = web.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert strong.status_code == 206 and strong.content == content[:10]
    for validator in (f"W/{etag}", '"stale"'):
        whole = web.get(url, headers={"Range": "bytes=0-9", "If-Range": validator})
        assert whole.status_code == 200 and whole.content == content, validator


def test_if_none_match_compares_weakly(served: Served) -> None:
    url, etag, _ = _parquet(served)
    for validator in (etag, f"W/{etag}", f'"other", W/{etag}', "*"):
        again = web.get(url, headers={"If-None-Match": validator})
        assert again.status_code == 304 and again.headers["etag"] == etag, validator
    assert web.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    catalog = web.get(f"{served.base}/downloads/catalog.json")
    tag = catalog.headers["etag"]
    revalidated = web.get(f"{served.base}/downloads/catalog.json",
                            headers={"If-None-Match": tag})  # fmt: skip
    assert revalidated.status_code == 304


def test_no_symbolic_link_under_the_root_is_followed(served: Served, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"password": "hunter2"}')
    manifests = served.root / "manifests"
    links = [manifests / "date=1999-01-01.json", served.root / "linked"]
    links[0].symlink_to(secret)
    links[1].symlink_to(served.root / "transactions", target_is_directory=True)
    try:
        for path in ("manifests/date=1999-01-01.json", "linked/catalog.json"):
            answer = web.get(f"{served.base}/downloads/{path}")
            assert answer.status_code == 404 and "hunter2" not in answer.text, path
        # Sent as is (httpx would resolve the dots itself): traversal stays 404.
        host, port = served.base.removeprefix("http://").split(":")
        for path in ("manifests/date=1999-01-01.json/../../secret.json", "manifests/../../x"):
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(f"GET /downloads/{path} HTTP/1.1\r\nhost: hub\r\n"
                             "connection: close\r\n\r\n".encode())  # fmt: skip
                raw = sock.makefile("rb").read()
            assert raw.startswith(b"HTTP/1.1 404") and b"hunter2" not in raw, (path, raw[:200])
        listing = web.get(f"{served.base}/downloads/?format=json").json()
        assert [d["date"] for d in listing["days"]] == [served.manifest.date]
    finally:
        for link in links:
            link.unlink()


def test_current_and_history_have_stable_urls_and_latest_redirects(served: Served) -> None:
    listing = web.get(f"{served.base}/downloads/?format=json").json()
    assert listing["current"]["as_of"] == served.manifest.date
    current = {f["url"]: f for f in listing["current"]["files"]}
    url = "/downloads/current/parquet/awards.parquet"
    assert url in current and "/downloads/history/csv/awards.csv" in {
        f["url"] for f in listing["history"]["files"]
    }
    whole = web.get(f"{served.base}{url}")
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == current[url]["sha256"]
    moved = web.get(f"{served.base}/downloads/latest/parquet/awards.parquet")
    assert moved.status_code == 308 and moved.headers["location"] == url
    assert web.get(f"{served.base}/downloads/latest/parquet/awards.parquet",
                     follow_redirects=True).content == whole.content  # fmt: skip
    assert web.get(f"{served.base}/downloads/current/parquet/nope.parquet").status_code == 404
    page = web.get(f"{served.base}/downloads/").text
    assert url in page and "open_dataset" in page


def test_current_files_are_revalidated_and_never_served_under_an_old_tag(
    served: Served,
) -> None:
    """current/ and history/ change with every export: a cache must ask again (a day's files
    never change and are cached a day); a file moved in before its listing is rewritten (a
    crash between the two) is refused rather than labelled with the old file's SHA-256."""
    url = f"{served.base}/downloads/current/parquet/projects.parquet"
    first = web.get(url)
    assert first.status_code == 200 and first.headers["cache-control"] == "no-cache"
    day = next(f.path for f in served.manifest.files if f.path.endswith(".parquet"))
    assert web.get(f"{served.base}/downloads/{day}").headers["cache-control"] == (
        "public, max-age=86400"
    )
    path = served.root / "parquet/current/projects.parquet"
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"newer bytes")  # what the next export moved in
        refused = web.get(url)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    finally:
        path.write_bytes(original)
    assert web.get(url).content == first.content


def test_a_months_excel_workbook_is_served(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """`xlsx/<record>/month=YYYY-MM/` is listed by the month's last day's manifest and
    served from it, as its `/downloads/` link promises."""
    with fresh_database("sqlite", request, tmp_path) as url:
        root = tmp_path / "out"
        app = create_app(Settings(url, str(root), None))
        engine = app.state.engine
        files = generate(tmp_path / "demo", projects=2, transactions=40, penalties=0)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.connect() as conn:
            first = conn.execute(text("SELECT min(published_at) FROM transactions")).scalar()
        start = datetime.fromisoformat(str(first)).date()
        last = start.replace(day=calendar.monthrange(start.year, start.month)[1])
        manifest = export_day(engine, str(root), last)
        [entry] = [f for f in manifest.files if f.path.startswith("xlsx/transactions/month=")]
        with running(app) as base:
            found = web.get(f"{base}/downloads/{entry.path}")
        assert found.status_code == 200
        assert hashlib.sha256(found.content).hexdigest() == entry.sha256
        assert found.headers["content-type"].startswith("application/vnd.openxmlformats")
        engine.dispose()
