"""The filter panel's "Share" part: the current filter as a ``cohort.filter(...)`` call and as a
link to the app, and a box to paste either back in.

The text is written by :func:`covidimg.cohort.filter_call` / :func:`~covidimg.cohort.filter_query`
and read back by :func:`~covidimg.cohort.parse_filter` (nothing pasted is run); the panel only
shows them. :class:`~covidimg.widgets.CohortFilter` owns it and applies what is pasted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ipywidgets as w

from covidimg.cohort import filter_call, filter_query
from covidimg.widgets._html import escape

__all__ = ["SharePanel", "share_url"]


def share_url(base: str, criteria: Mapping[str, Any]) -> str:
    """The app's address ``base`` (its query and fragment dropped) with ``criteria`` as its
    ``?filter=`` parameter; ``base`` empty gives the parameter alone (``?filter=...``).

    Examples
    --------
    >>> from covidimg.widgets._share import share_url
    >>> share_url("http://127.0.0.1:8866/?filter=icu=True#x", {"sex": ["F"]})
    'http://127.0.0.1:8866/?filter=sex=%5B%27F%27%5D'
    >>> share_url("http://127.0.0.1:8866/", {})
    'http://127.0.0.1:8866/'
    """
    query = filter_query(criteria)
    if not base:
        return f"?{query}" if query else ""
    scheme, netloc, path, _query, _fragment = urlsplit(base)
    return urlunsplit((scheme, netloc, path, query, ""))


class SharePanel(w.VBox):
    """The call (an editable text area: copy it, or paste a call or a link and press Apply)
    and the link to the app with the filter in its URL.

    Parameters
    ----------
    apply
        Called with the text area's text when Apply is pressed.
    """

    def __init__(self, apply: Callable[[str], Any]) -> None:
        #: The app's address the link starts with (set by the app; empty: a relative link).
        self.base_url = ""
        self.call = w.Textarea(value="cohort.filter()", rows=3,
                               placeholder="cohort.filter(...) or a dashboard link",
                               layout=w.Layout(width="95%"))
        self.call.add_class("covidimg-share-call")
        self.url = w.Text(value="", layout=w.Layout(width="95%"),
                          placeholder="the app's link with this filter")
        self.url.add_class("covidimg-share-url")
        self.link = w.HTML()
        self.link.add_class("covidimg-share-link")
        self.apply_button = w.Button(description="Apply", icon="check",
                                     tooltip="Set the filter from the call or link above",
                                     layout=w.Layout(width="90px"))
        self.apply_button.add_class("covidimg-share-apply")
        self.apply_button.on_click(lambda _b: apply(self.call.value))
        note = w.HTML("<span style='font-size:0.85em'>Copy the call into a notebook, or the "
                      "link to open the app with this filter; paste either above and press "
                      "Apply.</span>")
        super().__init__([self.call, self.apply_button, self.url, self.link, note])
        self.add_class("covidimg-share")

    def show(self, criteria: Mapping[str, Any]) -> None:
        """Show ``criteria`` as the call and the link."""
        self.call.value = filter_call(criteria)
        url = share_url(self.base_url, criteria)
        self.url.value = url
        if self.base_url and urlsplit(url).scheme in ("http", "https"):
            self.link.value = (f"<a href='{escape(url)}' target='_blank' rel='noopener' "
                               "style='font-size:0.85em'>open this filter in a new tab</a>")
        else:
            self.link.value = ""
