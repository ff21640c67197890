"""Writers of tiny datasets in the real on-disk formats, for tests.

Pytest puts tests/data on sys.path while collecting its tests (no __init__.py: tests/conftest.py
must stay importable as ``conftest``), so tests here import this module as ``fixtures``.
"""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import xlwt

from mer3d.data.casme2 import write_casme2_sheet
from mer3d.data.samm import write_samm_sheet

FRAME_SIZE = 16     # frames.MIN_FRAME_SIDE: the smallest frame mer3d reads
CASME_HEADER = ("Subject", "Filename", "OnsetF", "ApexF1", "ApexF2", "OffsetF", "AU", "Emotion")


def write_frames(folder: Path, numbers, pattern: str = "img{}.jpg") -> list[Path]:
    """Tiny JPEG frames named ``pattern.format(number)``, each a different gray level."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in numbers:
        path = folder / pattern.format(number)
        assert cv2.imwrite(str(path), np.full((FRAME_SIZE, FRAME_SIZE, 3), number % 256, np.uint8))
        paths.append(path)
    return paths


def corrupt_image(path: Path) -> None:
    """Replace an image with the first bytes of a JPEG, as a truncated copy would leave it."""
    path.write_bytes(path.read_bytes()[:20])


def casme2_row(subject="01", filename="EP01_01f", onset=10, apex=12, offset=14,
               action_units="4", emotion="happiness") -> dict:
    """One row for ``write_casme2_sheet``."""
    return {"subject": subject, "filename": filename, "onset": onset, "apex": apex, "offset": offset,
            "action_units": action_units, "emotion": emotion}


def subject_folder(subject) -> str:
    return f"sub{int(subject):02d}"


def write_casme2(root: Path, rows: list[dict], frames_dir: str = "Cropped", pattern: str = "reg_img{}.jpg",
                 sheet_name: str = "CASME2-coding-20140508.xlsx") -> Path:
    """A CASME II copy: the coding sheet at ``root`` and frames onset..offset of every row in
    ``root/<frames_dir>/subNN/<Filename>/``. Returns the sheet's path."""
    for row in rows:
        folder = root / frames_dir / subject_folder(row["subject"]) / row["filename"]
        write_frames(folder, range(int(row["onset"]), int(row["offset"]) + 1), pattern)
    sheet = root / sheet_name
    write_casme2_sheet(sheet, rows)
    return sheet


def samm_row(subject="006", filename="006_1_2", onset=5562, apex=5570, offset=5575, emotion="Happiness",
             objective="I", action_units="R12") -> dict:
    """One row for ``write_samm_sheet``, under the real sheet's column names."""
    return {"Subject": subject, "Filename": filename, "Inducement Code": 1, "Onset Frame": onset,
            "Apex Frame": apex, "Offset Frame": offset,
            "Duration": None if onset is None or offset is None else f"{offset}-{onset}",
            "Micro": "Micro - 1/2", "Action Units": action_units, "Estimated Emotion": emotion,
            "Objective Classes": objective, "Notes": None}


def write_samm(root: Path, rows: list[dict], digits: int = 5, sheet_name: str = "SAMM_Micro_FACS_Codes_v2.xlsx",
               title_rows: int = 13) -> Path:
    """A SAMM copy: the sheet at ``root`` (``title_rows`` title/notes rows above its header) and
    frames onset..offset of every row in ``root/SAMM/<subject>/<Filename>/<subject>_<frame>.jpg``,
    frame numbers ``digits`` long. Returns the sheet's path."""
    for row in rows:
        subject = f"{int(row['Subject']):03d}"
        frames = range(int(row["Onset Frame"]), int(row["Offset Frame"]) + 1)
        write_frames(root / "SAMM" / subject / row["Filename"], frames, f"{subject}_{{:0{digits}d}}.jpg")
    sheet = root / sheet_name
    write_samm_sheet(sheet, rows, title_rows=title_rows)
    return sheet


def write_casme_sheet(path: Path, rows: list[tuple], sheet_name: str = "Sheet1",
                      header: tuple[str, ...] = CASME_HEADER) -> Path:
    """An old-Excel (.xls) CASME section sheet; each row follows ``header``."""
    book = xlwt.Workbook()
    table = book.add_sheet(sheet_name)
    for r, values in enumerate([header, *rows]):
        for c, value in enumerate(values):
            if value is not None:
                table.write(r, c, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(str(path))
    return path


def write_manifest(path: Path, rows: list[dict]) -> Path:
    """A CSV manifest with the union of the rows' keys as columns (missing cells blank)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def bump_motion(n: int, frames: int, peak: int, amplitude: float = 1.5) -> np.ndarray:
    """float32 (frames, n, n): per frame, how far (px) a region right of and below the centre has
    moved, out and back, furthest (``amplitude``) at frame ``peak`` and still at frame 0: a motion
    whose apex is known by construction."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    c = (n - 1) / 2
    bump = np.exp(-((x - c - 8) ** 2 + (y - c - 10) ** 2) / (2 * 6 ** 2))
    amounts = amplitude * np.exp(-(np.arange(frames) - peak) ** 2 / (2 * 1.5 ** 2))
    amounts[0] = 0.0
    return (amounts[:, None, None] * bump).astype(np.float32)


SMIC_TAGS = {"negative": "ne", "positive": "po", "surprise": "sur"}


def write_smic(root: Path, clips: list[tuple[str, str, int]], modality: str = "HS", pattern: str = "image{}.bmp",
               frames=range(1, 6)) -> Path:
    """A SMIC copy in the real layout: for each ``(subject, class, number)`` a clip folder
    ``root/<modality>/<subject>/micro/<class>/<subject>_<tag>_<NN>/`` of tiny BMP ``frames``.
    Returns the modality folder."""
    folder = root / modality
    for subject, emotion, number in clips:
        clip = folder / subject / "micro" / emotion / f"{subject}_{SMIC_TAGS[emotion]}_{number:02d}"
        write_frames(clip, frames, pattern)
    return folder


COMPOSITE_WORDS = {"casme2": ("disgust", "happiness", "surprise"), "samm": ("Anger", "Happiness", "Surprise")}


def write_megc2019(root: Path, listed: list[tuple[str, str, str, int]], unlisted: int = 1) -> Path:
    """The composite's three parts under ``root/casme2``, ``root/samm`` and ``root/smic`` (real
    layouts, three-frame clips), holding every ``(db, subject, clip, label)`` of a clip list as the
    list spells it (SAMM '6', SMIC 's01_ne_01' -> folders '006', 's1_ne_01'), plus ``unlisted``
    'others' clips per part with a sheet; SMIC as its cropped release. Returns ``root``."""
    casme2, samm = [], []
    smic = []
    for db, subject, clip, label in listed:
        if db == "casme2":
            casme2.append(casme2_row(subject.removeprefix("sub"), clip, 10, 11, 12,
                                     emotion=COMPOSITE_WORDS["casme2"][label]))
        elif db == "samm":
            samm.append(samm_row(int(subject), clip, 100, 101, 102, emotion=COMPOSITE_WORDS["samm"][label]))
        else:
            number = int(clip.rsplit("_", 1)[1])
            smic.append((f"s{int(subject[1:])}", ("negative", "positive", "surprise")[label], number))
    for index in range(unlisted):
        casme2.append(casme2_row("01", f"EP90_{index:02d}", 10, 11, 12, emotion="others"))
        samm.append(samm_row(6, f"006_9_{index}", 100, 101, 102, emotion="Other"))
    write_casme2(root / "casme2", casme2)
    write_samm(root / "samm", samm)
    write_smic(root / "smic" / "SMIC_all_cropped", smic, pattern="reg_image{}.bmp", frames=range(1, 4))
    return root


def read_listed(path: Path) -> list[tuple[str, str, str, int]]:
    with open(path, newline="") as f:
        return [(db, subject, clip, int(label)) for db, subject, clip, label in csv.reader(f)]
