"""Linear Eulerian video magnification, to make micro-expressions large enough to learn from.

Wu, Rubinstein, Shih, Guttag, Durand, Freeman, "Eulerian Video Magnification for Revealing Subtle
Changes in the World", SIGGRAPH 2012; used before micro-expression recognition by Le Ngo et al.,
"Eulerian emotion magnification for subtle expression recognition", ICASSP 2016.

Each frame is split into a Laplacian pyramid, every pyramid coefficient is band-passed along time,
and the band-passed signal, times alpha, is added back. For a small translation delta(t) of an
image I this turns I(x + delta) into about I(x + (1 + alpha) delta): the motion grows, nothing moves.

The temporal filter is an ideal (FFT) band-pass over the whole clip: clips are short and offline,
so it costs one FFT per coefficient, has a sharp band edge and zero phase shift (a Butterworth
filter passes part of the neighbouring frequencies and, run causally, delays the motion).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import scipy.fft

from mer3d.errors import UserError

# Spatial wavelength (px) from which on a level gets the full alpha (the paper's lambda_c). The
# first-order approximation holds while (1 + alpha) * delta < lambda / 8 (paper, eq. 15); lambda_c
# fixes delta = lambda_c / (8 (1 + alpha)), so shorter wavelengths get a smaller alpha instead of
# the ringing and doubled edges that over-amplifying them produces.
LAMBDA_C = 16.0
MIN_COARSE_PX = 4
FIELDS = ("alpha", "low_hz", "high_hz", "levels")


@dataclass(frozen=True)
class Magnification:
    """Amplify by ``alpha`` the changes between ``low_hz`` and ``high_hz`` (Hz), over ``levels``."""

    alpha: float
    low_hz: float
    high_hz: float
    levels: int = 4

    def __post_init__(self):
        for name in FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UserError(f"data.magnify.{name} must be a finite number, not {value!r}")
            if name != "levels":  # floats, so that alpha 10 and 10.0 give the same cache key
                object.__setattr__(self, name, float(value))
        if self.alpha <= 0:
            raise UserError(f"data.magnify.alpha must be > 0, not {self.alpha}")
        if self.low_hz < 0:
            raise UserError(f"data.magnify.low_hz must be >= 0, not {self.low_hz}")
        if self.high_hz <= self.low_hz:
            raise UserError(f"data.magnify.high_hz ({self.high_hz}) must be above low_hz ({self.low_hz})")
        if not isinstance(self.levels, int) or self.levels < 1:
            raise UserError(f"data.magnify.levels must be a whole number >= 1, not {self.levels!r}")

    @classmethod
    def from_config(cls, value) -> Magnification | None:
        """None (no magnification) or a mapping {alpha, low_hz, high_hz[, levels]}."""
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise UserError(f"data.magnify must be a mapping with alpha, low_hz, high_hz (and levels), not {value!r}")
        unknown = sorted(str(key) for key in value if key not in FIELDS)
        if unknown:
            raise UserError(f"data.magnify: unknown key {unknown[0]!r} (known: {', '.join(FIELDS)})")
        missing = [key for key in FIELDS[:3] if key not in value]
        if missing:
            raise UserError(f"data.magnify: missing key {missing[0]!r}")
        return cls(**value)

    def key(self) -> dict:
        """The fields, for cache keys: a change in any of them changes the frames."""
        return asdict(self)


def _level_alphas(alpha: float, levels: int) -> list[float]:
    """Alpha per Laplacian level, finest first, then the low-pass residual.

    Level l holds wavelengths up to about 2 ** (l + 2) px. As in the paper's code, the finest level
    is not amplified at all: it is mostly noise and JPEG blocking, and its 2-4 px wavelengths
    cannot carry any visible motion within the first-order approximation.
    """
    cutoff = [min(alpha, max(0.0, (1 + alpha) * 2.0 ** (level + 2) / LAMBDA_C - 1)) for level in range(levels)]
    return [0.0 if level == 0 else cutoff[level] for level in range(levels)] + [alpha]


def magnify_clip(clip: np.ndarray, fps: float, magnification: Magnification) -> np.ndarray:
    """uint8 (T, H, W, C) -> uint8 (T, H, W, C), same shape; motion in the pass band amplified.

    The temporal mean (0 Hz) is never amplified, even with low_hz 0, so a static clip comes back
    unchanged: only changes are magnified. A band reaching above the Nyquist frequency fps / 2 is
    cut there; one starting at or above it is a UserError. Fewer than 2 frames: an unchanged copy.
    """
    if not fps > 0:
        raise UserError(f"data.magnify needs a positive frame rate, not {fps}")
    frames, height, width, channels = clip.shape
    if frames < 2:
        return clip.copy()
    nyquist = fps / 2
    if magnification.low_hz >= nyquist:
        raise UserError(f"data.magnify: the pass band starts at {magnification.low_hz} Hz, at or above the "
                        f"Nyquist frequency {nyquist} Hz of a {fps} fps clip")
    levels = min(magnification.levels, max(0, int(math.log2(min(height, width) / MIN_COARSE_PX))))
    alphas = _level_alphas(magnification.alpha, levels)

    original = clip.astype(np.float32)
    pyramid = [[] for _ in range(levels + 1)]  # per level, per frame: (h, w, C)
    for frame in original:
        for level in range(levels):
            smaller = _shaped(cv2.pyrDown(frame), channels)
            pyramid[level].append(frame - _shaped(cv2.pyrUp(smaller, dstsize=frame.shape[1::-1]), channels))
            frame = smaller
        pyramid[levels].append(frame)

    frequencies = np.fft.rfftfreq(frames, d=1 / fps)
    gain = ((frequencies >= magnification.low_hz) & (frequencies <= min(magnification.high_hz, nyquist))
            & (frequencies > 0)).astype(np.float32)
    gain = gain.reshape(-1, 1, 1, 1)
    # The pyramid is linear, so collapsing only the amplified part and adding it to the original
    # frames leaves everything outside the band bit-exact.
    delta = None
    for level in range(levels, -1, -1):
        amplified = np.zeros((frames, *pyramid[level][0].shape), np.float32)
        if alphas[level] > 0:
            spectrum = scipy.fft.rfft(np.stack(pyramid[level]), axis=0) * gain
            amplified += scipy.fft.irfft(spectrum, n=frames, axis=0) * np.float32(alphas[level])
        if delta is not None:  # bring the coarser levels' sum up to this level's size
            size = amplified.shape[2:0:-1]
            amplified += np.stack([_shaped(cv2.pyrUp(frame, dstsize=size), channels) for frame in delta])
        delta = amplified
    return np.clip(np.rint(original + delta), 0, 255).astype(np.uint8)


def _shaped(image: np.ndarray, channels: int) -> np.ndarray:
    """OpenCV drops a single channel axis; put it back so every level is (h, w, C)."""
    return image.reshape(image.shape[0], image.shape[1], channels)
