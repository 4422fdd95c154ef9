"""Run the adversarial corpus and count, per category, inputs, outcomes, crashes and files not
accounted for.

Print the table with ``python -m tests.adversarial.tally`` (``--json FILE`` also writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import covidimg as ci

from .corpus import Case, NotApplicable, all_cases
from .harness import Outcome, baseline_counts, fresh_copy, run_load, write_pristine

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


_BASELINES: dict[str, ci.Cohort] = {}


def baseline(source: str, pristine: Path) -> ci.Cohort:
    """The undamaged load of ``pristine`` (cached per source and tree)."""
    key = f"{source}:{pristine}"
    if key not in _BASELINES:
        _BASELINES[key] = ci.load({source: pristine}, progress=False)
    return _BASELINES[key]


def run_case(case: Case, pristine: Path, workdir: Path) -> Outcome | None:
    """Damage a fresh copy of ``pristine`` as ``case`` says and load it; ``None`` when the case
    does not apply (e.g. no date column to damage, or a permission case while running as root,
    where permissions do not bind)."""
    if case.needs_non_root and IS_ROOT:
        return None
    root = fresh_copy(pristine, workdir)
    try:
        needle = case.damage(root)
    except NotApplicable:
        return None
    try:
        counts = baseline_counts(baseline(case.source, pristine), pristine, needle)
        return run_load(case.id, case.category, case.source, root, needle, workdir=workdir,
                        baseline=counts, **case.load_args)
    finally:
        _restore_permissions(workdir)


def _restore_permissions(folder: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                try:
                    os.chmod(path, 0o755)
                except OSError:
                    pass


def problems(case: Case, outcome: Outcome) -> list[str]:
    """What the outcome does wrong for this case (empty = correct)."""
    out = []
    if outcome.crashed:
        out.append(f"crash: {outcome.detail}")
    if outcome.unaccounted:
        out.append("files not accounted for: " + "; ".join(outcome.unaccounted[:5]))
    if outcome.writes:
        out.append("written outside the cache: " + "; ".join(outcome.writes[:5]))
    if case.expect == "flag" and outcome.result not in ("flagged", "error"):
        out.append(f"the damage went unreported (result {outcome.result}; kinds "
                   f"{outcome.kinds})")
    if case.expect == "used" and outcome.result != "clean":
        out.append(f"a benign change was not read normally: {outcome.result}: "
                   f"{outcome.detail}")
    if case.kinds and outcome.result != "error" and not set(case.kinds) & set(outcome.kinds):
        out.append(f"expected a finding of kind {case.kinds}; got {outcome.kinds}")
    return out


def tally(cases: list[Case], pristine: dict[str, Path], workdir: Path
          ) -> tuple[list[dict[str, object]], list[str]]:
    """Run every case; return the per-category table and the list of failures."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures = []
    for i, case in enumerate(cases):
        folder = workdir / f"case{i:04d}"
        outcome = run_case(case, pristine[case.source], folder)
        row = counts[case.category]
        if outcome is None:
            row["not applicable"] += 1
            continue
        row["inputs"] += 1
        row[outcome.result] += 1
        row["crashes"] += outcome.crashed
        row["files unaccounted for"] += len(outcome.unaccounted)
        row["writes outside cache"] += len(outcome.writes)
        wrong = problems(case, outcome)
        row["cases failing"] += bool(wrong)
        failures += [f"{case.category}/{case.id}: {w}" for w in wrong]
        shutil.rmtree(folder, ignore_errors=True)
    columns = ["inputs", "flagged", "error", "clean", "crashes", "files unaccounted for",
               "writes outside cache", "cases failing", "not applicable"]
    table = [{"category": cat, **{c: int(counts[cat].get(c, 0)) for c in columns}}
             for cat in ("archives", "tables", "encodings", "folders") if cat in counts]
    total = {"category": "total", **{c: sum(int(r[c]) for r in table) for c in columns}}
    return [*table, total], failures


def format_table(table: list[dict[str, object]]) -> str:
    columns = list(table[0])
    widths = [max(len(str(c)), *(len(str(r[c])) for r in table)) for c in columns]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True))
              for r in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="also write the table as JSON to this file")
    parser.add_argument("--verbose", action="store_true", help="list failing cases")
    parser.add_argument("--case", default="", help="run only cases whose id contains this")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COVIDIMG_CACHE"] = os.path.join(tmp, "cache")
        pristine = write_pristine(Path(tmp) / "pristine")
        cases = [c for c in all_cases() if args.case in f"{c.category}/{c.id}"]
        table, failures = tally(cases, pristine, Path(tmp) / "work")
    print(format_table(table))
    print(f"\n{len(cases)} cases in {time.perf_counter() - start:.0f} s"
          + ("; running as root, so the permission cases were skipped" if IS_ROOT else ""))
    if args.verbose or failures:
        print("\n".join(failures), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
