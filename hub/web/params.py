"""Reading GET parameters: every malformed value becomes a BadRequest that names it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from starlette.datastructures import QueryParams

from hub.read.where import MAX_BOUND
from hub.web.render import BadRequest


def text(params: QueryParams, name: str, limit: int = 200) -> str:
    value = params.get(name, "").strip()
    if len(value) > limit:
        raise BadRequest(f"参数 {name} 过长（最多 {limit} 字）: {name} is too long")
    return value


def day(params: QueryParams, name: str) -> date | None:
    value = text(params, name, 10)
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise BadRequest(f"{name}={value!r} 不是日期 YYYY-MM-DD: not a date") from None


def amount(params: QueryParams, name: str) -> Decimal | None:
    value = text(params, name, 20).replace(",", "")
    try:
        number = Decimal(value) if value else None
    except InvalidOperation:
        raise BadRequest(f"{name}={value!r} 不是金额: not an amount in yuan") from None
    if number is not None and (not number.is_finite() or not 0 <= number < MAX_BOUND):
        raise BadRequest(f"{name}={value!r} 不是金额: not an amount in yuan (0 to {MAX_BOUND:,})")
    return number


def integer(params: QueryParams, name: str) -> int | None:
    value = text(params, name, 18)
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise BadRequest(f"{name}={value!r} 不是编号: not a numeric id")
    return int(value)


def choice(params: QueryParams, name: str, allowed: tuple[str, ...]) -> str:
    value = text(params, name, 40) or allowed[0]
    if value not in allowed:
        raise BadRequest(f"{name}={value!r}: 可选 one of {', '.join(allowed)}")
    return value
