"""contract suppliers: every member of a consortium (联合体), lead first

Revision ID: 0010
Revises: 0012
Create Date: 2026-12-04 17:00:00

Existing contracts keep the one supplier they stored, as their lead (position 0); the other
members of a consortium come back when their project is next compiled.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_SUPPLIER = "供应商: Contracted supplier (party)."
NEW_SUPPLIER = (
    "供应商: Contracted supplier (party); for a consortium (联合体) its first, lead member "
    "(every member is in contract_suppliers)."
)


def upgrade() -> None:
    op.create_table(
        "contract_suppliers",
        sa.Column("id", sa.Integer(), nullable=False, comment="编号: Internal id."),
        sa.Column(
            "contract_pk",
            sa.Integer(),
            nullable=False,
            comment="合同: The contract (contracts.id).",
        ),
        sa.Column(
            "party_id",
            sa.Integer(),
            nullable=False,
            comment="供应商: A supplier of the contract (party).",
        ),
        sa.Column(
            "position",
            sa.Integer(),
            nullable=False,
            comment="排序: 0 for the first (lead) supplier, then 1, 2, … in the order published.",
        ),
        sa.ForeignKeyConstraint(["contract_pk"], ["contracts.id"]),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_pk", "party_id"),
    )
    with op.batch_alter_table("contract_suppliers") as batch:
        batch.create_index(batch.f("ix_contract_suppliers_contract_pk"), ["contract_pk"])
        batch.create_index(batch.f("ix_contract_suppliers_party_id"), ["party_id"])
    op.execute(
        "INSERT INTO contract_suppliers (contract_pk, party_id, position) "
        "SELECT id, supplier_id, 0 FROM contracts WHERE supplier_id IS NOT NULL ORDER BY id"
    )
    _comment(NEW_SUPPLIER, OLD_SUPPLIER)


def _comment(new: str, old: str) -> None:
    """SQLite keeps no column comments: a batch rebuild of `contracts` there would only copy
    the table, and fail once contract_suppliers rows reference it."""
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "contracts", "supplier_id", existing_type=sa.Integer(), existing_nullable=True,
            comment=new, existing_comment=old,
        )  # fmt: skip


def downgrade() -> None:
    _comment(OLD_SUPPLIER, NEW_SUPPLIER)
    with op.batch_alter_table("contract_suppliers") as batch:
        batch.drop_index(batch.f("ix_contract_suppliers_party_id"))
        batch.drop_index(batch.f("ix_contract_suppliers_contract_pk"))
    op.drop_table("contract_suppliers")
