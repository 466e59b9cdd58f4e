"""A hub that answers wrongly: a loopback HTTP server whose answers a test scripts.

Not a stand-in for a working hub (the federation and mirror tests run real hubs): a real hub
never sends an endless page, a cursor that loops or a publish result that does not add up,
so these faults cannot be caused for real; this server sends them, on the wire, as a broken
or hostile peer would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# An answer: status, and the body's chunks (a generator may never end, or pause between).
Answer = tuple[int, Callable[[], Iterator[bytes]]]


@contextmanager
def broken_peer(answer: Callable[[str, str], Answer]) -> Iterator[str]:
    """Serve `answer(method, path)` on a free loopback port; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            status, chunks = answer(self.command, self.path)
            self.send_response(status)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for chunk in chunks():
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def once(body: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter([body])


def endless(line: bytes, pause: float = 0.0) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        while True:
            yield line
            if pause:
                time.sleep(pause)

    return chunks
