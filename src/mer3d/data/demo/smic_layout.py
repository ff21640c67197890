"""The SMIC layout, cropped release, high-speed camera:
``SMIC_all_cropped/HS/s<N>/micro/<negative|positive|surprise>/s<N>_<ne|po|sur>_<NN>/reg_image<N>.bmp``.

The class is the folder's; there is no annotation sheet. The HS camera ran at 100 fps: a clip
keeps every second frame of its 200 fps rendering, so it lasts as long as in the other parts.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from tqdm import tqdm

from mer3d.data.demo.clips import WrittenClip, subject_clips, write_frames
from mer3d.data.demo.faces import Subject
from mer3d.data.demo.motion import RENDER_FPS
from mer3d.data.emotions import three_class
from mer3d.data.smic import CROPPED, MICRO, TAGS

FPS = 100
STEP = RENDER_FPS // FPS
TAG = {label: tag for tag, label in TAGS.items()}


def subject_code(index: int) -> str:
    """'s1' for the first subject, unpadded like the folders."""
    return f"s{index + 1}"


def write_subject(root: Path, subject: Subject, emotions: list[str], seed: int, subject_index: int,
                  bar: tqdm) -> list[WrittenClip]:
    """Render and save all clips of one subject under ``root/SMIC_all_cropped/HS/<code>/micro``.

    ``emotions`` are the motions (negative clips show disgust, fear or sadness, as SMIC's were
    elicited); the folders name their composite class."""
    clips, seen = [], Counter()
    for rng, plan, frames in subject_clips(subject, emotions, seed, subject_index, bar):
        label = three_class(plan.emotion)
        seen[label] += 1
        name = f"{subject.code}_{TAG[label]}_{seen[label]:02d}"
        onset = int(rng.integers(1, 5000))
        kept = frames[::STEP]
        write_frames(root / CROPPED / "HS" / subject.code / MICRO / label / name, kept, onset, "reg_image{}.bmp")
        clips.append(WrittenClip(subject.code, name, plan.emotion, onset, onset + plan.apex_index // STEP,
                                 onset + len(kept) - 1, plan.action_unit_text))
    return clips


def write_annotations(root: Path, clips: list[WrittenClip]) -> None:
    """Nothing to write: SMIC's labels are its folders."""


def listed(clip: WrittenClip) -> tuple[str, str]:
    """Subject and clip as the MEGC 2019 composite list writes them, zero padded unlike the
    folders: 's01', 's01_ne_01'."""
    padded = f"s{int(clip.subject[1:]):02d}"
    return padded, padded + clip.name[len(clip.subject):]
