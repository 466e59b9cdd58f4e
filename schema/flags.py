"""Consistency flags: a rule's finding about a project, party or transaction, with evidence.

A supervisor must be able to trace every flag back to what caused it, so each row carries the
notices and fields (with their values) that triggered it, and the one-line legal basis.
"""

from __future__ import annotations

from sqlalchemy import Text
from sqlmodel import SQLModel

from schema.columns import field
from schema.types import BeijingTime

CONTRACT_DAYS = 30  # 政府采购法 art 46: sign within 30 days of the award notice


class FlagFields(SQLModel):
    """A flag's columns, declared once for the table and for the dumps' rows (`FlagRow`)."""

    id: int | None = field("标记编号", "Internal flag id.", primary_key=True)
    code: str = field("规则代码", "Stable rule code, e.g. SINGLE_SOURCE_NO_PUBLICITY.", index=True)
    severity: str = field("严重程度", "high, medium or low.", index=True)
    project_id: int | None = field(
        "项目", "Project concerned.", default=None, foreign_key="projects.id", index=True
    )
    party_id: int | None = field(
        "主体", "Party concerned (a supplier).", default=None, foreign_key="parties.id", index=True
    )
    transaction_id: int | None = field(
        "交易",
        "Transaction concerned.",
        default=None,
        foreign_key="transactions.id",
        index=True,
    )
    notice_ids: str | None = field(
        "相关公告", "Comma-separated ids of the notices that triggered it.", default=None
    )
    evidence: str = field(
        "证据", "JSON: the notices and fields that triggered it, with their values.", sa_type=Text
    )
    message: str = field("说明", "What is wrong, in Chinese.", sa_type=Text)
    legal_basis: str = field("依据", "One line citing the rule it checks.")
    detected_at: BeijingTime = field(
        "发现时间", "When the finding was first made (UTC+8); kept while it stands."
    )


class Flag(FlagFields, table=True):
    """One finding of one rule; recomputed, never edited (rows are replaced per project)."""

    __tablename__ = "flags"


class FlagRow(FlagFields):
    """A flag as the dumps write it, with its finding's key: a finding that stood on a past
    day and was withdrawn since has no stored flag (`id` empty), so the key identifies rows."""

    flag_key: str = field(
        "标记键",
        "The finding: rule code, project, transaction, party, triggering notices and the ids "
        "its evidence names (award_id=…), joined by '|' (a second equal finding of one owner "
        "ends '#2', …). Stable across days.",
    )
