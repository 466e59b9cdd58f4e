"""Alembic environment: runs on the engine handed over by `schema.db`."""

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from schema.columns import ScaledDecimal
from schema.tables import metadata


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Migrations store scaled decimals as what they are in the database: BIGINT."""
    if kind == "type" and isinstance(obj, ScaledDecimal):
        return "sa.BigInteger()"
    return False


# The embedded search index (indexer/embedded.py) lives in the same SQLite file but is
# derived data, created on first use: not ours to migrate, nor to drop in an autogenerate.
DERIVED_PREFIXES = ("search_docs", "search_terms_", "search_text_", "search_tombstones")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(DERIVED_PREFIXES))


config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line: use the configured URL
    from schema.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///caigou.db")

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table (create, copy, drop, rename): with foreign keys
        # on, dropping a table other rows reference fails. SQLite's documented procedure for
        # such changes: keys off for the migration, every reference checked before commit.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        # Checked first: the check after the migration must only ever find its own doing
        # (Python's sqlite3 commits DDL at once, so a failed migration is not all undone).
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            raise RuntimeError(
                f"the database holds broken references (table, rowid, parent, key): "
                f"{broken[:5]}; repair them before migrating"
            )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                connection.rollback()
                raise RuntimeError(f"the migration left broken references: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
