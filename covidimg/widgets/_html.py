"""The one way a text reaches the value of an ``ipywidgets.HTML``: escaped.

An ``ipywidgets.HTML`` value is put into the page as markup (``innerHTML``, not sanitised), so
a value from the data (a patient id, a path, an analyte, a finding's detail, an error message)
must never be interpolated into it as it is: ``<img src=x onerror=...>`` in a saved cohort
would run in the page, and in JupyterLab with the kernel's power. Every view builds its HTML
from constant markup and :func:`escape` (or :func:`table`) of the data; widgets that take text
(``Label``, a button's ``description``, ``Dropdown`` options, tab titles) need nothing.
"""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["escape", "table"]


def escape(value: object) -> str:
    """``value`` as text that HTML shows verbatim (``& < > " '`` as entities).

    Examples
    --------
    >>> from covidimg.widgets._html import escape
    >>> escape('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def table(frame: pd.DataFrame, css_class: str) -> str:
    """``frame`` as an HTML table (no index) whose every header and cell is escaped."""
    text = frame.astype(str).map(escape)
    text.columns = [escape(c) for c in frame.columns]
    return text.to_html(index=False, escape=False, border=0, classes=css_class)
