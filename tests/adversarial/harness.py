"""Load a damaged source tree with the real loaders and judge what happened.

An outcome is ``flagged`` (the load finished and a finding or a non-``used`` ``files`` row
names the damaged file), ``error`` (one of the package's documented errors, naming the file),
``clean`` (the load finished without mentioning the file: right for benign damage such as a
UTF-8 byte-order mark) or ``crash`` (any other exception, or a documented error that does not
name the file). Independently, every file under the root must appear exactly once in
``files`` (with a reason when not used) and nothing may be written outside the cache folder.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import covidimg as ci
from covidimg.demo import generate_demo
from covidimg.errors import LoadError, SourceDetectionError
from covidimg.sources._engine.ledger import display_path

#: Patients per demo source: as few as each writer accepts while still planting its quirks.
DEMO_PATIENTS = {"mhh": 3, "nccid": 4, "crdw": 4, "midrc": 4, "tcia": 8}
SOURCES = tuple(DEMO_PATIENTS)
DOCUMENTED_ERRORS = (LoadError, SourceDetectionError)


def write_pristine(folder: Path) -> dict[str, Path]:
    """Write each source's demo tree once under ``folder``; return source -> root."""
    roots = {}
    for source, n in DEMO_PATIENTS.items():
        generate_demo(folder / source, sources=[source], n_patients=n)
        roots[source] = folder / source / source
    return roots


def fresh_copy(pristine: Path, folder: Path) -> Path:
    """A private copy of a pristine tree (symlinks copied as links)."""
    target = folder / "tree" / pristine.name
    shutil.copytree(pristine, target, symlinks=True)
    return target


# ---------------------------------------------------------------------- accounting
def entries_under(root: Path) -> list[str]:
    """Every non-folder entry under ``root`` (files and links, including dangling and looping
    links, and links to folders), as the ``files`` table spells them."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                out.append(display_path(os.path.join(dirpath, name)))
        out += [display_path(os.path.join(dirpath, name)) for name in filenames]
    return sorted(out)


def unaccounted(files: pd.DataFrame, root: Path) -> list[str]:
    """Entries under ``root`` not recorded exactly once in ``files``, or recorded as not used
    without a reason. An empty list means every file is accounted for."""
    paths = files["path"].astype(str)
    counts = paths.value_counts()
    reasons = dict(zip(paths, files["reason"].fillna("").astype(str), strict=True))
    statuses = dict(zip(paths, files["status"].astype(str), strict=True))
    problems = []
    for entry in entries_under(root):
        n = int(counts.get(entry, 0))
        if n != 1:
            problems.append(f"{entry}: recorded {n} times")
        elif statuses[entry] != "used" and not reasons[entry].strip():
            problems.append(f"{entry}: {statuses[entry]} without a reason")
    return problems


def assert_files_accounted(cohort: ci.Cohort, root: Path) -> None:
    """Assert that every file under ``root`` appears exactly once in ``cohort.files``."""
    problems = unaccounted(cohort.files, root)
    assert not problems, "files not accounted for:\n" + "\n".join(problems)


# ---------------------------------------------------------------------- writes
def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            out[display_path(full)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return out


@contextmanager
def watch_writes(watched: list[Path], scratch: Path) -> Iterator[list[str]]:
    """Yield a list that, after the block, holds every change under ``watched`` and every file
    left in ``scratch`` (the temporary folder the block runs with)."""
    before = {str(f): _snapshot(f) for f in watched}
    scratch.mkdir(parents=True, exist_ok=True)
    old_tempdir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = str(scratch), str(scratch)
    changes: list[str] = []
    try:
        yield changes
    finally:
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
        for folder in watched:
            after = _snapshot(folder)
            old = before[str(folder)]
            changes += [f"written: {p}" for p in sorted(after.keys() - old.keys())]
            changes += [f"removed: {p}" for p in sorted(old.keys() - after.keys())]
            changes += [f"changed: {p}" for p in sorted(k for k in after.keys() & old.keys()
                                                         if after[k] != old[k])]
        changes += [f"left in temp: {p}" for p in _snapshot(scratch)]


@contextmanager
def read_only(root: Path) -> Iterator[None]:
    """Remove write permission from every folder under ``root`` for the block (it binds only
    when not running as root; the write snapshot checks either way)."""
    folders = [root] + [Path(d) / n for d, ns, _ in os.walk(root) for n in ns
                        if not os.path.islink(Path(d) / n)]
    modes = {}
    for f in folders:
        try:
            modes[f] = f.stat().st_mode
            f.chmod(modes[f] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        except OSError:
            pass
    try:
        yield
    finally:
        for f, mode in modes.items():
            try:
                f.chmod(mode)
            except OSError:
                pass


# ---------------------------------------------------------------------- one case
@dataclass
class Outcome:
    """What one adversarial input did."""

    case: str
    category: str
    result: str = "clean"                       # flagged | error | clean | crash
    detail: str = ""
    kinds: list[str] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    cohort: ci.Cohort | None = None
    #: findings, and non-``used`` files rows, that mention the damaged file
    n_findings: int = 0
    n_not_used: int = 0

    @property
    def crashed(self) -> bool:
        return self.result == "crash"


def mentions(frame: pd.DataFrame, needle: str) -> pd.Series:
    """Rows of ``frame`` whose path or detail/reason mentions ``needle``."""
    text = frame["path"].fillna("").astype(str)
    for col in ("detail", "reason"):
        if col in frame:
            text = text + " " + frame[col].fillna("").astype(str)
    return text.str.contains(needle, regex=False)


def _signatures(findings: pd.DataFrame, files: pd.DataFrame, root: Path) -> set[str]:
    def norm(text: object) -> str:
        return str(text).replace(str(root), "<root>")
    return ({f"finding {r.kind}: {norm(r.detail)}" for r in findings.itertuples()}
            | {f"file {r.status}: {norm(r.reason)}" for r in files.itertuples()})


def baseline_counts(cohort: ci.Cohort, root: Path, needle: str) -> set[str]:
    """Findings and non-``used`` files rows mentioning ``needle`` in an undamaged load of
    ``root``: the demo plants quirks of its own, which must not count as reporting damage."""
    files = cohort.files
    return _signatures(cohort.findings[mentions(cohort.findings, needle)],
                       files[mentions(files, needle) & (files["status"].astype(str) != "used")],
                       root)


def run_load(case: str, category: str, source: str, root: Path, needle: str, *,
             workdir: Path, baseline: set[str] | None = None,
             **load_args: object) -> Outcome:
    """Load ``root`` as ``source`` read-only, watching writes; judge the outcome by whether
    findings, ``files`` reasons or the error message mention ``needle`` (the damaged file).

    ``root`` must be a tree made by :func:`fresh_copy`: its parent folder is watched for
    writes, and the load runs with ``workdir/tmp`` as its temporary folder.
    """
    out = Outcome(case, category)
    with read_only(root), watch_writes([root.parent], workdir / "tmp") as writes:
        try:
            cohort = ci.load({source: root}, progress=False, **load_args)  # type: ignore[arg-type]
        except DOCUMENTED_ERRORS as exc:
            message = str(exc)
            out.result = "error" if needle in message or str(root) in message else "crash"
            out.detail = f"{type(exc).__name__}: {message}"
        except Exception as exc:
            out.result = "crash"
            out.detail = "".join(traceback.format_exception(exc))
        else:
            out.cohort = cohort
            out.kinds = sorted(set(cohort.findings["kind"].astype(str)))
            hit_findings = cohort.findings[mentions(cohort.findings, needle)]
            files = cohort.files
            hit_files = files[mentions(files, needle) & (files["status"].astype(str) != "used")]
            seen = _signatures(hit_findings, hit_files, root)
            out.n_findings, out.n_not_used = len(hit_findings), len(hit_files)
            if seen - (baseline or set()):
                out.result = "flagged"
                out.detail = "; ".join(
                    [f"{r.kind}: {r.detail}" for r in hit_findings.itertuples()][:3]
                    + [f"files[{r.status}]: {r.reason}" for r in hit_files.itertuples()][:2])
            out.unaccounted = unaccounted(files, root)
    out.writes = list(writes)
    return out
