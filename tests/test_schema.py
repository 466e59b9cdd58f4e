"""The schema: migrations equal the tables, the field catalogue is complete, layers hold."""

from __future__ import annotations

import ast
from graphlib import TopologicalSorter
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from hub.demo import generate
from hub.demo.load import load_demo
from schema.catalogue import ENTITIES, public_fields
from schema.db import current_revision, ensure_schema, head_revision, make_engine, upgrade
from schema.tables import metadata

ROOT = Path(__file__).resolve().parents[1]


def test_migrations_produce_exactly_the_declared_tables(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_a_new_sqlite_database_is_created_by_migrations(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert current_revision(engine) is None
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_every_public_field_has_a_chinese_label_and_a_description() -> None:
    for entity in ENTITIES:
        fields = public_fields(entity)
        assert fields, entity
        for spec in fields:
            assert spec.label and spec.label != spec.name, (entity, spec.name)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in spec.label), (entity, spec.name)
            assert len(spec.description.split()) >= 2, (entity, spec.name)


def test_secrets_and_payloads_are_not_public() -> None:
    assert "token_hash" not in {f.name for f in public_fields("publishers")}
    assert "payload" not in {f.name for f in public_fields("transactions")}


def _imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_layers_only_import_downwards() -> None:
    assert not _imports("schema") & {"hub", "indexer", "exports", "starlette", "strawberry"}
    assert not _imports("exports") & {"hub", "indexer"}
    assert not _imports("indexer") & {"hub"}


def _hub_imports(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every `hub…` import of a file: anywhere in it, or only those that
    run when it is imported (module level, outside `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text("utf-8"))
    if top_level_only:
        nodes = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    else:
        nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        else:
            names = [alias.name for alias in node.names]
        found += [(node.lineno, name) for name in names if name.split(".")[0] == "hub"]
    return found


def _modules(folder: str) -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def test_the_pages_and_the_read_layer_import_no_graphql() -> None:
    """One read layer (issue 16): hub/web and hub/read share hub/read, never hub/graphql;
    hub/read knows neither of the two that call it."""
    wrong = [
        f"{name}:{line} imports {module}"
        for folder, banned in (("hub/web", ("hub.graphql",)),
                               ("hub/read", ("hub.graphql", "hub.web")))
        for name, path in _modules(folder).items()
        for line, module in _hub_imports(path)
        if module.startswith(banned)
    ]  # fmt: skip
    assert wrong == []


def _defines_object_types(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        for decorator in getattr(node, "decorator_list", []):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if ast.unparse(target) == "strawberry.type":
                return True
    return False


def test_graphql_modules_import_without_a_circle() -> None:
    """The modules of hub/graphql import each other in one direction: the types that refer to
    each other both ways do it through strawberry's lazy references (hub/graphql/nodes.py),
    and context and common, which every type imports, import no type module at all."""
    modules = _modules("hub/graphql")
    graph = {
        name: {m for _, m in _hub_imports(path, top_level_only=True) if m in modules}
        for name, path in modules.items()
    }
    TopologicalSorter(graph).prepare()  # raises CycleError on a circle
    for base in ("hub.graphql.context", "hub.graphql.common"):
        needed, todo = set(), [base]
        while todo:
            for module in graph[todo.pop()] - needed:
                needed.add(module)
                todo.append(module)
        assert not [m for m in needed if _defines_object_types(modules[m])], base


def test_graphql_imports_nothing_inside_functions_without_saying_why() -> None:
    """An import inside a function hides a dependency (the 15 that held the old circle
    together); one that must stay says why in a comment on its line or the line above."""
    hidden = []
    for name, path in _modules("hub/graphql").items():
        lines = path.read_text("utf-8").splitlines()
        top = {line for line, _ in _hub_imports(path, top_level_only=True)}
        tree = ast.parse("\n".join(lines))
        typing_only = {
            n.lineno
            for block in tree.body
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for n in ast.walk(block)
            if isinstance(n, ast.Import | ast.ImportFrom)
        }
        for line, module in _hub_imports(path):
            if line in top or line in typing_only:
                continue
            if "#" not in lines[line - 1] and "#" not in lines[line - 2]:
                hidden.append(f"{name}:{line} imports {module} inside a function")
    assert hidden == []


def test_times_stored_to_the_second_by_older_code_are_found_by_a_range_from_that_second(
    tmp_path: Path,
) -> None:
    """Migration 0014: before the bulk insert wrote six places, SQLite kept a transaction's
    time as `2024-01-02 10:13:35`, which sorts before the bound `…35.000000`, so a
    `publishedAt` range from that second missed it. Upgrading rewrites those values."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    ensure_schema(engine)
    files = generate(tmp_path / "demo", projects=1, transactions=20, penalties=0)
    results = [(b.kind, r.status, r.accepted) for b, r in load_demo(engine, files)]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transactions")).scalar_one() == 20, results
    with engine.begin() as conn:  # as the older code stored them, at the older revision
        conn.execute(text("UPDATE transactions SET published_at = substr(published_at, 1, 19)"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0013'"))
        first = conn.execute(text("SELECT min(published_at) FROM transactions")).scalar_one()
    bound = f"{first}.000000"
    query = text("SELECT count(*) FROM transactions WHERE published_at >= :bound")
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
        assert conn.execute(query, {"bound": bound}).scalar_one() < total  # the bug
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(query, {"bound": bound}).scalar_one() == total == 20
    engine.dispose()
