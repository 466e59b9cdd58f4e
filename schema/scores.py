"""Transparency scores (透明度评价): the fields of one scored row, declared once.

Not a table: scores are computed from projects, notices and flags on demand (schema.transparency,
where the formulas are) and written to the daily dumps; GraphQL and the dumps both read these
declarations through the catalogue.
"""

from __future__ import annotations

from sqlmodel import SQLModel

from schema.columns import field

SHARE = "A share from 0 to 1; empty when there is nothing to measure."


class TransparencyScore(SQLModel):
    """透明度评价: the completeness, timeliness, consistency and push timeliness of one
    purchaser's, agency's or region's disclosure in one month, with the counts behind them."""

    group_by: str = field("评价对象", "Whose disclosure is scored: purchaser, agency or region.")
    party_id: int | None = field(
        "主体", "The purchaser or agency scored (grouping by party).", default=None
    )
    region_code: str | None = field(
        "行政区划代码", "The region scored (grouping by region).", default=None
    )
    month: str | None = field(
        "月份", "YYYY-MM of the projects' first notice; empty for a range of months.", default=None
    )
    score: float | None = field("总分", f"The mean of the shares measured. {SHARE}", default=None)
    completeness: float | None = field(
        "完整性", f"Required notices and fields present, over those required. {SHARE}",
        default=None,
    )  # fmt: skip
    timeliness: float | None = field(
        "及时性", f"Result and contract deadlines (2 working days) kept. {SHARE}", default=None
    )
    consistency: float | None = field(
        "一致性", f"Projects without a high or medium flag. {SHARE}", default=None
    )
    push_timeliness: float | None = field(
        "推送及时性",
        f"Relayed notice arrivals within 1 working day of first publication. {SHARE}",
        default=None,
    )  # fmt: skip
    mean_push_delay_hours: float | None = field(
        "平均推送延迟",
        "Mean hours from a relayed notice's first publication to its arrival.",
        default=None,
    )
    projects: int = field("项目数", "Projects counted (in the month of their first notice).")
    notices_required: int = field("应发布公告", "Required notices.")
    notices_present: int = field("已发布公告", "Required notices published.")
    fields_required: int = field("应填字段", "Required fields.")
    fields_present: int = field("已填字段", "Required fields given.")
    deadlines: int = field("时限", "Awards and contracts with a disclosure deadline.")
    late: int = field("逾期", "Deadlines missed (RESULT_LATE, CONTRACT_LATE).")
    flagged_projects: int = field("有标记项目", "Projects with a high or medium flag.")
    arrivals: int = field("推送次数", "Relayed notice arrivals (record_sources, schema/push.py).")
    arrivals_on_time: int = field("按时推送", "Arrivals within 1 working day of first publication.")
