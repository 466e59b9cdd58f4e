"""caigou db backup / restore: a consistent copy of the database, and putting one back.

SQLite uses its online backup API (a consistent snapshot while the hub keeps writing; the
restore copies pages into the live file under SQLite's own locks, all or nothing).
PostgreSQL uses `pg_dump --format=custom` and `pg_restore --single-transaction` into an
empty database; both tools come with PostgreSQL (Debian keeps them in
/usr/lib/postgresql/*/bin, searched after PATH; CAIGOU_PG_BIN names a folder instead).
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from hub.cli.context import err, out, state
from schema.data_version import current_data_version, data_version_after_restore
from schema.db import current_revision, head_revision, make_engine, normalise_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


def register(db_app: typer.Typer) -> None:
    db_app.command("backup")(backup)
    db_app.command("restore")(restore)


def pg_tool(name: str) -> str:
    """The path of `pg_dump` or `pg_restore`, or an error naming the missing tool."""
    folder = os.environ.get("CAIGOU_PG_BIN")
    if folder:
        found = shutil.which(name, path=folder)
    else:
        found = shutil.which(name)
        if found is None:
            candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                                key=lambda p: int(Path(p).parts[-3]))  # fmt: skip
            found = candidates[-1] if candidates else None
    if found is None:
        where = (
            f"in CAIGOU_PG_BIN={folder}" if folder else "on PATH or in /usr/lib/postgresql/*/bin"
        )
        raise BackupError(
            f"{name} not found {where}: install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client) or set CAIGOU_PG_BIN"
        )
    return found


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URL without the password, which goes in the environment instead."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tool = Path(command[0]).name
        raise BackupError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def backup_database(database_url: str, target: Path) -> None:
    """Write a consistent copy of the database to `target` (replaced atomically)."""
    url = make_url(normalise_url(database_url))
    partial = target.with_name(f".{target.name}.partial")
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(url.database or "")
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    else:
        address, env = _libpq(url)
        _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}",
              f"--dbname={address}"], env)  # fmt: skip
    with open(partial, "rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, target)


def _check_sqlite_backup(path: Path) -> None:
    with open(path, "rb") as file:
        if file.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError(f"{path} is not a SQLite backup (the database is SQLite)")
    copy = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
    if verdict != "ok":
        raise BackupError(f"{path} is damaged (integrity_check: {verdict}); nothing restored")


def restore_database(database_url: str, source: Path) -> None:
    """Put the backup `source` into the database: SQLite replaced, PostgreSQL must be empty.

    The data version then moves past anything handed out before (ETags stay honest).
    """
    before = _data_version(database_url)
    _restore(database_url, source)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            data_version_after_restore(conn, before)
    finally:
        engine.dispose()


def _data_version(database_url: str) -> int:
    """The version of the database about to be replaced; 0 where it has none yet."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return current_data_version(conn)
    except DBAPIError:  # no data_version table (empty or older database)
        return 0
    finally:
        engine.dispose()


def _restore(database_url: str, source: Path) -> None:
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite":
        _check_sqlite_backup(source)
        backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        live = sqlite3.connect(url.database or "", timeout=30)
        try:
            backup.backup(live)  # one step under SQLite's locks: readers see old or new
        finally:
            live.close()
            backup.close()
        return
    with open(source, "rb") as file:
        if file.read(len(PG_MAGIC)) != PG_MAGIC:
            raise BackupError(f"{source} is not a pg_dump custom-format backup")
    engine = make_engine(database_url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise BackupError(
            f"database {url.database} is not empty ({len(tables)} tables): restore into a "
            "new database (createdb) and point CAIGOU_DATABASE_URL at it"
        )
    address, env = _libpq(url)
    _run([pg_tool("pg_restore"), "--no-owner", "--single-transaction", "--exit-on-error",
          f"--dbname={address}", str(source)], env)  # fmt: skip


def backup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(dir_okay=False, help="Backup file to write.")],
) -> None:
    """Back the database up to PATH (SQLite online backup; PostgreSQL pg_dump custom format)."""
    settings = state(ctx).settings
    try:
        backup_database(settings.database_url, path)
    except BackupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out.print(f"backed up to {path} ({path.stat().st_size:,} bytes)", highlight=False)


def restore(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Backup to restore.")],
) -> None:
    """Restore PATH (from `caigou db backup`) into the database: SQLite replaced, PostgreSQL
    restored into an empty database."""
    settings = state(ctx).settings
    try:
        restore_database(settings.database_url, path)
    except BackupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    engine = make_engine(settings.database_url)
    revision = current_revision(engine)
    engine.dispose()
    note = "" if revision == head_revision() else "; run `caigou db upgrade` for this code"
    out.print(f"restored {path}: database at migration {revision}{note}", highlight=False)
