"""CASME: the sheets ``Section A.xls`` and ``Section B.xls`` and their frame folders.

Frames are ``CASME_A/Section A/subNN/<Filename>/`` and ``CASME_B/Section B/subNN/<Filename>/``,
named ``img<N>.jpg`` or ``<Filename>-<N>.jpg``. The sheets are old Excel (.xls) files; the apex
is ApexF1 (ApexF2, a second apex some rows give, is not used).
"""
from __future__ import annotations

from pathlib import Path

from mer3d.data.casme2 import CodingSheet, read_coding_sheet
from mer3d.data.frames import subject_parents
from mer3d.data.manifest import Annotation, annotation_file, find_one, read_spreadsheet
from mer3d.data.records import Problem
from mer3d.errors import UserError

CLASSES = ("tense", "surprise", "repression", "disgust")
VOCABULARY = frozenset(CLASSES + ("happiness", "sadness", "fear", "contempt"))
FPS = 60.0
SHEET_NAMES = ("Section A.xls", "Section B.xls")
LAYOUT = CodingSheet("Subject", "Filename", "OnsetF", "ApexF1", "OffsetF", "AU", "Emotion", FPS)


def find_sheets(root: Path, annotations: str | Path | None) -> list[Path]:
    """The section sheets: ``annotations`` (one file or a comma-separated pair) if given, else
    ``Section A.xls`` and ``Section B.xls`` wherever they are under root."""
    if annotations:
        return [annotation_file(part.strip()) for part in str(annotations).split(",") if part.strip()]
    sheets = [sheet for name in SHEET_NAMES if (sheet := find_one(root, name)) is not None]
    if not sheets:
        raise UserError(f"{root}: neither {' nor '.join(SHEET_NAMES)} found; name them with --annotations")
    return sheets


def read_annotations(root: Path, sheets: list[Path]) -> tuple[list[Annotation], list[Problem]]:
    """Annotations of every row of every section sheet."""
    parents = subject_parents(root)
    annotations, problems = [], []
    for sheet in sheets:
        table = read_spreadsheet(sheet, sheet="Sheet1", engine="xlrd")
        rows, row_problems = read_coding_sheet(LAYOUT, sheet, table, parents)
        annotations += rows
        problems += row_problems
    return annotations, problems
