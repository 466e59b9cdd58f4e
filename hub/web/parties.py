"""`/parties/{id}`: a supplier or purchaser on one page.

Awards won, contracts, projects bought, recent transactions (keyset-paged, newest first),
penalty records, debarments active today and flags.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from hub.read.party import party_data
from hub.web.render import error_page, render


def read_before(value: str) -> tuple[date, int] | None:
    """`before=2024-03-01.123`: the key of the last transaction of the previous page."""
    if not value:
        return None
    day, _, pk = value.partition(".")
    if not (pk.isascii() and pk.isdigit() and len(pk) <= 18):  # 10^30 reached the driver: 500
        raise ValueError(pk)
    return date.fromisoformat(day), int(pk)


def page(engine: Engine) -> Callable[[Request], Response]:
    """A plain function: Starlette runs it in a worker thread, off the event loop."""

    def endpoint(request: Request) -> Response:
        raw = request.path_params["id"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            return error_page(request, 404, f"{raw!r} 不是主体编号: not a party id")
        try:
            before = read_before(request.query_params.get("before", ""))
        except ValueError:
            return error_page(request, 400, "before: 翻页参数有误 not a page key this site gave")
        with engine.connect() as conn:
            data = party_data(conn, int(raw), before)
        if data is None:
            return error_page(request, 404, f"没有主体 {raw}: no such party")
        return render("party.html", **data)

    return endpoint
