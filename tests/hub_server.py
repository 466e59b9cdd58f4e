"""A real uvicorn server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from hub.config import Settings
from hub.edge.protocol import HeadLimits, uvicorn_options
from tests.web_client import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(app: Starlette) -> Iterator[str]:
    """Serve `app` with the options `caigou serve` gives uvicorn (the edge's head limits too)."""
    port = free_port()
    settings: Settings = getattr(app.state, "settings", None) or Settings.from_env()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(settings)
    )
    config.caigou_limits = HeadLimits.of(settings)  # type: ignore[attr-defined]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the hub did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def graphql(base: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = web.post(f"{base}/graphql", json={"query": query, "variables": variables or {}},
                          headers=headers, timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()
