"""The ``covidimg`` command: demo, index, report, dashboard."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

__all__ = ["main"]


def _roots(specs: Sequence[str]) -> dict[str, str] | list[str]:
    """``NAME=PATH`` pairs become a mapping; plain paths are detected."""
    named = [s for s in specs if "=" in s.split("/")[0]]
    if named and len(named) != len(specs):
        raise SystemExit("covidimg index: give either all sources as NAME=PATH or none")
    if named:
        return dict(s.split("=", 1) for s in specs)
    return list(specs)


def _print_report(cohort, out=sys.stdout, width: int = 100) -> None:  # type: ignore[no-untyped-def]
    """Counts per source, then findings per source and kind with one shortened example each."""
    print(repr(cohort), file=out)
    print("\nPer source:", file=out)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(cohort.summary().to_string(), file=out)
    findings = cohort.findings_summary()
    print(f"\nFindings ({len(cohort.findings)}):", file=out)
    if not len(findings):
        print("  none", file=out)
    for source, group in findings.groupby("source", sort=True):
        print(f"  {source}", file=out)
        for row in group.itertuples(index=False):
            example = " ".join(str(row.example).split())
            if len(example) > width:
                example = example[: width - 1] + "…"
            print(f"    {row.count:>4}  {row.kind}", file=out)
            print(f"          e.g. {example}", file=out)


def _cmd_demo(args: argparse.Namespace) -> int:
    from covidimg.demo import generate_demo, load_demo

    if args.dir:
        folder = Path(args.dir)
        truths = generate_demo(folder, seed=args.seed, n_patients=args.n_patients)
        print(f"wrote the demo in the native layouts of {', '.join(truths)} under {folder}; "
              f"load it with covidimg.load({{source: '{folder}/<source>'}})")
        return 0
    cohort = load_demo(seed=args.seed, n_patients=args.n_patients, progress=True)
    _print_report(cohort)
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from covidimg.cohort import load

    cohort = load(_roots(args.sources), progress=not args.quiet)
    cohort.save(args.output)
    print(f"saved {cohort!r} to {args.output}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from covidimg.cohort import Cohort

    _print_report(Cohort.open(args.dir))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``covidimg`` command."""
    parser = argparse.ArgumentParser(
        prog="covidimg", description="Harmonized COVID-19 chest-imaging cohorts.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build the synthetic demo cohort and print its report")
    demo.add_argument("dir", nargs="?", help="write the native layouts here instead of loading "
                      "the cached demo")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--n-patients", type=int, default=30)
    demo.set_defaults(func=_cmd_demo)

    index = sub.add_parser("index", help="load sources and save the harmonized cohort")
    index.add_argument("sources", nargs="+", metavar="SOURCE",
                       help="a folder (source detected) or NAME=PATH (e.g. nccid=s3://b/p)")
    index.add_argument("-o", "--output", required=True, help="folder to save the cohort in")
    index.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    index.set_defaults(func=_cmd_index)

    report = sub.add_parser("report", help="counts per source and findings of a saved cohort")
    report.add_argument("dir", help="a folder written by `covidimg index`")
    report.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``covidimg`` command line; return the exit status."""
    from covidimg.cohort import CohortFileError, SourceDetectionError
    from covidimg.schema import SchemaError
    from covidimg.sources.base import LoadError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (LoadError, SourceDetectionError, CohortFileError, SchemaError, ValueError) as exc:
        print(f"covidimg {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
