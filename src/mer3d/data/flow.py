"""Dense optical flow, optical strain and apex estimation on gray face clips.

Every function takes gray uint8 frames (T, H, W) or a flow field (..., H, W, 2) holding (u, v): the
displacement in pixels, u to the right and v downwards (image coordinates), of each pixel of the
reference frame to where it is in the frame. Flows are computed at the resolution of the frames
they are given and may be resized afterwards (``resize_flow`` rescales the vectors with the grid,
so they stay in pixels of the new resolution).

Methods (``data.flow``):
- ``tvl1``: TV-L1 (Zach, Pock, Bischof 2007), OpenCV contrib's Dual TV-L1 with its default
  parameters, the flow that STSTNet, OFF-ApexNet and most micro-expression papers use.
- ``dis``: Dense Inverse Search (Kroeger et al. 2016), OpenCV's MEDIUM preset: about 100x faster,
  less accurate on sub-pixel motion.
- ``farneback``: Farneback's polynomial expansion (2003), pyramid 0.5 x 3 levels, window 15.
"""
from __future__ import annotations

import cv2
import numpy as np

FLOW_METHODS = ("tvl1", "dis", "farneback")
FLOW_REFERENCES = ("onset", "previous")


def _tvl1(reference: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return cv2.optflow.DualTVL1OpticalFlow_create().calc(reference, frame, None)


def _dis(reference: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(reference, frame, None)


def _farneback(reference: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(reference, frame, None, pyr_scale=0.5, levels=3, winsize=15,
                                        iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


_METHODS = {"tvl1": _tvl1, "dis": _dis, "farneback": _farneback}


def optical_flow(reference: np.ndarray, frame: np.ndarray, method: str = "tvl1") -> np.ndarray:
    """Flow from ``reference`` to ``frame`` (both gray uint8 (H, W)): float32 (H, W, 2)."""
    if method not in _METHODS:
        raise ValueError(f"flow method must be one of {', '.join(FLOW_METHODS)}, not {method!r}")
    return _METHODS[method](np.ascontiguousarray(reference), np.ascontiguousarray(frame)).astype(np.float32)


def clip_flow(frames: np.ndarray, method: str = "tvl1", reference: str = "onset") -> np.ndarray:
    """Flow of every frame of a gray clip (T, H, W): float32 (T, H, W, 2).

    ``onset``: frame t against frame 0, the clip's onset (frame 0 is then zero flow); ``previous``:
    frame t against frame t - 1 (frame 0 zero as well, so every frame has a flow).
    """
    if reference not in FLOW_REFERENCES:
        raise ValueError(f"flow reference must be one of {', '.join(FLOW_REFERENCES)}, not {reference!r}")
    flows = np.zeros((*frames.shape, 2), np.float32)
    for t in range(1, len(frames)):
        flows[t] = optical_flow(frames[0] if reference == "onset" else frames[t - 1], frames[t], method)
    return flows


def resize_flow(flow: np.ndarray, size: int) -> np.ndarray:
    """A flow field (..., H, W, 2) resampled to (..., size, size, 2), vectors scaled to the new grid."""
    height, width = flow.shape[-3:-1]
    if (height, width) == (size, size):
        return flow
    shrinking = size <= height and size <= width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    scale = np.array([size / width, size / height], np.float32)
    planes = flow.reshape(-1, height, width, 2)
    resized = np.stack([cv2.resize(plane, (size, size), interpolation=interpolation) for plane in planes])
    return (resized * scale).reshape(*flow.shape[:-3], size, size, 2)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Magnitude of the optical strain of a flow field (..., H, W, 2): (..., H, W).

    The infinitesimal strain tensor of the displacement (u, v): e_xx = du/dx, e_yy = dv/dy,
    e_xy = (du/dy + dv/dx) / 2, magnitude sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2) (central differences,
    one-sided at the border). Unlike the flow, it ignores rigid translation of the head.
    """
    u, v = flow[..., 0], flow[..., 1]
    du_dy, du_dx = np.gradient(u, axis=(-2, -1))
    dv_dy, dv_dx = np.gradient(v, axis=(-2, -1))
    shear = (du_dy + dv_dx) / 2
    return np.sqrt(du_dx ** 2 + dv_dy ** 2 + 2 * shear ** 2).astype(np.float32)


def local_motion(flow: np.ndarray) -> np.ndarray:
    """A flow field (H, W, 2) minus its least-squares affine fit (u and v each a + b x + c y): what
    is left once the head's own movement (shift, turn, scale, which move the whole face together)
    is taken out, i.e. the face's local deformation."""
    height, width = flow.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    basis = np.stack([np.ones(height * width, np.float32), x.ravel() / width, y.ravel() / height], axis=1)
    vectors = flow.reshape(-1, 2)
    coefficients, *_ = np.linalg.lstsq(basis, vectors, rcond=None)
    return (vectors - basis @ coefficients).reshape(flow.shape)


def motion_energy(frames: np.ndarray) -> np.ndarray:
    """How far each frame of a gray clip (T, H, W) has moved from its onset: float32 (T,), the mean
    magnitude of the ``local_motion`` of its DIS flow against frame 0 (without removing the head's
    movement, drifting clips would peak at their end)."""
    energy = np.zeros(len(frames), np.float32)
    for t in range(1, len(frames)):
        local = local_motion(optical_flow(frames[0], frames[t], "dis"))
        energy[t] = float(np.linalg.norm(local, axis=-1).mean())
    return energy


def estimate_apex(frames: np.ndarray) -> int:
    """The estimated apex of a gray clip (T, H, W) from onset to offset: the index of the frame that
    moved most from the onset (``motion_energy``; the first of equals). 0 for a single frame."""
    return int(np.argmax(motion_energy(frames))) if len(frames) > 1 else 0
