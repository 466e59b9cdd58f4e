"""Every OCDS package over a range of exported demo days, quiet days included, is valid OCDS
with its extensions declared, checked offline with libcoveocds; the hub serves its own
extension where the packages say it is."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from exports.manifest import read_manifest
from exports.ocds_schema import CAIGOU, EXTENSIONS
from exports.storage import open_store
from exports.write import export_day
from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from tests.conftest import fresh_database
from tests.hub_server import running
from tests.test_ocds_export import assert_clean, cove_files
from tests.web_client import web

PUBLIC = "https://caigou.example.cn"
DAYS = 21  # the busiest three weeks of the demo: busy days and quiet days both


@dataclass
class Exported:
    root: Path
    base: str  # the running hub
    notices: dict[date, int]  # notices published on each day of the range (0: quiet)


@pytest.fixture(scope="module")
def exported(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exported]:
    folder = tmp_path_factory.mktemp(f"ocds-days-{dialect}")
    with fresh_database(dialect, request, folder) as url:
        root = folder / "out"
        settings = Settings(url, str(root), None, public_url=PUBLIC)
        app = create_app(settings)
        engine = app.state.engine
        files = generate(folder / "demo", projects=30, transactions=300, penalties=10)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.connect() as conn:
            published = conn.execute(text("SELECT published_at FROM notices")).scalars().all()
        per_day: dict[date, int] = {}
        for moment in published:
            day = date.fromisoformat(str(moment)[:10])
            per_day[day] = per_day.get(day, 0) + 1
        first = max(
            sorted(per_day), key=lambda d: sum(d + timedelta(n) in per_day for n in range(DAYS))
        )
        notices = {first + timedelta(n): per_day.get(first + timedelta(n), 0) for n in range(DAYS)}
        for day in notices:
            export_day(engine, str(root), day, publication=settings.publication())
        with running(app) as base:
            yield Exported(root, base, notices)
        engine.dispose()


def test_every_package_over_the_range_validates_offline(exported: Exported, tmp_path: Path) -> None:
    busy = sorted(day for day, count in exported.notices.items() if count)
    quiet = [day for day, count in exported.notices.items() if not count]
    assert len(busy) >= 3 and len(quiet) >= 3, exported.notices  # the range has both
    packages = sorted(exported.root.glob("ocds/date=*/*.json"))
    assert len(packages) == 2 * len(busy)  # a release and a record package per busy day
    reports = cove_files(packages, tmp_path, base_uri=f"{PUBLIC}/downloads")
    assert len(reports) == len(packages)
    for path, report in zip(packages, reports, strict=True):
        assert_clean(report, path.relative_to(exported.root))
    for path in packages:
        package = json.loads(path.read_text("utf-8"))
        assert package["extensions"] == [e.metadata_url(f"{PUBLIC}/downloads") for e in EXTENSIONS]
        assert package["releases" if "releases" in package else "records"]  # never empty


def test_a_quiet_day_has_no_package_and_its_manifest_says_so(exported: Exported) -> None:
    store = open_store(str(exported.root))
    listing = web.get(f"{exported.base}/downloads/?format=json").json()
    listed = {day["date"]: day["files"] for day in listing["days"]}
    for day, count in exported.notices.items():
        manifest = read_manifest(store, day)
        assert manifest is not None, day  # every day is published, quiet or not
        ocds = [f for f in manifest.files if f.entity == "ocds"]
        assert manifest.ocds is not None and manifest.ocds["releases"] == count, day
        on_disk = json.loads((exported.root / f"manifests/date={day}.json").read_bytes())
        assert on_disk["ocds"] == manifest.ocds
        if count:
            assert {f.path.rsplit("/", 1)[1] for f in ocds} == {
                "release-package.json",
                "record-package.json",
            }
            assert manifest.ocds["records"] > 0
            continue
        assert manifest.ocds == {"releases": 0, "records": 0}
        assert ocds == [] and not (exported.root / f"ocds/date={day}").exists()
        # /downloads/ lists what the manifest lists, and every listed file downloads whole.
        files = listed.get(day.isoformat(), [])
        assert {f["path"] for f in files} == {f.path for f in manifest.files}
        assert not any(f["path"].startswith("ocds/") for f in files)
        for entry in files[:3]:
            got = web.get(f"{exported.base}{entry['url']}")
            assert (
                got.status_code == 200
                and hashlib.sha256(got.content).hexdigest() == entry["sha256"]
            )
    page = web.get(f"{exported.base}/downloads/")
    assert page.status_code == 200


def test_the_hub_serves_the_caigou_extension_the_packages_declare(exported: Exported) -> None:
    declared = CAIGOU.metadata_url(f"{PUBLIC}/downloads")
    assert declared == f"{PUBLIC}/downloads/extensions/caigou/extension.json"
    at_hub = declared.replace(PUBLIC, exported.base)
    metadata = web.get(at_hub)
    assert metadata.status_code == 200
    assert metadata.headers["content-type"].startswith("application/json")
    assert metadata.content == (CAIGOU.folder / "extension.json").read_bytes()
    listed = [
        *metadata.json()["schemas"],
        *(f"codelists/{c}" for c in metadata.json()["codelists"]),
    ]
    assert "release-schema.json" in listed and "codelists/noticeType.csv" in listed
    for name in listed:
        got = web.get(at_hub.replace("extension.json", name))
        assert got.status_code == 200, name
        assert got.content == (CAIGOU.folder / name).read_bytes(), name
    again = web.get(at_hub, headers={"If-None-Match": metadata.headers["etag"]})
    assert again.status_code == 304
    for other in ("lots/extension.json", "caigou/../../SOURCES.md", "caigou/nothing.json"):
        assert web.get(f"{exported.base}/downloads/extensions/{other}").status_code == 404
