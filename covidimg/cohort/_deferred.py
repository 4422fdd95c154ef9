"""Tables read, or derived from another table, on first access."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from covidimg.cohort._model import Cohort


class _Deferred:
    """A table read (or derived from another deferred table) on first access, once."""

    __slots__ = ("_frame", "_lock", "_read", "rows")

    def __init__(self, read: Callable[[], pd.DataFrame], rows: int | None = None) -> None:
        self._read: Callable[[], pd.DataFrame] | None = read
        self._frame: pd.DataFrame | None = None
        self._lock = threading.Lock()
        self.rows = rows  # known without reading (from the file's footer), or None

    def get(self) -> pd.DataFrame:
        with self._lock:
            if self._frame is None:
                assert self._read is not None
                self._frame = self._read()
                self._read = None
            return self._frame

    @property
    def done(self) -> bool:
        return self._frame is not None

    def then(self, step: Callable[[pd.DataFrame], pd.DataFrame]) -> _Deferred:
        """A deferred table computed by ``step`` from this one, when first accessed."""
        if self._frame is not None:
            return _Deferred(lambda frame=self._frame: step(frame))
        return _Deferred(lambda: step(self.get()))


def _table_property(name: str) -> property:
    """The attribute of table ``name``: a DataFrame, read on first access when deferred."""

    def get(self: Cohort) -> pd.DataFrame:
        value = self.__dict__[name]
        if isinstance(value, _Deferred):
            value = value.get()
            self.__dict__[name] = value
        return value

    def set(self: Cohort, value: pd.DataFrame | _Deferred) -> None:
        self.__dict__[name] = value

    return property(get, set, doc=f"The {name} table (a pandas DataFrame).")

