"""Short test clips made from real face photographs that ship inside installed packages (the
photographs, canvases and video writer live in mer3d.inference.sample_faces)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from mer3d.inference.sample_faces import (TRUE_FACES, add_noise, centred_on_canvas, face_photo,  # noqa: F401
                                          photo_path, place_on_canvas, still_head_clip, write_video)

def tight_crop(name: str, widen: float = 0.5) -> np.ndarray:
    """The named photograph cut to a square around its true face, ``widen`` of the face's larger
    side added on every side: a face-crop frame as CASME II's ``Cropped/`` folder holds."""
    face = TRUE_FACES[name]
    side = round(max(face.w, face.h) * (1 + 2 * widen))
    x, y = round(face.x + face.w / 2 - side / 2), round(face.y + face.h / 2 - side / 2)
    photo = face_photo(name)
    assert x >= 0 and y >= 0 and x + side <= photo.shape[1] and y + side <= photo.shape[0], "crop leaves the photo"
    return photo[y: y + side, x: x + side]


def moving_clip(photo: np.ndarray, shifts: Sequence[tuple[float, float]]) -> list[np.ndarray]:
    """One frame per (dx, dy): the photograph shifted by that many pixels (sub-pixel allowed),
    edges repeated into the uncovered border."""
    height, width = photo.shape[:2]
    return [cv2.warpAffine(photo, np.float32([[1, 0, dx], [0, 1, dy]]), (width, height),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            for dx, dy in shifts]


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two photographs in one frame, the shorter one padded at the bottom with black."""
    height = max(left.shape[0], right.shape[0])
    padded = [cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=0)
              for image in (left, right)]
    return np.hstack(padded)


def write_frames(folder: Path, frames: Sequence[np.ndarray], pattern: str = "img{}.jpg", first: int = 1) -> list[Path]:
    """Write frames as numbered images (``pattern`` takes the frame number); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, frame in enumerate(frames, start=first):
        path = folder / pattern.format(number)
        assert cv2.imwrite(str(path), frame), f"cannot write {path}"
        paths.append(path)
    return paths
