"""Property-based tests of every parser of text fields in the sources and intervals.

Properties: no exception but the documented ones (``None``/``"bad"`` results, or the parser's
own ``ValueError`` subclass where its docstring says so); formatting a value and parsing it
gives the value back; interval bounds and censoring always contain the true value.

Hypothesis runs derandomized, with no example database (nothing is written to the home or
working folder) and a bounded number of examples per property.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covidimg import intervals, units
from covidimg.errors import ValueProblem
from covidimg.sources import crdw, midrc, tcia
from covidimg.sources._engine import dates as date_parsers
from covidimg.sources._engine import dicom as dicom_mod
from covidimg.sources.nccid import clean as nccid_clean
from covidimg.sources.nccid import store as nccid_store

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None)
#: Characters the parsers care about, so random text often gets past the first check.
SYMBOLS = "0123456789.,/-+[]()<>=≤≥ :;eEkKPaLlYMWDyd%^IinfNA_TZµ'\"\t"
texts = st.one_of(st.text(max_size=40), st.text(alphabet=SYMBOLS, max_size=30))
values = st.one_of(texts, st.none(), st.booleans(), st.integers(-10**6, 10**6),
                   st.floats(allow_nan=True, allow_infinity=True))
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


# ---------------------------------------------------------------------- DICOM values
@FUZZ
@given(values)
def test_dicom_age_never_raises_and_is_non_negative(value: object) -> None:
    years = dicom_mod.parse_age(value)
    assert years is None or (years >= 0 and math.isfinite(years))


@FUZZ
@given(st.integers(0, 999), st.sampled_from("YMWD"))
def test_dicom_age_round_trip(n: int, unit: str) -> None:
    factor = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}[unit]
    assert dicom_mod.parse_age(f"{n:03d}{unit}") == pytest.approx(n * factor)
    assert dicom_mod.parse_age(f"{n}{unit.lower()}") == pytest.approx(n * factor)
    assert dicom_mod.parse_age(str(n)) == n                    # NCCID's bare '81'


@FUZZ
@given(st.one_of(st.none(), texts), texts, texts, texts)
def test_view_is_always_one_of_the_harmonized_views(modality, position, d1, d2) -> None:
    assert dicom_mod.harmonize_view(modality, position, d1, d2) in \
        ("AP", "PA", "LAT", "AXIAL", "UNKNOWN")


@FUZZ
@given(dates, st.times())
def test_dicom_date_and_time_round_trip(date: dt.date, time: dt.time) -> None:
    assert date_parsers.parse_dicom_date(date.strftime("%Y%m%d")) == date
    assert date_parsers.parse_dicom_date(date.strftime("%Y.%m.%d")) == date   # ACR-NEMA style
    text = time.strftime("%H%M%S") + (f".{time.microsecond:06d}" if time.microsecond else "")
    assert date_parsers.parse_dicom_time(text) == time


@FUZZ
@given(values)
def test_dicom_date_and_time_never_raise(value: object) -> None:
    date = date_parsers.parse_dicom_date(value)
    assert date is None or isinstance(date, dt.date)
    time = date_parsers.parse_dicom_time(value)
    assert time is None or isinstance(time, dt.time)


@FUZZ
@given(st.dictionaries(st.sampled_from(dicom_mod.HEADER_TAGS),
                       st.one_of(texts, st.integers(0, 70000), st.lists(texts, max_size=3)),
                       max_size=12))
def test_header_from_values_gives_a_header_or_a_read_error(values: dict) -> None:
    try:
        header = dicom_mod.header_from_values(values, "x.dcm")
    except dicom_mod.DicomReadError as exc:
        assert exc.path == "x.dcm"
        return
    for name in ("patient_id", "sop_uid", "study_uid", "series_uid", "modality"):
        value = getattr(header, name)
        assert value is None or not any(ord(c) < 32 for c in value)


# ---------------------------------------------------------------------- intervals
@FUZZ
@given(values)
def test_censored_text_never_raises_and_is_ordered(value: object) -> None:
    parsed = intervals.parse_censored_text(value)
    if parsed is not None:
        lower, upper, censor = parsed
        assert censor in ("none", "left", "right")
        assert lower <= upper
        assert not (math.isnan(lower) or math.isnan(upper))


@FUZZ
@given(finite, st.sampled_from(["", "<", ">", "<=", ">=", "≤", "≥"]), st.booleans())
def test_censored_text_round_trip(x: float, op: str, comma: bool) -> None:
    text = f"{op} {x!r}"
    if comma and "e" not in text.lower():
        text = text.replace(".", ",")
    lower, upper, censor = intervals.parse_censored_text(text)
    if op in ("", ):
        assert (lower, upper, censor) == (x, x, "none")
    elif op.startswith(("<", "≤")):
        assert (lower, upper, censor) == (-np.inf, x, "left")
    else:
        assert (lower, upper, censor) == (x, np.inf, "right")


@FUZZ
@given(st.lists(st.integers(0, 4000), min_size=1, max_size=40),
       st.sampled_from([1.0, 0.1, 5.0, 0.5]), st.sampled_from(["floor", "round"]),
       st.integers(0, 4000), st.integers(0, 4000), st.integers(0, 9))
def test_grid_interval_bounds_contain_the_true_value(ticks: list[int], precision: float,
                                                     convention: str, low: int, high: int,
                                                     frac: int) -> None:
    """True values on a fine grid are published the MHH way (on the precision grid, -inf /
    inf beyond the detection limits); every interval, censored ones included, holds the
    truth."""
    limit_low, limit_high = sorted((low / 10, high / 10))
    truth = np.array(ticks, dtype=float) / 10 + frac / 100
    step = np.floor if convention == "floor" else np.round
    published = step(truth / precision) * precision
    published = np.where(truth < limit_low, -np.inf, published)
    published = np.where(truth > limit_high, np.inf, published)
    lower, upper, censor = intervals.grid_intervals(published, precision, convention=convention)
    eps = 1e-9 * (1 + np.abs(truth))
    assert ((lower - eps <= truth) & (truth <= upper + eps)).all()
    assert set(censor) <= {"interval", "left", "right"}
    assert ((censor == "left") == np.isneginf(published)).all()


@FUZZ
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=20), finite, finite)
def test_reference_position_agrees_with_the_bounds(pairs, a: float, b: float) -> None:
    ref_low, ref_high = sorted((a, b))
    lower = np.array([min(p) for p in pairs])
    upper = np.array([max(p) for p in pairs])
    where = intervals.reference_position(lower, upper, ref_low, ref_high)
    mid = intervals.midpoint(lower, upper)
    for lo, hi, w, m in zip(lower, upper, where, mid, strict=True):
        assert lo <= m <= hi
        if w == "below":
            assert hi <= ref_low or (lo == hi and lo < ref_low)
        elif w == "above":
            assert lo > ref_high
        elif w == "within":
            assert ref_low <= lo and hi <= ref_high


# ---------------------------------------------------------------------- file names
@FUZZ
@given(st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True),
       st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2099, 1, 1)),
       st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True),
       st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,30}", fullmatch=True))
def test_crdw_zip_name_round_trip(patient: str, when: dt.datetime, hiro: str,
                                  description: str) -> None:
    when = when.replace(microsecond=0)
    name = f"{patient}_{when:%Y%m%d-%H%M%S}_{hiro}_{description}.zip"
    parsed = crdw.parse_zip_name(name)
    assert parsed is not None
    assert (parsed.patient_id, parsed.timestamp, parsed.hiro_id, parsed.description) == \
        (patient, when, hiro, description)


@FUZZ
@given(texts)
def test_crdw_names_never_raise(name: str) -> None:
    parsed = crdw.parse_zip_name(name + ".zip")
    assert parsed is None or isinstance(parsed.timestamp, dt.datetime)
    assert isinstance(crdw.layout._zip_name_problem(name), str)
    crdw.BATCH_PATTERN.match(name)
    assert isinstance(units.normalize_unit(name), str)
    norm_id = crdw.clinical._norm_id
    assert norm_id(name) is None or norm_id(name) == norm_id(norm_id(name))


@FUZZ
@given(st.sampled_from(["data", "status"]), dates)
def test_nccid_clinical_file_name_round_trip(kind: str, date: dt.date) -> None:
    match = nccid_store._CLINICAL_NAME.match(f"{kind}_{date.isoformat()}.json")
    assert match and match["kind"] == kind and match["date"] == date.isoformat()


# ---------------------------------------------------------------------- NCCID clinical values
@FUZZ
@given(values, st.booleans())
def test_dates_give_a_date_none_or_a_value_problem(value: object, day_first: bool) -> None:
    for recover in ((), date_parsers.RECOVER_ALL):
        try:
            parsed = date_parsers.parse_date(value, order="DMY" if day_first else "MDY",
                                      recover=recover)
        except ValueProblem:
            continue
        assert parsed is None or isinstance(parsed.date, dt.date)


@FUZZ
@given(st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2049, 12, 31)),
       st.booleans())
def test_date_round_trip(date: dt.date, day_first: bool) -> None:
    order = "DMY" if day_first else "MDY"
    text = date.strftime("%d/%m/%Y" if day_first else "%m/%d/%Y")
    assert date_parsers.parse_date(text, order=order).date == date
    assert date_parsers.parse_date(f"{date.month}/{date.day}/{date.year}").date == date
    assert date_parsers.parse_date(date.isoformat(), order=order).date == date
    assert date_parsers.parse_date(date.strftime("%Y%m%d"), order=order).date == date
    error_cell = f"[Text] - {date.isoformat()}"
    recovered = date_parsers.parse_date(error_cell, order=order,
                                        recover=date_parsers.RECOVER_ALL)
    assert recovered.date == date


@FUZZ
@given(values)
def test_nccid_numbers_give_an_interval_none_or_a_value_problem(value: object) -> None:
    for parse in (nccid_clean.parse_number, nccid_clean.parse_fio2):
        try:
            parsed = parse(value)
        except ValueProblem:
            continue
        if parsed is not None:
            assert parsed.lower <= parsed.upper
            assert parsed.censor in ("none", "left", "right", "interval")
    for which in ("systolic", "diastolic"):
        try:
            pressure = nccid_clean.parse_blood_pressure(value, which=which)
        except ValueProblem:
            continue
        assert pressure is None or isinstance(pressure, float)


@FUZZ
@given(st.floats(0, 1e5, allow_nan=False).map(lambda x: round(x, 3)),
       st.sampled_from(["", "mg/L", "kPa", "ng/mL", "x10^9/L", "%"]),
       st.sampled_from(["", "<", ">"]), st.booleans())
def test_nccid_number_round_trip(x: float, unit: str, op: str, bracketed: bool) -> None:
    text = f"{op}{x}"
    if bracketed:                          # the spreadsheet error cell: "[67] - 2020-06-06"
        text, unit = f"[{text}] - 2020-04-01", ""
    if unit:
        text += f" {unit}"
    parsed = nccid_clean.parse_number(text)
    expected = {"": (x, x, "none"), "<": (-np.inf, x, "left"), ">": (x, np.inf, "right")}[op]
    assert parsed.interval == expected
    assert parsed.unit == (unit or None)


@FUZZ
@given(st.integers(60, 260), st.integers(30, 150))
def test_nccid_blood_pressure_round_trip(systolic: int, diastolic: int) -> None:
    text = f"[{systolic}/{diastolic}] - 2020-04-01"
    assert nccid_clean.parse_blood_pressure(text, which="systolic") == systolic
    assert nccid_clean.parse_blood_pressure(text, which="diastolic") == diastolic


@FUZZ
@given(st.floats(21, 100, allow_nan=False).map(lambda x: round(x, 1)))
def test_nccid_fio2_percent_and_fraction_agree(percent: float) -> None:
    as_percent = nccid_clean.parse_fio2(f"{percent}%").interval
    assert as_percent[0] == pytest.approx(percent)
    parsed = nccid_clean.parse_fio2(f"{percent / 100:.4f}")
    assert parsed.lower == pytest.approx(percent, abs=0.01)


@FUZZ
@given(texts)
def test_nccid_keys_and_units_normalize_idempotently(text: str) -> None:
    key = nccid_clean.normalize_key(text)
    assert nccid_clean.normalize_key(key) == key
    unit = units.normalize_unit(text)
    assert units.normalize_unit(unit) == unit


@FUZZ
@given(st.sampled_from(sorted(units.FACTORS)), texts, finite)
def test_unit_conversion_converts_or_names_the_unit(analyte: str, unit: str,
                                                    value: float) -> None:
    try:
        out = units.convert(analyte, value, unit)
    except units.UnitConversionError as exc:
        assert "known units are" in str(exc)
        return
    assert math.isfinite(out)


@FUZZ
@given(st.one_of(texts, st.binary(max_size=60),
                 st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), texts),
                              lambda inner: st.one_of(
                                  st.lists(inner, max_size=3),
                                  st.dictionaries(texts, inner, max_size=3)),
                              max_leaves=10).map(lambda obj: __import__("json").dumps(obj))))
def test_clinical_json_gives_a_dict_or_a_value_error(data: str | bytes) -> None:
    try:
        parsed = nccid_clean.read_clinical_json(data)
    except ValueError:
        return
    assert isinstance(parsed, dict)


def test_deeply_nested_clinical_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        nccid_clean.read_clinical_json("[" * 100_000 + "]" * 100_000)


# ---------------------------------------------------------------------- MIDRC and TCIA
@FUZZ
@given(st.lists(st.integers(-400, 400), max_size=6), st.sampled_from(["json", "csv", "quoted"]))
def test_midrc_day_list_round_trip(days: list[int], style: str) -> None:
    if style == "json":
        text = "[" + ", ".join(str(d) for d in days) + "]"
    elif style == "csv":
        text = ",".join(str(d) for d in days)
    else:
        text = "[" + ", ".join(f"'{d}'" for d in days) + "]"
    assert midrc.parse_day_list(text) == [float(d) for d in days]


@FUZZ
@given(values)
def test_midrc_day_list_never_raises(value: object) -> None:
    parsed = midrc.parse_day_list(value)
    assert parsed is None or all(isinstance(d, float) for d in parsed)


@FUZZ
@given(st.integers(0, 120), st.integers(0, 120), st.sampled_from("[("),
       st.sampled_from("])"))
def test_tcia_age_band_round_trip(a: int, b: int, left: str, right: str) -> None:
    low, high = min(a, b), max(a, b)
    band = tcia.parse_age_band(f"{left}{low},{high}{right}")
    expected = (low + (left == "("), high - (right == ")"))
    if expected[0] > expected[1]:
        assert band is None
    else:
        assert band == expected


@FUZZ
@given(values)
def test_tcia_age_band_never_raises(value: object) -> None:
    band = tcia.parse_age_band(value)
    assert band is None or band[0] <= band[1]
