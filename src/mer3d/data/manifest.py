"""Annotation tables, and the generic CSV manifest loader built on them.

Every loader turns its table (coding sheet or manifest) into :class:`Annotation` rows: one clip
each, not yet checked against the files. A row that cannot become a clip (blank subject, a frame
number that is not a number, onset after offset) becomes a :class:`Problem` naming its 1-based
row (the header is row 1) and column instead.

The manifest is a CSV with columns ``subject, path, label`` and optionally ``onset, apex, offset,
fps, name, gender``; ``path`` is a frames folder or a video file, relative to the manifest's folder
or absolute; ``gender`` (female/male, f/m) feeds multitask models such as GEME.

A subject-gender table (CSV with columns ``subject, gender``) gives the genders of a dataset whose
own annotation has none, such as CASME II (``dataset.genders``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import openpyxl
import pandas as pd

from mer3d.data.frames import VIDEO_EXTENSIONS
from mer3d.data.records import GENDERS, Problem
from mer3d.errors import UserError

DEFAULT_FPS = 30.0
MANIFEST_NAME = "manifest.csv"
NOT_ANNOTATED = "/"        # how the coding sheets write an unknown frame number


@dataclass(frozen=True)
class Annotation:
    """One clip as a table describes it; ``folder``/``video`` may not exist on disk."""

    subject: str
    name: str
    emotion: str
    onset: int | None
    apex: int | None
    offset: int | None
    action_units: str
    fps: float
    source: str
    row: int
    folder: Path | None = None   # frames folder; None for a video row
    video: Path | None = None
    gender: str | None = None


class BadRow(Exception):
    """A row that cannot become a clip; the message names the column at fault."""


def normalise_header(header) -> str:
    """Headers compare ignoring case and spaces: ' Onset Frame' matches 'OnsetFrame'."""
    return "".join(str(header).split()).lower()


def match_columns(headers, required: tuple[str, ...], optional: tuple[str, ...], source: Path) -> dict[str, str]:
    """Map each wanted column name to the table's own header; blank/unnamed extra columns are ignored.

    A required column that is absent is a UserError naming the file and the column.
    """
    by_name: dict[str, str] = {}
    for header in headers:
        by_name.setdefault(normalise_header(header), header)
    for wanted in required:
        if normalise_header(wanted) not in by_name:
            raise UserError(f"{source}: no column '{wanted}' (found: {', '.join(map(str, headers))})")
    return {w: by_name[normalise_header(w)] for w in (*required, *optional) if normalise_header(w) in by_name}


class Cells:
    """One table row, read through the column names a loader asked for."""

    def __init__(self, record: dict, headers: dict[str, str]):
        self._record = record
        self._headers = headers

    def text(self, column: str) -> str:
        """The cell as stripped text; blank cells and absent optional columns read as ''."""
        if column not in self._headers:
            return ""
        value = self._record[self._headers[column]]
        if pd.isna(value):
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))       # spreadsheets hand whole numbers over as 46.0
        return str(value).strip()

    def is_blank(self) -> bool:
        return not any(self.text(column) for column in self._headers)

    def required(self, column: str) -> str:
        text = self.text(column)
        if not text:
            raise BadRow(f"column {column} is blank")
        return text

    def subject_number(self, column: str) -> str:
        """A numbered subject as two digits: 1, '1' and '01' all give '01' (folder ``sub01``)."""
        text = self.required(column)
        if not text.isdigit():
            raise BadRow(f"column {column}: '{text}' is not a subject number")
        return text.zfill(2)

    def frame(self, column: str) -> int | None:
        """A frame number; None when blank or '/' (not annotated)."""
        text = self.text(column)
        if text in ("", NOT_ANNOTATED):
            return None
        try:
            number = float(text)
        except ValueError:
            number = -1.0
        if not number.is_integer() or number < 0:
            raise BadRow(f"column {column}: '{text}' is not a frame number")
        return int(number)

    def span(self, onset: str, apex: str, offset: str,
             ends_required: bool = True) -> tuple[int | None, int | None, int | None]:
        """Onset, apex and offset frame numbers; onset after offset is a BadRow, and so is a blank
        onset or offset where ``ends_required`` (a coding sheet's clip is its onset..offset; a
        manifest may leave them out to mean the whole folder or video)."""
        first, peak, last = self.frame(onset), self.frame(apex), self.frame(offset)
        for column, value in ((onset, first), (offset, last)):
            if ends_required and value is None:
                raise BadRow(f"column {column} is {self.text(column) or 'blank'}: not a frame number")
        if first is not None and last is not None and first > last:
            raise BadRow(f"column {onset}: onset {first} is after {offset} {last}")
        return first, peak, last

    def gender(self, column: str) -> str | None:
        """One of ``GENDERS`` (also written f/m, case-insensitive); None when blank."""
        text = self.text(column)
        if not text:
            return None
        for gender in GENDERS:
            if text.lower() in (gender, gender[0]):
                return gender
        raise BadRow(f"column {column}: '{text}' is not a gender (female/male or f/m)")

    def positive_number(self, column: str, default: float) -> float:
        text = self.text(column)
        if not text:
            return default
        try:
            number = float(text)
        except ValueError:
            number = 0.0
        if not (number > 0 and math.isfinite(number)):
            raise BadRow(f"column {column}: '{text}' is not a positive number")
        return number


RowParser = Callable[[Cells, str, int], Annotation]


def read_rows(table: pd.DataFrame, source: Path, headers: dict[str, str],
              parse: RowParser) -> tuple[list[Annotation], list[Problem]]:
    """Parse every non-blank row with ``parse(cells, source, row)``; bad rows become Problems."""
    annotations, problems = [], []
    for index, record in enumerate(table.to_dict("records")):
        cells = Cells(record, headers)
        if cells.is_blank():
            continue        # spreadsheets often end in empty rows
        row = index + 2     # the header is row 1
        try:
            annotations.append(parse(cells, str(source), row))
        except BadRow as exc:
            problems.append(Problem(str(source), row, str(exc)))
    return annotations, problems


def annotation_file(path: str | Path) -> Path:
    """``path`` as an existing file, else a UserError naming it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"annotation file not found: {path}")
    return path


def find_one(root: Path, pattern: str) -> Path | None:
    """The single file under ``root`` matching ``pattern``; None if there is none."""
    found = sorted(p for p in root.rglob(pattern) if p.is_file())
    if len(found) > 1:
        raise UserError(f"{root}: several files match '{pattern}' ({', '.join(map(str, found))}); "
                        "name the one to use with --annotations")
    return found[0] if found else None


def find_sheet(root: Path, annotations: str | Path | None, patterns: tuple[str, ...]) -> list[Path]:
    """A dataset's sheet: ``annotations`` if given, else the one file under ``root`` matching the
    first pattern that matches (a preferred name first, then a family), or the single one beside
    ``root`` when root is the frames folder."""
    if annotations:
        return [annotation_file(annotations)]
    for pattern in patterns:
        sheet = find_one(root, pattern)
        if sheet is None:
            beside = sorted(p for p in root.parent.glob(pattern) if p.is_file())
            sheet = beside[0] if len(beside) == 1 else None
        if sheet is not None:
            return [sheet]
    raise UserError(f"{root}: no {patterns[-1]} sheet found; name it with --annotations")


def header_table(table: pd.DataFrame, sheet: Path, required: tuple[str, ...],
                 any_of: tuple[str, ...] = ()) -> tuple[pd.DataFrame, int]:
    """The rows below a sheet's header row, under its names, and the header's 1-based sheet row.

    ``table`` is the sheet as ``read_spreadsheet`` gives it (its first row as column names); title
    and notes rows may stand above the header, which is the first row naming every ``required``
    column and, when given, one of ``any_of`` (case and spaces ignored).
    """
    first = [None if str(name).startswith("Unnamed:") else name for name in table.columns]
    grid = [first, *table.itertuples(index=False, name=None)]
    wanted, choices = {normalise_header(n) for n in required}, {normalise_header(n) for n in any_of}
    for index, cells in enumerate(grid):
        found = {normalise_header(cell) for cell in cells if not blank(cell)}
        if wanted <= found and (not choices or choices & found):
            names = [f"Unnamed: {i}" if blank(cell) else str(cell).strip() for i, cell in enumerate(cells)]
            return pd.DataFrame(grid[index + 1:], columns=names, dtype=object), index + 1
    either = f" and {' or '.join(any_of)}" if any_of else ""
    raise UserError(f"{sheet}: no header row naming {', '.join(required)}{either}")


def blank(cell) -> bool:
    """An empty cell: None, NaN or only spaces."""
    return cell is None or (not isinstance(cell, str) and pd.isna(cell)) or not str(cell).strip()


def minus_one_as_missing(value):
    """A frame cell with -1 (how SAMM and CAS(ME)^3 write an unknown apex) as not annotated."""
    if not blank(value) and str(value).strip() in ("-1", "-1.0"):
        return NOT_ANNOTATED
    return value


def read_spreadsheet(path: Path, sheet: str | None = None, engine: str | None = None) -> pd.DataFrame:
    """The sheet named ``sheet`` (the first sheet if absent) with every cell as a Python object,
    so that text like '01' stays text and numbers stay numbers."""
    try:
        # keep_default_na=False: text such as 'NA' or 'nan' stays text, to be reported, not read as blank
        sheets = pd.read_excel(path, sheet_name=None, engine=engine, dtype=object, keep_default_na=False, na_values=[])
        name = sheet if sheet in sheets else next(iter(sheets))
        table = sheets[name]
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            _show_unsaved_formulas(path, name, table)
        return table
    except Exception as exc:  # whatever the reader trips on, the file is not usable as given
        raise UserError(f"{path}: cannot read the spreadsheet ({' '.join(str(exc).split())})") from exc


def _show_unsaved_formulas(path: Path, sheet: str, table: pd.DataFrame) -> None:
    """Put the formula text where a formula cell has no saved value (a sheet written by a program
    that does not compute formulas): read as blank, it would silently mean 'not annotated'; as
    '=B2+3' it is reported by whichever column parses it."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        for r, row in enumerate(book[sheet].iter_rows(min_row=2, values_only=True)):
            for c, value in enumerate(row):
                if (isinstance(value, str) and value.startswith("=") and r < len(table) and c < table.shape[1]
                        and blank(table.iat[r, c])):
                    table.iat[r, c] = value
    finally:
        book.close()


# ---------------------------------------------------------------- the CSV manifest

REQUIRED = ("subject", "path", "label")
OPTIONAL = ("onset", "apex", "offset", "fps", "name", "gender")


def find_manifest(root: Path, annotations: str | Path | None) -> list[Path]:
    """The manifest: ``annotations`` if given, else ``root/manifest.csv``."""
    return [annotation_file(annotations or root / MANIFEST_NAME)]


def read_manifest(root: Path, sheets: list[Path], allow_outside_root: bool = False) -> tuple[list[Annotation], list[Problem]]:
    """Annotations of every manifest row; relative paths are taken from the manifest's folder. A
    path outside ``root`` (``../..``, an absolute path elsewhere) is a row problem unless
    ``allow_outside_root`` (``dataset.allow_outside_root``): a manifest handed to us must not make
    mer3d read arbitrary files."""
    (manifest,) = sheets
    table = read_csv_table(manifest)
    headers = match_columns(table.columns, REQUIRED, OPTIONAL, manifest)
    base = manifest.parent
    inside = os.path.normpath(root.absolute())

    def parse(cells: Cells, source: str, row: int) -> Annotation:
        path = base / Path(cells.required("path")).expanduser()
        where = os.path.normpath(path.absolute())
        if not allow_outside_root and os.path.commonpath([inside, where]) != inside:
            raise BadRow(f"column path: {cells.required('path')} lies outside the dataset root {root}; "
                         f"set dataset.allow_outside_root: true to read it")
        is_video = path.suffix.lower() in VIDEO_EXTENSIONS
        onset, apex, offset = cells.span("onset", "apex", "offset", ends_required=False)
        return Annotation(
            subject=cells.required("subject"),
            name=cells.text("name") or (path.stem if is_video else path.name),
            emotion=cells.required("label").lower(),
            onset=onset, apex=apex, offset=offset, action_units="",
            fps=cells.positive_number("fps", DEFAULT_FPS),
            source=source, row=row,
            folder=None if is_video else path,
            video=path if is_video else None,
            gender=cells.gender("gender"),
        )

    return read_rows(table, manifest, headers, parse)


def read_csv_table(path: Path) -> pd.DataFrame:
    try:
        # Everything as text with blanks as '': subject '006' must not become 6.
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:  # whatever the parser trips on, the file is not usable as given
        raise UserError(f"{path}: cannot read the CSV ({' '.join(str(exc).split())})") from exc


def read_subject_genders(path: str | Path) -> list[tuple[str, str, int]]:
    """(subject, gender, row) of every row of a CSV with columns ``subject, gender``; a bad row is a
    UserError naming the file and row (a wrong gender would silently mistrain)."""
    path = annotation_file(path)
    table = read_csv_table(path)
    headers = match_columns(table.columns, ("subject", "gender"), (), path)

    def parse(cells: Cells, source: str, row: int) -> tuple[str, str, int]:
        gender = cells.gender("gender")
        if gender is None:
            raise BadRow("column gender is blank")
        return cells.required("subject"), gender, row

    rows, problems = read_rows(table, path, headers, parse)
    if problems:
        raise UserError(str(problems[0]))
    return rows
