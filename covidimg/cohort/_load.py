"""Loading source folders: detect each one's source, run its loader, combine the parts.

The only place that calls the loaders (:mod:`covidimg.sources`). Per-source options are checked
against each loader's before anything is read; each loader returns its tables conformed to the
schema, and :meth:`Cohort.concat` validates the combined tables once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import gc
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from covidimg._validation import check_choice
from covidimg.cohort._model import Cohort
from covidimg.cohort._result_cache import cached_load, result_key, store_result
from covidimg.errors import LoadError, SourceDetectionError
from covidimg.registry import SOURCE_NAMES, source_entry
from covidimg.sources import (
    SourceTables,
    check_options,
    description_policy,
    loader,
    loader_options,
    loaders,
    provenance_frame,
    provenance_row,
    raise_if_strict,
    strict_mode,
)
from covidimg.table_paths import redact_credentials

__all__ = ["detect_source", "load"]


def _matches(root: str) -> list[str]:
    """The sources whose loader recognises ``root``'s layout, in registry order."""
    return [name for name, mod in loaders().items() if mod.detect(root)]


def _mismatch(matches: Sequence[str]) -> str:
    """Why a folder matching ``matches`` (not exactly one source) is not loaded as one."""
    return f"matches several sources {list(matches)}" if matches else "matches no source"


def _looked_for() -> str:
    return "\n".join(f"  - {name}: {mod.LOOKS_FOR}" for name, mod in loaders().items())


def _check_folder(root: str) -> None:
    if redact_credentials(root) != root:
        raise SourceDetectionError(
            f"{redact_credentials(root)}: credentials in the URL are not accepted (they would "
            "reach messages and logs); set them in the environment (AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY for s3://) or pass storage_options to the source, e.g. "
            "covidimg.load({'nccid': url}, options={'nccid': {'storage_options': {...}}})")
    if "://" not in root and not os.path.isdir(root):
        raise SourceDetectionError(f"{root} is not a folder; pass the folder a source was "
                                   "downloaded into")


def detect_source(root: str | os.PathLike[str]) -> str:
    """Return the name of the source whose layout ``root`` has.

    A folder holding several sources' folders matches none of them itself:
    :func:`load` loads such a folder's sub-folders, each detected.

    Raises
    ------
    SourceDetectionError
        If no source matches (the message lists what each source looks for) or several do.
    """
    root_s = os.fspath(root)
    _check_folder(root_s)
    matches = _matches(root_s)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SourceDetectionError(
            f"cannot tell which source {root_s} holds. Looked for:\n{_looked_for()}\n"
            "Pass the source explicitly, e.g. covidimg.load({'mhh': path})."
        )
    raise SourceDetectionError(
        f"{root_s} matches several sources {matches}; pass one explicitly, e.g. "
        f"covidimg.load({{{matches[0]!r}: path}})."
    )


def _sources_in(root: str | os.PathLike[str]) -> tuple[list[tuple[str, str]], str | None]:
    """``(source, folder)`` pairs to load for the folder ``root``, and the warning to give.

    A folder matching exactly one source is that source's root. Otherwise (no match, or
    several) each sub-folder matching exactly one source is loaded, and the warning says which
    were found and which were skipped and why; with none, the error lists every sub-folder
    and why it did not match.
    """
    root_s = os.fspath(root)
    _check_folder(root_s)
    matches = _matches(root_s)
    if len(matches) == 1:
        return [(matches[0], root_s)], None
    found: list[tuple[str, str]] = []
    skipped: list[str] = []
    n_files = 0
    if "://" not in root_s:
        try:
            entries = sorted(os.scandir(root_s), key=lambda e: e.name)
        except OSError as exc:
            raise SourceDetectionError(f"{root_s} cannot be listed ({exc.strerror}); check "
                                       "its permissions") from None
        for entry in entries:
            if entry.is_symlink():
                skipped.append(f"{entry.name}/ (a link, not followed)" if entry.is_dir()
                               else f"{entry.name} (a link, not followed)")
            elif not entry.is_dir():
                n_files += 1
            else:
                sub = _matches(entry.path)
                if len(sub) == 1:
                    found.append((sub[0], entry.path))
                else:
                    skipped.append(f"{entry.name}/ ({_mismatch(sub)})")
    if n_files:
        skipped.append(f"{n_files} file{'s' if n_files > 1 else ''} beside the sub-folders")
    itself = f"{root_s} {_mismatch(matches)} itself"
    if not found:
        if matches:
            raise SourceDetectionError(
                f"{itself}, nor does any sub-folder match exactly one"
                f"{' (' + '; '.join(skipped) + ')' if skipped else ''}; pass one explicitly, "
                f"e.g. covidimg.load({{{matches[0]!r}: path}}).")
        folders = (f": it matches no source, nor does any sub-folder ({'; '.join(skipped)})"
                   if skipped else "")
        raise SourceDetectionError(
            f"cannot tell which source {root_s} holds{folders}. Looked for:\n{_looked_for()}\n"
            "Pass the source explicitly, e.g. covidimg.load({'mhh': path})."
        )
    found.sort(key=lambda pair: (SOURCE_NAMES.index(pair[0]), pair[1]))
    loading = ", ".join(f"{os.path.basename(path)}/ ({name})" for name, path in found)
    return found, (f"{itself}; loading its sub-folders that each match one source: {loading}"
                   f"{'. Skipped: ' + '; '.join(skipped) if skipped else ''}. "
                   "Pass {source: folder} to choose the folders yourself.")


def load(
    roots: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]]
    | Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
    strict: bool = False,
    max_member_bytes: int | None = None,
    max_compression_ratio: float | None = None,
    executor: concurrent.futures.Executor | bool | None = None,
    index_cache: bool | str | os.PathLike[str] = True,
    sample_series: bool = True,
    descriptions: str = "drop",
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Cohort:
    """Load one or several sources from their native layouts into one harmonized cohort.

    Parameters
    ----------
    roots
        A folder (its source is detected from the layout), a list of folders, or a mapping
        ``{source: folder}``; NCCID folders may be ``s3://bucket/prefix`` URLs. A folder that
        matches no source itself (or several) but holds sources' folders, such as the output of
        ``covidimg demo DIR``, loads every sub-folder that matches exactly one source; a
        ``UserWarning`` names what was loaded and what was skipped, and why.
    progress
        Show progress bars while files are indexed.
    strict
        ``False`` (default): a bad file or value becomes a finding and the load goes on.
        ``True``: the first finding of severity ``error`` (an unreadable file, an unsafe or
        oversized zip member, a missing column, ...; see ``schema.FINDING_KINDS``) raises
        :class:`~covidimg.sources._engine.ledger.StrictModeError`.
    max_member_bytes
        Largest uncompressed size, in bytes, of a zip member that is read (default 4 GiB);
        larger members are refused with an ``archive_too_large`` finding.
    max_compression_ratio
        Largest compression ratio of a zip member of 1 MiB or more (default 200); higher
        ratios are the mark of a zip bomb and are refused with an ``archive_too_large`` finding.
    executor
        Where DICOM headers are read (MIDRC, TCIA): ``None`` (default) a local process pool
        for large trees, ``False`` this process only, or any
        :class:`concurrent.futures.Executor`, e.g. a Dask cluster's ``Client.get_executor()``
        (or the ``Client`` itself); the same argument as :func:`covidimg.imaging.thumbnails`
        and :meth:`Cohort.export` take (see ``docs/performance.md``).
    index_cache
        The caches of loads: ``True`` (default) under the covidimg cache folder, a folder, or
        ``False`` for none. Two caches live there: the whole result of a load, which a
        re-load of the same unchanged local folders with the same settings opens instead of
        running the loaders (the folders are walked and every entry's size, times, inode and
        mode compared; see ``docs/performance.md``), and the incremental DICOM index, keyed by
        path, size, modification and change time and inode, so a re-load of a changed tree
        reads only the DICOM files that changed.
    sample_series
        Index a CT / MR series folder from its first, middle and last file when its files
        allow it (checked; else every file is read).
    descriptions
        ``"drop"`` (default): the free-text descriptions (DICOM StudyDescription,
        SeriesDescription, ProtocolName; CRDW's exam description in the zip name) are reduced
        to the harmonized ``images.exam`` label and not kept, as DICOM PS3.15's Basic
        Application Level Confidentiality Profile removes them. ``"keep"``: they are also kept
        as text in ``images`` (``study_description``, ``series_description``,
        ``protocol_name``, CRDW's ``exam_description``) -- the opt-in modelled on the profile's
        Clean Descriptions option, for collections whose descriptions you have checked. The
        DICOM index cache never holds them, so a load that keeps them reads every header.
    options
        Options for individual sources' loaders, ``{source: {option: value}}``; a source
        without an entry gets its defaults. The options are:

        ``mhh``
            ``convention``: where a published lab value sits in its interval, ``"floor"``
            (default; ``[v, v + precision)``) or ``"round"`` (``[v - precision/2,
            v + precision/2)``); see :mod:`covidimg.intervals`.
        ``nccid``
            ``site_units``: the site unit table, ``{SubmittingCentre: {analyte: unit}}``, for
            lab values written without a unit (default
            :data:`covidimg.sources.nccid.clean.SITE_UNITS`, NHSX's table of six trusts);
            ``storage_options``: passed to fsspec for ``s3://`` roots, e.g. ``{"anon": True}``;
            ``as_of``: an ISO date, to load the clinical files as they stood on that day.
        ``idc``
            ``clinical``: TCIA clinical sheets (a path or a list; a folder is searched) joined
            onto the IDC patients as the ``tcia`` source joins them onto an NBIA tree.
        ``crdw``, ``midrc``, ``tcia``
            none.

        Every option is checked before any source is read.

    Returns
    -------
    Cohort
        The combined cohort; ``cohort.files`` accounts for every file found under each root and
        ``cohort.findings`` for every data-quality problem met.

    Raises
    ------
    SourceDetectionError
        If a folder's source cannot be told from its layout, nor the source of any of its
        sub-folders (the message lists each sub-folder and why it did not match).
    ValueError
        If ``descriptions`` is not ``"drop"`` or ``"keep"``, ``roots`` or ``options`` names an
        unknown source, ``options`` names a source that
        is not loaded, or an option the source's loader does not accept (the message lists
        the ones it does).
    LoadError
        If a root does not exist or cannot be loaded at all (e.g. its main table is unusable);
        in strict mode, :class:`~covidimg.errors.StrictModeError` (a ``LoadError``) on
        the first error finding.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load("downloads/mhh")                        # doctest: +SKIP
    >>> cohort = ci.load({"mhh": "downloads/mhh", "crdw": "/data/crdw"})  # doctest: +SKIP
    >>> cohort = ci.load({"mhh": "downloads/mhh", "nccid": "s3://bucket/training"},
    ...                  options={"mhh": {"convention": "round"},
    ...                           "nccid": {"storage_options": {"anon": True}}})  # doctest: +SKIP
    """
    settings = {"options": options, "descriptions": descriptions, "strict": strict,
                "max_member_bytes": max_member_bytes,
                "max_compression_ratio": max_compression_ratio, "sample_series": sample_series}
    cache = None if index_cache is True else index_cache
    # a load that keeps descriptions is never cached: no cache holds them
    cached = index_cache is not False and descriptions != "keep"
    if isinstance(roots, Mapping):
        # A loader whose roots are not folders (IDC: collection ids) writes its root string
        # from what the user gave (``root_of``); a folder root is its path (no loader imported:
        # a kept result of the load needs none).
        pairs = [(str(name), os.fspath(root) if source_entry(str(name)).folder_root
                  else loader(str(name)).root_of(root)) for name, root in roots.items()]
        keyed, folders = pairs, []
    else:
        # Folders whose sources are detected: the key is made of the folders themselves, so
        # that a kept result is found without detecting them (which imports every loader).
        folders = [os.fspath(root) for root in
                   ([roots] if isinstance(roots, str | os.PathLike) else roots)]
        keyed = [("detected", folder) for folder in folders]
        pairs = []
    with _objects_so_far_left_out_of_gc():
        key = result_key(keyed, settings) if cached else None
        if key is not None and (kept := cached_load(key, cache)) is not None:
            cohort, notes = kept
            for note in notes:  # what the first load said about the folders, said again
                warnings.warn(note, UserWarning, stacklevel=2)
            return cohort
        notes = []
        for folder in folders:
            found, note = _sources_in(folder)
            pairs.extend(found)
            if note is not None:
                warnings.warn(note, UserWarning, stacklevel=2)   # at the caller's line
                notes.append(note)
        per_source = _check_load_options(options, [name for name, _ in pairs])
        # The DICOM readers (pydicom) are imported only when loaders run, not for a kept result.
        from covidimg.sources import archive_limits, index_options
        parts = []
        with description_policy(descriptions), \
                archive_limits(max_member_bytes=max_member_bytes,
                               max_ratio=max_compression_ratio), \
                strict_mode(strict), \
                index_options(executor=executor, cache=index_cache, sample_series=sample_series):
            for name, root in pairs:
                if "://" not in root and not os.path.exists(root):
                    raise LoadError(f"{name}: {root} does not exist; pass the folder the source "
                                    "was downloaded into")
                part = loader(name).load(root, progress=progress, **per_source.get(name, {}))
                if strict:  # a finding recorded where the loader caught the error still counts
                    for row in part.findings.to_dict("records"):
                        raise_if_strict(row)
                parts.append(_with_provenance(part, root, per_source.get(name, {})))
        cohort = Cohort.concat(parts)
        if key is not None:
            store_result(key, cohort, cache, notes)
        return cohort


@contextlib.contextmanager
def _objects_so_far_left_out_of_gc() -> Iterator[None]:
    """Keep the objects that exist before a load (imported modules, the user's own) out of the
    garbage collector's full collections during it: ``gc.freeze()``, then ``gc.unfreeze()``,
    which hands them back to the oldest generation. A first load in a fresh process otherwise
    spends 40-200 ms (``benchmarks/load_vs_peers.py``) in one or two full collections
    traversing the ~90,000 objects pandas, pyarrow and pydicom left behind. Nothing is lost:
    garbage among them is collected after the load. Left alone when something else froze
    objects already."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _with_provenance(part: SourceTables, root: str, options: Mapping[str, Any]) -> SourceTables:
    """``part`` with a ``provenance`` row from the registry when its loader wrote none."""
    if len(part.provenance):
        return part
    row = provenance_row(part.source, loaded_from=root, options=options)
    return dataclasses.replace(part, provenance=provenance_frame([row]))


def _check_load_options(options: Mapping[str, Mapping[str, Any]] | None,
                        loading: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``load``'s ``options`` argument checked against the registry and each loader's options.

    Every source named must be a registered source that is being loaded, and every option one
    its loader accepts, so a typo fails before any source is read rather than after hours.
    """
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"options={options!r}: expected a mapping {{source: {{option: "
                         f"value}}}}, e.g. {{'mhh': {{'convention': 'round'}}}}")
    checked: dict[str, dict[str, Any]] = {}
    for name, given in options.items():
        check_choice(name, SOURCE_NAMES, "options source",
                     hint="Each key of options names a source.")
        if name not in loading:
            raise ValueError(f"options: source {name!r} is not being loaded (loading "
                             f"{list(dict.fromkeys(loading))}); remove its options or add "
                             "its folder")
        if not isinstance(given, Mapping):
            raise ValueError(f"options[{name!r}]={given!r}: expected a mapping of option "
                             f"names to values, e.g. {{'{name}': {{option: value}}}}")
        check_options(name, given, loader_options(name))
        checked[name] = dict(given)
    return checked
