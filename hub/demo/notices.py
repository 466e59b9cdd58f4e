"""Projects of a province: what each buys, how, from whom, and which irregularities it hides.

Planning is kept apart from release writing (hub.demo.releases) so the planted share is
decided up front: each irregularity lands on at least three projects, listed in planted.json.
"""

from __future__ import annotations

import random
from datetime import date

from hub.demo.parties import Party, Province
from hub.demo.products import METHOD_WEIGHTS, SUBJECTS, Line, Subject
from hub.demo.releases import OCID_PREFIX, NoticeSequence, ProjectFacts
from hub.demo.vocabulary import PROJECT_PREFIX

PLANTED_KEYS = (
    "late_contract_notice",
    "contract_supplier_not_awarded",
    "award_above_budget",
    "late_result_notice",
    "short_single_source_publicity",
)
# Planted on one award against one budget: the irregularity stays in one place.
ONE_LOT = frozenset(
    {"award_above_budget", "contract_above_award", "supplier_debarred", "sources_conflict"}
)


def assign_planted(rng: random.Random, count: int) -> list[set[str]]:
    """Which irregularities each project carries: each key on at least 3 (distinct when
    there are enough projects)."""
    flags: list[set[str]] = [set() for _ in range(count)]
    if count == 0:
        return flags
    per = min(count, max(3, count // 48))
    order = rng.sample(range(count), count)
    for position in range(per * len(PLANTED_KEYS)):
        flags[order[position % count]].add(PLANTED_KEYS[position // per])
    return flags


class ProjectWriter:
    """Writes the projects of one province; numbering continues across calls."""

    def __init__(self, rng: random.Random, province: Province) -> None:
        self.rng = rng
        self.province = province
        self.prefix = PROJECT_PREFIX[province.code]
        self.number = rng.randint(10, 60)
        self.by_sector: dict[str, list[Subject]] = {}
        for subject in SUBJECTS:
            for sector in subject.sectors:
                self.by_sector.setdefault(sector, []).append(subject)

    def write(
        self, planted: set[str], *, method: str | None = None, winner: Party | None = None,
        tender_day: date | None = None,
    ) -> ProjectFacts:  # fmt: skip
        """One project; `method`, `winner` and `tender_day` pin what a planted project needs."""
        rng = self.rng
        self.number += rng.randint(1, 4)
        code = f"{self.prefix}ZC2024-{self.number:04d}"
        buyers = self.province.purchasers
        if winner is not None:  # a buyer that buys what the winner sells, where there is one
            buyers = [
                b for b in buyers
                if any(s.trade == winner.trade for s in self.by_sector.get(b.trade, []))
            ] or buyers  # fmt: skip
        buyer = rng.choice(buyers)
        subjects = self.by_sector[buyer.trade]
        if winner is not None:
            subjects = [s for s in subjects if s.trade == winner.trade] or subjects
        subject = rng.choice(subjects)
        if method is None and "short_single_source_publicity" in planted:
            method = "单一来源"
        elif method is None:
            names, weights = zip(*METHOD_WEIGHTS[subject.category], strict=True)
            method = rng.choices(names, weights)[0]
        agency = self._agency(buyer)
        title = f"{buyer.name}{subject.name}项目"
        # An award above the budget is planted on unlotted projects: one award, one budget.
        lines, lot_values = self._lines(subject, lotted=not planted & ONE_LOT)
        budget = sum(lot_values)
        suppliers = self.province.trade_suppliers(subject.trade)
        count = 1 if method == "单一来源" else min(len(suppliers), rng.randint(3, 6))
        tenderers = rng.sample(suppliers, count)
        if winner is not None:  # the first tenderer wins (the first lot)
            tenderers = [winner, *(t for t in tenderers if t.uscc != winner.uscc)][:count]
        facts = ProjectFacts(OCID_PREFIX + code, code, title, self.province.code, buyer, agency,
                             budget, tenderers)  # fmt: skip
        facts.planted = planted
        facts.tender_day = tender_day
        NoticeSequence(
            rng, self.province, facts, buyer, subject, method, lines, lot_values, planted
        ).run()
        return facts

    def _agency(self, buyer: Party) -> Party:
        """The centralised agency of the buyer's level, or a private agency."""
        agencies = self.province.agencies
        central = [a for a in agencies if a.trade == "centralised"]
        own = [a for a in central if buyer.region.startswith(a.region.rstrip("0"))]
        if own and self.rng.random() < 0.5:
            closest = max(len(a.region.rstrip("0")) for a in own)
            return self.rng.choice([a for a in own if len(a.region.rstrip("0")) == closest])
        private = [a for a in agencies if a.trade == "agency"] or central
        return self.rng.choice(private)

    def _lines(
        self, subject: Subject, lotted: bool
    ) -> tuple[list[tuple[Line, int, int]], list[int]]:
        """(line, quantity, unit price in fen) and the value of each lot (one lot when unlotted)."""
        rng = self.rng
        count = rng.randint(1, len(subject.lines)) if subject.lots else 1
        chosen = sorted(rng.sample(range(len(subject.lines)), count))
        lines: list[tuple[Line, int, int]] = []
        for index in chosen:
            line = subject.lines[index]
            quantity = rng.randint(line.quantity_low, line.quantity_high)
            price = rng.randint(line.price_low, line.price_high)
            step = 1000 if price >= 100_000 else 100 if price >= 1000 else 1
            lines.append((line, quantity, max(step, price // step * step) * 100))
        totals = [quantity * price for _, quantity, price in lines]
        if len(lines) > 1 and rng.random() < 0.5 and lotted:
            return lines, [-(-total // 100_000) * 100_000 for total in totals]
        step = 1_000_000 if sum(totals) >= 10_000_000 else 100_000
        return lines, [-(-sum(totals) // step) * step]
