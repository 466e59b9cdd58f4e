"""Store a compiled project's contract suppliers: every consortium member, lead first.

Which suppliers a contract has is decided on the releases (schema.contract_suppliers); here
they become rows of `contract_suppliers`, and the lead goes to `contracts.supplier_id`.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, delete, select, update

from schema.contract_suppliers import Ref
from schema.tables import Contract, ContractSupplier

CONTRACTS = Contract.__table__  # type: ignore[attr-defined]
CONTRACT_SUPPLIERS = ContractSupplier.__table__  # type: ignore[attr-defined]


def clear_contract_suppliers(conn: Connection, project_id: int) -> None:
    """Drop the project's rows before its contracts are replaced (they reference them)."""
    contracts = select(CONTRACTS.c.id).where(CONTRACTS.c.project_id == project_id)
    conn.execute(delete(CONTRACT_SUPPLIERS).where(CONTRACT_SUPPLIERS.c.contract_pk.in_(contracts)))


def store_contract_suppliers(
    conn: Connection,
    project_id: int,
    suppliers: Mapping[str, list[Ref]],
    party_ids: Mapping[str, int],
) -> None:
    """Write each contract's suppliers (OCDS references resolved through `party_ids`)."""
    contracts = conn.execute(
        select(CONTRACTS.c.id, CONTRACTS.c.contract_id).where(CONTRACTS.c.project_id == project_id)
    ).all()
    for contract_pk, contract_id in contracts:
        members = [party_ids[str(r["id"])] for r in suppliers.get(contract_id, [])
                   if str(r["id"]) in party_ids]  # fmt: skip
        members = list(dict.fromkeys(members))  # two references may name one company
        if not members:
            continue
        conn.execute(
            update(CONTRACTS).where(CONTRACTS.c.id == contract_pk).values(supplier_id=members[0])
        )
        conn.execute(
            CONTRACT_SUPPLIERS.insert(),
            [{"contract_pk": contract_pk, "party_id": p, "position": i}
             for i, p in enumerate(members)],
        )  # fmt: skip
