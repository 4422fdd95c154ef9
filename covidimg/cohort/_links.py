"""Cross-source identity: which images and patients of a cohort are the same.

The same radiograph or CT series is often published twice: RICORD is in TCIA (and IDC) and in
MIDRC with the same DICOM UIDs; Hannover's PNGs were republished in other collections,
re-encoded. :func:`uid_links` finds the first kind from the ``images`` table alone;
:func:`hash_links` pairs images whose perceptual pixel hashes (computed by
:func:`covidimg.imaging.image_hashes`) are near-equal. A link table has one row per pair:

``kind``
    ``same_image_as`` or ``same_patient_as`` (declared in :data:`covidimg.schema.FINDING_KINDS`);
``image_uid``, ``other_image_uid``
    the two images (NA for a patient link found from a study);
``patient_uid``, ``other_patient_uid``, ``source``, ``other_source``
    their patients and sources;
``evidence``
    what links them: ``SOP Instance UID <uid>``, ``Series Instance UID <uid>``, ``Study
    Instance UID <uid>``, ``pixel hash distance d of n bits``, or ``shared image <uid>``;
``distance``
    0 for equal UIDs, the fraction of differing hash bits for pixels.

:func:`link_findings` turns a link table into ``findings`` rows (one per side), and
:func:`links_from_findings` reads them back, so links found once (also by pixels, which needs
:mod:`covidimg.imaging`) travel with a saved cohort and :meth:`~covidimg.Cohort.split` keeps
linked patients on one side. :func:`patient_groups` joins linked patients into groups;
:func:`duplicate_images` picks the copies :meth:`~covidimg.Cohort.dedupe` drops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from covidimg import schema
from covidimg._validation import check_choice

__all__ = ["LINK_COLUMNS", "DedupeKeep", "duplicate_images", "hash_links", "link_findings",
           "links_from_findings", "patient_groups", "uid_links"]

LINK_COLUMNS = ["kind", "image_uid", "other_image_uid", "patient_uid", "other_patient_uid",
                "source", "other_source", "evidence", "distance"]
#: Which copy :meth:`~covidimg.Cohort.dedupe` keeps (see :func:`duplicate_images`).
DedupeKeep = Literal["first", "largest"]
_RADIOGRAPHS = ("CR", "DX")
_DETAIL = re.compile(r"^same (image|patient) as '((?:[^'\\]|\\.)+)' \((.*)\)$", re.DOTALL)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "distance" else "string")
                         for c in LINK_COLUMNS})


def _pairs_by(images: pd.DataFrame, key: pd.Series, kind: str, label: str) -> list[dict]:
    """Every pair of rows of ``images`` from different sources with the same non-missing
    ``key``: one link row each (the pair ordered by image uid)."""
    rows: list[dict] = []
    frame = images.assign(_key=key.to_numpy()).dropna(subset=["_key"])
    frame = frame[frame["_key"].astype(str) != ""]
    repeated = frame[frame.duplicated("_key", keep=False)]
    for value, group in repeated.groupby("_key", sort=True):
        members = group.sort_values("image_uid").to_dict("records")
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if str(a["source"]) == str(b["source"]):
                    continue
                rows.append({"kind": kind, "image_uid": a["image_uid"],
                             "other_image_uid": b["image_uid"],
                             "patient_uid": a["patient_uid"],
                             "other_patient_uid": b["patient_uid"], "source": str(a["source"]),
                             "other_source": str(b["source"]),
                             "evidence": f"{label} {value}", "distance": 0.0})
    return rows


def _sop_uid(images: pd.DataFrame) -> pd.Series:
    """The SOP Instance UID of each DICOM radiograph row: the loaders name such a row
    ``<source>:<SOP Instance UID>`` (``sources._engine.series``); NA for other rows."""
    dicom = (images["format"].astype(str) == "dicom") & images["modality"].astype(str).isin(
        _RADIOGRAPHS)
    sop = images["image_uid"].astype(str).str.split(":", n=1).str[1]
    return sop.where(dicom.to_numpy(), None)


def _patient_rows(image_links: pd.DataFrame, images: pd.DataFrame) -> list[dict]:
    """``same_patient_as`` rows: the patients of linked images, and patients of different
    sources that share a Study Instance UID."""
    rows: list[dict] = []
    for link in image_links.to_dict("records"):
        if link["patient_uid"] != link["other_patient_uid"]:
            rows.append({**link, "kind": "same_patient_as",
                         "evidence": f"shared image {link['image_uid']} = "
                                     f"{link['other_image_uid']} ({link['evidence']})"})
    if "study_uid" in images.columns:
        for row in _pairs_by(images, images["study_uid"], "same_patient_as",
                             "Study Instance UID"):
            if row["patient_uid"] != row["other_patient_uid"]:
                rows.append({**row, "image_uid": None, "other_image_uid": None})
    return rows


def _frame(rows: Iterable[dict]) -> pd.DataFrame:
    rows = list(rows)
    if not rows:
        return _empty()
    out = pd.DataFrame(rows, columns=LINK_COLUMNS)
    for col in LINK_COLUMNS:
        out[col] = out[col].astype("float64" if col == "distance" else "string")
    return out


def _one_per_pair(links: pd.DataFrame) -> pd.DataFrame:
    """One row per linked pair and kind: the first evidence in order, the others dropped."""
    if not len(links):
        return links
    image_rows = links["kind"] == "same_image_as"
    a = links["image_uid"].where(image_rows, links["patient_uid"]).astype(str)
    b = links["other_image_uid"].where(image_rows, links["other_patient_uid"]).astype(str)
    low, high = np.minimum(a.to_numpy(), b.to_numpy()), np.maximum(a.to_numpy(), b.to_numpy())
    keep = ~pd.DataFrame({"k": links["kind"].astype(str), "a": low, "b": high}).duplicated()
    return links[keep.to_numpy()].reset_index(drop=True)


def uid_links(images: pd.DataFrame) -> pd.DataFrame:
    """Images and patients of different sources with equal DICOM UIDs.

    ``same_image_as``: two radiographs with one SOP Instance UID, or two CT/MR series (one
    row each) with one Series Instance UID; a radiograph's series is also compared with a
    one-instance series row (IDC lists radiographs as series). ``same_patient_as``: their
    patients, and patients sharing a Study Instance UID (one row per pair of patients: the
    first evidence found).

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.cohort._links import uid_links
    >>> images = pd.DataFrame({
    ...     "image_uid": ["tcia:1.2.3", "midrc:1.2.3"], "patient_uid": ["tcia:a", "midrc:b"],
    ...     "source": ["tcia", "midrc"], "format": "dicom", "modality": "CR",
    ...     "study_uid": ["1.9", "1.9"], "series_uid": ["1.8", "1.8"], "n_instances": 1})
    >>> uid_links(images)[["kind", "evidence"]].values.tolist()
    [['same_image_as', 'SOP Instance UID 1.2.3'], ['same_patient_as', 'shared image midrc:1.2.3 = tcia:1.2.3 (SOP Instance UID 1.2.3)']]
    """  # noqa: E501
    if not len(images):
        return _empty()
    rows = _pairs_by(images, _sop_uid(images), "same_image_as", "SOP Instance UID")
    if "series_uid" in images.columns:
        modality = images["modality"].astype(str)
        whole = modality.isin(("CT", "MR")) | (
            pd.to_numeric(images.get("n_instances"), errors="coerce").fillna(0) == 1)
        series = images["series_uid"].where(whole.to_numpy(), None)
        rows += _pairs_by(images, series, "same_image_as", "Series Instance UID")
    image_links = _one_per_pair(_frame(rows))
    return _one_per_pair(_frame([*image_links.to_dict("records"),
                                 *_patient_rows(image_links, images)]))


def hash_links(images: pd.DataFrame, hashes: pd.Series, *, max_distance: float = 0.04
               ) -> pd.DataFrame:
    """Images whose perceptual hashes differ in at most ``max_distance`` of their bits.

    Parameters
    ----------
    images
        The ``images`` table (for patients and sources).
    hashes
        Hash per ``image_uid`` (index) as hexadecimal text of one length, as
        :func:`covidimg.imaging.image_hashes` returns; missing hashes are skipped.
    max_distance
        Largest fraction of differing bits that still counts as the same image.

    Returns
    -------
    pandas.DataFrame
        ``same_image_as`` rows (any two sources, or one source: a copy inside a source is a
        duplicate too) and the ``same_patient_as`` rows of their patients.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.cohort._links import hash_links
    >>> images = pd.DataFrame({"image_uid": ["mhh:a", "tcia:b", "tcia:c"],
    ...                        "patient_uid": ["mhh:p", "tcia:q", "tcia:r"],
    ...                        "source": ["mhh", "tcia", "tcia"]})
    >>> hashes = pd.Series(["ff00", "ff01", "0f0f"], index=images["image_uid"])
    >>> hash_links(images, hashes, max_distance=0.1)["evidence"].tolist()[0]
    'pixel hash distance 1 of 16 bits'
    """
    if not 0 <= max_distance < 0.5:
        raise ValueError(f"max_distance={max_distance!r}: expected a fraction of bits in "
                         "[0, 0.5)")
    hashes = hashes.dropna().astype(str)
    hashes = hashes[hashes.index.isin(images["image_uid"])]
    if len(hashes) < 2:
        return _empty()
    lengths = hashes.str.len().unique()
    if len(lengths) != 1:
        raise ValueError(f"hashes: expected hexadecimal texts of one length; got lengths "
                         f"{sorted(lengths)}")
    bits = np.unpackbits(np.stack([np.frombuffer(bytes.fromhex(h), np.uint8)
                                   for h in hashes]), axis=1)
    n_bits = bits.shape[1]
    # Hamming distances in blocks of rows, so memory stays bounded for many images.
    by_uid = images.set_index(images["image_uid"].astype(str))
    uids = hashes.index.astype(str).to_numpy()
    order = np.argsort(uids)
    uids, bits = uids[order], bits[order]
    rows = []
    block = 512
    limit = int(np.floor(max_distance * n_bits))
    as_int = bits.astype(np.int16)
    for start in range(0, len(uids), block):
        part = as_int[start:start + block]
        distance = part @ (1 - as_int).T + (1 - part) @ as_int.T
        for i, j in zip(*np.nonzero(distance <= limit), strict=True):
            a, b = start + i, j
            if b <= a:
                continue
            ra, rb = by_uid.loc[uids[a]], by_uid.loc[uids[b]]
            rows.append({"kind": "same_image_as", "image_uid": uids[a],
                         "other_image_uid": uids[b], "patient_uid": ra["patient_uid"],
                         "other_patient_uid": rb["patient_uid"], "source": str(ra["source"]),
                         "other_source": str(rb["source"]),
                         "evidence": f"pixel hash distance {int(distance[i, j])} of "
                                     f"{n_bits} bits",
                         "distance": float(distance[i, j]) / n_bits})
    image_links = _frame(rows)
    return _one_per_pair(_frame([*image_links.to_dict("records"),
                                 *_patient_rows(image_links, images.iloc[:0])]))


def _quote(uid: str) -> str:
    return "'" + str(uid).replace("\\", "\\\\").replace("'", "\\'") + "'"


def link_findings(links: pd.DataFrame) -> pd.DataFrame:
    """``findings`` rows for a link table: one per side of each pair, on that side's image
    (``same_image_as``) or patient, the detail naming the other one and the evidence.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.cohort._links import link_findings, uid_links
    >>> images = pd.DataFrame({
    ...     "image_uid": ["tcia:1.2.3", "midrc:1.2.3"], "patient_uid": ["tcia:a", "midrc:b"],
    ...     "source": ["tcia", "midrc"], "format": "dicom", "modality": "CR"})
    >>> link_findings(uid_links(images))["detail"].tolist()[:2]
    ["same image as 'tcia:1.2.3' (SOP Instance UID 1.2.3)", "same image as 'midrc:1.2.3' (SOP Instance UID 1.2.3)"]
    """  # noqa: E501
    rows = []
    for link in links.to_dict("records"):
        image = link["kind"] == "same_image_as"
        noun = "image" if image else "patient"
        for own, other in (("", "other_"), ("other_", "")):
            rows.append({
                "kind": link["kind"], "source": link[f"{own}source"],
                "patient_uid": link[f"{own}patient_uid"],
                "image_uid": link[f"{own}image_uid"] if image else None, "path": None,
                "detail": f"same {noun} as "
                          f"{_quote(link[f'{other}image_uid' if image else f'{other}patient_uid'])}"
                          f" ({link['evidence']})"})
    return schema.conform("findings", pd.DataFrame(rows, columns=schema.TABLES["findings"].names))


def links_from_findings(findings: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """The link table that :func:`link_findings` wrote into ``findings`` (each pair once)."""
    chosen = findings[findings["kind"].astype(str).isin(("same_image_as", "same_patient_as"))]
    if not len(chosen):
        return _empty()
    patient_of = dict(zip(images["image_uid"].astype(str), images["patient_uid"].astype(str),
                          strict=True))
    rows = []
    for finding in chosen.to_dict("records"):
        match = _DETAIL.match(str(finding["detail"]))
        if match is None:
            continue
        noun, other, evidence = match.groups()
        other = re.sub(r"\\(.)", r"\1", other)
        prefix = other.split(":", 1)[0]
        if noun == "image":
            row = {"image_uid": finding["image_uid"], "other_image_uid": other,
                   "other_patient_uid": patient_of.get(other)}
        else:
            row = {"image_uid": None, "other_image_uid": None, "other_patient_uid": other}
        rows.append({**row, "kind": f"same_{noun}_as", "patient_uid": finding["patient_uid"],
                     "source": str(finding["source"]), "other_source": prefix,
                     "evidence": evidence, "distance": np.nan})
    return _one_per_pair(_frame(rows))


def patient_groups(patient_uids: Sequence[str], links: pd.DataFrame) -> pd.Series:
    """The group of each patient: linked patients (``same_patient_as``, or owners of a
    ``same_image_as`` pair) share one, named by the smallest patient uid in it.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.cohort._links import patient_groups
    >>> links = pd.DataFrame({"kind": ["same_patient_as"], "patient_uid": ["tcia:b"],
    ...                       "other_patient_uid": ["midrc:a"]})
    >>> patient_groups(["tcia:b", "midrc:a", "mhh:c"], links).tolist()
    ['midrc:a', 'midrc:a', 'mhh:c']
    """
    parent = {str(uid): str(uid) for uid in patient_uids}

    def find(uid: str) -> str:
        while parent[uid] != uid:
            parent[uid] = parent[parent[uid]]
            uid = parent[uid]
        return uid

    for a, b in zip(links["patient_uid"], links["other_patient_uid"], strict=True):
        if pd.isna(a) or pd.isna(b) or str(a) not in parent or str(b) not in parent:
            continue
        ra, rb = find(str(a)), find(str(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return pd.Series([find(str(uid)) for uid in patient_uids], index=list(patient_uids),
                     dtype="string")


def duplicate_images(images: pd.DataFrame, links: pd.DataFrame, *, keep: DedupeKeep = "first",
                     prefer: Sequence[str] | None = None) -> pd.DataFrame:
    """The copies to drop: for each group of images linked ``same_image_as``, every image but
    the one kept.

    Parameters
    ----------
    keep
        ``"first"``: keep the image of the source that comes first in ``prefer`` (ties: the
        smallest image uid); ``"largest"``: keep the image with the most pixels (rows x
        columns x instances; ties as ``"first"``).
    prefer
        Source order for ``"first"`` and for ties; default the registry's order
        (:data:`covidimg.schema.SOURCES`). Sources not named come after, in that order.

    Returns
    -------
    pandas.DataFrame
        ``image_uid`` (the copy dropped) and ``kept`` (the image kept instead).
    """
    check_choice(keep, DedupeKeep, "keep")
    order = list(prefer or ()) + [s for s in schema.SOURCES if s not in (prefer or ())]
    for source in prefer or ():
        check_choice(source, schema.SOURCES, "prefer")
    chosen = links[links["kind"].astype(str) == "same_image_as"]
    known = set(images["image_uid"].astype(str))
    parent: dict[str, str] = {}

    def find(uid: str) -> str:
        parent.setdefault(uid, uid)
        while parent[uid] != uid:
            parent[uid] = parent[parent[uid]]
            uid = parent[uid]
        return uid

    for a, b in zip(chosen["image_uid"].astype(str), chosen["other_image_uid"].astype(str),
                    strict=True):
        if a in known and b in known:
            parent[find(a)] = find(b)
    if not parent:
        return pd.DataFrame({"image_uid": pd.Series(dtype="string"),
                             "kept": pd.Series(dtype="string")})
    rows = images.set_index(images["image_uid"].astype(str))
    pixels = (pd.to_numeric(rows["rows"], errors="coerce").fillna(0)
              * pd.to_numeric(rows["columns"], errors="coerce").fillna(0)
              * pd.to_numeric(rows["n_instances"], errors="coerce").fillna(1))
    groups: dict[str, list[str]] = {}
    for uid in parent:
        groups.setdefault(find(uid), []).append(uid)
    out = []
    for members in groups.values():
        def rank(uid: str) -> tuple:
            first = (order.index(str(rows.at[uid, "source"])), uid)
            return ((-float(pixels[uid]), *first) if keep == "largest" else first)
        members.sort(key=rank)
        out += [{"image_uid": uid, "kept": members[0]} for uid in members[1:]]
    return pd.DataFrame(out, columns=["image_uid", "kept"]).astype("string").sort_values(
        "image_uid", ignore_index=True)
