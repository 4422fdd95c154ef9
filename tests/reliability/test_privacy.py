"""No identifying data out: DICOM names, birth dates, addresses and institutions never reach an
output.

The demo layouts of every DICOM-reading source (NCCID, CRDW, MIDRC, TCIA) get distinctive
identifying values stamped into every DICOM file (inside CRDW's zips too) and every NCCID
DICOM-JSON metadata file, plus identifying files whose corrupt element lengths would make a
careless reader swallow the identifying elements into the patient id or a UID. The cohort then
goes through load, save (the Parquet bytes), ``covidimg index`` / ``covidimg report``, every
plotting function's figure JSON, thumbnails (PNG bytes and cache files), the gallery's captions
and tooltips and the dashboard embedded as HTML. Each value is searched case-insensitively, with
``^`` as written and as a space, and each name component on its own.
"""

from __future__ import annotations

from pathlib import Path

from . import corpus
from .outputs import build_identifying_sources, collect_outputs, leaks


def test_no_identifying_string_reaches_any_output(tmp_path: Path) -> None:
    """One test (one build) so that parallel workers do not build the sources twice."""
    roots = build_identifying_sources(tmp_path / "sources")
    # The inputs do carry the values, and the search finds them in any spelling.
    carrying = {source: sum(bool(corpus.leaked(p.read_bytes())) for p in root.rglob("*")
                            if p.is_file() and p.suffix in (".dcm", ".zip", ".json"))
                for source, root in roots.items()}
    assert all(n >= 5 for n in carrying.values()), carrying
    assert set(corpus.leaked("mustermann ERIKA, St Elsewhere General")) >= {
        "Mustermann^Erika".replace("^", " "), "St Elsewhere General", "Mustermann"}

    outputs = collect_outputs(roots, tmp_path / "work")
    # Every output path was exercised ...
    names = set(outputs)
    for table in ("patients", "images", "events", "labs", "files", "findings"):
        assert f"table {table}" in names
    assert any(n.startswith("saved ") and n.endswith(".parquet") for n in names)
    assert outputs["covidimg index"].startswith("exit 0")
    assert outputs["covidimg report"].startswith("exit 0")
    assert "unreadable_file" in outputs["covidimg report"]
    assert len([n for n in names if n.startswith("figure ")]) == 9
    assert outputs["thumbnail PNGs"][:4] == b"\x89PNG"
    assert outputs["gallery captions"].count("\n") >= 20
    assert len(outputs["dashboard HTML"]) > 10_000
    # ... and none of them quotes an identifying value.
    assert leaks(outputs) == {}
