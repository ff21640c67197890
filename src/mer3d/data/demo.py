"""A small synthetic micro-expression dataset in the CASME II on-disk layout.

The real datasets are licensed and never shipped, so ``mer3d demo`` trains on this one. It goes
through the same loader, cache and training code as real CASME II data: cropped faces in
``Cropped/subNN/<Filename>/reg_img<N>.jpg`` and a coding sheet with the real column names.

Faces are real photographs that ship inside installed packages (Labeled Faces in the Wild
subset and the astronaut from scikit-image, Grace Hopper from matplotlib), cropped with
OpenCV's Haar cascade. Each clip animates one face with a class-specific, localized, subtle
(1.5-4 px at 170x140) FACS-like displacement field that rises from onset to apex and decays to
offset, plus the nuisance a real recording has: head drift, blinks, sensor noise, illumination
flicker and JPEG compression.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from mer3d.data.casme2 import write_casme2_sheet
from mer3d.errors import UserError
from mer3d.inference.faces import load_cascade

# Bump when the generator's output changes, so an existing demo set is regenerated.
DEMO_VERSION = 1
FPS = 200
SHEET_NAME = "CASME2-coding-demo.xlsx"
JPEG_QUALITY = 95
CLIP_FRAMES = (30, 60)          # inclusive range of onset..offset lengths
APEX_POSITION = (0.3, 0.7)      # apex as a fraction of the clip
PEAK_PX = (1.5, 4.0)            # apex displacement at the reference width
REFERENCE_WIDTH = 140           # pixel amounts above are for a face this wide
MIN_CLASSES_PER_SUBJECT = 3
DETECTION_SIZE = 100            # px the face is enlarged to before Haar detection
BLINK_PROBABILITY = 0.3

# Roughly CASME II's 5-class shares (others 99, disgust 63, happiness 32, repression 27, surprise 25).
EMOTION_SHARES = {
    "others": 0.35,
    "disgust": 0.25,
    "happiness": 0.15,
    "surprise": 0.13,
    "repression": 0.12,
}

# Where facial parts sit in a Haar-aligned crop, as (x, y) fractions of width and height.
# "_l"/"_r" are image left/right. Checked by overlaying them on crops of the shipped faces.
LANDMARKS = {
    "brow_inner_l": (0.40, 0.30), "brow_inner_r": (0.60, 0.30),
    "brow_outer_l": (0.24, 0.29), "brow_outer_r": (0.76, 0.29),
    "eye_l": (0.32, 0.37), "eye_r": (0.68, 0.37),
    "upper_lid_l": (0.32, 0.34), "upper_lid_r": (0.68, 0.34),
    "lower_lid_l": (0.32, 0.40), "lower_lid_r": (0.68, 0.40),
    "nose_root": (0.50, 0.42),
    "nose_wing_l": (0.42, 0.60), "nose_wing_r": (0.58, 0.60),
    "cheek_l": (0.28, 0.57), "cheek_r": (0.72, 0.57),
    "upper_lip": (0.50, 0.70),
    "mouth_corner_l": (0.37, 0.75), "mouth_corner_r": (0.63, 0.75),
    "lower_lip": (0.50, 0.80),
    "chin": (0.50, 0.90),
}

Box = tuple[float, float, float, float]   # x, y, width, height


@dataclass(frozen=True)
class Bump:
    """A Gaussian patch of skin around a landmark moving along (dx, dy) (image y points down)."""

    landmark: str
    dx: float
    dy: float
    sigma: float  # fraction of the face width


# FACS action units as displacement bumps; "L14"/"R14" are one-sided like CASME II codes them.
ACTION_UNITS = {
    "1": (Bump("brow_inner_l", 0, -1, 0.07), Bump("brow_inner_r", 0, -1, 0.07)),
    "2": (Bump("brow_outer_l", 0, -1, 0.07), Bump("brow_outer_r", 0, -1, 0.07)),
    "4": (Bump("brow_inner_l", 0.5, 0.8, 0.07), Bump("brow_inner_r", -0.5, 0.8, 0.07)),
    "5": (Bump("upper_lid_l", 0, -0.6, 0.035), Bump("upper_lid_r", 0, -0.6, 0.035)),
    "6": (Bump("cheek_l", 0, -0.7, 0.09), Bump("cheek_r", 0, -0.7, 0.09),
          Bump("lower_lid_l", 0, -0.4, 0.04), Bump("lower_lid_r", 0, -0.4, 0.04)),
    "7": (Bump("lower_lid_l", 0, -1, 0.035), Bump("lower_lid_r", 0, -1, 0.035),
          Bump("upper_lid_l", 0, 0.4, 0.035), Bump("upper_lid_r", 0, 0.4, 0.035)),
    "9": (Bump("nose_wing_l", 0, -0.8, 0.05), Bump("nose_wing_r", 0, -0.8, 0.05),
          Bump("nose_root", 0, 0.4, 0.05), Bump("upper_lip", 0, -0.4, 0.06)),
    "10": (Bump("upper_lip", 0, -1, 0.07),),
    "12": (Bump("mouth_corner_l", -0.6, -0.8, 0.06), Bump("mouth_corner_r", 0.6, -0.8, 0.06)),
    "L14": (Bump("mouth_corner_l", 0.6, -0.2, 0.05),),
    "R14": (Bump("mouth_corner_r", -0.6, -0.2, 0.05),),
    "14": (Bump("mouth_corner_l", 0.6, -0.2, 0.05), Bump("mouth_corner_r", -0.6, -0.2, 0.05)),
    "17": (Bump("chin", 0, -1, 0.08), Bump("lower_lip", 0, -0.6, 0.06)),
    "24": (Bump("upper_lip", 0, 0.5, 0.05), Bump("lower_lip", 0, -0.5, 0.05)),
}

# Per emotion: the action units always present, then alternatives of which one is drawn.
EMOTION_ACTIONS = {
    "happiness": (("12",), ((), ("6",))),
    "surprise": (("1", "2"), ((), ("5",))),
    "disgust": ((), (("9",), ("10",), ("4", "9"), ("4", "10"))),
    "repression": (("17",), ((), ("24",), ("14",))),
    "others": ((), (("4",), ("L14",), ("R14",), ("7",))),
}


@dataclass(frozen=True)
class Subject:
    """One synthetic person: a gray face crop plus the traits that make recordings differ."""

    code: str               # '01'
    source: str             # which shipped photograph the face comes from
    face: np.ndarray        # float32 gray, frame_size
    tint: np.ndarray        # BGR gains giving a faint skin tone
    motion_scale: float     # how expressive this person is


@dataclass(frozen=True)
class ClipPlan:
    """Everything random about one clip, drawn before any pixel is rendered."""

    emotion: str
    action_units: tuple[str, ...]
    n_frames: int
    apex_index: int
    peak_px: float
    residual: float          # expression left at the offset frame, as a fraction of the apex
    drift: np.ndarray        # (n_frames, 3): x, y shift in px and rotation in degrees
    blink: np.ndarray        # (n_frames,) eyelid closure 0..1
    flicker: np.ndarray      # (n_frames,) global illumination gain
    noise_sigma: float       # sensor noise, gray levels
    noise_seed: int

    @property
    def action_unit_text(self) -> str:
        """CASME II style, e.g. '1+2' or 'L14', ordered by action unit number."""
        return "+".join(sorted(self.action_units, key=lambda au: int(au.lstrip("LR"))))


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """An independent stream per (seed, purpose, subject, clip), so order of work never matters."""
    return np.random.default_rng([seed, *key])


# ---------------------------------------------------------------- class assignment

def class_counts(total: int) -> dict[str, int]:
    """Clips per emotion for ``total`` clips, following EMOTION_SHARES (largest remainder)."""
    exact = {e: share * total for e, share in EMOTION_SHARES.items()}
    counts = {e: int(x) for e, x in exact.items()}
    by_remainder = sorted(exact, key=lambda e: exact[e] - counts[e], reverse=True)
    for emotion in by_remainder[: total - sum(counts.values())]:
        counts[emotion] += 1
    return counts


def assign_emotions(subjects: int, clips_per_subject: int, rng: np.random.Generator) -> list[list[str]]:
    """The emotion of every clip of every subject.

    Overall counts follow EMOTION_SHARES; every subject first receives distinct classes (three,
    when it has that many clips) so that each leave-one-subject-out fold tests several classes.
    """
    remaining = Counter(class_counts(subjects * clips_per_subject))
    wanted = min(MIN_CLASSES_PER_SUBJECT, clips_per_subject)
    assigned = []
    for _ in range(subjects):
        distinct = most_plentiful(remaining, wanted, rng)
        remaining.subtract(distinct)
        assigned.append(distinct)
    rest = list(remaining.elements())
    rng.shuffle(rest)
    for emotions in assigned:
        emotions += [rest.pop() for _ in range(clips_per_subject - len(emotions))]
        rng.shuffle(emotions)
    return assigned


def most_plentiful(remaining: Counter, wanted: int, rng: np.random.Generator) -> list[str]:
    """The ``wanted`` classes with most clips left (ties broken at random).

    Taking from the largest piles first keeps enough distinct classes for the subjects to come.
    """
    tie_breaks = {emotion: rng.random() for emotion in sorted(remaining)}
    available = [emotion for emotion in remaining if remaining[emotion] > 0]
    return sorted(available, key=lambda e: (-remaining[e], tie_breaks[e]))[:wanted]


# ---------------------------------------------------------------- faces

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
    for index in rng_for(seed, 0).permutation(len(lfw)):
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
                                         rng_for(seed, 1, len(subjects))))
    if len(subjects) < count:
        raise UserError(f"the demo has only {len(subjects)} distinct faces; asked for {count} subjects")
    return subjects


# ---------------------------------------------------------------- motion

def choose_action_units(emotion: str, rng: np.random.Generator) -> tuple[str, ...]:
    """The action units of one clip of ``emotion``."""
    always, alternatives = EMOTION_ACTIONS[emotion]
    return always + alternatives[rng.integers(len(alternatives))]


def expression_profile(n_frames: int, apex_index: int, residual: float) -> np.ndarray:
    """Expression strength per frame: 0 at onset, smooth rise to 1 at apex, decay to ``residual``."""
    frames = np.arange(n_frames)
    rise = np.sin(0.5 * np.pi * frames / apex_index) ** 2
    fall_phase = (frames - apex_index) / max(n_frames - 1 - apex_index, 1)
    fall = residual + (1 - residual) * np.cos(0.5 * np.pi * fall_phase) ** 2
    return np.where(frames <= apex_index, rise, fall)


def head_drift(rng: np.random.Generator, n_frames: int, px_scale: float) -> np.ndarray:
    """A smooth random head path: (x, y) shift up to ~1.5 px and rotation up to ~0.5 degrees."""
    # Integrating a random acceleration twice gives a path without frame-to-frame jitter.
    path = np.cumsum(np.cumsum(rng.standard_normal((n_frames, 3)), axis=0), axis=0)
    path -= path[0]
    shift_extent = np.hypot(path[:, 0], path[:, 1]).max() + 1e-9
    path[:, :2] *= rng.uniform(0.2, 1.5) * px_scale / shift_extent
    path[:, 2] *= rng.uniform(0.1, 0.5) / (np.abs(path[:, 2]).max() + 1e-9)
    return path


def blink_profile(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """Eyelid closure per frame: closes over 3-6 frames, stays shut briefly, reopens slower."""
    closing = int(rng.integers(3, 7))
    shape = np.concatenate([np.sin(0.5 * np.pi * np.arange(1, closing + 1) / closing) ** 2,
                            np.ones(int(rng.integers(1, 3))),
                            np.cos(0.5 * np.pi * np.arange(1, 2 * closing + 1) / (2 * closing)) ** 2])
    closure = np.zeros(n_frames + len(shape))
    start = int(rng.integers(0, n_frames - 2))
    closure[start: start + len(shape)] = rng.uniform(0.6, 1.0) * shape
    return closure[:n_frames]


def plan_clip(rng: np.random.Generator, emotion: str, subject: Subject,
              frame_size: tuple[int, int], nuisance: bool = True) -> ClipPlan:
    """Draw one clip's timing, motion strength and (unless ``nuisance`` is off) recording noise."""
    n_frames = int(rng.integers(CLIP_FRAMES[0], CLIP_FRAMES[1] + 1))
    apex_index = int(round(rng.uniform(*APEX_POSITION) * (n_frames - 1)))
    px_scale = frame_size[1] / REFERENCE_WIDTH
    peak = float(np.clip(rng.uniform(1.5, 3.2) * subject.motion_scale, *PEAK_PX)) * px_scale
    action_units = choose_action_units(emotion, rng)
    residual = float(rng.uniform(0.0, 0.25))
    if not nuisance:
        return ClipPlan(emotion, action_units, n_frames, apex_index, peak, residual,
                        drift=np.zeros((n_frames, 3)), blink=np.zeros(n_frames),
                        flicker=np.ones(n_frames), noise_sigma=0.0, noise_seed=0)
    blinks = rng.random() < BLINK_PROBABILITY
    return ClipPlan(
        emotion, action_units, n_frames, apex_index, peak, residual,
        drift=head_drift(rng, n_frames, px_scale),
        blink=blink_profile(rng, n_frames) if blinks else np.zeros(n_frames),
        flicker=1 + rng.normal(0, rng.uniform(0.002, 0.006), n_frames),
        noise_sigma=float(rng.uniform(2.0, 3.0)),
        noise_seed=int(rng.integers(2**32)),
    )


def pixel_grid(frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """x and y coordinate of every pixel, float32."""
    ys, xs = np.mgrid[0: frame_size[0], 0: frame_size[1]].astype(np.float32)
    return xs, ys


def gaussian_at(landmark: str, sigma: float, frame_size: tuple[int, int]) -> np.ndarray:
    """A unit-height Gaussian around a landmark; ``sigma`` is a fraction of the face width."""
    xs, ys = pixel_grid(frame_size)
    height, width = frame_size
    fx, fy = LANDMARKS[landmark]
    sigma_px = sigma * width
    return np.exp(-((xs - fx * width) ** 2 + (ys - fy * height) ** 2) / (2 * sigma_px ** 2))


def action_unit_field(action_units: tuple[str, ...], frame_size: tuple[int, int]) -> np.ndarray:
    """(2, h, w) displacement of the skin at the apex, scaled so its largest movement is 1 px."""
    field = np.zeros((2, *frame_size), dtype=np.float32)
    for au in action_units:
        for bump in ACTION_UNITS[au]:
            patch = gaussian_at(bump.landmark, bump.sigma, frame_size)
            field[0] += bump.dx * patch
            field[1] += bump.dy * patch
    return field / np.hypot(field[0], field[1]).max()


def blink_field(frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For fully closed eyes: (2, h, w) displacement squashing each eye, and how much lid covers it."""
    _, ys = pixel_grid(frame_size)
    field = np.zeros((2, *frame_size), dtype=np.float32)
    cover = np.zeros(frame_size, dtype=np.float32)
    for eye in ("eye_l", "eye_r"):
        patch = gaussian_at(eye, 0.06, frame_size)
        # Skin moves towards the eye's midline: the lids meet.
        field[1] += 0.8 * (LANDMARKS[eye][1] * frame_size[0] - ys) * patch
        cover += 0.9 * gaussian_at(eye, 0.05, frame_size)
    return field, cover


def eyelid_skin(face: np.ndarray) -> np.ndarray:
    """What a closed lid looks like at this resolution: the surrounding skin, smooth and shadowed."""
    return 0.9 * cv2.GaussianBlur(face, (0, 0), 0.05 * face.shape[1])


def render_clip(subject: Subject, plan: ClipPlan) -> np.ndarray:
    """The clip's frames as (n, h, w, 3) uint8 BGR, before JPEG compression."""
    frame_size = subject.face.shape
    xs, ys = pixel_grid(frame_size)
    centre_x, centre_y = frame_size[1] / 2, frame_size[0] / 2
    expression = plan.peak_px * action_unit_field(plan.action_units, frame_size)
    squash, cover = blink_field(frame_size)
    lid = eyelid_skin(subject.face)
    strength = expression_profile(plan.n_frames, plan.apex_index, plan.residual)
    noise_rng = np.random.default_rng(plan.noise_seed)
    frames = np.empty((plan.n_frames, *frame_size, 3), dtype=np.uint8)
    for i in range(plan.n_frames):
        shift_x, shift_y, degrees = plan.drift[i]
        cos, sin = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
        # Backward map: each output pixel samples the face where the skin came from.
        u, v = xs - centre_x - shift_x, ys - centre_y - shift_y
        motion = strength[i] * expression + plan.blink[i] * squash
        map_x = centre_x + cos * u + sin * v - motion[0]
        map_y = centre_y - sin * u + cos * v - motion[1]
        gray = cv2.remap(subject.face, map_x.astype(np.float32), map_y.astype(np.float32),
                         cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        closed = plan.blink[i] * cover
        gray = plan.flicker[i] * ((1 - closed) * gray + closed * lid)
        # Luminance noise, the same in all channels: the pipeline reads frames as gray anyway.
        noise = noise_rng.normal(0, plan.noise_sigma, gray.shape)
        noisy = gray[..., None] * subject.tint + noise[..., None]
        frames[i] = np.clip(np.round(noisy), 0, 255)
    return frames


# ---------------------------------------------------------------- writing the dataset

README = """\
mer3d demo dataset: SYNTHETIC micro-expressions in the CASME II on-disk layout
==============================================================================

Nothing here was recorded. Each subject is one real photograph that ships inside an installed
Python package, face-cropped with OpenCV's Haar cascade and given its own brightness, contrast,
faint skin tone and fine skin texture:

{faces}

(Grace Hopper and the astronaut, a NASA portrait, are public domain; the small faces come from
the Labeled Faces in the Wild research database as scikit-image ships it.)

Every clip animates that still face at {fps} fps with a smooth, localized displacement field
(Gaussian patches of skin moving around facial landmarks) that rises from OnsetFrame to
ApexFrame and decays towards OffsetFrame. Peak movement at the apex is {peak_low}-{peak_high} px
at a {reference}-px-wide face. Motions per class (FACS action units):

  happiness   lip corners pulled up and out (AU12), sometimes with a cheek raise (AU6)
  surprise    inner and outer brows raised (AU1+2), sometimes upper lids raised (AU5)
  disgust     nose wrinkle (AU9) or upper lip raise (AU10), sometimes brows lowered (AU4)
  repression  chin raised and lower lip pushed up (AU17), sometimes lips pressed (AU24) or
              lip corners tightened (AU14)
  others      one of: brow lowerer (AU4), one-sided lip corner tightener (L14/R14),
              lid tightener (AU7)

Recording nuisance on top: slow head drift (up to ~1.5 px and 0.5 degrees), a blink in about
{blink_percent}% of clips regardless of class, Gaussian sensor noise (sigma 2-3 gray levels),
illumination flicker, and JPEG compression (quality {quality}).

Layout: Cropped/subNN/<Filename>/reg_img<N>.jpg, annotations in {sheet}
(columns as in CASME2-coding-20140508.xlsx). Generation parameters: demo.json.
Generated by mer3d.data.demo.generate_demo; the same parameters give the same files.
"""


def clip_name(episode: int, seen: dict[int, int]) -> str:
    """A CASME II style clip name, EP<episode>_<n-th clip of that episode>."""
    seen[episode] = seen.get(episode, 0) + 1
    return f"EP{episode:02d}_{seen[episode]:02d}"


def write_frames(clip_dir: Path, frames: np.ndarray, first_number: int) -> None:
    """Save frames as reg_img<N>.jpg, numbered from ``first_number`` like the real Cropped folder."""
    clip_dir.mkdir(parents=True)
    for number, frame in enumerate(frames, start=first_number):
        path = clip_dir / f"reg_img{number}.jpg"
        # cv2 reports a failed write (disk full, say) only through its return value.
        if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f"could not write {path}")


def write_subject_clips(root: Path, subject: Subject, emotions: list[str], seed: int,
                        subject_index: int, bar: tqdm) -> list[dict]:
    """Render and save all clips of one subject; return their coding-sheet rows."""
    rows, seen = [], {}
    frame_size = subject.face.shape
    for clip_index, emotion in enumerate(emotions):
        rng = rng_for(seed, 2, subject_index, clip_index)
        plan = plan_clip(rng, emotion, subject, frame_size)
        name = clip_name(int(rng.integers(1, 20)), seen)
        onset = int(rng.integers(1, 300))  # real frame numbers start wherever the clip was cut
        write_frames(root / "Cropped" / f"sub{subject.code}" / name, render_clip(subject, plan), onset)
        rows.append({"subject": subject.code, "filename": name, "onset": onset,
                     "apex": onset + plan.apex_index, "offset": onset + plan.n_frames - 1,
                     "action_units": plan.action_unit_text, "emotion": emotion})
        bar.update()
    return rows


def write_dataset(root: Path, parameters: dict, progress: bool) -> None:
    """Write the whole demo dataset under ``root``; demo.json goes last."""
    seed, count, per_subject = parameters["seed"], parameters["subjects"], parameters["clips_per_subject"]
    subjects = load_subjects(count, seed, tuple(parameters["frame_size"]))
    assignment = assign_emotions(count, per_subject, rng_for(seed, 3))
    rows = []
    with tqdm(total=count * per_subject, desc="demo clips", unit="clip", disable=not progress) as bar:
        for index, (subject, emotions) in enumerate(zip(subjects, assignment)):
            rows += write_subject_clips(root, subject, emotions, seed, index, bar)
    write_casme2_sheet(root / SHEET_NAME, sorted(rows, key=lambda r: (r["subject"], r["filename"])))
    faces = {s.code: s.source for s in subjects}
    (root / "README.txt").write_text(README.format(
        faces="\n".join(f"  sub{code}: {source}" for code, source in faces.items()),
        fps=FPS, peak_low=PEAK_PX[0], peak_high=PEAK_PX[1], reference=REFERENCE_WIDTH,
        blink_percent=round(100 * BLINK_PROBABILITY), quality=JPEG_QUALITY, sheet=SHEET_NAME))
    emotions = [r["emotion"] for r in rows]
    summary = {"parameters": parameters, "faces": faces,
               "clips_per_class": {e: emotions.count(e) for e in EMOTION_SHARES}}
    (root / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")


def is_complete(out_dir: Path, parameters: dict) -> bool:
    """True when ``out_dir`` holds a finished demo set made with ``parameters``."""
    try:
        return json.loads((out_dir / "demo.json").read_text())["parameters"] == parameters
    except (OSError, ValueError, KeyError, TypeError):
        return False


def remove_stale_temporaries(out_dir: Path) -> None:
    """Delete what killed generations left behind (temporary folders of processes now gone)."""
    for leftover in out_dir.parent.glob(f"{out_dir.name}.tmp-*"):
        pid = leftover.name.rsplit(".tmp-", 1)[1].split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(tmp: Path, out_dir: Path) -> None:
    """Move the finished ``tmp`` onto ``out_dir``, replacing an outdated demo set or empty folder."""
    if out_dir.exists():
        outdated = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}-old-{secrets.token_hex(3)}")
        out_dir.rename(outdated)
        tmp.rename(out_dir)
        shutil.rmtree(outdated, ignore_errors=True)
    else:
        tmp.rename(out_dir)


def generate_demo(out_dir: str | Path, subjects: int = 10, clips_per_subject: int = 12, seed: int = 0,
                  frame_size: tuple[int, int] = (170, 140), progress: bool = True) -> Path:
    """Write the synthetic demo dataset to ``out_dir`` (CASME II layout) and return ``out_dir``.

    ``frame_size`` is (height, width) of the cropped faces. The same arguments always give the
    same files. A complete set made with the same arguments is returned as it is; an outdated
    demo set is replaced; any other non-empty folder is refused. The set is built in a temporary
    sibling folder and renamed into place, so a killed run never leaves a half dataset behind.
    """
    out_dir = Path(out_dir)
    parameters = {"generator": "mer3d.data.demo", "version": DEMO_VERSION, "seed": seed,
                  "subjects": subjects, "clips_per_subject": clips_per_subject,
                  "frame_size": list(frame_size), "fps": FPS}
    if is_complete(out_dir, parameters):
        return out_dir
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "demo.json").exists():
        raise UserError(f"{out_dir} exists and is not a mer3d demo dataset; choose another folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}-{secrets.token_hex(3)}")
    try:
        write_dataset(tmp, parameters, progress)
        # Another process may have finished the same set meanwhile; keep theirs.
        if not is_complete(out_dir, parameters):
            publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
