"""A request id on every answer, every error body and every log line of a request.

The client's `X-Request-ID` is kept when it is a short plain token (a proxy's or a
client's own correlation id), otherwise a new one is made. Errors anyone raises or
answers (the router's 404/405, strawberry's 400s, an unexpected exception) leave here
with the id in their body, in the caller's shape (hub/edge/errors.py).
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.edge import errors

log = logging.getLogger("caigou.http")
SANE = re.compile(r"[A-Za-z0-9._:@+=-]{1,64}")
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
BUFFERED = 256 * 1024  # error bodies larger than this pass unchanged


def current_request_id() -> str | None:
    """The id of the request being answered, for templates and log lines."""
    return REQUEST_ID.get()


class RequestIdFormatter(logging.Formatter):
    """Ends every line logged while a request is answered with its id, unless it names it."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = REQUEST_ID.get()
        return text if request_id is None or request_id in text else f"{text} [{request_id}]"


class RequestId:
    """Outermost hub middleware: assigns the id, stamps errors, answers crashes with a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = errors.header(scope, b"x-request-id")
        request_id = given if given and SANE.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        stamp = _Stamper(scope, send, request_id)
        try:
            await self.app(scope, receive, stamp.send)
        except Exception:
            log.exception(orjson.dumps({"request_id": request_id, "path": scope["path"],
                                        "outcome": "crashed"}).decode())  # fmt: skip
            if not stamp.started:
                for message in errors.messages(scope, 500, "Unexpected error.", request_id):
                    await stamp.send(message)
        finally:
            REQUEST_ID.reset(token)


class _Stamper:
    """Adds `X-Request-ID` to the answer and the id into error bodies (JSON or plain text)."""

    def __init__(self, scope: Scope, send: Send, request_id: str) -> None:
        self.scope, self.downstream, self.request_id = scope, send, request_id
        self.started = False
        self.held: Message | None = None  # the start of an error answer being rewritten
        self.body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
            message = {
                **message,
                "headers": [*headers, (b"x-request-id", self.request_id.encode())],
            }
            if message["status"] >= 400 and self.scope.get("method") != "HEAD":
                self.held = message
                return
        elif message["type"] == "http.response.body" and self.held is not None:
            self.body += message.get("body", b"")
            if message.get("more_body", False) and len(self.body) <= BUFFERED:
                return
            await self._flush(more_body=message.get("more_body", False))
            return
        await self.downstream(message)

    async def _flush(self, more_body: bool) -> None:
        start, body, self.held = self.held, self.body, None
        assert start is not None
        if not more_body:
            start, body = self._stamped(start, body)
        await self.downstream(start)
        await self.downstream({"type": "http.response.body", "body": body, "more_body": more_body})

    def _stamped(self, start: Message, body: bytes) -> tuple[Message, bytes]:
        headers = start["headers"]
        kind = dict(headers).get(b"content-type", b"").split(b";")[0].strip()
        if kind == b"application/json":
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                return start, body
            if not isinstance(data, dict):
                return start, body
            data.setdefault("request_id", self.request_id)
            if "errors" not in data:
                data.setdefault("code", errors.code_for(start["status"]))
            body = orjson.dumps(data)
        elif kind in (b"text/plain", b""):
            text = body.decode("utf-8", "replace").strip() or _reason(start["status"])
            kind, body = errors.body_for(self.scope, start["status"], text, self.request_id)
        else:
            return start, body  # HTML pages carry the id themselves (error.html)
        kept = [(k, v) for k, v in headers if k not in (b"content-type", b"content-length")]
        sized = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        return {**start, "headers": [*kept, *sized]}, body


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
