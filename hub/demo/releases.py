"""One project's notices as OCDS 1.1 releases, walked through its timeline in date order.

Normal projects keep every deadline with a margin (intention ≥30 days ahead, open tenders
≥20 days, results and contracts within a working day), so the only deadline flags the hub
raises on the demo are the planted ones listed in planted.json and planted-flags.json.
The keys below (hub.demo.planted) steer a walk into one irregularity each.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hub.demo import texts
from hub.demo.details import awarded_items, committee, publicity, tender_terms, with_contact
from hub.demo.parties import Party, Province
from hub.demo.products import METHODS, Line, Subject
from hub.demo.workdays import add_workdays, at, next_workday, ocds_datetime, previous_workday
from schema.codes import item_catalogue

BASE_DATE = date(2024, 1, 1)
OCID_PREFIX = "ocds-cghub1-"
SCHEME = "CN-GPC-2022"


def money(fen: int) -> dict[str, Any]:
    """An OCDS Value; fen / 100 prints with at most two decimals."""
    return {"amount": fen / 100, "currency": "CNY"}


@dataclass
class ProjectFacts:
    """A written project: its releases, and what penalty records may refer back to."""

    ocid: str
    code: str
    title: str
    province: str
    buyer: Party
    agency: Party
    budget: int
    tenderers: list[Party]
    winners: list[tuple[Party, int]] = field(default_factory=list)
    award_day: date | None = None
    planted: set[str] = field(default_factory=set)
    releases: list[dict[str, Any]] = field(default_factory=list)
    tender_day: date | None = None  # when set, the tender notice goes out that day


class NoticeSequence:
    """One project's notices in date order: the state of a walk through its timeline."""

    def __init__(
        self, rng: random.Random, province: Province, facts: ProjectFacts, buyer: Party,
        subject: Subject, method: str, lines: list[tuple[Line, int, int]], lot_values: list[int],
        planted: set[str],
    ) -> None:  # fmt: skip
        self.rng = rng
        self.province = province
        self.catalogue = item_catalogue()
        self.facts = facts
        self.buyer = buyer
        self.subject = subject
        self.method = method
        self.lines = lines
        self.lot_values = lot_values
        self.lotted = len(lot_values) > 1
        self.value = facts.budget  # the tender value, which a correction may lower
        self.planted = planted
        self.seq = 0
        self.unpublished: dict[str, Any] = {}  # tender fields no notice of their own stated

    def minute(self, day: date, earliest: int = 8, latest: int = 16) -> datetime:
        """A moment in office hours: notices go out while the agency is at work."""
        return at(day, self.rng.randint(earliest, latest), self.rng.randrange(0, 60))

    def release(self, kind: str, when: datetime, tag: str, title: str, text: str,
                **sections: Any) -> dict[str, Any]:  # fmt: skip
        """Append a release; ids number the notices so they sort in publication order."""
        self.seq += 1
        facts = self.facts
        release: dict[str, Any] = {
            "ocid": facts.ocid,
            "id": f"{facts.ocid}-{self.seq:02d}-{kind}",
            "date": ocds_datetime(when),
            "tag": [tag],
            "initiationType": "tender",
            "language": "zh",
        }
        if kind in ("documents", "agency_fee"):  # tags alone would say tender / result
            release["noticeType"] = kind
        release["title"] = title
        release["fullText"] = text
        release.update(sections)
        facts.releases.append(release)
        return release

    def needs(self) -> str:
        """采购需求 as notices summarise it: items and quantities."""
        return "；".join(
            f"{line.description}{quantity}{line.unit}" for line, quantity, _ in self.lines
        )

    def items(self, lots: bool = True) -> list[dict[str, Any]]:
        """tender.items; an intention names no lots yet, so it leaves relatedLot out."""
        items = []
        for index, (line, quantity, price) in enumerate(self.lines, start=1):
            item: dict[str, Any] = {
                "id": str(index),
                "description": line.description,
                "classification": {
                    "scheme": SCHEME,
                    "id": line.code,
                    "description": self.catalogue[line.code].name,
                },
                "quantity": quantity,
                "unit": {"name": line.unit, "value": money(price)},  # the budgeted unit price
            }
            if lots and self.lotted:
                item["relatedLot"] = str(index)
            items.append(item)
        return items

    def run(self) -> None:
        rng, facts, buyer, agency = self.rng, self.facts, self.buyer, self.facts.agency
        ocds_method, notice_word = METHODS[self.method]
        category = self.subject.category
        if facts.tender_day is None:
            tender_day = next_workday(BASE_DATE + timedelta(days=rng.randint(35, 300)))
        else:
            tender_day = next_workday(facts.tender_day)
        ahead = rng.randint(32, min(60, (tender_day - BASE_DATE).days - 1))  # ≥30 days, in 2024
        intention_day = previous_workday(tender_day - timedelta(days=ahead))
        self.release(
            "intention", self.minute(intention_day), "planning",
            f"{buyer.name}2024年{tender_day.month}月政府采购意向",
            texts.intention_text(facts.code, buyer.name, facts.title, self.needs(), facts.budget,
                                 tender_day.month),
            parties=[buyer.ocds(["buyer"])], buyer=buyer.ref(),
            planning={"budget": {"amount": money(facts.budget)}},
            tender={"id": facts.code, "title": facts.title, "status": "planned",
                    "mainProcurementCategory": category, "items": self.items(lots=False)},
        )  # fmt: skip
        start = self.minute(tender_day)
        end = self._deadline(tender_day)
        parties = [with_contact(buyer.ocds(["buyer"]), buyer),
                   with_contact(agency.ocds(["procuringEntity"]), agency)]  # fmt: skip
        tender: dict[str, Any] = {
            "id": facts.code, "title": facts.title, "status": "active",
            "procurementMethod": ocds_method, "procurementMethodDetails": self.method,
            "mainProcurementCategory": category, "value": money(self.value),
            "procuringEntity": agency.ref(),
            "tenderPeriod": {"startDate": ocds_datetime(start), "endDate": ocds_datetime(end)},
            "items": self.items(), **tender_terms(category, self.value),
        }  # fmt: skip
        if self.lotted:
            tender["lots"] = [
                {
                    "id": str(i),
                    "title": f"第{i}包：{line.description}",
                    "value": money(value),
                    "ceilingPrice": money(value),
                }
                for i, ((line, _, _), value) in enumerate(
                    zip(self.lines, self.lot_values, strict=True), start=1
                )
            ]
        if self.method == "单一来源":
            tender["procurementMethodRationale"] = rng.choice(texts.SINGLE_SOURCE_RATIONALE)
            tender["tenderers"] = [facts.tenderers[0].ref()]
            parties.append(facts.tenderers[0].ocds(["tenderer"]))
        word = "单一来源采购公示" if self.method == "单一来源" else notice_word
        if "no_single_source_publicity" in self.planted:  # the method shows with the result
            self.unpublished = {k: tender[k] for k in tender if k.startswith("procurementMethod")}
        else:
            self.release(
                "tender", start, "tender", f"{facts.title}{word}",
                texts.tender_text(facts.code, buyer.name, agency.name, facts.title, self.method,
                                  self.needs(), self.value, start, end),
                parties=parties, buyer=buyer.ref(),
                planning={"budget": {"amount": money(facts.budget)}}, tender=tender,
                publicityPeriod=publicity(start, 5),  # 87号令 art 16: ≥5 working days
            )  # fmt: skip
        if self.method != "单一来源" and "short_tender_period" not in self.planted:
            end = self._corrections(tender_day, end)
        if not self.planted and self.method != "单一来源" and rng.random() < 0.06:
            self._terminate(end)
            return
        self._award_and_contract(end)

    def _deadline(self, day: date) -> datetime:
        """End of the tender period, respecting each method's minimum (87号令, 实施条例)."""
        rng = self.rng
        if self.method == "单一来源":  # publicity ≥5 working days (实施条例 art 38)
            days = 2 if "short_single_source_publicity" in self.planted else 5
            return at(add_workdays(day, days), 17, 0)
        if "short_tender_period" in self.planted:  # 12–15 days where 20 are due
            end_day = previous_workday(day + timedelta(days=rng.randint(12, 15)))
        elif self.method in ("公开招标", "邀请招标"):  # ≥20 days (政府采购法 art 35)
            end_day = next_workday(day + timedelta(days=rng.randint(21, 28)))
        elif self.method == "竞争性磋商":  # ≥10 days
            end_day = next_workday(day + timedelta(days=rng.randint(11, 15)))
        else:  # negotiation, inquiry: ≥3 working days
            end_day = add_workdays(day, rng.randint(4, 6))
        return at(end_day, 9, rng.choice((0, 30)))

    def _corrections(self, tender_day: date, end: datetime) -> datetime:
        """0–2 corrections, each stating only what it changes (87号令 art 27: ≥15 days)."""
        rng, facts = self.rng, self.facts
        count = rng.choices((0, 1, 2), (80, 15, 5))[0]
        day = tender_day
        for _ in range(count):
            day = add_workdays(day, rng.randint(1, 2))
            if day >= end.date():
                break
            tender: dict[str, Any] = {"id": facts.code}
            changes: list[str] = []
            if not self.lotted and rng.random() < 0.4:
                self.value = self.value * rng.randint(90, 98) // 100 // 100 * 100
                tender["value"] = tender["ceilingPrice"] = money(self.value)
                changes.append(f"预算金额（最高限价）更正为{texts.yuan(self.value)}元")
            if not changes or day + timedelta(days=16) > end.date():
                later = max(end.date() + timedelta(days=rng.randint(3, 7)), day + timedelta(16))
                end = at(next_workday(later), end.hour, end.minute)
                tender["tenderPeriod"] = {"endDate": ocds_datetime(end)}
                changes.append(f"提交响应文件截止时间及开启时间更正为{texts.cn_time(end)}")
            self.release(
                "correction", self.minute(day), "tenderAmendment", f"{facts.title}更正公告",
                texts.correction_text(facts.code, facts.title, tender_day, changes),
                tender=tender,
            )  # fmt: skip
        return end

    def _terminate(self, end: datetime) -> None:
        facts = self.facts
        status, reason = self.rng.choice(texts.TERMINATION_REASONS)
        day = add_workdays(end.date(), self.rng.randint(1, 3))
        self.release(
            "termination", self.minute(day), "tenderCancellation", f"{facts.title}终止公告",
            texts.termination_text(facts.code, facts.title, reason),
            parties=[self.buyer.ocds(["buyer"]), facts.agency.ocds(["procuringEntity"])],
            buyer=self.buyer.ref(), tender={"id": facts.code, "status": status},
        )  # fmt: skip

    def _award_and_contract(self, end: datetime) -> None:
        rng, facts, planted = self.rng, self.facts, self.planted
        if self.method == "单一来源":
            short = "short_single_source_publicity" in planted
            award_day = add_workdays(end.date(), 1 if short else rng.randint(1, 3))
        else:
            award_day = add_workdays(end.date(), rng.choice((0, 0, 1, 2, 3)))
        awarded = at(award_day, rng.randint(14, 16), rng.randrange(0, 60))
        facts.award_day = award_day
        if "late_result_notice" in planted:  # 实施条例 art 43: within 2 working days
            result_at = self.minute(add_workdays(award_day, rng.randint(4, 7)))
        elif rng.random() < 0.5:
            result_at = awarded + timedelta(minutes=rng.randint(30, 90))
        else:
            result_at = self.minute(add_workdays(award_day, 1))
        values = self.lot_values if self.lotted else [self.value]
        above = "award_above_budget" in planted
        awards, winners = [], []
        for index, value in enumerate(values, start=1):
            supplier = facts.tenderers[0] if index == 1 else rng.choice(facts.tenderers)
            if above:  # above the lot value and the planning budget, not just the tender value
                base = value if self.lotted else facts.budget
                amount = base * rng.randint(103, 112) // 100 // 100 * 100
            else:
                amount = value * rng.randint(86, 99) // 100 // 100 * 100 + rng.randrange(0, 100)
                amount = min(amount, value)
            award: dict[str, Any] = {
                "id": f"{facts.code}-ZB{index}",
                "title": f"{facts.title}（第{index}包）" if self.lotted else facts.title,
                "status": "active", "date": ocds_datetime(awarded), "value": money(amount),
                "suppliers": [supplier.ref()],
            }  # fmt: skip
            if self.lotted:
                award["relatedLots"] = [str(index)]
            lines = [self.lines[index - 1]] if self.lotted else self.lines
            award["items"] = awarded_items(lines, value, amount, index)
            awards.append(award)
            winners.append((supplier, amount))
        facts.winners = winners
        won = {supplier.uscc for supplier, _ in winners}
        parties = [self.buyer.ocds(["buyer"]), facts.agency.ocds(["procuringEntity"])]
        parties += [
            t.ocds(["tenderer", "supplier"] if t.uscc in won else ["tenderer"])
            for t in facts.tenderers
        ]
        experts = texts.expert_names(rng, 3 if self.value < 4_000_000_00 else 5)
        fee = max(values[0] * 15 // 1000 // 100 * 100, 100_000) if self._private() else 0
        fee_text = f"{texts.yuan(fee)}元" if fee else "本项目不收取代理服务费"
        for award in awards:  # one committee evaluates every lot
            award["evaluationExperts"] = committee(experts)
        listed = [
            (f"第{i}包：" if self.lotted else "", s.name, a)
            for i, (s, a) in enumerate(winners, start=1)
        ]
        self.release(
            "result", result_at, "award",
            f"{facts.title}{'中标' if self.method.endswith('招标') else '成交'}结果公告",
            texts.result_text(facts.code, facts.title, self.method, listed, experts, fee_text),
            parties=parties, buyer=self.buyer.ref(),
            tender={"id": facts.code, "status": "complete",
                    "numberOfTenderers": len(facts.tenderers),
                    "tenderers": [t.ref() for t in facts.tenderers], **self.unpublished,
                    **({"agencyFee": money(fee)} if fee else {})},
            awards=awards, publicityPeriod=publicity(result_at, 1),  # 87号令 art 69: 1 working day
        )  # fmt: skip
        later = result_at
        if rng.random() < 0.25:
            later += timedelta(minutes=rng.randint(5, 20))
            self.release(
                "documents", later, "tender", f"{facts.title}采购文件",
                texts.documents_text(facts.code, facts.title, self.method),
                tender={"id": facts.code, "documents": [{
                    "id": f"{facts.code}-WJ", "documentType": "biddingDocuments",
                    "title": f"{facts.title}采购文件", "format": "application/pdf",
                    "language": "zh", "datePublished": ocds_datetime(later),
                }]},
            )  # fmt: skip
        if fee and rng.random() < 0.6:
            later += timedelta(minutes=rng.randint(5, 20))
            self.release(
                "agency_fee", later, "award", f"{facts.title}代理服务费公告",
                texts.agency_fee_text(facts.code, facts.title, facts.agency.name, fee),
                parties=[facts.agency.ocds(["procuringEntity"])],
            )  # fmt: skip
        if "award_without_contract" not in planted:
            self._contract(later, awards, winners)

    def _private(self) -> bool:
        return self.facts.agency.trade == "agency"

    def _contract(self, after: datetime, awards: list[dict[str, Any]],
                  winners: list[tuple[Party, int]]) -> None:  # fmt: skip
        rng, facts, planted = self.rng, self.facts, self.planted
        signed_day = next_workday(after.date() + timedelta(days=rng.randint(5, 20)))
        signed = at(signed_day, rng.randint(9, 11), rng.randrange(0, 60))
        if "late_contract_notice" in planted:  # 实施条例 art 50: within 2 working days
            published = self.minute(add_workdays(signed_day, rng.randint(6, 10)))
        elif rng.random() < 0.4:
            published = signed + timedelta(minutes=rng.randint(60, 240))
        else:
            published = self.minute(add_workdays(signed_day, 1))
        months = {"goods": (1, 2), "works": (2, 6), "services": (12, 12)}[self.subject.category]
        period_end = signed_day + timedelta(days=30 * rng.randint(*months) - 1)
        contracts, suppliers, amounts = [], [], []
        won = {supplier.uscc for supplier, _ in winners}
        for index, (award, (supplier, amount)) in enumerate(
            zip(awards, winners, strict=True), start=1
        ):
            if index == 1 and "contract_supplier_not_awarded" in planted:
                pool = self.province.trade_suppliers(self.subject.trade)
                others = [s for s in pool if s.uscc not in won]
                if not others:
                    everyone = self.province.suppliers.values()
                    others = [s for pool in everyone for s in pool if s.uscc not in won]
                supplier = rng.choice(others)
            if index == 1 and "contract_above_award" in planted:
                amount = amount * rng.randint(104, 112) // 100 // 100 * 100
            suppliers.append(supplier)
            amounts.append(amount)
            contracts.append({
                "id": f"{facts.code}-HT{index}", "awardID": award["id"],
                "title": f"{award['title']}合同", "status": "active", "value": money(amount),
                "dateSigned": ocds_datetime(signed),
                "period": {"startDate": ocds_datetime(at(signed_day, 0, 0)),
                           "endDate": ocds_datetime(at(period_end, 23, 59))},
                "suppliers": [supplier.ref()],
            })  # fmt: skip
        tenderers = {t.uscc for t in facts.tenderers}
        parties = [self.buyer.ocds(["buyer"])]
        seen: set[str] = set()
        for supplier in suppliers:
            if supplier.uscc not in seen:
                seen.add(supplier.uscc)
                roles = ["tenderer", "supplier"] if supplier.uscc in tenderers else ["supplier"]
                parties.append(supplier.ocds(roles))
        if self.lotted:  # the winning bid's unit prices
            units = [a // q for (_, q, _), (_, a) in zip(self.lines, winners, strict=True)]
        else:
            total = sum(quantity * price for _, quantity, price in self.lines)
            units = [price * winners[0][1] // total for _, _, price in self.lines]
        needs = "；".join(
            f"{line.description}，数量{quantity}{line.unit}，单价{texts.yuan(unit)}元"
            for (line, quantity, _), unit in zip(self.lines, units, strict=True)
        )
        self.release(
            "contract", published, "contract", f"{facts.title}合同公告",
            texts.contract_text(facts.code, facts.title, self.buyer.name, suppliers[0].name,
                                sum(amounts), signed, needs),
            parties=parties, buyer=self.buyer.ref(), contracts=contracts,
        )  # fmt: skip
        if rng.random() < 0.35:
            day = next_workday(published.date() + timedelta(days=rng.randint(30, 120)))
            self.release(
                "acceptance", self.minute(day), "implementation", f"{facts.title}履约验收结果公告",
                texts.acceptance_text(facts.code, facts.title, self.buyer.name, day),
                parties=[self.buyer.ocds(["buyer"])], buyer=self.buyer.ref(),
                contracts=[{"id": c["id"], "awardID": c["awardID"], "implementation": {
                    "milestones": [{"id": "1", "title": "履约验收", "type": "delivery",
                                    "status": "met", "dateMet": ocds_datetime(at(day, 9, 0))}],
                }} for c in contracts],
            )  # fmt: skip
