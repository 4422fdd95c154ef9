"""The one date parser family: every form, both orders, each recovery, the DICOM DA/TM values."""

from __future__ import annotations

import datetime as dt

import pytest

from covidimg.errors import ValueProblem
from covidimg.sources._engine.dates import (
    RECOVER_ALL,
    is_missing,
    parse_date,
    parse_dicom_date,
    parse_dicom_time,
)


@pytest.mark.parametrize(("value", "order", "expected"), [
    # ISO, with and without a time
    ("2020-04-01", "MDY", dt.date(2020, 4, 1)),
    ("2020-4-1", "DMY", dt.date(2020, 4, 1)),
    ("2020-03-02 06:10", "MDY", dt.date(2020, 3, 2)),
    ("2020-03-02 06:10:59", "MDY", dt.date(2020, 3, 2)),
    ("2020-04-01T00:00:00", "DMY", dt.date(2020, 4, 1)),
    ("2020-04-01T23:59:59.250", "MDY", dt.date(2020, 4, 1)),
    # slash dates in both orders, every separator, two- and four-digit years, with a time
    ("03/04/2020", "DMY", dt.date(2020, 4, 3)),
    ("03/04/2020", "MDY", dt.date(2020, 3, 4)),
    ("3/4/2020", "MDY", dt.date(2020, 3, 4)),
    ("03-04-2020", "MDY", dt.date(2020, 3, 4)),
    ("03.04.2020", "DMY", dt.date(2020, 4, 3)),
    ("3/31/20", "MDY", dt.date(2020, 3, 31)),
    ("12/27/1900", "MDY", dt.date(1900, 12, 27)),        # TCIA SBU's shifted dates
    ("1/2/85", "MDY", dt.date(1985, 1, 2)),               # two digits 69-99: 19xx
    ("1/2/68", "MDY", dt.date(2068, 1, 2)),               # 00-68: 20xx
    ("3/5/2020 14:30", "MDY", dt.date(2020, 3, 5)),
    ("3/5/2020 14:30:05", "MDY", dt.date(2020, 3, 5)),
    # compact YYYYMMDD (DICOM DA, CRDW names)
    ("20200301", "MDY", dt.date(2020, 3, 1)),
    # date objects pass through
    (dt.datetime(2020, 3, 1, 12, 0), "MDY", dt.date(2020, 3, 1)),
    (dt.date(2020, 3, 1), "DMY", dt.date(2020, 3, 1)),
])
def test_dates_read_as_written(value, order, expected):
    parsed = parse_date(value, order=order)
    assert parsed.date == expected and parsed.note == ""
    assert parse_date(value, order=order, recover=RECOVER_ALL) == parsed


@pytest.mark.parametrize(("value", "order", "expected", "note"), [
    ("31/03/2020", "MDY", dt.date(2020, 3, 31),
     "not a valid MM/DD/YYYY date; read as DD/MM/YYYY"),
    ("05/16/2020", "DMY", dt.date(2020, 5, 16),
     "not a valid DD/MM/YYYY date; read as MM/DD/YYYY"),
    ("[Text] - 2020-03-20", "MDY", dt.date(2020, 3, 20),
     "spreadsheet error cell [Text]; kept its date 2020-03-20"),
    # Excel serials: 43831 = 2020-01-01 (epoch 1899-12-30, counting Excel's 1900-02-29)
    ("43909", "MDY", dt.date(2020, 3, 19), "Excel serial day number; read as 2020-03-19"),
    (43831, "DMY", dt.date(2020, 1, 1), "Excel serial day number; read as 2020-01-01"),
    (43909.0, "MDY", dt.date(2020, 3, 19), "Excel serial day number; read as 2020-03-19"),
])
def test_recoveries_give_the_date_and_say_how(value, order, expected, note):
    parsed = parse_date(value, order=order, recover=RECOVER_ALL)
    assert (parsed.date, parsed.note) == (expected, note)
    with pytest.raises(ValueProblem):  # without the recovery, the value is not a date
        parse_date(value, order=order)


def test_each_recovery_is_only_tried_when_asked():
    assert parse_date("31/03/2020", recover=("other_order",)).date == dt.date(2020, 3, 31)
    with pytest.raises(ValueProblem):
        parse_date("[Text] - 2020-03-20", recover=("other_order", "excel_serial"))
    with pytest.raises(ValueProblem):
        parse_date("43909", recover=("other_order", "error_cell"))
    with pytest.raises(ValueError, match=r"recover='guess' is not allowed; allowed values are"):
        parse_date("2020-01-01", recover=("guess",))
    with pytest.raises(ValueError, match="order='YMD'"):
        parse_date("2020-01-01", order="YMD")


@pytest.mark.parametrize("value", [None, "", " ", ".", "-", "NA", "n/a", "#N/A", "NULL", "NaT",
                                   "Unknown", "not recorded", float("nan")])
def test_empty_values_are_missing_not_problems(value):
    assert is_missing(value)
    assert parse_date(value, recover=RECOVER_ALL) is None


@pytest.mark.parametrize("value", ["31/31/2020", "yesterday", "2020-02-30", "2020-03-01 25:00",
                                   "[Text] - 2020-13-01", "12", "2020/03/01x", True, 1.5, 12,
                                   99999])
def test_non_dates_raise_value_problem(value):
    with pytest.raises(ValueProblem):
        parse_date(value, recover=RECOVER_ALL)


def test_problem_names_the_expected_forms():
    with pytest.raises(ValueProblem, match=r"expected DD/MM/YYYY, YYYY-MM-DD or "
                                           r"'\[Text\] - YYYY-MM-DD'"):
        parse_date("soon", order="DMY", recover=RECOVER_ALL)
    with pytest.raises(ValueProblem, match="expected MM/DD/YYYY or YYYY-MM-DD$"):
        parse_date("soon")


@pytest.mark.parametrize(("value", "expected"), [
    ("20200301", dt.date(2020, 3, 1)), ("2020.03.01", dt.date(2020, 3, 1)),  # ACR-NEMA
    ("20200230", None), ("2020", None), ("", None), (None, None),
])
def test_dicom_da(value, expected):
    assert parse_dicom_date(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("140030", dt.time(14, 0, 30)), ("1400", dt.time(14, 0)), ("14", dt.time(14)),
    ("140030.123", dt.time(14, 0, 30, 123000)), ("14:00:30", dt.time(14, 0, 30)),
    ("250000", None), ("14003", None), ("", None), (None, None),
])
def test_dicom_tm(value, expected):
    assert parse_dicom_time(value) == expected
