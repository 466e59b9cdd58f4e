"""Tables are reached through the typed constants of `schema.tables`, declared once.

SQLModel does not declare `__table__`, so each `Model.__table__` needed a `type: ignore`
that also hid every mistake made with the table; mypy cannot catch a new one (the ignore
is used), so this test does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import schema.tables
from schema.tables import metadata

ROOT = Path(__file__).resolve().parents[1]
CODE = ("hub", "schema", "indexer", "exports", "tests", "bench", "scripts")
HELPER = ROOT / "schema" / "columns.py"  # table_of: the one place that reads __table__


def test_every_table_has_one_typed_constant_named_after_it() -> None:
    for name, table in metadata.tables.items():
        assert getattr(schema.tables, name.upper(), None) is table, name
        assert name.upper() in schema.tables.__all__, name


def test_no_code_reads_a_models_table_but_through_the_constants() -> None:
    found = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == HELPER or {"migrations", "node_modules"} & set(path.parts):
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "__table__":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], "use schema.tables' constants (or schema.columns.table_of)"
