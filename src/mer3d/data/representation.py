"""What the network sees: named ways of turning a window of a clip into a float tensor.

A representation is one registered function from a window (and the clip's onset frame) to float32
values (T, H, W, C), plus what it is computed from (``stored``: what the cache holds per clip):

- ``frames`` (uint8 gray or colour frames, ``ClipCache``): ``gray``, the paper's input, the
  intensities themselves; ``diff``, each frame minus the clip's onset frame, so identity and
  lighting cancel and only what moved remains. Both are standardised per clip (mean 0, std 1).
- ``flow`` (float16 u, v of every frame against the onset or the previous frame, ``MotionCache``):
  ``flow`` (u, v) and ``flow+strain`` (u, v, optical strain magnitude).
- ``apex-flow`` (float16 u, v of the onset-to-apex flow, one image per clip): ``apex-flow``
  (u, v, strain), the input of STSTNet and OFF-ApexNet; its window is that one image (T = 1).

A new representation of stored data is one function here with ``@register_representation``; the
cache, augmentation, training and predict pick it up by name.

Motion is not standardised per clip: how far the face moved is part of the signal, and scaling a
still clip's flow noise up to unit variance would invent motion. It is given a fixed scale
instead: u and v in pixels of a ``REFERENCE_SIZE`` (128) px face whatever ``data.size`` is (the
same movement gives the same numbers at 28 or 128 px), and the strain, a unitless ratio of
about 0.01-0.2 for facial movements, times ``STRAIN_SCALE`` so both have the same order (1-4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from mer3d.data.flow import optical_strain
from mer3d.errors import UserError

# Floor on the standard deviation, in intensity units of [0, 1] (one gray level): a still clip
# must neither divide by zero nor have its sensor noise blown up to unit variance.
MIN_STD = 1 / 255
REFERENCE_SIZE = 128
STRAIN_SCALE = 10.0
STORED_KINDS = ("frames", "flow", "apex-flow")


@dataclass(frozen=True)
class Representation:
    name: str
    stored: str                  # one of STORED_KINDS
    channels: int | None         # network input channels; None: those of the frames (data.channels)
    values: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @property
    def motion(self) -> bool:
        """Whether the stored data are flow vectors (augmentation must turn them, not just move them)."""
        return self.stored != "frames"


_REPRESENTATIONS: dict[str, Representation] = {}


def register_representation(name: str, stored: str = "frames", channels: int | None = None):
    """Decorator adding ``values(window, reference) -> float32 (T, H, W, C)`` under ``name``."""
    if stored not in STORED_KINDS:
        raise ValueError(f"stored must be one of {', '.join(STORED_KINDS)}, not {stored!r}")

    def add(values):
        _REPRESENTATIONS[name] = Representation(name, stored, channels, values)
        return values
    return add


def standardise(values: np.ndarray) -> np.ndarray:
    """Subtract the mean of all values and divide by their standard deviation (floored at MIN_STD)."""
    return (values - values.mean()) / max(float(values.std()), MIN_STD)


def intensities(window: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The frames scaled to [0, 1], float32 (T, H, W, C); ``reference`` is not used."""
    return window.astype(np.float32) / 255


def differences(window: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each frame minus ``reference`` (H, W, C), scaled to [-1, 1], float32 (T, H, W, C)."""
    return (window.astype(np.float32) - reference.astype(np.float32)) / 255


@register_representation("gray")
def standardised_intensities(window: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return standardise(intensities(window, reference))


@register_representation("diff")
def standardised_differences(window: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return standardise(differences(window, reference))


def scaled_flow(window: np.ndarray) -> np.ndarray:
    """u, v of a flow window (T, H, W, 2) in pixels of a REFERENCE_SIZE px face."""
    return window.astype(np.float32) * (REFERENCE_SIZE / window.shape[2])


@register_representation("flow", stored="flow", channels=2)
def flow_values(window: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """u, v at the fixed scale (module docstring)."""
    return scaled_flow(window)


@register_representation("flow+strain", stored="flow", channels=3)
def flow_and_strain(window: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """u, v and the optical strain magnitude at the fixed scales (module docstring)."""
    flow = window.astype(np.float32)
    return np.concatenate([scaled_flow(flow), STRAIN_SCALE * optical_strain(flow)[..., None]], axis=-1)


register_representation("apex-flow", stored="apex-flow", channels=3)(flow_and_strain)


def representation(name: str) -> Representation:
    """The registered representation ``name``; a UserError naming the setting otherwise."""
    if name not in _REPRESENTATIONS:
        raise UserError(f"data.representation must be one of {', '.join(_REPRESENTATIONS)}, not {name!r}")
    return _REPRESENTATIONS[name]


def flow_resolution(data: dict) -> int:
    """The size (px) flows are computed at for a config's ``data`` section: ``data.flow_size``, or by
    default the larger of ``data.size`` and REFERENCE_SIZE. Facial micro-movements are 1-4 px on a
    128 px face; on a 32 px one they are a fraction of a pixel, which flow cannot resolve from so few
    pixels, so small inputs get flow computed at 128 px and resized (as STSTNet and OFF-ApexNet
    compute flow on the face crop and resize it to 28 px)."""
    return data.get("flow_size") or max(data["size"], REFERENCE_SIZE)


def input_shape(data: dict) -> tuple[int, int, int, int]:
    """(C, T, H, W) of one network input for a config's ``data`` section."""
    rep = representation(data["representation"])
    frames = 1 if rep.stored == "apex-flow" else data["frames"]
    return rep.channels or data["channels"], frames, data["size"], data["size"]


def to_network_input(window: np.ndarray, reference: np.ndarray, name: str) -> torch.Tensor:
    """A stored window (T, H, W, C) and the clip's onset frame (H, W, C; used by ``diff`` only) ->
    float32 (C, T, H, W)."""
    if reference.shape != window.shape[1:]:
        raise ValueError(f"reference frame {reference.shape} does not match window frames {window.shape[1:]}")
    values = representation(name).values(window, reference)
    return torch.from_numpy(np.ascontiguousarray(values.transpose(3, 0, 1, 2), dtype=np.float32))
