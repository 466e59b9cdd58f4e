"""caigou export: publish daily Parquet/CSV dumps under the export root."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.context import err, out, state

if TYPE_CHECKING:
    from exports.manifest import Manifest


def register(app: typer.Typer) -> None:
    app.command()(export)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        err.print(f"[red]error:[/red] {option} takes a date as YYYY-MM-DD, not {value!r}")
        raise typer.Exit(2) from None


def export(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option("--date", help="Export this day (YYYY-MM-DD).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day of a backfill.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day of a backfill.")] = None,
    force: Annotated[
        bool, typer.Option(help="Redo days already published; allow a day not yet over.")
    ] = False,
) -> None:
    """Export days as Parquet and CSV with manifests; without dates, every day now due.

    Plain `caigou export` also repairs: any unpublished day (a gap, or one a crashed run left
    without a manifest) is exported, history/ and current/ are brought up to the newest day,
    and the catalog is rewritten from the manifests.
    """
    # here: pyarrow and the exports (~0.3 s) load for this command only, not for every one
    from exports.derived import refresh
    from exports.schedule import beijing_today, days_between, export_days, unpublished_days
    from exports.storage import open_store
    from hub.flags.asof import FlagDays

    settings = state(ctx).settings
    one, first, last = _day(day, "--date"), _day(start, "--from"), _day(end, "--to")
    if one and (first or last):
        err.print("[red]error:[/red] give either --date or --from/--to, not both")
        raise typer.Exit(2)
    today = beijing_today()
    if one or first or last:
        first, last = one or first or last, one or last or first
        assert first and last
        days = days_between(first, last)
    else:
        store = open_store(settings.export_root)
        days = unpublished_days(store, today - timedelta(days=1))
        if not days:
            # history/, current/ and a catalog a crash left stale are rebuilt from the manifests
            refresh(state(ctx).engine(), store, settings.licence())
            out.print("nothing due: every ended day is published", highlight=False)
            return
        first, last = days[0], days[-1]
    if last < first:
        err.print(f"[red]error:[/red] --to {last} is before --from {first}")
        raise typer.Exit(2)
    if last > today:  # even forced: its records would land in a day already published
        err.print(f"[red]error:[/red] {last} has not begun in Beijing (today is {today}); "
                  "nothing can be published for it yet")  # fmt: skip
        raise typer.Exit(2)
    if last >= today and not force:
        err.print(f"[red]error:[/red] {last} has not ended in Beijing (today is {today}); a "
                  "published day is not redone, so export it tomorrow or pass --force")  # fmt: skip
        raise typer.Exit(2)
    engine = state(ctx).engine()

    def report(when: date, manifest: Manifest | None) -> None:
        if manifest is None:
            out.print(f"{when}: already published (--force redoes it)", highlight=False)
        else:
            out.print(f"{when}: {len(manifest.files)} files, {manifest.rows:,} rows, "
                      f"{manifest.bytes:,} bytes", highlight=False)  # fmt: skip

    try:
        # Project flags as of each day (the rules on that day's state), not as stored today.
        export_days(engine, settings.export_root, days, force=force, progress=report,
                    publication=settings.publication(), flags=FlagDays())  # fmt: skip
    except OSError as exc:  # a full disk, a read-only mount: the day being written stays out
        err.print(f"[red]error:[/red] writing the dumps failed: {exc}. The day being written "
                  "was not published; fix the cause and run `caigou export` again")  # fmt: skip
        raise typer.Exit(1) from None
    out.print(f"catalog: {settings.export_root}/catalog.json", highlight=False)
