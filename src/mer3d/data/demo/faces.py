"""The demo's subjects: real photographs shipped in installed packages, Haar-cropped, each given
its own look.

Sources: the Labeled Faces in the Wild subset and the astronaut from scikit-image, Grace Hopper
from matplotlib. Each face is found with OpenCV's Haar cascade, cropped brows to chin and given its
own brightness, contrast, faint skin tone and fine skin texture.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from mer3d.data.demo.seeds import FACE_ORDER, SUBJECT_TRAITS, rng_for
from mer3d.errors import UserError
from mer3d.inference.faces import load_cascade

DETECTION_SIZE = 100            # px the face is enlarged to before Haar detection

Box = tuple[float, float, float, float]   # x, y, width, height


@dataclass(frozen=True)
class Subject:
    """One synthetic person: a gray face crop plus the traits that make recordings differ."""

    code: str               # its name in its dataset: '01', '006', 's1'
    source: str             # which shipped photograph the face comes from
    face: np.ndarray        # float32 gray, frame_size
    tint: np.ndarray        # BGR gains giving a faint skin tone
    motion_scale: float     # how expressive this person is


def source_images(seed: int) -> Iterator[tuple[str, np.ndarray]]:
    """(name, gray uint8 image) of the shipped photographs, LFW faces in a seed-given order."""
    # Imported here: only generation needs them, and both are slow to import.
    import skimage
    from matplotlib import cbook

    grace = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    yield "matplotlib sample_data/grace_hopper.jpg", cv2.imread(str(grace), cv2.IMREAD_GRAYSCALE)
    skimage_data = Path(skimage.__file__).parent / "data"
    astronaut = skimage_data / "astronaut.png"
    yield "scikit-image data/astronaut.png", cv2.imread(str(astronaut), cv2.IMREAD_GRAYSCALE)
    # Only the first 100 entries of the subset are faces; the rest are non-face patches.
    lfw = np.load(skimage_data / "lfw_subset.npy")[:100]
    for index in rng_for(seed, FACE_ORDER).permutation(len(lfw)):
        yield f"scikit-image data/lfw_subset.npy[{index}]", np.uint8(np.round(lfw[index] * 255))


@cache
def face_cascade() -> cv2.CascadeClassifier:
    return load_cascade()


def detect_face(image: np.ndarray) -> Box | None:
    """The most confident Haar face box (x, y, w, h) in ``image`` coordinates, or None."""
    # Tiny LFW crops fill the whole image: the cascade needs them enlarged and given a margin.
    scale = max(1.0, DETECTION_SIZE / min(image.shape))
    margin = DETECTION_SIZE // 4
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
    boxes, votes = face_cascade().detectMultiScale2(big, 1.05, 4, minSize=(min(big.shape) // 6,) * 2)
    if len(boxes) == 0:
        return None
    x, y, w, h = boxes[int(np.argmax(votes))]
    return (x - margin) / scale, (y - margin) / scale, w / scale, h / scale


def crop_face(image: np.ndarray, box: Box, frame_size: tuple[int, int]) -> np.ndarray:
    """Cut a frame_size (height, width) face crop, brows to chin, from a Haar box."""
    height, width = frame_size
    x, y, w, h = box
    # Haar boxes include the forehead and end near the mouth: shift down, trim the sides.
    centre_x, centre_y = x + w / 2, y + 0.55 * h
    zoom = width / (0.85 * w)
    to_crop = np.float32([[zoom, 0, width / 2 - centre_x * zoom], [0, zoom, height / 2 - centre_y * zoom]])
    crop = cv2.warpAffine(image.astype(np.float32), to_crop, (width, height),
                          flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    if zoom <= 1:
        return crop
    # Interpolation alone leaves the source pixel grid visible when a 25 px face is enlarged.
    return cv2.GaussianBlur(crop, (0, 0), 0.3 * zoom)


def skin_texture(rng: np.random.Generator, shape: tuple[int, int], grain_px: float, std: float) -> np.ndarray:
    """Random blotches about ``grain_px`` across with standard deviation ``std`` gray levels."""
    blotches = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), grain_px)
    return blotches * (std / blotches.std())


def make_subject(code: str, source: str, crop: np.ndarray, rng: np.random.Generator) -> Subject:
    """Give a face crop its own brightness, contrast, skin tone and fine skin texture."""
    centre = crop[crop.shape[0] // 4: -crop.shape[0] // 4, crop.shape[1] // 4: -crop.shape[1] // 4]
    standard = (crop - centre.mean()) / (centre.std() + 1e-6)
    face = rng.uniform(100, 140) + rng.uniform(25, 38) * standard
    # Upscaled 25 px faces are unnaturally smooth; real skin has pores and mottling that move with it.
    pores = skin_texture(rng, face.shape, grain_px=0.7, std=2.0)
    mottling = skin_texture(rng, face.shape, grain_px=3.0, std=3.0)
    warmth = rng.uniform(0.02, 0.10)
    tint = np.array([1 - 0.6 * warmth, 1 + 0.2 * warmth, 1 + warmth], dtype=np.float32)
    return Subject(code, source, (face + pores + mottling).astype(np.float32), tint,
                   float(rng.uniform(0.8, 1.25)))


def load_subjects(count: int, seed: int, frame_size: tuple[int, int]) -> list[Subject]:
    """``count`` subjects, each a distinct shipped face the cascade finds."""
    subjects: list[Subject] = []
    for source, image in source_images(seed):
        if len(subjects) == count:
            break
        box = detect_face(image)
        if box is not None:
            code = f"{len(subjects) + 1:02d}"
            subjects.append(make_subject(code, source, crop_face(image, box, frame_size),
                                         rng_for(seed, SUBJECT_TRAITS, len(subjects))))
    if len(subjects) < count:
        raise UserError(f"the demo has only {len(subjects)} distinct faces; asked for {count} subjects")
    return subjects

