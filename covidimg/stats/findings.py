"""The data-quality findings of a cohort, counted per kind with the sources that reported them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from covidimg.cohort import Cohort

__all__ = ["FindingCodes", "findings_table"]

_COLUMNS = ["kind", "findings", "sources"]


@dataclass(eq=False)
class FindingCodes:
    """Every finding's kind and source as codes, made once, to count any subset of the rows.

    Attributes
    ----------
    kind, source
        Per finding, its position in ``kinds`` / ``sources``.
    kinds, sources
        The distinct kinds and sources, sorted.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from covidimg.stats import FindingCodes
    >>> codes = FindingCodes.of(pd.DataFrame({"kind": ["a", "a", "b"],
    ...                                       "source": ["x", "y", "x"]}))
    >>> codes.table(np.array([0, 2]))
      kind  findings sources
    0    a         1       x
    1    b         1       x
    """

    kind: np.ndarray
    kinds: list[str]
    source: np.ndarray
    sources: list[str]

    @classmethod
    def of(cls, findings: pd.DataFrame) -> FindingCodes:
        """The codes of a ``findings`` table (columns ``kind`` and ``source``)."""
        missing = {"kind", "source"} - set(findings.columns)
        if missing:
            raise ValueError(f"findings: the table has no column(s) {sorted(missing)}; pass "
                             "cohort.findings (columns include kind and source)")
        kind, kinds = pd.factorize(findings["kind"].astype(str).to_numpy(dtype=object),
                                   sort=True)
        source, sources = pd.factorize(findings["source"].astype(str).to_numpy(dtype=object),
                                       sort=True)
        return cls(np.asarray(kind), list(kinds), np.asarray(source), list(sources))

    def table(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        """:func:`findings_table` of the findings at positions (or mask) ``rows`` (all: None)."""
        kind = self.kind if rows is None else self.kind[rows]
        source = self.source if rows is None else self.source[rows]
        if not kind.size:
            return pd.DataFrame(columns=_COLUMNS)
        n_sources = len(self.sources)
        pairs = np.bincount(kind * n_sources + source,
                            minlength=len(self.kinds) * n_sources).reshape(len(self.kinds),
                                                                           n_sources)
        n = pairs.sum(axis=1)
        present = np.flatnonzero(n)
        out = pd.DataFrame({
            "kind": [self.kinds[k] for k in present], "findings": n[present],
            "sources": [", ".join(self.sources[j] for j in np.flatnonzero(pairs[k]))
                        for k in present]})
        order = np.argsort(-out["findings"].to_numpy(), kind="stable")
        return out.iloc[order].reset_index(drop=True)


def findings_table(cohort: Cohort | pd.DataFrame) -> pd.DataFrame:
    """Number of data-quality findings per kind, with the sources that reported them.

    What the dashboard's Summary tab shows under "Data-quality findings" (duplicates dropped,
    ids remapped, values that could not be read, ...): most frequent kind first, ties in
    alphabetical order.

    Parameters
    ----------
    cohort
        A cohort (its ``findings`` table is counted) or a findings table itself.

    Returns
    -------
    pandas.DataFrame
        Columns ``kind``, ``findings`` (how many), ``sources`` (comma-separated, sorted).

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.stats import findings_table
    >>> findings_table(pd.DataFrame({"kind": ["a", "a", "b"], "source": ["x", "y", "x"]}))
      kind  findings sources
    0    a         2    x, y
    1    b         1       x
    """
    findings = cohort if isinstance(cohort, pd.DataFrame) else cohort.findings
    return FindingCodes.of(findings).table()
