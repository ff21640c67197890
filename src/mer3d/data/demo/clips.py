"""A subject's clips on their way to disk: planned, rendered, saved frame by frame."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from mer3d.data.demo.faces import Subject
from mer3d.data.demo.motion import ClipPlan, plan_clip, render_clip
from mer3d.data.demo.seeds import CLIP, rng_for

JPEG_QUALITY = 95


@dataclass(frozen=True)
class WrittenClip:
    """One saved clip as its dataset names it, with what its annotation needs."""

    subject: str        # the subject's code: '01', '006', 's1'
    name: str           # the clip folder: 'EP02_01', '006_1_2', 's1_ne_01'
    emotion: str        # the emotion its motion shows, lower-case
    onset: int          # frame numbers as the files carry them
    apex: int
    offset: int
    action_units: str


def subject_clips(subject: Subject, emotions: list[str], seed: int, subject_index: int,
                  bar: tqdm) -> Iterator[tuple[np.random.Generator, ClipPlan, np.ndarray]]:
    """Per clip: its random stream (for the layout's own draws, which follow the plan's), its plan
    and its rendered frames. ``bar`` advances once each clip has been handled."""
    for clip_index, emotion in enumerate(emotions):
        rng = rng_for(seed, CLIP, subject_index, clip_index)
        plan = plan_clip(rng, emotion, subject, subject.face.shape)
        yield rng, plan, render_clip(subject, plan)
        bar.update()


def write_frames(clip_dir: Path, frames: np.ndarray, first_number: int, pattern: str) -> None:
    """Save frames as ``pattern.format(number)``, numbered from ``first_number`` like the real
    datasets (whose numbers start wherever the clip was cut from the recording)."""
    clip_dir.mkdir(parents=True)
    for number, frame in enumerate(frames, start=first_number):
        path = clip_dir / pattern.format(number)
        # BMP has no quality setting; cv2 warns about one it does not know.
        options = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
        # cv2 reports a failed write (disk full, say) only through its return value.
        if not cv2.imwrite(str(path), frame, options):
            raise OSError(f"could not write {path}")
