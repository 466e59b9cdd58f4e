"""Small shared types: Region, Category, ordering, and the typed Info."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry

from hub.graphql.context import Context
from schema.codes import CATEGORY_NAME_HELP, category_name, item_catalogue, region_prefix
from schema.divisions import REGION_NAME_HELP, division, region_name

__all__ = ["CATEGORY_NAME_HELP", "REGION_NAME_HELP", "category_name", "region_name"]

Info = strawberry.Info[Context, None]


def selects(selections: Sequence[Any], names: set[str]) -> bool:
    """Whether any of `names` is selected anywhere in `selections` (fragments included)."""
    for selection in selections:
        if getattr(selection, "name", None) in names:
            return True
        if selection.selections and selects(selection.selections, names):
            return True
    return False


@strawberry.type(description="An administrative division (GB/T 2260) by its six-digit code.")
class Region:
    code: str = strawberry.field(description="行政区划代码: six-digit division code.")
    level: str = strawberry.field(description="province, prefecture or county.")
    province_code: str = strawberry.field(description="The province it lies in.")
    parent_code: str | None = strawberry.field(description="The division above it, if any.")
    name: str | None = strawberry.field(
        description="行政区划名称: its own name (东丰县); null for a code the list lacks."
    )
    full_name: str | None = strawberry.field(description=REGION_NAME_HELP)


def region_of(code: str | None) -> Region | None:
    if not code:
        return None
    listed = division(code)
    prefix = region_prefix(code)
    level = {2: "province", 4: "prefecture"}.get(len(prefix), "county")
    parent = (
        None
        if level == "province"
        else (code[:2] + "0000" if level == "prefecture" else code[:4] + "00")
    )
    return Region(
        code=code, level=level, province_code=code[:2] + "0000",
        parent_code=listed.parent_code if listed else parent,
        name=listed.name if listed else None, full_name=region_name(code),
    )  # fmt: skip


@strawberry.type(description="An item category (品目) of the government procurement catalogue.")
class Category:
    code: str = strawberry.field(description="品目编码.")
    edition: str | None = strawberry.field(description="Catalogue edition the code is from.")
    name: str | None = strawberry.field(
        description="品目名称 in the 2022 edition, when it is from it."
    )
    kind: str | None = strawberry.field(description="goods, works or services.")
    parent_code: str | None = strawberry.field(description="The category above it.")


def category_of(code: str | None, edition: str | None) -> Category | None:
    if not code:
        return None
    item = item_catalogue().get(code) if edition in (None, "2022") else None
    return Category(
        code=code, edition=edition, name=item.name if item else None,
        kind=item.category if item else None, parent_code=item.parent_code if item else None,
    )  # fmt: skip
