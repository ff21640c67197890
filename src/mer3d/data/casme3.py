"""CAS(ME)^3 part A (Li et al. 2022): the sheet ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` and
the frame folders.

Frames are ``<subject>/<Filename>/color/<frame>.jpg`` (``spNO.1/a/color/123.jpg``, frame numbers
without zero padding, 30 fps); the ``depth`` folder beside ``color`` is not used. ``root`` may be
the folder holding the ``spNO.*`` subject folders or a folder above it (they are searched for a few
levels down); the sheet is found under root, or beside root when root is the frames folder. The
sheet (the v2 "JpgIndex" one, else the one other ``cas(me)3_part_A_ME_label*.xlsx``, its first
sheet) has the columns Subject, Filename, Onset, Apex, Offset, AU, Objective class and emotion; the
header row is found by its column names (case and spaces ignored), so title rows above it do no
harm. Subject is written ``spNO.1``, the name of its folder (a bare 1 is read as ``spNO.1``). An
apex of '/', -1 or blank is not annotated.

Labels (``dataset.labels``): ``emotion`` (the sheet's emotion, lower-cased: anger, disgust, fear,
happy, sad, surprise, others; all seven are the standard set), ``3class`` (negative, positive,
surprise by ``mer3d.data.emotions.three_class``; 'others' clips are excluded) or ``4class``
(negative, positive, surprise, others). Assumed, not verified on the release: the frame numbers in
the JpgIndex sheet are those of the jpg names, and every clip folder holds ``color``.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import openpyxl

from mer3d.atomic import atomic_path
from mer3d.data.emotions import THREE_CLASSES, three_class
from mer3d.data.frames import list_frames, subfolders, subject_parents
from mer3d.data.manifest import (Annotation, BadRow, Cells, header_table, match_columns, minus_one_as_missing,
                                 read_rows, read_spreadsheet)
from mer3d.data.manifest import find_sheet as find_sheet_by_name
from mer3d.data.records import Problem
from mer3d.errors import UserError

CLASSES = ("anger", "disgust", "fear", "happy", "sad", "surprise", "others")
VOCABULARY = frozenset(CLASSES)
FOUR_CLASSES = (*THREE_CLASSES, "others")
LABELS = ("emotion", "3class", "4class")
FPS = 30.0
SHEET_NAME = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
SHEET_PATTERN = "cas(me)3_part_A_ME_label*.xlsx"
SUBJECT, FILENAME, ONSET, APEX, OFFSET, AU, OBJECTIVE, EMOTION = (
    "Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion")
REQUIRED = (SUBJECT, FILENAME, ONSET, APEX, OFFSET, EMOTION)
# The real sheet's header row, in its order.
HEADER = (SUBJECT, FILENAME, ONSET, APEX, OFFSET, AU, OBJECTIVE, EMOTION)
FRAMES_FOLDER = "color"
SUBJECT_FOLDER = re.compile(r"spno\.?0*(\d+)", re.IGNORECASE)


def label_set(labels: str = "emotion") -> tuple[tuple[str, ...], frozenset[str]]:
    """The standard classes and the vocabulary of a ``dataset.labels`` choice."""
    if labels not in LABELS:
        raise UserError(f"dataset.labels must be one of {', '.join(LABELS)}, got '{labels}'")
    if labels == "3class":
        return THREE_CLASSES, frozenset(FOUR_CLASSES)    # 'others' is known, and excluded
    if labels == "4class":
        return FOUR_CLASSES, frozenset(FOUR_CLASSES)
    return CLASSES, VOCABULARY


def label(emotion: str, labels: str) -> str:
    """The sheet's emotion as a label of ``labels``: lower-cased, or folded into negative/positive/
    surprise (others stays others; a word three_class does not know is kept, to be reported)."""
    word = " ".join(emotion.split()).lower()
    if labels == "emotion":
        return word
    return three_class(word) or word


def find_sheet(root: Path, annotations: str | Path | None) -> list[Path]:
    """The sheet: ``annotations`` if given, else the v2 JpgIndex sheet (or the one other
    ``cas(me)3_part_A_ME_label*.xlsx``) under root, or beside root when root is the frames folder."""
    return find_sheet_by_name(root, annotations, (SHEET_NAME, SHEET_PATTERN))


def read_annotations(root: Path, sheets: list[Path], labels: str = "emotion") -> tuple[list[Annotation], list[Problem]]:
    """Annotations of the sheet's rows labelled by ``labels``, each pointing at its
    ``<subject>/<Filename>/color`` folder; rows are numbered as in the sheet (title rows included)."""
    label_set(labels)
    (sheet,) = sheets
    table, header_row = header_table(read_spreadsheet(sheet), sheet, REQUIRED)
    headers = match_columns(table.columns, REQUIRED, (AU,), sheet)
    table[headers[APEX]] = table[headers[APEX]].map(minus_one_as_missing)
    parents = frame_parents(root)
    subjects = subject_folders(parents)

    def parse(cells: Cells, source: str, row: int) -> Annotation:
        number = subject_number(cells.required(SUBJECT))
        subject = f"spNO.{number}"
        name = cells.required(FILENAME)
        onset, apex, offset = cells.span(ONSET, APEX, OFFSET)
        return Annotation(
            subject=subject, name=name, emotion=label(cells.required(EMOTION), labels),
            onset=onset, apex=apex, offset=offset, action_units=cells.text(AU),
            fps=FPS, source=source, row=row, folder=clip_folder(parents, subjects, number, name),
        )

    annotations, problems = read_rows(table, sheet, headers, parse)
    shift = header_row - 1      # read_rows numbers the header row 1
    return ([dataclasses.replace(a, row=a.row + shift) for a in annotations],
            [dataclasses.replace(p, row=p.row + shift) for p in problems])


def subject_number(text: str) -> int:
    """The number of a subject written 'spNO.1' (any case) or 1."""
    match = SUBJECT_FOLDER.fullmatch(text.replace(" ", ""))
    if text.isdigit() or match:
        return int(text if text.isdigit() else match.group(1))
    raise BadRow(f"column {SUBJECT}: '{text}' is not a subject (spNO.1 or 1)")


def frame_parents(root: Path) -> list[Path]:
    """Folders at or below root (a few levels) holding ``spNO.<n>`` subject folders, shallowest first."""
    return subject_parents(root, SUBJECT_FOLDER, "CAS(ME)^3 subject folders (spNO.1, spNO.2, ...)")


def subject_folders(parents: list[Path]) -> dict[int, list[Path]]:
    """The subject folders of every parent by subject number ('spNO.1', 'spno.01' are 1), in
    the order of ``parents``."""
    folders: dict[int, list[Path]] = {}
    for parent in parents:
        for folder in sorted(subfolders(parent)):
            match = SUBJECT_FOLDER.fullmatch(folder.name)
            if match:
                folders.setdefault(int(match.group(1)), []).append(folder)
    return folders


def clip_folder(parents: list[Path], subjects: dict[int, list[Path]], number: int, name: str) -> Path:
    """The frames folder ``<subject folder>/<name>/color`` of the first subject folder of
    ``number`` (see ``subject_folders``) that has the clip; a copy without ``color`` whose clip
    folder holds the frames itself gives that folder. Else the path it would have (under the first
    parent when the subject has no folder), for the missing-folder message."""
    for subject in subjects.get(number, []):
        clip = subject / name
        if clip.is_dir():
            if (clip / FRAMES_FOLDER).is_dir() or not list_frames(clip):
                return clip / FRAMES_FOLDER
            return clip
    subject = subjects.get(number, [parents[0] / f"spNO.{number}"])[0]
    return subject / name / FRAMES_FOLDER


def write_casme3_sheet(path: str | Path, rows: list[dict], title_rows: int = 0,
                       header: tuple[str, ...] = HEADER) -> None:
    """Write a sheet in the real CAS(ME)^3 part A layout, atomically: ``title_rows`` title rows,
    then ``header`` and the rows.

    Each row maps header names to values (missing ones blank); subject is written as given
    ('spNO.1' or 1).
    """
    book = openpyxl.Workbook()
    table = book.active
    table.title = "Sheet1"
    for index in range(title_rows):
        table.append(("CAS(ME)^3 part A micro-expression labels",) if index == 0 else ())
    table.append(header)
    for row in rows:
        table.append(tuple(row.get(name) for name in header))
    with atomic_path(path) as tmp:
        book.save(tmp)
