"""What the project page shows of a project's details: item lines, experts, contacts.

Experts are stored from result notices alone (`schema.details.EXPERTS_PUBLIC_IN`), each with
the notice that named them, so the page shows only names the rules make public.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from schema.tables import EVALUATION_EXPERTS as EXPERTS
from schema.tables import PARTIES
from schema.tables import PROJECT_ITEMS as ITEMS

ROLE_LABELS = {"chair": "评审组长", "expert": "评审专家", "purchaserRepresentative": "采购人代表"}


def unit_price(value: Decimal | None) -> str:
    """Yuan with thousands separators; the third and fourth decimals only when there are any."""
    if value is None:
        return ""
    places = max(2, -Decimal(value).normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{Decimal(value):,.{places}f}"


def details_data(conn: Connection, project: Any) -> dict[str, Any]:
    """Item lines by section, experts by award and the purchaser's and agency's contacts."""
    pk = project["id"]
    lines = conn.execute(
        select(ITEMS).where(ITEMS.c.project_id == pk).order_by(ITEMS.c.award_id, ITEMS.c.position)
    ).mappings()
    items: dict[str, list[dict[str, Any]]] = {"tender": [], "award": []}
    for line in lines:
        items.setdefault(line["section"], []).append(
            {**line, "price_text": unit_price(line["unit_price"])}
        )
    experts = conn.execute(
        select(EXPERTS)
        .where(EXPERTS.c.project_id == pk)
        .order_by(EXPERTS.c.award_id, EXPERTS.c.position)
    ).mappings()
    committees: dict[str | None, list[dict[str, Any]]] = {}
    for expert in experts:
        role = ROLE_LABELS.get(expert["role"] or "", expert["role"] or "")
        committees.setdefault(expert["award_id"], []).append({**expert, "role_label": role})
    wanted = [p for p in (project["purchaser_id"], project["agency_id"]) if p is not None]
    contacts = {}
    if wanted:
        columns = (PARTIES.c.id, PARTIES.c.address, PARTIES.c.contact_name,
                   PARTIES.c.contact_telephone)  # fmt: skip
        for row in conn.execute(select(*columns).where(PARTIES.c.id.in_(wanted))).mappings():
            if row["address"] or row["contact_name"] or row["contact_telephone"]:
                contacts[row["id"]] = row
    return {
        "tender_items": items["tender"],
        "award_items": items["award"],
        "committees": committees,
        "contacts": contacts,
    }
