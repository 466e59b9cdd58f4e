"""`/transparency`: disclosure scores by region, purchaser or agency, ranked, with a trend,
and each province's push lag (hub/read/push.py, the read GraphQL `pushLag` makes).

Scores come from schema.transparency (the same functions GraphQL `transparencyScores` and
`transparencyTrend` call); the trend is an SVG line drawn on the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from hub.read.labels import labels
from hub.read.party import names
from hub.read.push import push_lag
from hub.web import params as p
from hub.web.charts import line
from hub.web.render import BadRequest, error_page, render
from schema.codes import is_region_code
from schema.divisions import region_label
from schema.push import PUSH_WORKDAYS, PushLag
from schema.transparency import Group, Scope, ranking, score_row, trend

GROUPS = {"region": Group.REGION, "purchaser": Group.PURCHASER, "agency": Group.AGENCY}
GROUP_NAMES = {
    "region": "地区 Region", "purchaser": "采购人 Purchaser", "agency": "代理机构 Agency"
}  # fmt: skip
SHARES = ("score", "completeness", "timeliness", "consistency", "push_timeliness")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
RANKED = 30


def _month(value: str, name: str) -> str | None:
    if value and not MONTH.match(value):
        raise BadRequest(f"{name}={value!r} 不是月份 YYYY-MM: not a month")
    return value or None


@dataclass(frozen=True)
class Selection:
    """What the page shows: a grouping, a month range, a region, and whose trend."""

    group: str = "region"
    month_from: str | None = None
    month_to: str | None = None
    region: str = ""
    key: str = ""


def read_selection(request: Request) -> Selection:
    q = request.query_params
    group = p.choice(q, "group", tuple(GROUPS))
    months = (_month(p.text(q, "from", 7), "from"), _month(p.text(q, "to", 7), "to"))
    region = p.text(q, "region", 6)
    if region and not is_region_code(region):
        raise BadRequest(f"region={region!r} 不是六位行政区划代码: not a division code")
    key = p.text(q, "key", 18)
    if key and group != "region" and not (key.isascii() and key.isdigit()):
        raise BadRequest(f"key={key!r} 不是主体编号: not a party id")
    return Selection(group, *months, region, key)


def scores(engine: Engine, chosen: Selection) -> dict[str, Any]:
    """The ranking and one trend; without a chosen entity, the region's or the best one's."""
    group, region, key = chosen.group, chosen.region, chosen.key
    months = (chosen.month_from, chosen.month_to)
    parties = group != "region"
    with engine.connect() as conn:
        scope = Scope(GROUPS[group], *months, region_code=region or None)
        ranked = ranking(conn, scope, limit=RANKED)
        rows = [{**score_row(r.counts, group, r.key, None), "rank": r.rank, "key": r.key}
                for r in ranked]  # fmt: skip
        if not key and not region and rows:
            key = str(rows[0]["key"])
        if key and parties:
            series_scope = Scope(GROUPS[group], *months, key=int(key))
        elif key:
            series_scope = Scope(Group.REGION, *months, region_code=key, as_one=True)
        else:
            series_scope = Scope(Group.REGION, *months, region_code=region or None, as_one=True)
        series = trend(conn, series_scope) if key or region else []
        wanted = {r.key for r in ranked} | {int(key)} if parties and key else set()
        party_names = names(conn, wanted)
        pushes = push_lag(conn, region or None)
    if not parties:  # regions by their GB/T 2260 names, as parties by theirs
        party_names = {r.key: region_label(str(r.key)) for r in ranked}
    subject = party_names.get(int(key), key) if parties and key else region_label(key or region)
    points = [(month[2:], counts.score) for month, counts in series]
    return {
        "group": group, "groups": GROUP_NAMES, "rows": rows, "names": party_names,
        "shares": SHARES, "subject": subject, "months": months, "region": region,
        "chart": line(f"{subject} 透明度总分趋势 score by month", points),
        "S": labels("transparency_scores"),
        "pushes": [{**row.model_dump(), "name": region_label(row.region_code)} for row in pushes],
        "P": {name: info.title for name, info in PushLag.model_fields.items()},
        "push_window": PUSH_WORKDAYS,
    }  # fmt: skip


def page(engine: Engine) -> Callable[[Request], Response]:
    """A plain function: Starlette runs it in a worker thread, off the event loop."""

    def endpoint(request: Request) -> Response:
        try:
            data = scores(engine, read_selection(request))
        except BadRequest as exc:
            return error_page(request, 400, str(exc))
        return render("transparency.html", **data)

    return endpoint
