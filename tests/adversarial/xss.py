"""Script payloads planted in a cohort's text columns, and where the dashboard may show text.

Shared by ``test_stored_xss.py`` (every escaping site, in Python) and ``test_browser_xss.py``
(the dashboard in Chromium). Each payload sets ``window.__xss`` if it ever runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import ipywidgets as w
import pandas as pd

import covidimg as ci

PAYLOADS = ('<img src=x onerror="window.__xss=1">',
            "<script>window.__xss=2</script>",
            "javascript:window.__xss=3",
            '<a href="javascript:window.__xss=4">open</a>',
            "<svg onload=window.__xss=5>",
            "<iframe srcdoc=\"<script>parent.__xss=6</script>\">")
#: Markup a payload brings: none of it may reach a page or a figure unescaped.
RAW = re.compile(r"<\s*(img|script|a|svg|iframe)\b", re.IGNORECASE)
#: The escaped start of the first payload (HTML and plotly text alike).
ESCAPED_IMG = "&lt;img src=x onerror="
#: Columns only a name from a vocabulary may fill: Cohort.open refuses payloads in them.
NAMED = (("labs", "analyte"), ("labs", "unit"), ("findings", "kind"))


def payload(i: int) -> str:
    return PAYLOADS[i % len(PAYLOADS)]


def _remap(series: pd.Series, mapping: dict[str, str]) -> pd.Series:
    text = series.astype("string")
    return text.map(mapping).fillna(text).astype("string")


def poisoned(cohort: ci.Cohort, *, names: bool = False) -> ci.Cohort:
    """A copy of ``cohort`` with a payload in every free text column.

    Patient and image uids become ``<source>:<payload>#<n>`` in every table that names them;
    ``source_patient_id``, ``site``, study and series uids, ``value_raw``, the files' paths and
    reasons, the findings' details and paths, and an extra ``note`` column of patients and
    images all hold payloads; an empty extra column of patients is named by one. Every other
    image's ``path`` (and ``preview_path``) is a payload path that does not exist, so the
    viewer shows its error; the others still show their pixels. With ``names=True`` also
    ``labs.analyte``, ``labs.unit`` and ``findings.kind`` (see :data:`NAMED`), which
    :meth:`Cohort.open` refuses.
    """
    t = {name: frame.copy() for name, frame in cohort.tables().items()}
    patients, images = t["patients"], t["images"]
    pmap = {uid: f"{src}:{payload(i)}#{i}" for i, (uid, src) in enumerate(
        zip(patients["patient_uid"].astype(str), patients["source"].astype(str), strict=True))}
    imap = {uid: f"{src}:{payload(i + 1)}#{i}" for i, (uid, src) in enumerate(
        zip(images["image_uid"].astype(str), images["source"].astype(str), strict=True))}
    # The patient and image uids wherever a table holds them, so the tables still refer to
    # each other (annotations and observations included).
    renames = [(name, column, mapping) for name in t
               for column, mapping in (("patient_uid", pmap), ("image_uid", imap))
               if column in t[name].columns]
    for name, column, mapping in renames:
        t[name][column] = _remap(t[name][column], mapping)
    n_p, n_i = len(patients), len(images)
    patients["source_patient_id"] = pd.array([payload(i) for i in range(n_p)], dtype="string")
    patients["site"] = pd.array([payload(i + 2) for i in range(n_p)], dtype="string")
    patients["note"] = [payload(i + 3) for i in range(n_p)]
    patients[payload(0)] = pd.array([None] * n_p, dtype="string")   # a column named by one
    for column in ("study_uid", "series_uid"):
        images[column] = pd.array([payload(i) for i in range(n_i)], dtype="string")
    images["note"] = [payload(i + 4) for i in range(n_i)]
    broken = pd.Series(range(n_i)) % 2 == 1
    fake = pd.array([f"/covidimg-xss/{payload(i)}/{i}.dcm" for i in range(n_i)], dtype="string")
    images["path"] = images["path"].astype("string").where(~broken.to_numpy(), fake)
    if "preview_path" in images.columns:
        images["preview_path"] = images["preview_path"].astype("string").where(
            ~broken.to_numpy(), fake)
    t["labs"]["value_raw"] = pd.array([payload(i) for i in range(len(t["labs"]))],
                                      dtype="string")
    for column in ("path", "reason"):   # files.path is the table's key: unique
        t["files"][column] = pd.array([f"{payload(i)}#{i}" for i in range(len(t["files"]))],
                                      dtype="string")
    for column in ("path", "detail"):
        t["findings"][column] = pd.array([payload(i) for i in range(len(t["findings"]))],
                                         dtype="string")
    if names:
        labs = t["labs"]
        analytes = sorted(labs["analyte"].astype(str).unique())
        swap = {a: payload(k) for k, a in enumerate(analytes)}
        labs["analyte"] = labs["analyte"].astype(str).map(swap).astype("category")
        labs["unit"] = pd.array([payload(i + 1) for i in range(len(labs))], dtype="string")
        t["findings"]["kind"] = pd.array([payload(i) for i in range(len(t["findings"]))],
                                         dtype="string")
    return ci.Cohort(**t)


def html_values(widget: Any) -> Iterator[str]:
    """The value of every ``ipywidgets.HTML``/``HTMLMath`` in a widget tree."""
    if isinstance(widget, (w.HTML, w.HTMLMath)):
        yield widget.value
    for child in getattr(widget, "children", ()):
        yield from html_values(child)


_CUSTOM = re.compile(r"%\{customdata(?:\[(\d+)\])?")


def figure_texts(figure: dict) -> Iterator[str]:
    """Every text plotly may draw from a figure dict (``fig.to_plotly_json()`` or a spec).

    All strings of the layout but ``meta`` and of every trace but ``customdata``, and of the
    ``customdata`` only the columns its ``hovertemplate`` shows (a trace may carry data it
    never draws, e.g. the raw ``image_uid`` a click reports).
    """
    layout = {k: v for k, v in figure.get("layout", {}).items() if k != "meta"}
    yield from _strings(layout)
    for trace in figure.get("data", []):
        trace = dict(trace)
        custom = trace.pop("customdata", None)
        yield from _strings(trace)
        if custom is None or isinstance(custom, dict):   # a dict: a typed (numeric) array
            continue
        shown = _CUSTOM.findall(str(trace.get("hovertemplate", "")))
        for row in custom:
            values = list(row) if hasattr(row, "__len__") and not isinstance(row, str) else [row]
            for index in shown:
                value = values if index == "" else values[int(index)]
                yield from _strings(value)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        if isinstance(items, list):
            for item in items:
                yield from _strings(item)
        else:
            yield from _strings(items)


def raw_markup(texts: Iterator[str]) -> list[str]:
    """The texts that carry a payload's markup unescaped."""
    return [t for t in texts if RAW.search(t)]
