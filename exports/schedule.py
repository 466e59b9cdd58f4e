"""Which days are due, and exporting a range of them: catch-up after downtime included.

A day is due once it has ended in Beijing (Asia/Shanghai) and has no manifest yet; a day
that already has one is left alone unless forced, so a rerun after a crash only redoes the
days the crash left unpublished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.fs as pafs
from sqlalchemy import Engine

from exports.manifest import Manifest, manifest_path, published_days
from exports.storage import open_store
from exports.write import export_day

BEIJING = ZoneInfo("Asia/Shanghai")
log = logging.getLogger("caigou.exports")


def beijing_today() -> date:
    return datetime.now(BEIJING).date()


def days_between(start: date, end: date) -> list[date]:
    """`start` to `end`, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def due_days(last_exported: date | None, today: date) -> list[date]:
    """The ended days after `last_exported`; yesterday alone when nothing was exported yet."""
    yesterday = today - timedelta(days=1)
    if last_exported is None:
        return [yesterday]
    return days_between(last_exported + timedelta(days=1), yesterday)


def last_exported(root: str, *, fs: pafs.FileSystem | None = None) -> date | None:
    """The newest day with a manifest under `root`."""
    days = published_days(open_store(root, fs))
    return days[-1] if days else None


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
    store = open_store(root, fs)
    written = []
    for day in days_between(start, end):
        if not force and store.exists(manifest_path(day)):
            if progress:
                progress(day, None)
            continue
        manifest = export_day(engine, root, day, fs=fs, publication=publication)
        written.append(manifest)
        if progress:
            progress(day, manifest)
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
    ) -> None:  # fmt: skip
        self.engine, self.root, self.at, self.every, self.now = engine, root, at, every, now
        self.publication = publication
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
        last_due = self.last_due(moment)
        done = last_exported(self.root)
        if done is not None and done >= last_due:
            return []
        first = last_due if done is None else done + timedelta(days=1)
        try:
            written = export_range(
                self.engine, self.root, first, last_due, publication=self.publication
            )
        except Exception:  # the indexer must keep indexing; the next turn retries
            log.exception("daily export of %s..%s failed; retrying later", first, last_due)
            return []
        for manifest in written:
            log.info("published %s: %d files, %d rows", manifest.date, len(manifest.files),
                     manifest.rows)  # fmt: skip
        return written
