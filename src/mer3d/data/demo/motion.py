"""Animating a subject's face: one clip's plan (timing, motion strength, recording nuisance) and
its frames.

A clip moves the face with its action units' displacement field, rising smoothly from onset to
apex and decaying towards offset, plus the nuisance a real recording has: head drift, blinks,
sensor noise and illumination flicker. Amounts are for a 140 px wide face and scale with the width.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mer3d.data.demo.actions import ACTION_UNITS, LANDMARKS, choose_action_units
from mer3d.data.demo.faces import Subject

RENDER_FPS = 200                # CASME II's and SAMM's rate; frame counts and timings below are at it
CLIP_FRAMES = (30, 60)          # inclusive range of onset..offset lengths
APEX_POSITION = (0.3, 0.7)      # apex as a fraction of the clip
PEAK_PX = (1.5, 4.0)            # apex displacement at the reference width
REFERENCE_WIDTH = 140           # pixel amounts above are for a face this wide
BLINK_PROBABILITY = 0.3


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

