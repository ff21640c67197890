"""LBP-TOP: local binary patterns on three orthogonal planes (Zhao & Pietikainen, "Dynamic texture
recognition using local binary patterns with an application to facial expressions", TPAMI 2007).

Every voxel of a clip (T, H, W) gets three LBP codes: one from its neighbours in its frame (the XY
plane), one from its row across time (XT) and one from its column across time (YT). XY describes
appearance; XT and YT describe how that appearance moves, which is where a micro-expression lives.
Codes are mapped to the 59 "u2" bins (P = 8) and histogrammed per block of a spatial grid, the
whole clip being one block in time.

Neighbours sit on a circle (an ellipse when the radii differ) of P points, each rounded to the
nearest voxel, as in the non-interpolating mode of the authors' reference code: for radius 1 this
is exactly the axis-aligned 8-neighbourhood. Rounding keeps every neighbour an exact voxel, so a
whole plane's codes come from P shifted views of the clip without interpolation.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

PLANES = ("xy", "xt", "yt")
GRID = (5, 5)
RADIUS = (1, 1, 1)   # (Rx, Ry, Rt)
POINTS = 8
MAX_POINTS = 16      # the u2 table has 2**P entries; codes are stored as uint16


@lru_cache(maxsize=None)
def uniform_mapping(points: int = POINTS) -> np.ndarray:
    """The "u2" lookup table, code -> bin, read-only, of length 2**points.

    Uniform codes (at most two 0/1 transitions around the circle; P(P-1)+2 of them, 58 for P = 8)
    get bins 0, 1, ... in increasing code order, as Ojala's getmapping(P, 'u2') numbers them;
    every other code shares the last bin, so there are P(P-1)+3 bins (59 for P = 8).
    """
    if not 1 <= points <= MAX_POINTS:
        raise ValueError(f"points must be in 1..{MAX_POINTS}, not {points}")
    codes = np.arange(2**points)
    rotated = ((codes << 1) | (codes >> (points - 1))) & (2**points - 1)
    transitions = sum(((codes ^ rotated) >> bit) & 1 for bit in range(points))
    uniform = transitions <= 2
    table = np.full(codes.size, np.count_nonzero(uniform), dtype=np.uint16)
    table[uniform] = np.arange(np.count_nonzero(uniform))
    table.flags.writeable = False
    return table


def bin_count(points: int = POINTS) -> int:
    """Number of u2 bins: P(P-1)+2 uniform patterns plus one for all the others."""
    return points * (points - 1) + 3


def neighbour_offsets(plane: str, radius: tuple[int, int, int], points: int) -> list[tuple[int, int, int]]:
    """(dt, dy, dx) of the ``points`` neighbours on ``plane``, starting at angle 0 and turning
    counter-clockwise, each rounded to the nearest voxel as floor(v + 0.5) like the reference code."""
    rx, ry, rt = radius
    angles = 2 * np.pi * np.arange(points) / points
    cos, sin, zero = np.cos(angles), np.sin(angles), np.zeros(points)
    dt, dy, dx = {"xy": (zero, -ry * sin, rx * cos),
                  "xt": (rt * sin, zero, rx * cos),
                  "yt": (rt * cos, -ry * sin, zero)}[plane]
    rounded = np.floor(np.stack([dt, dy, dx], axis=1) + 0.5).astype(int)
    return [tuple(int(v) for v in offset) for offset in rounded]


def _shifted(volume: np.ndarray, margin: tuple[int, ...], offset: tuple[int, ...]) -> np.ndarray:
    """A view whose element i is the neighbour at ``offset`` of the i-th voxel of the interior
    (``volume`` without ``margin`` voxels on either side of each axis)."""
    return volume[tuple(slice(m + d, n - m + d) for m, d, n in zip(margin, offset, volume.shape))]


def uniform_lbp_codes(volume: np.ndarray, offsets: list[tuple[int, ...]], margin: tuple[int, ...]) -> np.ndarray:
    """u2 bin of every interior voxel of ``volume`` (any number of axes), from its neighbours at
    ``offsets`` (bit p set when neighbour p >= centre); the interior drops ``margin`` voxels on
    either side of each axis, which must be at least the largest offset along it."""
    centre = _shifted(volume, margin, (0,) * volume.ndim)
    code = np.zeros(centre.shape, dtype=np.uint16)
    is_brighter = np.empty(centre.shape, dtype=bool)   # reused: one buffer instead of P temporaries
    for bit, offset in enumerate(offsets):
        np.greater_equal(_shifted(volume, margin, offset), centre, out=is_brighter)
        code += is_brighter.astype(np.uint16) << np.uint16(bit)
    return uniform_mapping(len(offsets))[code]


def block_ids(size: int, blocks: int) -> np.ndarray:
    """Block of each position along an axis of ``size`` cut into ``blocks`` near-equal parts."""
    return np.arange(size) * blocks // size


def block_histograms(bins: np.ndarray, grid: tuple[int, int], bin_total: int) -> np.ndarray:
    """Histograms (grid_h * grid_w, bin_total) of the u2 ``bins`` (T, H, W) in each spatial block,
    each normalised to sum 1."""
    grid_h, grid_w = grid
    _, height, width = bins.shape
    block = block_ids(height, grid_h)[:, None] * grid_w + block_ids(width, grid_w)[None, :]
    # One bincount for all blocks: each block's bins get their own range of the index.
    index = block * bin_total + bins
    counts = np.bincount(index.ravel(), minlength=grid_h * grid_w * bin_total).reshape(grid_h * grid_w, bin_total)
    return counts / counts.sum(axis=1, keepdims=True)


def _check_fits(shape: tuple[int, ...], margin: tuple[int, int, int], grid: tuple[int, int]) -> None:
    t, h, w = (n - 2 * m for n, m in zip(shape, margin))
    if t < 1 or h < grid[0] or w < grid[1]:
        raise ValueError(f"a clip of shape {shape} is too small for radius margin {margin} and grid {grid}")


def lbp_top(clip: np.ndarray, grid: tuple[int, int] = GRID, radius: tuple[int, int, int] = RADIUS,
            points: int = POINTS) -> np.ndarray:
    """The LBP-TOP descriptor of a gray clip (T, H, W), uint8 or float.

    ``radius`` is (Rx, Ry, Rt) in voxels. Codes are computed on the voxels at least the radius
    away from every border (the same voxels for all three planes), then histogrammed per block of
    a ``grid`` (rows, columns) of that interior. Returns float64 of length
    grid_h * grid_w * 3 * bin_count(points), ordered block (row-major), plane (XY, XT, YT), bin;
    each block-plane histogram sums to 1.
    """
    clip = np.asarray(clip)
    if clip.ndim != 3:
        raise ValueError(f"expected a gray clip (T, H, W), got shape {clip.shape}")
    rx, ry, rt = radius
    margin = (rt, ry, rx)
    _check_fits(clip.shape, margin, grid)
    histograms = [block_histograms(uniform_lbp_codes(clip, neighbour_offsets(plane, radius, points), margin),
                                   grid, bin_count(points))
                  for plane in PLANES]
    return np.stack(histograms, axis=1).ravel()
