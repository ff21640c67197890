"""The CASME II layout: ``Cropped/subNN/EPxx_yy/reg_img<N>.jpg`` and a coding sheet with the real
column names (``CASME2-coding-20140508.xlsx``'s)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from tqdm import tqdm

from mer3d.data.casme2 import write_casme2_sheet
from mer3d.data.demo.clips import WrittenClip, subject_clips, write_frames
from mer3d.data.demo.faces import Subject
from mer3d.data.demo.motion import RENDER_FPS

FPS = RENDER_FPS          # frames are saved as rendered
SHEET_NAME = "CASME2-coding-demo.xlsx"


def subject_code(index: int) -> str:
    """'01' for the first subject: the sheet's Subject, the folder is sub01."""
    return f"{index + 1:02d}"


def write_subject(root: Path, subject: Subject, emotions: list[str], seed: int, subject_index: int,
                  bar: tqdm) -> list[WrittenClip]:
    """Render and save all clips of one subject under ``root/Cropped/sub<code>``."""
    clips, seen = [], Counter()
    for rng, plan, frames in subject_clips(subject, emotions, seed, subject_index, bar):
        # Named after the elicitation episode, numbered within it: EP02_01, EP02_02.
        episode = int(rng.integers(1, 20))
        seen[episode] += 1
        name = f"EP{episode:02d}_{seen[episode]:02d}"
        onset = int(rng.integers(1, 300))
        write_frames(root / "Cropped" / f"sub{subject.code}" / name, frames, onset, "reg_img{}.jpg")
        clips.append(WrittenClip(subject.code, name, plan.emotion, onset, onset + plan.apex_index,
                                 onset + plan.n_frames - 1, plan.action_unit_text))
    return clips


def write_annotations(root: Path, clips: list[WrittenClip]) -> None:
    """The coding sheet, rows in subject and clip order like the real one."""
    write_casme2_sheet(root / SHEET_NAME, [
        {"subject": c.subject, "filename": c.name, "onset": c.onset, "apex": c.apex, "offset": c.offset,
         "action_units": c.action_units, "emotion": c.emotion}
        for c in sorted(clips, key=lambda c: (c.subject, c.name))])


def listed(clip: WrittenClip) -> tuple[str, str]:
    """Subject and clip as the MEGC 2019 composite list writes them: 'sub01', 'EP02_01'."""
    return f"sub{clip.subject}", clip.name
