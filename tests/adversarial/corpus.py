"""The adversarial corpus: damage done to a valid demo tree of each source.

Every case is built by code from the demo writers' output (no stored binaries). A case names its
category, the source, what it damages, and what a correct loader must do:

``flag``
    finish and name the damaged file in a finding or a non-``used`` ``files`` row, or raise a
    documented error naming it;
``flag_or_clean``
    either of the above, or read the file normally (benign or recoverable damage);
``used``
    read the file normally: it must stay ``used`` (e.g. a UTF-8 byte-order mark).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .harness import SOURCES

Damage = Callable[[Path], str]   # damages the tree at root, returns the needle to look for


@dataclass(frozen=True)
class Case:
    category: str
    source: str
    name: str
    damage: Damage
    expect: str = "flag"
    kinds: tuple[str, ...] = ()          # finding kinds of which at least one must appear
    load_args: dict[str, object] = field(default_factory=dict)
    needs_non_root: bool = False

    @property
    def id(self) -> str:
        return f"{self.source}-{self.name}"


# ---------------------------------------------------------------------- locating things
def _first(root: Path, pattern: str, where: Callable[[Path], bool] = lambda p: True) -> Path:
    for path in sorted(root.rglob(pattern)):
        if where(path):
            return path
    raise LookupError(f"no {pattern} under {root}")


def first_dicom(root: Path) -> Path:
    return _first(root, "*.dcm", lambda p: "redownload" not in p.parts and
                  "truncated" not in p.name)


def image_dir(source: str, root: Path) -> Path:
    """A folder the loader scans for images."""
    if source == "mhh":
        return root / "png"
    if source == "crdw":
        return exam_zip(source, root).parent
    if source == "midrc":
        return root / "dicom"
    return first_dicom(root).parent


def exam_zip(source: str, root: Path) -> Path:
    """A valid zip the loader reads (made from a DICOM file for TCIA, whose demo has none)."""
    if source == "crdw":
        return _first(root, "*.zip", lambda p: "COMPLETE" in p.parent.name and
                      re.match(r"\d+_\d{8}-\d{6}_A\d+_", p.name) is not None)
    if source == "midrc":
        return _first(root / "dicom", "*.zip")
    if source in ("tcia", "nccid", "mhh"):
        target = image_dir(source, root) / "bundle.zip" if source == "tcia" else root / "stray.zip"
        if not target.exists():
            payload = first_dicom(root).read_bytes() if source != "mhh" else b"not dicom"
            with zipfile.ZipFile(target, "w") as zf:
                zf.writestr("series/0001.dcm", payload)
        return target
    raise ValueError(source)


#: source -> (short name, how to find the file in a tree) of the tables and JSON files each
#: loader reads; the short name's suffix says which transforms apply.
TABLES: dict[str, list[tuple[str, Callable[[Path], Path]]]] = {
    "mhh": [("data.csv", lambda r: r / "data.csv")],
    "nccid": [("clinical.json", lambda r: _latest_clinical(r)),
              ("metadata.json", lambda r: _first(r, "*.json",
                                                 lambda p: "metadata" in str(p.parent)))],
    "crdw": [("patients.csv", lambda r: r / "datamart" / "patients.csv"),
             ("encounters.csv", lambda r: r / "datamart" / "encounters.csv"),
             ("labs.xlsx", lambda r: r / "datamart" / "labs.xlsx"),
             ("remap.xlsx", lambda r: r / "C19_HIRO_LDS_REMAP_PUB-LIST.xlsx")],
    # the Gen3 nodes the loader reads (others are ignored by design)
    "midrc": [(f"{node}.tsv", lambda r, node=node: r / f"{node}.tsv")
              for node in ("case", "imaging_study", "visit", "measurement")],
    # clinical sheets (NBIA's metadata.csv is not read)
    "tcia": [("sbu.csv", lambda r: _first(r, "deidentified_overlap_tcia.csv")),
             ("ar.xlsx", lambda r: _first(r, "*ClinicalCorrelates*.xlsx")),
             ("ricord-clinical.xlsx", lambda r: _first(r, "*Clinical-Data*.xlsx")),
             ("ricord-annotations.csv", lambda r: _first(r, "*annotations.csv"))],
}


def _latest_clinical(root: Path) -> Path:
    """An NCCID clinical file that is read: the latest of its patient (earlier ones are
    superseded, so damaging them changes nothing)."""
    found = sorted(p for p in root.rglob("data*.json") if "data" in p.parts
                   and "raw-" not in str(p))
    def key(p: Path) -> str:
        return re.sub(r"\d{4}-\d{2}-\d{2}", "", str(p))
    return next(p for p in found if p == max(q for q in found if key(q) == key(p)))


def _relocate(source: str, short: str) -> Callable[[Path], Path]:
    return dict(TABLES[source])[short]


# ---------------------------------------------------------------------- zip damage
def _add_member(zip_path: Path, name: str | zipfile.ZipInfo, data: bytes,
                compress: int = zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(zip_path, "a", compression=compress) as zf:
        zf.writestr(name, data)


def _dicom_bytes(root: Path) -> bytes:
    try:
        return first_dicom(root).read_bytes()
    except LookupError:                       # CRDW keeps every DICOM inside its exam zips
        with zipfile.ZipFile(_first(root, "*.zip", lambda p: "COMPLETE" in str(p))) as zf:
            return zf.read(next(i for i in zf.infolist() if not i.is_dir()))


def _patch_declared_size(zip_path: Path, member: str, size: int) -> None:
    """Set the uncompressed size a member declares in the central directory."""
    raw = bytearray(zip_path.read_bytes())
    name = member.encode()
    pos = raw.find(b"PK\x01\x02" + b"")
    while pos != -1:
        name_len = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46: pos + 46 + name_len] == name:
            struct.pack_into("<I", raw, pos + 24, size)
            zip_path.write_bytes(bytes(raw))
            return
        pos = raw.find(b"PK\x01\x02", pos + 4)
    raise LookupError(member)


def archive_cases(source: str) -> list[Case]:
    def member_case(name: str, member: str, kinds: tuple[str, ...], data: str = "dicom") -> Case:
        def damage(root: Path) -> str:
            zp = exam_zip(source, root)
            _add_member(zp, member, _dicom_bytes(root) if data == "dicom" else b"x")
            return member if "\\" not in member else member.split("\\")[-1]
        return Case("archives", source, name, damage, kinds=kinds)

    def symlink_member(root: Path) -> str:
        info = zipfile.ZipInfo("series/link.dcm")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        _add_member(exam_zip(source, root), info, b"../../../../etc/passwd")
        return "link.dcm"

    def declared_bomb(root: Path) -> str:
        zp = exam_zip(source, root)
        _add_member(zp, "series/bomb.dcm", b"\0" * 1024)
        _patch_declared_size(zp, "series/bomb.dcm", 0xFFFFFFF0)
        return "bomb.dcm"

    def ratio_bomb(root: Path) -> str:
        _add_member(exam_zip(source, root), "series/zeros.dcm", bytes(8 * 2**20),
                    zipfile.ZIP_DEFLATED)
        return "zeros.dcm"

    def lowered_limit(root: Path) -> str:
        return exam_zip(source, root).name

    def truncated(root: Path) -> str:
        zp = exam_zip(source, root)
        data = zp.read_bytes()
        zp.write_bytes(data[: len(data) // 2])
        return zp.name

    def not_a_zip(root: Path) -> str:
        zp = exam_zip(source, root)
        zp.write_bytes(b"<html><body>403 Forbidden</body></html>\n")
        return zp.name

    def zero_bytes(root: Path) -> str:
        zp = exam_zip(source, root)
        zp.write_bytes(b"")
        return zp.name

    def empty_zip(root: Path) -> str:
        zp = exam_zip(source, root)
        with zipfile.ZipFile(zp, "w"):
            pass
        return zp.name

    def nested_zip(root: Path) -> str:
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as zf:
            zf.writestr("0001.dcm", _dicom_bytes(root))
        _add_member(exam_zip(source, root), "series/inner.zip", inner.getvalue())
        return "inner.zip"

    def corrupt_member(root: Path) -> str:
        zp = exam_zip(source, root)
        _add_member(zp, "series/crc.dcm", _dicom_bytes(root))
        raw = bytearray(zp.read_bytes())
        pos = raw.rfind(b"series/crc.dcm", 0, raw.find(b"PK\x01\x02"))
        raw[pos + 14 + 300] ^= 0xFF          # flip a byte inside the stored member
        zp.write_bytes(bytes(raw))
        return "crc.dcm"

    return [
        member_case("member-dotdot", "../../escape.dcm", ("unsafe_archive_member",)),
        member_case("member-dotdot-inner", "series/../../../escape.dcm",
                    ("unsafe_archive_member",)),
        member_case("member-absolute", "/tmp/absolute-escape.dcm", ("unsafe_archive_member",)),
        member_case("member-windows-drive", "C:\\Windows\\drive-escape.dcm",
                    ("unsafe_archive_member",)),
        Case("archives", source, "member-symlink", symlink_member,
             kinds=("unsafe_archive_member",)),
        Case("archives", source, "bomb-declared-size", declared_bomb,
             kinds=("archive_too_large",)),
        Case("archives", source, "bomb-ratio", ratio_bomb, kinds=("archive_too_large",)),
        Case("archives", source, "limit-max-member-bytes", lowered_limit,
             kinds=("archive_too_large",), load_args={"max_member_bytes": 1024}),
        Case("archives", source, "truncated-zip", truncated, kinds=("unreadable_file",)),
        Case("archives", source, "not-a-zip", not_a_zip, kinds=("unreadable_file",)),
        Case("archives", source, "zero-byte-zip", zero_bytes, kinds=("unreadable_file",)),
        Case("archives", source, "empty-zip", empty_zip),
        Case("archives", source, "nested-zip-member", nested_zip, kinds=("unreadable_file",)),
        # headers are read without pixel data, so damage past the header may only show when
        # the image is read
        Case("archives", source, "corrupt-member-crc", corrupt_member, expect="flag_or_clean"),
    ]


def stray_zip_case(source: str) -> Case:
    """A zip with an unsafe member dropped where this source does not read zips."""
    def damage(root: Path) -> str:
        zp = exam_zip(source, root)
        _add_member(zp, "../../escape.dcm", b"x")
        return zp.name
    return Case("archives", source, "stray-zip-with-unsafe-member", damage)


# ---------------------------------------------------------------------- table damage
def _read_rows(path: Path) -> tuple[list[list[str]], str]:
    text = path.read_text(encoding="utf-8-sig")
    delimiter = "\t" if path.suffix == ".tsv" else ","
    return list(csv.reader(io.StringIO(text), delimiter=delimiter)), delimiter


def _write_rows(path: Path, rows: list[list[str]], delimiter: str,
                encoding: str = "utf-8") -> None:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


#: A column each loader needs (the first one present in the header is dropped or renamed).
TARGET_COLUMNS = ("crp_val", "sex", "admission_date", "days_to_study",
                  "days_to_hospital_admission", "test_result_text", "age.splits", "CLASS_label")


def _target_column(header: list[str]) -> int:
    return next((header.index(c) for c in TARGET_COLUMNS if c in header), 0)


#: Numeric columns the loaders read (preferred targets for text in a number).
NUMERIC_TARGETS = (r"^(crp_val|age|age_at_index|days_to_study|test_days_from_index)$"
                   r"|reactive protein")

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4})")


def _column_where(rows: list[list[str]], test: Callable[[str], bool]) -> int | None:
    """The first column (not an identifier) whose every value passes ``test``."""
    body = rows[1:]
    for j in range(len(rows[0])):
        if re.search(r"(^|_)(id|uid)$|submitter|pseudonym", rows[0][j].lower()):
            continue
        values = [r[j] for r in body if j < len(r) and r[j] != ""]
        if values and all(test(v) for v in values):
            return j
    return None


def _impossible(value: str) -> str:
    return "2020-02-31" if "-" in value[:5] else "31/02/2020" if value[2] == "/" else value


def text_table_transforms() -> dict[str, tuple[Callable[[Path], bool], str]]:
    """name -> (transform(path) -> applied?, expectation) for CSV/TSV files."""
    def empty(p: Path) -> bool:
        p.write_bytes(b"")
        return True

    def header_only(p: Path) -> bool:
        rows, d = _read_rows(p)
        _write_rows(p, rows[:1], d)
        return True

    def drop_column(p: Path) -> bool:
        rows, d = _read_rows(p)
        j = _target_column(rows[0])
        _write_rows(p, [r[:j] + r[j + 1:] for r in rows], d)
        return True

    def rename_column(p: Path) -> bool:
        rows, d = _read_rows(p)
        j = _target_column(rows[0])
        rows[0][j] = "renamed_" + rows[0][j]
        _write_rows(p, rows, d)
        return True

    def extra_column(p: Path) -> bool:
        rows, d = _read_rows(p)
        _write_rows(p, [r + (["surprise"] if i == 0 else ["?"]) for i, r in enumerate(rows)], d)
        return True

    def text_in_numeric(p: Path) -> bool:
        rows, d = _read_rows(p)
        j = next((j for j, c in enumerate(rows[0]) if re.search(NUMERIC_TARGETS, c)), None)
        if j is None:
            j = _column_where(rows, lambda v: bool(_NUMBER.match(v)))
        if j is None:
            return False
        i = next((i for i, r in enumerate(rows[1:], 1) if j < len(r) and r[j] != ""), 1)
        rows[i][j] = "twelve-ish"
        _write_rows(p, rows, d)
        return True

    def impossible_date(p: Path) -> bool:
        rows, d = _read_rows(p)
        j = _column_where(rows, lambda v: bool(_DATE.match(v)))
        if j is None:
            return False
        i = next(i for i, r in enumerate(rows[1:], 1) if j < len(r) and r[j] != "")
        rows[i][j] = _impossible(rows[i][j])
        _write_rows(p, rows, d)
        return True

    def truncated(p: Path) -> bool:
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * 0.6)])
        return True

    def ragged_row(p: Path) -> bool:
        rows, d = _read_rows(p)
        if len(rows) < 2:
            return False
        rows[1] = rows[1] + ["spill", "over"]
        _write_rows(p, rows, d)
        return True

    return {"empty-file": (empty, "flag"), "header-only": (header_only, "flag"),
            "missing-column": (drop_column, "flag"), "renamed-column": (rename_column, "flag"),
            "extra-column": (extra_column, "flag_or_clean"),
            "text-in-numeric": (text_in_numeric, "flag"),
            "impossible-date": (impossible_date, "flag"),
            "truncated-mid-row": (truncated, "flag"),
            "ragged-row": (ragged_row, "flag_or_clean")}


def encoding_transforms() -> dict[str, tuple[Callable[[Path], bool], str]]:
    """name -> (transform, expectation) re-encoding any text file (CSV, TSV, JSON)."""
    def latin1(p: Path) -> bool:
        text = p.read_text(encoding="utf-8-sig")
        if p.suffix == ".json":
            p.write_bytes(text.encode("utf-8").replace(b'"', b'"\xe9', 1))
        else:
            lines = text.splitlines()
            sep = "\t" if p.suffix == ".tsv" else ","
            lines = [lines[0] + sep + "comment"] + [ln + sep + "café" for ln in lines[1:]]
            p.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
        return True

    def utf16(p: Path) -> bool:
        p.write_bytes(p.read_text(encoding="utf-8-sig").encode("utf-16"))
        return True

    def utf8_bom(p: Path) -> bool:
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
        return True

    def junk(p: Path) -> bool:
        p.write_bytes(np.random.default_rng(7).bytes(4096))
        return True

    return {"latin-1": (latin1, "flag_or_clean"), "utf-16-bom": (utf16, "flag_or_clean"),
            "utf-8-bom": (utf8_bom, "used"), "binary-junk": (junk, "flag")}


def json_transforms() -> dict[str, tuple[Callable[[Path], bool], str]]:
    def malformed(p: Path) -> bool:
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        return True

    def wrong_shape_list(p: Path) -> bool:
        p.write_text("[1, 2, 3]")
        return True

    def wrong_shape_scalar(p: Path) -> bool:
        p.write_text('"just a string"')
        return True

    def nested_wrong_types(p: Path) -> bool:
        obj = json.loads(p.read_text())
        if not isinstance(obj, dict) or not obj:
            return False
        p.write_text(json.dumps({k: [v, {"nested": v}] for k, v in obj.items()}))
        return True

    def empty(p: Path) -> bool:
        p.write_bytes(b"")
        return True

    def text_and_dates(p: Path) -> bool:
        obj = json.loads(p.read_text())
        if not isinstance(obj, dict):
            return False
        changed = False
        for key, value in obj.items():
            if isinstance(value, str) and _DATE.match(value):
                obj[key] = _impossible(value)
                changed = True
            elif isinstance(value, int | float) and not isinstance(value, bool):
                obj[key] = "twelve-ish"
                changed = True
        p.write_text(json.dumps(obj))
        return changed

    return {"malformed-json": (malformed, "flag"), "wrong-shape-list": (wrong_shape_list, "flag"),
            "wrong-shape-scalar": (wrong_shape_scalar, "flag"),
            "wrong-value-types": (nested_wrong_types, "flag"),
            "empty-file": (empty, "flag"), "bad-values": (text_and_dates, "flag")}


def xlsx_transforms() -> dict[str, tuple[Callable[[Path], bool], str]]:
    import openpyxl

    def rows_of(p: Path) -> list[list[object]]:
        wb = openpyxl.load_workbook(p)
        return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]

    def save(p: Path, rows: list[list[object]], title: str = "Sheet1",
             extra_sheets: tuple[str, ...] = ()) -> None:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = title
        for r in rows:
            ws.append(r)
        for name in extra_sheets:
            wb.create_sheet(name)
        wb.save(p)

    def missing_sheet(p: Path) -> bool:
        save(p, [], title="Notes", extra_sheets=("Summary",))
        return True

    def other_sheet_first(p: Path) -> bool:
        rows = rows_of(p)
        wb = openpyxl.Workbook()
        wb.active.title = "README"
        wb.active.append(["This workbook was exported by hand"])
        ws = wb.create_sheet("Data")
        for r in rows:
            ws.append(r)
        wb.save(p)
        return True

    def wrong_headers(p: Path) -> bool:
        rows = rows_of(p)
        header = next(i for i, r in enumerate(rows) if sum(v is not None for v in r) > 1)
        rows[header] = [f"column {j + 1}" for j in range(len(rows[header]))]
        save(p, rows)
        return True

    def header_only(p: Path) -> bool:
        rows = rows_of(p)
        header = next(i for i, r in enumerate(rows) if sum(v is not None for v in r) > 1)
        save(p, rows[: header + 1])
        return True

    def text_in_numeric(p: Path) -> bool:
        rows = rows_of(p)
        header = next(i for i, r in enumerate(rows) if sum(v is not None for v in r) > 1)
        body = rows[header + 1:]
        for j in range(len(rows[header])):
            values = [r[j] for r in body if j < len(r) and r[j] is not None]
            if values and all(isinstance(v, int | float) for v in values):
                next(r for r in body if r[j] is not None)[j] = "twelve-ish"
                save(p, rows)
                return True
        return False

    def junk(p: Path) -> bool:
        p.write_bytes(np.random.default_rng(8).bytes(4096))
        return True

    def csv_named_xlsx(p: Path) -> bool:
        p.write_text("patient_id,value\n1,2\n")
        return True

    def truncated(p: Path) -> bool:
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        return True

    return {"missing-sheet": (missing_sheet, "flag"),
            "data-on-second-sheet": (other_sheet_first, "flag_or_clean"),
            "wrong-headers": (wrong_headers, "flag"), "header-only": (header_only, "flag"),
            "text-in-numeric": (text_in_numeric, "flag"), "binary-junk": (junk, "flag"),
            "csv-named-xlsx": (csv_named_xlsx, "flag"),
            "truncated-workbook": (truncated, "flag")}


def _table_case(category: str, source: str, short: str, tname: str,
                transform: Callable[[Path], bool], expect: str) -> Case:
    locate = _relocate(source, short)

    def damage(root: Path) -> str:
        path = locate(root)
        if not transform(path):
            raise NotApplicable(f"{tname} does not apply to {short}")
        return path.name if source != "nccid" else str(path.relative_to(root))
    return Case(category, source, f"{short}-{tname}", damage, expect=expect)


class NotApplicable(Exception):
    """The transform has nothing to act on in this file (e.g. no date column)."""


#: Transforms run on each source's first (main) table only, to keep the corpus quick.
MAIN_TABLE_ONLY = {"extra-column", "truncated-mid-row", "ragged-row"}


def table_cases(source: str) -> list[Case]:
    cases = []
    main = TABLES[source][0][0]
    for short, _ in TABLES[source]:
        suffix = Path(short).suffix
        if suffix in (".csv", ".tsv"):
            transforms = text_table_transforms()
        elif suffix == ".json":
            transforms = json_transforms()
        else:
            transforms = xlsx_transforms()
        for tname, (fn, expect) in transforms.items():
            if tname not in MAIN_TABLE_ONLY or short == main:
                cases.append(_table_case("tables", source, short, tname, fn, expect))
        if suffix != ".xlsx" and short == main:
            for tname, (fn, expect) in encoding_transforms().items():
                cases.append(_table_case("encodings", source, short, tname, fn, expect))
    return cases


# ---------------------------------------------------------------------- folder damage
def folder_cases(source: str) -> list[Case]:
    def empty_root(root: Path) -> str:
        for child in sorted(root.iterdir()):
            if child.is_dir() and not child.is_symlink():
                import shutil
                shutil.rmtree(child)
            else:
                child.unlink()
        return str(root)

    def empty_folders(root: Path) -> str:
        (image_dir(source, root) / "empty-series").mkdir()
        (root / "empty" / "nested" / "deeper").mkdir(parents=True)
        return "empty-series"

    def dir_symlink_loop(root: Path) -> str:
        os.symlink("..", image_dir(source, root) / "loop")
        os.symlink(".", root / "self")
        return "loop"

    def file_symlink_loop(root: Path) -> str:
        folder = image_dir(source, root)
        ext = ".png" if source == "mhh" else ".dcm"
        os.symlink(f"b-loop{ext}", folder / f"a-loop{ext}")
        os.symlink(f"a-loop{ext}", folder / f"b-loop{ext}")
        return "a-loop"

    def dangling(root: Path) -> str:
        ext = ".png" if source == "mhh" else ".dcm"
        os.symlink("/nonexistent/ghost" + ext, image_dir(source, root) / f"ghost{ext}")
        return "ghost"

    def outside_link(root: Path) -> str:
        outside = root.parent / "outside-file.txt"
        outside.write_text("outside the source root\n")
        os.symlink(outside, image_dir(source, root) / "linked-outside.dcm")
        return "linked-outside"

    def fifo(root: Path) -> str:
        ext = ".png" if source == "mhh" else ".dcm"
        os.mkfifo(image_dir(source, root) / f"pipe{ext}")
        return "pipe"

    def unreadable(root: Path) -> str:
        folder = image_dir(source, root)
        victim = next(p for p in sorted(folder.iterdir()) if p.is_file())
        victim.chmod(0)
        return victim.name

    def long_name(root: Path) -> str:
        folder = image_dir(source, root)
        ext = ".png" if source == "mhh" else ".dcm"
        name = "L" * (250 - len(ext)) + ext
        (folder / name).write_bytes(b"not an image")
        return "L" * 40

    def hidden(root: Path) -> str:
        folder = image_dir(source, root)
        for target in (root, folder):
            (target / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + bytes(64))
            (target / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(64))
        (folder / "._0001.dcm").write_bytes(b"\0\5\26\7" + bytes(60))
        return ".DS_Store"

    def undecodable_name(root: Path) -> str:
        folder = os.fsencode(image_dir(source, root))
        with open(folder + b"/\xff\xfe-scan.dcm", "wb") as fh:
            fh.write(b"not dicom")
        return "-scan.dcm"

    def root_is_file(root: Path) -> str:
        import shutil
        shutil.rmtree(root)
        root.write_text("I am a file, not a folder\n")
        return str(root)

    hidden_expect = "flag_or_clean"
    return [
        Case("folders", source, "empty-root", empty_root),
        Case("folders", source, "empty-folders", empty_folders, expect="flag_or_clean"),
        Case("folders", source, "folder-symlink-loop", dir_symlink_loop, kinds=("unsafe_link",)),
        Case("folders", source, "file-symlink-loop", file_symlink_loop,
             kinds=("unreadable_file",)),
        Case("folders", source, "dangling-symlink", dangling, kinds=("unreadable_file",)),
        Case("folders", source, "symlink-outside-root", outside_link, kinds=("unsafe_link",)),
        Case("folders", source, "fifo", fifo, kinds=("unreadable_file",)),
        Case("folders", source, "unreadable-file", unreadable, needs_non_root=True),
        Case("folders", source, "very-long-name", long_name),
        Case("folders", source, "hidden-files", hidden, expect=hidden_expect),
        Case("folders", source, "undecodable-name", undecodable_name,
             kinds=("unreadable_file",)),
        Case("folders", source, "root-is-a-file", root_is_file),
    ]


ZIP_SOURCES = ("crdw", "midrc", "tcia")


def all_cases() -> list[Case]:
    """Every case, for every source."""
    cases: list[Case] = []
    for source in SOURCES:
        cases += archive_cases(source) if source in ZIP_SOURCES else [stray_zip_case(source)]
    for source in SOURCES:
        cases += table_cases(source)
    for source in SOURCES:
        cases += folder_cases(source)
    return cases
