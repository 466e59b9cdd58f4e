"""compile_project: store a project's current state, compiled from its notices in publish order.

What the rows are is decided in `schema.compiled.compile_notices` (pure, shared with the
dumps' as-of days); here they replace the project's rows, parties are found or created, and
the flags follow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from hub.flags.engine import recompute_project
from hub.flags.facts import CompiledNotices, project_notices
from hub.publishing.contract_suppliers import clear_contract_suppliers, store_contract_suppliers
from hub.publishing.details import store_details
from hub.publishing.parties import PartyResolver
from schema.compiled import CompiledProject, PartyLookup, compile_notices
from schema.tables import AWARD_SUPPLIERS, AWARDS, CONTRACTS, LOTS, PROJECTS
from schema.types import PartyRole


def compile_project(conn: Connection, project_id: int, parties: PartyResolver) -> dict[str, Any]:
    """Recompile one project and replace its lots, awards and contracts; returns the record.

    The notices are read and parsed once, here: compiling, the details and the flags all
    take them, and the flags the merged release too (`CompiledNotices`).
    """
    notices = project_notices(conn, project_id)
    rows = compile_notices(project_id, notices, resolving(parties))
    # No region_code: a project keeps the region its first notice was stored with, which
    # every later notice is checked against (NoticeHandler._region); a release never moves it.
    conn.execute(update(PROJECTS).where(PROJECTS.c.id == project_id).values(**rows.project))
    clear_contract_suppliers(conn, project_id)  # before the contracts they name are replaced
    contract_pks = _replace_children(conn, project_id, rows)
    store_contract_suppliers(conn, rows.contract_suppliers, contract_pks)
    parties.changed |= store_details(conn, project_id, notices, rows)
    # Flags follow the compiled state, in the same transaction; the pipeline re-indexes every
    # notice of a recompiled project itself (NoticeHandler.finish), flag codes included.
    recompute_project(
        conn, project_id, reindex=False, compiled=CompiledNotices(notices, rows.release)
    )
    return rows.release


def resolving(parties: PartyResolver) -> PartyLookup:
    """The ingest's lookup: a credit code checked (FieldError naming it), the party found or
    created."""

    def lookup(name: str, code: str | None, region: str | None, role: PartyRole) -> int:
        checked = parties.check_code(code, "identifier.id") if code else None
        return parties.resolve(name, checked, region, role)

    return lookup


def _replace_children(conn: Connection, project_id: int, rows: CompiledProject) -> dict[str, int]:
    """Replace lots, awards (with their suppliers) and contracts; returns contract id → pk."""
    old_awards = select(AWARDS.c.id).where(AWARDS.c.project_id == project_id)
    conn.execute(delete(AWARD_SUPPLIERS).where(AWARD_SUPPLIERS.c.award_pk.in_(old_awards)))
    for table in (AWARDS, CONTRACTS, LOTS):
        conn.execute(delete(table).where(table.c.project_id == project_id))
    if rows.lots:
        conn.execute(LOTS.insert(), rows.lots)
    award_pks = {}
    for award in rows.awards:
        award_pks[award["award_id"]] = conn.execute(
            AWARDS.insert().values(**award).returning(AWARDS.c.id)
        ).scalar_one()
    if rows.award_suppliers:
        conn.execute(
            AWARD_SUPPLIERS.insert(),
            [{"award_pk": award_pks[s["award_id"]], "party_id": s["party_id"]}
             for s in rows.award_suppliers],
        )  # fmt: skip
    contract_pks = {}
    for contract in rows.contracts:
        contract_pks[contract["contract_id"]] = conn.execute(
            CONTRACTS.insert().values(**contract).returning(CONTRACTS.c.id)
        ).scalar_one()
    return contract_pks
