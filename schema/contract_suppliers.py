"""A contract's suppliers as published, every member of a consortium (联合体), lead first.

OCDS 1.1 core has no `contracts[].suppliers`: a contract release names the company it was
signed with as a party with role `supplier`. Taking the award's supplier instead would hide a
contract signed with a company that did not win, so the suppliers come from, in this order:

1. `contracts[].suppliers` (the hub's extension), as compiled;
2. the parties with role `supplier` of the latest release stating the contract that has any;
3. the suppliers of the award it follows (`awardID`).

Publishers often repeat a project's whole party list in each contract release, so a contract
takes from its release's supplier parties those that won its own award (`awardID`), plus
those that won no award of the compiled project: they cannot be told apart, so they go to
every contract of that release (a supplier that won nothing must not go unflagged). A winner
of another lot's award is that lot's, not this contract's. A release stating one contract
whose award is unknown (no `awardID`, or an award without suppliers) keeps them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Ref = dict[str, Any]  # an OCDS OrganizationReference: {"id": …, "name": …}


def _refs(entries: Iterable[Any]) -> list[Ref]:
    """Organisation references with an id, each once, in the order given."""
    seen: dict[str, Ref] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("id") is not None:
            ref = {"id": entry["id"], **({"name": entry["name"]} if entry.get("name") else {})}
            seen.setdefault(str(entry["id"]), ref)
    return list(seen.values())


def _winners(awards: Mapping[str, Mapping[str, Any]], award_id: Any) -> set[str]:
    award = awards.get(str(award_id)) if award_id is not None else None
    return {str(r["id"]) for r in _refs((award or {}).get("suppliers") or [])}


def _supplier_parties(release: Mapping[str, Any]) -> list[Ref]:
    parties = [
        p
        for p in release.get("parties") or []
        if isinstance(p, Mapping) and "supplier" in (p.get("roles") or [])
    ]
    return _refs(parties)


def _stated(release: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in release.get("contracts") or [] if isinstance(c, Mapping) and "id" in c]


def _from_release(
    release: Mapping[str, Any], contract_id: str, awards: Mapping[str, Mapping[str, Any]]
) -> list[Ref]:
    """The supplier parties of `release` that belong to contract `contract_id`."""
    parties = _supplier_parties(release)
    contracts = _stated(release)
    own = next(c for c in contracts if str(c["id"]) == contract_id)
    mine = _winners(awards, own.get("awardID"))
    if not parties or (not mine and len(contracts) == 1):
        return parties
    claimed = set().union(*(_winners(awards, award_id) for award_id in awards))
    return [p for p in parties if str(p["id"]) in mine or str(p["id"]) not in claimed]


def contract_suppliers(
    releases: Sequence[Mapping[str, Any]], compiled: Mapping[str, Any]
) -> dict[str, list[Ref]]:
    """Contract id → references to its suppliers, lead first (an empty list: none known).

    `releases` are the project's releases in publish order, `compiled` their merge.
    """
    awards = {
        str(a["id"]): a
        for a in compiled.get("awards") or []
        if isinstance(a, Mapping) and "id" in a
    }
    found: dict[str, list[Ref]] = {}
    for contract in _stated(compiled):
        contract_id = str(contract["id"])
        suppliers = _refs(contract.get("suppliers") or [])
        if not suppliers:
            for release in reversed(releases):
                if any(str(c["id"]) == contract_id for c in _stated(release)):
                    suppliers = _from_release(release, contract_id, awards)
                    if suppliers:
                        break
        if not suppliers:
            award_id = contract.get("awardID")
            award = awards.get(str(award_id)) if award_id is not None else None
            suppliers = _refs((award or {}).get("suppliers") or [])
        found[contract_id] = suppliers
    return found
