"""The ``observations`` table of one source: every clinical field that is not a column elsewhere.

A loader that reads a field with no column in ``patients``, ``events`` or ``labs`` adds it here
(one row per patient, field and value), so nothing a source publishes is dropped. The field is
named with its harmonized name (:data:`covidimg.schema.OBSERVATION_FIELDS`) where one exists,
else ``<source>:<published key>`` (:func:`source_field`). The published text is kept in
``value_raw`` under the free-text policy (:func:`~.free_text.publishable_text`).

Examples
--------
>>> from covidimg.sources._engine.observations import Observations
>>> obs = Observations("nccid")
>>> obs.add("nccid:p1", "smoking", value="former", value_raw="Ex-smoker",
...         origin="data/p1/status.json: Smoking status", vocabulary=["Ex-smoker"])
>>> obs.add("nccid:p1", obs.field("Pack years"), value_num=20.0, unit="y",
...         value_raw="20", origin="data/p1/status.json: Pack years")
>>> frame = obs.frame()
>>> frame[["field", "value", "value_num", "value_raw"]].values.tolist()
[['smoking', 'former', nan, 'Ex-smoker'], ['nccid:Pack years', <NA>, 20.0, '20']]
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

import pandas as pd

from covidimg import schema
from covidimg.sources._engine.free_text import publishable_text

__all__ = ["Observations", "source_field"]

#: Characters a published key may not keep in a field name (markup and control characters).
_UNSAFE_KEY = re.compile(r"[<>&\"'`\x00-\x1f\x7f]+")
_KEY_MAX = 128


def source_field(source: str, key: str) -> str:
    """The ``observations.field`` name of a published key with no harmonized name.

    Markup and control characters become ``_`` and the key is cut to 128 characters, so the
    name always matches the schema's pattern.

    Examples
    --------
    >>> from covidimg.sources._engine.observations import source_field
    >>> source_field("nccid", " PMH h1pertension ")
    'nccid:PMH h1pertension'
    >>> source_field("midrc", "<b>x</b>")
    'midrc:_b_x_/b_'
    """
    text = _UNSAFE_KEY.sub("_", str(key).strip())[:_KEY_MAX] or "_"
    return f"{source}:{text}"


class Observations:
    """Collects the ``observations`` rows of one source while it loads.

    Parameters
    ----------
    source
        The source name (``"nccid"``, ``"midrc"``, ...).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._rows: list[dict[str, Any]] = []

    def field(self, key: str) -> str:
        """The field name of published ``key`` in this source (see :func:`source_field`)."""
        return source_field(self.source, key)

    def add(self, patient_uid: str, field: str, *, value: str | None = None,
            value_num: float | None = None, unit: str | None = None, day: float | None = None,
            value_raw: Any = None, origin: str,
            vocabulary: Collection[str] | None = None) -> None:
        """Add one observation.

        Parameters
        ----------
        patient_uid
            The patient (``"<source>:<id>"``).
        field
            A harmonized name from :data:`covidimg.schema.OBSERVATION_FIELDS` or
            :meth:`field` of the published key.
        value
            The harmonized value (a category or short text), or ``None``.
        value_num, unit
            The value as a number and its unit, when it is one (a unit outside the schema's
            unit pattern is not kept).
        day
            The day it refers to, on the patient's day axis, when known.
        value_raw
            The value as published; kept under the free-text policy (a number, date or member
            of ``vocabulary`` as written, other text described by its shape).
        origin
            Where it was read: the file and the key, column or line.
        vocabulary
            The field's documented values.
        """
        if ":" not in field and field not in schema.OBSERVATION_FIELDS:
            raise ValueError(f"field={field!r} is not a harmonized observation field; use one "
                             f"of {sorted(schema.OBSERVATION_FIELDS)} or "
                             "Observations.field(published_key)")
        if unit is not None and re.fullmatch(schema.UNIT_PATTERN, unit) is None:
            unit = None  # not a unit (text typed where a unit goes): value_raw tells the rest
        number = None if value_num is None or (isinstance(value_num, float)
                                               and math.isnan(value_num)) else float(value_num)
        self._rows.append({
            "patient_uid": patient_uid, "source": self.source, "field": field,
            "value": value, "value_num": number, "unit": unit, "day": day,
            "value_raw": publishable_text(value_raw, vocabulary=vocabulary),
            "origin": origin,
        })

    def __len__(self) -> int:
        return len(self._rows)

    def frame(self) -> pd.DataFrame:
        """The rows collected so far as an ``observations`` table (conformed)."""
        if not self._rows:
            return schema.empty("observations")
        return schema.conform("observations", pd.DataFrame.from_records(self._rows))
