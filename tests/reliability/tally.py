"""Print the reliability figures: inputs tried, crashes, files unaccounted for, leaks.

Runs the same corpora, fuzz runs, loader plantings and privacy check as the tests in this
package and prints one Markdown table row per category::

    python -m tests.reliability.tally

(from the repository root; about two minutes). ``docs/reliability.md`` holds its output.
The exit status is 1 when any figure is off its target of 0.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from . import corpus, layouts
from .harness import Tally, fuzz_dicom, fuzz_zip, fuzz_zip_members, run_file_cases
from .outputs import build_identifying_sources, collect_outputs, leaks

COLUMNS = ("category", "inputs", "documented errors", "crashes", "files unaccounted for",
           "identifying strings leaked")


def file_corpora(work: Path) -> list[Tally]:
    rows = []
    for label, cases in (("DICOM", corpus.dicom_corpus()), ("NIfTI", corpus.nifti_corpus())):
        for category in sorted({c.category for c in cases}):
            chosen = [c for c in cases if c.category == category]
            rows.append(run_file_cases(chosen, work / category, f"{label}: {category}"))
    rows.append(run_file_cases(corpus.dicom_json_corpus(), work / "json", "DICOM-JSON: malformed"))
    return rows


def loaders(work: Path) -> list[Tally]:
    cases = [c for c in corpus.dicom_corpus() if c.category != "truncated"]
    cases += corpus.truncated_dicom(12)
    rows = []
    for source in layouts.DICOM_SOURCES:
        root = layouts.write_layout(source, work / source)
        planted = layouts.plant(source, root, cases, json_cases=corpus.dicom_json_corpus())
        tally = layouts.check_load(source, root, planted, cache_dir=work / "thumbs",
                                   category=f"loader {source}: planted files")
        rows.append(tally)
    return rows


def fuzz(work: Path) -> list[Tally]:
    from .test_fuzz_readers import N_MUTANTS, RANDOM_SEEDS, dicom_seeds, zip_seed

    dicom = Tally(f"fuzz: DICOM mutants ({len(dicom_seeds())} seed files)")
    for name, data in dicom_seeds().items():
        for seed in RANDOM_SEEDS:
            dicom.add(fuzz_dicom(data, work / name, n=N_MUTANTS, seed=seed))
    archive = Tally("fuzz: zip-of-DICOM mutants (archive bytes)")
    members = Tally("fuzz: DICOM mutants inside intact zips")
    for seed in RANDOM_SEEDS:
        archive.add(fuzz_zip(zip_seed(), work / "zip", n=N_MUTANTS, seed=seed, protect=30))
        members.add(fuzz_zip_members(dicom_seeds()["radiograph"], work / "members",
                                     n=N_MUTANTS, seed=seed))
    return [dicom, archive, members]


def text_parsers() -> Tally:
    """Every hypothesis property of test_fuzz_text; inputs = examples hypothesis ran."""
    from hypothesis.internal.observability import with_observability_callback

    from . import test_fuzz_text

    tally = Tally("text parsers: hypothesis examples")
    statuses: list[str] = []

    def count(observation: object) -> None:
        if getattr(observation, "type", "") == "test_case":
            statuses.append(str(getattr(observation, "status", "")))

    with with_observability_callback(count):
        for name in sorted(dir(test_fuzz_text)):
            test = getattr(test_fuzz_text, name)
            if not (name.startswith("test_") and hasattr(test, "hypothesis")):
                continue
            try:
                test()
            except Exception as exc:  # a failing property is a crash of its parser
                tally.crashes.append(f"{name}: {type(exc).__name__}: {exc}")
    tally.inputs = sum(s != "gave_up" for s in statuses)
    return tally


def privacy(work: Path) -> Tally:
    roots = build_identifying_sources(work / "sources")
    outputs = collect_outputs(roots, work / "out")
    tally = Tally(f"privacy: outputs searched ({sum(1 for _ in outputs)} outputs, "
                  "4 DICOM layouts stamped)", inputs=len(outputs))
    tally.leaked = [f"{name}: {found}" for name, found in leaks(outputs).items()]
    return tally


def table(rows: list[Tally]) -> str:
    total = Tally("**total**")
    for row in rows:
        total.add(row)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in [*rows, total]:
        values = row.row()
        lines.append("| " + " | ".join(str(values[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> int:
    logging.getLogger("nibabel").setLevel(logging.ERROR)   # its header fix-up notes
    os.environ.setdefault("COVIDIMG_CACHE", tempfile.mkdtemp(prefix="covidimg-tally-"))
    start = time.perf_counter()
    rows: list[Tally] = []
    with tempfile.TemporaryDirectory(prefix="covidimg-reliability-") as tmp, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        work = Path(tmp)
        rows += file_corpora(work / "files")
        rows += loaders(work / "loaders")
        rows += fuzz(work / "fuzz")
        rows.append(text_parsers())
        rows.append(privacy(work / "privacy"))
    print(table(rows))
    print(f"\n({time.perf_counter() - start:.0f} s)")
    problems = [p for r in rows for p in (*r.crashes, *r.unaccounted, *r.leaked)]
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
