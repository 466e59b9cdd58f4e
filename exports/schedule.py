"""Which days are due, and exporting a range of them: catch-up after downtime included.

A day is due once it has ended in Beijing (Asia/Shanghai) and has no manifest yet; a day
that already has one is left alone unless forced, so a rerun after a crash only redoes the
days the crash left unpublished. "Unpublished" covers more than the days after the newest
manifest: a gap between published days, or a day whose files or staging folder a crashed run
(a forced re-export included) left without a manifest, is repaired by the next plain run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.fs as pafs
from sqlalchemy import Engine

from exports.derived import refresh
from exports.flagrows import AsOfFlags
from exports.manifest import Manifest, manifest_path, published_days
from exports.storage import STAGING, Store, open_store
from exports.write import export_day

BEIJING = ZoneInfo("Asia/Shanghai")
log = logging.getLogger("caigou.exports")


def beijing_today() -> date:
    return datetime.now(BEIJING).date()


def days_between(start: date, end: date) -> list[date]:
    """`start` to `end`, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _day_named(name: str) -> date | None:
    """The day in `date=2024-03-05` or in a staging folder `2024-03-05-1a2b3c`; else None."""
    text = name.removeprefix("date=")[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def started_days(store: Store) -> set[date]:
    """Days some run began to write: dated folders (`parquet/transactions/date=…`,
    `csv/changes/awards/date=…`, `ocds/date=…`) and staging folders."""
    days = {d for name in store.list(STAGING) if (d := _day_named(name))}
    folders = [
        top for top in store.list("") if top not in (STAGING, "manifests") and "." not in top
    ]
    for _ in range(3):  # at most three folders above a date=… folder
        deeper = []
        for folder in folders:
            for name in store.list(folder):
                if name.startswith("date="):
                    days |= {d} if (d := _day_named(name)) else set()
                elif "." not in name:
                    deeper.append(f"{folder}/{name}")
        folders = deeper
    return days


def unpublished_days(store: Store, last_due: date) -> list[date]:
    """Days up to `last_due` without a manifest that a plain run should (re)publish.

    Every day from the oldest manifest on (gaps and catch-up alike), plus any day a crashed
    run left files or staging for; `last_due` alone when nothing was ever published.
    """
    published = set(published_days(store))
    wanted = started_days(store)
    if published:
        wanted |= set(days_between(min(published), last_due))
    else:
        wanted.add(last_due)
    return sorted(d for d in wanted if d <= last_due and d not in published)


def export_range(
    engine: Engine,
    root: str,
    start: date,
    end: date,
    *,
    force: bool = False,
    fs: pafs.FileSystem | None = None,
    progress: Callable[[date, Manifest | None], None] | None = None,
    publication: Any = None,
) -> list[Manifest]:
    """Export `start`..`end`; published days are skipped (reported as None) unless forced."""
    return export_days(engine, root, days_between(start, end), force=force, fs=fs,
                       progress=progress, publication=publication)  # fmt: skip


def export_days(
    engine: Engine,
    root: str,
    days: list[date],
    *,
    force: bool = False,
    fs: pafs.FileSystem | None = None,
    progress: Callable[[date, Manifest | None], None] | None = None,
    publication: Any = None,
    flags: AsOfFlags | None = None,
) -> list[Manifest]:
    """Export `days` in order; published ones are skipped (reported as None) unless forced.
    `flags` computes the project flags as of each day (hub.flags.asof.FlagDays)."""
    store = open_store(root, fs)
    written = []
    for day in days:
        if not force and store.exists(manifest_path(day)):
            if progress:
                progress(day, None)
            continue
        manifest = export_day(engine, root, day, fs=fs, publication=publication, derive=False,
                              flags=flags)  # fmt: skip
        written.append(manifest)
        if progress:
            progress(day, manifest)
    licence = publication.licence if publication is not None else None
    refresh(engine, store, licence)  # history/ and current/ once, after the last day
    return written


class DailyExport:
    """The indexer's daily job: at `at` (Beijing) publish yesterday, and any day missed before.

    Called on every turn of the indexer's loop; it looks at the export root at most once a
    `every` and does nothing until a day is due, so a hub that was down for a week publishes
    the week when it comes back. A failure is logged and retried on a later turn.
    """

    def __init__(
        self, engine: Engine, root: str, at: time, *, every: timedelta = timedelta(minutes=1),
        now: Callable[[], datetime] = lambda: datetime.now(BEIJING), publication: Any = None,
        flags: Callable[[], AsOfFlags] | None = None,
    ) -> None:  # fmt: skip
        self.engine, self.root, self.at, self.every, self.now = engine, root, at, every, now
        self.publication = publication
        self.flags = flags  # a new as-of flag computer per run (it caches one run's days)
        self.checked: datetime | None = None

    def last_due(self, moment: datetime) -> date:
        """The newest day due at `moment`: yesterday once `at` has passed, else the day before."""
        back = 1 if moment.time() >= self.at else 2
        return moment.date() - timedelta(days=back)

    def __call__(self) -> list[Manifest]:
        moment = self.now()
        if self.checked is not None and moment - self.checked < self.every:
            return []
        self.checked = moment
        days = unpublished_days(open_store(self.root), self.last_due(moment))
        if not days:
            return []
        try:
            written = export_days(self.engine, self.root, days, publication=self.publication,
                                  flags=self.flags() if self.flags else None)  # fmt: skip
        except Exception:  # the indexer must keep indexing; the next turn retries
            log.exception("daily export of %s..%s failed; retrying later", days[0], days[-1])
            return []
        for manifest in written:
            log.info("published %s: %d files, %d rows", manifest.date, len(manifest.files),
                     manifest.rows)  # fmt: skip
        return written
