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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, literal, select, union_all
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
    try:
        return working_days_between(first.date(), received.date())
    except CalendarUnknown:
        return None


def relayed() -> Any:
    """The condition on `record_sources` joined to `publishers`: delivered by another account
    than the record's original publisher."""
    return SOURCES.c.original_publisher != PUBLISHERS.c.name


def province_of(region_code: str | None) -> str | None:
    """The province (省级) of a six-digit division code: its first two digits, then zeros."""
    return region_code[:2] + "0000" if region_code and len(region_code) == 6 else None


@dataclass(frozen=True)
class Arrival:
    """One relayed delivery of one record: where the record belongs and both of its times."""

    kind: str
    record_id: int
    region_code: str | None
    original_publisher: str
    delivered_by: str
    first_published_at: datetime
    received_at: datetime

    @property
    def hours(self) -> float:
        return lag_hours(self.first_published_at, self.received_at)

    @property
    def workdays(self) -> int | None:
        return lag_workdays(self.first_published_at, self.received_at)

    @property
    def on_time(self) -> bool | None:
        days = self.workdays
        return None if days is None else days <= PUSH_WORKDAYS


def arrivals_query(region_prefix: str | None = None, *, only_relayed: bool = True) -> Any:
    """Every relayed delivery with its record's region (a notice's project's, a transaction's
    purchaser's, a penalty's authority's), oldest arrival first; `region_prefix` narrows to
    the division codes starting with it."""
    s, pub = SOURCES.c, PUBLISHERS.c
    parts = []
    for kind, table, record, region in (
        ("notice", NOTICES.join(PROJECTS, PROJECTS.c.id == NOTICES.c.project_id),
         NOTICES.c.id, PROJECTS.c.region_code),
        ("transaction", TRANSACTIONS, TRANSACTIONS.c.id, TRANSACTIONS.c.region_code),
        ("penalty", PENALTY_RECORDS, PENALTY_RECORDS.c.id, PENALTY_RECORDS.c.region_code),
    ):  # fmt: skip
        query = select(
            literal(kind).label("kind"),
            s.record_id,
            region.label("region_code"),
            s.original_publisher,
            pub.name.label("delivered_by"),
            s.first_published_at,
            s.received_at,
            s.id,
        ).select_from(
            SOURCES.join(PUBLISHERS, pub.id == s.publisher_id).join(
                table, and_(s.kind == kind, s.record_id == record)
            )
        )
        if only_relayed:
            query = query.where(relayed())
        if region_prefix:
            query = query.where(region.like(region_prefix + "%"))
        parts.append(query)
    return union_all(*parts)


def relayed_arrivals(conn: Connection, region_prefix: str | None = None) -> list[Arrival]:
    """The relayed deliveries (optionally of one region and its descendants), in order of
    arrival."""
    union = arrivals_query(region_prefix).subquery()
    rows = conn.execute(select(union).order_by(union.c.received_at, union.c.kind, union.c.id))
    return [
        Arrival(r.kind, r.record_id, r.region_code, r.original_publisher, r.delivered_by,
                r.first_published_at, r.received_at)
        for r in rows
    ]  # fmt: skip


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


def push_lags(conn: Connection, region_prefix: str | None = None) -> list[PushLag]:
    """Per province (of the records' regions): relayed arrivals and their lags, and the
    completeness of its pushing.

    Completeness: a record counts as named for its province when one of its sources was
    first published or delivered by a site or platform of that province (`_own_sites`);
    delivered when one of those accounts delivered it here. A record the province never
    sent anywhere that we could see is not knowable here, and does not count.
    """
    union = arrivals_query(region_prefix, only_relayed=False).subquery()
    own = _own_sites(conn)
    lags: dict[str, list[Arrival]] = defaultdict(list)
    named: dict[str, set[tuple[str, int]]] = defaultdict(set)
    delivered: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for r in conn.execute(select(union).order_by(union.c.received_at, union.c.kind, union.c.id)):
        province = province_of(r.region_code)
        if province is None:
            continue
        record = (r.kind, r.record_id)
        sites = own.get(province, set())
        if r.original_publisher in sites or r.delivered_by in sites:
            named[province].add(record)
        if r.delivered_by in sites:
            delivered[province].add(record)
        if r.original_publisher != r.delivered_by:
            lags[province].append(Arrival(
                r.kind, r.record_id, r.region_code, r.original_publisher, r.delivered_by,
                r.first_published_at, r.received_at))  # fmt: skip
    return [_summary(p, lags[p], len(named[p]), len(delivered[p]))
            for p in sorted(set(lags) | set(named))]  # fmt: skip


def _summary(province: str, arrivals: list[Arrival], named: int, delivered: int) -> PushLag:
    hours = sorted(a.hours for a in arrivals)
    days = sorted(d for d in (a.workdays for a in arrivals) if d is not None)
    on_time = sum(1 for d in days if d <= PUSH_WORKDAYS)
    return PushLag(
        region_code=province, arrivals=len(arrivals), on_time=on_time,
        late=len(days) - on_time, undecided=len(arrivals) - len(days),
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
