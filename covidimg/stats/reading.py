"""Reading exercises: which images have a reference reading, and how an answer compares with it.

:func:`reading_items` turns a cohort's ``annotations`` into quiz items, one image each, with
the reference the readers gave: the majority ``label`` of a labelling scheme (every label tied
for the most votes is accepted), the ``score`` of a scoring scheme (the readers' median), and
the reference boxes. A study-level label (RICORD's appearance) applies to the study's first
frontal radiograph. :func:`judge` compares one answer with its item (label agreement, absolute
score error, the box's best intersection over union with a reference box);
:func:`confusion_table` counts reference against answer. Nothing is written anywhere: results
are DataFrames and dicts.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from covidimg.cohort import Cohort

__all__ = ["SCHEME_VOCABULARIES", "box_iou", "confusion_table", "judge", "reading_items"]

#: The documented vocabulary of each labelling scheme (a quiz offers these answers).
SCHEME_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "ricord": ("Typical Appearance", "Indeterminate Appearance", "Atypical Appearance",
               "Negative for Pneumonia"),
    "nccid_covid_code": ("normal", "classic/probable", "indeterminate", "non-covid"),
    "nccid_cxr_severity": ("mild", "moderate", "severe"),
}
_FRONTAL_ORDER = {"PA": 0, "AP": 1, "UNKNOWN": 2, "LAT": 3, "AXIAL": 4}


def box_iou(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Intersection over union of two boxes ``{"x", "y", "w", "h"}`` (pixels).

    Examples
    --------
    >>> from covidimg.stats.reading import box_iou
    >>> box_iou({"x": 0, "y": 0, "w": 10, "h": 10}, {"x": 5, "y": 0, "w": 10, "h": 10})
    0.3333333333333333
    >>> box_iou({"x": 0, "y": 0, "w": 2, "h": 2}, {"x": 5, "y": 5, "w": 1, "h": 1})
    0.0
    """
    ax1, ay1 = float(a["x"]) + float(a["w"]), float(a["y"]) + float(a["h"])
    bx1, by1 = float(b["x"]) + float(b["w"]), float(b["y"]) + float(b["h"])
    iw = max(0.0, min(ax1, bx1) - max(float(a["x"]), float(b["x"])))
    ih = max(0.0, min(ay1, by1) - max(float(a["y"]), float(b["y"])))
    inter = iw * ih
    union = float(a["w"]) * float(a["h"]) + float(b["w"]) * float(b["h"]) - inter
    return inter / union if union > 0 else 0.0


def _study_images(images: pd.DataFrame) -> dict[str, str]:
    """Study UID -> its first frontal radiograph (PA, then AP, ...; then image_uid order)."""
    if "study_uid" not in images or not len(images):
        return {}
    frame = images[["image_uid", "study_uid", "view"]].dropna(subset=["study_uid"]).copy()
    frame["rank"] = frame["view"].astype(str).map(_FRONTAL_ORDER).fillna(5)
    frame = frame.sort_values(["study_uid", "rank", "image_uid"])
    return frame.groupby("study_uid")["image_uid"].first().astype(str).to_dict()


def reading_items(cohort: Cohort, scheme: str, *, labels: Sequence[str] | None = None
                  ) -> pd.DataFrame:
    """The images of ``cohort`` with a reference reading in ``scheme``, one row each.

    Parameters
    ----------
    cohort
        A cohort (filtered as the teacher likes: ``cohort.filter(source="tcia")``, ...).
    scheme
        The annotation scheme the quiz asks about (``"ricord"``, ``"nccid_cxr_severity"``,
        ``"nccid_covid_code"``, ...).
    labels
        The answers offered (default: :data:`SCHEME_VOCABULARIES` of the scheme, else every
        label it uses); labels outside them do not count as reference labels.

    Returns
    -------
    pandas.DataFrame
        ``image_uid``, ``patient_uid``, ``label`` (the majority label; NA when the scheme gave
        the image none), ``accepted`` (every label tied for the most votes), ``score`` (median
        of the scores; NaN when none), ``boxes`` (the reference boxes as dicts), ``n_readings``;
        ordered by ``image_uid``. Images with neither a label nor a score are left out.

    Raises
    ------
    ValueError
        If ``scheme`` is not one the cohort's annotations use.

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.stats.reading import reading_items
    >>> items = reading_items(ci.load_demo(), "ricord")                    # doctest: +SKIP
    """
    notes = cohort.annotations
    schemes = sorted(set(notes["scheme"].dropna().astype(str)))
    if scheme not in schemes:
        raise ValueError(f"scheme={scheme!r}: the cohort has no annotations of it; its schemes "
                         f"are {schemes}. Filter a cohort that holds labelled images.")
    notes = notes[notes["scheme"] == scheme]
    vocabulary = tuple(labels) if labels is not None else SCHEME_VOCABULARIES.get(
        scheme, tuple(sorted(set(notes["label"].dropna().astype(str)))))
    first_image = _study_images(cohort.images)
    known = set(cohort.images["image_uid"].astype(str))
    target = notes["image_uid"].astype("string")
    if "study_uid" in notes:
        study_level = target.isna() & notes["study_uid"].notna()
        target = target.where(~study_level,
                              notes["study_uid"].astype("string").map(first_image))
    notes = notes.assign(_target=target)
    notes = notes[notes["_target"].notna() & notes["_target"].isin(known)]
    rows = []
    for image_uid, group in notes.groupby("_target", sort=True):
        votes = Counter(str(v) for v, k in zip(group["label"], group["kind"], strict=True)
                        if k != "score" and isinstance(v, str) and v in vocabulary)
        scores = group.loc[group["kind"] == "score", "score"].dropna().to_numpy(float)
        if not votes and not scores.size:
            continue
        most = max(votes.values()) if votes else 0
        accepted = tuple(sorted(v for v, n in votes.items() if n == most))
        boxes = [json.loads(g) for g, k in zip(group["geometry"], group["kind"], strict=True)
                 if k == "box" and isinstance(g, str)]
        rows.append({"image_uid": str(image_uid),
                     "patient_uid": str(group["patient_uid"].iat[0]),
                     "label": accepted[0] if accepted else None, "accepted": accepted,
                     "score": float(np.median(scores)) if scores.size else math.nan,
                     "boxes": boxes, "n_readings": len(group)})
    return pd.DataFrame(rows, columns=["image_uid", "patient_uid", "label", "accepted",
                                       "score", "boxes", "n_readings"])


def judge(item: Mapping[str, Any], *, label: str | None = None, score: float | None = None,
          box: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Compare one answer with a quiz item (a row of :func:`reading_items`).

    Returns
    -------
    dict
        ``label_correct`` (the label is one of the accepted ones; ``None`` when the item or
        the answer has no label), ``score_error`` (absolute difference; NaN when either has
        no score), ``iou`` (best intersection over union of ``box`` with a reference box;
        NaN when either has no box).

    Examples
    --------
    >>> from covidimg.stats.reading import judge
    >>> item = {"accepted": ("Typical Appearance",), "score": float("nan"),
    ...         "boxes": [{"x": 0, "y": 0, "w": 10, "h": 10}]}
    >>> judge(item, label="Typical Appearance", box={"x": 0, "y": 0, "w": 10, "h": 5})
    {'label_correct': True, 'score_error': nan, 'iou': 0.5}
    """
    accepted = tuple(item.get("accepted") or ())
    label_correct = None if label is None or not accepted else label in accepted
    ref_score = item.get("score")
    score_error = math.nan
    if score is not None and ref_score is not None and not math.isnan(float(ref_score)):
        score_error = abs(float(score) - float(ref_score))
    boxes = list(item.get("boxes") or [])
    iou = max((box_iou(box, ref) for ref in boxes), default=math.nan) if box else math.nan
    return {"label_correct": label_correct, "score_error": score_error, "iou": iou}


def confusion_table(reference: Sequence[Any], answered: Sequence[Any],
                    vocabulary: Sequence[str] = ()) -> pd.DataFrame:
    """Counts of answers (columns) per reference label (rows), every label of ``vocabulary``
    shown even when never given.

    Examples
    --------
    >>> from covidimg.stats.reading import confusion_table
    >>> confusion_table(["a", "a", "b"], ["a", "b", "b"], ["a", "b"]).values.tolist()
    [[1, 1], [0, 1]]
    """
    names = list(dict.fromkeys([*vocabulary, *map(str, reference), *map(str, answered)]))
    table = pd.crosstab(pd.Categorical(list(map(str, reference)), categories=names),
                        pd.Categorical(list(map(str, answered)), categories=names),
                        rownames=["reference"], colnames=["answer"], dropna=False)
    return table.astype(int)
