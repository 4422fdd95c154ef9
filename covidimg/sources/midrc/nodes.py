"""Gen3 node exports as tables: TSV (the portal's and the submission templates') and JSON.

Every export becomes a DataFrame of stripped text cells, one column per field, whatever its
format: Gen3 arrays are written as comma-separated text (the portal's TSV spelling), and a
nested link (``"datasets": [{"submitter_id": "RSNA_20211026"}, ...]``) becomes the flattened
column the TSV has (``datasets.submitter_id``). A file's node is its ``type`` column, else its
file name prefix.

JSON is bounded before it is parsed: at most :data:`MAX_JSON_BYTES` bytes and
:data:`~covidimg.sources._engine.dicom_json.MAX_JSON_DEPTH` levels of nesting (the engine's
bound for every JSON file covidimg reads); the table it gives obeys the text-table bounds
(:data:`~covidimg.sources._engine.ledger.MAX_TABLE_COLUMNS`,
:data:`~covidimg.sources._engine.ledger.MAX_TABLE_CELLS`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from covidimg.errors import TableReadError
from covidimg.sources._engine.dicom_json import MAX_JSON_DEPTH, json_depth
from covidimg.sources._engine.ledger import (
    MAX_TABLE_CELLS,
    MAX_TABLE_COLUMNS,
    Ledger,
    outside_root,
)

__all__ = ["MAX_JSON_BYTES", "export_date", "is_gen3_manifest", "node_of", "read_json_table"]

#: Largest JSON export read, in bytes. The real portal case export of 3,700 cases is 0.9 MB as
#: TSV and about three times that as JSON; 512 MiB holds every node of a full MIDRC release.
MAX_JSON_BYTES = 512 * 2**20

_DATE_IN_NAME = re.compile(r"(?<!\d)(20\d{2})-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")


def export_date(path: str) -> str | None:
    """The export date a file name carries (``midrc_data_download-2025-01-29_0.tsv``,
    ``case_RSNA_20220204.tsv``), as ISO text, or ``None``.

    Examples
    --------
    >>> from covidimg.sources.midrc.nodes import export_date
    >>> export_date("midrc_data_download-2025-01-29_0.tsv"), export_date("case_20220204.json")
    ('2025-01-29', '2022-02-04')
    >>> export_date("case.tsv") is None
    True
    """
    match = _DATE_IN_NAME.search(os.path.basename(path))
    return None if match is None else "-".join(match.groups())


def node_of(path: str, frame: pd.DataFrame, nodes: Iterable[str]) -> str | None:
    """The Gen3 node of an export: its one ``type`` value, else a node name its file name
    starts with (``case_export.tsv``, ``submission_visit_template.tsv``)."""
    if "type" in frame.columns:
        types = {t for t in frame["type"].astype(str).str.strip() if t}
        if len(types) == 1:
            return types.pop()
    stem = os.path.basename(path).lower()
    for node in sorted(nodes, key=len, reverse=True):
        if re.match(rf"^(submission_)?{node}([_.\-]|$)", stem):
            return node
    return None


def _cell(value: Any) -> str:
    """A JSON value as the TSV spells it: arrays comma-joined, ``null`` empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value if v is not None)
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value).strip()


def _flatten(record: Mapping[str, Any]) -> dict[str, str]:
    """One record's fields as TSV columns; a nested link's fields become ``link.field``."""
    out: dict[str, str] = {}
    for key, value in record.items():
        key = str(key).strip()
        if isinstance(value, Mapping):
            value = [value]
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            fields = dict.fromkeys(k for v in value for k in v)
            for field in fields:
                out[f"{key}.{field}"] = ",".join(
                    c for c in (_cell(v.get(field)) for v in value) if c)
        else:
            out[key] = _cell(value)
    return out


def _records(obj: Any) -> list[Any] | None:
    """The records of a Gen3 JSON export: a list of objects, ``{"<node>": [...]}`` (the
    submission API's export) or ``{"data": {"<node>": [...]}}`` (a GraphQL answer)."""
    if isinstance(obj, Mapping) and set(obj) == {"data"} and isinstance(obj["data"], Mapping):
        obj = obj["data"]
    if isinstance(obj, Mapping) and len(obj) == 1:
        (only,) = obj.values()
        if isinstance(only, list):
            return only
    if isinstance(obj, list):
        return obj
    return None


def is_gen3_manifest(records: list[Any]) -> bool:
    """Whether parsed JSON records are a gen3-client download manifest (``object_id`` per
    entry, no node ``type``)."""
    return bool(records) and all(isinstance(r, Mapping) and "object_id" in r and "type" not in r
                                 for r in records)


def read_json_table(path: str, ledger: Ledger) -> tuple[pd.DataFrame | None, str]:
    """Read a Gen3 JSON export into a table of text cells, bounded in bytes and depth.

    Returns ``(table, "")``, or ``(None, why)`` for JSON that is not a node export: a
    gen3-client download manifest (a list of ``object_id`` entries) or any other JSON
    document, which the loader lists as ignored with ``why``.

    Raises
    ------
    TableReadError
        If the file lies outside the source folder, is larger than :data:`MAX_JSON_BYTES`,
        nests deeper than ``MAX_JSON_DEPTH``, is not UTF-8 JSON, or gives a table above the
        text-table bounds.

    Examples
    --------
    >>> import os, tempfile
    >>> from covidimg.sources._engine.ledger import Ledger
    >>> from covidimg.sources.midrc.nodes import read_json_table
    >>> path = os.path.join(tempfile.mkdtemp(), "case.json")
    >>> _ = open(path, "w").write('[{"type": "case", "submitter_id": "c1", '
    ...                           '"datasets": [{"submitter_id": "A"}, {"submitter_id": "B"}]}]')
    >>> read_json_table(path, Ledger("midrc"))[0].to_dict("records")
    [{'type': 'case', 'submitter_id': 'c1', 'datasets.submitter_id': 'A,B'}]
    """
    escape = outside_root(path, ledger.root)
    if escape is not None:
        raise TableReadError(path, escape)
    try:
        with open(path, "rb") as handle:
            # read what the file holds (a read of the bound would allocate it up front)
            raw = handle.read(min(os.fstat(handle.fileno()).st_size, MAX_JSON_BYTES) + 1)
    except OSError as exc:
        raise TableReadError(path, f"cannot be opened ({exc.strerror})") from exc
    if len(raw) > MAX_JSON_BYTES:
        raise TableReadError(path, f"is larger than {MAX_JSON_BYTES:,} bytes, the limit "
                             "(covidimg.sources.midrc.nodes.MAX_JSON_BYTES); the file was not "
                             "read. Export the nodes in smaller parts, or raise the limit")
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise TableReadError(path, f"its JSON nests arrays and objects more than "
                             f"{MAX_JSON_DEPTH} levels deep; no Gen3 export does (the file is "
                             "damaged or not an export)")
    try:
        obj = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise TableReadError(path, f"not a JSON file ({type(exc).__name__}: {exc})") from exc
    del raw
    records = _records(obj)
    if records is None or not all(isinstance(r, Mapping) for r in records):
        return None, ("JSON that is not a Gen3 node export (a list of records, or "
                      "{\"<node>\": [records]})")
    if is_gen3_manifest(records):
        return None, ("gen3-client download manifest (lists object ids; the files themselves "
                      "are read)")
    rows = [_flatten(r) for r in records]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if len(columns) > MAX_TABLE_COLUMNS or len(columns) * len(rows) > MAX_TABLE_CELLS:
        raise TableReadError(path, f"has {len(rows):,} records of {len(columns):,} fields, "
                             f"above the table bounds ({MAX_TABLE_COLUMNS:,} columns, "
                             f"{MAX_TABLE_CELLS:,} cells; covidimg.sources._engine.ledger); "
                             "the file was not read")
    frame = pd.DataFrame(rows, columns=columns, dtype=object).fillna("").astype(str)
    if frame.empty:
        ledger.finding("empty_table", f"{os.path.basename(path)} holds no records",
                       path=path)
    return frame, ""
