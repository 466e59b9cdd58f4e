"""Shape d's floor: what a hub of this design pays over Elasticsearch, and nothing more.

`bench/search.py --shape-d` runs this beside `caigou serve` so one table shows how much of
the 1.2x budget the search's two legs take before the hub does any work of its own. It is an
ASGI app under the same uvicorn as `caigou serve` (uvloop, one worker, the hub's protocol
options) that takes the page's `_search` body, posts it through the hub's own node
(`indexer.es_loop.LoopNode`), reads the hits' rows with the page's hydration statements on
the hub's own PostgreSQL pool (`hub.pg_reads.PgReads`), and answers Elasticsearch's bytes:
no GraphQL, no highlights, no template, no middleware.

    python bench/search_floor.py DATABASE_URL ELASTICSEARCH_URL PORT [rows|search]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

# As in bench/search.py: bench/graphql.py must not stand in for graphql-core.
if os.path.dirname(os.path.abspath(__file__)) in sys.path:
    sys.path.remove(os.path.dirname(os.path.abspath(__file__)))

import uvicorn
from elastic_transport import NodeConfig

from hub.config import Settings
from hub.edge.protocol import uvicorn_options
from hub.pg_reads import PgReads
from hub.read.search import driver_statements, hydration
from hub.web.search_page import COLUMNS, HYDRATION
from indexer.elastic import LOOP_HEADERS
from indexer.es_loop import LoopNode, answer_of
from indexer.search import Hit
from schema.db import make_engine

Message = dict[str, Any]


def floor_app(
    database_url: str, elasticsearch_url: str, rows: bool = True
) -> Callable[..., Awaitable[None]]:
    """The two legs of a search page and nothing else, as an ASGI app; `rows=False`: the
    Elasticsearch leg alone (what answering hits from the index would leave)."""
    engine = make_engine(database_url)
    pg = PgReads(engine, timeout=None)
    parts = urlsplit(elasticsearch_url)
    node: list[LoopNode] = []  # made on the serving loop, at the first request

    async def app(
        scope: Message, receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:  # fmt: skip
        if scope["type"] == "lifespan":  # startup, then shutdown: nothing to open or close
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if not node:
            config = NodeConfig("http", parts.hostname or "localhost", parts.port or 9200)
            node.append(LoopNode(config))
        target = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"]
                                  else "")  # fmt: skip
        raw = await node[0].perform_request("POST", target, body, LOOP_HEADERS)
        answer = answer_of(raw)
        hits = [] if not rows else [Hit(h["_source"]["kind"], int(h["_source"]["pk"]), None, (), {})
                for h in answer.get("hits", {}).get("hits", [])[:20]]  # fmt: skip
        jobs = hydration(engine.dialect, hits, tuple(COLUMNS), **HYDRATION)
        if jobs and await pg.rows(driver_statements(jobs)) is None:
            raise RuntimeError("the floor's PostgreSQL pool could not answer")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": raw[1]})

    return app


def main() -> None:
    database_url, elasticsearch_url, port = sys.argv[1:4]
    legs = sys.argv[4] if len(sys.argv) > 4 else "rows"
    app = floor_app(database_url, elasticsearch_url, rows=legs == "rows")
    options = uvicorn_options(Settings.from_env())
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", **options)


if __name__ == "__main__":
    main()
