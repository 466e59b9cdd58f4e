"""A project's compiled rows from its notices alone: the one place they are computed.

`compile_notices` is pure (no database): it takes one project's notices in publish order and
a party lookup, and returns every compiled row. The ingest stores them
(`hub.publishing.compile`), with a lookup that finds or creates parties; the dumps compute a
project's state as of any past day from the notices published up to it (`exports.asof`), with
a lookup that only finds. One function for both, so a day's state in the dumps is exactly
what the ingest would have compiled from that day's notices.

Rows carry `project_id` and natural ids (`award_id`, `contract_id`, `lot_id`, positions),
never the database's surrogate ids: a past version has none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import orjson

from schema.codes import CodeError, catalogue_classification
from schema.contract_suppliers import contract_suppliers
from schema.details import EXPERTS_PUBLIC_IN
from schema.ocds import (
    amount_of,
    buyer_of,
    merge_releases,
    parse_ocds_datetime,
    party_name,
    party_with,
)
from schema.types import NoticeType, PartyRole, ProjectStatus

# (name, credit code as published, stated region, role) → the hub's party id, or None.
PartyLookup = Callable[[str, str | None, str | None, PartyRole], int | None]

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
CODE_SCHEMES = ("CN-SAIC", "CN-USCC")


class NoticeLike(Protocol):
    """What compiling reads of a notice (a database row fits)."""

    @property
    def id(self) -> int: ...
    @property
    def notice_type(self) -> str: ...
    @property
    def published_at(self) -> datetime: ...
    @property
    def payload(self) -> str | bytes | Mapping[str, Any]: ...


@dataclass
class CompiledProject:
    """Every compiled row of one project (no surrogate ids), and what else the notices say."""

    release: dict[str, Any]  # the merged (compiled) OCDS release
    project: dict[str, Any]  # the `projects` values (without id, ocid and region_code)
    lots: list[dict[str, Any]] = field(default_factory=list)
    awards: list[dict[str, Any]] = field(default_factory=list)
    award_suppliers: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    contract_suppliers: list[dict[str, Any]] = field(default_factory=list)
    project_items: list[dict[str, Any]] = field(default_factory=list)
    evaluation_experts: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[int, dict[str, str]] = field(default_factory=dict)  # party id → contact


def compile_notices(
    project_id: int, notices: Sequence[NoticeLike], lookup: PartyLookup
) -> CompiledProject:
    """The project's rows from `notices` (in publish order: published_at, id)."""
    releases = [_release(n.payload) for n in notices]
    compiled = merge_releases(releases)
    party_ids = resolve_parties(compiled, lookup)
    tender = _object(compiled.get("tender"))
    budget_value = _object(_object(compiled.get("planning")).get("budget")).get("amount")
    if amount_of(budget_value) is None:
        budget_value = tender.get("value")
    buyer = buyer_of(compiled)  # `buyer.id`, else the party with the role (as the door)
    agency = party_with(compiled, _object(tender.get("procuringEntity")).get("id"),
                        "procuringEntity")  # fmt: skip
    buyer_ref = str(buyer[1].get("id")) if buyer else None
    agency_ref = str(agency[1].get("id")) if agency else None
    category = _category(tender)
    status = ProjectStatus.planning
    for notice in notices:
        status = STATUS_OF.get(NoticeType(notice.notice_type), status)
    project = {
        "project_code": _text(tender.get("id")),  # OCDS allows an integer
        "title": tender.get("title"),
        "purchaser_id": party_ids.get(buyer_ref) if buyer_ref is not None else None,
        "agency_id": party_ids.get(agency_ref) if agency_ref is not None else None,
        "procurement_method": tender.get("procurementMethod"),
        "procurement_method_details": tender.get("procurementMethodDetails"),
        "main_category": tender.get("mainProcurementCategory"),
        "category_code": category[0] if category else None,
        "category_edition": category[1] if category else None,
        "budget": money(budget_value),
        "currency": _currency(budget_value),
        "ceiling_price": money(tender.get("ceilingPrice")),
        "agency_fee": money(tender.get("agencyFee")),
        "sme_set_aside": tender.get("smeSetAside"),
        "consortium_allowed": tender.get("consortiumAllowed"),
        "status": status.value,
        "first_published_at": notices[0].published_at,
        "last_published_at": notices[-1].published_at,
        "notice_count": len(notices),
    }
    result = CompiledProject(compiled, project)
    _children(result, project_id, compiled, party_ids)
    _suppliers(result, project_id, releases, party_ids)
    result.project_items = list(_item_rows(project_id, compiled))
    result.evaluation_experts = _expert_rows(project_id, notices, releases)
    result.contacts = _contacts(compiled, party_ids)
    return result


def resolve_parties(compiled: Mapping[str, Any], lookup: PartyLookup) -> dict[str, int]:
    """OCDS party ids (local to the release) → hub party ids, through `lookup`."""
    resolved: dict[str, int] = {}
    for party in _objects(compiled.get("parties")):
        roles = [ROLE_OF[r] for r in party.get("roles") or [] if r in ROLE_OF]
        name = party_name(party)
        if not roles or party.get("id") is None or name is None:
            continue  # a party without a name is kept in the release, not linked
        identifier = _object(party.get("identifier"))
        code = identifier.get("id") if identifier.get("scheme") in CODE_SCHEMES else None
        region = _object(party.get("address")).get("region")
        for role in roles:
            found = lookup(name, str(code) if code else None, region, role)
            if found is not None:
                resolved[str(party["id"])] = found
    return resolved


def _release(payload: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    return dict(payload) if isinstance(payload, Mapping) else orjson.loads(payload)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def money(value: Any) -> Decimal | None:
    """`value.amount` as an exact Decimal, or None."""
    amount = amount_of(value)
    return None if amount is None else Decimal(str(amount))


def _currency(value: Any) -> str | None:
    return value.get("currency") if isinstance(value, dict) else None


def _when(value: Any) -> Any:
    return parse_ocds_datetime(value) if value else None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _category(tender: Mapping[str, Any]) -> tuple[str, str] | None:
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


def _children(
    result: CompiledProject, project_id: int, compiled: Mapping[str, Any], party_ids: dict
) -> None:
    tender = _object(compiled.get("tender"))
    for lot in tender.get("lots") or []:
        result.lots.append({
            "project_id": project_id, "lot_id": str(lot["id"]), "title": lot.get("title"),
            "budget": money(lot.get("value")), "status": lot.get("status"),
            "ceiling_price": money(lot.get("ceilingPrice")),
            "sme_set_aside": lot.get("smeSetAside"),
            "consortium_allowed": lot.get("consortiumAllowed"),
        })  # fmt: skip
    for award in compiled.get("awards") or []:
        award_id = str(award["id"])
        result.awards.append({
            "project_id": project_id, "award_id": award_id,
            "lot_ids": ",".join(map(str, award.get("relatedLots") or [])) or None,
            "title": award.get("title"), "status": award.get("status"),
            "decision_date": _when(award.get("date")), "amount": money(award.get("value")),
            "currency": _currency(award.get("value")),
        })  # fmt: skip
        suppliers = {
            party_ids[str(s.get("id"))]
            for s in _objects(award.get("suppliers"))
            if str(s.get("id")) in party_ids
        }
        result.award_suppliers += [
            {"project_id": project_id, "award_id": award_id, "party_id": party_id}
            for party_id in sorted(suppliers)
        ]
    for contract in compiled.get("contracts") or []:
        period = contract.get("period") or {}
        start, end = period.get("startDate"), period.get("endDate")
        result.contracts.append({
            "project_id": project_id, "contract_id": str(contract["id"]),
            "award_id": _text(contract.get("awardID")), "supplier_id": None,
            "title": contract.get("title"), "status": contract.get("status"),
            "amount": money(contract.get("value")), "currency": _currency(contract.get("value")),
            "date_signed": _when(contract.get("dateSigned")),
            "period_start": _when(start).date() if start else None,
            "period_end": _when(end).date() if end else None,
        })  # fmt: skip


def _suppliers(
    result: CompiledProject,
    project_id: int,
    releases: Sequence[Mapping[str, Any]],
    party_ids: Mapping[str, int],
) -> None:
    """Each contract's suppliers (schema.contract_suppliers), lead first; the lead is also
    the contract's `supplier_id`."""
    suppliers = contract_suppliers(releases, result.release)
    for contract in result.contracts:
        refs = suppliers.get(contract["contract_id"], [])
        members = [party_ids[str(r["id"])] for r in refs if str(r["id"]) in party_ids]
        members = list(dict.fromkeys(members))  # two references may name one company
        if members:
            contract["supplier_id"] = members[0]
        result.contract_suppliers += [
            {"project_id": project_id, "contract_id": contract["contract_id"],
             "party_id": party_id, "position": position}
            for position, party_id in enumerate(members)
        ]  # fmt: skip


def _item_rows(project_id: int, compiled: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    sections: list[tuple[str, str | None, Any]] = [
        ("tender", None, _object(compiled.get("tender")).get("items"))
    ]
    sections += [
        ("award", str(a.get("id")), a.get("items")) for a in _objects(compiled.get("awards"))
    ]
    for section, award_id, items in sections:
        for position, item in enumerate(_objects(items), start=1):
            unit = _object(item.get("unit"))
            quantity = item.get("quantity")
            yield {
                "project_id": project_id,
                "section": section,
                "award_id": award_id,
                "lot_id": _text(item.get("relatedLot")),
                "item_id": str(item.get("id", position)),
                "position": position,
                "name": _text(item.get("description")),
                "specification": _text(item.get("specification")),
                "category_code": _text(_object(item.get("classification")).get("id")),
                "quantity": None if quantity in (None, "") else Decimal(str(quantity)),
                "unit": _text(unit.get("name")),
                "unit_price": money(unit.get("value")),
            }


def _expert_rows(
    project_id: int, notices: Sequence[NoticeLike], releases: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The committee of each award, from the latest result notice that names one."""
    latest: dict[str | None, tuple[int, list[Mapping[str, Any]]]] = {}
    for notice, release in zip(notices, releases, strict=True):
        if notice.notice_type not in EXPERTS_PUBLIC_IN:
            continue  # named before the result (or outside it): not public, not stored
        for award in _objects(release.get("awards")):
            experts = _objects(award.get("evaluationExperts"))
            if experts:
                latest[_text(award.get("id"))] = (notice.id, experts)
    return [
        {
            "project_id": project_id,
            "notice_id": notice_id,
            "award_id": award_id,
            "position": position,
            "name": str(expert["name"]).strip(),
            "role": _text(expert.get("role")),
        }
        for award_id, (notice_id, experts) in latest.items()
        for position, expert in enumerate(experts, start=1)
    ]


def _contacts(compiled: Mapping[str, Any], party_ids: Mapping[str, int]) -> dict[int, dict]:
    """Address and contact point of each named party, as the project last published them."""
    wanted: dict[int, dict[str, str]] = {}
    for party in _objects(compiled.get("parties")):
        pk = party_ids.get(str(party.get("id")))
        if pk is None:
            continue
        address, contact = _object(party.get("address")), _object(party.get("contactPoint"))
        stated = {
            "address": _text(address.get("streetAddress")),
            "contact_name": _text(contact.get("name")),
            "contact_telephone": _text(contact.get("telephone")),
        }
        values = {k: v for k, v in stated.items() if v is not None}
        if values:
            wanted.setdefault(pk, {}).update(values)
    return wanted


def party_by_name(candidates: Sequence[tuple[int, str | None]]) -> int | None:
    """Which party a name without a credit code means, among the parties of that normalised
    name as (id, credit code), lowest id first: one without a code, else the only coded one,
    else none (the ingest then creates one). The ingest's PartyResolver and the dumps'
    read-only lookup both decide through this."""
    uncoded = [party_id for party_id, code in candidates if code is None]
    if uncoded:
        return uncoded[0]
    return candidates[0][0] if len(candidates) == 1 else None
