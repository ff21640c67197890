"""CASME II: the coding sheet ``CASME2-coding-*.xlsx`` and the frame folders beside it.

Frames are ``Cropped/subNN/<Filename>/reg_img<N>.jpg`` (cropped faces, used when present) or
``CASME2_RAW_selected/subNN/<Filename>/img<N>.jpg`` (some copies nest the raw folder twice);
``root`` may also be one of those folders itself. The sheet's Subject is '01' in some copies and
1 in others. Also holds the coding-sheet reader that CASME shares.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd

from mer3d.atomic import atomic_path
from mer3d.data.frames import clip_folder, subject_parents
from mer3d.data.manifest import Annotation, Cells, annotation_file, find_one, match_columns, read_rows, read_spreadsheet
from mer3d.data.records import Problem
from mer3d.errors import UserError

CLASSES = ("surprise", "repression", "happiness", "disgust", "others")
VOCABULARY = frozenset(CLASSES + ("fear", "sadness"))
FPS = 200.0
SHEET_PATTERN = "CASME2-coding-*.xlsx"
# The real sheet's header row; the two None cells are blank (pandas: 'Unnamed: 2', 'Unnamed: 6').
HEADER = ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
          "Action Units", "Estimated Emotion")


@dataclass(frozen=True)
class CodingSheet:
    """Column names of a CASME-family coding sheet; Subject numbers name ``subNN`` folders."""

    subject: str
    filename: str
    onset: str
    apex: str
    offset: str
    action_units: str       # optional: recognition does not need it
    emotion: str
    fps: float

    def required(self) -> tuple[str, ...]:
        return (self.subject, self.filename, self.onset, self.apex, self.offset, self.emotion)


LAYOUT = CodingSheet("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                     "Action Units", "Estimated Emotion", FPS)


def read_coding_sheet(layout: CodingSheet, sheet: Path, table: pd.DataFrame,
                      parents: list[Path]) -> tuple[list[Annotation], list[Problem]]:
    """Annotations of a coding sheet's rows, each pointing at its ``subNN/<Filename>`` folder."""
    headers = match_columns(table.columns, layout.required(), (layout.action_units,), sheet)

    def parse(cells: Cells, source: str, row: int) -> Annotation:
        subject = cells.subject_number(layout.subject)
        name = cells.required(layout.filename)
        onset, apex, offset = cells.span(layout.onset, layout.apex, layout.offset)
        return Annotation(
            subject=subject, name=name, emotion=cells.required(layout.emotion).lower(),
            onset=onset, apex=apex, offset=offset,
            action_units=cells.text(layout.action_units),   # kept as written, '?' included
            fps=layout.fps, source=source, row=row,
            folder=clip_folder(parents, subject, name),
        )

    return read_rows(table, sheet, headers, parse)


def find_sheet(root: Path, annotations: str | Path | None) -> list[Path]:
    """The coding sheet: ``annotations`` if given, else the one ``CASME2-coding-*.xlsx`` under root."""
    if annotations:
        return [annotation_file(annotations)]
    sheet = find_one(root, SHEET_PATTERN)
    if sheet is None:
        raise UserError(f"{root}: no {SHEET_PATTERN} coding sheet found; name it with --annotations")
    return [sheet]


def read_annotations(root: Path, sheets: list[Path]) -> tuple[list[Annotation], list[Problem]]:
    """Annotations of the sheet's rows, pointing at cropped frames when the copy has them."""
    (sheet,) = sheets
    table = read_spreadsheet(sheet)
    return read_coding_sheet(LAYOUT, sheet, table, frame_parents(root))


def frame_parents(root: Path) -> list[Path]:
    """Folders holding the subNN folders: the cropped ones if any (never mixed with raw frames,
    which are framed differently), else all."""
    parents = subject_parents(root)
    return [p for p in parents if _is_cropped(p, root)] or parents


def _is_cropped(parent: Path, root: Path) -> bool:
    # Only names inside the dataset count: '/home/me/cropped_tests/CASME2' is not a cropped copy.
    inside = parent.relative_to(root).parts or (root.name,)
    return any("cropped" in part.lower() for part in inside)


def write_casme2_sheet(path: str | Path, rows: list[dict]) -> None:
    """Write a coding sheet in the real CASME II layout, atomically.

    Each row has ``subject`` ('01' or 1, written as given), ``filename``, ``onset``, ``apex`` (a
    number or '/'), ``offset``, ``action_units`` and ``emotion``.
    """
    book = openpyxl.Workbook()
    table = book.active
    table.title = "Sheet1"
    table.append(HEADER)
    for row in rows:
        table.append((row["subject"], row["filename"], None, row["onset"], row["apex"], row["offset"],
                      None, row["action_units"], row["emotion"]))
    with atomic_path(path) as tmp:
        book.save(tmp)
