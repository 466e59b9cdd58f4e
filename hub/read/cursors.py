"""Opaque global ids and cursors, the same for GraphQL and the pages.

A cursor is base64 of a JSON list of sort values, with dates, times and decimals tagged so
they come back as the types their columns hold.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from hub.read.errors import BadInput

MAX_ID_CHARS = 64  # "Transaction:9223372036854775807" in base64 is 44
MAX_PK = 2**31 - 1  # primary keys are `integer` on PostgreSQL: no id given out is larger
MAX_CURSOR_CHARS = 1_000  # a cursor holds a few sort values
_PK = re.compile(r"[1-9][0-9]{0,9}")
_TYPE_NAME = re.compile(r"[A-Za-z]{1,40}")


def global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def shown_value(value: str, limit: int = 60) -> str:
    """A client's value quoted in an error message, cut short: never echo megabytes back."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def parse_global_id(value: str) -> tuple[str, int]:
    """The type name and primary key of an id this API gave out, or BadInput.

    Strict: a positive key within `integer` in plain digits (`int()` alone would accept
    signs, blanks, underscores and thousands of digits, which the database then rejects).
    """
    try:
        if len(value) > MAX_ID_CHARS:
            raise ValueError
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, pk = raw.split(":", 1)
        if not (_TYPE_NAME.fullmatch(type_name) and _PK.fullmatch(pk)) or int(pk) > MAX_PK:
            raise ValueError
        return type_name, int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadInput(f"{shown_value(value)} is not an id given by this API") from None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    return value


_DECODERS: dict[str, Callable[[str], date | Decimal]] = {
    "dt": datetime.fromisoformat,
    "d": date.fromisoformat,
    "n": Decimal,
}


def _decode_value(value: Any) -> Any:
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("beyond 64 bits")
    if isinstance(value, list):
        kind, text = value
        decoded = _DECODERS[kind](text)
        if isinstance(decoded, datetime) and decoded.tzinfo is not None:
            # Stored times are naive Beijing time; the API never hands out an offset, and
            # SQLite and PostgreSQL would each read one differently.
            raise ValueError("a time with an offset")
        if isinstance(decoded, Decimal) and not (decoded.is_finite() and abs(decoded) < 10**18):
            raise ValueError("not an amount")
        return decoded
    if value is not None and not isinstance(value, str | int | float):
        raise TypeError("a sort value is a scalar")  # an object would reach the driver
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([_encode_value(v) for v in values])).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError
        values = orjson.loads(base64.urlsafe_b64decode(cursor))
        if not isinstance(values, list):
            raise TypeError
        return [_decode_value(v) for v in values]
    except (ValueError, TypeError, KeyError, ArithmeticError, orjson.JSONDecodeError):
        raise BadInput(f"{shown_value(cursor)} is not a cursor given by this API") from None
