"""What to cite for a cohort: its ``provenance`` rows as references, in text or BibTeX.

One reference per distinct citation of the provenance table (a collection's DOI, a source's
URL), with its licence. Where IDC's collections index (``idc-index-data``) knows the DOI, the
reference is the collection's full citation, as TCIA publishes it; otherwise it is the
source, collection and DOI or URL. Nothing is fetched from the network.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pandas as pd

from covidimg._validation import check_choice
from covidimg.registry import source_entry

__all__ = ["CitationStyle", "citations"]

CitationStyle = Literal["text", "bibtex"]
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)
_YEAR = re.compile(r"\((\d{4})\)")
_AUTHOR = re.compile(r"\s*(?:&\s*)?([^,&…]+?, (?:[A-Z]\.\s?(?:-\s?[A-Z]\.\s?)?)+)")


def _doi(citation: str | None) -> str | None:
    match = _DOI.match((citation or "").strip())
    return match.group(1) if match else None


def _authors(text: str) -> list[str]:
    """``Last, I.`` names from an APA reference (before its year); ``others`` when cut short."""
    head = _YEAR.split(text, maxsplit=1)[0]
    names = [m.group(1).strip().rstrip(",") for m in _AUTHOR.finditer(head)]
    return [*names, "others"] if "…" in head and names else names


def _entries(provenance: pd.DataFrame) -> list[dict[str, Any]]:
    # Imported here: the sources package brings pydicom (~0.3 s), which opening a cohort
    # does not need.
    from covidimg.sources.idc.index import references

    rows = provenance.astype(object).where(provenance.notna(), None).to_dict("records")
    known = references(d for d in (_doi(r.get("citation")) for r in rows) if d)
    entries: dict[str, dict[str, Any]] = {}
    for row in rows:
        citation = row.get("citation")
        key = (citation or f"{row['source']}:{row.get('collection') or ''}").lower()
        entry = entries.setdefault(key, {"source": str(row["source"]), "collections": [],
                                         "citation": citation, "license": row.get("license"),
                                         "doi": _doi(citation)})
        if row.get("collection") and row["collection"] not in entry["collections"]:
            entry["collections"].append(row["collection"])
        ref = known.get((entry["doi"] or "").lower())
        if ref:
            entry.update(reference=ref["citation"], title=ref["title"])
    for source in dict.fromkeys(str(r["source"]) for r in rows):
        if source == "idc":  # IDC asks to be cited beside its collections
            url = source_entry("idc").citation
            entries.setdefault(url.lower(), {"source": "idc", "collections": [],
                                             "citation": url, "license": None,
                                             "doi": _doi(url),
                                             "title": "National Cancer Institute Imaging Data "
                                                      "Commons"})
    return list(entries.values())


def _text(entry: dict[str, Any]) -> str:
    licence = f" Licence: {entry['license']}." if entry.get("license") else ""
    if entry.get("reference"):
        return f"{entry['reference']}{licence}"
    what = source_entry(entry["source"]).title
    if entry.get("title"):
        what = entry["title"]
    elif entry["collections"]:
        what += " " + ", ".join(entry["collections"])
    where = entry["citation"] or "no citation recorded"
    return f"{what}. {where}.{licence}"


def _bibtex(entry: dict[str, Any], used: set[str]) -> str:
    reference = entry.get("reference") or ""
    base = re.sub(r"[^a-z0-9]+", "_", (entry["collections"] or [entry["source"]])[0].lower())
    key = base.strip("_") or "covidimg"
    n = 1
    while key in used:
        n += 1
        key = f"{base}_{n}"
    used.add(key)
    fields = {"title": entry.get("title") or _text(entry).split(". ")[0]}
    authors = _authors(reference) if reference else []
    if authors:
        fields["author"] = " and ".join(authors)
    year = _YEAR.search(reference)
    if year:
        fields["year"] = year.group(1)
    if reference and "The Cancer Imaging Archive" in reference:
        fields["publisher"] = "The Cancer Imaging Archive"
    if entry.get("doi"):
        fields["doi"] = entry["doi"]
    if entry.get("citation"):
        fields["url"] = entry["citation"] if "://" in entry["citation"] else \
            f"https://doi.org/{entry['doi']}"
    if entry.get("license"):
        fields["note"] = f"Licence: {entry['license']}"
    body = ",\n".join(f"  {name} = {{{_bib_escape(value)}}}" for name, value in fields.items())
    return f"@misc{{{key},\n{body}\n}}"


def _bib_escape(value: str) -> str:
    return re.sub(r"([{}%&$#_\\])", r"\\\1", str(value))


def citations(provenance: pd.DataFrame, style: CitationStyle = "text") -> str:
    """The references of ``provenance`` rows, one per distinct citation, in ``style``.

    Parameters
    ----------
    provenance
        A cohort's ``provenance`` table.
    style
        ``"text"`` (one reference per line) or ``"bibtex"`` (``@misc`` entries).

    Raises
    ------
    ValueError
        If ``style`` is not ``"text"`` or ``"bibtex"``.
    """
    check_choice(style, CitationStyle, "style")
    entries = _entries(provenance)
    if style == "text":
        return "\n".join(_text(entry) for entry in entries)
    used: set[str] = set()
    return "\n\n".join(_bibtex(entry, used) for entry in entries)
