"""The SAMM layout: ``SAMM/<subject>/<subject>_<n>_<m>/<subject>_<frame>.jpg`` (gray, frame
numbers zero padded to 4 or 5 digits) and ``SAMM_Micro_FACS_Codes_v2.xlsx`` with title rows above
its header."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mer3d.data.demo.clips import WrittenClip, subject_clips, write_frames
from mer3d.data.demo.faces import Subject
from mer3d.data.demo.motion import RENDER_FPS
from mer3d.data.demo.seeds import FRAME_NUMBERING, rng_for
from mer3d.data.samm import SHEET_NAME, write_samm_sheet

FPS = RENDER_FPS          # frames are saved as rendered
FIRST_SUBJECT = 6       # the real subjects are 006 to 037
INDUCEMENTS = 7         # stimuli per session; a clip is named after the one that induced it
# Davison et al.'s objective classes (grouped by action units) of each emotion's motions.
OBJECTIVE_CLASS = {"happiness": 1, "surprise": 2, "anger": 3, "disgust": 4, "sadness": 5, "fear": 6,
                   "contempt": 7, "other": 7}


def subject_code(index: int) -> str:
    """'006' for the first subject: its folder and file prefix (the sheet writes 6)."""
    return f"{FIRST_SUBJECT + index:03d}"


def write_subject(root: Path, subject: Subject, emotions: list[str], seed: int, subject_index: int,
                  bar: tqdm) -> list[WrittenClip]:
    """Render and save all clips of one subject under ``root/SAMM/<code>``."""
    digits = int(rng_for(seed, FRAME_NUMBERING, subject_index).integers(4, 6))
    clips, seen = [], Counter()
    for rng, plan, frames in subject_clips(subject, emotions, seed, subject_index, bar):
        inducement = int(rng.integers(1, INDUCEMENTS + 1))
        seen[inducement] += 1
        name = f"{subject.code}_{inducement}_{seen[inducement]}"
        onset = int(rng.integers(1, 9000))      # leaves room for the clip within 4 digits
        write_frames(root / "SAMM" / subject.code / name, gray(frames), onset,
                     f"{subject.code}_{{:0{digits}d}}.jpg")
        clips.append(WrittenClip(subject.code, name, plan.emotion, onset, onset + plan.apex_index,
                                 onset + plan.n_frames - 1, plan.action_unit_text))
    return clips


def gray(frames: np.ndarray) -> np.ndarray:
    """(n, h, w) single-channel frames of (n, h, w, 3) BGR ones: SAMM's camera is monochrome."""
    n, height, width, _ = frames.shape
    return cv2.cvtColor(frames.reshape(n * height, width, 3), cv2.COLOR_BGR2GRAY).reshape(n, height, width)


def write_annotations(root: Path, clips: list[WrittenClip]) -> None:
    """The sheet, subjects written as numbers and emotions capitalized like the real one's."""
    write_samm_sheet(root / SHEET_NAME, [{
        "Subject": int(c.subject), "Filename": c.name, "Inducement Code": int(c.name.split("_")[1]),
        "Onset Frame": c.onset, "Apex Frame": c.apex, "Offset Frame": c.offset,
        "Duration": c.offset - c.onset + 1,
        "Micro": "Micro - 1/2",     # every demo clip is shorter than half a second
        "Action Units": c.action_units, "Estimated Emotion": c.emotion.capitalize(),
        "Objective Classes": OBJECTIVE_CLASS[c.emotion],
    } for c in sorted(clips, key=lambda c: (c.subject, c.name))])


def listed(clip: WrittenClip) -> tuple[str, str]:
    """Subject and clip as the MEGC 2019 composite list writes them: '6', '006_1_2'."""
    return str(int(clip.subject)), clip.name
