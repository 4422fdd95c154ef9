"""The harmonized cohort: its tables, validation, combination and description."""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covidimg import schema
from covidimg._validation import LabMatch, check_choice
from covidimg.cohort._arrays import OPENED_FROM, CohortArrays
from covidimg.cohort._citations import CitationStyle, citations
from covidimg.cohort._deferred import _Deferred, _table_property
from covidimg.cohort._links import (
    DedupeKeep,
    duplicate_images,
    hash_links,
    link_findings,
    links_from_findings,
    patient_groups,
    uid_links,
)
from covidimg.cohort._query import Criteria, Selection, select
from covidimg.cohort._split import assign_splits
from covidimg.cohort._storage import LAZY_TABLES, open_tables, save_tables
from covidimg.sources import SourceTables

__all__ = ["Cohort"]

#: Tables whose rows need not belong to a patient or an image (the column naming the owner, or
#: ``None`` when no row has one): parts filtered from one cohort each hold the rows without one.
_SHARED_ROW_TABLES: dict[str, str | None] = {"files": "image_uid", "findings": "patient_uid",
                                             "provenance": None}
#: Where a cohort keeps its :class:`CohortArrays` (in its ``__dict__``, beside the tables).
_ARRAYS = "_kept_arrays"
#: What :meth:`Cohort.links` links by.
_LINK_BY = ("uid", "pixels")


def _above(module: str) -> Any:
    """A module of a layer above ``cohort`` (``imaging``, ``export``), imported by name when
    a convenience method needs it: :meth:`Cohort.export` and ``Cohort.links(by="pixels")``
    are the two, documented in ``docs/dev/architecture.md``; nothing else in ``cohort``
    reaches up."""
    return importlib.import_module(f"covidimg.{module}")


@dataclass(eq=False)
class Cohort:
    """A harmonized cohort: nine pandas DataFrames that follow :mod:`covidimg.schema`.

    Build one with :func:`covidimg.load`, :func:`covidimg.load_demo` or :meth:`Cohort.open`;
    combine sources with :meth:`Cohort.concat`.

    Attributes
    ----------
    patients, images, events, labs, files, findings, observations, annotations, provenance
        The tables of the contract (see ``docs/data-dictionary.md``). A cohort opened with
        :meth:`open` reads ``files`` and ``findings`` when first accessed (see
        :meth:`unread_tables`); to the user they are DataFrames like the others.

    Notes
    -----
    :meth:`filter` and :meth:`select` keep the tables' row positions and codes with the cohort
    (computed once, on first use), so filtering again is fast. Assigning a table
    (``cohort.images = new_frame``) drops them; change a table by assigning a new DataFrame,
    not in place. Two cohorts compare equal only when they are the same object (compare
    tables with :func:`pandas.testing.assert_frame_equal`).

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.Cohort()
    >>> cohort.images.shape[0]
    0
    """

    patients: pd.DataFrame = field(default_factory=lambda: schema.empty("patients"))
    images: pd.DataFrame = field(default_factory=lambda: schema.empty("images"))
    events: pd.DataFrame = field(default_factory=lambda: schema.empty("events"))
    labs: pd.DataFrame = field(default_factory=lambda: schema.empty("labs"))
    files: pd.DataFrame = field(default_factory=lambda: schema.empty("files"))
    findings: pd.DataFrame = field(default_factory=lambda: schema.empty("findings"))
    observations: pd.DataFrame = field(default_factory=lambda: schema.empty("observations"))
    annotations: pd.DataFrame = field(default_factory=lambda: schema.empty("annotations"))
    provenance: pd.DataFrame = field(default_factory=lambda: schema.empty("provenance"))

    # ------------------------------------------------------------------ construction
    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables as a mapping of table name to DataFrame (reading unread ones)."""
        return {name: getattr(self, name) for name in schema.TABLE_NAMES}

    def unread_tables(self) -> list[str]:
        """Names of the tables not read yet: :meth:`open` defers :data:`LAZY_TABLES`.

        A deferred table is read from its saved file the first time it is accessed (as an
        attribute, through :meth:`tables`, :meth:`save`, :meth:`validate` ...), then kept. A
        cohort made by :meth:`filter` from one with unread tables defers them too.

        Examples
        --------
        >>> import covidimg as ci, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = ci.Cohort().save(folder)
        >>> cohort = ci.Cohort.open(folder)
        >>> cohort.unread_tables()
        ['files', 'findings', 'observations', 'annotations']
        >>> cohort.files.shape[0], cohort.unread_tables()
        (0, ['findings', 'observations', 'annotations'])
        """
        return [name for name in schema.TABLE_NAMES
                if isinstance(value := self.__dict__.get(name), _Deferred) and not value.done]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (and copy) the tables themselves, reading deferred ones first (the kept
        row positions are not pickled: they are rebuilt on first use)."""
        state = {**self.__dict__, **self.tables()}
        state.pop(_ARRAYS, None)
        return state

    def _rows(self, name: str) -> int:
        """Row count of a table, without reading it when its file's footer says."""
        value = self.__dict__.get(name)
        if isinstance(value, _Deferred) and not value.done and value.rows is not None:
            return value.rows
        return len(getattr(self, name))

    def validate(self) -> Cohort:
        """Check every table against the schema and the references between tables.

        Every column the schema declares with ``references`` (and not ``may_dangle``) must
        name rows that exist: ``images.patient_uid`` a patient of ``patients``,
        ``labs.image_uid`` an image of ``images``, ...

        Raises
        ------
        covidimg.schema.SchemaError
            Naming the table, column and values that break the contract.
        """
        for name, frame in self.tables().items():
            schema.validate(name, frame)
        for table in schema.TABLES.values():
            for col in table.references:
                if col.may_dangle:
                    continue
                target, key = col.referenced  # type: ignore[misc]
                dangling = _dangling(getattr(self, table.name)[col.name],
                                     getattr(self, target)[key])
                if dangling:
                    raise schema.SchemaError(
                        f"{table.name}.{col.name} refers to {target} not in the {target} "
                        f"table: {dangling[:10]}; drop those {table.name} rows or add the "
                        f"missing {target}")
        return self

    @classmethod
    def from_tables(cls, tables: Mapping[str, pd.DataFrame]) -> Cohort:
        """Build a cohort from a mapping of table name to DataFrame, conforming each table."""
        unknown = set(tables) - set(schema.TABLE_NAMES)
        if unknown:
            raise schema.SchemaError(
                f"unknown tables {sorted(unknown)}; expected {list(schema.TABLE_NAMES)}"
            )
        out = {name: schema.conform(name, tables.get(name, schema.empty(name)))
               for name in schema.TABLE_NAMES}
        return cls(**out).validate()

    @classmethod
    def concat(cls, parts: Iterable[Cohort | SourceTables]) -> Cohort:
        """Combine cohorts or source tables into one cohort.

        ``patient_uid`` and ``image_uid`` carry their source as a prefix, so they stay unique;
        a uid that still appears twice raises :class:`~covidimg.schema.SchemaError`.

        Parts filtered from one cohort share the rows that belong to no patient or image (a
        source's ``data.csv`` in ``files``, its source-level ``findings``, the ``provenance``
        rows): such a row equal in every column to one of an earlier part is kept once.

        Examples
        --------
        >>> import covidimg as ci
        >>> cohort = ci.load_demo(n_patients=8, sources=["mhh", "nccid"])
        >>> parts = [cohort.filter(source="mhh"), cohort.filter(source="nccid")]
        >>> ci.Cohort.concat(parts).files.equals(cohort.filter(source=["mhh", "nccid"]).files)
        True
        """
        parts = list(parts)
        if not parts:
            return cls()
        out = {}
        for name in schema.TABLE_NAMES:
            frames = [part.tables()[name] for part in parts]
            if name in _SHARED_ROW_TABLES:
                frames = _without_earlier_rows(frames, _SHARED_ROW_TABLES[name])
            frames = [f for f in frames if len(f)] or [schema.empty(name)]
            out[name] = schema.conform(name, frames[0] if len(frames) == 1 else
                                       pd.concat(_common_categories(frames), ignore_index=True))
        return cls(**out).validate()

    # ------------------------------------------------------------------ description
    def __repr__(self) -> str:
        sources = ", ".join(sorted(self.patients["source"].dropna().astype(str).unique()))
        return (f"<Cohort: {len(self.patients)} patients, {len(self.images)} images, "
                f"{len(self.labs)} lab values, {self._rows('findings')} findings"
                f"{'; sources ' + sources if sources else ''}>")

    def summary(self) -> pd.DataFrame:
        """Counts per source: patients, images, lab values, files by status, findings,
        observations and annotations.

        Examples
        --------
        >>> import covidimg as ci
        >>> ci.Cohort().summary().columns[:3].tolist()
        ['patients', 'images', 'lab_values']
        """
        def count(frame: pd.DataFrame) -> pd.Series:
            return frame.groupby(frame["source"].astype(str)).size()

        parts = {
            "patients": count(self.patients),
            "images": count(self.images),
            "lab_values": count(self.labs.merge(self.patients[["patient_uid", "source"]],
                                                on="patient_uid")),
        }
        for status in schema.FILE_STATUS:
            parts[f"files_{status}"] = count(self.files[self.files["status"] == status])
        parts["findings"] = count(self.findings)
        parts["observations"] = count(self.observations)
        parts["annotations"] = count(self.annotations)
        table = pd.DataFrame(parts).fillna(0).astype(int)
        table.index.name = "source"
        return table

    def findings_summary(self) -> pd.DataFrame:
        """Number of findings per source and kind, with one example detail each."""
        if not len(self.findings):
            return pd.DataFrame(columns=["source", "kind", "count", "example"])
        grouped = self.findings.assign(source=self.findings["source"].astype(str)).groupby(
            ["source", "kind"], observed=True)
        return (grouped.agg(count=("detail", "size"), example=("detail", "first"))
                .reset_index().sort_values(["source", "count"], ascending=[True, False],
                                           ignore_index=True))

    # ------------------------------------------------------------------ filtering
    def filter(
        self,
        *,
        source: str | Sequence[str] | None = None,
        patient_uid: str | Sequence[str] | None = None,
        sex: str | Sequence[str] | None = None,
        age: tuple[float | None, float | None] | None = None,
        covid_status: str | Sequence[str] | None = None,
        icu: bool | None = None,
        died: bool | None = None,
        site: str | Sequence[str] | None = None,
        modality: str | Sequence[str] | None = None,
        view: str | Sequence[str] | None = None,
        exam: str | Sequence[str] | None = None,
        pre_encounter: bool | None = None,
        day: tuple[float | None, float | None] | None = None,
        labs: Mapping[str, tuple[float | None, float | None]] | None = None,
        lab_match: LabMatch = "overlap",
        split: str | Sequence[str] | None = None,
        annotation: str | Sequence[str] | None = None,
        severity: tuple[float | None, float | None]
        | Mapping[str, tuple[float | None, float | None]] | None = None,
        observations: Mapping[str, str | Sequence[str]] | None = None,
    ) -> Cohort:
        """Return a new cohort restricted to the patients and images that match every criterion.

        Patient criteria (``source``, ``patient_uid``, ``sex``, ``age``, ``covid_status``,
        ``icu``, ``died``, ``site``, ``labs``, ``annotation``, ``severity``, ``split``,
        ``observations``) select
        patients; image criteria (``modality``, ``view``, ``exam``, ``day``, ``pre_encounter``)
        select images, and when any is given only patients with at least one matching image are
        kept. A list means "any of". The other tables follow: events, labs, files, findings,
        observations and annotations of the patients (and images) that remain, and the
        provenance of their sources.

        Parameters
        ----------
        age
            ``(min, max)`` in years, either end ``None``; a patient matches when the age band
            overlaps the range (redacted ages never match an age criterion).
        exam
            Harmonized exam labels (``images.exam``: ``"CXR AP PORTABLE"``, ``"CTA CHEST"``,
            ...).
        pre_encounter
            ``True``: only exams taken before the COVID encounter (CRDW's baseline exams);
            ``False``: only exams from the encounter on. Images without the flag (other
            sources) match neither.
        day
            ``(first, last)`` exam-day window, inclusive.
        labs
            ``{analyte: (low, high)}``; a patient matches when at least one measurement of each
            analyte matches. Measurements are intervals ``[lower, upper)``.
        lab_match
            ``"overlap"`` (default): the measurement's interval overlaps ``[low, high]``, i.e. the
            true value may lie in range; ``"within"``: the interval lies entirely inside
            ``[low, high]``, i.e. the true value certainly does.
        split
            ``"train"``, ``"validation"`` or ``"test"`` (or a list): patients on that side of
            the split :meth:`split` made (``patients.split``); patients not split never match.
        annotation
            An annotation label (or a list: any of), e.g. ``"Typical Appearance"``: a patient
            matches when one of their ``annotations`` rows has that label (any scheme, any
            reader, study- or image-level).
        severity
            ``(low, high)``, either end ``None``: a patient matches when one of their score
            annotations lies in ``[low, high]`` (inclusive). Scores of different schemes have
            different scales (NCCID CXR severity 1-3, RALE 0-48, mRALE 0-24), so name the
            scheme with ``{scheme: (low, high)}`` (each scheme must match, like ``labs``), e.g.
            ``{"nccid_cxr_severity": (2, None)}``.
        observations
            ``{field: value or values}`` over ``observations`` (harmonized fields such as
            ``smoking``, ``ethnicity``, ``comorbidity_diabetes``, or ``<source>:<key>``): a
            patient matches when they have an observation of each field whose ``value`` is one
            of those given, e.g. ``{"smoking": ["current", "former"]}``.

        Examples
        --------
        >>> import covidimg as ci
        >>> cohort = ci.load_demo()                                  # doctest: +SKIP
        >>> sub = cohort.filter(sex="F", modality=["CR", "DX"],
        ...                     labs={"crp": (100, None)})           # doctest: +SKIP
        >>> typical = cohort.filter(annotation="Typical Appearance")  # doctest: +SKIP
        >>> moderate = cohort.filter(severity={"nccid_cxr_severity": (2, None)})  # doctest: +SKIP
        """
        return self.select(Criteria(
            source=source, patient_uid=patient_uid, sex=sex, age=age,
            covid_status=covid_status, icu=icu, died=died, site=site, modality=modality,
            view=view, exam=exam, pre_encounter=pre_encounter, day=day, labs=labs,
            lab_match=lab_match, split=split, annotation=annotation,
            severity=severity, observations=observations)).subset()

    def select(self, criteria: Criteria | None = None, /, **kwargs: Any) -> Selection:
        """The rows that match ``criteria`` (or the keywords of :meth:`filter`), as masks.

        A :class:`~covidimg.cohort.Selection` holds which patients and images are kept;
        its ``subset()`` is the cohort :meth:`filter` returns, and the analyses of
        :mod:`covidimg.stats` take it in place of a cohort without building its tables. With
        no criteria it is the selection of everything.

        Examples
        --------
        >>> import covidimg as ci
        >>> ci.Cohort().select(sex="F").n_patients
        0
        """
        if criteria is None:
            criteria = Criteria(**kwargs)
        elif kwargs:
            raise TypeError("select: pass a Criteria or keywords, not both")
        return select(self._arrays(), criteria)

    def _arrays(self) -> CohortArrays:
        """The row positions and codes of this cohort, built on first use and kept."""
        arrays = self.__dict__.get(_ARRAYS)
        if arrays is None or not arrays.matches(self):
            arrays = self.__dict__[_ARRAYS] = CohortArrays(self)
        return arrays

    # ------------------------------------------------------------------ citing
    def citations(self, style: CitationStyle = "text") -> str:
        """What to cite for this cohort: one reference per collection or source, from the
        ``provenance`` table, with its licence (offline).

        Parameters
        ----------
        style
            ``"text"`` (one reference per line; a TCIA / IDC collection's full citation where
            IDC's collections index knows its DOI) or ``"bibtex"`` (``@misc`` entries).

        Examples
        --------
        >>> import covidimg as ci
        >>> print(ci.load({"idc": ["covid_19_ar"]}).citations())   # doctest: +SKIP
        Desai, S., Baghal, A., ... https://doi.org/10.7937/TCIA.2020.PY71-5978 Licence: CC BY 4.0.
        """
        return citations(self.provenance, style)

    # ------------------------------------------------------------------ remote images
    def download(self, dest: str | os.PathLike[str] | None = None, *,
                 endpoint_url: str | None = None, progress: bool = True) -> Cohort:
        """Download the pixels of the cohort's remote images (IDC series) and point at them.

        Filter first: every image whose ``path`` is a remote series (``s3://...``, an IDC
        row) is fetched, from IDC's public bucket, without credentials. Resumable: files
        already complete are not fetched again. See :func:`covidimg.sources.idc.download`.

        Parameters
        ----------
        dest
            Folder to download into (default: the ``idc`` folder of covidimg's cache).
        endpoint_url
            S3 endpoint (default ``$COVIDIMG_IDC_ENDPOINT``, else AWS).
        progress
            Show a progress bar.

        Returns
        -------
        Cohort
            The same tables, with the downloaded rows' ``images.path`` on disk.

        Raises
        ------
        covidimg.errors.DatasetUnavailableError
            When some series could not be fetched (the others are kept; call again to resume).

        Examples
        --------
        >>> import covidimg as ci
        >>> cohort = ci.load({"idc": ["midrc_ricord_1c"]})          # doctest: +SKIP
        >>> local = cohort.filter(modality="CR").download()          # doctest: +SKIP
        """
        from covidimg.sources import idc

        paths = idc.download(self.images, dest, endpoint_url=endpoint_url, progress=progress)
        return dataclasses.replace(self, images=idc.apply_paths(self.images, paths))

    # ------------------------------------------------------------------ identity and splits
    def links(self, *, by: str | Sequence[str] = "uid", max_distance: float = 0.04,
              n_jobs: int | None = None, progress: bool = False) -> pd.DataFrame:
        """Images and patients of this cohort that are the same across sources and releases.

        Parameters
        ----------
        by
            ``"uid"``: equal DICOM UIDs (a radiograph's SOP Instance UID, a series' Series
            Instance UID, and for patients a shared Study Instance UID), e.g. RICORD in TCIA and
            in MIDRC; ``"pixels"``: a perceptual hash of each radiograph's pixels
            (:func:`covidimg.imaging.image_hashes`, through the thumbnails' pipeline and cache)
            near-equal, for re-encoded copies such as Hannover PNGs republished elsewhere. Pass
            both as a list. The links already recorded as findings (:meth:`with_links`) are
            always included.
        max_distance
            With ``"pixels"``: the largest fraction of differing hash bits (of 256) that still
            counts as the same image. The default 0.04 (10 bits) holds a copy rescaled and
            re-encoded as 8-bit PNG (8 bits measured on the demo's planted copy) and stays
            below the closest distinct demo radiographs (16 bits; the procedural phantoms are
            much more alike than real films).
        n_jobs, progress
            With ``"pixels"``: the size of the process pool reading the images (see
            :func:`covidimg.imaging.thumbnails`) and a progress bar.

        Returns
        -------
        pandas.DataFrame
            One row per linked pair: ``kind`` (``same_image_as`` / ``same_patient_as``),
            ``image_uid``, ``other_image_uid``, ``patient_uid``, ``other_patient_uid``,
            ``source``, ``other_source``, ``evidence`` (the equal UID, or the hash distance),
            ``distance`` (0 for UIDs, the fraction of differing bits for pixels).

        Examples
        --------
        >>> import covidimg as ci
        >>> ci.Cohort().links().columns.tolist()[:3]
        ['kind', 'image_uid', 'other_image_uid']
        """
        chosen = (by,) if isinstance(by, str) else tuple(by)
        for name in chosen:
            check_choice(name, _LINK_BY, "by")
        parts = [links_from_findings(self.findings, self.images)]
        if "uid" in chosen:
            parts.append(uid_links(self.images))
        if "pixels" in chosen:
            hashes = _above("imaging").image_hashes(self.images, n_jobs=n_jobs,
                                                    progress=progress)
            parts.append(hash_links(self.images, hashes, max_distance=max_distance))
        found = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
        key = ["kind", "image_uid", "other_image_uid", "patient_uid", "other_patient_uid"]
        # a pair found again (a finding and a fresh search) keeps its first row
        return found.drop_duplicates(subset=key, ignore_index=True)

    def with_links(self, links: pd.DataFrame | None = None, **kwargs: Any) -> Cohort:
        """A copy of the cohort whose ``findings`` record ``links`` (default
        ``self.links(**kwargs)``) as ``same_image_as`` / ``same_patient_as`` findings, one per
        side of each pair, the detail naming the other image or patient and the evidence.

        The findings are saved with the cohort, so links found once by pixels travel with it
        and :meth:`split` keeps the linked patients on one side.

        Examples
        --------
        >>> import covidimg as ci
        >>> ci.Cohort().with_links().findings.shape[0]
        0
        """
        if links is None:
            links = self.links(**kwargs)
        elif kwargs:
            raise TypeError("with_links: pass links or the keywords of links(), not both")
        new = link_findings(links)
        known = self.findings
        if len(known):
            seen = set(zip(known["kind"].astype(str), known["detail"].astype(str),
                           known["image_uid"].astype(str), known["patient_uid"].astype(str),
                           strict=True))
            fresh = [(k, d, i, p) not in seen for k, d, i, p in zip(
                new["kind"].astype(str), new["detail"].astype(str), new["image_uid"].astype(str),
                new["patient_uid"].astype(str), strict=True)]
            new = new[fresh]
        out = self._copy()
        out.findings = schema.conform("findings", pd.concat(
            _common_categories([known, new]), ignore_index=True)) if len(new) else known
        return out

    def dedupe(self, *, keep: DedupeKeep = "first", prefer: Sequence[str] | None = None,
               links: pd.DataFrame | None = None) -> Cohort:
        """A copy of the cohort with one image of each group of copies (``same_image_as``).

        Parameters
        ----------
        keep
            The rule: ``"first"`` keeps the copy from the source that comes first in
            ``prefer`` (ties: the smallest ``image_uid``); ``"largest"`` keeps the copy with the
            most pixels (rows x columns x instances), ties as ``"first"``.
        prefer
            Source order, e.g. ``["tcia", "midrc"]``; default the registry's order. Sources
            not named follow in that order.
        links
            The link table to use; default :meth:`links` (by UID, plus links recorded as
            findings).

        Returns
        -------
        Cohort
            Every patient kept; each dropped copy's image row goes, with the rows that name it
            (its labs, files); a ``duplicate_image`` finding names each dropped copy and the
            image kept instead.

        Examples
        --------
        >>> import covidimg as ci
        >>> len(ci.Cohort().dedupe().images)
        0
        """
        links = self.links() if links is None else links
        dropped = duplicate_images(self.images, links, keep=keep, prefer=prefer)
        if not len(dropped):
            return self._copy()
        arrays = self._arrays()
        images = ~self.images["image_uid"].isin(dropped["image_uid"]).to_numpy(dtype=bool)
        out = Selection(arrays, np.ones(arrays.n_patients, dtype=bool), images).subset()
        owner = self.images.set_index("image_uid")
        notes = pd.DataFrame({
            "kind": "duplicate_image",
            "source": owner.loc[dropped["image_uid"], "source"].astype(str).to_numpy(),
            "patient_uid": owner.loc[dropped["image_uid"], "patient_uid"].to_numpy(),
            "image_uid": dropped["image_uid"].to_numpy(), "path": None,
            "detail": [f"copy of {kept} dropped by dedupe(keep={keep!r})"
                       for kept in dropped["kept"]]})
        out.findings = schema.conform("findings", pd.concat(
            _common_categories([out.findings, schema.conform("findings", notes)]),
            ignore_index=True))
        return out

    def split(self, *, test: float = 0.2, validation: float = 0.0, by: str = "patient",
              stratify: str | Sequence[str] | None = None, seed: int = 0,
              links: pd.DataFrame | None = None, keep_existing: bool = True) -> Cohort:
        """A copy of the cohort with a reproducible train/validation/test split by patient.

        Each patient's side is in ``patients.split``; filter on it with
        ``cohort.filter(split="test")``. The rule (``covidimg/cohort/_split.py``): linked
        patients form one group; each group gets a number in [0, 1) from SHA-512 of the seed
        and its smallest patient uid (as NCCID's warehouse splits on ``sha512(pid) % 100``), so
        the split is the same on every machine and run, whatever ``PYTHONHASHSEED`` is.

        Parameters
        ----------
        test, validation
            Fractions of patients on those sides; the rest is ``train``.
        by
            ``"patient"`` (the only unit: every image of a patient is on its side).
        stratify
            ``patients`` columns, e.g. ``["source", "covid_status"]``. Without it the number
            alone decides (number < test: test, < test + validation: validation), so a
            patient never changes side when patients are added, and every subgroup gets the
            fractions approximately (binomially: 20 +- 4 test patients of 100 at 0.2). With
            it, each stratum (the values of a group's first patient) is dealt in the order of
            the numbers, each group to the side furthest below its fraction so far: each
            stratum holds the fractions within one group.
        seed
            Another seed gives another split.
        links
            Link table (:meth:`links`) whose linked patients share a side; default the links
            by UID plus the links recorded as findings (:meth:`with_links`).
        keep_existing
            Patients who already have a side (``patients.split`` from an earlier split, kept
            by :meth:`save`, :meth:`filter` and :meth:`concat`) keep it and count for their
            stratum; the others are assigned. So a grown cohort that carries its earlier
            split is split without moving anyone, stratified or not. ``False`` splits afresh.

        Examples
        --------
        >>> import covidimg as ci
        >>> cohort = ci.load_demo(n_patients=8, sources=["mhh"]).split(test=0.25, seed=1)
        >>> sorted(cohort.patients["split"].dropna().unique())
        ['test', 'train']
        >>> len(cohort.filter(split="test").patients) < len(cohort.patients)
        True
        """
        check_choice(by, ("patient",), "by")
        links = self.links() if links is None else links
        groups = patient_groups(self.patients["patient_uid"].astype(str).tolist(), links)
        sides = assign_splits(self.patients, groups, test=test, validation=validation,
                              seed=seed, stratify=stratify, keep_existing=keep_existing)
        out = self._copy()
        out.patients = schema.conform("patients", self.patients.assign(split=sides))
        return out

    def export(self, dest: str | os.PathLike[str], **options: Any) -> Path:
        """Write the cohort for use elsewhere: tables, an image table, images, manifests and
        a README naming licences and citations.

        The same as :func:`covidimg.export.export_cohort` (see it for ``options``:
        ``format``, ``images``, ``size``, ``window``, ``labels``, ``n_jobs``, ...).

        Examples
        --------
        >>> import covidimg as ci, tempfile
        >>> folder = ci.Cohort().export(tempfile.mkdtemp())
        >>> sorted(p.name for p in folder.iterdir())[:3]
        ['README.md', 'data-dictionary.md', 'export.json']
        """
        return _above("export").export_cohort(self, dest, **options)

    def _copy(self) -> Cohort:
        """A new cohort holding the same tables (read ones shared, deferred ones deferred)."""
        return type(self)(**{name: self.__dict__[name] for name in schema.TABLE_NAMES})

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Save the cohort as Parquet files in ``directory``, atomically.

        The tables go into a fresh sub-folder; only when every table is written does
        ``manifest.json`` (replaced with :func:`os.replace`) point to it. A crash mid-save leaves
        the previous cohort, or none, but never a half-written one that opens.

        Storage is compact: categorical columns are stored dictionary-encoded, whole-number
        columns in the narrowest integer type that holds them (see
        ``_storage_frame``), and :meth:`open` restores the schema's dtypes.

        Examples
        --------
        >>> import covidimg as ci, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = ci.Cohort().save(folder)
        >>> ci.Cohort.open(folder).images.shape[0]
        0
        """
        return save_tables(self.tables(), directory)

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *,
             lazy: Iterable[str] = LAZY_TABLES) -> Cohort:
        """Open a cohort saved with :meth:`save`.

        Tables are read with pyarrow (multi-threaded) straight into the
        schema's dtypes: strings stay Arrow-backed, dictionary columns become categoricals
        without passing through Python objects. A table whose stored types do not match the
        schema (an older save) goes through :func:`covidimg.schema.conform`. The loaders' extra
        text columns (not in the schema) with few distinct values (at most half their
        non-missing values) open as categoricals; the others as strings.

        Parameters
        ----------
        directory
            The folder given to :meth:`save`.
        lazy
            Tables read on first access instead of now (default :data:`LAZY_TABLES`:
            the loaders' provenance, the observations and the annotations; see
            :meth:`unread_tables`). Their files are opened (and their row counts checked)
            now, so a later save over ``directory`` does not change what they read. Pass
            ``()`` to read everything now.

        Raises
        ------
        CohortFileError
            If the folder has no manifest, the manifest is of an unknown format, or a table
            file is missing, unreadable, its row count differs from the manifest's, or it
            holds a value the schema refuses (outside the allowed values or pattern, missing
            where not nullable). A deferred table whose data is damaged raises it when first
            accessed; a key repeated in ``patients`` or ``images``, or a reference naming a
            row that does not exist, raises it when the relation is first used (a filter,
            the dashboard, :meth:`select`), which keeps opening as fast as reading the files.
        ValueError
            If ``lazy`` names a table that does not exist.

        Examples
        --------
        >>> import covidimg as ci, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = ci.Cohort().save(folder)
        >>> ci.Cohort.open(folder, lazy=()).unread_tables()
        []
        """
        cohort = cls(**open_tables(directory, lazy))
        cohort.__dict__[OPENED_FROM] = os.fspath(directory)
        return cohort


def _table_attribute(name: str) -> property:
    """Table ``name``'s attribute; assigning it drops the cohort's kept row positions."""
    table = _table_property(name)

    def set(self: Cohort, value: pd.DataFrame | _Deferred) -> None:
        self.__dict__.pop(_ARRAYS, None)
        assert table.fset is not None
        table.fset(self, value)

    return property(table.fget, set, doc=table.__doc__)


for _name in schema.TABLE_NAMES:
    setattr(Cohort, _name, _table_attribute(_name))


def _without_earlier_rows(frames: list[pd.DataFrame], owner: str | None) -> list[pd.DataFrame]:
    """Drop from each frame the rows without an ``owner`` (every row, when ``owner`` is
    ``None``) that equal, in every column, a row of an earlier frame.

    Rows with an owner are never shared by parts (their keys would clash); rows repeated
    within one frame are kept: only copies across parts are dropped.
    """
    seen: set[int] = set()
    out = []
    for position, frame in enumerate(frames):
        last = position == len(frames) - 1
        if not len(frame) or (last and not seen):   # nothing earlier to compare with
            ownerless = np.empty(0, dtype=np.intp)
        elif owner is None:
            ownerless = np.arange(len(frame))
        else:
            ownerless = np.flatnonzero(frame[owner].isna().to_numpy(dtype=bool))
        if not len(ownerless):
            out.append(frame)
            continue
        hashes = pd.util.hash_pandas_object(frame.iloc[ownerless], index=False).to_numpy()
        if seen:
            repeated = ownerless[np.isin(hashes, np.fromiter(seen, np.uint64, len(seen)))]
            frame = frame.drop(frame.index[repeated]) if len(repeated) else frame
        out.append(frame)
        if not last:    # the last part's rows are compared with no later part
            seen.update(hashes.tolist())
    return out


def _dangling(references: pd.Series, keys: pd.Series) -> list[str]:
    """The distinct non-missing ``references`` that are not among ``keys``, sorted."""
    try:  # in Arrow: pandas' isin on Arrow strings makes a Python object per key
        values = _arrow_text(references)
        found = pc.is_in(values, value_set=_arrow_text(keys).combine_chunks())
        missing = np.asarray(pc.and_(pc.is_valid(values), pc.invert(found)))
    except (pa.ArrowException, TypeError):
        missing = references.notna().to_numpy(dtype=bool) & ~references.isin(keys).to_numpy(
            dtype=bool)
    return sorted(set(references[missing])) if missing.any() else []


def _arrow_text(series: pd.Series) -> pa.ChunkedArray:
    """``series`` as Arrow text (no copy for Arrow-backed strings)."""
    values = pa.array(series, from_pandas=True)
    if not isinstance(values, pa.ChunkedArray):
        values = pa.chunked_array([values])
    return values.cast(pa.large_string())


def _common_categories(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """``frames`` with every categorical column whose dtype differs between them as objects,
    so :func:`pandas.concat` keeps a categorical where all frames agree (no per-row
    conversion) and :func:`covidimg.schema.conform` rebuilds the others."""
    differing = {c for frame in frames for c in frame.columns
                 if isinstance(frame[c].dtype, pd.CategoricalDtype)
                 and any(c not in other.columns or other[c].dtype != frame[c].dtype
                         for other in frames)}
    return [frame.astype({c: object for c in differing if c in frame.columns})
            for frame in frames]

