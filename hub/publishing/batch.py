"""What every record handler shares: the batch's connection, publisher, clock and report."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection

from hub.publishing.errors import FieldError, Refusal
from hub.publishing.parties import PartyResolver
from hub.publishing.publishers import PublisherAccount
from schema.codes import is_region_code

MAX_REFUSALS_KEPT = 10_000


@dataclass
class BatchReport:
    """Counts and refusals; in all-or-nothing mode writing stops at the first refusal."""

    partial: bool
    total: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    refusals: list[Refusal] = field(default_factory=list)
    on_reject: Callable[[Refusal, Mapping[str, Any]], None] | None = None

    @property
    def writing(self) -> bool:
        return self.partial or self.rejected == 0

    def refuse(
        self, position: int, record_id: Any, error: FieldError, raw: Mapping[str, Any]
    ) -> None:
        refusal = Refusal(
            position, str(record_id) if record_id else None, error.field, error.reason
        )
        self.rejected += 1
        if len(self.refusals) < MAX_REFUSALS_KEPT:
            self.refusals.append(refusal)
        if self.on_reject is not None:
            self.on_reject(refusal, raw)


@dataclass
class BatchContext:
    conn: Connection
    publisher: PublisherAccount
    source_site: str | None
    received_at: datetime
    report: BatchReport
    parties: PartyResolver


class RecordHandler(Protocol):
    def add(self, position: int, raw: Mapping[str, Any]) -> None: ...

    def finish(self) -> None: ...


def content_hash(values: Any) -> str:
    """Identity of a record's content, independent of key order and of CSV vs JSON."""
    return hashlib.blake2b(
        orjson.dumps(values, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()


def text(raw: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = raw.get(name)
    if value.__class__ is not str:  # CSV cells are str already; JSON may give numbers
        value = "" if value is None else str(value)
    value = value.strip()
    if not value:
        if required:
            raise FieldError(name, "is required")
        return None
    return value


def required(raw: Mapping[str, Any], name: str) -> str:
    """A non-empty string cell: `text` for the hot path, without the keyword dispatch."""
    value = raw.get(name)
    if value.__class__ is str and (value := value.strip()):
        return value
    return text(raw, name)  # type: ignore[return-value]  # numbers from JSON, or the error


def optional(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value.__class__ is str:
        return value.strip() or None
    return None if value is None else str(value).strip() or None


def scaled(raw: Mapping[str, Any], name: str, *, places: int) -> int:
    """A required non-negative number as an integer of 10^-places units (fen for money).

    Plain digits take a fast path without Decimal: this runs three times per transaction.
    """
    value = raw.get(name)
    if value.__class__ is str:
        whole, _, fraction = value.strip().partition(".")
        if whole.isdecimal() and len(fraction) <= places and (fraction.isdecimal() or not fraction):
            return int(whole) * 10**places + (int(fraction.ljust(places, "0")) if fraction else 0)
    number = decimal(raw, name, places=places)
    assert number is not None
    return int(number.scaleb(places))


def decimal(
    raw: Mapping[str, Any], name: str, *, places: int, required: bool = True
) -> Decimal | None:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise FieldError(name, "is required")
        return None
    try:
        number = Decimal(value if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise FieldError(
            name, f"{value!r} is not a number (use digits and a decimal point)"
        ) from None
    if not number.is_finite() or number < 0:
        raise FieldError(name, f"{value!r} must be a non-negative number")
    if number.as_tuple().exponent < -places:  # type: ignore[operator]
        raise FieldError(name, f"{value!r} has more than {places} decimal places")
    return number


def iso_date(raw: Mapping[str, Any], name: str, *, required: bool = True) -> date | None:
    value = text(raw, name, required=required)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise FieldError(name, f"{value!r} is not a date (YYYY-MM-DD)") from None


def region(raw: Mapping[str, Any], name: str = "region_code") -> str:
    value = text(raw, name)
    assert value is not None
    if not is_region_code(value):
        raise FieldError(name, f"{value!r} is not a six-digit division code (GB/T 2260)")
    return value
