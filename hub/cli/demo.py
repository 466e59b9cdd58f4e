"""caigou generate / demo / stats: realistic data through the real publishing pipeline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine

from hub.cli.context import err, out, state
from hub.summary import summarise
from schema.types import NOTICE_TYPE_LABELS, NoticeType


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(demo)
    app.command()(stats)


def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the files to.")] = Path(
        "demo-data"
    ),
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 20221,
    projects: Annotated[int, typer.Option(help="Projects, each with its notice sequence.")] = 240,
    transactions: Annotated[int, typer.Option(help="Framework / e-mall transactions.")] = 20_000,
    penalties: Annotated[int, typer.Option(help="Penalty records.")] = 80,
) -> None:
    """Write a deterministic demo dataset as the files publishers would push."""
    from hub.demo import generate as write_demo

    started = time.perf_counter()
    files = write_demo(
        out_dir, seed=seed, projects=projects, transactions=transactions, penalties=penalties
    )
    out.print(
        f"wrote {len(files.batches)} batches to {out_dir} in {time.perf_counter() - started:.1f}s"
    )
    for batch in files.batches:
        out.print(f"  {batch.path}  ({batch.kind}, pushed by {batch.publisher})", highlight=False)


def demo(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo files.")] = Path(
        "demo-data"
    ),
    transactions: Annotated[int, typer.Option(help="Transactions to generate.")] = 20_000,
    serve: Annotated[bool, typer.Option(help="Serve the hub once the data is in.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
) -> None:
    """Build the demo dataset through the publishing pipeline (if missing) and serve it."""
    from hub.demo import generate as write_demo
    from hub.demo.load import load_demo

    engine = state(ctx).engine()
    with engine.connect() as conn:
        held = summarise(conn).counts.get("transactions", 0)
    if held:
        out.print(f"the database already holds {held:,} transactions: serving it as it is")
    else:
        for batch, result in load_demo(engine, write_demo(out_dir, transactions=transactions)):
            err.print(
                f"{batch.path.name}: {result.status}, {result.accepted:,} accepted, "
                f"{result.duplicates:,} duplicates, {result.rejected:,} rejected "
                f"({batch.publisher})",
                highlight=False,
                soft_wrap=True,
            )
            if result.status == "rejected":
                raise typer.Exit(1)
        _print_summary(engine)
    _index_for_search(ctx, engine)
    out.print(f"\ndatabase: {state(ctx).settings.database_url}", highlight=False)
    if serve:
        from hub.cli.serve import run

        run(ctx, host, port, 1)


def _index_for_search(ctx: typer.Context, engine: Engine) -> None:
    """Bring the search index up to date now, so the first search is not the slow one."""
    from hub.search import search_backend
    from indexer.outbox import TargetUnavailable
    from indexer.worker import run

    backend = search_backend(state(ctx).settings, engine)
    if backend is None:
        err.print("search: not configured (PostgreSQL without CAIGOU_ELASTICSEARCH_URL)")
        return
    started = time.perf_counter()
    target = getattr(backend, "backend", backend)  # the embedded one is wrapped
    try:
        indexed = run(engine, target, once=True).indexed
    except TargetUnavailable as exc:
        err.print(f"search: Elasticsearch unreachable ({exc}); `caigou indexer run` catches up")
        return
    err.print(
        f"search: indexed {indexed:,} changes in {time.perf_counter() - started:.1f}s",
        highlight=False,
    )


def stats(ctx: typer.Context) -> None:
    """Show what the hub holds."""
    _print_summary(state(ctx).engine())


def _print_summary(engine: Engine) -> None:
    with engine.connect() as conn:
        summary = summarise(conn)
    counts = Table("table", "rows", title="caigou-hub holds")
    for name, count in summary.counts.items():
        counts.add_row(name, f"{count:,}")
    out.print(counts)
    types = Table("notice type", "中文", "notices", title="notices by type")
    for code, count in sorted(summary.notices_by_type.items()):
        types.add_row(code, NOTICE_TYPE_LABELS[NoticeType(code)], f"{count:,}")
    out.print(types)
    out.print(
        f"{summary.suppliers:,} suppliers and {summary.purchasers:,} purchasers, "
        "unified by credit code; "
        f"{summary.notices_from_several_sites:,} notices arrived from more than one site; "
        f"transactions worth ¥{summary.transaction_amount:,.2f}; "
        f"{summary.active_debarments:,} debarments in force today.",
        highlight=False,
    )
    top = Table(
        "supplier",
        "统一社会信用代码",
        "orders",
        "amount (¥)",
        title="top suppliers by transaction amount",
    )
    for name, uscc, orders, amount in summary.top_suppliers:
        top.add_row(name, uscc or "", f"{orders:,}", f"{amount:,.2f}")
    out.print(top)
