"""Item lines and evaluation experts in the graph: on Project, Lot, Award and Notice.

Experts are stored from result notices alone (`schema.details.EXPERTS_PUBLIC_IN`), so every
field here shows only names the disclosure rules make public.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader

from hub.graphql.catalogue_types import catalogue_type, from_row
from hub.graphql.common import Info
from hub.graphql.loaders import _children, many_loader
from schema.tables import EVALUATION_EXPERTS as EXPERTS
from schema.tables import PROJECT_ITEMS as ITEMS


@strawberry.type(name="Item", description="采购标的: an item line of the tender or of an award.")
class Item(catalogue_type("project_items", "Item")):  # type: ignore[misc]
    pass


@strawberry.type(
    name="EvaluationExpert",
    description="评审专家: a member of the evaluation committee, as the result notice names them.",
)
class EvaluationExpert(catalogue_type("evaluation_experts", "EvaluationExpert")):  # type: ignore[misc]
    pass


def _loader(info: Info, table: Any, *order: Any) -> DataLoader[Hashable, list[Any]]:
    """The per-request loader of `table`'s rows by project (made on first use)."""
    loaders = info.context.loaders
    name = f"details_{table.name}"
    loader = loaders.__dict__.get(name)
    if loader is None:
        loader = many_loader(loaders.conn, _children(table, "project_id", *order), "project_id")
        loaders.__dict__[name] = loader
    return loader


async def items_of(info: Info, project_pk: int) -> list[Any]:
    return await _loader(info, ITEMS, ITEMS.c.section.desc(), ITEMS.c.position).load(project_pk)


async def experts_of(info: Info, project_pk: int) -> list[Any]:
    loader = _loader(info, EXPERTS, EXPERTS.c.award_id, EXPERTS.c.position)
    return await loader.load(project_pk)


@strawberry.type(description="The details on Project.")
class ProjectDetails:
    if TYPE_CHECKING:  # set by from_row; declared by the catalogue type it is mixed into
        pk: int

    @strawberry.field(description="采购需求: the tender's item lines, in published order.")
    async def items(self, info: Info) -> list[Item]:
        rows = await items_of(info, self.pk)
        return [from_row(Item, r) for r in rows if r.section == "tender"]

    @strawberry.field(
        description="评审专家名单: every award's committee, from the result notices "
        "(experts are public there only)."
    )
    async def evaluation_experts(self, info: Info) -> list[EvaluationExpert]:
        return [from_row(EvaluationExpert, r) for r in await experts_of(info, self.pk)]


@strawberry.type(description="The details on Lot.")
class LotDetails:
    if TYPE_CHECKING:
        project_id: int
        lot_id: str

    @strawberry.field(description="采购需求: the tender's item lines of this lot.")
    async def items(self, info: Info) -> list[Item]:
        rows = await items_of(info, self.project_id)
        return [
            from_row(Item, r) for r in rows if r.section == "tender" and r.lot_id == self.lot_id
        ]


@strawberry.type(description="The details on Award.")
class AwardDetails:
    if TYPE_CHECKING:
        project_id: int
        award_id: str

    @strawberry.field(description="中标/成交标的: the award's item lines (name, model, price).")
    async def items(self, info: Info) -> list[Item]:
        rows = await items_of(info, self.project_id)
        return [from_row(Item, r) for r in rows if r.award_id == self.award_id]

    @strawberry.field(description="评审专家名单: the committee that recommended this award.")
    async def evaluation_experts(self, info: Info) -> list[EvaluationExpert]:
        rows = await experts_of(info, self.project_id)
        return [from_row(EvaluationExpert, r) for r in rows if r.award_id == self.award_id]


@strawberry.type(description="The details on Notice.")
class NoticeDetails:
    if TYPE_CHECKING:
        pk: int
        project_id: int

    @strawberry.field(
        description="评审专家名单: the experts this notice names; a result notice only."
    )
    async def evaluation_experts(self, info: Info) -> list[EvaluationExpert]:
        rows = await experts_of(info, self.project_id)
        return [from_row(EvaluationExpert, r) for r in rows if r.notice_id == self.pk]
