"""`/projects/{ocid}`: the whole-process disclosure timeline of one project.

Each notice in publishing order with publisher and source site, corrections set against the
notice they supersede, then lots, awards, contracts and the project's flags with evidence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, select
from starlette.requests import Request
from starlette.responses import Response

from hub.web.details import details_data
from hub.web.render import error_page, render
from schema.tables import (
    AWARD_SUPPLIERS,
    AWARDS,
    CONTRACT_SUPPLIERS,
    CONTRACTS,
    FLAGS,
    LOTS,
    NOTICES,
    PARTIES,
    PROJECTS,
    PUBLISHERS,
)

SEVERITY = {"high": 0, "medium": 1, "low": 2}


def evidence(raw: str) -> Any:
    """Flag evidence as stored (JSON), pretty-printed for reading."""
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False, indent=2, default=str)
    except ValueError:
        return raw


def flags_where(conn: Connection, condition: Any) -> list[dict[str, Any]]:
    rows = conn.execute(select(FLAGS).where(condition)).mappings().all()
    found = [{**row, "evidence_text": evidence(row["evidence"])} for row in rows]
    return sorted(found, key=lambda f: (SEVERITY.get(f["severity"], 3), f["code"]))


def names(conn: Connection, pks: set[int]) -> dict[int, str]:
    if not pks:
        return {}
    rows = conn.execute(select(PARTIES.c.id, PARTIES.c.name).where(PARTIES.c.id.in_(pks)))
    return {r.id: r.name for r in rows}


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
        .order_by(n.c.published_at, n.c.id)
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


def page(engine: Engine) -> Callable[[Request], Response]:
    """A plain function: Starlette runs it in a worker thread, off the event loop."""

    def endpoint(request: Request) -> Response:
        ocid = request.path_params["ocid"]
        if not ocid or len(ocid) > 200:
            return error_page(request, 400, "项目标识有误 not a valid ocid")
        with engine.connect() as conn:
            data = project_data(conn, ocid)
        if data is None:
            return error_page(request, 404, f"没有项目 {ocid}: no project with this ocid")
        return render("project.html", **data)

    return endpoint
