"""What a cohort holds besides its clinical tables: expert labels per label, sources' terms.

:func:`annotation_summary` counts the ``annotations`` table per scheme and label (the Summary
tab's per-label table); :func:`sources_table` is the ``provenance`` table as a reader wants it
(what to cite and under which terms).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["annotation_summary", "sources_table"]

_SUMMARY_COLUMNS = ["scheme", "label", "annotations", "images", "patients", "readers"]
_SOURCE_COLUMNS = ["source", "collection", "release", "license", "cite", "terms"]


def annotation_summary(annotations: pd.DataFrame) -> pd.DataFrame:
    """Annotations per scheme and label: how many, on how many images and patients, by how
    many readers. A score is counted under its scheme with the label ``score``.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats.provenance import annotation_summary
    >>> rows = pd.DataFrame({"scheme": ["ricord", "ricord", "rale"], "kind": ["label",
    ...     "box", "score"], "label": ["Typical", "Typical", None], "image_uid": ["a", "a",
    ...     "b"], "patient_uid": ["p", "p", "q"], "reader": [1, 2, None]})
    >>> annotation_summary(rows).values.tolist()
    [['rale', 'score', 1, 1, 1, 0], ['ricord', 'Typical', 2, 1, 1, 2]]
    """
    if not len(annotations):
        return pd.DataFrame(columns=_SUMMARY_COLUMNS)
    frame = annotations.assign(
        scheme=annotations["scheme"].astype(str),
        label=annotations["label"].astype("string").fillna(
            annotations["kind"].astype(str)).astype(str))
    grouped = frame.groupby(["scheme", "label"], observed=True, sort=True)
    out = grouped.agg(annotations=("scheme", "size"), images=("image_uid", "nunique"),
                      patients=("patient_uid", "nunique"), readers=("reader", "nunique"))
    return out.reset_index()[_SUMMARY_COLUMNS]


def sources_table(provenance: pd.DataFrame) -> pd.DataFrame:
    """The ``provenance`` rows as what to cite: source, collection, release, licence, the DOI
    or URL to cite, and the data-use terms (one row per source and collection)."""
    out = provenance.rename(columns={"citation": "cite"})
    out = out.reindex(columns=_SOURCE_COLUMNS).astype(object)
    return out.where(out.notna(), "").drop_duplicates(ignore_index=True)
