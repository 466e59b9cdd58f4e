"""`pushLag`: per-province push lag and completeness (推送时效), labels from schema/push.py."""

from __future__ import annotations

import inspect
from typing import Any

import strawberry

from hub.graphql.common import REGION_NAME_HELP, Info, region_name
from hub.read.push import push_lag
from schema.push import PushLag as Figures


def _described(name: str) -> Any:
    info = Figures.model_fields[name]
    return strawberry.field(description=f"{info.title}：{info.description}")


@strawberry.type(description=inspect.cleandoc(Figures.__doc__ or ""))
class PushLag:
    region_code: str = _described("region_code")
    arrivals: int = _described("arrivals")
    on_time: int = _described("on_time")
    late: int = _described("late")
    undecided: int = _described("undecided")
    push_timeliness: float | None = _described("push_timeliness")
    median_hours: float | None = _described("median_hours")
    p95_hours: float | None = _described("p95_hours")
    median_workdays: float | None = _described("median_workdays")
    p95_workdays: int | None = _described("p95_workdays")
    lag_up_to_1: int = _described("lag_up_to_1")
    lag_2_to_3: int = _described("lag_2_to_3")
    lag_4_to_10: int = _described("lag_4_to_10")
    lag_over_10: int = _described("lag_over_10")
    records_named: int = _described("records_named")
    records_delivered: int = _described("records_delivered")
    push_completeness: float | None = _described("push_completeness")

    @strawberry.field(description=REGION_NAME_HELP)
    def region_name(self) -> str | None:
        return region_name(self.region_code)


def push_lags(info: Info, region: str | None) -> list[PushLag]:
    return [PushLag(**row.model_dump()) for row in push_lag(info.context.conn, region)]
