"""Push timeliness (issue 17 §4): the lags /transparency and `pushLag` show are the records' own.

The expected figures are computed here from each relayed record's stored times alone, with
`chinese_calendar` counted by hand (not schema.calendar), and compared with what a real
server answers on the page and over GraphQL.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from sqlalchemy import Engine, select

from hub.app import create_app
from hub.config import Settings
from hub.demo import generate
from hub.demo.load import load_demo
from hub.publishing import ingest_records
from hub.publishing.publishers import add_publisher
from schema.tables import NOTICES, PROJECTS, PUBLISHERS, RECORD_SOURCES
from schema.types import PublisherRole, RecordKind
from tests.factories import project_releases
from tests.hub_server import graphql, running
from tests.web_client import web

LAG_FIELDS = "regionCode arrivals onTime late pushTimeliness medianHours p95Hours medianWorkdays "
LAG_FIELDS += "p95Workdays lagUpTo1 lag2To3 lag4To10 lagOver10 recordsNamed recordsDelivered"


def workdays(first: datetime, received: datetime) -> int:
    """Working days after the day of first publication up to the day of arrival."""
    day, count = first.date(), 0
    while day < received.date():
        day += timedelta(days=1)
        count += chinese_calendar.is_workday(day)
    return count


def relayed_notice_times(engine: Engine) -> list[tuple[str, datetime, datetime]]:
    """(project region, first published, received here) of every relayed notice delivery."""
    s = RECORD_SOURCES.c
    query = (
        select(PROJECTS.c.region_code, s.first_published_at, s.received_at)
        .select_from(
            RECORD_SOURCES.join(PUBLISHERS, PUBLISHERS.c.id == s.publisher_id)
            .join(NOTICES, NOTICES.c.id == s.record_id)
            .join(PROJECTS, PROJECTS.c.id == NOTICES.c.project_id)
        )
        .where(s.kind == "notice", s.original_publisher != PUBLISHERS.c.name)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def expected(times: list[tuple[str, datetime, datetime]]) -> dict[str, dict[str, Any]]:
    by_province: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for region, first, received in times:
        hours = (received - first).total_seconds() / 3600
        by_province[region[:2] + "0000"].append((hours, workdays(first, received)))
    figures = {}
    for province, lags in by_province.items():
        hours = sorted(h for h, _ in lags)
        days = sorted(d for _, d in lags)
        rank = math.ceil(0.95 * len(lags)) - 1
        figures[province] = {
            "arrivals": len(lags), "onTime": sum(d <= 1 for d in days),
            "late": sum(d > 1 for d in days),
            "pushTimeliness": sum(d <= 1 for d in days) / len(days),
            "medianHours": round(statistics.median(hours), 4),
            "p95Hours": round(hours[rank], 4), "medianWorkdays": statistics.median(days),
            "p95Workdays": days[rank], "lagUpTo1": sum(d <= 1 for d in days),
            "lag2To3": sum(2 <= d <= 3 for d in days), "lag4To10": sum(4 <= d <= 10 for d in days),
            "lagOver10": sum(d > 10 for d in days),
        }  # fmt: skip
    return figures


@pytest.fixture
def demo_hub(engine: Engine, database_url: str, tmp_path: Path) -> Any:
    files = generate(tmp_path / "demo", projects=40, transactions=300, penalties=8)
    assert all(result.rejected == 0 for _batch, result in load_demo(engine, files))
    with running(create_app(Settings(database_url, str(tmp_path / "exports"), None))) as base:
        yield base


def test_transparency_shows_the_push_lags_measured_from_the_records_own_times(
    demo_hub: str, engine: Engine
) -> None:
    times = relayed_notice_times(engine)
    want = expected(times)
    assert want, "the demo relays no notice: push timeliness would measure nothing"
    jilin = want["220000"]
    assert 0 < jilin["pushTimeliness"] < 1, "the demo's lags should be realistic, some late"

    answer = graphql(demo_hub, f"{{ pushLag {{ {LAG_FIELDS} pushCompleteness }} }}")
    assert "errors" not in answer, answer
    got = {row.pop("regionCode"): row for row in answer["data"]["pushLag"]}
    for province, figures in want.items():
        assert {k: got[province][k] for k in figures} == figures, province
    # Jilin's records all came from its own site (directly), the central site's relays too.
    assert got["220000"]["recordsNamed"] == got["220000"]["recordsDelivered"] > 0
    assert got["220000"]["pushCompleteness"] == 1.0

    page = web.get(f"{demo_hub}/transparency", timeout=60)
    assert page.status_code == 200
    row = re.search(r'<tr data-region="220000">(.*?)</tr>', page.text, re.S)
    assert row, "no push lag row for Jilin on /transparency"
    cells = dict(re.findall(r'data-field="(\w+)">([^<]*)<', row.group(1)))
    assert cells["arrivals"] == str(jilin["arrivals"])
    assert cells["push_timeliness"] == f"{jilin['pushTimeliness'] * 100:.1f}" != "0.0"
    assert cells["median_hours"] == f"{jilin['medianHours']:.2f}"
    assert cells["p95_hours"] == f"{jilin['p95Hours']:.2f}"
    assert cells["p95_workdays"] == str(jilin["p95Workdays"])
    assert cells["late"] == str(jilin["late"])

    # The scores' push timeliness, region by region (the ranking by county code).
    by_region: dict[str, list[int]] = defaultdict(list)
    for region, first, received in times:
        by_region[region].append(workdays(first, received))
    scores = graphql(demo_hub, "{ transparencyScores(groupBy: REGION, first: 100) { regionCode "
                     "pushTimeliness arrivals arrivalsOnTime } }")["data"]["transparencyScores"]  # fmt: skip
    measured = {s["regionCode"]: s for s in scores if s["arrivals"]}
    assert set(measured) == set(by_region)
    for region, days in by_region.items():
        assert measured[region]["arrivals"] == len(days)
        assert measured[region]["pushTimeliness"] == sum(d <= 1 for d in days) / len(days)
    assert any(s["pushTimeliness"] for s in measured.values())


def test_a_relay_over_a_holiday_counts_working_days_and_a_direct_publish_no_lag(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """First published on the eve of National Day 2024 (10-01…07 off), relayed on 10-08:
    one working day late by the clock's 8 days, on time by the calendar; a publisher's own
    delivery (received two years later) is no push and counts for nothing; a record the
    province's site published but only the central site delivered lowers completeness."""
    with engine.begin() as conn:
        add_publisher(conn, "吉林省政府采购网", PublisherRole.regional_site, ["220000"],
                      [RecordKind.notice], "http://www.ccgp-jilin.gov.cn")  # fmt: skip
        add_publisher(conn, "中国政府采购网", PublisherRole.regional_site, ["100000"],
                      [RecordKind.notice], "http://www.ccgp.gov.cn")  # fmt: skip
    on_time = {**project_releases("ocds-cghub1-PUSH-1")[0], "date": "2024-09-30T16:00:00+08:00"}
    late = {**project_releases("ocds-cghub1-PUSH-2")[0], "date": "2024-09-27T09:00:00+08:00"}
    ingest_records(engine, "吉林省政府采购网", RecordKind.notice, [on_time, late],
                   raise_on_reject=True)  # fmt: skip
    # Known here only through the central site: the Jilin site's, but not delivered by it.
    only_relayed = {**project_releases("ocds-cghub1-PUSH-3")[0],
                    "date": "2024-10-08T08:00:00+08:00"}  # fmt: skip
    arrivals = ((on_time, "2024-10-08T09:30:00"), (late, "2024-10-08T09:30:00"),
                (only_relayed, "2024-10-08T09:00:00"))  # fmt: skip
    for record, arrival in arrivals:
        relay = {"originalPublisher": "吉林省政府采购网", "originalRole": "regional_site",
                 "sourceSite": "http://www.ccgp-jilin.gov.cn",
                 "firstPublishedAt": record["date"], "hops": []}  # fmt: skip
        ingest_records(engine, "中国政府采购网", RecordKind.notice, [record], relays=[relay],
                       received_at=datetime.fromisoformat(arrival), raise_on_reject=True)  # fmt: skip
    with running(create_app(Settings(database_url, str(tmp_path / "exports"), None))) as base:
        answer = graphql(
            base, f'{{ pushLag(region: "220100") {{ {LAG_FIELDS} pushCompleteness }} }}'
        )
        refused = graphql(base, '{ pushLag(region: "22") { regionCode } }')
    (jilin,) = answer["data"]["pushLag"]
    # 09-30 → 10-08: 10-08 is the one working day after 09-30; 09-27 → 10-08: 09-29 (a
    # make-up Sunday), 09-30 and 10-08 are three.
    assert (jilin["arrivals"], jilin["onTime"], jilin["late"]) == (3, 2, 1)
    assert jilin["lagUpTo1"] == 2 and jilin["lag2To3"] == 1
    assert jilin["p95Workdays"] == 3 and jilin["medianWorkdays"] == 1
    # Three records the Jilin site first published, two of them delivered by it.
    assert (jilin["recordsNamed"], jilin["recordsDelivered"]) == (3, 2)
    assert jilin["pushCompleteness"] == pytest.approx(2 / 3)
    assert jilin["p95Hours"] == round((datetime(2024, 10, 8, 9, 30) - datetime(2024, 9, 27, 9))
                                      .total_seconds() / 3600, 4)  # fmt: skip
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'22'" in refused["errors"][0]["message"]
    assert date(2024, 9, 29).weekday() == 6 and chinese_calendar.is_workday(date(2024, 9, 29))
