"""Alembic environment: runs on the engine handed over by `schema.db`."""

from typing import Any

from alembic import context

from schema.columns import ScaledDecimal
from schema.tables import metadata


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """Migrations store scaled decimals as what they are in the database: BIGINT."""
    if kind == "type" and isinstance(obj, ScaledDecimal):
        return "sa.BigInteger()"
    return False


config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line: use the configured URL
    from schema.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///caigou.db")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
