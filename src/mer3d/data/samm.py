"""SAMM (Davison et al. 2018): the sheet ``SAMM_Micro_FACS_Codes_v2.xlsx`` and the frame folders.

Frames are ``SAMM/<subject>/<Filename>/<subject>_<frame>.jpg`` (``SAMM/006/006_1_2/006_05562.jpg``,
4- or 5-digit frame numbers, 200 fps, gray 960x650); ``root`` may also be the ``SAMM`` folder
itself. The sheet (``MICRO_ONLY`` in v2, else its first sheet) has title and notes rows above its
header row, which is found by its column names. Subject is written 6 or '006'; it is kept as
'006', the name of its folder. An apex of -1, blank or '/' is not annotated.

Labels (``dataset.labels``): ``emotion`` (Estimated Emotion, lower-cased) or ``objective``
(Objective Classes I..VII, also written 1..7). The standard emotion class set is the field's common
5-class SAMM protocol, the classes with at least 10 clips: anger, contempt, happiness, surprise and
other; disgust, fear and sadness clips are excluded (as CASME II excludes fear and sadness). With
objective labels all seven classes are used.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import openpyxl

from mer3d.atomic import atomic_path
from mer3d.data.casme2 import CodingSheet
from mer3d.data.frames import subfolders
from mer3d.data.manifest import Annotation, Cells, header_table, match_columns, minus_one_as_missing, read_rows, read_spreadsheet
from mer3d.data.manifest import find_sheet as find_sheet_by_name
from mer3d.data.records import Problem
from mer3d.errors import UserError

CLASSES = ("anger", "contempt", "happiness", "surprise", "other")
VOCABULARY = frozenset(CLASSES + ("disgust", "fear", "sadness"))
OBJECTIVE_CLASSES = ("I", "II", "III", "IV", "V", "VI", "VII")
LABELS = ("emotion", "objective")
FPS = 200.0
SHEET_NAME = "SAMM_Micro_FACS_Codes_v2.xlsx"
SHEET_PATTERN = "SAMM_Micro_FACS_Codes*.xlsx"
TABLE_NAME = "MICRO_ONLY"
OBJECTIVE = "Objective Classes"
LAYOUT = CodingSheet("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame",
                     "Action Units", "Estimated Emotion", FPS)
# The real sheet's header row, in its order.
HEADER = ("Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
          "Micro", "Action Units", "Estimated Emotion", OBJECTIVE, "Notes")
SUBJECT_FOLDER = re.compile(r"\d{3}")


def label_set(labels: str = "emotion") -> tuple[tuple[str, ...], frozenset[str]]:
    """The standard classes and the vocabulary of a ``dataset.labels`` choice."""
    if labels not in LABELS:
        raise UserError(f"dataset.labels must be one of {', '.join(LABELS)}, got '{labels}'")
    if labels == "objective":
        return OBJECTIVE_CLASSES, frozenset(OBJECTIVE_CLASSES)
    return CLASSES, VOCABULARY


def find_sheet(root: Path, annotations: str | Path | None) -> list[Path]:
    """The sheet: ``annotations`` if given, else the v2 sheet (or the one other
    ``SAMM_Micro_FACS_Codes*.xlsx``) under root, or beside root when root is the SAMM folder."""
    return find_sheet_by_name(root, annotations, (SHEET_NAME, SHEET_PATTERN))


def read_annotations(root: Path, sheets: list[Path], labels: str = "emotion") -> tuple[list[Annotation], list[Problem]]:
    """Annotations of the sheet's rows labelled by ``labels``, each pointing at its
    ``<subject>/<Filename>`` folder; rows are numbered as in the sheet (title rows included)."""
    label_set(labels)
    (sheet,) = sheets
    table, header_row = header_table(read_spreadsheet(sheet, sheet=TABLE_NAME), sheet, LAYOUT.required()[:-1],
                                     (LAYOUT.emotion, OBJECTIVE))
    label = LAYOUT.emotion if labels == "emotion" else OBJECTIVE
    headers = match_columns(table.columns, (*LAYOUT.required()[:-1], label), (LAYOUT.action_units,), sheet)
    table[headers[LAYOUT.apex]] = table[headers[LAYOUT.apex]].map(minus_one_as_missing)
    parents = frame_parents(root)

    def parse(cells: Cells, source: str, row: int) -> Annotation:
        subject = cells.subject_number(LAYOUT.subject).zfill(3)
        name = cells.required(LAYOUT.filename)
        onset, apex, offset = cells.span(LAYOUT.onset, LAYOUT.apex, LAYOUT.offset)
        text = cells.required(label)
        return Annotation(
            subject=subject, name=name, emotion=text.lower() if labels == "emotion" else objective_class(text),
            onset=onset, apex=apex, offset=offset, action_units=cells.text(LAYOUT.action_units),
            fps=LAYOUT.fps, source=source, row=row, folder=clip_folder(parents, subject, name),
        )

    annotations, problems = read_rows(table, sheet, headers, parse)
    shift = header_row - 1      # read_rows numbers the header row 1
    return ([dataclasses.replace(a, row=a.row + shift) for a in annotations],
            [dataclasses.replace(p, row=p.row + shift) for p in problems])


def objective_class(text: str) -> str:
    """Objective class as a Roman numeral: 'iii', 'III' and 3 all give 'III'."""
    text = text.strip().upper()
    if text.isdigit() and 1 <= int(text) <= len(OBJECTIVE_CLASSES):
        return OBJECTIVE_CLASSES[int(text) - 1]
    return text


def frame_parents(root: Path) -> list[Path]:
    """Folders holding the 3-digit subject folders: root itself (the SAMM folder) or below it."""
    candidates = [root, *sorted(subfolders(root))]
    parents = [c for c in candidates if any(SUBJECT_FOLDER.fullmatch(f.name) for f in subfolders(c))]
    if not parents:
        raise UserError(f"{root}: no SAMM subject folders (006, 007, ...) found; is this the dataset root?")
    return parents


def clip_folder(parents: list[Path], subject: str, name: str) -> Path:
    """``<parent>/<subject>/<name>`` under the first parent that has it, else under the first."""
    candidates = [parent / subject / name for parent in parents]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def write_samm_sheet(path: str | Path, rows: list[dict], title_rows: int = 13,
                     table_name: str = TABLE_NAME, header: tuple[str, ...] = HEADER) -> None:
    """Write a sheet in the real SAMM layout, atomically: ``title_rows`` title/notes rows (some
    blank), then ``header`` and the rows.

    Each row maps header names to values (missing ones blank); subject is written as given
    (6 or '006').
    """
    book = openpyxl.Workbook()
    table = book.active
    table.title = table_name
    for index in range(title_rows):
        table.append(("SAMM micro-movement FACS codes",) if index == 0 else
                     (() if index % 3 == 1 else (f"note {index}: see the readme", None, "v2")))
    table.append(header)
    for row in rows:
        table.append(tuple(row.get(name) for name in header))
    with atomic_path(path) as tmp:
        book.save(tmp)
