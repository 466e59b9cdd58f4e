"""compile_project: a project's current state from its notices, in publish order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update

from hub.flags.engine import recompute_project
from hub.publishing.contract_suppliers import clear_contract_suppliers, store_contract_suppliers
from hub.publishing.details import compile_details
from hub.publishing.parties import PartyResolver
from schema.codes import CodeError, catalogue_classification
from schema.contract_suppliers import contract_suppliers
from schema.ocds import amount_of, merge_releases, parse_ocds_datetime
from schema.tables import Award, AwardSupplier, Contract, Lot, Notice, Project
from schema.types import NoticeType, PartyRole, ProjectStatus

NOTICES = Notice.__table__  # type: ignore[attr-defined]
PROJECTS = Project.__table__  # type: ignore[attr-defined]
LOTS = Lot.__table__  # type: ignore[attr-defined]
AWARDS = Award.__table__  # type: ignore[attr-defined]
AWARD_SUPPLIERS = AwardSupplier.__table__  # type: ignore[attr-defined]
CONTRACTS = Contract.__table__  # type: ignore[attr-defined]

ROLE_OF = {
    "buyer": PartyRole.purchaser,
    "procuringEntity": PartyRole.agency,
    "supplier": PartyRole.supplier,
}
STATUS_OF = {
    NoticeType.intention: ProjectStatus.planning,
    NoticeType.tender: ProjectStatus.tendering,
    NoticeType.single_source: ProjectStatus.tendering,
    NoticeType.result: ProjectStatus.awarded,
    NoticeType.contract: ProjectStatus.contracted,
    NoticeType.acceptance: ProjectStatus.completed,
    NoticeType.termination: ProjectStatus.terminated,
}


def _money(value: Any) -> Decimal | None:
    amount = amount_of(value)
    return None if amount is None else Decimal(str(amount))


def _currency(value: Any) -> str | None:
    return value.get("currency") if isinstance(value, dict) else None


def _when(value: Any) -> Any:
    return parse_ocds_datetime(value) if value else None


def _category(tender: dict[str, Any]) -> tuple[str, str] | None:
    """The project's 品目: the first item classified in the catalogue; a foreign scheme's code
    (CPV, UNSPSC…) stays in the payload only. Checked at the door, so no CodeError here."""
    for item in tender.get("items") or []:
        classification = item.get("classification") or {}
        try:
            found = catalogue_classification(classification.get("scheme"), classification.get("id"))
        except CodeError:  # stored before the door checked every scheme: not a 品目
            found = None
        if found:
            return found
    return None


def compile_project(conn: Connection, project_id: int, parties: PartyResolver) -> dict[str, Any]:
    """Recompile one project and replace its lots, awards and contracts; returns the record."""
    notices = conn.execute(
        select(NOTICES.c.id, NOTICES.c.notice_type, NOTICES.c.published_at, NOTICES.c.payload)
        .where(NOTICES.c.project_id == project_id)
        .order_by(NOTICES.c.published_at, NOTICES.c.id)
    ).all()
    releases = [orjson.loads(n.payload) for n in notices]
    compiled = merge_releases(releases)
    party_ids = _resolve_parties(compiled, parties)
    tender = compiled.get("tender") or {}
    budget_value = ((compiled.get("planning") or {}).get("budget") or {}).get("amount")
    if amount_of(budget_value) is None:
        budget_value = tender.get("value")
    buyer_ref = (compiled.get("buyer") or {}).get("id")
    agency_ref = (tender.get("procuringEntity") or {}).get("id") or next(
        (
            p.get("id")
            for p in compiled.get("parties") or []
            if "procuringEntity" in (p.get("roles") or [])
        ),
        None,
    )
    category = _category(tender)
    status = ProjectStatus.planning
    for notice in notices:
        status = STATUS_OF.get(NoticeType(notice.notice_type), status)
    values = {
        "project_code": tender.get("id"),
        "title": tender.get("title"),
        "purchaser_id": party_ids.get(buyer_ref) if buyer_ref is not None else None,
        "agency_id": party_ids.get(agency_ref) if agency_ref is not None else None,
        "procurement_method": tender.get("procurementMethod"),
        "procurement_method_details": tender.get("procurementMethodDetails"),
        "main_category": tender.get("mainProcurementCategory"),
        "category_code": category[0] if category else None,
        "category_edition": category[1] if category else None,
        "budget": _money(budget_value),
        "currency": _currency(budget_value),
        "status": status.value,
        "first_published_at": notices[0].published_at,
        "last_published_at": notices[-1].published_at,
        "notice_count": len(notices),
    }
    # No region_code: a project keeps the region its first notice was stored with, which
    # every later notice is checked against (NoticeHandler._region); a release never moves it.
    conn.execute(update(PROJECTS).where(PROJECTS.c.id == project_id).values(**values))
    clear_contract_suppliers(conn, project_id)  # before the contracts they name are replaced
    _replace_children(conn, project_id, compiled, party_ids)
    store_contract_suppliers(conn, project_id, contract_suppliers(releases, compiled), party_ids)
    parties.changed |= compile_details(conn, project_id, notices, compiled, party_ids)
    # Flags follow the compiled state, in the same transaction; the pipeline re-indexes every
    # notice of a recompiled project itself (NoticeHandler.finish), flag codes included.
    recompute_project(conn, project_id, reindex=False)
    return compiled


def _resolve_parties(compiled: dict[str, Any], parties: PartyResolver) -> dict[str, int]:
    """OCDS party ids (local to the release) → hub party ids."""
    resolved: dict[str, int] = {}
    for party in compiled.get("parties") or []:
        roles = [ROLE_OF[r] for r in party.get("roles") or [] if r in ROLE_OF]
        if not roles or party.get("id") is None:
            continue
        identifier = party.get("identifier") or {}
        code = identifier.get("id") if identifier.get("scheme") in ("CN-SAIC", "CN-USCC") else None
        code = parties.check_code(str(code), "identifier.id") if code else None
        region = (party.get("address") or {}).get("region")
        for role in roles:
            resolved[str(party["id"])] = parties.resolve(party["name"], code, region, role)
    return resolved


def _replace_children(
    conn: Connection, project_id: int, compiled: dict[str, Any], party_ids: dict[str, int]
) -> None:
    old_awards = select(AWARDS.c.id).where(AWARDS.c.project_id == project_id)
    conn.execute(delete(AWARD_SUPPLIERS).where(AWARD_SUPPLIERS.c.award_pk.in_(old_awards)))
    for table in (AWARDS, CONTRACTS, LOTS):
        conn.execute(delete(table).where(table.c.project_id == project_id))
    tender = compiled.get("tender") or {}
    for lot in tender.get("lots") or []:
        conn.execute(LOTS.insert().values(
            project_id=project_id, lot_id=str(lot["id"]), title=lot.get("title"),
            budget=_money(lot.get("value")), status=lot.get("status"),
        ))  # fmt: skip
    for award in compiled.get("awards") or []:
        award_pk = conn.execute(
            AWARDS.insert()
            .values(
                project_id=project_id, award_id=str(award["id"]),
                lot_ids=",".join(map(str, award.get("relatedLots") or [])) or None,
                title=award.get("title"), status=award.get("status"),
                decision_date=_when(award.get("date")), amount=_money(award.get("value")),
                currency=_currency(award.get("value")),
            )
            .returning(AWARDS.c.id)
        ).scalar_one()  # fmt: skip
        suppliers = {
            party_ids[s["id"]] for s in award.get("suppliers") or [] if s.get("id") in party_ids
        }
        for party_id in sorted(suppliers):
            conn.execute(AWARD_SUPPLIERS.insert().values(award_pk=award_pk, party_id=party_id))
    for contract in compiled.get("contracts") or []:
        period = contract.get("period") or {}
        conn.execute(CONTRACTS.insert().values(
            project_id=project_id, contract_id=str(contract["id"]),
            award_id=contract.get("awardID"), title=contract.get("title"),
            status=contract.get("status"), amount=_money(contract.get("value")),
            currency=_currency(contract.get("value")),
            date_signed=_when(contract.get("dateSigned")),
            period_start=_when(period.get("startDate")).date() if period.get("startDate") else None,
            period_end=_when(period.get("endDate")).date() if period.get("endDate") else None,
        ))  # fmt: skip
