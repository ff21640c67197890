"""What the network sees: named ways of turning a window of frames into a float tensor.

``gray`` is the paper's input, the intensities themselves. ``diff`` is each frame minus the clip's
onset frame: identity and lighting cancel and only what moved remains, which a network trained
from scratch on a few hundred clips can pick up where it cannot from raw intensities.
Both are standardised per clip, so every input has mean 0 and standard deviation 1.
"""
from __future__ import annotations

import numpy as np
import torch

from mer3d.errors import UserError

# Floor on the standard deviation, in intensity units of [0, 1] (one gray level): a still clip
# must neither divide by zero nor have its sensor noise blown up to unit variance.
MIN_STD = 1 / 255


def intensities(window: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The frames scaled to [0, 1], float32 (T, H, W, C); ``reference`` is not used."""
    return window.astype(np.float32) / 255


def differences(window: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each frame minus ``reference`` (H, W, C), scaled to [-1, 1], float32 (T, H, W, C)."""
    return (window.astype(np.float32) - reference.astype(np.float32)) / 255


def standardise(values: np.ndarray) -> np.ndarray:
    """Subtract the mean of all values and divide by their standard deviation (floored at MIN_STD)."""
    return (values - values.mean()) / max(float(values.std()), MIN_STD)


_COMPUTE = {"gray": intensities, "diff": differences}
REPRESENTATIONS = tuple(_COMPUTE)


def check_representation(name: str) -> None:
    """Raise UserError unless ``name`` is one of REPRESENTATIONS."""
    if name not in _COMPUTE:
        raise UserError(f"data.representation must be one of {', '.join(REPRESENTATIONS)}, not {name!r}")


def to_network_input(window: np.ndarray, reference: np.ndarray, representation: str) -> torch.Tensor:
    """uint8 window (T, H, W, C) and onset frame (H, W, C) -> standardised float32 (C, T, H, W)."""
    check_representation(representation)
    if reference.shape != window.shape[1:]:
        raise ValueError(f"reference frame {reference.shape} does not match window frames {window.shape[1:]}")
    values = standardise(_COMPUTE[representation](window, reference))
    return torch.from_numpy(np.ascontiguousarray(values.transpose(3, 0, 1, 2), dtype=np.float32))
