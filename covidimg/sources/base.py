"""What every source loader returns, and the ledger it keeps of files and findings."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, fields

import pandas as pd

from covidimg import schema

__all__ = ["Ledger", "LoadError", "SourceTables", "StrictModeError", "strict_mode"]


class LoadError(ValueError):
    """A source root cannot be loaded at all (e.g. its main table lacks required columns).

    Problems confined to one file or one value never raise this: they become findings and the
    load goes on.
    """


class StrictModeError(LoadError):
    """Raised in strict mode (``covidimg.load(..., strict=True)``) by the first finding of
    severity ``error``; the message names the finding's kind, file and detail.

    Attributes
    ----------
    finding
        The finding as a ``findings`` row (a dict).
    """

    def __init__(self, finding: dict[str, object]) -> None:
        self.finding = finding
        super().__init__(
            f"strict mode: {finding['source']}: {finding['kind']} in {finding['path'] or '-'}: "
            f"{finding['detail']}. Fix or remove the file, or load without strict=True to skip "
            "it and see every problem in cohort.findings."
        )


_STRICT: ContextVar[bool] = ContextVar("covidimg_strict", default=False)


@contextlib.contextmanager
def strict_mode(enabled: bool = True) -> Iterator[None]:
    """Within the block, a finding of severity ``error`` raises :class:`StrictModeError`.

    :func:`covidimg.load` uses this for ``strict=True``.

    Examples
    --------
    >>> from covidimg.sources.base import Ledger, StrictModeError, strict_mode
    >>> with strict_mode():
    ...     try:
    ...         Ledger("mhh").finding("unreadable_file", "truncated", path="x.png")
    ...     except StrictModeError as exc:
    ...         print(exc.finding["kind"])
    unreadable_file
    """
    token = _STRICT.set(bool(enabled))
    try:
        yield
    finally:
        _STRICT.reset(token)


def raise_if_strict(finding: dict[str, object]) -> None:
    """Raise :class:`StrictModeError` for ``finding`` if strict mode is on and it is an error."""
    if _STRICT.get() and schema.finding_severity(str(finding["kind"])) == "error":
        raise StrictModeError(finding)


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
        """Record a data-quality finding.

        In strict mode (see :func:`strict_mode`) a finding of severity ``error`` raises
        :class:`StrictModeError` instead of letting the load go on.
        """
        row = {
            "kind": kind, "source": self.source, "patient_uid": patient_uid,
            "image_uid": image_uid, "path": None if path is None else os.fspath(path),
            "detail": detail,
        }
        self._findings.append(row)
        raise_if_strict(row)

    def files_frame(self) -> pd.DataFrame:
        """The ``files`` table recorded so far."""
        return pd.DataFrame(list(self._files.values()),
                            columns=schema.TABLES["files"].names)

    def findings_frame(self) -> pd.DataFrame:
        """The ``findings`` table recorded so far."""
        return pd.DataFrame(self._findings, columns=schema.TABLES["findings"].names)
