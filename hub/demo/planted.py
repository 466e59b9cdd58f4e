"""What the demo plants for the hub's consistency flags, and keeping the rest clean of them.

`planted.json` (hub.demo.notices) lists the five irregularities drawn among ordinary
projects; the projects here are added after them, each carrying one more kind, so the
ordinary projects, orders and penalty records stay as they were. `planted-flags.json` then
names every planted irregularity by business key (ocid or order_id) with the flag code the
hub must raise for it; a test asserts both directions on the ingested demo.

Dishonest-conduct records debar their subjects (政府采购法 art 77), yet penalties are drawn
after the projects; `clear_debarments` then gives each award or contract that falls inside a
debarment to another supplier of the same trade, except where a debarred winner is planted.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from hub.demo.notices import ProjectWriter
from hub.demo.parties import Party, Province
from hub.demo.penalties import Debarment
from hub.demo.releases import ProjectFacts

# planted.json's keys, and the flag each raises
DRAWN_CODES = {
    "late_contract_notice": "CONTRACT_LATE",
    "contract_supplier_not_awarded": "CONTRACT_SUPPLIER_NOT_AWARDED",
    "award_above_budget": "AWARD_ABOVE_BUDGET",
    "late_result_notice": "RESULT_LATE",
    "short_single_source_publicity": "SINGLE_SOURCE_SHORT_PUBLICITY",
}
# kinds planted on projects of their own, the method each needs, and the flag each raises
ADDED_KINDS = {
    "no_single_source_publicity": ("单一来源", "SINGLE_SOURCE_NO_PUBLICITY"),
    "short_tender_period": ("公开招标", "TENDER_PERIOD_SHORT"),
    "contract_above_award": (None, "CONTRACT_ABOVE_AWARD"),
    "award_without_contract": (None, "AWARD_WITHOUT_CONTRACT"),
    "supplier_debarred": (None, "SUPPLIER_DEBARRED"),
    "sources_conflict": (None, "NOTICE_SOURCES_CONFLICT"),
}
OUTLIER_KIND, OUTLIER_CODE = "unit_price_outlier", "UNIT_PRICE_OUTLIER"
PER_KIND = 2
CONTRACT_WAIT = 30  # days after the award before a missing contract is flagged
DEBARRED_LEAD = timedelta(days=120)  # the planted project runs inside the debarment
KEPT_KIND = "supplier_debarred_on_record"  # a debarred winner that a later record names
CENTRAL_SUFFIX = "-ccgp"  # the central site's own id for its conflicting copy


@dataclass(frozen=True)
class PlantedFlag:
    """One planted irregularity: the flag code the hub must raise, and where."""

    code: str
    kind: str
    ocid: str = ""
    order_id: str = ""

    def as_json(self) -> dict[str, str]:
        found = {"code": self.code, "kind": self.kind}
        return found | ({"ocid": self.ocid} if self.ocid else {"order_id": self.order_id})


def drawn_flags(found: dict[str, list[str]]) -> list[PlantedFlag]:
    """The flags planted.json's irregularities raise."""
    return [PlantedFlag(DRAWN_CODES[key], key, ocid) for key, ocids in found.items()
            for ocid in ocids]  # fmt: skip


def _debarred_candidates(debarments: list[Debarment], province: Province) -> list[Debarment]:
    """Debarments of the province's suppliers long enough to hold a whole project in 2024."""
    sellers = {s.uscc for pool in province.suppliers.values() for s in pool}
    chosen: dict[str, Debarment] = {}
    for debarment in debarments:
        start = debarment.start
        if (debarment.subject.uscc in sellers and date(2024, 3, 1) <= start <= date(2024, 9, 30)
                and debarment.end - start >= DEBARRED_LEAD):  # fmt: skip
            chosen.setdefault(debarment.subject.uscc, debarment)
    return list(chosen.values())


def plant_projects(
    rng: random.Random, writer: ProjectWriter, debarments: list[Debarment]
) -> tuple[list[ProjectFacts], list[PlantedFlag]]:
    """PER_KIND projects of each added kind, numbered after the province's other projects."""
    projects: list[ProjectFacts] = []
    flags: list[PlantedFlag] = []
    for kind, (method, code) in ADDED_KINDS.items():
        if kind == "supplier_debarred":
            candidates = _debarred_candidates(debarments, writer.province)
            for debarment in rng.sample(candidates, min(PER_KIND, len(candidates))):
                day = debarment.start + timedelta(days=rng.randint(3, 20))
                project = writer.write({kind}, winner=debarment.subject, tender_day=day)
                projects.append(project)
                flags.append(PlantedFlag(code, kind, project.ocid))
            continue
        for _ in range(PER_KIND):
            project = writer.write({kind}, method=method)
            projects.append(project)
            flags.append(PlantedFlag(code, kind, project.ocid))
    return projects, flags


def flags_as_of(projects: Iterable[ProjectFacts]) -> date:
    """The first day on which every planted flag shows: a missing contract needs its wait."""
    awarded = [
        p.award_day for p in projects if p.award_day and "award_without_contract" in p.planted
    ]
    return max(awarded, default=date(2024, 12, 31)) + timedelta(days=CONTRACT_WAIT + 1)


def conflicting_copy(project: ProjectFacts) -> dict[str, Any]:
    """The result notice as the central site republishes it under its own id, a few hours
    later, with an award amount that differs (higher, still within the budget)."""
    result = next(r for r in project.releases if "award" in r["tag"] and r.get("awards"))
    tender: dict[str, Any] = {}
    for release in project.releases:
        tender |= {k: v for k, v in (release.get("tender") or {}).items() if k == "value"}
    budget = project.budget / 100
    cap = min(budget, tender["value"]["amount"]) if "value" in tender else budget
    copied = copy.deepcopy(result)
    copied["id"] = result["id"] + CENTRAL_SUFFIX
    moment = datetime.fromisoformat(result["date"]) + timedelta(hours=3)
    copied["date"] = moment.isoformat()
    award = copied["awards"][0]
    amount = award["value"]["amount"]
    higher = float(int((amount + cap) / 2))
    if not amount < higher <= cap:
        raise ValueError(f"{project.ocid}: no room under the budget for a conflicting amount")
    award["value"] = {"amount": higher, "currency": award["value"]["currency"]}
    return copied


def _dates(project: ProjectFacts) -> list[tuple[str, date]]:
    """(supplier credit code, day) of every award decision and contract signing."""
    found = []
    for release in project.releases:
        for award in release.get("awards") or []:
            for supplier in award.get("suppliers") or []:
                if award.get("date"):
                    found.append((supplier["id"], date.fromisoformat(award["date"][:10])))
        for contract in release.get("contracts") or []:
            for supplier in contract.get("suppliers") or []:
                if contract.get("dateSigned"):
                    found.append((supplier["id"], date.fromisoformat(contract["dateSigned"][:10])))
    return found


def _replace(value: Any, old: Party, new: Party) -> Any:
    """`value` with `new` wherever `old` was: references, party entries and texts."""
    if isinstance(value, dict):
        if value.get("id") == old.uscc:
            return new.ocds(value["roles"]) if "identifier" in value else new.ref()
        return {key: _replace(inner, old, new) for key, inner in value.items()}
    if isinstance(value, list):
        return [_replace(inner, old, new) for inner in value]
    if isinstance(value, str):
        return value.replace(old.name, new.name)
    return value


def _parties(project: ProjectFacts) -> set[str]:
    codes = {p["id"] for r in project.releases for p in r.get("parties") or []}
    return codes | {t.uscc for t in project.tenderers}


def clear_debarments(
    rng: random.Random, projects: list[ProjectFacts], debarments: list[Debarment],
    provinces: dict[str, Province], named: set[tuple[str, str]],
) -> list[PlantedFlag]:  # fmt: skip
    """Give every award or contract inside a supplier's debarment to another supplier of the
    same trade who is neither in the project nor debarred then, nor named by a penalty record
    about it; planted debarred winners stay. A winner that a penalty record names for this
    very project stays too (the record cannot change): returned, to be listed as planted."""
    by_subject: dict[str, list[Debarment]] = {}
    for debarment in debarments:
        by_subject.setdefault(debarment.subject.uscc, []).append(debarment)
    kept: list[PlantedFlag] = []
    for project in projects:
        if "supplier_debarred" in project.planted:
            continue
        events = _dates(project)
        debarred = sorted({code for code, day in events
                           if any(d.covers(day) for d in by_subject.get(code, []))})  # fmt: skip
        days = [day for _, day in events]
        for code in debarred:
            if (project.ocid, code) in named:  # its record would name a stranger: keep it
                kept.append(PlantedFlag("SUPPLIER_DEBARRED", KEPT_KIND, project.ocid))
                continue
            old = next(d.subject for d in by_subject[code])
            province = provinces[project.province]
            taken = _parties(project)
            pools = (province.suppliers.get(old.trade, []),  # the same trade, else any
                     [s for pool in province.suppliers.values() for s in pool])  # fmt: skip
            for pool in pools:
                free = [s for s in pool
                        if s.uscc not in taken and (project.ocid, s.uscc) not in named
                        and not any(d.covers(day) for d in by_subject.get(s.uscc, [])
                                    for day in days)]  # fmt: skip
                if free:
                    break
            else:
                raise ValueError(f"{project.ocid}: no supplier to replace debarred {code}")
            new = rng.choice(free)
            project.releases[:] = [_replace(r, old, new) for r in project.releases]
            project.tenderers = [new if t.uscc == code else t for t in project.tenderers]
            project.winners = [(new if s.uscc == code else s, a) for s, a in project.winners]
    return kept
