"""Linked ipywidgets views over a cohort (wired to stats, plotting and imaging; no file I/O).

>>> import covidimg as ci
>>> from covidimg.widgets import Dashboard
>>> Dashboard(ci.load_demo())          # doctest: +SKIP

- :class:`CohortFilter`: controls generated from the schema and the cohort's values, with a
  live match count; exposes the filtered cohort and notifies observers.
- :class:`OffsetTimeline`: patient timelines (census for large selections), clickable exams.
- :class:`LabDistribution`: interval-aware lab histograms by group.
- :class:`ImageGallery`: paged thumbnails with harmonized captions and an image viewer
  (window presets, level / width, CT slices).
- :class:`CohortSummary`: Table 1 and the data-quality findings.
- :class:`Dashboard`: all of them, linked.
- :class:`SerialComparison`: one patient's radiographs side by side in day order.
- :class:`ReadingQuiz`: read labelled images without their labels, scored against the experts.
"""

from __future__ import annotations

try:
    import anywidget  # noqa: F401
    import ipywidgets  # noqa: F401
except ModuleNotFoundError as exc:  # the light install: loaders, stats and plotting only
    raise ImportError(f"covidimg.widgets needs {exc.name}, which the base install does not "
                      "bring: pip install 'covidimg[widgets]'") from None

from covidimg.widgets.dashboard import Dashboard
from covidimg.widgets.filter import CohortFilter
from covidimg.widgets.gallery import ImageGallery
from covidimg.widgets.labs import LabDistribution
from covidimg.widgets.quiz import ReadingQuiz
from covidimg.widgets.serial import SerialComparison
from covidimg.widgets.summary import CohortSummary
from covidimg.widgets.timeline import OffsetTimeline
from covidimg.widgets.viewer import ImageViewer

__all__ = ["CohortFilter", "CohortSummary", "Dashboard", "ImageGallery", "ImageViewer",
           "LabDistribution", "OffsetTimeline", "ReadingQuiz", "SerialComparison"]
