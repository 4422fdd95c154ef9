"""The ``covidimg`` command: demo, index, report, dashboard, export, diff."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import warnings
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path

from covidimg.registry import SOURCES

__all__ = ["main"]


#: What a folder argument may be, for the error naming a wrong one.
_SOURCE_HINT = "give the folder a source was downloaded into, or NAME=PATH"
_DIR_HINT = ("give a saved cohort folder (`covidimg index SOURCE -o DIR`), a source folder or "
             "NAME=PATH, or no DIR for the demo")


def _check_folder(path: str, label: str, hint: str) -> None:
    """Raise ``ValueError`` unless the local ``path`` is an existing folder (URLs pass);
    the message starts with ``label`` (the argument as given)."""
    if "://" in path:
        return
    if not os.path.exists(path):
        raise ValueError(f"{label} does not exist; {hint}")
    if not os.path.isdir(path):
        raise ValueError(f"{label} is a file, not a folder; {hint}")


def _roots(specs: Sequence[str], what: str = "SOURCE",
           hint: str = _SOURCE_HINT) -> dict[str, str] | list[str]:
    """``NAME=PATH`` pairs become a mapping; plain paths are detected. Every name is checked,
    and every local path must be an existing folder, before anything is loaded."""
    named: dict[str, str] = {}
    plain: list[str] = []
    for spec in specs:
        if "=" in spec.split("/")[0]:
            name, path = spec.split("=", 1)
            if name not in SOURCES:
                raise ValueError(f"{spec!r}: unknown source {name!r} in NAME=PATH; NAME is one "
                                 f"of {', '.join(SOURCES)}")
            if not path:
                raise ValueError(f"{spec!r}: PATH is empty; give NAME=PATH, e.g. "
                                 f"{name}=downloads/{name}")
            if name in named:
                raise ValueError(f"{spec!r}: source {name!r} is given twice; give each source "
                                 "once")
            named[name] = path
            _check_folder(path, f"{spec!r}: {path!r}", hint)
        else:
            plain.append(spec)
            _check_folder(spec, f"{what} {spec!r}", hint)
    if named and plain:
        raise ValueError(f"give either every source as NAME=PATH or none (got "
                         f"{' '.join(f'{k}={v}' for k, v in named.items())} and {' '.join(plain)})")
    return named or plain


def _check_output(path: str) -> None:
    """``index -o``: refuse a file or a folder of other files before hours of loading."""
    from covidimg.cohort import is_saved_cohort

    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"-o {path!r} is a file; give a new folder (or a saved cohort to "
                         "replace)")
    if os.path.isdir(path) and any(os.scandir(path)) and not is_saved_cohort(path):
        raise ValueError(f"-o {path!r} is a folder holding other files, not a saved cohort; "
                         "give a new or empty folder (covidimg never replaces files it did not "
                         "write)")


def _print_report(cohort, out=sys.stdout, width: int = 100) -> None:  # type: ignore[no-untyped-def]
    """Counts per source, then findings per source and kind with one shortened example each."""
    import pandas as pd

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

    roots = _roots(args.sources)
    _check_output(args.output)
    cohort = load(roots, progress=not args.quiet,
                  descriptions="keep" if args.keep_descriptions else "drop")
    cohort.save(args.output)
    print(f"saved {cohort!r} to {args.output}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from covidimg.cohort import Cohort

    if not os.path.isdir(args.dir):
        state = "is a file" if os.path.exists(args.dir) else "does not exist"
        raise ValueError(f"DIR {args.dir!r} {state}; give a folder written by `covidimg index "
                         "SOURCE -o DIR`")
    _print_report(Cohort.open(args.dir))
    return 0


def _cohort_arg(path: str, label: str):  # type: ignore[no-untyped-def]
    """A saved cohort folder opened, or a source folder loaded (``label`` names the
    argument in errors)."""
    from covidimg.cohort import Cohort, is_saved_cohort, load

    _check_folder(path, f"{label} {path!r}", "give a saved cohort folder (`covidimg index "
                  "SOURCE -o DIR`) or a source folder")
    return Cohort.open(path) if is_saved_cohort(Path(path)) else load(path, progress=False)


def _cmd_export(args: argparse.Namespace) -> int:
    from covidimg.export import export_cohort

    cohort = _cohort_arg(args.cohort, "COHORT_DIR")
    if args.test or args.validation:
        cohort = cohort.split(test=args.test, validation=args.validation, seed=args.seed,
                              stratify=args.stratify or None)
    if os.path.exists(args.dest) and not os.path.isdir(args.dest):
        raise ValueError(f"DEST {args.dest!r} is a file; give a new folder")
    if os.path.isdir(args.dest) and any(os.scandir(args.dest)) and not os.path.isfile(
            os.path.join(args.dest, "export.json")):
        raise ValueError(f"DEST {args.dest!r} holds other files, not an export; give a new or "
                         "empty folder (covidimg never replaces files it did not write)")
    dest = export_cohort(cohort, args.dest, format=args.format, images=args.images,
                         size=args.size, window=args.window, labels=args.labels,
                         n_jobs=args.jobs, progress=not args.quiet)
    print(f"exported {cohort!r} to {dest}; see {dest / 'README.md'} for the licences, "
          "citations and terms")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from covidimg.cohort import diff

    result = diff(_cohort_arg(args.old, "OLD"), _cohort_arg(args.new, "NEW"),
                  tables=args.tables or None, locations=args.locations)
    print(repr(result))
    summary = result.summary()
    if len(summary):
        print(summary.to_string())
    if args.output:
        folder = Path(args.output)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("added", "removed", "changed"):
            getattr(result, name).to_csv(folder / f"{name}.csv", index=False)
        print(f"wrote added.csv, removed.csv and changed.csv to {folder}")
    shown = result.changed.head(args.limit)
    if len(shown):
        more = "" if len(shown) == len(result.changed) else f" (first {len(shown)})"
        print(f"\nchanged cells{more}:")
        print(shown.to_string(index=False))
    return 0


def _dashboard_cohort_env(dirs: Sequence[str], n_patients: int
                          ) -> tuple[dict[str, str], Callable[[], str], str | None]:
    """Environment telling the dashboard notebook its cohort, how to describe (and check) it,
    and a temporary folder.

    The description is made while Voila starts (its process imports for ~2 s), so a cached
    demo or a saved cohort is opened in this process at the same time, not before. No folder:
    the demo (built now when it is not cached, so the page opens fast). A saved cohort folder
    (one whose ``manifest.json`` is a covidimg cohort's, not e.g. a Gen3 download manifest):
    opened by the description, which raises if it is not a valid cohort. Source folders:
    loaded here and saved to a temporary folder, which the caller removes when the server
    stops.
    """
    from covidimg.app import COHORT_ENV, DEMO_PATIENTS_ENV
    from covidimg.cohort import is_saved_cohort

    if not dirs:
        from covidimg.demo import demo_is_cached, load_demo

        if not demo_is_cached(n_patients=n_patients):
            seconds = round(3 + 0.5 * n_patients)  # measured on 2 cores: 18 s for 30 per source
            print(f"building the demo cohort (first run, ~{seconds} s)…", flush=True)
            load_demo(n_patients=n_patients, progress=True)
        return ({DEMO_PATIENTS_ENV: str(n_patients)},
                lambda: f"the demo cohort ({load_demo(n_patients=n_patients)!r})", None)
    if len(dirs) == 1 and is_saved_cohort(dirs[0]):
        from covidimg.cohort import Cohort

        folder = dirs[0]
        return ({COHORT_ENV: os.path.abspath(folder)},
                lambda: f"the saved cohort {folder} ({Cohort.open(folder)!r})", None)
    from covidimg.cohort import load

    cohort = load(_roots(dirs, "DIR", _DIR_HINT), progress=True)
    folder = tempfile.mkdtemp(prefix="covidimg-dashboard-")
    cohort.save(folder)
    what = f"{' '.join(dirs)} ({cohort!r})"
    return {COHORT_ENV: folder}, lambda: what, folder


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


#: What ``covidimg dashboard`` imports beyond the base install (the ``dashboard`` extra).
DASHBOARD_MODULES = ("voila", "ipykernel", "ipywidgets", "anywidget")


def _cmd_dashboard(args: argparse.Namespace) -> int:
    import importlib.util

    from covidimg.app.server import HOST, VoilaServer, free_port, port_is_free

    def installed(module: str) -> bool:
        try:  # a finder may raise for a module it refuses rather than answer None
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    missing = [m for m in DASHBOARD_MODULES if not installed(m)]
    if missing:
        raise ValueError(f"the dashboard needs {', '.join(missing)}, not installed; install "
                         "them with: pip install 'covidimg[dashboard]'")
    if args.port is not None and not port_is_free(args.port):
        raise ValueError(f"--port {args.port}: the port is in use on {HOST}; choose another "
                         "or leave --port out to pick a free one")
    if args.n_patients < 1:
        raise ValueError(f"--n-patients {args.n_patients}: expected at least 1")
    for option in ("cull_idle_timeout", "cull_interval"):
        if getattr(args, option) < (0 if option == "cull_idle_timeout" else 1):
            raise ValueError(f"--{option.replace('_', '-')} {getattr(args, option)}: expected "
                             f"at least {0 if option == 'cull_idle_timeout' else 1} second(s)")
    env, describe, temporary = _dashboard_cohort_env(args.dirs, args.n_patients)
    server = VoilaServer(args.port or free_port(), env=env, theme=args.theme,
                         cull_idle_timeout=args.cull_idle_timeout,
                         cull_interval=args.cull_interval, cull_connected=args.cull_connected)
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    # Ctrl-C stops the server also when the command was started where SIGINT is ignored (a
    # shell starts background jobs of scripts so, and Python then leaves it ignored).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        try:
            server.launch()
            what = describe()    # opens (and checks) the cohort while Voila starts
            url = server.wait_until_listening()
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
        signal.signal(signal.SIGINT, previous_int)
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def _sources_epilog() -> str:
    """The registered sources, one line each, for the help of commands that load them."""
    lines = [f"  {entry.name:<6} {entry.title}: {entry.description}"
             for entry in SOURCES.values()]
    return "sources:\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``covidimg`` command."""
    from covidimg.app.server import CULL_IDLE_TIMEOUT, CULL_INTERVAL, THEMES

    parser = argparse.ArgumentParser(
        prog="covidimg", description="Harmonized COVID-19 chest-imaging cohorts.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build the synthetic demo cohort and print its report")
    demo.add_argument("dir", nargs="?", help="write the native layouts here instead of loading "
                      "the cached demo")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--n-patients", type=int, default=30,
                      help="patients per source (default 30: about 150 in all, five sources)")
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
    dashboard.add_argument("--theme", choices=THEMES, default="light")
    dashboard.add_argument("--n-patients", type=int, default=30,
                           help="patients per source of the demo cohort shown when no DIR is "
                           "given (default 30: about 150 in all, five sources)")
    culling = dashboard.add_argument_group(
        "kernels", "each page load starts a kernel; closing or reloading the page shuts it "
        "down, and one whose page went away without saying so is shut down once idle")
    culling.add_argument("--cull-idle-timeout", type=int, default=CULL_IDLE_TIMEOUT,
                         metavar="SECONDS", help="shut down a kernel with no page connected "
                         f"after this long idle (default {CULL_IDLE_TIMEOUT}; 0: never)")
    culling.add_argument("--cull-interval", type=int, default=CULL_INTERVAL, metavar="SECONDS",
                         help=f"look for such kernels this often (default {CULL_INTERVAL})")
    culling.add_argument("--cull-connected", action="store_true",
                         help="also shut down kernels whose page is still open once idle that "
                         "long (a shared server whose users leave tabs open)")
    dashboard.set_defaults(func=_cmd_dashboard)

    export = sub.add_parser(
        "export", help="write a cohort's tables, image table, images, manifests and README")
    export.add_argument("cohort", metavar="COHORT_DIR",
                        help="a saved cohort folder (or a source folder to load)")
    export.add_argument("dest", metavar="DEST", help="the export folder (resumes if it exists)")
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    export.add_argument("--images", choices=("png", "nifti"),
                        help="also write the images as files (default: none)")
    export.add_argument("--size", type=int, default=512, help="image side in pixels")
    export.add_argument("--window", default="auto", help="window preset (auto, lung, ...)")
    export.add_argument("--labels", nargs="+", default=["covid_status"], metavar="COLUMN",
                        help="patients/images columns for the image table")
    export.add_argument("--test", type=float, default=0.0,
                        help="split first: fraction of patients in test")
    export.add_argument("--validation", type=float, default=0.0,
                        help="split first: fraction of patients in validation")
    export.add_argument("--stratify", nargs="+", metavar="COLUMN",
                        help="patients columns to stratify the split by")
    export.add_argument("--seed", type=int, default=0, help="seed of the split")
    export.add_argument("-j", "--jobs", type=int, default=None,
                        help="worker processes rendering images (default: every CPU when "
                        "there are enough images; 1: this process only)")
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    export.set_defaults(func=_cmd_export)

    diff = sub.add_parser("diff", help="rows added, removed and cells changed between two "
                          "cohorts (two releases)")
    diff.add_argument("old", metavar="OLD", help="saved cohort or source folder")
    diff.add_argument("new", metavar="NEW", help="saved cohort or source folder")
    diff.add_argument("--tables", nargs="+", metavar="TABLE", help="tables to compare")
    diff.add_argument("--locations", action="store_true",
                      help="also compare file locations (path, preview_path)")
    diff.add_argument("-o", "--output", help="write added.csv, removed.csv, changed.csv here")
    diff.add_argument("--limit", type=int, default=50, help="changed cells printed (default 50)")
    diff.set_defaults(func=_cmd_diff)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``covidimg`` command line; return the exit status.

    A user's mistake (a folder that is not there or holds no source, a bad ``NAME=PATH``, an
    ``-o`` that is a file, a folder that is not a saved cohort, a busy port, ...) and a file
    system refusal are one line on standard error, ``covidimg COMMAND: error: ...``, and exit
    status 2, without a traceback. Warnings are one line each, ``covidimg COMMAND: ...``.
    """
    args = build_parser().parse_args(argv)

    def one_line(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        print(f"covidimg {args.command}: {message}", file=sys.stderr, flush=True)

    previous = warnings.showwarning
    warnings.showwarning = one_line
    try:
        return int(args.func(args))
    except (ValueError, OSError) as exc:  # covidimg's errors are ValueError or OSError
        print(f"covidimg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"covidimg {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
