"""Run the rules: one project's flags, incrementally, or every flag from scratch.

`recompute_project` runs in the caller's transaction (the publishing pipeline calls it right
after compiling a project), so a project's flags never disagree with its compiled state.

A finding that stands across recomputations keeps its flag id and `detected_at` (matched on
rule, project, transaction, party and notices), so ids stay valid in the API. The daily dumps
date a project flag by the day its finding first stood, computed as of each day
(hub.flags.asof.FlagDays), not by `detected_at`. When the rule codes of a project or a
transaction change, its search documents (which carry `flag_codes`) go to the search outbox.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, delete, select

from hub.flags import consistency, rules, stages  # noqa: F401  (they register their rules)
from hub.flags.facts import CompiledNotices, ProjectFacts, load_many
from hub.flags.prices import CODE as PRICE_CODE
from hub.flags.prices import LEGAL_BASIS as PRICE_BASIS
from hub.flags.prices import SEVERITY as PRICE_SEVERITY
from hub.flags.prices import Outlier, price_outliers
from hub.flags.registry import PROJECT_RULES, UNKNOWN_CALENDAR, Finding, Rule
from schema.calendar import WorkCalendar, default_calendar
from schema.data_version import bump_data_version
from schema.flags import Flag
from schema.ocds import utc_now_beijing
from schema.search_outbox import enqueue
from schema.tables import FLAGS, NOTICES, PROJECTS

CHUNK = 500
# What makes two computations of a flag the same finding.
FlagKey = tuple[str, int | None, int | None, int | None, str | None]


@dataclass(frozen=True)
class Standing:
    """A stored flag: its id and when its finding was first made."""

    id: int
    detected_at: datetime


def _key(flag: Flag) -> FlagKey:
    return (flag.code, flag.project_id, flag.transaction_id, flag.party_id, flag.notice_ids)


def _standing(conn: Connection, where: ColumnElement[bool]) -> dict[FlagKey, list[Standing]]:
    """The stored flags matching `where`, by finding, in id order."""
    c = FLAGS.c
    found: dict[FlagKey, list[Standing]] = defaultdict(list)
    query = select(c.id, c.code, c.project_id, c.transaction_id, c.party_id, c.notice_ids,
                   c.detected_at).where(where).order_by(c.id)  # fmt: skip
    for r in conn.execute(query):
        key = (r.code, r.project_id, r.transaction_id, r.party_id, r.notice_ids)
        found[key].append(Standing(r.id, r.detected_at))
    return found


def _keep_identity(flags: Iterable[Flag], standing: dict[FlagKey, list[Standing]]) -> None:
    """Give each flag whose finding was already stored that flag's id and detection time."""
    for flag in flags:
        same = standing.get(_key(flag))
        if same:
            kept = same.pop(0)
            flag.id, flag.detected_at = kept.id, kept.detected_at


def _codes_by(
    standing: dict[FlagKey, list[Standing]], position: Literal[1, 2]
) -> dict[int, set[str]]:
    """Rule codes per project (position 1) or transaction (position 2) of stored flags."""
    codes: dict[int, set[str]] = defaultdict(set)
    for key in standing:
        owner = key[position]
        if owner is not None:
            codes[owner].add(key[0])
    return codes


def enqueue_notices(conn: Connection, project_ids: Iterable[int], at: datetime) -> int:
    """Put the notices of these projects in the search outbox (their `flag_codes` changed)."""
    ids, queued = sorted(set(project_ids)), 0
    for start in range(0, len(ids), CHUNK):
        query = select(NOTICES.c.id).where(NOTICES.c.project_id.in_(ids[start : start + CHUNK]))
        queued += enqueue(conn, "notice", conn.execute(query).scalars(), at)
    return queued


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
    return flags_for_projects(conn, [project_id], today=today, calendar=calendar)


def flags_for_projects(
    conn: Connection, project_ids: list[int], *, today: date | None = None,
    calendar: WorkCalendar | None = None, given: dict[int, CompiledNotices] | None = None,
) -> list[Flag]:  # fmt: skip
    """Every rule's findings on these projects (their facts loaded together), in id order;
    `given` projects come with their notices and merged release (see `load_many`)."""
    now = utc_now_beijing()
    day, days = today or now.date(), calendar or default_calendar()
    loaded = load_many(conn, project_ids, day, days, given)
    return [
        _flag(rule, finding, pid, now)
        for pid in sorted(loaded) for rule, finding in findings(loaded[pid])
    ]  # fmt: skip


def _insert(conn: Connection, flags: Iterable[Flag]) -> int:
    """Insert flags; those that kept a stored finding's id insert it, the others get new ones."""
    kept = [f.model_dump() for f in flags if f.id is not None]
    new = [f.model_dump(exclude={"id"}) for f in flags if f.id is None]
    for rows in (kept, new):
        for start in range(0, len(rows), CHUNK):
            conn.execute(FLAGS.insert(), rows[start : start + CHUNK])
    return len(kept) + len(new)


def recompute_project(
    conn: Connection, project_id: int, *, today: date | None = None,
    calendar: WorkCalendar | None = None, reindex: bool = True,
    compiled: CompiledNotices | None = None,
) -> list[Flag]:  # fmt: skip
    """Replace one project's flags, in the caller's transaction; re-index its notices when
    its rule codes changed (unless `reindex` is false: the caller queues them anyway).

    `compiled`: the notices and merged release the caller just compiled the project from
    (the ingest), so they are not read, parsed and merged a second time."""
    given = {project_id: compiled} if compiled is not None else None
    flags = flags_for_projects(conn, [project_id], today=today, calendar=calendar, given=given)
    standing = _standing(conn, FLAGS.c.project_id == project_id)
    before = _codes_by(standing, 1).get(project_id, set())
    _keep_identity(flags, standing)
    conn.execute(delete(FLAGS).where(FLAGS.c.project_id == project_id))
    _insert(conn, flags)
    if reindex and before != {f.code for f in flags}:
        enqueue_notices(conn, [project_id], utc_now_beijing())
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
    standing = _standing(conn, FLAGS.c.transaction_id.is_not(None))
    before = set(_codes_by(standing, 2))
    _keep_identity(flags, standing)
    conn.execute(delete(FLAGS).where(FLAGS.c.transaction_id.is_not(None)))
    after = {f.transaction_id for f in flags if f.transaction_id is not None}
    enqueue(conn, "transaction", before ^ after, now)  # one rule: flagged or not
    return _insert(conn, flags)


def rebuild(engine: Engine, *, today: date | None = None) -> dict[str, int]:
    """Recompute every flag: project by project, then the transactions. Returns counts."""
    with engine.begin() as conn:
        standing = _standing(conn, FLAGS.c.transaction_id.is_(None))
        before = _codes_by(standing, 1)
        conn.execute(delete(FLAGS).where(FLAGS.c.transaction_id.is_(None)))
        ids = list(conn.execute(select(PROJECTS.c.id).order_by(PROJECTS.c.id)).scalars())
        counts = {"projects": len(ids), "project_flags": 0}
        changed: list[int] = []
        for start in range(0, len(ids), CHUNK):
            flags = flags_for_projects(conn, ids[start : start + CHUNK], today=today)
            _keep_identity(flags, standing)
            after = _codes_by({_key(f): [] for f in flags}, 1)
            changed += [p for p in ids[start : start + CHUNK]
                        if before.get(p, set()) != after.get(p, set())]  # fmt: skip
            counts["project_flags"] += _insert(conn, flags)
        counts["transaction_flags"] = recompute_transactions(conn)
        counts["notices_queued"] = enqueue_notices(conn, changed, utc_now_beijing())
        bump_data_version(conn)  # flags are in query answers: cached ones are now stale
    return counts
