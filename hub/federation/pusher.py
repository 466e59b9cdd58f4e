"""The pusher: sends the change feed to each upstream's `publish`, batch by batch.

The queue is `changes` itself: each upstream keeps the last seq it acknowledged. A batch is
consecutive changes of one kind (≤ 500, in seq order, so a project's releases keep their
order), each record's stored payload verbatim with its relay metadata (original publisher,
site, first publication, the hops so far with this hub's arrival last). The cursor moves
only after the upstream answered, batch by batch in seq order, though the next batch is
read and sent while the upstream stores this one (`push_once`); a record it refused is
parked with its reason and the cursor moves past it. A transport failure, 5xx or timeout
moves nothing: the batch is sent again after a backoff, and the upstream's dedup by content
makes the re-sent records duplicates there (same delivering account): each arrives once.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, and_, select

from hub.federation.bounded import PeerTooSlowOrLarge, bounded
from hub.federation.upstreams import (
    UpstreamRow,
    find_upstream,
    list_upstreams,
    read_token,
)
from hub.read.changes import RELAY_COLUMNS, ChangeRow, read_changes
from schema.ocds import parse_ocds_datetime, to_ocds_datetime, utc_now_beijing
from schema.tables import PUSH_PARKED, RECORD_SOURCES, UPSTREAMS

BATCH = 500
IN_FLIGHT = 2  # batches sent and not yet answered, per upstream
ACK_EVERY = 1.0  # seconds between two writes of an upstream's cursor while a push goes on
IDLE_FIRST = 0.01  # seconds before the feed is read again after a push: doubles while idle
TIMEOUT = 60.0
ANSWER_SECONDS = 300.0  # an upstream's whole answer to a batch, however it trickles in
ANSWER_BYTES = 64 * 1024 * 1024  # a publish result: refusals of 500 records, generously
BACKOFF_CAP = 60.0
PUBLISH = """mutation($kind: PublishKind!, $records: [JSON!]!, $relays: JSON) {
  publish(kind: $kind, records: $records, partial: true, relays: $relays) {
    status accepted duplicates rejected refusals { position recordId field reason } } }"""


class PushFailed(Exception):
    """The upstream did not answer the batch (transport, 5xx, timeout, a GraphQL error):
    nothing moves; the batch goes again after a backoff."""


@dataclass
class PushReport:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    parked: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempt: int, base: float = 0.5, cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with full jitter: many hubs retrying never march in step."""
    return random.uniform(0, min(cap, base * 2**attempt))


@functools.lru_cache(maxsize=4096)
def _time(moment: datetime | str) -> str:
    """An ISO time with its offset, spelt as the OCDS export spells it: stored times are
    naive Beijing time; a hop's text may carry another offset (the same instant comes out).
    Cached: a batch's records share their hops' times."""
    naive = moment if isinstance(moment, datetime) else parse_ocds_datetime(moment)
    return to_ocds_datetime(naive)


def batches(rows: list[ChangeRow], size: int = BATCH) -> Iterator[list[ChangeRow]]:
    """Consecutive changes of one kind, at most `size` (seq order kept within and across)."""
    run: list[ChangeRow] = []
    for row in rows:
        if run and (row.kind != run[0].kind or len(run) >= size):
            yield run
            run = []
        run.append(row)
    if run:
        yield run


def relays(engine: Engine, run: list[ChangeRow]) -> dict[int, dict[str, Any]]:
    """Each change's relay metadata by seq, from the `record_sources` row of the account
    that delivered it here (read with the feed; the first delivery's when none matches)."""
    out: dict[int, dict[str, Any]] = {}
    missing = [change for change in run if change.source is None]
    found = _first_sources(engine, missing) if missing else {}
    spelt: dict[tuple[Any, ...], dict[str, Any]] = {}  # a batch's records share a few paths
    for change in run:
        source = change.source if change.source is not None else found.get(change.record_id)
        if source is None:
            raise PushFailed(f"{change.kind} {change.record_id} (change {change.seq}) has no "
                             "record_sources row: run `caigou db upgrade`")  # fmt: skip
        relay = spelt.get(source)
        if relay is None:
            original, role, site, first, hops = source
            spelt[source] = relay = {
                "originalPublisher": original, "originalRole": role, "sourceSite": site,
                "firstPublishedAt": _time(first),
                "hops": [{"hub": h["hub"], "receivedAt": _time(h["receivedAt"])}
                         for h in orjson.loads(hops)],
            }  # fmt: skip
        out[change.seq] = relay
    return out


def _first_sources(engine: Engine, run: list[ChangeRow]) -> dict[int, tuple[Any, ...]]:
    """The first delivery's source columns of records whose own delivery has none."""
    s = RECORD_SOURCES.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(s.record_id, *(s[name] for name in RELAY_COLUMNS))
            .where(and_(s.kind == run[0].kind, s.record_id.in_({r.record_id for r in run})))
            .order_by(s.id.desc())
        ).all()  # fmt: skip
    return {row[0]: tuple(row[1:]) for row in rows}  # the lowest id written last wins


def send(client: httpx.Client, upstream: UpstreamRow, token: str, kind: str,
         records: list[Any], relay: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """One publish call; the upstream's PublishResult, or PushFailed."""
    try:
        status, body = bounded(
            client, "POST", f"{upstream.url}/graphql", seconds=ANSWER_SECONDS,
            max_bytes=ANSWER_BYTES,
            content=orjson.dumps({"query": PUBLISH, "variables": {
                "kind": kind.upper(), "records": records, "relays": relay}}),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )  # fmt: skip
    except (httpx.HTTPError, PeerTooSlowOrLarge) as exc:
        raise PushFailed(f"{upstream.url}: {type(exc).__name__}: {exc}") from None
    if status != 200:
        text = body.decode(errors="replace").strip()[:300]
        raise PushFailed(f"{upstream.url}/graphql answered {status}: {text}")
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PushFailed(f"{upstream.url}/graphql answered no JSON") from None
    publish = (answer.get("data") or {}).get("publish") if isinstance(answer, dict) else None
    if not isinstance(answer, dict) or answer.get("errors") or not isinstance(publish, dict):
        errors = answer.get("errors") if isinstance(answer, dict) else None
        first = (
            errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        )
        code = (first.get("extensions") or {}).get("code", "") if isinstance(first, dict) else ""
        raise PushFailed(f"{upstream.url} refused the batch: {code} {first.get('message')}")
    return checked_answer(upstream.url, publish, len(records))


def checked_answer(url: str, publish: dict[str, Any], sent: int) -> dict[str, Any]:
    """The upstream's PublishResult, if it adds up: accepted, duplicates and refused records
    each a count, together the records sent, every refusal at a position sent (0: the
    batch). A 200 answer that does not add up moved the cursor past 80 records with none
    stored, or parked 80 of which 79 were accepted; it is a failure, sent again later."""
    counts = [publish.get(k) for k in ("accepted", "duplicates", "rejected")]
    refusals = publish.get("refusals")
    fine = (
        all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
        and sum(c for c in counts if isinstance(c, int)) == sent
        and isinstance(publish.get("status"), str)
        and isinstance(refusals, list)
        and all(isinstance(r, dict) and (r.get("position") is None
                or (isinstance(r.get("position"), int) and 0 <= r["position"] <= sent))
                for r in refusals)
    )  # fmt: skip
    if not fine:
        raise PushFailed(f"{url} answered a publish result that does not add up for {sent} "
                         f"records: {str(publish)[:300]}")  # fmt: skip
    return dict(publish)


def parked_rows(upstream: UpstreamRow, run: list[ChangeRow],
                result: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    """The `push_parked` rows of what the upstream refused in a batch, with its reasons."""
    reasons: dict[int, list[str]] = {}
    for refusal in result["refusals"]:
        where = f"{refusal['field']}: {refusal['reason']}"
        positions = [refusal["position"]] if refusal["position"] else range(1, len(run) + 1)
        for position in positions:
            reasons.setdefault(position, []).append(where)
    if result["status"] == "rejected" and not reasons:
        reasons = {i: ["refused"] for i in range(1, len(run) + 1)}
    now = utc_now_beijing()
    return [
        {"upstream_id": upstream.id, "seq": run[p - 1].seq, "kind": run[p - 1].kind,
         "record_id": run[p - 1].record_id, "reason": "; ".join(r)[:4000], "parked_at": now}
        for p, r in sorted(reasons.items()) if 1 <= p <= len(run)
    ]  # fmt: skip


def acknowledge(engine: Engine, upstream: UpstreamRow, old: int, new: int,
                parked: list[dict[str, Any]]) -> None:  # fmt: skip
    """Park what the upstream refused and move the cursor from `old` to `new`, in one
    transaction (PushFailed when another pusher moved it meanwhile)."""
    now = utc_now_beijing()
    with engine.begin() as conn:
        moved = conn.execute(
            UPSTREAMS.update()
            .where(UPSTREAMS.c.id == upstream.id, UPSTREAMS.c.cursor == old)
            .values(cursor=max(old, new), last_error=None, last_pushed_at=now)
        )  # fmt: skip
        if not moved.rowcount:
            raise PushFailed(f"{upstream.name}: its cursor moved meanwhile (another pusher?)")
        if parked:
            held = {
                seq for (seq,) in conn.execute(select(PUSH_PARKED.c.seq).where(
                    PUSH_PARKED.c.upstream_id == upstream.id,
                    PUSH_PARKED.c.seq.in_([p["seq"] for p in parked])))
            }  # fmt: skip
            fresh = [p for p in parked if p["seq"] not in held]
            if fresh:
                conn.execute(PUSH_PARKED.insert(), fresh)


@dataclass
class _Acks:
    """Answers settled and not yet written. The cursor and the parked rows are written
    together at most once every ACK_EVERY seconds while a push goes on, and at its end: each
    write takes this hub's SQLite write lock, which its ingest and index catch-up hold most of
    the time under load (a write a batch waited up to 0.9 s in bench/federation.py, and the
    pipeline with it). A crash re-sends at most that second's batches: duplicates upstream."""

    written: int  # the cursor as stored
    cursor: int  # the cursor as settled
    parked: list[dict[str, Any]] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)

    def write(self, engine: Engine, upstream: UpstreamRow, *, force: bool = False) -> None:
        if self.cursor == self.written and not self.parked:
            return
        if not force and time.monotonic() - self.at < ACK_EVERY:
            return
        acknowledge(engine, upstream, self.written, self.cursor, self.parked)
        self.written, self.parked, self.at = self.cursor, [], time.monotonic()


def prepare(engine: Engine, run: list[ChangeRow]) -> tuple[list[ChangeRow], list[Any], list[Any]]:
    """One run ready to send (a record twice in it goes once): the rows sent, their records
    and their relays."""
    sent: list[ChangeRow] = []
    seen: set[int] = set()
    for row in run:
        if row.record_id not in seen:
            seen.add(row.record_id)
            sent.append(row)
    meta = relays(engine, sent)
    # The stored payloads go as they are (orjson.Fragment): parsing and re-encoding 500
    # records was most of the pusher's own CPU time.
    return sent, [orjson.Fragment(row.payload) for row in sent], [meta[r.seq] for r in sent]


def push_rows(client: httpx.Client, engine: Engine, upstream: UpstreamRow, token: str,
              run: list[ChangeRow]) -> tuple[dict[str, Any], list[ChangeRow]]:  # fmt: skip
    """Send one run and wait for the answer; the result and the rows sent."""
    sent, records, relay = prepare(engine, run)
    return send(client, upstream, token, sent[0].kind, records, relay), sent


@dataclass
class _InFlight:
    run: list[ChangeRow]
    sent: list[ChangeRow]
    answer: Future[dict[str, Any]]


def _clashes(run: list[ChangeRow], flying: Iterable[_InFlight]) -> bool:
    """Whether `run` must wait for the batches in flight: another kind, or a record or a
    project they carry (an upstream may store two concurrent batches in either order, and a
    batch refused after the next was stored would put a project's releases out of order)."""
    mine = {row.record_id for row in run}
    projects = {row.ocid for row in run if row.ocid}
    for other in flying:
        if other.run[0].kind != run[0].kind:
            return True
        if any(r.record_id in mine or (r.ocid and r.ocid in projects) for r in other.run):
            return True
    return False


def push_once(engine: Engine, name: str, client: httpx.Client | None = None,
              limit: int | None = None, in_flight: int = IN_FLIGHT) -> PushReport:  # fmt: skip
    """Push everything after the upstream's cursor (or `limit` changes); PushFailed stops it
    with the cursor at the last batch acknowledged.

    Pipelined: while the upstream stores a batch, the next is read, prepared and sent (at
    most `in_flight` unanswered; a run sharing a kind-change, record or project with one in
    flight waits for it). Answers are acknowledged strictly in seq order, so a failure moves
    the cursor no further than the last batch answered before it; what the upstream stored
    past it comes again as duplicates. Caught up with the feed while batches are in flight,
    it settles the oldest and looks again, so what arrived meanwhile goes on at once."""
    report = PushReport()
    with engine.connect() as conn:
        upstream = find_upstream(conn, name)
    acks = _Acks(upstream.cursor, upstream.cursor)
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT)
    flying: deque[_InFlight] = deque()
    pool = ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix="push")

    def settle() -> None:
        nonlocal upstream
        upstream = _settle(upstream, flying.popleft(), report, acks)
        acks.write(engine, upstream)

    try:
        token = read_token(upstream.token_file)
        read_to, queued = upstream.cursor, 0
        while limit is None or queued < limit:
            with engine.connect() as conn:
                current = find_upstream(conn, name)
                if current.paused_at is not None:
                    break
                page = read_changes(conn, read_to, BATCH, current.kinds)
            if not page.rows:
                if not flying:
                    break
                settle()
                continue
            read_to = page.rows[-1].seq
            for run in batches(page.rows):
                sent, records, relay = prepare(engine, run)
                while flying and (len(flying) >= max(1, in_flight) or _clashes(run, flying)):
                    settle()
                flying.append(_InFlight(run, sent, pool.submit(
                    send, client, upstream, token, sent[0].kind, records, relay)))  # fmt: skip
                queued += len(sent)
        while flying:
            settle()
    except BaseException:
        with contextlib.suppress(Exception):  # what was answered before the failure holds
            acks.write(engine, upstream, force=True)
        raise
    else:
        acks.write(engine, upstream, force=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # an unanswered batch is sent again
        if own:
            client.close()
    return report


def _settle(upstream: UpstreamRow, batch: _InFlight, report: PushReport,
            acks: _Acks) -> UpstreamRow:  # fmt: skip
    """Wait for the oldest batch's answer (PushFailed: nothing moves) and settle it: its
    refusals parked and the cursor past it, in `acks` until written; the upstream with its
    cursor moved."""
    result, run, sent = batch.answer.result(), batch.run, batch.sent
    parked = parked_rows(upstream, run, {
        **result, "refusals": [{**r, "position": _position(r, sent, run)}
                               for r in result["refusals"]]})  # fmt: skip
    acks.parked += parked
    acks.cursor = max(acks.cursor, run[-1].seq)
    report.batches += 1
    report.sent += len(sent)
    report.accepted += result["accepted"]
    report.duplicates += result["duplicates"]
    report.parked += len(parked)
    return _moved(upstream, run[-1].seq)


def _position(refusal: dict[str, Any], sent: list[ChangeRow], run: list[ChangeRow]) -> int:
    """A refusal's position in the run (the upstream counts the records sent)."""
    position = int(refusal["position"])
    if not 1 <= position <= len(sent):
        return 0
    return run.index(sent[position - 1]) + 1


def _moved(upstream: UpstreamRow, seq: int) -> UpstreamRow:
    return replace(upstream, cursor=max(upstream.cursor, seq))


def note_error(engine: Engine, name: str, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(UPSTREAMS.update().where(UPSTREAMS.c.name == name)
                     .values(last_error=error[:4000]))  # fmt: skip


def retry_parked(engine: Engine, name: str, seq: int | None = None,
                 client: httpx.Client | None = None) -> PushReport:  # fmt: skip
    """Send parked changes again; those now accepted (or duplicates) leave the park, those
    refused again stay with the new reason."""
    report = PushReport()
    with engine.connect() as conn:
        upstream = find_upstream(conn, name)
        query = select(PUSH_PARKED.c.seq).where(PUSH_PARKED.c.upstream_id == upstream.id)
        if seq is not None:
            query = query.where(PUSH_PARKED.c.seq == seq)
        seqs = list(conn.execute(query.order_by(PUSH_PARKED.c.seq)).scalars())
        rows = [row for s in seqs for row in read_changes(conn, s - 1, 1).rows if row.seq == s]
    token = read_token(upstream.token_file)
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT)
    try:
        for run in batches(rows):
            result, sent = push_rows(client, engine, upstream, token, run)
            refused = {_position(r, sent, run): f"{r['field']}: {r['reason']}"
                       for r in result["refusals"]}  # fmt: skip
            with engine.begin() as conn:
                for position, row in enumerate(run, start=1):
                    where = and_(PUSH_PARKED.c.upstream_id == upstream.id,
                                 PUSH_PARKED.c.seq == row.seq)  # fmt: skip
                    if position in refused or 0 in refused:
                        reason = refused.get(position) or refused[0]
                        conn.execute(PUSH_PARKED.update().where(where).values(reason=reason))
                        report.parked += 1
                    else:
                        conn.execute(PUSH_PARKED.delete().where(where))
            report.sent += len(sent)
            report.accepted += result["accepted"]
            report.duplicates += result["duplicates"]
    finally:
        if own:
            client.close()
    return report


def idle_wait(idle_turns: int, interval: float) -> float:
    """Seconds to wait after the `idle_turns`-th turn in a row that found nothing: 10 ms
    doubling up to `interval`. Just after a push the feed is looked at again soon, since a hub
    being published to stores its next batch within tens of milliseconds (a fixed 0.1 s poll
    left the central hub idle between the province's batches); a quiet one costs one indexed
    read every `interval`."""
    return min(interval, IDLE_FIRST * 2 ** min(idle_turns - 1, 30))


def run_forever(engine: Engine, names: Callable[[], Iterable[str]], *, interval: float = 5.0,
                once: bool = False, log: Callable[[str], None] = print,
                stop: threading.Event | None = None) -> None:  # fmt: skip
    """Push to every upstream in turn; a failing one backs off alone (full jitter, ≤ 60 s).
    One HTTP client for the whole run: a new one each turn built an SSL context every 0.1 s
    (a fifth of the pusher's CPU in bench/federation.py)."""
    with httpx.Client(timeout=TIMEOUT) as client:
        _run(engine, names, client, interval=interval, once=once, log=log, stop=stop)


def _run(engine: Engine, names: Callable[[], Iterable[str]], client: httpx.Client, *,
         interval: float, once: bool, log: Callable[[str], None],
         stop: threading.Event | None) -> None:  # fmt: skip
    attempts: dict[str, int] = {}
    not_before: dict[str, float] = {}
    stop = stop or threading.Event()
    idle_turns = 0
    while not stop.is_set():
        busy = False  # a turn that sent something is followed at once: the feed may have more
        for name in list(names()):
            if time.monotonic() < not_before.get(name, 0):
                continue
            try:
                report = push_once(engine, name, client)
            except Exception as exc:
                # Anything else too: one upstream's surprise must not end pushing to all
                # (inside `caigou indexer run` the thread died and status said "running").
                attempts[name] = attempts.get(name, 0) + 1
                delay = backoff(attempts[name])
                not_before[name] = time.monotonic() + delay
                note_error(engine, name, str(exc))
                log(f"{name}: {exc} (again in {delay:.1f} s)")
                if once:
                    raise
                continue
            attempts.pop(name, None)
            busy = busy or report.sent > 0
            if report.sent:
                log(f"{name}: {report.sent:,} sent, {report.accepted:,} accepted, "
                    f"{report.duplicates:,} duplicates, {report.parked:,} parked")  # fmt: skip
        if once:
            return
        idle_turns = 0 if busy else idle_turns + 1
        if not busy:
            stop.wait(idle_wait(idle_turns, interval))


def running_names(engine: Engine) -> list[str]:
    """The upstreams not paused, read afresh each turn (one added meanwhile is pushed to)."""
    with engine.connect() as conn:
        return [u.name for u in list_upstreams(conn) if u.paused_at is None]


def in_background(engine: Engine, interval: float, log: Callable[[str], None]) -> threading.Event:
    """The pusher in a daemon thread (inside `caigou indexer run`): a slow upstream never
    holds up indexing. Set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(engine, lambda: running_names(engine)),
        kwargs={"interval": interval, "log": log, "stop": stop}, daemon=True, name="pusher",
    )  # fmt: skip
    thread.start()
    return stop
