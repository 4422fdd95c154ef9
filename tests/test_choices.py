"""Choice parameters: a wrong value raises a ValueError naming the argument, the value and the
allowed values, and the public tuples of choices are their ``Literal`` types' values."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import covidimg as ci
from covidimg import schema
from covidimg._validation import LabMatch, NonPositive, PerPatient, Unaligned, choices
from covidimg.demo import generate_demo
from covidimg.sources import check_options
from covidimg.sources._engine.dates import RECOVER_ALL, Recovery, parse_date
from covidimg.sources._engine.harmonize import FALLBACK_ORDER, DayZeroRule
from covidimg.sources._engine.index import index_options
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources.nccid.values import parse_blood_pressure
from covidimg.stats.intervals_fit import Distribution
from covidimg.stats.outcomes import Outcome
from covidimg.stats.timeline import Align, SortBy


def _fit(**kwargs: Any) -> Any:
    return ci.stats.interval_fit(np.array([1.0, 2.0]), np.array([2.0, 3.0]), **kwargs)


def _index(**settings: Any) -> None:
    with index_options(**settings):
        pass


CASES: list[tuple[str, Callable[[], Any], str, object, tuple[Any, ...]]] = [
    ("dist", lambda: _fit(dist="weibull"), "dist", "weibull", ("lognorm", "norm")),
    ("nonpositive", lambda: _fit(nonpositive="clip"), "nonpositive", "clip", ("raise", "drop")),
    ("event", lambda: ci.stats.kaplan_meier(ci.Cohort(), event="discharge"), "event",
     "discharge", ("death", "icu_admission")),
    ("unaligned", lambda: ci.stats.timeline(ci.Cohort(), unaligned="hide"), "unaligned", "hide",
     ("drop", "keep")),
    ("per_patient", lambda: ci.stats.lab_values(ci.Cohort(), "crp", per_patient="last"),
     "per_patient", "last", ("all", "first", "peak")),
    ("lab_match", lambda: ci.Cohort().filter(lab_match="inside"), "lab_match", "inside",
     ("overlap", "within")),
    ("which", lambda: parse_blood_pressure("120/80", which="mean"), "which", "mean",
     ("systolic", "diastolic")),
    ("order", lambda: parse_date("01/02/2020", order="YMD"), "order", "YMD", ("MDY", "DMY")),
    ("status", lambda: Ledger("mhh").file("a.dcm", "lost"), "status", "lost",
     ("used", "duplicate", "rejected", "ignored")),
    ("table", lambda: schema.empty("visits"), "table", "visits", schema.TABLE_NAMES),
    ("option", lambda: check_options("mhh", {"rounding": 1}, ["convention"]), "option",
     "rounding", ("convention",)),
    ("index setting", lambda: _index(cache_folder="x"), "index_options setting", "cache_folder",
     None),
    ("demo sources", lambda: generate_demo("unused", sources=["idc"]), "sources", "idc", None),
]


@pytest.mark.parametrize(("call", "name", "value", "allowed"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_wrong_choice_names_the_argument_value_and_allowed_values(
        call: Callable[[], Any], name: str, value: object, allowed: tuple[Any, ...] | None) -> None:
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert message.startswith(f"{name}={value!r} is not allowed; allowed values are ["), message
    if allowed is not None:
        assert re.search(re.escape(str(list(allowed))), message), message


def test_public_choices_are_their_literal_types() -> None:
    assert ci.stats.ALIGN == choices(Align)
    assert ci.stats.SORT_BY == choices(SortBy)
    assert tuple(ci.stats.DISTRIBUTIONS) == choices(Distribution)
    assert tuple(ci.stats.OUTCOMES) == choices(Outcome)
    assert ci.stats.OUTCOMES["death"] == "probability of being alive"
    assert schema.FILE_STATUS == choices(schema.FileStatus)
    assert RECOVER_ALL == choices(Recovery)
    assert FALLBACK_ORDER == choices(DayZeroRule)
    assert choices(PerPatient) == ("all", "first", "peak")
    assert choices(LabMatch) == ("overlap", "within")
    assert choices(Unaligned) == ("drop", "keep")
    assert choices(NonPositive) == ("raise", "drop")
