"""A circuit breaker for the search backend: after N failures in a row, fail fast for a while.

A search backend that hangs (an Elasticsearch that accepts connections and never answers)
costs each caller its whole timeout; a breaker turns that into an immediate refusal once the
outage is plain. Closed: calls go through and failures are counted. Open (N consecutive
failures): calls are refused without trying, for `cool_down` seconds. Half-open (the cool-down
over): one trial call goes through while the others are still refused; its success closes
the breaker, its failure opens it for another cool-down.

Not pybreaker: its `call` holds the breaker's lock for the whole guarded call, which would
serialise every concurrent search behind one slow one. Here the lock guards only the counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitOpen(Exception):
    """The breaker refused the call without trying it."""

    def __init__(self, failures: int, retry_in: float, last_error: str) -> None:
        super().__init__(
            f"{failures} failures in a row, not tried again for {retry_in:.0f} s "
            f"(last: {last_error})"
        )
        self.retry_in = retry_in


class CircuitBreaker:
    """Thread-safe; `failures` in a row open it for `cool_down` seconds; `clock` for tests."""

    def __init__(
        self,
        failures: int = 5,
        cool_down: float = 30.0,
        *,
        counts: tuple[type[BaseException], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = max(1, failures)
        self.cool_down = cool_down
        self.counts = counts  # the exceptions that mean "the backend failed"
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight
        self.last_error = ""

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._trial or self.clock() - self._opened_at < self.cool_down:
            return OPEN
        return HALF_OPEN

    def refusal(self) -> CircuitOpen | None:
        """What a call would be refused with now, without admitting a trial call."""
        with self._lock:
            return self._refusal()

    def _refusal(self) -> CircuitOpen | None:
        if self._state() != OPEN:
            return None
        assert self._opened_at is not None
        left = self.cool_down - (self.clock() - self._opened_at)
        return CircuitOpen(self._failures, max(left, 0.0), self.last_error)

    def _admit(self) -> None:
        with self._lock:
            refused = self._refusal()
            if refused is not None:
                raise refused
            if self._state() == HALF_OPEN:
                self._trial = True

    def call(self, func: Callable[[], T]) -> T:
        """`func()` when the breaker admits it; raises CircuitOpen when it does not."""
        self._admit()
        try:
            result = func()
        except self.counts as exc:
            self.failed(exc)
            raise
        except BaseException:
            self._release_trial()  # a bug, not an outage: neither success nor failure
            raise
        self.succeeded()
        return result

    async def acall(self, func: Callable[[], Awaitable[T]]) -> T:
        """`call` for a coroutine: awaited on the caller's loop, counted the same way."""
        self._admit()
        try:
            result = await func()
        except self.counts as exc:
            self.failed(exc)
            raise
        except BaseException:
            self._release_trial()
            raise
        self.succeeded()
        return result

    def succeeded(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._failures += 1
            self.last_error = str(error)[:300]
            if self._trial or self._failures >= self.threshold:
                self._opened_at = self.clock()
            self._trial = False

    def _release_trial(self) -> None:
        with self._lock:
            self._trial = False
