"""Push timeliness (推送及时性): how long relayed records took from first publication to here.

Measured from `record_sources` (design §4, issue 17). A record counts as pushed to this hub
when an account other than its original publisher delivered it (a relay: the trading
platform's notice passed on by the provincial site, the provincial site's by the central
site); a publisher's own delivery is its publication here, with no push to time.

- lag = this hub's arrival (`received_at`) − `first_published_at`, in hours and in WORKING
  days by the calendar the deadline flags use (schema/calendar.py; the day of first
  publication not counted, as for every deadline).
- on time = within PUSH_WORKDAYS working days. The rules ask for 实时推送 (real-time pushing,
  信息共享) without a number of days; one working day is our reading, the shortest window a
  deadline in docs/disclosure.md uses being two. A lag the calendar cannot decide (a year it
  does not know) is counted as neither: it is left out, as the flags leave such deadlines.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, true, union_all
from sqlmodel import SQLModel

from schema.calendar import CalendarUnknown, working_days_between
from schema.columns import field
from schema.tables import NOTICES, PENALTY_RECORDS, PROJECTS, PUBLISHERS, TRANSACTIONS
from schema.tables import RECORD_SOURCES as SOURCES

PUSH_WORKDAYS = 1
RELAY_ROLES = ("regional_site", "trading_platform")
# The lag distribution's buckets: PushLag field, working days from and to (inclusive).
BUCKETS = (
    ("lag_up_to_1", 0, 1),
    ("lag_2_to_3", 2, 3),
    ("lag_4_to_10", 4, 10),
    ("lag_over_10", 11, None),
)


def lag_hours(first: datetime, received: datetime) -> float:
    return (received - first).total_seconds() / 3600.0


def lag_workdays(first: datetime, received: datetime) -> int | None:
    """Working days from first publication to arrival; None when the calendar cannot say."""
    return _workdays(first.date(), received.date())


@lru_cache(maxsize=65536)
def _workdays(first: date, received: date) -> int | None:
    """Cached by day pair: a hub's arrivals share few of them, and each counts day by day."""
    try:
        return working_days_between(first, received)
    except CalendarUnknown:
        return None


def relayed() -> Any:
    """The condition on `record_sources` joined to `publishers`: delivered by another account
    than the record's original publisher."""
    return SOURCES.c.original_publisher != PUBLISHERS.c.name


def province_of(region_code: str | None) -> str | None:
    """The province (省级) of a six-digit division code: its first two digits, then zeros."""
    return region_code[:2] + "0000" if region_code and len(region_code) == 6 else None


class PushLag(SQLModel):
    """推送时效: one province's relayed arrivals here, their lags and how complete its pushing
    is (computed on demand, not stored)."""

    region_code: str = field("省级行政区划代码", "The province (its records' regions within it).")
    arrivals: int = field("推送到达", "Relayed deliveries of the province's records to this hub.")
    on_time: int = field("按时到达", f"Arrivals within {PUSH_WORKDAYS} working day of first "
                         "publication.")  # fmt: skip
    late: int = field("迟到", f"Arrivals later than {PUSH_WORKDAYS} working day.")
    undecided: int = field(
        "无法判定", "Arrivals in a year the working-day calendar does not know (not counted)."
    )
    push_timeliness: float | None = field(
        "推送及时性", "on_time / (on_time + late); empty without arrivals.", default=None
    )
    median_hours: float | None = field("延迟中位数（小时）", "Median lag in hours.", default=None)
    p95_hours: float | None = field(
        "延迟95分位（小时）", "95th percentile lag in hours (nearest rank).", default=None
    )
    median_workdays: float | None = field(
        "延迟中位数（工作日）", "Median lag in working days.", default=None
    )
    p95_workdays: int | None = field(
        "延迟95分位（工作日）", "95th percentile lag in working days (nearest rank).", default=None
    )
    lag_up_to_1: int = field("0–1个工作日", "Arrivals within 0 or 1 working day.", default=0)
    lag_2_to_3: int = field("2–3个工作日", "Arrivals after 2 or 3 working days.", default=0)
    lag_4_to_10: int = field("4–10个工作日", "Arrivals after 4 to 10 working days.", default=0)
    lag_over_10: int = field(
        "超过10个工作日", "Arrivals after more than 10 working days.", default=0
    )
    records_named: int = field(
        "应推送记录", "The province's records a site or platform of the province published or "
        "delivered (by its sources).",
    )  # fmt: skip
    records_delivered: int = field(
        "已推送记录", "Of those, the records the province's own site or platform delivered here."
    )
    push_completeness: float | None = field(
        "推送完整性", "records_delivered / records_named; empty when none is named.", default=None
    )


def nearest_rank(values: list[Any], share: float) -> Any:
    """The `share` percentile of sorted `values` by the nearest-rank method (an observed value)."""
    return values[max(math.ceil(share * len(values)), 1) - 1]


def _own_sites(conn: Connection) -> dict[str, set[str]]:
    """Publisher accounts that are a province's own site or platform, by province: role
    regional_site or trading_platform, every scope region within that one province."""
    own: dict[str, set[str]] = defaultdict(set)
    rows = conn.execute(select(PUBLISHERS.c.name, PUBLISHERS.c.role, PUBLISHERS.c.scope_regions))
    for name, role, regions in rows:
        provinces = {province_of(r.strip()) for r in (regions or "").split(",") if r.strip()}
        if role in RELAY_ROLES and len(provinces) == 1 and "100000" not in provinces:
            own[str(next(iter(provinces)))].add(name)
    return own


def _kinds() -> Any:
    """(kind, the record's table joined as needed, its id column, its region column)."""
    return (
        ("notice", NOTICES.join(PROJECTS, PROJECTS.c.id == NOTICES.c.project_id),
         NOTICES.c.id, PROJECTS.c.region_code),
        ("transaction", TRANSACTIONS, TRANSACTIONS.c.id, TRANSACTIONS.c.region_code),
        ("penalty", PENALTY_RECORDS, PENALTY_RECORDS.c.id, PENALTY_RECORDS.c.region_code),
    )  # fmt: skip


def _lag_pairs(conn: Connection, region_prefix: str | None) -> Any:
    """Relayed deliveries counted per (province, first published, received): the working
    days are counted in Python, the rows summed in the database."""
    s, pub = SOURCES.c, PUBLISHERS.c
    parts = []
    for kind, table, record, region in _kinds():
        query = (
            select(func.substr(region, 1, 2).label("p"), s.first_published_at, s.received_at)
            .select_from(SOURCES.join(PUBLISHERS, pub.id == s.publisher_id)
                         .join(table, and_(s.kind == kind, s.record_id == record)))
            .where(relayed(), region.like(region_prefix + "%") if region_prefix else true())
        )  # fmt: skip
        parts.append(query)
    union = union_all(*parts).subquery()
    return conn.execute(
        select(union.c.p, union.c.first_published_at, union.c.received_at, func.count().label("n"))
        .group_by(union.c.p, union.c.first_published_at, union.c.received_at)
    )  # fmt: skip


def _completeness(
    conn: Connection, region_prefix: str | None, own: dict[str, set[str]]
) -> dict[str, tuple[int, int]]:
    """Per province (two digits): records named (a source of theirs first published or
    delivered by one of the province's own sites) and delivered (by one of those), counted
    in the database record by record."""
    if not own:
        return {}
    provinces = {name: province[:2] for province, names in own.items() for name in names}
    s, pub = SOURCES.c, PUBLISHERS.c
    site = case(provinces, value=pub.name, else_=None)
    origin = case(provinces, value=s.original_publisher, else_=None)
    parts = []
    for kind, table, record, region in _kinds():
        p = func.substr(region, 1, 2)
        query = (
            select(
                p.label("p"),
                func.max(case((or_(site == p, origin == p), 1), else_=0)).label("named"),
                func.max(case((site == p, 1), else_=0)).label("delivered"),
            )
            .select_from(SOURCES.join(PUBLISHERS, pub.id == s.publisher_id)
                         .join(table, and_(s.kind == kind, s.record_id == record)))
            .where(region.like(region_prefix + "%") if region_prefix else true())
            .group_by(s.record_id, p)
        )  # fmt: skip
        parts.append(query)
    union = union_all(*parts).subquery()
    rows = conn.execute(
        select(union.c.p, func.sum(union.c.named), func.sum(union.c.delivered))
        .group_by(union.c.p)
    )  # fmt: skip
    return {p: (int(named or 0), int(delivered or 0)) for p, named, delivered in rows if named}


def push_lags(conn: Connection, region_prefix: str | None = None) -> list[PushLag]:
    """Per province (of the records' regions): relayed arrivals and their lags, and the
    completeness of its pushing.

    Completeness: a record counts as named for its province when one of its sources was
    first published or delivered by a site or platform of that province (`_own_sites`);
    delivered when one of those accounts delivered it here. A record the province never
    sent anywhere that we could see is not knowable here, and does not count.
    """
    hours: dict[str, list[float]] = defaultdict(list)
    days: dict[str, list[int | None]] = defaultdict(list)
    for p, first, received, n in _lag_pairs(conn, region_prefix):
        hours[p] += [lag_hours(first, received)] * n
        days[p] += [lag_workdays(first, received)] * n
    counts = _completeness(conn, region_prefix, _own_sites(conn))
    return [_summary(p + "0000", hours[p], days[p], *counts.get(p, (0, 0)))
            for p in sorted(set(hours) | set(counts)) if p and len(p) == 2]  # fmt: skip


def _summary(
    province: str, lags: list[float], workdays: list[int | None], named: int, delivered: int
) -> PushLag:
    hours = sorted(lags)
    days = sorted(d for d in workdays if d is not None)
    on_time = sum(1 for d in days if d <= PUSH_WORKDAYS)
    return PushLag(
        region_code=province, arrivals=len(lags), on_time=on_time,
        late=len(days) - on_time, undecided=len(lags) - len(days),
        push_timeliness=on_time / len(days) if days else None,
        median_hours=round(statistics.median(hours), 4) if hours else None,
        p95_hours=round(nearest_rank(hours, 0.95), 4) if hours else None,
        median_workdays=statistics.median(days) if days else None,
        p95_workdays=nearest_rank(days, 0.95) if days else None,
        records_named=named, records_delivered=delivered,
        push_completeness=delivered / named if named else None,
        **{name: sum(1 for d in days if low <= d and (high is None or d <= high))
           for name, low, high in BUCKETS},
    )  # fmt: skip
