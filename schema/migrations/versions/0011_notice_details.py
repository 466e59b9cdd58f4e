"""notice details: ceiling price, agency fee, SME set-aside, consortium, publicity period,
party address and contact; item lines and evaluation experts (issue 14 item 5)

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "project_items",
        sa.Column(
            "id", sa.Integer(), nullable=False, comment="标的内部编号: Internal item line id."
        ),
        sa.Column("project_id", sa.Integer(), nullable=False, comment="项目: Project id."),
        sa.Column(
            "section",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="所属环节: tender (采购需求) or award (中标/成交标的).",
        ),
        sa.Column(
            "award_id",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="结果编号: Award the line belongs to, if any.",
        ),
        sa.Column(
            "lot_id",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="标段编号: Lot the line belongs to (relatedLot).",
        ),
        sa.Column(
            "item_id",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="标的编号: OCDS item id within its section.",
        ),
        sa.Column(
            "position",
            sa.Integer(),
            nullable=False,
            comment="序号: Position of the line as published, from 1.",
        ),
        sa.Column(
            "name",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="标的名称: Item name (items[].description).",
        ),
        sa.Column(
            "specification",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="规格型号: Specification or model (items[].specification).",
        ),
        sa.Column(
            "category_code",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="品目编码: Item category code (items[].classification.id).",
        ),
        sa.Column(
            "quantity", sa.BigInteger(), nullable=True, comment="数量: Quantity, up to 3 decimals."
        ),
        sa.Column(
            "unit",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="单位: Unit of quantity (items[].unit.name).",
        ),
        sa.Column(
            "unit_price",
            sa.BigInteger(),
            nullable=True,
            comment="单价: Unit price in yuan, up to 4 decimals (items[].unit.value).",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("project_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_items_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "evaluation_experts",
        sa.Column("id", sa.Integer(), nullable=False, comment="专家内部编号: Internal id."),
        sa.Column("project_id", sa.Integer(), nullable=False, comment="项目: Project id."),
        sa.Column(
            "notice_id",
            sa.Integer(),
            nullable=False,
            comment="来源公告: Result notice that named the expert.",
        ),
        sa.Column(
            "award_id",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="结果编号: Award the committee decided.",
        ),
        sa.Column(
            "position",
            sa.Integer(),
            nullable=False,
            comment="序号: Position in the published list, from 1.",
        ),
        sa.Column(
            "name",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="专家姓名: Name as published in the result notice.",
        ),
        sa.Column(
            "role",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="专家角色: chair (评审组长), expert (评审专家) or purchaserRepresentative (采购人代表).",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evaluation_experts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_experts_project_id"), ["project_id"], unique=False
        )

    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "ceiling_price",
                sa.BigInteger(),
                nullable=True,
                comment="标段最高限价: Ceiling price of the lot in yuan.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "sme_set_aside",
                sa.Boolean(),
                nullable=True,
                comment="标段专门面向中小企业: Whether the lot is reserved for small and medium enterprises.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "consortium_allowed",
                sa.Boolean(),
                nullable=True,
                comment="标段是否接受联合体: Whether consortia may bid for the lot.",
            )
        )

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "publicity_start",
                sa.DateTime(),
                nullable=True,
                comment="公告期限开始: Start of the notice's publicity period (UTC+8).",
            )
        )
        batch_op.add_column(
            sa.Column(
                "publicity_end",
                sa.DateTime(),
                nullable=True,
                comment="公告期限截止: End of the notice's publicity period (UTC+8).",
            )
        )
        batch_op.add_column(
            sa.Column(
                "publicity_days",
                sa.Integer(),
                nullable=True,
                comment="公告期限天数: Length of the publicity period in days, as published.",
            )
        )

    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "address",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=True,
                comment="地址: Street address as last published (address.streetAddress).",
            )
        )
        batch_op.add_column(
            sa.Column(
                "contact_name",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=True,
                comment="联系人: Contact person as last published (contactPoint.name).",
            )
        )
        batch_op.add_column(
            sa.Column(
                "contact_telephone",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=True,
                comment="联系电话: Contact telephone as last published (contactPoint.telephone).",
            )
        )

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "ceiling_price",
                sa.BigInteger(),
                nullable=True,
                comment="最高限价: Ceiling price in yuan: bids above it are refused. Not the budget (tender.ceilingPrice).",
            )
        )
        batch_op.add_column(
            sa.Column(
                "agency_fee",
                sa.BigInteger(),
                nullable=True,
                comment="代理服务收费金额: Agency service fee in yuan (tender.agencyFee).",
            )
        )
        batch_op.add_column(
            sa.Column(
                "sme_set_aside",
                sa.Boolean(),
                nullable=True,
                comment="专门面向中小企业: Whether the purchase is reserved for small and medium enterprises (tender.smeSetAside).",
            )
        )
        batch_op.add_column(
            sa.Column(
                "consortium_allowed",
                sa.Boolean(),
                nullable=True,
                comment="是否接受联合体: Whether consortia (联合体) may bid (tender.consortiumAllowed).",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("consortium_allowed")
        batch_op.drop_column("sme_set_aside")
        batch_op.drop_column("agency_fee")
        batch_op.drop_column("ceiling_price")

    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_column("contact_telephone")
        batch_op.drop_column("contact_name")
        batch_op.drop_column("address")

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_column("publicity_days")
        batch_op.drop_column("publicity_end")
        batch_op.drop_column("publicity_start")

    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_column("consortium_allowed")
        batch_op.drop_column("sme_set_aside")
        batch_op.drop_column("ceiling_price")

    with op.batch_alter_table("evaluation_experts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_experts_project_id"))

    op.drop_table("evaluation_experts")
    with op.batch_alter_table("project_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_items_project_id"))

    op.drop_table("project_items")
