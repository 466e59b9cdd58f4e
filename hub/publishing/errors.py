"""Refusals that name the record, the field and the reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class FieldError(ValueError):
    """One field of one record is wrong; the handler turns it into a Refusal."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class RecordError(FieldError):
    """Every fault of one record at once: a publisher fixes them all in one round.

    A FieldError itself (the first fault), so code that reports one fault still works.
    """

    def __init__(self, faults: list[FieldError]) -> None:
        if not faults:
            raise ValueError("a RecordError needs at least one fault")
        super().__init__(faults[0].field, faults[0].reason)
        self.faults = faults

    def __str__(self) -> str:
        return "; ".join(f"{f.field}: {f.reason}" for f in self.faults)


def each_field_once(faults: list[FieldError]) -> list[FieldError]:
    """A field's first fault only (a bad region is not also reported as out of scope)."""
    seen: set[str] = set()
    kept = []
    for fault in faults:
        if fault.field not in seen:
            seen.add(fault.field)
            kept.append(fault)
    return kept


def faults_of(error: FieldError) -> list[FieldError]:
    """The faults an error stands for: its own list, or itself."""
    return error.faults if isinstance(error, RecordError) else [error]


@dataclass(frozen=True)
class Refusal:
    """Why one record was not accepted. `position` counts records from 1 (0: the batch)."""

    position: int
    record_id: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"record {self.position}" if self.position else "batch"
        if self.record_id:
            where += f" ({self.record_id})"
        return f"{where}: {self.field}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PublisherError(PermissionError):
    """The publisher is unknown, revoked or not allowed this kind of record at all."""


class BatchRejected(Exception):
    """An all-or-nothing batch held invalid records; nothing of it was written."""

    def __init__(self, refusals: list[Refusal], total: int) -> None:
        self.refusals = refusals
        shown = "\n".join(f"  - {r}" for r in refusals[:20])
        more = f"\n  … and {len(refusals) - 20} more" if len(refusals) > 20 else ""
        super().__init__(
            f"batch rejected, nothing written: {len({r.position for r in refusals})} of {total} "
            f"records refused ({len(refusals)} faults)\n"
            f"{shown}{more}\nfix them, or pass --partial to accept the valid records"
        )
