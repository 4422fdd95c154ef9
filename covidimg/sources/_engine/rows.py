"""One rule for a table row that repeats another's key: the first row is kept, every later one
is dropped and reported (``duplicate_row``), naming where the kept row is and which fields the
dropped one would have changed.

A source's table that should hold one row per patient (or per image) sometimes holds two: an
export appended twice, a patient listed under an old and a current id, a row corrected further
down. Letting the later row silently override the earlier one loses the earlier values without
a word; keeping both breaks the one-row-per-key tables. Every loader that reads such a table
calls :func:`drop_repeated_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import pandas as pd

from covidimg.sources._engine.ledger import Ledger

__all__ = ["drop_repeated_rows"]


def drop_repeated_rows(frame: pd.DataFrame, key: str, ledger: Ledger, *, what: str,
                       where: Callable[[Hashable], str],
                       patient_uid: Callable[[str], str | None] | None = None,
                       image_uid: Callable[[str], str | None] | None = None,
                       compare: Sequence[str] = ()) -> pd.DataFrame:
    """Return ``frame`` without the rows whose ``key`` value appeared in an earlier row.

    Each dropped row gives one ``duplicate_row`` finding; its detail names the key (an
    identifier), the kept row's place, and the ``compare`` columns whose value differs from the
    kept row's (by name only: values may be free text). Rows with an empty key are left alone
    (the caller reports them).

    Parameters
    ----------
    frame
        The table, one text cell per column (empty = missing).
    key
        The column that should be unique.
    ledger
        Where the findings go.
    what
        What the key names, for the message (``"image_id"``, ``"patient"``).
    where
        The place of a row (its file and line or row), from its index label; the finding's
        ``path``.
    patient_uid, image_uid
        The uid a key belongs to, for the finding's columns.
    compare
        Columns compared with the kept row.

    Returns
    -------
    pandas.DataFrame
        The rows kept, in their order.

    Examples
    --------
    >>> import pandas as pd
    >>> from covidimg.sources._engine.ledger import Ledger
    >>> from covidimg.sources._engine.rows import drop_repeated_rows
    >>> table = pd.DataFrame({"id": ["a", "b", "a"], "sex": ["F", "M", "M"]})
    >>> ledger = Ledger("crdw")
    >>> kept = drop_repeated_rows(table, "id", ledger, what="patient",
    ...                           where=lambda i: f"patients.csv row {i + 2}", compare=["sex"])
    >>> kept["id"].tolist()
    ['a', 'b']
    >>> print(ledger.findings_frame()["detail"].iat[0])
    patient 'a' appears again (the first row, patients.csv row 2, is kept; this one differs in sex)
    """
    present = frame[key] != ""
    repeated = frame[key].duplicated() & present
    if not repeated.any():
        return frame
    first_of = {value: index for index, value in
                frame.loc[present & ~repeated, key].items()}
    for index in frame.index[repeated]:
        value = frame.at[index, key]
        first = first_of[value]
        differs = [c for c in compare if frame.at[index, c] != frame.at[first, c]]
        change = (f"this one differs in {', '.join(differs)}" if differs else
                  "this one is identical" if compare else "")
        ledger.finding(
            "duplicate_row",
            f"{what} {value!r} appears again (the first row, {where(first)}, is kept"
            + (f"; {change})" if change else ")"),
            patient_uid=patient_uid(value) if patient_uid else None,
            image_uid=image_uid(value) if image_uid else None,
            path=where(index))
    return frame[~repeated]
