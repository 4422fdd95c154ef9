"""What every source loader returns, and the ledger it keeps of files and findings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

import pandas as pd

from covidimg import schema

__all__ = ["Ledger", "LoadError", "SourceTables"]


class LoadError(ValueError):
    """A source root cannot be loaded at all (e.g. its main table lacks required columns).

    Problems confined to one file or one value never raise this: they become findings and the
    load goes on.
    """


@dataclass
class SourceTables:
    """The six harmonized tables one source loader produced.

    Loaders build plain DataFrames and call :meth:`conformed` before returning, so every table
    leaves the loader with the contract's columns and dtypes (see :mod:`covidimg.schema`).
    """

    source: str
    patients: pd.DataFrame = field(default_factory=lambda: schema.empty("patients"))
    images: pd.DataFrame = field(default_factory=lambda: schema.empty("images"))
    events: pd.DataFrame = field(default_factory=lambda: schema.empty("events"))
    labs: pd.DataFrame = field(default_factory=lambda: schema.empty("labs"))
    files: pd.DataFrame = field(default_factory=lambda: schema.empty("files"))
    findings: pd.DataFrame = field(default_factory=lambda: schema.empty("findings"))

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables as a mapping of table name to DataFrame."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}

    def conformed(self) -> SourceTables:
        """Return a copy whose tables are conformed to, and validated against, the schema."""
        out = {}
        for name, frame in self.tables().items():
            out[name] = schema.validate(name, schema.conform(name, frame))
        return SourceTables(self.source, **out)


class Ledger:
    """Collects the ``files`` and ``findings`` rows of one source while it loads.

    Parameters
    ----------
    source
        The source name (``"mhh"``, ``"nccid"``, ...).
    root
        The source root; paths are recorded as given (absolute when the root is absolute).
    """

    def __init__(self, source: str, root: str | os.PathLike[str] = "") -> None:
        self.source = source
        self.root = os.fspath(root)
        self._files: dict[str, dict[str, object]] = {}
        self._findings: list[dict[str, object]] = []

    def file(self, path: str | os.PathLike[str], status: str, *, image_uid: str | None = None,
             reason: str = "") -> None:
        """Record what became of ``path`` (``used``, ``duplicate``, ``rejected``, ``ignored``).

        A later record of the same path replaces the earlier one, so a loader can first mark a
        file used and later downgrade it to duplicate.
        """
        if status not in schema.FILE_STATUS:
            raise ValueError(f"status {status!r} is not one of {schema.FILE_STATUS}")
        key = os.fspath(path)
        self._files[key] = {"path": key, "source": self.source, "status": status,
                            "image_uid": image_uid, "reason": reason}

    def status(self, path: str | os.PathLike[str]) -> str | None:
        """Return the recorded status of ``path``, or ``None`` if it is not recorded."""
        row = self._files.get(os.fspath(path))
        return None if row is None else str(row["status"])

    def finding(self, kind: str, detail: str, *, patient_uid: str | None = None,
                image_uid: str | None = None, path: str | os.PathLike[str] | None = None) -> None:
        """Record a data-quality finding."""
        self._findings.append({
            "kind": kind, "source": self.source, "patient_uid": patient_uid,
            "image_uid": image_uid, "path": None if path is None else os.fspath(path),
            "detail": detail,
        })

    def files_frame(self) -> pd.DataFrame:
        """The ``files`` table recorded so far."""
        return pd.DataFrame(list(self._files.values()),
                            columns=schema.TABLES["files"].names)

    def findings_frame(self) -> pd.DataFrame:
        """The ``findings`` table recorded so far."""
        return pd.DataFrame(self._findings, columns=schema.TABLES["findings"].names)
