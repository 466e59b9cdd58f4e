"""Shared fixtures: every `engine` test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from hub.publishing.publishers import PublisherAccount, add_publisher
from schema.db import make_engine, normalise_url, upgrade
from schema.types import PublisherRole, RecordKind

POSTGRES_URL = os.environ.get("CAIGOU_TEST_POSTGRES_URL")
# One template per pytest process: several suites may share the cluster at once.
TEMPLATE_DB = f"caigou_template_{os.getpid()}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`dialect` runs a test on both databases; `@pytest.mark.only_on("postgresql")` on one."""
    if "dialect" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("only_on")
        dialects = list(only.args) if only else ["sqlite", "postgresql"]
        metafunc.parametrize("dialect", dialects, scope="session")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: migrating once is much faster."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    if not POSTGRES_URL:
        message = "CAIGOU_TEST_POSTGRES_URL is not set: start PostgreSQL with scripts/postgres.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    admin = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}"))
        conn.execute(text(f"CREATE DATABASE {TEMPLATE_DB}"))
    template = make_engine(_database_url(TEMPLATE_DB))
    upgrade(template)
    template.dispose()
    yield admin
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"))
    admin.dispose()


def _database_url(name: str) -> str:
    assert POSTGRES_URL
    return normalise_url(POSTGRES_URL).rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def fresh_database(
    dialect: str, request: pytest.FixtureRequest, folder: Path, *, migrated: bool = True
) -> Iterator[str]:
    """A fresh database of `dialect`, migrated unless `migrated=False` (nothing in it at all:
    what a restore starts from); dropped afterwards (PostgreSQL)."""
    if dialect == "sqlite":
        path = folder / ("hub.db" if migrated else "empty.db")
        if migrated:
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    name = f"t_{uuid.uuid4().hex[:12]}"
    template = f" TEMPLATE {TEMPLATE_DB}" if migrated else ""
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}{template}"))
    try:
        yield _database_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def database_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of `dialect` for one test."""
    with fresh_database(dialect, request, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def add(engine: Engine):  # type: ignore[no-untyped-def]
    """Add a publisher: add("name", "regional_site", ["220000"], ["notice"])."""

    def add_one(
        name: str, role: str, regions: list[str], kinds: list[str], site: str | None = None
    ) -> PublisherAccount:
        with engine.begin() as conn:
            account, _token = add_publisher(
                conn, name, PublisherRole(role), regions, [RecordKind(k) for k in kinds],
                site or f"http://{uuid.uuid4().hex[:6]}.example.gov.cn",
            )  # fmt: skip
        return account

    return add_one
