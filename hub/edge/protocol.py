"""uvicorn's HTTP protocol with a deadline and a size cap on the request head.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but once a byte of a
request has arrived it waits for the rest of the head forever: a client sending a header
a byte a second (slowloris) holds a connection, and a thousand of them hold the server.
Here a client has `header_timeout` seconds from connecting, or from the end of its last
answer, to finish the request line and headers, and `max_header_bytes` to do it in;
otherwise it gets 408 (or 431) and the connection is closed. The application never sees
such a request.

When the hub answers before reading a request's body (413: too large) and closes, closing
at once would make the kernel reset the connection with the body still arriving, and the
client would see "connection reset" instead of the 413. So the hub half-closes after the
answer and reads on for a moment (LINGER seconds, LINGER_BYTES), discarding, then closes.

The limits come from the uvicorn Config (`caigou_limits`, set by
tests/hub_server.py) or else from the environment (`caigou serve` and its workers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config

from hub.config import Settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
except ImportError:  # pragma: no cover - without httptools uvicorn speaks h11
    from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]

PROTOCOL = "hub.edge.protocol:HeadLimitedProtocol"
LINGER, LINGER_BYTES = 2.0, 4 * 1024 * 1024


@dataclass(frozen=True)
class HeadLimits:
    timeout: float
    max_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> HeadLimits:
        return cls(settings.header_timeout, settings.max_header_bytes)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `caigou serve` and the tests' server both pass to uvicorn."""
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "h11_max_incomplete_event_size": settings.max_header_bytes or None,
        "server_header": False,
        "ws": "none",  # the hub has no WebSocket route: upgrades are not offered
    }


def _reply(status: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: 0\r\nconnection: close\r\n\r\n")  # fmt: skip


class HeadLimitedProtocol(Base):
    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        limits = getattr(config, "caigou_limits", None)
        if limits is None:
            limits = HeadLimits.of(Settings.from_env())
            config.caigou_limits = limits  # type: ignore[attr-defined]
        self.limits: HeadLimits = limits
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_of: object = None  # the cycle before the head we are waiting for
        self.head_bytes = 0
        self.lingering: int | None = None  # bytes discarded since the answer, when lingering

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _Lingering(transport, self)  # type: ignore[assignment]
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering is not None:
            self.lingering += len(data)
            if self.lingering > LINGER_BYTES:
                self.transport.close()
            return
        super().data_received(data)
        if self._awaiting_head() and not self.transport.is_closing():
            self.head_bytes += len(data)
            if self.limits.max_bytes and self.head_bytes > self.limits.max_bytes:
                self._close(b"431 Request Header Fields Too Large")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.lingering is None:
            self._await_head()

    def _awaiting_head(self) -> bool:
        """True until the parser has made a new request cycle, and while none is running."""
        cycle = self.cycle
        return cycle is self.head_of and (cycle is None or cycle.response_complete)

    def _await_head(self) -> None:
        self._stop_timer()
        self.head_of, self.head_bytes = self.cycle, 0
        if self.limits.timeout:
            self.head_timer = self.loop.call_later(self.limits.timeout, self._deadline)

    def _deadline(self) -> None:
        self.head_timer = None
        if self._awaiting_head() and not self.transport.is_closing():
            self._close(b"408 Request Timeout")

    def _close(self, status: bytes) -> None:
        self._stop_timer()
        self.transport.write(_reply(status))
        self.transport.close()

    def _stop_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None


class _Lingering:
    """The connection's transport, whose close() lingers while a request body is unread."""

    def __init__(self, transport: asyncio.Transport, protocol: HeadLimitedProtocol) -> None:
        self.real, self.protocol = transport, protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def close(self) -> None:
        protocol, cycle = self.protocol, self.protocol.cycle
        unread = cycle is not None and cycle.more_body and not cycle.disconnected
        if protocol.lingering is not None or not unread or not self.real.can_write_eof():
            self.real.close()
            return
        protocol.lingering = 0
        protocol._stop_timer()
        self.real.write_eof()  # the answer goes out, then FIN; the client reads it whole
        self.real.resume_reading()
        protocol.loop.call_later(LINGER, self.real.close)
