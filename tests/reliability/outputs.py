"""Every output a user can get from a cohort, collected as text or bytes for leak checks.

:func:`build_identifying_sources` writes the demo layouts of the DICOM-reading sources with
identifying fields stamped into every DICOM file and metadata file (plus corrupt identifying
files); :func:`collect_outputs` runs the cohort through load, save, the CLI, every figure,
thumbnails, the gallery and the dashboard, and returns what each produced.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import covidimg as ci
import covidimg.plotting as cp
import covidimg.stats as st
from covidimg.imaging import thumbnails

from .corpus import identifying_corruptions, leaked
from .layouts import DICOM_SOURCES, plant, stamp_identifying, write_layout


def build_identifying_sources(folder: Path) -> dict[str, Path]:
    """The four DICOM-reading layouts, every DICOM / metadata file carrying identifying
    fields, plus identifying files with corrupt lengths. Raises if nothing was stamped."""
    roots = {}
    for source in DICOM_SOURCES:
        root = write_layout(source, folder / source)
        if stamp_identifying(root) == 0:
            raise AssertionError(f"no file of the {source} layout could be stamped")
        plant(source, root, identifying_corruptions())
        roots[source] = root
    return roots


def _figures(cohort: ci.Cohort) -> dict[str, Callable[[], object]]:
    timeline = st.timeline(cohort)
    return {
        "plot_timeline": lambda: cp.plot_timeline(timeline),
        "plot_census": lambda: cp.plot_census(st.timeline_census(timeline)),
        "plot_lab_distribution": lambda: cp.plot_lab_distribution(
            st.compare_labs(cohort, "crp", by="icu", per_patient="all")),
        "plot_lab_cdf": lambda: cp.plot_lab_cdf(st.compare_labs(cohort, "crp", by="icu")),
        "plot_kaplan_meier": lambda: cp.plot_kaplan_meier(
            st.kaplan_meier(cohort, "death", by="icu")),
        "plot_table_one": lambda: cp.plot_table_one(st.table_one(cohort, by="icu")),
        "plot_missingness": lambda: cp.plot_missingness(st.missingness(cohort)),
        "plot_equivalence_classes": lambda: cp.plot_equivalence_classes(
            st.k_anonymity(cohort.patients, ["sex", "icu"], k=5)),
        "empty_figure": lambda: cp.empty_figure("Cohort", "no patients match"),
    }


def collect_outputs(roots: dict[str, Path], work: Path) -> dict[str, str | bytes]:
    """Run the identifying cohort through every output path; return ``{output: content}``."""
    out: dict[str, str | bytes] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cohort = ci.load({s: str(r) for s, r in roots.items()}, progress=False)
        for name, table in cohort.tables().items():
            out[f"table {name}"] = table.to_csv(index=False)
        out["repr and summaries"] = "\n".join([repr(cohort), cohort.summary().to_csv(),
                                               cohort.findings_summary().to_csv()])

        saved = work / "saved"
        cohort.save(saved)
        for path in sorted(saved.rglob("*")):
            if path.is_file():
                out[f"saved {path.relative_to(saved)}"] = path.read_bytes()
        reopened = ci.Cohort.open(saved)
        out["reopened tables"] = "\n".join(t.to_csv() for t in reopened.tables().values())

        specs = [f"{s}={r}" for s, r in roots.items()]
        for argv in (["index", *specs, "-o", str(work / "cli"), "-q"],
                     ["report", str(work / "cli")]):
            run = subprocess.run([sys.executable, "-m", "covidimg.cli", *argv],
                                 capture_output=True, text=True, timeout=300, check=False)
            out[f"covidimg {argv[0]}"] = f"exit {run.returncode}\n{run.stdout}{run.stderr}"

        for name, make in _figures(cohort).items():
            out[f"figure {name}"] = make().to_json()  # type: ignore[attr-defined]

        batch = thumbnails(cohort.images, size=64, cache_dir=work / "thumbs", progress=False)
        out["thumbnail PNGs"] = b"".join(batch.images)
        out["thumbnail findings"] = batch.findings.to_csv()
        for path in sorted((work / "thumbs").rglob("*")):
            if path.is_file():
                out[f"thumbnail cache {path.name}"] = path.read_bytes()

        out.update(_widget_outputs(cohort, work))
    out["warnings"] = "\n".join(str(w.message) for w in caught)
    return out


def _widget_outputs(cohort: ci.Cohort, work: Path) -> dict[str, str]:
    """Gallery captions and tooltips, and the dashboard embedded as HTML."""
    from ipywidgets.embed import embed_minimal_html

    from covidimg.widgets import Dashboard, ImageGallery

    out: dict[str, str] = {}
    gallery = ImageGallery(cohort, page_size=200)
    out["gallery captions"] = "\n".join(gallery.captions)
    tips = []
    for widget in gallery.children:
        stack = [widget]
        while stack:
            item = stack.pop()
            for attr in ("tooltip", "description", "value", "placeholder"):
                value = getattr(item, attr, None)
                if isinstance(value, str):
                    tips.append(value)
            stack.extend(getattr(item, "children", ()))
    out["gallery tooltips and texts"] = "\n".join(tips)
    dashboard = Dashboard(cohort)
    radiographs = cohort.images["modality"].astype(str).isin(["CR", "DX"])
    if radiographs.any():       # the Course tab: one patient's radiographs with their captions
        patient = cohort.images.loc[radiographs, "patient_uid"].astype(str).value_counts()
        dashboard.open_course(str(patient.index[0]))
        out["course title and captions"] = "\n".join([dashboard.course.title.value,
                                                      *dashboard.course.captions])
    html = work / "dashboard.html"
    embed_minimal_html(html, views=[dashboard], title="covidimg dashboard")
    out["dashboard HTML"] = _without_plotly_library(html.read_text(encoding="utf-8"))
    return out


def _without_plotly_library(page: str) -> str:
    """``page`` without the widget that carries plotly.js itself (third-party code, whose
    country list holds "amerika samoa": not data, and a false match for "Erika")."""
    import json
    import re

    from covidimg.widgets.plotly_view import PlotlyLibrary

    code = PlotlyLibrary.shared()._esm
    tag = re.compile(r'(<script type="application/vnd\.jupyter\.widget-state\+json">)(.*?)'
                     r"(</script>)", re.S)

    def strip(match: re.Match[str]) -> str:
        state = json.loads(match.group(2))
        models = state.get("state", {})
        kept = {k: v for k, v in models.items() if v.get("state", {}).get("_esm") != code}
        assert len(kept) == len(models) - 1, "the plotly.js library widget was not found"
        return match.group(1) + json.dumps({**state, "state": kept}) + match.group(3)

    return tag.sub(strip, page)


def leaks(outputs: dict[str, str | bytes]) -> dict[str, list[str]]:
    """``{output: [leaked strings]}`` for every output that quotes an identifying value."""
    return {name: found for name, content in outputs.items() if (found := leaked(content))}
