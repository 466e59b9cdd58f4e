"""transactions as e-malls publish them: unit prices to 0.0001 yuan, returns, services

Unit prices move from fen (scale 2) to ten-thousandths of a yuan (scale 4): every stored
price is multiplied by 100, exactly. `model` may be absent (services); `return_of` links a
return (退货, negative quantity) to the order it returns.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENTS = {  # column: (type, old comment, new comment)
    "quantity": (
        sa.BigInteger(),
        "数量: Quantity bought, up to 3 decimals.",
        "数量: Quantity bought, up to 3 decimals; negative for a return (退货).",
    ),
    "unit_price": (
        sa.BigInteger(),
        "单价: Unit price in yuan.",
        "单价: Unit price in yuan, up to 4 decimals; never negative.",
    ),
    "amount": (
        sa.BigInteger(),
        "成交金额: Deal amount in yuan.",
        "成交金额: Deal amount in yuan; negative for a return (退货).",
    ),
}
OLD_MODEL = "规格型号: Specification or model."
NEW_MODEL = "规格型号: Specification or model; may be absent for a service (品目 C…)."
RETURN_OF = (
    "原订单编号: For a return (退货): the order id of the order returned, from the same publisher."
)


def upgrade() -> None:
    op.execute("UPDATE transactions SET unit_price = unit_price * 100")
    with op.batch_alter_table("transactions") as batch:
        for name, (kind, old, new) in COMMENTS.items():
            batch.alter_column(
                name, existing_type=kind, existing_nullable=False, comment=new,
                existing_comment=old,
            )  # fmt: skip
        batch.alter_column(
            "model", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=True,
            comment=NEW_MODEL, existing_comment=OLD_MODEL,
        )  # fmt: skip
        batch.add_column(
            sa.Column(
                "return_of", sqlmodel.sql.sqltypes.AutoString(), nullable=True, comment=RETURN_OF
            )
        )
        batch.create_index("ix_transactions_return_of", ["publisher_id", "return_of"])


def downgrade() -> None:
    """Refused while the hub holds what the old schema cannot: prices below the fen,
    returns, services without a model."""
    bind = op.get_bind()
    held = bind.execute(
        sa.text(
            "SELECT count(*) FROM transactions WHERE unit_price % 100 <> 0 OR quantity < 0 "
            "OR model IS NULL OR return_of IS NOT NULL"
        )
    ).scalar_one()
    if held:
        raise RuntimeError(
            f"{held} transactions have sub-fen prices, negative quantities or no model: "
            "the schema before 0009 cannot hold them"
        )
    with op.batch_alter_table("transactions") as batch:
        batch.drop_index("ix_transactions_return_of")
        batch.drop_column("return_of")
        batch.alter_column(
            "model", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False,
            comment=OLD_MODEL, existing_comment=NEW_MODEL,
        )  # fmt: skip
        for name, (kind, old, new) in COMMENTS.items():
            batch.alter_column(
                name, existing_type=kind, existing_nullable=False, comment=old,
                existing_comment=new,
            )  # fmt: skip
    op.execute("UPDATE transactions SET unit_price = unit_price / 100")
