"""Run adversarial inputs through the real readers and count what happened.

An input's outcome is ``ok`` (read), ``error`` (one of the package's documented errors, all
subclasses of :class:`covidimg.LoadError`, whose message names the file) or ``crash``
(anything else, or a documented error that does not name the file). The tests assert on the
:class:`Tally` objects these functions return; :mod:`.tally` prints them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from covidimg.errors import LoadError
from covidimg.imaging import read_image, thumbnails
from covidimg.sources._engine.archives import iter_zip_headers
from covidimg.sources._engine.dicom import read_header
from covidimg.sources._engine.dicom_json import read_header_json

from .corpus import Case, leaked, mutants


@dataclass
class Tally:
    """Counts of one category of inputs."""

    category: str
    inputs: int = 0
    errors: int = 0
    crashes: list[str] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> Tally:
        self.inputs += other.inputs
        self.errors += other.errors
        self.crashes += other.crashes
        self.unaccounted += other.unaccounted
        self.leaked += other.leaked
        return self

    def row(self) -> dict[str, object]:
        return {"category": self.category, "inputs": self.inputs,
                "documented errors": self.errors, "crashes": len(self.crashes),
                "files unaccounted for": len(self.unaccounted),
                "identifying strings leaked": len(self.leaked)}


def outcome(call: Callable[[], object], path: str) -> tuple[str, str]:
    """Run ``call``; return ``("ok"|"error"|"crash", detail)``; for ``ok`` the detail is the
    ``repr`` of the result and every warning's text (for leak checks)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except LoadError as exc:
            if path not in str(exc):
                return "crash", f"{type(exc).__name__} without the file name: {exc}"
            return "error", str(exc)
        except Exception as exc:  # the point: anything else is a crash
            return "crash", f"{type(exc).__name__}: {exc}"
    text = " ".join(str(w.message) for w in caught)
    if not isinstance(result, np.ndarray):
        text += " " + repr(result)
    return "ok", text


def _record(tally: Tally, name: str, results: Iterable[tuple[str, str]]) -> None:
    tally.inputs += 1
    failed = False
    for kind, detail in results:
        found = leaked(detail)
        if found:
            tally.leaked.append(f"{name}: {found}")
        if kind == "crash":
            tally.crashes.append(f"{name}: {detail}")
            failed = True
        elif kind == "error" and not failed:
            failed = True
    if failed:
        tally.errors += 1


def gallery_outcome(path: str, cache_dir: Path, *, readable: bool) -> tuple[str, str]:
    """A gallery batch of one image never raises; a failure is a finding naming the file,
    and an image that ``read_image`` reads must make a real thumbnail."""
    try:
        batch = thumbnails([path], size=32, cache_dir=cache_dir, progress=False)
    except Exception as exc:
        return "crash", f"thumbnails raised {type(exc).__name__}: {exc}"
    if batch.ok[0]:
        return "ok", ""
    finding = batch.findings.iloc[0]
    if finding["path"] != path or not finding["detail"]:
        return "crash", f"gallery finding does not name the file: {dict(finding)}"
    if readable:
        return "crash", f"read_image reads it but the thumbnail failed: {finding['detail']}"
    return "error", str(finding["detail"])


def run_file_cases(cases: Iterable[Case], folder: Path, category: str | None = None,
                   *, gallery: bool = True) -> Tally:
    """Write each case to ``folder`` and read it with every reader that takes its format."""
    tally = Tally(category or "files")
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        path = folder / case.filename
        path.write_bytes(case.data)
        p = str(path)
        results: list[tuple[str, str]] = []
        if case.suffix == ".dcm":
            results.append(outcome(lambda p=p: read_header(p), p))
            results.append(outcome(lambda p=p: read_image(p), p))
        elif case.suffix == ".json":
            results.append(outcome(lambda p=p: read_header_json(p), p))
        else:
            results.append(outcome(lambda p=p: read_image(p), p))
            results.append(outcome(lambda p=p: read_image(p, slice_index="middle"), p))
        if gallery and case.suffix != ".json":
            readable = results[-1][0] == "ok"
            results.append(gallery_outcome(p, folder / "thumbs", readable=readable))
        _record(tally, case.name, results)
    return tally


def fuzz_dicom(seed_bytes: bytes, folder: Path, *, n: int, seed: int) -> Tally:
    """Mutants of one DICOM file through the header reader and the pixel reader; headers,
    errors and warnings are searched for the planted identifying strings."""
    tally = Tally("fuzz: DICOM mutants")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, data in enumerate(mutants(seed_bytes, rng, n)):
        path = folder / f"mutant-{seed}-{i:04d}.dcm"
        path.write_bytes(data)
        p = str(path)
        _record(tally, path.name, [outcome(lambda p=p: read_header(p), p),
                                   outcome(lambda p=p: read_image(p), p)])
    return tally


def fuzz_zip(seed_bytes: bytes, folder: Path, *, n: int, seed: int,
             protect: int = 0) -> Tally:
    """Mutants of one zip archive of DICOM files through the zip header reader and, for
    every member it yields, the pixel reader (``archive.zip::member``)."""
    tally = Tally("fuzz: zip mutants")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, data in enumerate(mutants(seed_bytes, rng, n, protect=protect)):
        path = folder / f"mutant-{seed}-{i:04d}.zip"
        path.write_bytes(data)
        p = str(path)
        results: list[tuple[str, str]] = []
        labels: list[str] = []

        def headers(p: str = p, labels: list[str] = labels) -> None:
            for label, result in iter_zip_headers(p):
                labels.append(label)
                if not isinstance(result, LoadError) and label not in result.path:
                    raise AssertionError(f"header of {label} carries path {result.path}")
                if isinstance(result, LoadError) and label not in str(result):
                    raise AssertionError(f"error for {label} does not name it: {result}")

        results.append(outcome(headers, p))
        for label in labels[:3]:
            results.append(outcome(lambda label=label: read_image(label), label.split("::")[0]))
        _record(tally, path.name, results)
    return tally


def fuzz_zip_members(seed_bytes: bytes, folder: Path, *, n: int, seed: int) -> Tally:
    """Intact zip archives whose one member is a mutant of a DICOM file: the zip reader
    hands the damaged bytes to the DICOM readers (``archive.zip::member``)."""
    import zipfile

    tally = Tally("fuzz: DICOM mutants inside intact zips")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, data in enumerate(mutants(seed_bytes, rng, n)):
        path = folder / f"member-mutant-{seed}-{i:04d}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("series/0001.dcm", data)
        p = str(path)
        label = f"{path.resolve()}::series/0001.dcm"

        def headers(p: str = p) -> list[object]:
            found = list(iter_zip_headers(p))
            for _label, result in found:
                if isinstance(result, LoadError):
                    raise result
            return found

        _record(tally, path.name, [outcome(headers, p),
                                   outcome(lambda label=label: read_image(label), p)])
    return tally
