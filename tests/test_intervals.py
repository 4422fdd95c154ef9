import numpy as np
import pytest

from covidimg.intervals import (
    grid_intervals,
    midpoint,
    parse_censored_text,
    reference_position,
)


def test_floor_convention_puts_the_value_at_the_lower_edge():
    lower, upper, censor = grid_intervals(np.array([0.3, 1.2, np.nan]), 0.1)
    np.testing.assert_allclose(lower[:2], [0.3, 1.2])
    np.testing.assert_allclose(upper[:2], [0.4, 1.3])
    assert np.isnan(lower[2]) and censor[2] is None
    assert censor[:2].tolist() == ["interval", "interval"]


def test_round_convention_centres_the_value():
    lower, upper, _ = grid_intervals(np.array([45.0]), 5.0, convention="round")
    assert (lower[0], upper[0]) == (42.5, 47.5)


def test_censored_values_are_bounded_by_the_detection_grid():
    values = np.array([-np.inf, 0.3, 33.5, np.inf])
    lower, upper, censor = grid_intervals(values, 0.1)
    assert censor.tolist() == ["left", "interval", "interval", "right"]
    # Below the limit: below the smallest finite true value, which is < 0.3 + 0.1.
    assert lower[0] == -np.inf and upper[0] == pytest.approx(0.4)
    # Above the limit: above the largest finite true value, which is >= 33.5.
    assert lower[3] == pytest.approx(33.5) and upper[3] == np.inf


def test_censored_bounds_hold_when_the_smallest_published_value_is_zero():
    # MHH publishes CRP 0 and -inf: under the floor convention "0" is [0, 1), so a value below
    # the detection limit is below 1, never below 0.
    lower, upper, _ = grid_intervals(np.array([-np.inf, 0.0, 3.0]), 1.0)
    assert (lower[0], upper[0]) == (-np.inf, 1.0)
    lower, upper, _ = grid_intervals(np.array([-np.inf, 0.0]), 1.0, convention="round")
    assert upper[0] == 0.5


def test_explicit_detection_limits_win():
    lower, upper, _ = grid_intervals(np.array([-np.inf, np.inf]), 1.0, detection_low=5,
                                     detection_high=300)
    assert upper[0] == 5 and lower[1] == 300


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="convention='middle'"):
        grid_intervals(np.array([1.0]), 1.0, convention="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision=-1"):
        grid_intervals(np.array([1.0]), -1)


@pytest.mark.parametrize(("text", "expected"), [
    ("<5", (-np.inf, 5.0, "left")),
    ("> 35", (35.0, np.inf, "right")),
    ("<=0.1", (-np.inf, 0.1, "left")),
    ("12", (12.0, 12.0, "none")),
    ("7,5", (7.5, 7.5, "none")),
    (3, (3.0, 3.0, "none")),
])
def test_parse_censored_text(text, expected):
    assert parse_censored_text(text) == expected


@pytest.mark.parametrize("text", ["", "n/a", "10L", "[170/70] - 2020-04-01", None, float("nan")])
def test_parse_censored_text_refuses_what_is_not_a_number(text):
    assert parse_censored_text(text) is None


def test_reference_position_uses_the_interval_not_the_midpoint():
    # CRP reference <= 5 mg/L; published 5 means [5, 6): could be 5.0 (within) or 5.5 (above).
    pos = reference_position(np.array([4.0, 5.0, 6.0]), np.array([5.0, 6.0, 7.0]), -np.inf, 5.0)
    assert pos.tolist() == ["within", "straddles", "above"]
    # Lymphocytes 1.1-4.0: [1.0, 1.1) is entirely below, even though 1.05 rounds to 1.1.
    pos = reference_position(np.array([1.0, 1.1, -np.inf]), np.array([1.1, 1.2, 0.1]), 1.1, 4.0)
    assert pos.tolist() == ["below", "within", "below"]
    # Exact values are points.
    pos = reference_position(np.array([4.0, 0.5]), np.array([4.0, 0.5]), 1.1, 4.0)
    assert pos.tolist() == ["within", "below"]
    assert reference_position(np.array([np.nan]), np.array([np.nan]), 0, 1).tolist() == [None]


def test_midpoint_handles_censoring():
    mid = midpoint(np.array([1.0, -np.inf, 30.0]), np.array([2.0, 0.3, np.inf]))
    assert mid.tolist() == [1.5, 0.3, 30.0]
