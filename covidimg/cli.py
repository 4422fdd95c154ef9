"""The ``covidimg`` command: demo, index, report, dashboard."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import webbrowser
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from covidimg.registry import SOURCES

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

    cohort = load(_roots(args.sources), progress=not args.quiet,
                  descriptions="keep" if args.keep_descriptions else "drop")
    cohort.save(args.output)
    print(f"saved {cohort!r} to {args.output}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from covidimg.cohort import Cohort

    _print_report(Cohort.open(args.dir))
    return 0


def _dashboard_cohort_env(dirs: Sequence[str], n_patients: int) -> tuple[dict[str, str], str,
                                                                          str | None]:
    """Environment telling the dashboard notebook its cohort, a description, a temp folder.

    No folder: the demo (built now, so the page opens fast). A saved cohort folder: opened
    here to check it. Source folders: loaded here and saved to a temporary folder, which the
    caller removes when the server stops.
    """
    from covidimg.app import COHORT_ENV, DEMO_PATIENTS_ENV
    from covidimg.cohort import MANIFEST, Cohort, load

    if not dirs:
        from covidimg.demo import load_demo

        cohort = load_demo(n_patients=n_patients, progress=True)
        return {DEMO_PATIENTS_ENV: str(n_patients)}, f"the demo cohort ({cohort!r})", None
    for spec in dirs:
        path = spec.split("=", 1)[1] if "=" in spec.split("/")[0] else spec
        if "://" not in path and not os.path.exists(path):
            raise ValueError(f"DIR {path!r} does not exist; give a saved cohort folder "
                             "(`covidimg index SOURCE -o DIR`) or a source folder, or no DIR "
                             "for the demo")
    if len(dirs) == 1 and os.path.isfile(os.path.join(dirs[0], MANIFEST)):
        cohort = Cohort.open(dirs[0])
        return ({COHORT_ENV: os.path.abspath(dirs[0])},
                f"the saved cohort {dirs[0]} ({cohort!r})", None)
    cohort = load(_roots(dirs), progress=True)
    folder = tempfile.mkdtemp(prefix="covidimg-dashboard-")
    cohort.save(folder)
    return {COHORT_ENV: folder}, f"{' '.join(dirs)} ({cohort!r})", folder


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _cmd_dashboard(args: argparse.Namespace) -> int:
    import importlib.util

    from covidimg.app.server import HOST, VoilaServer, free_port, port_is_free

    if importlib.util.find_spec("voila") is None:
        raise ValueError("the dashboard is served by Voila, which is not installed; install it "
                         "with: pip install 'covidimg[dashboard]'")
    if args.port is not None and not port_is_free(args.port):
        raise ValueError(f"--port {args.port}: the port is in use on {HOST}; choose another "
                         "or leave --port out to pick a free one")
    if args.n_patients < 1:
        raise ValueError(f"--n-patients {args.n_patients}: expected at least 1")
    env, what, temporary = _dashboard_cohort_env(args.dirs, args.n_patients)
    server = VoilaServer(args.port or free_port(), env=env, theme=args.theme)
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        try:
            url = server.start()
        except RuntimeError as exc:
            print(f"covidimg dashboard: error: {exc}", file=sys.stderr)
            return 1
        print(f"covidimg dashboard: serving {what}\n  {url}\nPress Ctrl-C to stop.",
              flush=True)
        if not args.no_browser:
            webbrowser.open(url)
        status = server.wait()
        if status:
            print(f"covidimg dashboard: error: Voila stopped with status {status}",
                  file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        print("covidimg dashboard: stopping", flush=True)
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def _sources_epilog() -> str:
    """The registered sources, one line each, for the help of commands that load them."""
    lines = [f"  {entry.name:<6} {entry.title}: {entry.description}"
             for entry in SOURCES.values()]
    return "sources:\n" + "\n".join(lines)


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

    index = sub.add_parser("index", help="load sources and save the harmonized cohort",
                           epilog=_sources_epilog(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    index.add_argument("sources", nargs="+", metavar="SOURCE",
                       help="a folder (source detected) or NAME=PATH, NAME one of "
                       f"{', '.join(SOURCES)} (e.g. nccid=s3://b/p)")
    index.add_argument("-o", "--output", required=True, help="folder to save the cohort in")
    index.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    index.add_argument("--keep-descriptions", action="store_true",
                       help="keep the free-text Study/Series descriptions and ProtocolName (and "
                       "CRDW's zip-name description) in images; by default only the "
                       "harmonized exam label is kept")
    index.set_defaults(func=_cmd_index)

    report = sub.add_parser("report", help="counts per source and findings of a saved cohort")
    report.add_argument("dir", help="a folder written by `covidimg index`")
    report.set_defaults(func=_cmd_report)

    dashboard = sub.add_parser(
        "dashboard", help="serve the linked dashboard in the browser (Voila on 127.0.0.1)",
        epilog=_sources_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    dashboard.add_argument("dirs", nargs="*", metavar="DIR",
                           help="a saved cohort folder, or source folders (or NAME=PATH) to "
                           "load; none: the demo cohort")
    dashboard.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    dashboard.add_argument("--no-browser", action="store_true",
                           help="print the address only, open no browser")
    dashboard.add_argument("--theme", choices=["light", "dark"], default="light")
    dashboard.add_argument("--n-patients", type=int, default=30,
                           help="size of the demo cohort shown when no DIR is given")
    dashboard.set_defaults(func=_cmd_dashboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``covidimg`` command line; return the exit status."""
    from covidimg.errors import CohortFileError, LoadError, SchemaError, SourceDetectionError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (LoadError, SourceDetectionError, CohortFileError, SchemaError, ValueError) as exc:
        print(f"covidimg {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
