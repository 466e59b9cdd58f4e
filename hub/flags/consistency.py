"""Rules that compare stages of one project: suppliers, amounts, debarments, source sites.

Finance departments compare publicity, documents, results and contracts of the same project
(财库〔2017〕86号 (九)); each function here is one such comparison.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from hub.flags.facts import AwardFact, NoticeFact, ProjectFacts, fact
from hub.flags.registry import Finding, rule
from schema.ocds import currency_code

CONTRACT_BASIS = (
    "政府采购法第四十六条、87号令第七十一条：按采购文件和中标结果签订合同，不得实质性变更"
)


def _award_of(facts: ProjectFacts, award_id: str | None) -> AwardFact | None:
    """The award a contract follows; with no awardID, the project's only award."""
    if award_id is None:
        return facts.awards[0] if len(facts.awards) == 1 else None
    return next((a for a in facts.awards if a.award_id == award_id), None)


def _notices(*found: NoticeFact | None) -> tuple[NoticeFact, ...]:
    return tuple(dict.fromkeys(n for n in found if n is not None))


@rule("CONTRACT_SUPPLIER_NOT_AWARDED", "high", CONTRACT_BASIS)
def contract_supplier_not_awarded(facts: ProjectFacts) -> Iterator[Finding]:
    """Every supplier of the contract (each consortium member) must be a winner of its award,
    or of an award for the same lot (an award replaced under a new id still names the lot)."""
    for contract in facts.contracts:
        award = _award_of(facts, contract.award_id)
        if not contract.supplier_ids or award is None:
            continue
        winners = set(award.supplier_ids)
        for other in facts.awards:
            if other.status in (None, "active") and set(other.lot_ids) & set(award.lot_ids):
                winners |= other.supplier_ids
        strangers = [p for p in contract.supplier_ids if p not in winners]
        if not strangers:
            continue
        notice = facts.last_stating("contracts", contract.contract_id, "suppliers")
        notice = notice or _naming_suppliers(facts, contract.contract_id)
        result = facts.first_stating("awards", award.award_id)
        for party_id in strangers:
            yield Finding(
                f"合同{contract.contract_id}的供应商不在结果{award.award_id}的中标（成交）供应商之中",
                notices=_notices(
                    result, notice or facts.first_stating("contracts", contract.contract_id)
                ),
                fields=(fact(f"contracts[{contract.contract_id}].supplier_ids",
                             list(contract.supplier_ids), notice),
                        fact(f"awards[{award.award_id}].supplier_ids", sorted(winners), result),
                        fact(f"awards[{award.award_id}].relatedLots", list(award.lot_ids),
                             result)),
                party_id=party_id,
                extra={"contract_id": contract.contract_id, "award_id": award.award_id},
            )  # fmt: skip


def _naming_suppliers(facts: ProjectFacts, contract_id: str) -> NoticeFact | None:
    """The last notice stating the contract that names supplier parties (OCDS 1.1 core has no
    contracts[].suppliers: a contract release names its supplier as a party)."""
    found = None
    for notice in facts.notices:
        parties = notice.payload.get("parties") or []
        if notice.item("contracts", contract_id) is not None and any(
            "supplier" in (p.get("roles") or []) for p in parties if isinstance(p, dict)
        ):
            found = notice
    return found


def _unit(currency: str) -> str:
    """元 for the yuan, else the currency's code: the message must not call pounds yuan."""
    return "元" if currency == "CNY" else f" {currency}"


@rule("CONTRACT_ABOVE_AWARD", "medium", CONTRACT_BASIS)
def contract_above_award(facts: ProjectFacts) -> Iterator[Finding]:
    for contract in facts.contracts:
        award = _award_of(facts, contract.award_id)
        if award is None or award.amount is None or contract.amount is None:
            continue
        if contract.currency != award.currency:  # 元 against dollars compares nothing
            continue
        if contract.amount <= award.amount:
            continue
        stated = facts.last_stating("contracts", contract.contract_id, "value")
        result = facts.last_stating("awards", award.award_id, "value")
        yield Finding(
            f"合同{contract.contract_id}金额{contract.amount}{_unit(award.currency)}高于中标（成交）"
            f"金额{award.amount}{_unit(award.currency)}",
            notices=_notices(result, stated),
            fields=(fact(f"contracts[{contract.contract_id}].value", contract.amount, stated),
                    fact(f"awards[{award.award_id}].value", award.amount, result)),
            extra={"contract_id": contract.contract_id, "award_id": award.award_id},
        )  # fmt: skip


@rule("AWARD_ABOVE_BUDGET", "high",
      "87号令第六十三条、财政部令第74号："
      "报价超过采购预算（最高限价）的投标（响应）无效")  # fmt: skip
def award_above_budget(facts: ProjectFacts) -> Iterator[Finding]:
    """A lot's awards against the lot budget; unlotted awards together against the project's."""
    by_lot: dict[tuple[str, ...], list[AwardFact]] = {}
    for award in facts.awards:
        if award.amount is not None and award.status in (None, "active"):
            lots = award.lot_ids if all(facts.lot_budgets.get(i) for i in award.lot_ids) else ()
            by_lot.setdefault(lots, []).append(award)
    for lots, awards in by_lot.items():
        if lots:
            budget: Decimal | None = sum((facts.lot_budgets[i] or Decimal(0) for i in lots),
                                         Decimal(0))  # fmt: skip
            budget_field = f"tender.lots[{','.join(lots)}].value"
        else:
            budget, budget_field = facts.project.budget, "planning.budget"
        if {a.currency for a in awards} != {currency_code(facts.project.currency)}:
            continue  # awards in another currency than the budget (or mixed): no sum to compare
        total = sum((a.amount or Decimal(0) for a in awards), Decimal(0))
        if budget is None or total <= budget:
            continue
        ids = [a.award_id for a in awards]
        results = _notices(*(facts.last_stating("awards", i, "value") for i in ids))
        yield Finding(
            f"中标（成交）金额{total}{_unit(awards[0].currency)}高于预算{budget}"
            f"{_unit(awards[0].currency)}"
            + (f"（标段{'、'.join(lots)}）" if lots else ""),
            notices=results,
            fields=(*(fact(f"awards[{a.award_id}].value", a.amount,
                           facts.last_stating("awards", a.award_id, "value")) for a in awards),
                    fact(budget_field, budget)),
            extra={"award_ids": ids, "lot_ids": list(lots)},
        )  # fmt: skip


@rule("SUPPLIER_DEBARRED", "high",
      "政府采购法第七十七条："
      "列入不良行为记录名单的供应商在一至三年内禁止参加政府采购活动")  # fmt: skip
def supplier_debarred(facts: ProjectFacts) -> Iterator[Finding]:
    """A supplier awarded (on the decision date) or contracted (on signing) while debarred."""
    events: list[tuple[int, Any, str, NoticeFact | None]] = []
    for award in facts.awards:
        notice = facts.first_stating("awards", award.award_id)
        day = award.decision_date or (notice.published_at if notice else None)
        for party_id in sorted(award.supplier_ids):
            events.append((party_id, day, f"awards[{award.award_id}]", notice))
    for contract in facts.contracts:
        notice = facts.first_stating("contracts", contract.contract_id)
        day = contract.date_signed or (notice.published_at if notice else None)
        for party_id in contract.supplier_ids:
            events.append((party_id, day, f"contracts[{contract.contract_id}]", notice))
    for party_id, moment, where, notice in events:
        if moment is None:
            continue
        for debarment in facts.debarments.get(party_id, []):
            if not debarment.covers(moment.date()):
                continue
            yield Finding(
                f"{where}的供应商在{moment.date()}处于禁止参加政府采购活动期间"
                f"（{debarment.start}至{debarment.end}，"
                f"{debarment.decision_number or debarment.record_id}）",
                notices=_notices(notice),
                fields=(fact(f"{where}.date", moment, notice),
                        fact("penalty.debarment_start", debarment.start),
                        fact("penalty.debarment_end", debarment.end)),
                party_id=party_id,
                extra={"penalty_id": debarment.penalty_pk, "penalty_record_id": debarment.record_id,
                       "penalty_kind": debarment.kind, "authority": debarment.authority_name},
            )  # fmt: skip


MATERIAL = ("planning", "tender", "awards", "contracts")
IGNORED = {"description", "documents", "title"}  # wording may differ between sites


def _material(value: Any, path: str = "") -> dict[str, Any]:
    """Flattened material fields of a notice: amounts, dates, parties and periods."""
    flat: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            if key not in IGNORED:
                flat |= _material(inner, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and all(isinstance(v, dict) and "id" in v for v in value):
        for inner in value:
            flat |= _material(inner, f"{path}[{inner['id']}]")
    else:
        flat[path] = value
    return flat


@rule("NOTICE_SOURCES_CONFLICT", "medium",
      "财库〔2017〕86号："
      "谁发布谁负责，发布主体对信息的真实、准确、完整负责")  # fmt: skip
def notice_sources_conflict(facts: ProjectFacts) -> Iterator[Finding]:
    """The same notice (type and title) from different publishers, stating different values."""
    groups: dict[tuple[str, str], list[NoticeFact]] = {}
    for notice in facts.notices:
        groups.setdefault((notice.notice_type, notice.title.strip()), []).append(notice)
    for (notice_type, title), group in groups.items():
        if len({n.publisher_id for n in group}) < 2 or len({n.content_hash for n in group}) < 2:
            continue
        first = group[0]
        base = _material({k: first.payload.get(k) for k in MATERIAL})
        for other in group[1:]:
            if other.publisher_id == first.publisher_id:
                continue
            theirs = _material({k: other.payload.get(k) for k in MATERIAL})
            differ = sorted(k for k in base.keys() & theirs.keys() if base[k] != theirs[k])
            if not differ:
                continue
            yield Finding(
                f"不同来源网站发布的同一{notice_type}公告《{title}》内容不一致："
                + "、".join(differ[:5]),
                notices=(first, other),
                fields=tuple(f for k in differ for f in (fact(k, base[k], first),
                                                          fact(k, theirs[k], other))),
                extra={"fields_differ": differ},
            )  # fmt: skip
