"""Run the rules: one project's flags, incrementally, or every flag from scratch.

`recompute_project` runs in the caller's transaction (the publishing pipeline calls it right
after compiling a project), so a project's flags never disagree with its compiled state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, select

from hub.flags import consistency, rules, stages  # noqa: F401  (they register their rules)
from hub.flags.facts import ProjectFacts, load_facts
from hub.flags.prices import CODE as PRICE_CODE
from hub.flags.prices import LEGAL_BASIS as PRICE_BASIS
from hub.flags.prices import SEVERITY as PRICE_SEVERITY
from hub.flags.prices import Outlier, price_outliers
from hub.flags.registry import PROJECT_RULES, UNKNOWN_CALENDAR, Finding, Rule
from schema.calendar import WorkCalendar, default_calendar
from schema.flags import Flag
from schema.ocds import utc_now_beijing
from schema.tables import Project

FLAGS = Flag.__table__  # type: ignore[attr-defined]
PROJECTS = Project.__table__  # type: ignore[attr-defined]
CHUNK = 500


def _flag(rule: Rule, finding: Finding, project_id: int, now: datetime) -> Flag:
    evidence: dict[str, Any] = {
        "notices": [n.ref() for n in finding.notices],
        "fields": list(finding.fields),
        **finding.extra,
    }
    if finding.note:
        evidence["note"] = finding.note
    return Flag(
        code=rule.code,
        # An undecidable deadline is shown, but never as a serious finding.
        severity="low" if finding.note == UNKNOWN_CALENDAR else rule.severity,
        project_id=project_id, party_id=finding.party_id,
        notice_ids=",".join(str(n.id) for n in finding.notices) or None,
        evidence=orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS).decode(),
        message=finding.message, legal_basis=rule.legal_basis, detected_at=now,
    )  # fmt: skip


def findings(facts: ProjectFacts) -> Iterator[tuple[Rule, Finding]]:
    for rule in PROJECT_RULES.values():
        for finding in rule.check(facts):
            yield rule, finding


def flags_for_project(
    conn: Connection, project_id: int, *, today: date | None = None,
    calendar: WorkCalendar | None = None,
) -> list[Flag]:  # fmt: skip
    """Every rule's findings on one project, as unsaved `Flag` rows."""
    now = utc_now_beijing()
    facts = load_facts(conn, project_id, today or now.date(), calendar or default_calendar())
    if facts is None:
        return []
    return [_flag(rule, finding, project_id, now) for rule, finding in findings(facts)]


def _insert(conn: Connection, flags: Iterable[Flag]) -> int:
    rows = [f.model_dump(exclude={"id"}) for f in flags]
    for start in range(0, len(rows), CHUNK):
        conn.execute(FLAGS.insert(), rows[start : start + CHUNK])
    return len(rows)


def recompute_project(
    conn: Connection, project_id: int, *, today: date | None = None,
    calendar: WorkCalendar | None = None,
) -> list[Flag]:  # fmt: skip
    """Replace one project's flags, in the caller's transaction."""
    flags = flags_for_project(conn, project_id, today=today, calendar=calendar)
    conn.execute(delete(FLAGS).where(FLAGS.c.project_id == project_id))
    _insert(conn, flags)
    return flags


def _outlier_flag(outlier: Outlier, now: datetime) -> Flag:
    order = outlier.order
    peers = [
        {"transaction_id": p.id, "order_id": p.order_id, "purchaser_id": p.purchaser_id,
         "unit_price": str(p.unit_price), "order_date": p.order_date.isoformat()}
        for p in outlier.peers
    ]  # fmt: skip
    evidence = {
        "fields": [
            {"field": "transactions.unit_price", "value": str(order.unit_price)},
            {"field": "transactions.category_code", "value": outlier.category_code},
            {"field": "transactions.model", "value": order.model},
        ],
        "period": outlier.quarter, "median": str(outlier.median), "mad": str(outlier.mad),
        "orders_compared": outlier.group_size, "peers": peers,
    }  # fmt: skip
    return Flag(
        code=PRICE_CODE, severity=PRICE_SEVERITY, party_id=order.supplier_id,
        transaction_id=order.id,
        evidence=orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS).decode(),
        message=outlier.message(), legal_basis=PRICE_BASIS, detected_at=now,
    )  # fmt: skip


def recompute_transactions(conn: Connection) -> int:
    """Replace every transaction flag; one ordered pass over the transactions."""
    now = utc_now_beijing()
    flags = [_outlier_flag(o, now) for o in price_outliers(conn)]  # few: read before writing
    conn.execute(delete(FLAGS).where(FLAGS.c.transaction_id.is_not(None)))
    return _insert(conn, flags)


def rebuild(engine: Engine, *, today: date | None = None) -> dict[str, int]:
    """Recompute every flag: project by project, then the transactions. Returns counts."""
    with engine.begin() as conn:
        conn.execute(delete(FLAGS))
        ids = list(conn.execute(select(PROJECTS.c.id).order_by(PROJECTS.c.id)).scalars())
        counts = {"projects": len(ids), "project_flags": 0}
        for start in range(0, len(ids), CHUNK):
            flags = [
                f for pid in ids[start : start + CHUNK]
                for f in flags_for_project(conn, pid, today=today)
            ]  # fmt: skip
            counts["project_flags"] += _insert(conn, flags)
        counts["transaction_flags"] = recompute_transactions(conn)
    return counts
