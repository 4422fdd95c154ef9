"""k-anonymity, l-diversity and the generalization that reaches a target k."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covidimg.stats import generalize_for_k, k_anonymity, l_diversity


@pytest.fixture
def people() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 60
    return pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age": rng.integers(20, 90, n),
                         "died": rng.random(n) < 0.3})


def test_classes_and_smallest_class_match_a_direct_count(people: pd.DataFrame) -> None:
    rep = k_anonymity(people, ["sex", "age"], k=3, bands={"age": 10})
    decade = (people["age"] // 10) * 10
    sizes = people.groupby([people["sex"], decade]).size()
    assert rep.smallest_class == sizes.min()
    assert len(rep.classes) == len(sizes)
    assert rep.classes["below_k"].sum() == (sizes < 3).sum()
    assert rep.summary()["n_records_below_k"].item() == sizes[sizes < 3].sum()
    assert set(rep.classes["age"]) == {f"[{d}, {d + 10})" for d in decade.unique()}


def test_wider_bands_never_lower_the_smallest_class(people: pd.DataFrame) -> None:
    smallest = [k_anonymity(people, ["sex", "age"], bands={"age": w}).smallest_class
                for w in (1, 5, 10, 20, 40, 80)]
    # nested bands (each width divides the next) can only merge classes
    assert smallest == sorted(smallest)
    assert k_anonymity(people, ["sex", "age"], bands={"age": None}).smallest_class == (
        people["sex"].value_counts().min())


def test_generalize_for_k_recommends_the_finest_band_that_reaches_k(people: pd.DataFrame) -> None:
    res = generalize_for_k(people, ["sex", "age"], k=5, candidates={"age": [5, 10, 20, 40,
                                                                           None]})
    assert res["width_age"].tolist() == [5, 10, 20, 40, "suppressed"]
    best = res[res["recommended"]].iloc[0]
    assert best["smallest_class"] >= 5
    earlier = res.index[res["recommended"]][0]
    assert not res.loc[: earlier - 1, "satisfied"].any()
    with_budget = generalize_for_k(people, ["sex", "age"], k=5, max_suppressed=10,
                                   candidates={"age": [5, 10, 20, 40, None]})
    assert with_budget.index[with_budget["recommended"]][0] <= earlier


def test_patients_table_age_band_and_redacted_ages() -> None:
    patients = pd.DataFrame({"sex": ["F", "F", "M", "M"], "age_min": [30.0, 35, 60, np.nan],
                             "age_max": [30.0, 39, 69, np.nan]})
    rep = k_anonymity(patients, ["sex", "age"], k=2, bands={"age": 10})
    assert set(rep.classes["age"]) == {"[30, 40)", "[60, 70)", "missing"}
    assert rep.classes.set_index(["sex", "age"]).loc[("F", "[30, 40)"), "size"] == 2
    raw = k_anonymity(patients, ["sex", "age"], k=2)
    assert set(raw.classes["age"]) == {"30", "[35, 40)", "[60, 70)", "missing"}


def test_l_diversity_counts_distinct_sensitive_values() -> None:
    table = pd.DataFrame({"sex": ["F", "F", "F", "M", "M"],
                          "died": [True, False, True, False, False]})
    rep = l_diversity(table, ["sex"], "died", l=2)
    assert rep.classes.set_index("sex")["n_sensitive"].to_dict() == {"F": 2, "M": 1}
    assert not rep.satisfied
    assert rep.summary()["smallest_l"].item() == 1


def test_errors_name_the_column(people: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'height' is not a column"):
        k_anonymity(people, ["sex", "height"])
    with pytest.raises(ValueError, match=r"bands\['sex'\]: 'sex' is not a numeric column"):
        k_anonymity(people, ["sex"], bands={"sex": 5})
    with pytest.raises(ValueError, match="sensitive='outcome' is not a column"):
        k_anonymity(people, ["sex"], sensitive="outcome")
