"""An HTTP answer read within a total time and size: what another hub sends is not trusted.

httpx's timeout bounds each read, not the answer: a peer that drips a byte every two seconds
held `caigou mirror pull` and the pusher for ever (and the pusher's other upstreams with it),
and one that streams without end grew the mirror by 1.6 GB a second. Both are refused here.
"""

from __future__ import annotations

import time
from typing import Any

import httpx


class PeerTooSlowOrLarge(Exception):
    """The peer's answer did not end within its time, or grew past its size."""


def bounded(
    client: httpx.Client, method: str, url: str, *, seconds: float, max_bytes: int, **kwargs: Any
) -> tuple[int, bytes]:
    """(status, body) of the request, its body read within `seconds` in all and `max_bytes`."""
    deadline = time.monotonic() + seconds
    body = bytearray()
    with client.stream(method, url, **kwargs) as response:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise PeerTooSlowOrLarge(f"{url} answered more than {max_bytes:,} bytes")
            if time.monotonic() > deadline:
                raise PeerTooSlowOrLarge(f"{url} did not finish its answer within {seconds:g} s")
        return response.status_code, bytes(body)
