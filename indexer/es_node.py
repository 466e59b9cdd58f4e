"""An elastic-transport node on the standard library's `http.client`.

The client's default node goes through urllib3, which builds pool, timeout, retry and header
objects for every request: a search's client call took 1.21 ms of CPU with it and 1.01 ms
with this node (bench/RESULTS.md). elastic-transport takes any `BaseNode` as `node_class`;
this one keeps idle keep-alive connections on a stack and leaves retries, node health and
(de)serialisation to the transport, as before.
"""

from __future__ import annotations

import http.client
import threading
import time
import weakref

from elastic_transport import (
    ApiResponseMeta,
    BaseNode,
    ConnectionError,
    ConnectionTimeout,
    HttpHeaders,
    NodeConfig,
)
from elastic_transport._node import NodeApiResponse  # what every node returns; not re-exported
from elastic_transport.client_utils import DEFAULT, DefaultType

from schema.db import peer_closed


class StdlibHttpNode(BaseNode):
    """One Elasticsearch node over plain HTTP; thread-safe, one connection per caller."""

    _CLIENT_META_HTTP_CLIENT = ("hc", "0")

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        if config.scheme != "http":
            raise ValueError(f"{config.scheme}: this node speaks plain HTTP (a local cluster)")
        self._timeout = config.request_timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        # A client dropped without close() (a backend per request, a test) closes its sockets.
        weakref.finalize(self, _close_all, self._idle)

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        timeout = self._timeout if request_timeout is DEFAULT else request_timeout
        sent = self.headers.copy()
        if headers:
            sent.update(headers)
        started = time.time()
        conn = self._checkout()
        try:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            conn.request(method, self.path_prefix + target, body, dict(sent))
            response = conn.getresponse()
            data = response.read()
        except TimeoutError as exc:
            conn.close()
            raise ConnectionTimeout("Connection timed out during request", errors=(exc,)) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ConnectionError(str(exc), errors=(exc,)) from exc
        if response.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        meta = ApiResponseMeta(
            node=self.config,
            duration=time.time() - started,
            http_version="1.1",
            status=response.status,
            headers=HttpHeaders(response.getheaders()),
        )
        return NodeApiResponse(meta, data)

    def _checkout(self) -> http.client.HTTPConnection:
        """An idle connection the server has not closed meanwhile, or a new one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)
            if conn.sock is not None and not peer_closed(conn.sock):
                return conn
            conn.close()  # closed by the server (restart, idle timeout): try the next

    def close(self) -> None:
        with self._lock:
            _close_all(self._idle)


def _close_all(idle: list[http.client.HTTPConnection]) -> None:
    while idle:
        idle.pop().close()
