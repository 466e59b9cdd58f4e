"""The tests' HTTP client: one, shared, for every request to a server a test started.

`httpx.get(...)` builds a client per call, and each client builds a TLS context (the CA
bundle read and parsed) for a plain-HTTP request: ~50 ms, over a thousand requests a run.
One client keeps one context. It keeps no connection alive between requests and sets no
cap on how many run at once: each request still opens a connection of its own, as before,
so what a test says about connections is unchanged.
"""

from __future__ import annotations

import httpx

web = httpx.Client(limits=httpx.Limits(max_connections=None, max_keepalive_connections=0))
