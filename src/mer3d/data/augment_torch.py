"""The paper's flip and rotations (``mer3d.data.augment``) on a batch of network inputs, in torch.

``augment.on_device`` uses this so a GPU turns the windows itself rather than waiting for the CPU
to turn each frame with cv2. The geometry is ``augment.py``'s: each sample is mirrored left-right
first, then rotated about ((W-1)/2, (H-1)/2), positive = counter-clockwise as displayed, bilinear,
the uncovered corners repeating the nearest edge pixel (``padding_mode='border'`` is cv2's
BORDER_REPLICATE for bilinear sampling). A mirror is exact (``torch.flip``) and a sample with angle 0
is not resampled, as on the CPU. With ``vectors`` channels 0 and 1 are a flow's (u, v) in pixels
(every motion representation puts them there) and are turned like ``rotate_clip(..., vectors=True)``
turns them; the other channels (strain) are scalars and only move.

Against the cv2 path on the same clips (tests/data/test_augment_torch.py), max abs difference over
whole frames, border included, measured: 0.61 gray level for smooth uint8 frames (cv2 rounds a
turned frame to whole gray levels), 4.8 for uint8 white noise (cv2 also rounds the sampling
position to 1/32 px, which shows where neighbours differ by up to 255); 0.018 px for the turned
(u, v) of a smooth flow field of 1-4 px. Unturned samples (angle 0, mirrored or not) are exact.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Representations whose turned windows the device cannot make as the CPU does: ``diff`` (frame
# differences standardised per window) is mostly frame-to-frame noise, which bilinear turning
# smooths; turned after its standardisation, a sample kept 22% less spread than the CPU path's
# (demo data, against 4% for ``gray``), a different experiment rather than a faster one.
NOT_ON_DEVICE = ("diff",)


def augment_batch(x: torch.Tensor, flipped: torch.Tensor, angles: torch.Tensor, vectors: bool = False) -> torch.Tensor:
    """``x`` (B, C, T, H, W) float, each sample i mirrored when ``flipped[i]`` and then rotated by
    ``angles[i]`` degrees (tensors of B bools and B floats; on the CPU, where the plan is, the
    device never waits for them); ``x`` is not modified."""
    turned = torch.nonzero(angles != 0).squeeze(1)
    flipped = flipped.to(x.device, non_blocking=True)
    out = torch.where(flipped.view(-1, 1, 1, 1, 1), x.flip(-1), x)
    if vectors:   # a mirrored field points the other way along x: (u, v) -> (-u, v)
        sign = 1 - 2 * flipped.to(x.dtype)
        out = torch.cat([out[:, :1] * sign.view(-1, 1, 1, 1, 1), out[:, 1:]], dim=1)
    if not len(turned):
        return out
    index = turned.to(x.device, non_blocking=True)
    rotated = rotate_batch(out.index_select(0, index), angles[turned].to(x.device, torch.float32), vectors)
    return out.index_copy(0, index, rotated)


def rotate_batch(x: torch.Tensor, angles: torch.Tensor, vectors: bool = False) -> torch.Tensor:
    """``x`` (B, C, T, H, W) with sample i rotated by ``angles[i]`` degrees, as ``rotate_clip`` rotates."""
    b, c, t, h, w = x.shape
    radians = torch.deg2rad(angles)
    cos, sin = torch.cos(radians), torch.sin(radians)
    # cv2's matrix maps a source pixel p to c + A (p - c), A = [[cos, sin], [-sin, cos]]; grid_sample
    # wants, for each output pixel, where to read: c + A^T (p - c), in coordinates normalised to
    # [-1, 1] over the pixel centres (align_corners=True), which scale x and y by 2/(W-1), 2/(H-1).
    aspect = (h - 1) / (w - 1)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin * aspect, zero], 1),
                         torch.stack([sin / aspect, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), [b, c * t, h, w], align_corners=True)
    out = F.grid_sample(x.reshape(b, c * t, h, w), grid, mode="bilinear", padding_mode="border",
                        align_corners=True).reshape(b, c, t, h, w)
    if not vectors:
        return out
    # A maps a displacement as it maps a position (rotate_clip's ``rotated @ A.T``).
    u, v = out[:, 0], out[:, 1]
    cos, sin = (value.to(x.dtype).view(-1, 1, 1, 1) for value in (cos, sin))
    return torch.cat([torch.stack([cos * u + sin * v, cos * v - sin * u], 1), out[:, 2:]], dim=1)

