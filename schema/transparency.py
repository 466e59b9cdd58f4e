"""Transparency scores (透明度评价, 86号 (十)) per purchaser, agency or region and month.

Computed on demand with four grouped SQL queries (projects, awards, contracts, arrivals); the
counts are additive, so a ranking over a range of months sums them before dividing. A
project counts in the month of its first notice; an arrival in the month of its notice.

- completeness = (required notices present + required fields present) / (required notices +
  required fields). Required notices: an opening notice (tender or single-source publicity;
  single-source publicity for a single-source project) once a result or contract is out; a
  result once a contract is out; procurement documents with a result (not single source);
  a contract notice 30 days after the first result, unless terminated. Required fields: a
  project's title, purchaser, budget, method and category; an active award's amount,
  decision date and supplier; a contract's amount, signing date and supplier.
- timeliness = share of deadlines kept: awards with a decision date (not pending) and
  contracts with a signing date, less the RESULT_LATE and CONTRACT_LATE flags (the 2-working-day
  rules; a flag the calendar could not decide, severity low, does not count as late).
- consistency = share of projects without a flag of high or medium severity.
- push timeliness = share of a notice's relayed arrivals (`record_sources` rows delivered by
  another account than the original publisher: schema/push.py) that came within one working
  day of first publication; the mean delay in hours is given beside it.
- score = the mean of those of the four that have something to measure (a denominator > 0).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Connection, FromClause, and_, case, func, or_, select, true

from schema.codes import region_prefix
from schema.flags import CONTRACT_DAYS
from schema.ocds import utc_now_beijing
from schema.push import PUSH_WORKDAYS, lag_hours, lag_workdays, relayed
from schema.tables import AWARD_SUPPLIERS, AWARDS, CONTRACTS, FLAGS, NOTICES, PROJECTS, PUBLISHERS
from schema.tables import RECORD_SOURCES as SOURCES

LATENESS_CODES = ("RESULT_LATE", "CONTRACT_LATE")
PROJECT_FIELDS = ("title", "purchaser_id", "budget", "procurement_method", "category_code")


class Group(Enum):
    """Whose disclosure is scored: the project's purchaser, agency or region."""

    PURCHASER = "purchaser_id"
    AGENCY = "agency_id"
    REGION = "region_code"


@dataclass
class ScoreCounts:
    """The counts behind one entity's scores; adding two gives the scores of both together."""

    projects: int = 0
    notices_required: int = 0
    notices_present: int = 0
    fields_required: int = 0
    fields_present: int = 0
    deadlines: int = 0
    late: int = 0
    flagged_projects: int = 0
    arrivals: int = 0
    arrivals_on_time: int = 0
    delay_hours: float = 0.0

    def add(self, other: ScoreCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def completeness(self) -> float | None:
        required = self.notices_required + self.fields_required
        return (self.notices_present + self.fields_present) / required if required else None

    @property
    def timeliness(self) -> float | None:
        return max(self.deadlines - self.late, 0) / self.deadlines if self.deadlines else None

    @property
    def consistency(self) -> float | None:
        return (self.projects - self.flagged_projects) / self.projects if self.projects else None

    @property
    def push_timeliness(self) -> float | None:
        return self.arrivals_on_time / self.arrivals if self.arrivals else None

    @property
    def mean_push_delay_hours(self) -> float | None:
        # To the micro-hour: a float sum's last bits follow the database's row order, which
        # would change the dumps' bytes from one run to the next.
        return round(self.delay_hours / self.arrivals, 6) if self.arrivals else None

    @property
    def score(self) -> float | None:
        parts = [self.completeness, self.timeliness, self.consistency, self.push_timeliness]
        known = [p for p in parts if p is not None]
        return sum(known) / len(known) if known else None


@dataclass(frozen=True)
class Scope:
    """Which projects count: a group, a month range ('YYYY-MM', inclusive), optionally one
    entity (`key`) and a region with its descendants; `as_one` counts them all as one entity
    (a region's own series), keyed by `region_code`."""

    group: Group
    month_from: str | None = None
    month_to: str | None = None
    key: Any = None
    region_code: str | None = None
    as_one: bool = False
    as_of: date | None = None  # only what was published by the end of this day (dumps)

    @property
    def before(self) -> datetime | None:
        """The first instant after `as_of`, Beijing time."""
        return datetime.combine(self.as_of + timedelta(days=1), time()) if self.as_of else None


def month_of(conn: Connection, column: Any) -> Any:
    """'YYYY-MM' of a timestamp column, on SQLite and PostgreSQL."""
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m", column)
    return func.to_char(column, "YYYY-MM")


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


def _narrow(conn: Connection, query: Any, scope: Scope, moment: Any) -> Any:
    """The query restricted to `scope`, grouped by entity (unless `as_one`) and month."""
    month = month_of(conn, moment)
    key = PROJECTS.c[scope.group.value]
    clauses = [month >= scope.month_from if scope.month_from else None,
               month <= scope.month_to if scope.month_to else None,
               key == scope.key if scope.key is not None else None,
               moment < scope.before if scope.before else None]  # fmt: skip
    if scope.region_code is not None and scope.region_code != "100000":
        clauses.append(PROJECTS.c.region_code.like(region_prefix(scope.region_code) + "%"))
    if not scope.as_one:
        clauses.append(key.is_not(None))
    query = query.where(and_(*(c for c in clauses if c is not None)))
    if scope.as_one:
        return query.add_columns(month.label("month")).group_by(month)
    return query.add_columns(key.label("key"), month.label("month")).group_by(key, month)


def _project_query(
    conn: Connection, scope: Scope, today: date, flags: FromClause | None = None
) -> Any:
    n = NOTICES.c
    kinds = select(
        n.project_id,
        func.max(_flag(n.notice_type == "tender")).label("tender"),
        func.max(_flag(n.notice_type == "single_source")).label("publicity"),
        func.max(_flag(n.notice_type == "result")).label("result"),
        func.max(_flag(n.notice_type == "documents")).label("documents"),
        func.max(_flag(n.notice_type == "contract")).label("contract"),
        func.max(_flag(n.notice_type == "termination")).label("terminated"),
        func.min(case((n.notice_type == "result", n.published_at))).label("first_result"),
    ).where(n.published_at < scope.before if scope.before else true()
    ).group_by(n.project_id).subquery()  # fmt: skip
    f = (FLAGS if flags is None else flags).c
    late = and_(f.code.in_(LATENESS_CODES), f.severity != "low")
    # Given flags (the dumps' as-of flags) are those standing then; stored ones, by first found.
    before = f.detected_at < scope.before if scope.before is not None and flags is None else None
    flagged = select(
        f.project_id,
        func.sum(_flag(late)).label("late"),
        func.max(_flag(f.severity.in_(("high", "medium")))).label("serious"),
    ).where(f.project_id.is_not(None), before if before is not None else true()
    ).group_by(f.project_id).subquery()  # fmt: skip
    p, k = PROJECTS.c, kinds.c
    single = p.procurement_method == "limited"
    out = or_(k.result == 1, k.contract == 1)
    opened = case((single, k.publicity), else_=_flag(or_(k.tender == 1, k.publicity == 1)))
    cutoff = datetime.combine(today - timedelta(days=CONTRACT_DAYS), datetime.min.time())
    contract_due = and_(k.result == 1, k.terminated == 0, k.first_result < cutoff)
    documents_due = and_(k.result == 1, or_(p.procurement_method.is_(None), ~single))
    required = [_flag(out), _flag(k.contract == 1), _flag(documents_due), _flag(contract_due)]
    present = [_flag(and_(out, opened == 1)), _flag(and_(k.contract == 1, k.result == 1)),
               _flag(and_(documents_due, k.documents == 1)),
               _flag(and_(contract_due, k.contract == 1))]  # fmt: skip
    query = select(
        func.count().label("projects"),
        func.sum(sum(required[1:], required[0])).label("notices_required"),
        func.sum(sum(present[1:], present[0])).label("notices_present"),
        func.sum(sum((_flag(p[c].is_not(None)) for c in PROJECT_FIELDS[1:]),
                     _flag(p[PROJECT_FIELDS[0]].is_not(None)))).label("fields_present"),
        func.sum(func.coalesce(flagged.c.late, 0)).label("late"),
        func.sum(func.coalesce(flagged.c.serious, 0)).label("flagged_projects"),
    ).select_from(
        PROJECTS.outerjoin(kinds, k.project_id == p.id)
        .outerjoin(flagged, flagged.c.project_id == p.id)
    )  # fmt: skip
    return _narrow(conn, query, scope, p.first_published_at)


def _award_query(conn: Connection, scope: Scope) -> Any:
    a, p = AWARDS.c, PROJECTS.c
    named = select(AWARD_SUPPLIERS.c.award_pk).group_by(AWARD_SUPPLIERS.c.award_pk).subquery()
    active = or_(a.status.is_(None), a.status == "active")
    query = select(
        func.sum(_flag(active) * 3).label("fields_required"),
        func.sum(_flag(and_(active, a.amount.is_not(None)))
                 + _flag(and_(active, a.decision_date.is_not(None)))
                 + _flag(and_(active, named.c.award_pk.is_not(None)))).label("fields_present"),
        func.sum(_flag(and_(a.decision_date.is_not(None),
                            or_(a.status.is_(None), a.status != "pending")))).label("deadlines"),
    ).select_from(
        AWARDS.join(PROJECTS, p.id == a.project_id).outerjoin(named, named.c.award_pk == a.id)
    )  # fmt: skip
    if scope.before:  # the compiled tables hold today's awards: those decided by then
        query = query.where(or_(a.decision_date.is_(None), a.decision_date < scope.before))
    return _narrow(conn, query, scope, p.first_published_at)


def _contract_query(conn: Connection, scope: Scope) -> Any:
    c, p = CONTRACTS.c, PROJECTS.c
    query = select(
        (func.count() * 3).label("fields_required"),
        func.sum(_flag(c.amount.is_not(None)) + _flag(c.date_signed.is_not(None))
                 + _flag(c.supplier_id.is_not(None))).label("fields_present"),
        func.sum(_flag(c.date_signed.is_not(None))).label("deadlines"),
    ).select_from(CONTRACTS.join(PROJECTS, p.id == c.project_id))  # fmt: skip
    if scope.before:  # today's contracts: those signed by then
        query = query.where(or_(c.date_signed.is_(None), c.date_signed < scope.before))
    return _narrow(conn, query, scope, p.first_published_at)


def _arrival_query(conn: Connection, scope: Scope) -> Any:
    """Relayed notice arrivals counted by their two times: working days are counted in
    Python (schema.calendar), so the query only groups equal pairs."""
    n, s = NOTICES.c, SOURCES.c
    query = (
        select(func.count().label("n"), s.first_published_at, s.received_at)
        .select_from(
            SOURCES.join(PUBLISHERS, PUBLISHERS.c.id == s.publisher_id)
            .join(NOTICES, and_(s.kind == "notice", n.id == s.record_id))
            .join(PROJECTS, PROJECTS.c.id == n.project_id)
        )
        .where(relayed(), s.received_at < scope.before if scope.before else true())
        .group_by(s.first_published_at, s.received_at)
    )
    return _narrow(conn, query, scope, n.published_at)


def _add_arrivals(counts: ScoreCounts, row: Any) -> None:
    days = lag_workdays(row.first_published_at, row.received_at)
    if days is None:  # a year the calendar does not know: neither on time nor late
        return
    counts.arrivals += row.n
    counts.arrivals_on_time += row.n if days <= PUSH_WORKDAYS else 0
    counts.delay_hours += lag_hours(row.first_published_at, row.received_at) * row.n


def score_counts(
    conn: Connection, scope: Scope, today: date | None = None, flags: FromClause | None = None
) -> dict[tuple[Any, str], ScoreCounts]:
    """Counts per (entity key, month) within `scope`; `flags` (project_id, code, severity)
    replaces the stored flags (the dumps pass those standing as of `today`)."""
    today = today or utc_now_beijing().date()
    found: dict[tuple[Any, str], ScoreCounts] = defaultdict(ScoreCounts)
    for pair in conn.execute(_arrival_query(conn, scope)):
        _add_arrivals(found[(scope.region_code if scope.as_one else pair.key, pair.month)], pair)
    for query in (_project_query(conn, scope, today, flags), _award_query(conn, scope),
                  _contract_query(conn, scope)):  # fmt: skip
        for row in conn.execute(query).mappings():
            key = scope.region_code if scope.as_one else row["key"]
            counts = found[(key, row["month"])]
            for name, value in row.items():
                if name not in ("key", "month") and value is not None:
                    setattr(
                        counts, name, getattr(counts, name) + type(getattr(counts, name))(value)
                    )
    for counts in found.values():  # a project's five fields are all required
        counts.fields_required += counts.projects * len(PROJECT_FIELDS)
    return dict(found)


COUNTS = tuple(f.name for f in fields(ScoreCounts))
SHARES = ("score", "completeness", "timeliness", "consistency", "push_timeliness",
          "mean_push_delay_hours")  # fmt: skip


def score_row(counts: ScoreCounts, group: str, key: Any, month: str | None) -> dict[str, Any]:
    """One `schema.scores.TransparencyScore` row: who (a party id or a region), the shares and
    the counts (a ranking over a range passes no month)."""
    by_region = group == "region"
    row: dict[str, Any] = {
        "group_by": group, "party_id": None if by_region else key,
        "region_code": key if by_region else None, "month": month,
    }  # fmt: skip
    row.update((name, getattr(counts, name)) for name in SHARES)
    row.update((name, getattr(counts, name)) for name in COUNTS if name != "delay_hours")
    return row


@dataclass(frozen=True)
class Ranked:
    key: Any
    counts: ScoreCounts
    rank: int


def ranking(
    conn: Connection, scope: Scope, *, descending: bool = True, limit: int = 20,
    min_projects: int = 1, today: date | None = None,
) -> list[Ranked]:  # fmt: skip
    """Entities by score over the whole month range (best first unless `descending` is
    false); rank 1 is the best score, ties share a rank. Entities without a score are left out."""
    totals: dict[Any, ScoreCounts] = defaultdict(ScoreCounts)
    for (key, _month), counts in score_counts(conn, scope, today).items():
        totals[key].add(counts)
    scored = [
        (k, c) for k, c in totals.items() if c.score is not None and c.projects >= min_projects
    ]
    scored.sort(key=lambda kc: (-(kc[1].score or 0), str(kc[0])))
    ranked, rank, previous = [], 0, None
    for position, (key, counts) in enumerate(scored, 1):
        if counts.score != previous:
            rank, previous = position, counts.score
        ranked.append(Ranked(key, counts, rank))
    return (ranked if descending else ranked[::-1])[:limit]


def trend(
    conn: Connection, scope: Scope, today: date | None = None
) -> list[tuple[str, ScoreCounts]]:
    """One entity's (or one region's) counts month by month, oldest first."""
    months: dict[str, ScoreCounts] = defaultdict(ScoreCounts)
    for (_key, month), counts in score_counts(conn, scope, today).items():
        months[month].add(counts)
    return sorted(months.items())
