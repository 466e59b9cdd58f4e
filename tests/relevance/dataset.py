"""The demo database the relevance set is judged on, built once per code version and cached.

Building it (generate, ingest through the publishing pipeline, index into SQLite FTS5) takes
~15 s, so the result is kept under the temp folder, keyed by a hash of the code that shapes
it; any edit to the demo generator, the publishing pipeline, `indexer/` or `schema/` builds a
fresh one. Each run searches a private copy, so runs in parallel never write to the shared file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import Engine

from hub.demo import generate
from hub.demo.load import load_demo
from indexer.elastic import ElasticBackend
from indexer.embedded import EmbeddedBackend
from indexer.worker import rebuild
from schema.db import make_engine, upgrade

ROOT = Path(__file__).resolve().parents[2]
# What the database and its search index derive from.
CODE = ("hub/demo", "hub/publishing", "indexer", "schema")
CACHE_ROOT = Path(tempfile.gettempdir()) / "caigou-relevance"


def code_version() -> str:
    """A hash of every source and data file the demo database and its index come from."""
    digest = hashlib.sha256()
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def demo_database(cache_root: Path = CACHE_ROOT) -> Path:
    """The demo database with its embedded search index filled; built when not cached."""
    target = cache_root / code_version() / "demo.db"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=target.parent))
    try:
        engine = make_engine(f"sqlite:///{work / 'demo.db'}")
        upgrade(engine)
        for batch, result in load_demo(engine, generate(work / "files")):
            if result.status != "accepted":
                raise RuntimeError(f"demo batch {batch.path.name} was {result.status}")
        EmbeddedBackend(engine).catch_up()
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        os.replace(work / "demo.db", target)  # atomic: a parallel build just wins or loses
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def working_copy(database: Path, folder: Path) -> Engine:
    """An engine on a private copy of `database` in `folder`."""
    copy = folder / "demo.db"
    shutil.copyfile(database, copy)
    return make_engine(f"sqlite:///{copy}")


def unique_prefix() -> str:
    return f"caigou-relevance-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def index_elasticsearch(engine: Engine, url: str, prefix: str) -> ElasticBackend:
    """Every record of `engine` indexed into fresh indices under `prefix` (drop them after)."""
    backend = ElasticBackend(url, prefix=prefix, timeout=60.0)
    rebuild(engine, backend)
    return backend
