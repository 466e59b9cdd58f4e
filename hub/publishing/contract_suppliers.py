"""Store a compiled project's contract suppliers: every consortium member, lead first.

Which suppliers a contract has is decided on the releases (schema.contract_suppliers) and
resolved to parties in `schema.compiled`; here they become rows of `contract_suppliers`
(the lead is already the contract's `supplier_id`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from schema.tables import CONTRACT_SUPPLIERS, CONTRACTS


def clear_contract_suppliers(conn: Connection, project_id: int) -> None:
    """Drop the project's rows before its contracts are replaced (they reference them)."""
    contracts = select(CONTRACTS.c.id).where(CONTRACTS.c.project_id == project_id)
    conn.execute(delete(CONTRACT_SUPPLIERS).where(CONTRACT_SUPPLIERS.c.contract_pk.in_(contracts)))


def store_contract_suppliers(
    conn: Connection, suppliers: Sequence[Mapping[str, Any]], contract_pks: Mapping[str, int]
) -> None:
    """Write the compiled supplier rows, each against its contract's database id."""
    if suppliers:
        conn.execute(
            CONTRACT_SUPPLIERS.insert(),
            [{"contract_pk": contract_pks[s["contract_id"]], "party_id": s["party_id"],
              "position": s["position"]} for s in suppliers],
        )  # fmt: skip
