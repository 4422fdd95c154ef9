"""The dashboard app: the Voila notebook shipped with the package and the cohort it shows.

``covidimg dashboard`` serves :data:`NOTEBOOK` with Voila and tells the notebook which cohort to
show through environment variables, read back by :func:`dashboard_cohort`. The page's address
may carry a filter (``?filter=sex=['F'],icu=True``, the arguments of a ``cohort.filter(...)``
call): Voila gives each page's kernel the address in ``$QUERY_STRING`` and
``$VOILA_REQUEST_URL``, and :func:`apply_page_filter` sets the dashboard's filter from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from covidimg.cohort import Cohort

__all__ = ["COHORT_ENV", "DEMO_PATIENTS_ENV", "NOTEBOOK", "QUERY_ENV", "REQUEST_URL_ENV",
           "apply_page_filter", "dashboard_cohort"]

#: The Voila notebook that displays the linked dashboard.
NOTEBOOK = Path(__file__).with_name("dashboard.ipynb")
#: Environment variable naming a saved cohort folder (``Cohort.save``) to show.
COHORT_ENV = "COVIDIMG_DASHBOARD_COHORT"
#: Environment variable giving the demo's patients per source when no cohort folder is named.
DEMO_PATIENTS_ENV = "COVIDIMG_DASHBOARD_DEMO_PATIENTS"
#: Demo patients per source when neither variable is set (as ``covidimg.load_demo()``: about
#: 150 patients over the five sources).
DEFAULT_DEMO_PATIENTS = 30
#: Set by Voila in each page's kernel: the page address's query string (CGI's name).
QUERY_ENV = "QUERY_STRING"
#: Set by Voila in each page's kernel: the page's whole address.
REQUEST_URL_ENV = "VOILA_REQUEST_URL"


def dashboard_cohort() -> Cohort:
    """Return the cohort the dashboard shows.

    The saved cohort folder in ``$COVIDIMG_DASHBOARD_COHORT`` if set, else the built-in demo
    with ``$COVIDIMG_DASHBOARD_DEMO_PATIENTS`` patients per source (default 30).

    Raises
    ------
    CohortFileError
        If the named folder is not a saved cohort.
    ValueError
        If the demo size is not a positive whole number.

    Examples
    --------
    >>> from covidimg.app import dashboard_cohort
    >>> cohort = dashboard_cohort()                          # doctest: +SKIP
    """
    folder = os.environ.get(COHORT_ENV)
    if folder:
        return Cohort.open(folder)
    from covidimg.demo import load_demo

    raw = os.environ.get(DEMO_PATIENTS_ENV) or str(DEFAULT_DEMO_PATIENTS)
    try:
        n_patients = int(raw)
    except ValueError:
        n_patients = 0
    if n_patients < 1:
        raise ValueError(f"${DEMO_PATIENTS_ENV}={raw!r}: expected a positive whole number of "
                         "demo patients per source, e.g. 30")
    return load_demo(n_patients=n_patients)


def apply_page_filter(panel: Any) -> bool:
    """Set a :class:`~covidimg.widgets.CohortFilter` from the page's ``?filter=`` parameter.

    Reads ``$QUERY_STRING`` (no ``filter`` parameter: the filter stays as it is) and gives the
    panel the page's address (``$VOILA_REQUEST_URL``) for its share link. A malformed or
    unknown filter is not applied: the panel shows a one-line message naming the bad key or
    value above the whole cohort (see :meth:`~covidimg.widgets.CohortFilter.apply_query`).

    Returns
    -------
    bool
        Whether the page's filter (or no filter) was applied.

    Examples
    --------
    >>> from covidimg.app import apply_page_filter, dashboard_cohort
    >>> from covidimg.widgets import Dashboard
    >>> dashboard = Dashboard(dashboard_cohort())            # doctest: +SKIP
    >>> apply_page_filter(dashboard.filter)                  # doctest: +SKIP
    True
    """
    url = os.environ.get(REQUEST_URL_ENV, "")
    if url:
        panel.share_base_url = url
    return bool(panel.apply_query(os.environ.get(QUERY_ENV, "")))
