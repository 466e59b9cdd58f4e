"""Templates, labels and the error page shared by every page."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hub.edge.request_id import current_request_id
from hub.read.labels import category_label, channel_label, labels, notice_type_label
from schema.divisions import region_label
from schema.ocds import currency_code

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


class BadRequest(Exception):
    """Malformed input from the URL: answered with a 400 page that says what to fix."""


def money(value: Decimal | float | None) -> str:
    """Two decimals, more when the value has them (a unit price of 0.005 元 stays 0.005)."""
    if value is None:
        return ""
    number = Decimal(value)
    places = max(2, -number.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{number:,.{min(places, 4)}f}"


def priced(value: Decimal | float | None, currency: str | None, sign: bool = True) -> str:
    """An amount in its currency: yuan as `¥1,000.00` (or bare in a table, `sign=False`),
    another as `GBP 1,000.00`, never a pound shown as a yuan."""
    if value is None:
        return ""
    code = currency_code(currency)
    if code == "CNY":
        return f"¥{money(value)}" if sign else money(value)
    return f"{code} {money(value)}"


def quantity(value: Decimal | None) -> str:
    """3 decimals at most, trailing zeros dropped, never exponent notation (20, not 2E+1)."""
    return "" if value is None else f"{Decimal(value).normalize():f}"


def url_with(params: dict[str, str], **changes: str | None) -> str:
    """The same query with some parameters set (or dropped when None); the cursor resets."""
    merged = {k: v for k, v in params.items() if k not in ("after", "before")}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return "?" + urlencode({k: v for k, v in merged.items() if v != ""})


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), cache_size=50
    )
    env.globals.update(labels=labels, url_with=url_with)
    env.filters.update(
        priced=priced,
        notice_type=notice_type_label,
        channel=channel_label,
        category=category_label,
        region=region_label,
        money=money,
        quantity=quantity,
    )
    return env


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template rendered with `context`; `status` is the HTTP status, not a variable."""
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {400: "请求有误 Bad request", 404: "未找到 Not found"}
    return render("error.html", status, title=titles.get(status, str(status)), message=message,
                  request_id=current_request_id())  # fmt: skip
