"""Precision at 10 of the judged relevance set (tests/relevance/judgments.json), per backend.

    .venv/bin/python scripts/relevance.py [--elasticsearch URL] [--misses]

Builds the demo database on SQLite (or reuses the copy cached for this code version),
searches it with the embedded backend and, when CAIGOU_ELASTICSEARCH_URL or --elasticsearch
is set, with Elasticsearch under a fresh index prefix that is dropped afterwards. Prints each
query's P@10 per backend and the means; exits 1 when a mean misses its target.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.embedded import EmbeddedBackend
from indexer.search import SearchBackend
from tests.relevance.dataset import (
    demo_database,
    index_elasticsearch,
    unique_prefix,
    working_copy,
)
from tests.relevance.evaluate import (
    DEFINITION,
    TARGETS,
    Judgment,
    Records,
    Score,
    evaluate,
    load_judgments,
    mean,
)


def run_all(
    backends: dict[str, SearchBackend], records: Records, judgments: Sequence[Judgment]
) -> dict[str, list[Score]]:
    """Every judgment on every backend."""
    return {name: evaluate(backend, records, judgments) for name, backend in backends.items()}


def failing(scores: dict[str, list[Score]]) -> list[str]:
    """The backends whose mean P@10 is below target, as messages."""
    return [
        f"{name}: mean P@10 {mean(s):.3f} < {TARGETS[name]}"
        for name, s in scores.items()
        if mean(s) < TARGETS[name]
    ]


def report(scores: dict[str, list[Score]], records: Records, *, misses: bool) -> None:
    names = list(scores)
    judgments = [s.judgment for s in next(iter(scores.values()))]
    print(DEFINITION)
    print(f"{'query id':34} {'judged':>6} " + " ".join(f"{n[:13]:>13}" for n in names) + "  query")
    for i, judgment in enumerate(judgments):
        row = " ".join(f"{scores[n][i].precision:13.2f}" for n in names)
        print(f"{judgment.id:34} {scores[names[0]][i].judged:6} {row}  {judgment.query}")
        for name in names if misses else ():
            score = scores[name][i]
            if score.precision < 1:
                for key in score.missing:
                    print(f"    {name} lacks: {records.label(key)}")
                for key in score.misses:
                    print(f"    {name} shows: {records.label(key)}")
    means = " ".join(f"{mean(scores[n]):13.3f}" for n in names)
    print(f"{'mean over ' + str(len(judgments)) + ' queries':34} {'':6} {means}")
    print("targets: " + ", ".join(f"{n} ≥ {TARGETS[n]}" for n in names))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--elasticsearch",
        default=os.environ.get("CAIGOU_ELASTICSEARCH_URL") or None,
        help="Elasticsearch URL (default: CAIGOU_ELASTICSEARCH_URL; none: embedded only)",
    )
    parser.add_argument(
        "--misses",
        action="store_true",
        help="under each query below 1.0, the judged records missing and the others shown",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    database = demo_database()
    judgments = load_judgments()
    with tempfile.TemporaryDirectory(prefix="caigou-relevance-") as folder:
        engine = working_copy(database, Path(folder))
        with engine.connect() as conn:
            records = Records.load(conn)
        backends: dict[str, SearchBackend] = {"embedded": EmbeddedBackend(engine)}
        elastic = None
        try:
            if args.elasticsearch:
                elastic = index_elasticsearch(engine, args.elasticsearch, unique_prefix())
                backends["elasticsearch"] = elastic
            scores = run_all(backends, records, judgments)
        finally:
            if elastic is not None:
                elastic.drop_all()
                elastic.client.close()
            engine.dispose()
    report(scores, records, misses=args.misses)
    print(f"({time.perf_counter() - started:.1f} s; database {database})")
    problems = failing(scores)
    for problem in problems:
        print(f"below target: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
