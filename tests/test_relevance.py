"""The judged relevance set (tests/relevance/judgments.json): precision at 10 on both backends.

The demo database is built once per code version and cached (tests/relevance/dataset.py);
each session searches a private copy with the embedded backend and indexes it into the real
Elasticsearch under its own prefix. `scripts/relevance.py` prints the same numbers per query.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from indexer.elastic import ElasticBackend
from indexer.embedded import EmbeddedBackend
from tests.elastic_fixtures import elastic_prefix, elastic_url  # noqa: F401  (fixtures)
from tests.relevance.dataset import demo_database, index_elasticsearch, working_copy
from tests.relevance.evaluate import (
    TARGETS,
    Judgment,
    Records,
    Score,
    evaluate,
    load_judgments,
    mean,
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = working_copy(demo_database(), tmp_path_factory.mktemp("relevance"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def records(engine: Engine) -> Records:
    with engine.connect() as conn:
        return Records.load(conn)


@pytest.fixture(scope="module")
def judgments() -> list[Judgment]:
    return load_judgments()


@pytest.fixture(scope="module")
def elastic_relevance(
    engine: Engine,
    elastic_url: str,  # noqa: F811
    elastic_prefix: str,  # noqa: F811
) -> Iterator[ElasticBackend]:
    """The demo records in indices of their own, beside the session's other test indices."""
    backend = index_elasticsearch(engine, elastic_url, f"{elastic_prefix}-relevance")
    yield backend
    backend.drop_all()
    backend.client.close()


def _summary(scores: list[Score], records: Records) -> str:
    worst = sorted(scores, key=lambda s: s.precision)[:5]
    lines = [f"mean P@10 {mean(scores):.3f}; worst:"]
    for s in worst:
        shown = "; ".join(records.label(k) for k in s.misses[:3])
        lines.append(f"  {s.precision:.2f} {s.judgment.query!r} ({s.judgment.intent}): {shown}")
    return "\n".join(lines)


def test_the_judged_set_is_large_enough_and_every_key_names_one_record(
    records: Records, judgments: list[Judgment]
) -> None:
    assert len(judgments) >= 45
    for judgment in judgments:
        assert judgment.intent and judgment.query
        assert records.judged(judgment), judgment.id  # raises on a key naming 0 or 2+ records


def test_precision_at_10_on_the_embedded_backend(
    engine: Engine, records: Records, judgments: list[Judgment]
) -> None:
    scores = evaluate(EmbeddedBackend(engine), records, judgments)
    assert mean(scores) >= TARGETS["embedded"], _summary(scores, records)


def test_precision_at_10_on_elasticsearch(
    elastic_relevance: ElasticBackend, records: Records, judgments: list[Judgment]
) -> None:
    scores = evaluate(elastic_relevance, records, judgments)
    assert mean(scores) >= TARGETS["elasticsearch"], _summary(scores, records)


def test_the_script_prints_the_definition_and_each_query(
    capsys: pytest.CaptureFixture[str], judgments: list[Judgment]
) -> None:
    from scripts.relevance import main

    assert main(["--elasticsearch", ""]) == 0  # embedded only; the database is cached by now
    printed = capsys.readouterr().out
    assert "P@10 = |top 10 ∩ judged|" in printed
    assert all(j.id in printed for j in judgments)
