"""What real notices list besides the totals: item lines and the evaluation experts.

Both are compiled from a project's notices (never written by hand), like lots and awards.
"""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import SQLModel

from schema.columns import Quantity, ScaledDecimal, field

# 单价 to four decimals: a sheet of paper at 0.005 元 is a real price (issue 14).
UnitPrice = ScaledDecimal(4)

# Experts' names are public in the result notice alone (实施条例 art 43: 中标、成交结果公告
# lists 评审专家名单); a release of any other type naming them is refused (details.py).
EXPERTS_PUBLIC_IN = ("result",)


class ProjectItem(SQLModel, table=True):
    """An item line (采购标的) of the tender or of an award: what is bought, how many, at what."""

    __tablename__ = "project_items"

    id: int | None = field(
        "标的内部编号", "Internal item line id.", primary_key=True, exported=False
    )
    project_id: int = field("项目", "Project id.", foreign_key="projects.id", index=True)
    section: str = field("所属环节", "tender (采购需求) or award (中标/成交标的).")
    award_id: str | None = field("结果编号", "Award the line belongs to, if any.", default=None)
    lot_id: str | None = field("标段编号", "Lot the line belongs to (relatedLot).", default=None)
    item_id: str = field("标的编号", "OCDS item id within its section.")
    position: int = field("序号", "Position of the line as published, from 1.")
    name: str | None = field("标的名称", "Item name (items[].description).", default=None)
    specification: str | None = field(
        "规格型号", "Specification or model (items[].specification).", default=None
    )
    category_code: str | None = field(
        "品目编码", "Item category code (items[].classification.id).", default=None
    )
    quantity: Decimal | None = field(
        "数量", "Quantity, up to 3 decimals.", default=None, sa_type=Quantity
    )
    unit: str | None = field("单位", "Unit of quantity (items[].unit.name).", default=None)
    unit_price: Decimal | None = field(
        "单价", "Unit price in yuan, up to 4 decimals (items[].unit.value).", default=None,
        sa_type=UnitPrice,
    )  # fmt: skip


class EvaluationExpert(SQLModel, table=True):
    """A member of the evaluation committee (评标委员会/评审小组) named in a result notice."""

    __tablename__ = "evaluation_experts"

    id: int | None = field("专家内部编号", "Internal id.", primary_key=True, exported=False)
    project_id: int = field("项目", "Project id.", foreign_key="projects.id", index=True)
    notice_id: int = field(
        "来源公告", "Result notice that named the expert.", foreign_key="notices.id"
    )
    award_id: str | None = field("结果编号", "Award the committee decided.", default=None)
    position: int = field("序号", "Position in the published list, from 1.")
    name: str = field("专家姓名", "Name as published in the result notice.")
    role: str | None = field(
        "专家角色",
        "chair (评审组长), expert (评审专家) or purchaserRepresentative (采购人代表).",
        default=None,
    )
