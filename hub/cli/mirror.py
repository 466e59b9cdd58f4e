"""caigou mirror pull: build (and keep) a copy of another hub from its change feed alone.

Reads `GET URL/changes` page by page and stores each record as its original publisher did,
through the same pipeline and checks as any publish, at the time the source accepted it (so
publish times that default to arrival, and the flags read from them, come out the same).
Consecutive changes of one source batch go in as one batch. The cursor is kept in the local
database after each batch: a pull killed at any point resumes where it stopped, and a batch
read twice is only counted as duplicates (records are idempotent), never stored twice.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from sqlalchemy import Engine, select

from hub.cli.context import err, out, state
from hub.publishing.errors import PublisherError
from hub.publishing.publishers import NATIONWIDE, add_publisher
from schema.changes import MIRROR_CURSORS
from schema.ocds import parse_ocds_datetime, utc_now_beijing
from schema.tables import PUBLISHERS
from schema.types import PublisherRole, RecordKind

if TYPE_CHECKING:
    import httpx

app = typer.Typer(help="Mirror another hub from its change feed (GET /changes).",
                  no_args_is_help=True)  # fmt: skip
PAGE = 1_000
TIMEOUT = 60.0  # each read; a whole page within PAGE_SECONDS, PAGE_BYTES at most
PAGE_SECONDS = 600.0
PAGE_BYTES = 512 * 1024 * 1024  # 1,000 changes with notices of up to 512 kB of text


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="mirror")


class MirrorError(Exception):
    """The source answered something a mirror cannot use, or refused a record: named."""


@dataclass(frozen=True)
class Group:
    """Consecutive changes the source accepted in one batch: one local batch."""

    kind: RecordKind
    publisher: str
    role: str
    source_site: str | None
    accepted_at: datetime
    records: list[dict[str, Any]]
    cursor: str  # after the last of them
    first_seq: int
    relays: list[dict[str, Any] | None] | None = None  # each record's, when any was relayed


def read_page(client: httpx.Client, url: str, after: str | None, limit: int,
              seconds: float = PAGE_SECONDS, max_bytes: int = PAGE_BYTES) -> tuple[
    list[dict[str, Any]], str, bool
]:  # fmt: skip
    """One page of the feed: its changes, the cursor after them, whether more follow. Read
    within PAGE_SECONDS and PAGE_BYTES (hub.federation.bounded), every line checked: the
    source is another hub, and a page is never trusted to be well formed or to end."""
    from hub.federation.bounded import PeerTooSlowOrLarge, bounded  # here: loads httpx

    params = {"limit": str(limit), **({"after": after} if after else {})}
    try:
        status, body = bounded(client, "GET", f"{url}/changes", seconds=seconds,
                               max_bytes=max_bytes, params=params)  # fmt: skip
    except PeerTooSlowOrLarge as exc:
        raise MirrorError(str(exc)) from None
    if status != 200:
        text = body.decode(errors="replace").strip()[:300]
        raise MirrorError(f"{url}/changes answered {status}: {text}")
    lines = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise MirrorError(f"{url}/changes: line {number} is not JSON") from None
        if not isinstance(parsed, dict):
            raise MirrorError(f"{url}/changes: line {number} is not a JSON object")
        lines.append(parsed)
    if not lines or "next" not in lines[-1]:
        raise MirrorError(f'{url}/changes: the page has no closing {{"next": …}} line')
    last = lines[-1]
    if not isinstance(last["next"], str) or not isinstance(last.get("more", False), bool):
        raise MirrorError(f'{url}/changes: its closing line is not {{"next": "<cursor>", '
                          f'"more": true|false}}: {str(last)[:200]}')  # fmt: skip
    return [_checked(change, url) for change in lines[:-1]], last["next"], bool(last.get("more"))


def _checked(change: dict[str, Any], url: str) -> dict[str, Any]:
    """A change as this mirror reads it, or MirrorError naming it and the field: a record
    of another shape went on into the pipeline and ended in a traceback."""
    from hub.publishing.cells import iso_datetime  # here: with the pipeline, for a pull
    from hub.publishing.errors import FieldError

    seq = change.get("seq")
    where = f"{url}/changes: change {seq!r}"
    kinds, roles = {k.value for k in RecordKind}, {r.value for r in PublisherRole}
    texts = ("publisher", "cursor", "action")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise MirrorError(f"{where}: seq is not a number")
    for name in texts:
        if not isinstance(change.get(name), str) or not change[name]:
            raise MirrorError(f"{where}: {name} is not a text")
    if change.get("kind") not in kinds:
        raise MirrorError(f"{where}: kind {change.get('kind')!r} is not one of {sorted(kinds)}")
    if change.get("publisherRole") not in roles:
        raise MirrorError(f"{where}: publisherRole {change.get('publisherRole')!r} is unknown")
    if not isinstance(change.get("sourceSite"), str | None):
        raise MirrorError(f"{where}: sourceSite is not a text")
    try:  # the source's arrival time becomes this hub's: plausible, as any time it takes
        iso_datetime(change.get("acceptedAt"), "acceptedAt")
    except FieldError as exc:
        raise MirrorError(f"{where}: {exc.field}: {exc.reason}") from None
    for name in ("payload", "relay"):
        value = change.get(name)
        if name == "relay" and value is None:
            continue
        try:
            parsed = orjson.loads(value) if isinstance(value, str) else None
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise MirrorError(f"{where}: {name} is not a JSON object as text")
    return change


def groups(changes: list[dict[str, Any]]) -> Iterator[Group]:
    """Consecutive changes with the same kind, deliverer, site, time and action."""

    def key(change: dict[str, Any]) -> tuple[Any, ...]:
        return (change["kind"], change["publisher"], change.get("sourceSite"),
                change["acceptedAt"], change["action"])  # fmt: skip

    for _key, run in itertools.groupby(changes, key=key):
        batch = list(run)
        first = batch[0]
        relays = [orjson.loads(c["relay"]) if c.get("relay") else None for c in batch]
        yield Group(
            RecordKind(first["kind"]), first["publisher"], first["publisherRole"],
            first.get("sourceSite"), parse_ocds_datetime(first["acceptedAt"]),
            [orjson.loads(c["payload"]) for c in batch], batch[-1]["cursor"], int(first["seq"]),
            relays if any(relays) else None,
        )  # fmt: skip


def ensure_account(engine: Engine, group: Group) -> None:
    """A local account for the source's publisher: same name and role, nationwide (the
    source checked its scope), its token never shown: nobody publishes as it."""
    with engine.begin() as conn:
        if conn.execute(
            select(PUBLISHERS.c.id).where(PUBLISHERS.c.name == group.publisher)
        ).first():
            return
        role = PublisherRole(group.role)
        kinds = [RecordKind.notice, RecordKind.transaction]
        if role is PublisherRole.finance_department:
            kinds.append(RecordKind.penalty)
        add_publisher(conn, group.publisher, role, [NATIONWIDE], kinds, group.source_site)


def saved_cursor(engine: Engine, url: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(MIRROR_CURSORS.c.cursor).where(MIRROR_CURSORS.c.url == url)
        ).scalar()


def save_cursor(engine: Engine, url: str, cursor: str) -> None:
    values = {"cursor": cursor, "updated_at": utc_now_beijing()}
    with engine.begin() as conn:
        table = MIRROR_CURSORS
        moved = conn.execute(table.update().where(table.c.url == url).values(**values))
        if not moved.rowcount:
            conn.execute(table.insert().values(url=url, **values))


def store(engine: Engine, url: str, group: Group) -> int:
    """One source batch stored locally; refused records stop the pull, named."""
    from hub.publishing import ingest_records  # here: the other commands start without it

    ensure_account(engine, group)
    result = ingest_records(
        engine, group.publisher, group.kind, group.records, source=f"mirror {url}",
        source_site=group.source_site, received_at=group.accepted_at, relays=group.relays,
    )  # fmt: skip
    if result.rejected:
        first = result.refusals[0] if result.refusals else None
        where = (f"record {first.record_id or first.position}, field {first.field}: "
                 f"{first.reason}") if first else "refused"  # fmt: skip
        raise MirrorError(f"change {group.first_seq}ff ({group.kind}, {group.publisher}) "
                          f"refused here: {where}")  # fmt: skip
    return result.accepted


def pull(engine: Engine, url: str, *, follow: bool = False, interval: float = 5.0,
         limit: int = PAGE, page_seconds: float = PAGE_SECONDS,
         page_bytes: int = PAGE_BYTES) -> int:  # fmt: skip
    """Read the feed from the saved cursor to its end (and on, with `follow`); returns the
    records stored."""
    import httpx  # here: the HTTP client loads for a pull, not for every command

    url = url.rstrip("/")
    cursor = saved_cursor(engine, url)
    stored = 0
    last_seq: int | None = None
    with httpx.Client(timeout=TIMEOUT) as client:
        while True:
            changes, after, more = read_page(client, url, cursor, limit, page_seconds,
                                             page_bytes)  # fmt: skip
            if more and not changes and after == cursor:
                raise MirrorError(f"{url}/changes says more follow {cursor!r} but gives none "
                                  "and no new cursor: it would be asked for ever")  # fmt: skip
            for change in changes:  # a feed only goes forward: a cursor that leads back loops
                if last_seq is not None and change["seq"] <= last_seq:
                    raise MirrorError(f"{url}/changes went back: change {change['seq']} after "
                                      f"{last_seq}")  # fmt: skip
                last_seq = change["seq"]
            for group in groups(changes):
                stored += store(engine, url, group)
                save_cursor(engine, url, group.cursor)
            if after != cursor:
                save_cursor(engine, url, after)
                cursor = after
            if not more and not follow:
                return stored
            if not more:
                time.sleep(interval)


@app.command("pull")
def pull_command(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Base URL of the hub to mirror.")],
    follow: Annotated[bool, typer.Option(help="Keep following the feed.")] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between polls with --follow.", min=0.1)
    ] = 5.0,
    limit: Annotated[int, typer.Option(help="Changes a request.", min=1, max=PAGE)] = PAGE,
) -> None:
    """Mirror URL into this hub's database from its change feed; resumes after a crash."""
    import httpx  # here: as in `pull`

    engine = state(ctx).engine()
    try:
        stored = pull(engine, url, follow=follow, interval=interval, limit=limit)
    except (MirrorError, PublisherError, httpx.HTTPError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # --follow stops on Ctrl-C; the cursor is kept batch by batch
        err.print("stopped; the next pull resumes from the last batch stored")
        raise typer.Exit(130) from None
    out.print(f"{stored:,} records stored from {url.rstrip('/')}", highlight=False)
