"""First ``covidimg.load`` end to end, in fresh processes, against pydicom and GDCM's ``Scanner``.

Writes (once) two trees with the indexing benchmarks' writer: the mixed tree (``--radiographs``
radiographs plus ``--ct-series`` CT series of ``--slices`` slices) and a CT-only tree (the same
CT series alone), each hard-linked under ``<folder>-nbia/COVID-19-AR/`` as the NBIA retriever
lays out a TCIA download (the collection folder first). For each tree, repeated and interleaved
in the same run, every variant runs in its own fresh Python process (``python -c``), so each
pays its interpreter start, its imports, the walk of the tree and building a table of one row
per file (or per image):

- ``covidimg.load({"tcia": root}, progress=False)`` with ``COVIDIMG_CACHE`` set to a new, empty
  folder: the user's first load (no index cache, no saved result), defaults otherwise;
- the same on the tree without its collection folder (``<folder>`` itself): the TCIA loader
  then looks every series up in IDC's series index (``idc-index-data``) to find its collection,
  in the copy of its UID columns written once per installed index (made before the runs and
  linked into each run's empty cache);
- the index alone: ``index_dicom`` (defaults: process pool for large trees, series sampling,
  its cache under the same empty ``COVIDIMG_CACHE``) + ``images_from_index`` on the walked files;
- naive: ``pydicom.dcmread(path, stop_before_pixels=True)`` per file, 17 fields, a DataFrame;
- pydicom ``specific_tags``: ``dcmread(path, stop_before_pixels=True, specific_tags=HEADER_TAGS)``,
  the same tags covidimg reads (the 34 of ``HEADER_TAGS`` plus the file meta's Transfer Syntax
  and Media Storage SOP Class UIDs, which pydicom always reads), a DataFrame;
- GDCM: ``gdcm.Scanner`` with ``AddTag`` of the same 36 tags, ``Scan`` of the file list, then one
  row per file from ``GetValue``, a DataFrame;
- the floor of any of them: ``python -c "import pandas"``.

The baselines walk the tree with ``os.walk`` and keep the ``.dcm`` files. Each child also prints
the time of its work after its imports (``in-process``; for ``covidimg.load``, after importing
``covidimg.cohort`` and the TCIA loader, which the first call would import), so the table shows
both: wall time of the fresh process (end to end) and the work alone.

Targets (issue 19): first ``covidimg.load`` >= 3x faster than GDCM and >= 15x the naive loop
on the mixed tree; CT alone >= 20x naive and >= 4x GDCM.

Needs GDCM's Python bindings: ``pip install python-gdcm`` (or ``pip install -e .[bench]``).

Run: ``python benchmarks/load_vs_peers.py [--radiographs 3000] [--ct-series 10]
[--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import NAIVE_FIELDS, PEER_TAGS, idc_uid_copy, median, tree

from covidimg.sources._engine.dicom import HEADER_TAGS

try:
    import gdcm
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("GDCM's Python bindings are missing: pip install python-gdcm "
             "(or pip install -e '.[bench]')")

#: The collection folder of the NBIA layout (a TCIA collection the loader knows by name).
COLLECTION = "COVID-19-AR"

_PRELUDE = """
import os, sys, time, json
_start = time.perf_counter()
{imports}
_imported = time.perf_counter()
root = sys.argv[1]
def walk(root):
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found.extend(os.path.join(folder, f) for f in sorted(files) if f.endswith(".dcm"))
    return found
"""
_EPILOGUE = """
_done = time.perf_counter()
print(json.dumps({{"imports": _imported - _start, "work": _done - _imported, "rows": rows}}))
"""

#: What the loader's first call imports (``import covidimg`` is lazy): imported before the
#: clock of the in-process figure, as every baseline imports its libraries before it.
_LOAD_IMPORTS = "import covidimg\nimport covidimg.cohort, covidimg.sources.tcia"

CHILDREN: dict[str, tuple[str, str]] = {
    "load": (_LOAD_IMPORTS, """
cohort = covidimg.load({{"tcia": root}}, progress=False)
rows = [len(cohort.images), len(cohort.files), len(cohort.findings)]
"""),
    "load_unnamed": (_LOAD_IMPORTS, """
cohort = covidimg.load({{"tcia": root}}, progress=False)
rows = [len(cohort.images), len(cohort.files), len(cohort.findings)]
"""),
    "index": ("""import covidimg
from covidimg.sources._engine.index import images_from_index, index_dicom
from covidimg.sources._engine.ledger import Ledger""", """
index = index_dicom(walk(root), Ledger("tcia"), root=root)
images = images_from_index(index, "tcia")
rows = [len(images), len(index.headers)]
"""),
    "naive": ("import pandas as pd\nimport pydicom", """
fields = {naive_fields!r}
table = []
for path in walk(root):
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    table.append({{key: ds.get(key) for key in fields}} | {{"path": path}})
frame = pd.DataFrame(table)
rows = [len(frame), frame.shape[1]]
"""),
    "specific_tags": ("import pandas as pd\nimport pydicom", """
tags = {header_tags!r}
meta = ("TransferSyntaxUID", "MediaStorageSOPClassUID")
table = []
for path in walk(root):
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(tags))
    row = {{key: ds.file_meta.get(key) for key in meta}}
    row.update({{key: ds.get(key) for key in tags}})
    row["path"] = path
    table.append(row)
frame = pd.DataFrame(table)
rows = [len(frame), frame.shape[1]]
"""),
    "gdcm": ("import pandas as pd\nimport gdcm\nfrom pydicom.datadict import tag_for_keyword",
             """
tags = []
scanner = gdcm.Scanner()
for keyword in {tags!r}:
    number = tag_for_keyword(keyword)
    tag = gdcm.Tag(number >> 16, number & 0xFFFF)
    scanner.AddTag(tag)
    tags.append((keyword, tag))
paths = walk(root)
if not scanner.Scan(paths):
    raise SystemExit("gdcm.Scanner failed")
table = []
for path in paths:
    row = {{keyword: scanner.GetValue(path, tag) for keyword, tag in tags}}
    row["path"] = path
    table.append(row)
frame = pd.DataFrame(table)
rows = [len(frame), frame.shape[1]]
"""),
    "floor": ("import pandas", "rows = []\n"),
}

LABELS = {
    "load": "covidimg.load, first (empty cache)",
    "load_unnamed": "the same, no collection folder",
    "index": "index alone (index_dicom + images)",
    "naive": "naive pydicom loop (17 fields)",
    "specific_tags": f"pydicom specific_tags ({len(PEER_TAGS)} tags)",
    "gdcm": f"GDCM Scanner ({len(PEER_TAGS)} tags)",
    "floor": "floor: python -c 'import pandas'",
}


def child_program(key: str) -> str:
    imports, body = CHILDREN[key]
    body = body.format(naive_fields=NAIVE_FIELDS, header_tags=HEADER_TAGS, tags=PEER_TAGS)
    return _PRELUDE.format(imports=imports) + body + _EPILOGUE.format()


def run_child(key: str, root: str, uid_copy: Path | None = None
              ) -> tuple[float, dict[str, object]]:
    """Run one variant in a fresh process with an empty ``COVIDIMG_CACHE``; return its wall
    seconds and what it printed. ``uid_copy``: the copy of IDC's UID columns, linked into the
    empty cache (written once per installed index, not per load)."""
    cache = tempfile.mkdtemp(prefix="covidimg-bench-peers-cache-")
    env = dict(os.environ, COVIDIMG_CACHE=cache)
    if uid_copy is not None:
        linked = Path(cache, "idc-uids", uid_copy.name)
        linked.parent.mkdir(mode=0o700)
        try:
            os.link(uid_copy, linked)
        except OSError:
            shutil.copyfile(uid_copy, linked)
            os.chmod(linked, 0o600)
    try:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", child_program(key), root], env=env,
                              check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(cache)
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def nbia_root(folder: str, paths: list[str]) -> str:
    """A TCIA download of the files of ``folder``: hard links (copies where links fail) under
    ``<folder>-nbia/COVID-19-AR/``, the layout the NBIA retriever writes; return its root."""
    root = f"{folder}-nbia"
    marker = os.path.join(root, "tree.json")
    wanted = {"files": len(paths), "source": folder}
    if os.path.isfile(marker) and json.loads(open(marker).read()) == wanted:
        return root
    shutil.rmtree(root, ignore_errors=True)
    for source in paths:
        target = os.path.join(root, COLLECTION, os.path.relpath(source, folder))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    with open(marker, "w") as handle:
        json.dump(wanted, handle)
    return root


def bench(name: str, folder: str, paths: list[str], repeats: int,
          targets: dict[str, float]) -> None:
    root = nbia_root(folder, paths)
    uid_copy, seconds = idc_uid_copy()
    load_avg = os.getloadavg()[0]
    print(f"\n{name}: {root}; load average {load_avg:.2f} at start; {repeats} repeats")
    print(f"  IDC's UID columns copied for look-ups once per installed index ({seconds:.1f} s "
          "now; linked into each run's empty cache)" if uid_copy else
          "  no IDC index installed: the unnamed-collection variant cannot look series up")
    walls: dict[str, list[float]] = {key: [] for key in CHILDREN}
    works: dict[str, list[float]] = {key: [] for key in CHILDREN}
    rows: dict[str, object] = {}
    for _ in range(repeats):
        for key in CHILDREN:
            wall, out = (run_child(key, folder, uid_copy) if key == "load_unnamed"
                         else run_child(key, root))
            walls[key].append(wall)
            works[key].append(float(out["work"]))
            rows[key] = out["rows"]
    wall = {key: median(v) for key, v in walls.items()}
    work = {key: median(v) for key, v in works.items()}
    print(f"  {'variant':40s} {'fresh process':>14s} {'in-process':>11s}  rows")
    for key, label in LABELS.items():
        print(f"  {label:40s} {wall[key] * 1000:11.0f} ms {work[key] * 1000:8.0f} ms  "
              f"{rows[key]}")
    for basis, med in (("fresh process (end to end)", wall), ("in-process work", work)):
        print(f"  ratios, {basis}:")
        for peer, label in (("naive", "naive loop"), ("specific_tags", "specific_tags"),
                            ("gdcm", "GDCM Scanner")):
            for key in ("load", "index"):
                ratio = med[peer] / med[key]
                target = targets.get(peer) if key == "load" else None
                verdict = ("" if target is None else
                           f"  target >= {target:g}x: {'met' if ratio >= target else 'MISSED'}")
                print(f"    {label:14s} / {key:5s} {ratio:6.2f}x{verdict}")
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tmp = tempfile.gettempdir()
    parser.add_argument("--folder", default=f"{tmp}/covidimg-bench-peers-mixed")
    parser.add_argument("--ct-folder", default=f"{tmp}/covidimg-bench-peers-ct")
    parser.add_argument("--radiographs", type=int, default=3000)
    parser.add_argument("--ct-series", type=int, default=10)
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("mixed", "ct"), default=None)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; Python {sys.version.split()[0]}; "
          f"GDCM {gdcm.Version.GetVersion()}")
    if args.only in (None, "mixed"):
        paths = tree(args.folder, n_radiographs=args.radiographs, n_ct_series=args.ct_series,
                     slices=args.slices)
        bench(f"mixed tree: {len(paths)} files ({args.radiographs} radiographs, "
              f"{args.ct_series} CT series of {args.slices} slices)", args.folder, paths,
              args.repeats, {"naive": 15.0, "gdcm": 3.0})
    if args.only in (None, "ct"):
        paths = tree(args.ct_folder, n_radiographs=0, n_ct_series=args.ct_series,
                     slices=args.slices)
        bench(f"CT alone: {len(paths)} files ({args.ct_series} CT series of {args.slices} "
              "slices)", args.ct_folder, paths, args.repeats, {"naive": 20.0, "gdcm": 4.0})


if __name__ == "__main__":
    main()
