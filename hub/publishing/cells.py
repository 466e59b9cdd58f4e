"""One strictness for every door: the checks a cell passes, from a file or from GraphQL.

CSV cells arrive as strings, NDJSON lines and GraphQL `publish` records as JSON values; the
record handlers read every cell through these functions, so a value refused in a file is
refused over GraphQL too, with the same field name and reason.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Collection, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from hub.publishing.errors import FieldError
from hub.publishing.parties import Note, resolve_region
from schema.codes import is_region_code
from schema.ocds import parse_ocds_datetime, utc_now_beijing

MAX_CELL_BYTES = 32 * 1024  # one cell (UTF-8); notice bodies have MAX_BODY_BYTES
MAX_BODY_BYTES = 512 * 1024  # a notice's fullText / tender.description
MAX_MONEY = Decimal(100_000_000_000)  # 1000亿元: more than any one purchase, far below 2^63 fen
MAX_QUANTITY = Decimal(1_000_000_000)
INT64 = 2**63
EARLIEST = date(1990, 1, 1)  # before the 政府采购法 (2003) and its pilots: a typing error
EVENT_YEARS_AHEAD = 1  # publish, order, decision, award and signing dates
SCHEDULE_YEARS_AHEAD = 30  # periods and debarments look ahead (PPP contracts run 30 years)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
JSON_TYPES = {dict: "an object", list: "a list", bool: "true or false"}


_LATEST: dict[int, tuple[float, date]] = {}


def _years_ahead(years: int) -> date:
    """Today (Beijing) + `years`, recomputed once a minute: this runs once per date cell."""
    now = time.monotonic()
    cached = _LATEST.get(years)
    if cached is None or cached[0] < now:
        today = utc_now_beijing().date()
        latest = today.replace(year=today.year + years, day=min(today.day, 28))
        _LATEST[years] = cached = (now + 60, latest)
    return cached[1]


@cache
def _scaled_limit(maximum: Decimal, places: int) -> int:
    return int(maximum.scaleb(places))


def shown(value: Any, limit: int = 60) -> str:
    """A value as a refusal quotes it: never the whole megabyte."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_name(name: str, limit: int = 40) -> str:
    """An unknown field's name as a refusal names it: cut short, escaped when unprintable."""
    if not name.isprintable():
        return shown(name, limit)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def record_ref(raw: Mapping[str, Any], name: str) -> str | None:
    """A record's own id for its refusal: a short string or number, else none."""
    value = raw.get(name)
    if isinstance(value, str):
        if len(value) > 80 or not value.isprintable():
            return shown(value, 80)  # repr: escaped, so a NUL or lone surrogate is shown safely
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return shown(value, 80)
    return None


def check_string(name: str, value: str, cap: int = MAX_CELL_BYTES) -> None:
    """No NUL, valid Unicode (no lone surrogates), at most `cap` bytes as UTF-8."""
    if "\x00" in value:
        raise FieldError(name, "contains a NUL character")
    if value.isascii():
        size = len(value)
    else:
        try:
            size = len(value.encode())
        except UnicodeEncodeError:
            raise FieldError(name, "is not valid Unicode (a lone surrogate)") from None
    if size > cap:
        raise FieldError(name, f"is {size:,} bytes; a cell holds at most {cap:,}")


def check_number(name: str, value: int | float) -> None:
    """Finite and within 64 bits, however the JSON parser read it: orjson (files) gives a
    float for a huge integer, Python's json (GraphQL) an int; both get the same refusal."""
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(name, f"{value!r} is not a finite number")
    if not -INT64 <= value < INT64:
        raise FieldError(name, "is a number beyond 64 bits (±9.2×10^18)")


def check_record(raw: Mapping[str, Any], known: Collection[str] | None) -> None:
    """Every field a known name (unless `known` is None: the caller takes unknown ones);
    every value a string or a number (or null) within caps."""
    if known is not None and not raw.keys() <= known:  # type: ignore[operator]
        unknown = sorted(k for k in raw if k not in known)
        raise FieldError(field_name(unknown[0]), "unknown field (see README: Input formats)")
    try:  # the common case, a row of short strings, checked at C speed in one go
        joined = "".join(raw.values())
    except TypeError:
        joined = None
    if joined is not None and len(joined) <= MAX_CELL_BYTES // 4 and "\x00" not in joined:
        if joined.isascii():
            return
        try:
            joined.encode()
            return
        except UnicodeEncodeError:
            pass
    for name, value in raw.items():
        kind = value.__class__
        if kind is str:
            if "\x00" in value or len(value) > MAX_CELL_BYTES // 4 or not value.isascii():
                check_string(name, value)
        elif kind is int or kind is float:
            check_number(name, value)
        elif value is not None:
            what = JSON_TYPES.get(kind, kind.__name__)
            raise FieldError(name, f"must be a string or a number, not {what}")


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


def scaled(
    raw: Mapping[str, Any], name: str, *, places: int, maximum: Decimal, signed: bool = False
) -> int:
    """A required number up to `maximum` as an integer of 10^-places units; non-negative
    unless `signed` (a return's quantity and amount), and then at most `maximum` below zero.

    Plain digits take a fast path without Decimal: this runs three times per transaction.
    """
    value = raw.get(name)
    if value.__class__ is str:
        whole, _, fraction = value.strip().partition(".")
        sign = 1
        if signed and whole[:1] == "-":
            sign, whole = -1, whole[1:]
        if (
            whole.isdecimal()
            and len(whole) <= 11
            and len(fraction) <= places
            and (fraction.isdecimal() or not fraction)
        ):
            number = int(whole) * 10**places + (int(fraction.ljust(places, "0")) if fraction else 0)
            if number <= _scaled_limit(maximum, places):
                return sign * number
    found = decimal(raw, name, places=places, maximum=maximum, signed=signed)
    assert found is not None
    return int(found.scaleb(places))


def decimal(
    raw: Mapping[str, Any],
    name: str,
    *,
    places: int,
    maximum: Decimal = MAX_MONEY,
    required: bool = True,
    signed: bool = False,
) -> Decimal | None:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise FieldError(name, "is required")
        return None
    if value.__class__ not in (str, int, float):
        raise FieldError(name, f"must be a number, not {JSON_TYPES.get(value.__class__, '?')}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise FieldError(
            name, f"{shown(value)} is not a number (use digits and a decimal point)"
        ) from None
    if not number.is_finite():
        raise FieldError(name, f"{shown(value)} is not a finite number")
    if number < 0 and not signed:
        raise FieldError(name, f"{shown(value)} must be a non-negative number")
    if abs(number) > maximum:
        raise FieldError(name, f"{shown(value)} is beyond the plausible maximum {maximum:,}")
    if number.as_tuple().exponent < -places:  # type: ignore[operator]
        raise FieldError(name, f"{shown(value)} has more than {places} decimal places")
    return number


def in_range(name: str, day: date, *, schedule: bool = False) -> None:
    """Publish, order and decision dates up to a year ahead; periods and debarments 30."""
    years = SCHEDULE_YEARS_AHEAD if schedule else EVENT_YEARS_AHEAD
    latest = _years_ahead(years)
    if not EARLIEST <= day <= latest:
        raise FieldError(
            name, f"{day} is outside the plausible range {EARLIEST} … {latest} (today + {years} "
            f"year{'s' if years > 1 else ''})",
        )  # fmt: skip


def iso_date(
    raw: Mapping[str, Any], name: str, *, required: bool = True, schedule: bool = False
) -> date | None:
    """YYYY-MM-DD, or an ISO 8601 date-time whose date is taken; nothing trailing."""
    value = text(raw, name, required=required)
    if value is None:
        return None
    try:
        if len(value) == 10 and value[4] == "-" == value[7]:
            day = date.fromisoformat(value)
        elif ISO_DATE.match(value):
            day = datetime.fromisoformat(value).date()
        else:
            raise ValueError
    except ValueError:
        raise FieldError(name, f"{shown(value)} is not a date (YYYY-MM-DD)") from None
    in_range(name, day, schedule=schedule)
    return day


def iso_datetime(value: Any, name: str, *, schedule: bool = False) -> datetime:
    """An ISO 8601 date-time (as naive Beijing time) within the plausible range."""
    try:
        if value.__class__ is not str or not ISO_DATE.match(value):
            raise ValueError
        moment = parse_ocds_datetime(value)
    except (ValueError, OverflowError):
        raise FieldError(name, f"{shown(value)} is not an ISO 8601 date-time") from None
    in_range(name, moment.date(), schedule=schedule)
    return moment


def region(raw: Mapping[str, Any], name: str = "region_code") -> str:
    return region_read(raw, name)[0]


def region_read(raw: Mapping[str, Any], name: str = "region_code") -> tuple[str, Note | None]:
    """(division code, note): a six-digit code, or a GB/T 2260 name (吉林省辽源市东丰县, or
    东丰县 when only one division has it) read as its code, the note recording how."""
    value = text(raw, name)
    assert value is not None
    if value.isascii() and value.isdigit() and not is_region_code(value):
        raise FieldError(name, f"{shown(value)} is not a six-digit division code (GB/T 2260)")
    return resolve_region(value, name)
