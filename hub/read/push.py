"""Push lag per province (推送时效): the one read the /transparency page and GraphQL
`pushLag` both make (figures: schema/push.py)."""

from __future__ import annotations

from sqlalchemy import Connection

from hub.read.errors import BadInput
from schema.codes import is_region_code, region_prefix
from schema.push import PushLag, push_lags


def push_lag(conn: Connection, region: str | None = None) -> list[PushLag]:
    """Each province's relayed arrivals, lags and push completeness; `region` (a six-digit
    division code) narrows to the records of that region and its descendants."""
    if region is not None and not is_region_code(region):
        raise BadInput(f"region {region!r} is not a six-digit division code")
    prefix = region_prefix(region) if region and region != "100000" else None
    return push_lags(conn, prefix)
