"""The paper's frame preprocessing (OpenCV colour conversion + resize), with an optional face crop
(a box, or an eye-aligned crop).

One function serves the training cache and prediction, so a model always sees frames prepared
exactly as its training frames were.
"""
from __future__ import annotations

import cv2
import numpy as np

from mer3d.inference.faces import FaceAlignment, FaceBox


def preprocess_frame(frame_bgr: np.ndarray, size: int, channels: int,
                     face: FaceBox | FaceAlignment | None = None) -> np.ndarray:
    """One BGR uint8 frame -> uint8 (size, size, channels): cut to ``face`` when given (see
    ``face_region``), then gray (cv2.cvtColor BGR2GRAY) for 1 channel or RGB for 3, then
    cv2.resize to size x size."""
    region = frame_bgr if face is None else face_region(frame_bgr, face)
    code = cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB
    converted = cv2.cvtColor(region, code)
    height, width = converted.shape[:2]
    # INTER_AREA averages the pixels it merges; when enlarging it degrades to nearest neighbour.
    shrinking = size <= height and size <= width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(converted, (size, size), interpolation=interpolation)
    return resized.reshape(size, size, channels)


def face_region(frame: np.ndarray, face: FaceBox | FaceAlignment) -> np.ndarray:
    """The face's pixels: the box's, or the aligned crop (the frame warped by the alignment's
    transform, edges repeated like ``crop``'s)."""
    if isinstance(face, FaceBox):
        return crop(frame, face)   # a slice: a box needs no resampling
    return cv2.warpAffine(frame, np.array(face.matrix), (face.side, face.side), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop(frame: np.ndarray, box: FaceBox) -> np.ndarray:
    """The frame's pixels inside ``box``; where the box leaves the frame, its edge pixels repeated."""
    height, width = frame.shape[:2]
    overhang = max(0, -box.x, -box.y, box.x + box.w - width, box.y + box.h - height)
    if overhang:
        frame = cv2.copyMakeBorder(frame, overhang, overhang, overhang, overhang, cv2.BORDER_REPLICATE)
    return frame[box.y + overhang: box.y + overhang + box.h, box.x + overhang: box.x + overhang + box.w]
