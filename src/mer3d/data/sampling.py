"""Fixed-length temporal windows: the paper reads 16 frames from a random start in [0, R - 16].

Clips are arrays shaped (T, H, W, C); a window is ``frames`` consecutive frames of one.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from mer3d.data.records import ClipRecord
from mer3d.errors import UserError


def fit_length(clip: np.ndarray, frames: int) -> np.ndarray:
    """Stretch a clip shorter than ``frames`` to exactly ``frames`` by linear interpolation in time.

    The first and last frames are kept exactly; longer clips are returned unchanged (same object).
    """
    length = len(clip)
    if length >= frames:
        return clip
    positions = np.linspace(0, length - 1, frames)
    before = np.floor(positions).astype(int)
    after = np.minimum(before + 1, length - 1)
    weight = (positions - before).reshape(-1, *([1] * (clip.ndim - 1)))
    blended = (1 - weight) * clip[before] + weight * clip[after]
    if np.issubdtype(clip.dtype, np.integer):
        blended = np.rint(blended)
    return blended.astype(clip.dtype)


def random_window_start(length: int, frames: int, generator: torch.Generator) -> int:
    """A start drawn uniformly from [0, length - frames] inclusive (0 when the clip is no longer)."""
    if length <= frames:
        return 0
    return int(torch.randint(0, length - frames + 1, (1,), generator=generator))


def eval_window_starts(length: int, frames: int, apex_index: int | None, windows: int = 1) -> list[int]:
    """Deterministic test-time window starts.

    One window: centred on the apex where known, else on the middle of the clip, clamped so it
    fits. Several: that many starts spread evenly over [0, length - frames] (starts repeat when the
    clip has fewer positions than windows, so every clip yields the same number of windows).
    """
    if windows < 1:
        raise ValueError(f"windows must be at least 1, not {windows}")
    last = max(length - frames, 0)
    if windows > 1:
        return [int(start) for start in np.rint(np.linspace(0, last, windows))]
    if apex_index is None:
        return [last // 2]
    return [min(max(apex_index - frames // 2, 0), last)]


def take_window(clip: np.ndarray, start: int, frames: int) -> np.ndarray:
    """Frames ``start`` .. ``start + frames - 1`` of ``clip`` (a view)."""
    if start < 0 or start + frames > len(clip):
        raise ValueError(f"window [{start}, {start + frames}) does not fit a clip of {len(clip)} frames")
    return clip[start : start + frames]


def apex_index(record: ClipRecord) -> int | None:
    """Position of the apex frame within the clip as the cache stores it (None if unknown).

    Image-sequence clips hold ``record.frames``; video clips hold the frames from onset on.
    """
    if record.apex is None:
        return None
    if record.frames:
        numbers = list(record.frame_numbers)
        return numbers.index(record.apex) if record.apex in numbers else None
    if record.video is not None:
        position = record.apex - (record.onset or 0)
        inside = position >= 0 and (record.offset is None or record.apex <= record.offset)
        return position if inside else None
    return None


def resample_in_time(record: ClipRecord, fps: float) -> ClipRecord:
    """The clip as a camera at ``fps`` would have seen it (``data.fps``): for every instant
    ``k / fps`` after the first frame, the frame nearest in time (every second frame of a 200 fps
    clip at 100 fps; repeated frames when ``fps`` is above the clip's rate). The apex moves to the
    nearest kept frame, so it stays annotated.
    """
    if not record.fps:
        raise UserError(f"{record.source or record.key}{'' if record.row is None else f' row {record.row}'}: "
                        f"data.fps needs the clip's frame rate, which its annotation does not give")
    if record.fps == fps:
        return record
    if record.video is not None or not record.frames:
        raise UserError(f"{record.video or record.key}: data.fps resamples frame folders; this clip is a video "
                        f"(set data.fps: null)")
    ratio, count = record.fps / fps, len(record.frames)
    kept = math.floor((count - 1) / ratio + 1e-9) + 1
    picks = [min(count - 1, int(k * ratio + 0.5)) for k in range(kept)]
    numbers = tuple(record.frame_numbers[i] for i in picks)
    apex = None if record.apex is None else min(numbers, key=lambda number: abs(number - record.apex))
    return dataclasses.replace(record, frames=tuple(record.frames[i] for i in picks), frame_numbers=numbers,
                               apex=apex, fps=float(fps))


def clip_duration_s(record: ClipRecord) -> float | None:
    """Seconds from the clip's first to past its last frame; None without a frame rate."""
    if not record.fps:
        return None
    if record.frames:
        return len(record.frames) / record.fps
    if record.onset is not None and record.offset is not None:
        return (record.offset - record.onset + 1) / record.fps
    return None
