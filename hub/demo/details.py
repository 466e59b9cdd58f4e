"""The details demo notices carry (caigou extension): set-aside, consortium, ceiling price,
publicity periods, awarded models and prices, the committee, contact points.

Derived from facts the generator already drew, never from its random stream: adding them
leaves every other generated value as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.demo.parties import Party
from hub.demo.products import PRODUCTS, Line
from hub.demo.vocabulary import SURNAMES
from hub.demo.workdays import add_workdays, at, ocds_datetime

# 财库〔2020〕46号 art 8: goods and services up to 200万元, works up to 400万元, that suit
# small and medium enterprises are purchased from them alone (专门面向中小企业).
SME_LIMIT_FEN = {"goods": 200_0000_00, "services": 200_0000_00, "works": 400_0000_00}
CONSORTIUM_FROM_FEN = 500_0000_00  # the demo accepts consortia for larger projects


def tender_terms(category: str, value_fen: int) -> dict[str, Any]:
    """tender fields: ceiling price (the budget, as most notices set it), set-aside, consortia."""
    return {
        "ceilingPrice": {"amount": value_fen / 100, "currency": "CNY"},
        "smeSetAside": value_fen <= SME_LIMIT_FEN.get(category, 0),
        "consortiumAllowed": value_fen >= CONSORTIUM_FROM_FEN,
    }


def publicity(start: datetime, workdays: int) -> dict[str, Any]:
    """公告期限: from publication to the end of the `workdays`-th working day after it."""
    end = at(add_workdays(start.date(), workdays), 17, 0)
    return {
        "startDate": ocds_datetime(start),
        "endDate": ocds_datetime(end),
        "durationInDays": workdays,
    }


def contact(party: Party) -> dict[str, str]:
    """A contact point made from the credit code, so a party keeps the same one everywhere."""
    digits = "".join(c for c in party.uscc if c.isdigit())
    surname = SURNAMES[int(digits[-4:] or "0") % len(SURNAMES)]
    return {"name": f"{surname}工", "telephone": f"0431-8{digits[-7:].rjust(7, '0')}"}


def with_contact(entry: dict[str, Any], party: Party) -> dict[str, Any]:
    return {**entry, "contactPoint": contact(party)}


def awarded_items(
    lines: Sequence[tuple[Line, int, int]], value_fen: int, amount_fen: int, index: int
) -> list[dict[str, Any]]:
    """The award's item lines: a catalogue model where the demo sells one, prices scaled."""
    items = []
    for position, (line, quantity, price) in enumerate(lines, start=1):
        models = [p for p in PRODUCTS if p.code == line.code]
        item: dict[str, Any] = {
            "id": str(position),
            "description": line.description,
            "quantity": quantity,
            "unit": {
                "name": line.unit,
                "value": {"amount": price * amount_fen // value_fen / 100, "currency": "CNY"},
            },
        }
        if models:
            chosen = models[(index + position) % len(models)]
            item["specification"] = f"{chosen.brand} {chosen.model}"
        items.append(item)
    return items


def committee(names: str) -> list[dict[str, str]]:
    """The result text's 评审专家名单 as structured members: the first chairs, the last is
    the purchaser's representative when there are five (87号令 art 47)."""
    members = names.split("、")
    roles = ["chair"] + ["expert"] * (len(members) - 1)
    if len(members) >= 5:
        roles[-1] = "purchaserRepresentative"
    return [{"name": n, "role": r} for n, r in zip(members, roles, strict=True)]
