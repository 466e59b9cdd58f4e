"""A flag's severity, declared once: its values, their order and their Chinese labels.

The flag engine, GraphQL and the pages each sorted flags by a severity order of their own;
this enum is that order (most severe first), so every list of flags reads the same way.
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """严重程度, most severe first: the declaration order is the sort order."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def label(self) -> str:
        return SEVERITY_LABELS[self]


SEVERITY_LABELS: dict[Severity, str] = {
    Severity.HIGH: "高",
    Severity.MEDIUM: "中",
    Severity.LOW: "低",
}
SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
_RANK = {s.value: i for i, s in enumerate(Severity)}


def severity_rank(value: str | None) -> int:
    """A stored severity's place in the order; a value the enum lacks sorts last."""
    return _RANK.get(value or "", len(_RANK))
