"""The paper's data amplification: a mirror flip and small rotations, applied to whole clips.

All functions take and return clips shaped (T, H, W, C) (uint8 frames, or float32 flow fields with
``vectors=True``) and never modify their input. Every frame gets the same transform, so the motion
between frames is kept. A flow field is a picture of vectors: mirroring or turning it moves its
pixels like a frame's and also turns each (u, v) vector, so the transformed field is the flow of
the transformed frames (tests/data/test_augment_motion.py checks this against TV-L1).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

PAPER_ANGLES = (5.0, -5.0, 10.0, -10.0)


def augmentation_plan(
    enabled: bool = True, flip: bool = True, angles: Sequence[float] = PAPER_ANGLES
) -> list[tuple[bool, float]]:
    """The versions of each training clip, as (flipped, angle in degrees), in the paper's order.

    Original, original rotated by each angle, then (with ``flip``) the flipped clip and the flipped
    clip rotated by each angle: 10 versions for the paper's setting. The first is always (False, 0.0).
    """
    if not enabled:
        return [(False, 0.0)]
    sides = (False, True) if flip else (False,)
    rotations = (0.0, *(float(angle) for angle in angles))
    return [(flipped, angle) for flipped in sides for angle in rotations]


def flip_clip(clip: np.ndarray, vectors: bool = False) -> np.ndarray:
    """Mirror every frame left-right (about the vertical axis); with ``vectors`` (u, v) -> (-u, v)."""
    mirrored = np.ascontiguousarray(clip[:, :, ::-1])
    if vectors:
        mirrored[..., 0] *= -1
    return mirrored


def rotate_clip(clip: np.ndarray, degrees: float, vectors: bool = False) -> np.ndarray:
    """Rotate every frame about its centre; positive = counter-clockwise as displayed.

    Bilinear interpolation; the corners uncovered by the rotation repeat the nearest edge pixel
    rather than going black, so no artificial edges appear. With ``vectors`` every (u, v) is
    turned by the same rotation.
    """
    frames, height, width, channels = clip.shape
    centre = ((width - 1) / 2, (height - 1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, float(degrees), 1.0)
    rotated = np.empty_like(clip)
    for index in range(frames):
        warped = cv2.warpAffine(
            clip[index], matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        rotated[index] = warped.reshape(height, width, channels)  # warpAffine drops a single channel
    if vectors:
        # The matrix maps source to destination pixels, so its linear part maps a displacement too.
        rotated = rotated @ matrix[:, :2].T.astype(rotated.dtype)
    return rotated


def apply_augmentation(clip: np.ndarray, flipped: bool, angle: float, vectors: bool = False) -> np.ndarray:
    """One version from ``augmentation_plan``: flip first, then rotate (the flipped sample rotated).

    The unaugmented version returns ``clip`` itself.
    """
    if flipped:
        clip = flip_clip(clip, vectors)
    if angle:
        clip = rotate_clip(clip, angle, vectors)
    return clip
