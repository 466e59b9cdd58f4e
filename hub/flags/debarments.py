"""A debarment published after the projects it concerns: their flags follow in the same ingest.

SUPPLIER_DEBARRED compares a project's awards and contracts with its suppliers' debarments
(禁止参加政府采购活动). A notice ingest recomputes its own project's flags; a penalty ingest
must recompute the projects that already name the penalised party, or a finance department
would see no flag there until the next `caigou flags rebuild`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Select, and_, or_, select, union

from hub.flags.engine import recompute_project
from schema.tables import AWARD_SUPPLIERS, AWARDS, CONTRACT_SUPPLIERS, CONTRACTS
from schema.tables import PENALTY_RECORDS as PENALTIES

CHUNK = 500


def _within(day: Column[Any], start: date, end: date) -> ColumnElement[bool]:
    """The event's day lies in [start, end], or it has no day of its own (the rule then
    falls back to its notice's publication time: recomputing is the safe side)."""
    return or_(
        day.is_(None),
        and_(day >= datetime.combine(start, time()),
             day < datetime.combine(end + timedelta(days=1), time())),
    )  # fmt: skip


def _projects_of(party_id: int, start: date, end: date) -> Select[Any]:
    awarded = (
        select(AWARDS.c.project_id)
        .join(AWARD_SUPPLIERS, AWARD_SUPPLIERS.c.award_pk == AWARDS.c.id)
        .where(AWARD_SUPPLIERS.c.party_id == party_id,
               _within(AWARDS.c.decision_date, start, end))
    )  # fmt: skip
    contracted = (
        select(CONTRACTS.c.project_id)
        .join(CONTRACT_SUPPLIERS, CONTRACT_SUPPLIERS.c.contract_pk == CONTRACTS.c.id)
        .where(CONTRACT_SUPPLIERS.c.party_id == party_id,
               _within(CONTRACTS.c.date_signed, start, end))
    )  # fmt: skip
    return select(union(awarded, contracted).subquery().c[0])


def projects_debarred_by(conn: Connection, penalty_ids: Iterable[int]) -> list[int]:
    """The projects with an award or contract of a penalised party dated within its
    debarment, for these penalty records (those without a debarment concern none)."""
    ids, found = sorted(set(penalty_ids)), set[int]()
    for start in range(0, len(ids), CHUNK):
        rows = conn.execute(
            select(PENALTIES.c.subject_id, PENALTIES.c.debarment_start, PENALTIES.c.debarment_end)
            .where(PENALTIES.c.id.in_(ids[start : start + CHUNK]),
                   PENALTIES.c.subject_id.is_not(None),
                   PENALTIES.c.debarment_start.is_not(None),
                   PENALTIES.c.debarment_end.is_not(None))
        ).all()  # fmt: skip
        for r in rows:
            found.update(int(p) for p in conn.execute(_projects_of(r[0], r[1], r[2])).scalars())
    return sorted(p for p in found if p is not None)


def recompute_debarred(conn: Connection, penalty_ids: Iterable[int]) -> list[int]:
    """Recompute, in the caller's transaction, the flags of the projects these penalty
    records debar a supplier of; their notices are re-indexed when the codes change."""
    projects = projects_debarred_by(conn, penalty_ids)
    for project_id in projects:
        recompute_project(conn, project_id)
    return projects
