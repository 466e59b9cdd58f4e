"""The HTTP edge: what a hostile or careless client meets before the application.

Pure ASGI middleware, listed in `create_app` (outermost first): security headers, the
request id (and error bodies that name it), rate limits, body caps. The request-head
deadline lives in the uvicorn protocol (hub/edge/protocol.py). Every limit is a setting
(hub/config.py `LIMITS`), documented in README "Limits and security".
"""

from __future__ import annotations

from starlette.middleware import Middleware

from hub.config import Settings
from hub.edge.headers import SecurityHeaders
from hub.edge.limits import BodyLimit, PublisherCheck, RateLimit
from hub.edge.request_id import RequestId, current_request_id

__all__ = ["current_request_id", "middleware"]


def middleware(settings: Settings, is_publisher: PublisherCheck) -> list[Middleware]:
    return [
        Middleware(SecurityHeaders),
        Middleware(RequestId),
        Middleware(RateLimit, per_minute=settings.rate_limit),
        Middleware(
            BodyLimit,
            max_body=settings.max_body_bytes,
            max_publish=settings.max_publish_bytes,
            timeout=settings.body_timeout,
            is_publisher=is_publisher,
        ),
    ]
