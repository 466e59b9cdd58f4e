"""`pushLag`: per-province push lag and completeness (推送时效), labels from schema/push.py."""

from __future__ import annotations

import inspect
from typing import Any

import strawberry

from hub.graphql.common import REGION_NAME_HELP, Info, region_name
from hub.read.push import push_lag
from schema.push import PushLag as Figures


def _fields() -> type:
    """Figures' fields with their types and labels as schema/push.py declares them, once."""
    namespace: dict[str, Any] = {"__annotations__": {}}
    for name, info in Figures.model_fields.items():
        namespace["__annotations__"][name] = info.annotation
        namespace[name] = strawberry.field(description=f"{info.title}：{info.description}")
    return strawberry.type(type("PushLagFields", (), namespace))


@strawberry.type(description=inspect.cleandoc(Figures.__doc__ or ""))
class PushLag(_fields()):  # type: ignore[misc]  # the fields come from the schema's model
    @strawberry.field(description=REGION_NAME_HELP)
    def region_name(self) -> str | None:
        return region_name(self.region_code)


def push_lags(info: Info, region: str | None) -> list[PushLag]:
    return [PushLag(**row.model_dump()) for row in push_lag(info.context.conn, region)]
