from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from covidimg import schema
from covidimg.errors import SchemaError

DICTIONARY = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"


def test_data_dictionary_is_generated_from_the_schema():
    assert DICTIONARY.read_text() == schema.data_dictionary_markdown(), (
        "docs/data-dictionary.md is stale: run "
        "`python -m covidimg.schema > docs/data-dictionary.md`")


def test_dictionary_lists_every_column_and_analyte():
    text = schema.data_dictionary_markdown()
    for table in schema.TABLES.values():
        for column in table.columns:
            assert f"`{column.name}`" in text
    for analyte in schema.ANALYTES:
        assert f"`{analyte}`" in text


def test_design_contract_columns_are_present():
    assert schema.TABLES["patients"].names[:10] == [
        "patient_uid", "source", "source_patient_id", "sex", "age_min", "age_max",
        "covid_status", "icu", "died", "site"]
    assert schema.TABLES["labs"].names == [
        "patient_uid", "image_uid", "analyte", "unit", "lower", "upper", "censor", "day",
        "offset", "value_raw"]


def test_analyte_table_has_mhh_precisions_from_the_readme():
    table = schema.analyte_table()
    assert table.loc["crp", "mhh_precision"] == 1
    assert table.loc["d_dimer", "mhh_precision"] == 0.1
    assert table.loc["factor_xiii", "mhh_column"] == "factor_xii"
    assert table.loc["ldh", "ref_high"] == 248
    assert table.loc["lymphocytes", "ref_low"] == 1.1


def test_conform_orders_columns_and_keeps_extras():
    frame = pd.DataFrame({"day": [1], "event": ["death"], "patient_uid": ["mhh:a"],
                          "note": ["x"]})
    out = schema.conform("events", frame)
    assert list(out.columns) == ["patient_uid", "event", "day", "note"]
    assert out["event"].dtype == "category"


def test_conform_names_table_column_and_values_on_bad_category():
    frame = pd.DataFrame({"patient_uid": ["mhh:a"], "event": ["abduction"], "day": [1.0]})
    with pytest.raises(SchemaError, match=r"events\.event.*abduction.*allowed"):
        schema.conform("events", frame)


def test_conform_names_missing_required_columns():
    with pytest.raises(SchemaError, match=r"'events' lacks required columns \['day'\]"):
        schema.conform("events", pd.DataFrame({"patient_uid": ["a"], "event": ["death"]}))


def test_conform_rejects_non_numeric():
    frame = pd.DataFrame({"patient_uid": ["a"], "event": ["death"], "day": ["soon"]})
    with pytest.raises(SchemaError, match=r"events\.day.*float64.*soon"):
        schema.conform("events", frame)


def test_validate_reports_nulls_duplicates_and_inverted_intervals():
    labs = schema.conform("labs", pd.DataFrame({
        "patient_uid": ["a", "a"], "image_uid": [None, None], "analyte": ["crp", "crp"],
        "unit": ["mg/L", "mg/L"], "lower": [5.0, 3.0], "upper": [4.0, np.inf],
        "censor": ["interval", "right"], "day": [0.0, 1.0], "offset": [0.0, 0.0],
        "value_raw": ["5", ">3"]}))
    with pytest.raises(SchemaError, match="lower > upper at rows \\[0\\]"):
        schema.validate("labs", labs)
    events = schema.conform("events", pd.DataFrame(
        {"patient_uid": ["a", "a"], "event": ["death", "death"], "day": [1.0, 1.0]}))
    with pytest.raises(SchemaError, match="duplicated key"):
        schema.validate("events", events)
    patients = schema.empty("patients")
    patients.loc[0, "patient_uid"] = None
    with pytest.raises(SchemaError):
        schema.validate("patients", schema.conform("patients", patients))


def test_validate_rejects_wrong_dtype():
    frame = schema.empty("events").astype({"day": "object"})
    with pytest.raises(SchemaError, match="dtype object, expected float64"):
        schema.validate("events", frame)


def test_unknown_table():
    with pytest.raises(SchemaError, match="table='visits' is not allowed; allowed values are"):
        schema.empty("visits")


def test_conform_keeps_a_conformed_categorical_and_rebuilds_any_other_order():
    conformed = schema.conform("events", pd.DataFrame(
        {"patient_uid": ["mhh:a", "mhh:b"], "event": ["death", "admission"], "day": [1.0, 0.0]}))
    again = schema.conform("events", conformed)
    pd.testing.assert_frame_equal(again, conformed)
    event = schema.TABLES["events"].columns[1]
    column = conformed["event"]
    assert schema._cast(column, event, "events") is column   # kept as it is, not rebuilt
    reordered = conformed.assign(event=conformed["event"].cat.reorder_categories(
        list(reversed(event.allowed))))
    out = schema.conform("events", reordered)
    pd.testing.assert_frame_equal(out, conformed)   # the contract's order, same values
    assert list(out["event"]) == ["death", "admission"]


def test_validate_names_a_categorical_value_outside_the_allowed_set():
    frame = schema.conform("events", pd.DataFrame(
        {"patient_uid": ["mhh:a"], "event": ["death"], "day": [1.0]}))
    frame["event"] = pd.Categorical(["abduction"], categories=["abduction", "death"])
    with pytest.raises(SchemaError, match=r"'event' has dtype|values \['abduction'\]"):
        schema.validate("events", frame)
    unused = frame.assign(event=pd.Categorical(["death"], categories=["abduction", "death"]))
    schema.validate("events", unused)   # a category no row uses is not a value


def test_every_reference_names_the_key_of_another_table():
    declared = []
    for table in schema.TABLES.values():
        for col in table.references:
            target, key = col.referenced
            assert target in schema.TABLES and target != table.name, col
            assert schema.TABLES[target].key == (key,), f"{table.name}.{col.name}"
            assert col.dtype == schema.TABLES[target].column(key).dtype
            declared.append(f"{table.name}.{col.name}")
    assert declared == ["images.patient_uid", "events.patient_uid", "labs.patient_uid",
                        "labs.image_uid", "files.image_uid", "findings.patient_uid",
                        "observations.patient_uid", "annotations.patient_uid",
                        "annotations.image_uid"]


def test_the_dictionary_draws_the_relations_from_the_references():
    text = schema.data_dictionary_markdown()
    diagram = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert diagram.startswith("erDiagram\n")
    for table in schema.TABLES.values():
        for col in table.references:
            assert f'{col.referenced[0]} ' in diagram
            assert f': "{table.name}.{col.name}"' in diagram
            assert f"`{col.references}`" in text
