"""Request body caps and rate limits, answered before the application does any work.

Body caps: a body announced larger than the cap (Content-Length) is refused with 413 at
once, unread, and the connection closed; a chunked body is counted as it streams and
refused as soon as it passes the cap. Bodies over the small cap need a bearer token that
is a live publisher's (checked only then, so a made-up token buys nothing). A body still
arriving `timeout` seconds after the request began is refused with 408 (a slow drip).

Rate limits: token buckets per client address (IPv6 by /64) and per bearer token, each
allowing `rate` requests a minute with bursts up to a minute's worth. The buckets live in
the process: with several workers each keeps its own (a client may get `workers` times
the rate); a proxy in front can share one limit across them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.edge import errors

EXEMPT = ("/healthz", "/metrics")
PublisherCheck = Callable[[str], Awaitable[bool]]


def bearer(scope: Scope) -> str | None:
    scheme, _, token = (errors.header(scope, b"authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


async def refuse(
    scope: Scope, send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]
) -> None:
    for reply in errors.messages(scope, status, message, request_id(scope), headers):
        await send(reply)


def _size(count: int) -> str:
    return f"{count / 1048576:g} MB" if count >= 1048576 else f"{count:,} bytes"


class BodyTooLarge(Exception):
    """Raised inside the application's `receive` when a streamed body passes its cap."""


class BodyTooSlow(Exception):
    """Raised inside the application's `receive` when the body is not in by the deadline."""


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        max_publish: int,
        timeout: float,
        is_publisher: PublisherCheck,
    ) -> None:
        self.app, self.max_body, self.max_publish = app, max_body, max_publish
        self.timeout, self.is_publisher = timeout, is_publisher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = bearer(scope)
        cap = self.max_body or math.inf
        declared = errors.header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await refuse(scope, send, 400, "Content-Length must be a number of bytes",
                             [(b"connection", b"close")])  # fmt: skip
                return
            if int(declared) > cap:
                if token and int(declared) <= self.max_publish and await self.is_publisher(token):
                    cap = self.max_publish
                else:
                    await refuse(scope, send, 413, self._message(int(declared), token),
                                 [(b"connection", b"close")])  # fmt: skip
                    return
        timed = self._deadline(receive)
        seen, started = 0, False

        async def counted() -> Message:
            nonlocal seen, cap
            message = await timed()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap < self.max_publish and token and await self.is_publisher(token):
                    cap = self.max_publish  # a publisher's batch, streamed without a length
                if seen > cap:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await refuse(scope, send, 413, self._message(seen, token),
                             [(b"connection", b"close")])  # fmt: skip
        except BodyTooSlow:
            if not started:
                message = (f"the request body did not arrive within {self.timeout:g} s "
                           "(CAIGOU_BODY_TIMEOUT)")  # fmt: skip
                await refuse(scope, send, 408, message, [(b"connection", b"close")])

    def _deadline(self, receive: Receive) -> Receive:
        """`receive` that raises BodyTooSlow while the body is not in by the deadline."""
        if not self.timeout:
            return receive
        deadline = anyio.current_time() + self.timeout
        complete = False

        async def timed() -> Message:
            nonlocal complete
            if complete:  # waiting for a disconnect after the body: no deadline
                return await receive()
            with anyio.move_on_after(deadline - anyio.current_time()):
                message = await receive()
                complete = message["type"] != "http.request" or not message.get("more_body")
                return message
            raise BodyTooSlow

        return timed

    def _message(self, size: int, token: str | None) -> str:
        if token:
            return (f"request body of {_size(size)} or more is over the limit: "
                    f"{_size(self.max_publish)} for a publisher's batch, "
                    f"{_size(self.max_body)} without a valid publisher token")  # fmt: skip
        return (f"request body of {_size(size)} or more is over the limit of "
                f"{_size(self.max_body)} (CAIGOU_MAX_BODY_BYTES)")  # fmt: skip


class Buckets:
    """Token buckets: `per_minute` a minute, up to `per_minute` at once; least-recent evicted."""

    def __init__(
        self, per_minute: int, keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity, self.rate = float(per_minute), per_minute / 60.0
        self.keys, self.clock = keys, clock
        self.state: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        now = self.clock()
        tokens, then = self.state.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self.state[key] = (tokens - 1 if wait == 0 else tokens, now)
        if len(self.state) > self.keys:
            self.state.popitem(last=False)
        return wait


def client_key(scope: Scope) -> str:
    host = (scope.get("client") or ("unknown", 0))[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"client:{host}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"client:{address.ipv4_mapped}"
        return f"client:{ipaddress.ip_network(f'{host}/64', strict=False)}"
    return f"client:{address}"


class RateLimit:
    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app, self.per_minute = app, per_minute
        self.buckets = Buckets(per_minute) if per_minute else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        token = bearer(scope)
        waits = [(self.buckets.take(client_key(scope)), "this client address")]
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()[:32]
            waits.append((self.buckets.take(f"token:{digest}"), "this token"))
        wait, who = max(waits)
        if wait:
            seconds = max(1, math.ceil(wait))
            message = (f"too many requests from {who}: {self.per_minute} a minute "
                       f"(CAIGOU_RATE_LIMIT); retry after {seconds} s")  # fmt: skip
            await refuse(scope, send, 429, message, [(b"retry-after", str(seconds).encode())])
            return
        await self.app(scope, receive, send)
