"""PlotlyView's page events: asked for per view, delivered as the page sends them."""

from __future__ import annotations

import pytest

from covidimg.widgets.plotly_view import EVENTS, PlotlyView


def test_an_event_is_asked_of_the_page_and_delivered_only_once_asked() -> None:
    view = PlotlyView({"data": [], "layout": {}})
    seen: list[dict] = []
    view._handle_custom_msg({"event": "selected", "points": [[0, 1]], "range": None}, [])
    assert seen == [] and view.events == []
    view.on_event("selected", seen.append)
    assert view.events == ["selected"]
    message = {"event": "selected", "points": [[0, 1], [0, 4]],
               "range": {"x": [2.5, 7.0], "y": [0, 10]}}
    view._handle_custom_msg(message, [])
    assert seen == [message]
    view._handle_custom_msg({"event": "hover", "x": 1, "y": 2, "curve": 0}, [])  # not asked
    assert seen == [message]


def test_clicks_still_reach_click_callbacks_and_junk_is_ignored() -> None:
    view = PlotlyView({"data": [], "layout": {}})
    clicks: list[tuple[int, list[int]]] = []
    view.on_click(lambda trace, points: clicks.append((trace, points)))
    view.on_event("key", lambda m: clicks.append(("key", m["key"])))
    view._handle_custom_msg({"event": "click", "points": [[1, 3], ["x", 2], [1, 5]]}, [])
    view._handle_custom_msg("not a dict", [])
    view._handle_custom_msg({"event": "key", "key": "ArrowUp", "shift": False}, [])
    assert clicks == [(1, [3, 5]), ("key", "ArrowUp")]


def test_an_unknown_event_name_is_refused() -> None:
    with pytest.raises(ValueError, match="mouseover"):
        PlotlyView().on_event("mouseover", print)
    assert set(EVENTS) == {"selected", "relayout", "hover", "key"}
