"""The README of an export folder: what is in it, and the licences, citations and terms of
every source it holds (from the cohort's ``provenance`` table)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = ["readme_text"]


def _cell(value: object) -> str:
    """A table value for a Markdown cell: text only, no pipes or line breaks, no markup."""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = " ".join(str(value).split())
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(char, entity)
    return text


def readme_text(provenance: pd.DataFrame, counts: Mapping[str, int],
                settings: Mapping[str, object], files: list[str]) -> str:
    """The README's Markdown."""
    lines = ["# covidimg export", "",
             "A cohort exported by covidimg: the harmonized tables, one table of images for "
             "training, and (when asked) the images as files and download manifests.", "",
             "## Licences, citations and terms", "",
             "Every source below publishes its data under its own licence and terms; using "
             "these files means honouring each one and citing each source.", "",
             "| source | collection | release | licence | cite | terms |",
             "|---|---|---|---|---|---|"]
    columns = ["source", "collection", "release", "license", "citation", "terms"]
    rows = provenance.reindex(columns=columns).drop_duplicates()
    for row in rows.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if not len(rows):
        lines.append("| (no provenance recorded) | | | | | |")
    lines += ["", "## Contents", ""]
    lines += [f"- `{name}`" for name in files]
    lines += ["", "Counts: " + ", ".join(f"{n} {what}" for what, n in counts.items()) + ".",
              "", "Settings: " + ", ".join(f"{k}={_cell(v)}" for k, v in settings.items()) + ".",
              "", "`data-dictionary.md` describes every column of `tables/`. `images.parquet` "
              "(or `.csv`) has one row per image: `file` is the exported image (relative to "
              "this folder) or, when images were not exported, the image's path in the "
              "source; `split` is the patient's side of `Cohort.split`. Reload the tables with "
              "`covidimg.export.open_export(folder)`.", ""]
    return "\n".join(lines)
