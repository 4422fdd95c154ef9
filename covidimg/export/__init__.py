"""Export a cohort for use elsewhere: tables, an image table for training, images, manifests.

:func:`export_cohort` (also :meth:`covidimg.Cohort.export` and ``covidimg export``) writes::

    dest/
      README.md            licences, citations and terms (from `provenance`), contents
      data-dictionary.md   every column of the tables (covidimg.schema)
      export.json          the settings and counts of the export
      tables/<name>.parquet (or .csv)   the nine tables of the cohort (dtypes.json: their
                           columns' types, so open_export restores the loaders' extra columns)
      images.parquet (or .csv)          one row per image: file, labels, split
      images/<source>/<id>.png (or .nii.gz)   with images="png" / "nifti"
      manifests/           idc-s5cmd.txt, tcia.tcia, midrc-gen3.json (what has entries)
      problems.csv         images that could not be exported, if any

:func:`open_export` reads the tables back into a :class:`~covidimg.Cohort`. This package sits
above :mod:`covidimg.imaging` (it renders images) and below the command line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from covidimg import schema
from covidimg._parallel import ExecutorArg
from covidimg._validation import check_choice
from covidimg.cohort import Cohort
from covidimg.export._images import ImageFormat, export_images, image_file_name
from covidimg.export._manifests import write_manifests
from covidimg.export._readme import readme_text
from covidimg.imaging import WINDOW_PRESETS

__all__ = ["ImageFormat", "TableFormat", "export_cohort", "image_file_name", "label_columns",
           "open_export"]

#: The file formats tables are exported as.
TableFormat = Literal["parquet", "csv"]
#: Columns of ``images`` that are not labels (file locations, and the key columns the image
#: table always has).
_NOT_LABELS = ("path", "preview_path", "image_uid", "patient_uid", "source", "split")
_IMAGE_SETTINGS = ("images", "size", "window")
_DTYPES = "dtypes.json"


def label_columns() -> list[str]:
    """The names ``labels=`` accepts: the columns of ``patients`` and ``images`` of the
    schema (a cohort's extra columns are accepted too).

    Examples
    --------
    >>> from covidimg.export import label_columns
    >>> "covid_status" in label_columns(), "path" in label_columns()
    (True, False)
    """
    names = schema.TABLES["patients"].names + schema.TABLES["images"].names
    return [n for n in dict.fromkeys(names) if n not in _NOT_LABELS]


def _image_table(cohort: Cohort, labels: Sequence[str], files: pd.Series | None) -> pd.DataFrame:
    images, patients = cohort.images, cohort.patients
    allowed = set(label_columns()) | (set(images.columns) | set(patients.columns)) - set(
        _NOT_LABELS)
    for label in labels:
        check_choice(label, sorted(allowed), "labels",
                     hint="Labels are columns of the patients or images table.")
    table = images[["image_uid", "patient_uid", "source", "modality", "view"]].copy()
    side = patients.set_index("patient_uid")["split"] if "split" in patients.columns else None
    table["split"] = (table["patient_uid"].map(side) if side is not None
                      else pd.Series(pd.NA, index=table.index)).astype(
        pd.CategoricalDtype(list(schema.SPLITS)))
    table["file"] = (table["image_uid"].astype(str).map(files) if files is not None
                     else images["path"]).astype("string")
    by_patient = patients.set_index("patient_uid")
    for label in labels:
        if label in table.columns:
            continue
        table[label] = (images[label] if label in images.columns
                        else table["patient_uid"].map(by_patient[label]).astype(
                            by_patient[label].dtype))
    return table


def _write_table(frame: pd.DataFrame, path: Path, table_format: TableFormat) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    if table_format == "parquet":
        frame.to_parquet(partial, index=False)
    else:
        frame.to_csv(partial, index=False)
    os.replace(partial, path)


def _check_resumable(dest: Path, settings: dict[str, Any]) -> None:
    """Refuse to add images of other settings to images an earlier export wrote."""
    previous = dest / "export.json"
    if not previous.is_file() or not (dest / "images").is_dir():
        return
    try:
        before = json.loads(previous.read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    changed = {k: (before.get(k), settings[k]) for k in _IMAGE_SETTINGS
               if before.get(k) != settings[k]}
    if changed and settings["images"] is not None:
        raise ValueError(
            f"{dest} holds images exported with other settings "
            f"({', '.join(f'{k}: {a!r} then, {b!r} now' for k, (a, b) in changed.items())}); "
            "export to another folder, or delete its images/ folder to start again")


def export_cohort(cohort: Cohort, dest: str | os.PathLike[str], *,
                  format: TableFormat = "parquet", images: ImageFormat | None = None,
                  size: int = 512, window: str = "auto",
                  labels: Sequence[str] = ("covid_status",), n_jobs: int | None = None,
                  executor: ExecutorArg = None, progress: bool = True) -> Path:
    """Write ``cohort`` into ``dest`` for training and sharing (layout: module docstring).

    Parameters
    ----------
    cohort
        The cohort, typically filtered and split (:meth:`~covidimg.Cohort.split`).
    dest
        The export folder; created if missing. Exporting again into it skips the image files
        already written (so an interrupted export resumes) and rewrites the rest.
    format
        ``"parquet"`` (reloads to the same cohort with :func:`open_export`) or ``"csv"``.
    images
        ``None`` (the image table points at the images where they are), ``"png"`` or
        ``"nifti"``: the images rendered through the thumbnails' pipeline
        (:func:`covidimg.imaging.thumbnails`): read, windowed, letterboxed into a square of
        ``size`` pixels, 8-bit; a CT/MR series as its middle slice. PNGs carry pixels only,
        no text from the DICOM header.
    size
        Side of the square images, 8-4096 pixels.
    window
        A window preset of :data:`covidimg.imaging.WINDOW_PRESETS` (``"auto"``, ``"lung"``,
        ...).
    labels
        Columns of ``patients`` or ``images`` copied into the image table, e.g.
        ``["covid_status", "sex", "icu", "died", "exam"]`` (:func:`label_columns`).
    n_jobs, executor
        Where images are rendered, as for :func:`covidimg.imaging.thumbnails` and
        :func:`covidimg.load`: ``executor=None`` a local process pool of ``n_jobs`` workers
        (``None`` or ``-1``: every CPU; ``1``: this process) when there are enough images to
        pay for it, ``False`` this process, or any :class:`concurrent.futures.Executor` (a
        process or thread pool, a Dask cluster's ``Client.get_executor()`` or the ``Client``),
        whose workers must see the image files. The files are written by this process.
    progress
        Show a progress bar while images are written.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Examples
    --------
    >>> import covidimg as ci, tempfile
    >>> from covidimg.export import export_cohort, open_export
    >>> cohort = ci.load_demo(n_patients=4, sources=["mhh"]).split(test=0.5)
    >>> folder = export_cohort(cohort, tempfile.mkdtemp(), labels=["covid_status", "sex"])
    >>> len(open_export(folder).images) == len(cohort.images)
    True
    """
    check_choice(format, TableFormat, "format")
    if images is not None:
        check_choice(images, ImageFormat, "images", hint="Pass None to export no image files.")
    check_choice(window, tuple(WINDOW_PRESETS), "window")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 4096:
        raise ValueError(f"size={size!r}: expected an int between 8 and 4096 pixels")
    labels = [labels] if isinstance(labels, str) else list(labels)
    dest = Path(dest)
    settings = {"format": format, "images": images, "size": size, "window": window,
                "labels": labels}
    _check_resumable(dest, settings)
    _image_table(cohort, labels, None)   # checks the labels before anything is written
    dest.mkdir(parents=True, exist_ok=True)
    suffix = ".parquet" if format == "parquet" else ".csv"
    dtypes = {}
    for name, frame in cohort.tables().items():
        _write_table(frame, dest / "tables" / f"{name}{suffix}", format)
        dtypes[name] = {str(c): str(t) for c, t in frame.dtypes.items()}
    # Parquet stores an all-text column of Python objects as text: record the loaders' extra
    # columns' dtypes so open_export restores them.
    (dest / "tables" / _DTYPES).write_text(json.dumps(dtypes, indent=1) + "\n",
                                           encoding="utf-8")
    (dest / "data-dictionary.md").write_text(schema.data_dictionary_markdown(),
                                             encoding="utf-8")
    files = problems = None
    if images is not None:
        files, problems = export_images(cohort.images, dest / "images", image_format=images,
                                        size=size, window=window, n_jobs=n_jobs,
                                        executor=executor, progress=progress)
    table = _image_table(cohort, labels, files)
    _write_table(table, dest / f"images{suffix}", format)
    problem_file = dest / "problems.csv"
    if problems is not None and len(problems):
        problems.to_csv(problem_file, index=False)
    elif problem_file.exists():
        problem_file.unlink()
    manifests = write_manifests(cohort.images, dest / "manifests")
    counts = {"patients": len(cohort.patients), "images": len(cohort.images),
              "image files": int(table["file"].notna().sum()) if images else 0}
    listing = ["README.md", "data-dictionary.md", "export.json",
               *(f"tables/{n}{suffix}" for n in schema.TABLE_NAMES), f"images{suffix}"]
    if images is not None:
        listing.append("images/")
    listing += [f"manifests/{n}" for n in manifests if n != "skipped"]
    if problems is not None and len(problems):
        listing.append("problems.csv")
    (dest / "export.json").write_text(json.dumps(
        {"settings": settings, "counts": counts, "manifests": manifests}, indent=1) + "\n",
        encoding="utf-8")
    (dest / "README.md").write_text(readme_text(cohort.provenance, counts, settings, listing),
                                    encoding="utf-8")
    return dest


def open_export(dest: str | os.PathLike[str]) -> Cohort:
    """The cohort whose tables :func:`export_cohort` wrote into ``dest`` (Parquet or CSV).

    A Parquet export reloads to the same tables; from CSV, columns the schema does not
    declare come back with the types pandas guesses.

    Raises
    ------
    FileNotFoundError
        If ``dest/tables`` lacks a table.
    """
    folder = Path(dest) / "tables"
    tables = {}
    for name in schema.TABLE_NAMES:
        parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
        if parquet.is_file():
            tables[name] = pd.read_parquet(parquet)
        elif csv.is_file():
            tables[name] = pd.read_csv(csv, keep_default_na=True)
        else:
            raise FileNotFoundError(f"{folder} has no {name}.parquet or {name}.csv; is "
                                    f"{dest} a folder covidimg export wrote?")
    cohort = Cohort.from_tables(tables)
    try:
        dtypes = json.loads((folder / _DTYPES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return cohort
    for name in schema.TABLE_NAMES:
        frame, declared = getattr(cohort, name), set(schema.TABLES[name].names)
        wanted = dtypes.get(name, {}) if isinstance(dtypes, dict) else {}
        casts = {c: t for c, t in wanted.items() if c in frame.columns and c not in declared
                 and t in ("object", "string", "category", "float64", "Int64", "boolean")
                 and str(frame[c].dtype) != t}
        # a category's unused values (a filtered cohort keeps them) as stored
        casts.update({c: tables[name][c].dtype for c in frame.columns
                      if isinstance(frame[c].dtype, pd.CategoricalDtype)
                      and isinstance(tables[name][c].dtype, pd.CategoricalDtype)
                      and frame[c].dtype != tables[name][c].dtype
                      and set(frame[c].cat.categories) <= set(tables[name][c].cat.categories)})
        if casts:
            setattr(cohort, name, frame.astype(casts))
    return cohort
