"""The per-request context: one database connection, the loaders, the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from starlette.requests import Request

from hub.graphql.errors import Unauthenticated
from hub.graphql.loaders import Loaders
from hub.publishing.errors import PublisherError
from hub.publishing.publishers import PublisherAccount, authenticate


@dataclass
class Context:
    request: Request
    engine: Engine
    conn: Connection
    loaders: Loaders = field(init=False)
    response: Any = None

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.conn)

    def publisher(self) -> PublisherAccount:
        """The publisher whose `Authorization: Bearer` token came with the request."""
        header = self.request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "publishing needs a publisher token: Authorization: Bearer <token>"
            )
        try:
            return authenticate(self.conn, token.strip())
        except PublisherError as exc:
            raise Unauthenticated(str(exc)) from None
