"""What the rules look at: one project's notices, compiled release, awards and contracts.

Loaded once per project so every rule reads the same snapshot, and each rule stays a small
pure function of it. Evidence helpers live here too, so every flag cites notices alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Row, select

from schema.calendar import WorkCalendar
from schema.ocds import currency_code, merge_releases
from schema.tables import (
    AWARD_SUPPLIERS,
    AWARDS,
    CONTRACT_SUPPLIERS,
    CONTRACTS,
    LOTS,
    NOTICES,
    PROJECTS,
)
from schema.tables import PENALTY_RECORDS as PENALTIES


@dataclass(frozen=True, eq=False)  # identity: a notice is itself, whatever it says
class NoticeFact:
    id: int
    release_id: str
    notice_type: str
    published_at: datetime
    publisher_id: int
    source_site: str | None
    title: str
    content_hash: str
    payload: dict[str, Any]

    def ref(self) -> dict[str, Any]:
        """How evidence cites a notice: enough to click through and to read it at a glance."""
        return {
            "id": self.id, "release_id": self.release_id, "type": self.notice_type,
            "title": self.title, "published_at": self.published_at.isoformat(),
            "publisher_id": self.publisher_id, "source_site": self.source_site,
        }  # fmt: skip

    def item(self, section: str, item_id: str) -> dict[str, Any] | None:
        """The entry `item_id` of `awards` or `contracts` as this notice states it."""
        for entry in self.payload.get(section) or []:
            if isinstance(entry, dict) and str(entry.get("id")) == item_id:
                return entry
        return None


@dataclass(frozen=True)
class AwardFact:
    award_id: str
    lot_ids: tuple[str, ...]
    status: str | None
    decision_date: datetime | None
    amount: Decimal | None
    supplier_ids: frozenset[int]
    currency: str = "CNY"  # ISO 4217 (schema.ocds.currency_code): amounts compare within one


@dataclass(frozen=True)
class ContractFact:
    contract_id: str
    award_id: str | None
    supplier_ids: tuple[int, ...]  # every member of a consortium (联合体), lead first
    amount: Decimal | None
    date_signed: datetime | None
    currency: str = "CNY"


@dataclass(frozen=True)
class Debarment:
    penalty_pk: int
    record_id: str
    kind: str
    subject_id: int
    start: date
    end: date
    decision_number: str | None
    authority_name: str

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass
class ProjectFacts:
    project: Row[Any]
    notices: list[NoticeFact]
    compiled: dict[str, Any]
    lot_budgets: dict[str, Decimal | None]
    awards: list[AwardFact]
    contracts: list[ContractFact]
    debarments: dict[int, list[Debarment]]
    today: date
    calendar: WorkCalendar
    tender: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.tender = self.compiled.get("tender") or {}

    def of_type(self, *types: str) -> list[NoticeFact]:
        return [n for n in self.notices if n.notice_type in types]

    def first_stating(self, section: str, item_id: str) -> NoticeFact | None:
        """The first notice that published award/contract `item_id`: its disclosure."""
        return next((n for n in self.notices if n.item(section, item_id) is not None), None)

    def last_stating(self, section: str, item_id: str, key: str) -> NoticeFact | None:
        """The notice whose value of `key` the compiled entry holds (corrections included)."""
        stating = [n for n in self.notices if key in (n.item(section, item_id) or {})]
        return stating[-1] if stating else None

    def tender_source(self, *path: str) -> NoticeFact | None:
        """The last notice that stated tender.<path>, e.g. ("tenderPeriod", "endDate")."""
        found = None
        for notice in self.notices:
            value: Any = notice.payload.get("tender") or {}
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                found = notice
        return found


def fact(path: str, value: Any, notice: NoticeFact | None = None) -> dict[str, Any]:
    """One field of the evidence: where it is, its value, and the notice that stated it."""
    if isinstance(value, datetime | date):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    return {"field": path, "value": value, "notice_id": notice.id if notice else None}


@dataclass(frozen=True)
class CompiledNotices:
    """A project's notices (payloads parsed) in publish order and their merged release.

    The ingest compiles a project from exactly these (`hub.publishing.compile`) and hands
    them to the flag engine, which would otherwise read, parse and merge them all again.
    """

    notices: list[NoticeFact]
    compiled: dict[str, Any]


# What a NoticeFact holds: every notice column the rules or the compiler read.
NOTICE_COLUMNS: tuple[ColumnElement[Any], ...] = (
    NOTICES.c.project_id, NOTICES.c.id, NOTICES.c.release_id, NOTICES.c.notice_type,
    NOTICES.c.published_at, NOTICES.c.publisher_id, NOTICES.c.source_site, NOTICES.c.title,
    NOTICES.c.content_hash, NOTICES.c.payload,
)  # fmt: skip
PUBLISH_ORDER = (NOTICES.c.published_at, NOTICES.c.id)


def _notice(r: Row[Any]) -> NoticeFact:
    return NoticeFact(
        r.id, r.release_id, r.notice_type, r.published_at, r.publisher_id, r.source_site,
        r.title, r.content_hash, orjson.loads(r.payload),
    )  # fmt: skip


def project_notices(conn: Connection, project_id: int) -> list[NoticeFact]:
    """One project's notices in publish order, each payload parsed once."""
    query = select(*NOTICE_COLUMNS).where(NOTICES.c.project_id == project_id)
    return [_notice(r) for r in conn.execute(query.order_by(*PUBLISH_ORDER))]


def load_many(
    conn: Connection, project_ids: list[int], today: date, calendar: WorkCalendar,
    given: Mapping[int, CompiledNotices] | None = None,
) -> dict[int, ProjectFacts]:  # fmt: skip
    """The facts of several projects in eight queries, whatever their number.

    A full rebuild loads 100,000 projects: one round of queries per project was most of its
    time (500 projects per call make a rebuild about 200 rounds). Projects in `given` come
    with their notices and merged release, which are then neither read nor merged again.
    """
    ids = list(project_ids)
    given = given or {}
    projects = {r.id: r for r in conn.execute(select(PROJECTS).where(PROJECTS.c.id.in_(ids)))}
    notices: dict[int, list[NoticeFact]] = {pid: [] for pid in projects}
    unread = [pid for pid in ids if pid not in given]
    if unread:
        for r in conn.execute(
            select(*NOTICE_COLUMNS).where(NOTICES.c.project_id.in_(unread))
            .order_by(NOTICES.c.project_id, *PUBLISH_ORDER)
        ):  # fmt: skip
            notices[r.project_id].append(_notice(r))
    suppliers: dict[int, set[int]] = {}
    for award_pk, party_id in conn.execute(
        select(AWARD_SUPPLIERS.c.award_pk, AWARD_SUPPLIERS.c.party_id)
        .join(AWARDS, AWARDS.c.id == AWARD_SUPPLIERS.c.award_pk)
        .where(AWARDS.c.project_id.in_(ids))
    ):  # fmt: skip
        suppliers.setdefault(award_pk, set()).add(party_id)
    awards: dict[int, list[AwardFact]] = {pid: [] for pid in projects}
    for a in conn.execute(select(AWARDS).where(AWARDS.c.project_id.in_(ids)).order_by(AWARDS.c.id)):
        awards[a.project_id].append(AwardFact(
            a.award_id, tuple(a.lot_ids.split(",")) if a.lot_ids else (), a.status,
            a.decision_date, a.amount, frozenset(suppliers.get(a.id, ())),
            currency_code(a.currency),
        ))  # fmt: skip
    members: dict[int, list[int]] = {}
    for contract_pk, party_id in conn.execute(
        select(CONTRACT_SUPPLIERS.c.contract_pk, CONTRACT_SUPPLIERS.c.party_id)
        .join(CONTRACTS, CONTRACTS.c.id == CONTRACT_SUPPLIERS.c.contract_pk)
        .where(CONTRACTS.c.project_id.in_(ids))
        .order_by(CONTRACT_SUPPLIERS.c.contract_pk, CONTRACT_SUPPLIERS.c.position)
    ):  # fmt: skip
        members.setdefault(contract_pk, []).append(party_id)
    contracts: dict[int, list[ContractFact]] = {pid: [] for pid in projects}
    for c in conn.execute(
        select(CONTRACTS).where(CONTRACTS.c.project_id.in_(ids)).order_by(CONTRACTS.c.id)
    ):
        contracts[c.project_id].append(ContractFact(
            c.contract_id, c.award_id, tuple(members.get(c.id, ())), c.amount, c.date_signed,
            currency_code(c.currency),
        ))  # fmt: skip
    lots: dict[int, dict[str, Decimal | None]] = {pid: {} for pid in projects}
    for lot in conn.execute(select(LOTS).where(LOTS.c.project_id.in_(ids))):
        lots[lot.project_id][lot.lot_id] = lot.budget
    party_ids = {p for found in awards.values() for a in found for p in a.supplier_ids}
    party_ids |= {p for found in contracts.values() for c in found for p in c.supplier_ids}
    debarments = _debarments(conn, party_ids)
    facts = {}
    for pid, project in projects.items():
        named = {p for a in awards[pid] for p in a.supplier_ids}
        named |= {p for c in contracts[pid] for p in c.supplier_ids}
        if pid in given:
            own, compiled = given[pid].notices, given[pid].compiled
        else:
            own, compiled = notices[pid], merge_releases(n.payload for n in notices[pid])
        facts[pid] = ProjectFacts(
            project, own, compiled, lots[pid], awards[pid], contracts[pid],
            {p: debarments[p] for p in named if p in debarments}, today, calendar,
        )  # fmt: skip
    return facts


def _debarments(conn: Connection, party_ids: Iterable[int]) -> dict[int, list[Debarment]]:
    """Debarment periods (禁止参加政府采购活动) of the given parties, whatever record set them."""
    found: dict[int, list[Debarment]] = {}
    ids = sorted(party_ids)
    if not ids:
        return found
    rows = conn.execute(
        select(PENALTIES).where(
            PENALTIES.c.subject_id.in_(ids),
            PENALTIES.c.debarment_start.is_not(None),
            PENALTIES.c.debarment_end.is_not(None),
        ).order_by(PENALTIES.c.debarment_start, PENALTIES.c.id)
    )  # fmt: skip
    for r in rows:
        found.setdefault(r.subject_id, []).append(Debarment(
            r.id, r.record_id, r.kind, r.subject_id, r.debarment_start, r.debarment_end,
            r.decision_number, r.authority_name,
        ))  # fmt: skip
    return found
