"""A project's whole-process disclosure, as the project page shows it.

The timeline (every notice in publishing order, as GraphQL's `Project.notices` gives it:
hub.read.lists.TIMELINE), lots, awards with their winners, contracts with every
consortium member, the names of the parties involved, the project's flags most severe
first, and the details of hub.read.details. A fixed number of indexed queries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from hub.read.details import details_data
from hub.read.lists import TIMELINE, flags_where
from hub.read.party import names
from schema.tables import (
    AWARD_SUPPLIERS,
    AWARDS,
    CONTRACT_SUPPLIERS,
    CONTRACTS,
    FLAGS,
    LOTS,
    NOTICES,
    PROJECTS,
    PUBLISHERS,
)


def project_data(conn: Connection, ocid: str) -> dict[str, Any] | None:
    """Everything the page shows, in a fixed number of indexed queries."""
    project = conn.execute(select(PROJECTS).where(PROJECTS.c.ocid == ocid)).mappings().first()
    if project is None:
        return None
    pk = project["id"]
    n = NOTICES
    timeline = (
        select(n.c.id, n.c.notice_type, n.c.title, n.c.published_at, n.c.source_site,
               n.c.supersedes_id, n.c.release_id, n.c.publicity_start, n.c.publicity_end,
               n.c.publicity_days, PUBLISHERS.c.name.label("publisher"))
        .join(PUBLISHERS, PUBLISHERS.c.id == n.c.publisher_id)
        .where(n.c.project_id == pk)
        .order_by(*TIMELINE)
    )  # fmt: skip
    notices = conn.execute(timeline).mappings().all()
    lots = conn.execute(select(LOTS).where(LOTS.c.project_id == pk)).mappings().all()
    awards = conn.execute(
        select(AWARDS).where(AWARDS.c.project_id == pk).order_by(AWARDS.c.decision_date)
    ).mappings().all()  # fmt: skip
    winners: dict[int, list[int]] = {}
    if awards:
        pairs = conn.execute(
            select(AWARD_SUPPLIERS.c.award_pk, AWARD_SUPPLIERS.c.party_id).where(
                AWARD_SUPPLIERS.c.award_pk.in_([a["id"] for a in awards])
            )
        )
        for award_pk, party in pairs:
            winners.setdefault(award_pk, []).append(party)
    contracts = conn.execute(
        select(CONTRACTS).where(CONTRACTS.c.project_id == pk).order_by(CONTRACTS.c.date_signed)
    ).mappings().all()  # fmt: skip
    members: dict[int, list[int]] = {}  # every consortium member, lead first
    if contracts:
        pairs = conn.execute(
            select(CONTRACT_SUPPLIERS.c.contract_pk, CONTRACT_SUPPLIERS.c.party_id)
            .where(CONTRACT_SUPPLIERS.c.contract_pk.in_([c["id"] for c in contracts]))
            .order_by(CONTRACT_SUPPLIERS.c.contract_pk, CONTRACT_SUPPLIERS.c.position)
        )  # fmt: skip
        for contract_pk, party in pairs:
            members.setdefault(contract_pk, []).append(party)
    wanted = {project["purchaser_id"], project["agency_id"]}
    wanted |= {p for ps in (*members.values(), *winners.values()) for p in ps}
    return {
        "project": project,
        "notices": notices,
        "by_id": {row["id"]: row for row in notices},
        "lots": lots,
        "awards": awards,
        "winners": winners,
        "contracts": contracts,
        "members": members,
        "names": names(conn, {w for w in wanted if w is not None}),
        "flags": flags_where(conn, FLAGS.c.project_id == pk),
        **details_data(conn, project),
    }
