"""Outcomes from hospital admission: Kaplan–Meier curves, log-rank tests, a teaching Cox model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from covidimg._validation import check_choice, choices
from covidimg.stats._common import UNKNOWN, group_labels, group_order, lab_values, patient_days
from covidimg.stats._lazy import hazard_regression, stats, survfunc

if TYPE_CHECKING:
    from covidimg.cohort import Cohort

__all__ = ["OUTCOMES", "Outcome", "SurvivalResult", "cox_labs", "kaplan_meier", "survival_data"]

#: Events :func:`kaplan_meier` can follow.
Outcome = Literal["death", "icu_admission"]
#: Each :data:`Outcome` with the label of the y axis, in the same order.
OUTCOMES = dict(zip(choices(Outcome), ("probability of being alive",
                                       "probability of not yet being admitted to ICU"),
                    strict=True))


@dataclass(eq=False)
class SurvivalResult:
    """The result of :func:`kaplan_meier`.

    Attributes
    ----------
    event
        The event followed (``"death"`` or ``"icu_admission"``).
    by
        The grouping, or ``None``.
    curves
        One row per group and time: ``group, time, n_at_risk, n_events, n_censored, survival,
        ci_low, ci_high``; each group starts with a row at time 0 with survival 1.
    durations
        One row per patient used: ``patient_uid, group, origin, duration, observed``.
    excluded
        Patients left out, with the ``reason``.
    test
        Log-rank test across groups: ``statistic, df, p_value, note`` (one row).
    """

    event: Outcome
    by: str | None
    curves: pd.DataFrame
    durations: pd.DataFrame
    excluded: pd.DataFrame
    test: pd.DataFrame
    alpha: float

    @property
    def y_label(self) -> str:
        """The y-axis label a clinician reads."""
        return OUTCOMES[self.event]


def survival_data(cohort: Cohort, event: Outcome = "death", by: str | None = None) -> tuple[
        pd.DataFrame, pd.DataFrame]:
    """Time from admission to ``event`` (or to the last known day) for each patient.

    The origin is the admission day, else the axis' day 0 (the source's index event or first
    exam) when the source gives no admission. Follow-up ends at the last known day (latest exam,
    event or lab day). ``"death"``: a death event is the event. ``"icu_admission"``: the first
    ICU admission is; death before it censors (competing risk, see :func:`kaplan_meier`).

    Returns
    -------
    (durations, excluded)
        ``durations``: ``patient_uid, group, origin, duration, observed``; ``excluded``:
        ``patient_uid, reason`` for patients that cannot be placed (no known day, the event
        before the origin, or ``died`` without a death day).
    """
    check_choice(event, Outcome, "event")
    days = patient_days(cohort)
    groups = group_labels(cohort.patients, by)
    origin = days["admission"].fillna(0.0)
    event_day = days[event]
    end = days["last_known"]
    if event == "icu_admission":
        end = end.where(days["death"].isna() | (days["death"] >= event_day.fillna(np.inf)),
                        days["death"])
    observed = event_day.notna()
    duration = (event_day.where(observed, end) - origin).astype(float)
    reason = pd.Series("", index=days.index, dtype=object)
    reason[duration.isna()] = "no known day (no exam, event or lab day)"
    reason[(duration < 0).fillna(False)] = f"{event} before the admission day"
    if event == "death":
        died = cohort.patients.set_index(cohort.patients["patient_uid"].astype(str))["died"]
        no_day = died.reindex(days.index).fillna(False).astype(bool) & ~observed
        reason[no_day & (reason == "")] = "marked died, but no death day"
    keep = reason == ""
    durations = pd.DataFrame({
        "patient_uid": days.index[keep], "group": groups.reindex(days.index)[keep].to_numpy(),
        "origin": origin[keep].to_numpy(), "duration": duration[keep].to_numpy(),
        "observed": observed[keep].to_numpy(dtype=bool)})
    excluded = pd.DataFrame({"patient_uid": days.index[~keep],
                             "reason": reason[~keep].to_numpy()})
    return durations, excluded


def _curve(durations: pd.DataFrame, z: float) -> pd.DataFrame:
    time = durations["duration"].to_numpy(dtype=float)
    status = durations["observed"].to_numpy(dtype=int)
    times = np.unique(time)
    at_risk = time.size - np.searchsorted(np.sort(time), times, side="left")
    slot = np.searchsorted(times, time)
    events = np.bincount(slot, weights=status, minlength=times.size)
    censored = np.bincount(slot, weights=1 - status, minlength=times.size)
    surv = np.ones(times.size)
    se = np.zeros(times.size)
    if status.any():
        sf = survfunc.SurvfuncRight(time, status)
        idx = np.searchsorted(sf.surv_times, times, side="right") - 1
        has = idx >= 0
        surv[has] = sf.surv_prob[idx[has]]
        se[has] = sf.surv_prob_se[idx[has]]
    # log(-log) transformed pointwise interval, the usual choice; degenerate at S = 0 or 1
    with np.errstate(divide="ignore", invalid="ignore"):
        theta_se = se / (surv * np.abs(np.log(surv)))
        low = surv ** np.exp(z * theta_se)
        high = surv ** np.exp(-z * theta_se)
    low = np.where((surv > 0) & (surv < 1), low, surv)
    high = np.where((surv > 0) & (surv < 1), high, surv)
    out = pd.DataFrame({"time": times, "n_at_risk": at_risk, "n_events": events.astype(int),
                        "n_censored": censored.astype(int), "survival": surv,
                        "ci_low": low, "ci_high": high})
    if not len(out) or out["time"].iloc[0] > 0:
        start = pd.DataFrame({"time": [0.0], "n_at_risk": [time.size], "n_events": [0],
                              "n_censored": [0], "survival": [1.0], "ci_low": [1.0],
                              "ci_high": [1.0]})
        out = pd.concat([start, out], ignore_index=True)
    return out


def kaplan_meier(cohort: Cohort, event: Outcome = "death", by: str | None = None, *,
                 alpha: float = 0.05, include_unknown: bool = False) -> SurvivalResult:
    """Kaplan–Meier curves of time from hospital admission to death or ICU admission.

    Assumes censoring is independent of the outcome: patients whose follow-up ends (last known
    day) have the same prognosis as those still followed. For ICU admission, death censors, so
    ``1 - S`` overstates the cumulative incidence of ICU admission when deaths are common (a
    competing risk). Groups are compared with the log-rank test (statsmodels ``survdiff``).

    Parameters
    ----------
    cohort
        The cohort (typically filtered).
    event
        ``"death"`` or ``"icu_admission"``.
    by
        Patients column to group by (``"icu"``, ``"sex"``, ``"source"``, …) or ``None``.
    alpha
        1 - confidence level of the pointwise intervals (log-log transform, Greenwood variance).
    include_unknown
        Keep patients whose group is unknown as a group ``"unknown"``.

    Returns
    -------
    SurvivalResult

    Examples
    --------
    >>> import covidimg as ci
    >>> km = ci.stats.kaplan_meier(ci.load_demo(), event="death", by="sex")  # doctest: +SKIP
    >>> km.test                                                             # doctest: +SKIP
    """
    durations, excluded = survival_data(cohort, event, by)
    if by is not None and not include_unknown:
        unknown = durations["group"] == UNKNOWN
        excluded = pd.concat([excluded, pd.DataFrame({
            "patient_uid": durations.loc[unknown, "patient_uid"],
            "reason": f"{by} unknown"})], ignore_index=True)
        durations = durations[~unknown].reset_index(drop=True)
    z = float(stats.norm.ppf(1 - alpha / 2))
    curves = []
    for name in group_order(durations["group"]):
        curve = _curve(durations[durations["group"] == name], z)
        curves.append(curve.assign(group=name))
    columns = ["group", "time", "n_at_risk", "n_events", "n_censored", "survival", "ci_low",
               "ci_high"]
    curves_df = (pd.concat(curves, ignore_index=True)[columns] if curves
                 else pd.DataFrame(columns=columns))
    return SurvivalResult(event=event, by=by, curves=curves_df, durations=durations,
                          excluded=excluded, test=_logrank(durations), alpha=alpha)


def _logrank(durations: pd.DataFrame) -> pd.DataFrame:
    k = durations["group"].nunique()
    if k < 2 or not durations["observed"].any():
        note = ("not computed: fewer than two groups" if k < 2
                else "not computed: no events observed")
        return pd.DataFrame([{"test": "logrank", "statistic": np.nan, "df": np.nan,
                              "p_value": np.nan, "note": note}])
    try:
        statistic, p_value = survfunc.survdiff(durations["duration"].to_numpy(dtype=float),
                                      durations["observed"].to_numpy(dtype=int),
                                      durations["group"].to_numpy())
    except np.linalg.LinAlgError:
        return pd.DataFrame([{"test": "logrank", "statistic": np.nan, "df": float(k - 1),
                              "p_value": np.nan,
                              "note": "not computed: no event happened while more than one "
                                      "group was at risk (zero variance)"}])
    return pd.DataFrame([{"test": "logrank", "statistic": float(statistic), "df": float(k - 1),
                          "p_value": float(p_value), "note": "statsmodels survdiff"}])


def cox_labs(cohort: Cohort, analytes: Sequence[str], event: Outcome = "death", *,
             window: tuple[float, float] = (-np.inf, 2.0), log2: bool = True,
             alpha: float = 0.05) -> pd.DataFrame:
    """Teaching example: a Cox model of time to ``event`` on lab values near admission.

    Each patient's first draw of each analyte within ``window`` days of the origin enters as
    the midpoint of its interval (a detection limit stands in for a censored value). Caveats,
    stated because they matter: midpoints ignore the interval width and censoring; only
    complete cases enter; with few events the estimates are unstable; proportional hazards are
    assumed, not checked; lab values are treated as fixed covariates measured at the origin.

    Parameters
    ----------
    cohort
        The cohort.
    analytes
        Analytes to use as covariates, e.g. ``["crp", "ldh"]``.
    event
        ``"death"`` or ``"icu_admission"`` (see :func:`kaplan_meier`).
    window
        ``(first, last)`` days relative to the origin a draw may have.
    log2
        Enter ``log2(value)`` so the hazard ratio is per doubling (values must be positive).
    alpha
        1 - confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per analyte: ``covariate, hazard_ratio, ci_low, ci_high, p_value``;
        ``attrs`` hold ``n_patients``, ``n_events``, ``n_incomplete`` and ``caveats``.

    Examples
    --------
    >>> import covidimg as ci
    >>> ci.stats.cox_labs(ci.load_demo(), ["crp", "ldh"])   # doctest: +SKIP
    """
    analytes = list(analytes)
    if not analytes:
        raise ValueError("analytes is empty; pass at least one analyte, e.g. ['crp']")
    durations, _ = survival_data(cohort, event)
    origin = durations.set_index("patient_uid")["origin"]
    covariates = pd.DataFrame(index=durations["patient_uid"])
    for analyte in analytes:
        values = lab_values(cohort, analyte)
        rel = values["day"] - values["patient_uid"].map(origin)
        values = values[(rel >= window[0]) & (rel <= window[1])]
        values = values.sort_values(["patient_uid", "day"], kind="stable").drop_duplicates(
            "patient_uid")
        lo, hi = values["lower"].to_numpy(), values["upper"].to_numpy()
        mid = np.where(np.isneginf(lo), hi, np.where(np.isposinf(hi), lo, (lo + hi) / 2))
        if log2:
            mid = np.where(mid > 0, np.log2(np.where(mid > 0, mid, 1.0)), np.nan)
        covariates[analyte] = pd.Series(mid, index=values["patient_uid"].to_numpy())
    complete = covariates.notna().all(axis=1).to_numpy()
    data = durations[complete]
    exog = covariates[complete].to_numpy(dtype=float)
    n_events = int(data["observed"].sum())
    columns = ["covariate", "hazard_ratio", "ci_low", "ci_high", "p_value"]
    caveats = ("midpoints ignore interval width and censoring; complete cases only; "
               "proportional hazards assumed, not checked; lab values fixed at the origin")
    if n_events < 2 or len(data) <= len(analytes) + 1:
        out = pd.DataFrame([{"covariate": a, "hazard_ratio": np.nan, "ci_low": np.nan,
                             "ci_high": np.nan, "p_value": np.nan} for a in analytes])[columns]
        out.attrs.update(n_patients=len(data), n_events=n_events,
                         n_incomplete=int((~complete).sum()), caveats=caveats,
                         note=f"not fitted: {n_events} events among {len(data)} complete cases")
        return out
    model = hazard_regression.PHReg(data["duration"].to_numpy(dtype=float), exog,
                  status=data["observed"].to_numpy(dtype=int), ties="efron")
    fit = model.fit()
    ci = np.asarray(fit.conf_int(alpha=alpha))
    label = [f"{a} (per doubling)" if log2 else a for a in analytes]
    out = pd.DataFrame({"covariate": label, "hazard_ratio": np.exp(fit.params),
                        "ci_low": np.exp(ci[:, 0]), "ci_high": np.exp(ci[:, 1]),
                        "p_value": fit.pvalues})
    out.attrs.update(n_patients=len(data), n_events=n_events,
                     n_incomplete=int((~complete).sum()), caveats=caveats, note="")
    return out
