"""Cross-check the hub's consistency flags with OCDS Cardinal's indicators on the demo data.

    .venv/bin/python scripts/cardinal.py [--out DIR] [--projects N] [--cardinal PATH]

Builds the demo into a fresh SQLite file, rebuilds the flags as of the demo's `as_of` day,
exports one compiled release per line (exports.ocds.compiled_releases_ndjson), and runs
`ocdscardinal indicators` on it with the settings below. Indicators that need no bids are
compared with the hub's flags per ocid (R003) or reported (R018, R048); docs/flags-cardinal.md
explains each difference and each indicator that cannot apply.

The `indicators` command is the Rust program (`cargo install ocdscardinal`). The PyPI package
`ocdscardinal` only binds `coverage`; when no program is found, this script says so, exits 2,
and prints the coverage of the fields the indicators read (from `.venv-tools`, if installed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from schema.tables import FLAGS, PROJECTS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exports.ocds import compiled_releases_ndjson  # noqa: E402
from hub.demo import generate  # noqa: E402
from hub.demo.load import load_demo  # noqa: E402
from hub.flags.engine import rebuild  # noqa: E402
from schema.db import make_engine, upgrade  # noqa: E402

TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
# R003 with the hub's minimum for open and invitation tenders (政府采购法 art 35: 20 days);
# the other methods' minimums (10 days, 3 working days) have no counterpart in R003.
SETTINGS = """\
currency = CNY

[R003]
threshold = 20
procurement_methods = open|selective

[R018]

[R048]
digits = 3
"""
# Paths each indicator reads, for the coverage report when the program is missing.
NEEDS = {
    "R003": ("/tender/procurementMethod", "/tender/tenderPeriod/startDate",
             "/tender/tenderPeriod/endDate"),
    "R018": ("/tender/procurementMethod", "/tender/numberOfTenderers"),
    "R048": ("/awards[]/suppliers[]/id", "/awards[]/items[]/classification/id"),
    "bids (R024 R025 R028 R030 R035 R036 R038 R044 R058)": ("/bids/details[]/value/amount",
                                                             "/bids/details[]/tenderers[]/id"),
}  # fmt: skip
COMPARED = {"R003": "TENDER_PERIOD_SHORT"}  # cardinal code → the hub's rule


@dataclass(frozen=True)
class Comparison:
    indicator: str
    rule: str
    both: list[str]
    only_cardinal: list[str]
    only_hub: list[str]


def build(out: Path, projects: int) -> tuple[Path, dict[str, set[str]]]:
    """The demo in SQLite, flags rebuilt; returns the NDJSON file and the hub's codes by ocid."""
    files = generate(out / "files", projects=projects)
    database = out / "demo.db"
    database.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    for batch, result in load_demo(engine, files):
        if result.rejected:
            raise SystemExit(f"{batch.path.name}: {result.rejected} records refused")
    rebuild(engine, today=files.flags_as_of)
    flags, projects_table = FLAGS, PROJECTS
    hub: dict[str, set[str]] = defaultdict(set)
    ndjson = out / "compiled-releases.jsonl"
    with engine.connect() as conn:
        query = select(projects_table.c.ocid, flags.c.code).join(
            flags, flags.c.project_id == projects_table.c.id
        )
        for ocid, code in conn.execute(query):
            hub[ocid].add(code)
        with ndjson.open("w", encoding="utf-8") as handle:
            handle.writelines(compiled_releases_ndjson(conn))
    engine.dispose()
    return ndjson, hub


def find_cardinal(given: str | None) -> str | None:
    """The `ocdscardinal` program: --cardinal, then PATH, then .venv-tools/bin, ~/.cargo/bin."""
    if given:
        return given
    for candidate in (
        shutil.which("ocdscardinal"),
        ROOT / ".venv-tools" / "bin" / "ocdscardinal",
        Path.home() / ".cargo" / "bin" / "ocdscardinal",
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def coverage(ndjson: Path) -> dict[str, int] | None:
    """Cardinal's own `coverage` (the PyPI binding) of the export, or None without it."""
    if not TOOLS_PYTHON.exists():
        return None
    script = "import json, sys, ocdscardinal; print(json.dumps(ocdscardinal.coverage(sys.argv[1])))"
    done = subprocess.run(
        [str(TOOLS_PYTHON), "-c", script, str(ndjson)], capture_output=True, text=True
    )
    return json.loads(done.stdout) if done.returncode == 0 else None


def compare(results: dict[str, dict[str, dict[str, float]]],
            hub: dict[str, set[str]]) -> list[Comparison]:  # fmt: skip
    by_ocid = results.get("OCID", {})
    found = []
    for indicator, rule in COMPARED.items():
        theirs = {ocid for ocid, codes in by_ocid.items() if indicator in codes}
        ours = {ocid for ocid, codes in hub.items() if rule in codes}
        found.append(Comparison(indicator, rule, sorted(theirs & ours), sorted(theirs - ours),
                                sorted(ours - theirs)))  # fmt: skip
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/caigou-cardinal"))
    parser.add_argument("--projects", type=int, default=240)
    parser.add_argument("--cardinal", help="path to the ocdscardinal program")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ndjson, hub = build(args.out, args.projects)
    lines = sum(1 for _ in ndjson.open(encoding="utf-8"))
    print(f"{lines} compiled releases in {ndjson}")
    settings = args.out / "settings.ini"
    settings.write_text(SETTINGS, encoding="utf-8")

    program = find_cardinal(args.cardinal)
    if program is None:
        print("ocdscardinal (the Rust program with the `indicators` command) was not found: "
              "on PATH, in .venv-tools/bin or ~/.cargo/bin. `cargo install ocdscardinal` "
              "needs the crate registry; the Python package only binds `coverage`. "
              "See docs/flags-cardinal.md.")  # fmt: skip
        counts = coverage(ndjson)
        if counts is not None:
            print(f"\ncoverage of the fields the indicators read (of {lines} releases):")
            for indicator, paths in NEEDS.items():
                for path in paths:
                    print(f"  {indicator:<10} {path:<45} {counts.get(path, 0)}")
        return 2

    done = subprocess.run(
        [program, "indicators", "--settings", str(settings), "--no-meta", str(ndjson)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    results = json.loads(done.stdout or "{}")
    (args.out / "indicators.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    for c in compare(results, hub):
        print(f"\n{c.indicator} vs {c.rule}: {len(c.both)} agree")
        for ocid in c.both:
            print(f"  both          {ocid}")
        for ocid in c.only_cardinal:
            print(f"  cardinal only {ocid}  hub: {sorted(hub.get(ocid, ())) or '-'}")
        for ocid in c.only_hub:
            print(f"  hub only      {ocid}")
    for group, results_by_id in results.items():
        for key, codes in sorted(results_by_id.items()):
            for code in sorted(set(codes) - set(COMPARED)):
                print(f"{code} ({group}) {key}: {codes[code]}  (no hub rule; see the doc)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
