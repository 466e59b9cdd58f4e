"""Error answers made at the edge, in the shape the caller reads.

GraphQL clients get `{"errors": [{"message", "extensions": {"code"}}]}`, browsers the hub's
HTML error page, everyone else `{"error", "code"}`; every one names its request id.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Message, Scope

CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 408: "REQUEST_TIMEOUT",
    411: "LENGTH_REQUIRED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE", 429: "RATE_LIMITED", 431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR", 503: "UNAVAILABLE",
}  # fmt: skip
TITLES = {
    400: "请求有误 Bad request", 404: "未找到 Not found", 405: "方法不允许 Method not allowed",
    413: "请求过大 Request too large", 416: "范围无效 Range not satisfiable",
    429: "请求过多 Too many requests", 500: "服务器错误 Server error",
}  # fmt: skip


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def wants_html(scope: Scope) -> bool:
    """A browser asking for a page (not GraphQL, not a program asking for JSON)."""
    accept = header(scope, b"accept") or ""
    return "text/html" in accept and not scope.get("path", "").startswith("/graphql")


def code_for(status: int) -> str:
    return CODES.get(status, "SERVER_ERROR" if status >= 500 else "CLIENT_ERROR")


def body_for(scope: Scope, status: int, message: str, request_id: str) -> tuple[bytes, bytes]:
    """(content-type, body) of an error answer to this request."""
    code = code_for(status)
    if wants_html(scope):
        from hub.web.render import environment

        html = (
            environment()
            .get_template("error.html")
            .render(title=TITLES.get(status, str(status)), message=message, request_id=request_id)
        )
        return b"text/html; charset=utf-8", html.encode()
    if scope.get("path", "").startswith("/graphql"):
        error = {"message": message, "extensions": {"code": code, "request_id": request_id}}
        data: dict[str, Any] = {"errors": [error], "request_id": request_id}
    else:
        data = {"error": message, "code": code, "request_id": request_id}
    return b"application/json", orjson.dumps(data)


def messages(
    scope: Scope,
    status: int,
    message: str,
    request_id: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> list[Message]:
    """The two ASGI messages of an error answer; `connection: close` when the body is unread."""
    content_type, body = body_for(scope, status, message, request_id)
    raw = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    if scope.get("method") == "HEAD":
        body = b""
    return [
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": body},
    ]
