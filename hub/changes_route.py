"""GET /changes: the change feed as NDJSON, for mirrors (`caigou mirror pull`).

One JSON object per change (GraphQL's `Change` fields, camelCase), then a last line
`{"next": CURSOR, "more": BOOL}`: pass `next` as `after` to read on; `more` says whether
changes already follow. A plain `def` endpoint: Starlette runs it in its thread pool.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from hub.read.changes import change_cursor, parse_change_cursor, parse_kinds, read_changes
from hub.read.errors import BadInput

NDJSON = "application/x-ndjson"
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 1_000


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if (
        not (value.isascii() and value.isdigit() and len(value) <= 9)
        or not 1 <= int(value) <= MAX_LIMIT
    ):
        raise BadInput(f"limit: {value[:20]!r} is not a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def endpoint(engine: Engine) -> Callable[[Request], Response]:
    def changes(request: Request) -> Response:
        params = request.query_params
        try:
            after = parse_change_cursor(params.get("after"))
            kinds = parse_kinds([k for k in params.get("kinds", "").split(",") if k.strip()])
            limit = _limit(params.get("limit"))
        except BadInput as error:
            return PlainTextResponse(f"{error}\n", status_code=400)
        with engine.connect() as conn:
            page = read_changes(conn, after, limit, kinds)
        lines = [orjson.dumps(row.as_json()) for row in page.rows]
        end = page.end_cursor or change_cursor(after)
        lines.append(orjson.dumps({"next": end, "more": page.has_next}))
        return Response(b"\n".join(lines) + b"\n", media_type=NDJSON)

    return changes
