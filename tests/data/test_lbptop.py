"""LBP-TOP against hand-checked cases and a per-voxel loop written straight from the paper's definition."""
import math

import numpy as np
import pytest

from mer3d.data.lbptop import bin_count, lbp_top, neighbour_offsets, uniform_mapping

BINS = 59
ALL_ONES = 57   # "11111111" is the last of the 58 uniform codes in increasing code order


def per_plane(features, grid):
    """Features -> (blocks, plane, bin) with planes XY, XT, YT."""
    return features.reshape(grid[0] * grid[1], 3, BINS)


def edge_clip(frames=12, size=24, start=8, speed=0):
    """A vertical edge (dark left, bright right) at column start + speed * t in frame t."""
    clip = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):
        clip[t, :, start + speed * t:] = 200
    return clip


def transitions(code):
    bits = [(code >> p) & 1 for p in range(8)]
    return sum(bits[p] != bits[(p + 1) % 8] for p in range(8))


def reference_lbp_top(clip, grid, radius):
    """The paper's definition, one voxel and one neighbour at a time: neighbour p of (t, y, x) at
    angle 2*pi*p/8, rounded as floor(v + 0.5); bins are uniform codes in code order, then the rest."""
    rx, ry, rt = radius
    frames, height, width = clip.shape
    uniform = [code for code in range(256) if transitions(code) <= 2]
    counts = np.zeros((grid[0] * grid[1], 3, BINS))

    def rounded(v):
        return math.floor(v + 0.5)

    for t in range(rt, frames - rt):
        for y in range(ry, height - ry):
            for x in range(rx, width - rx):
                block = (y - ry) * grid[0] // (height - 2 * ry) * grid[1] + (x - rx) * grid[1] // (width - 2 * rx)
                for plane in range(3):
                    code = 0
                    for p in range(8):
                        c, s = math.cos(2 * math.pi * p / 8), math.sin(2 * math.pi * p / 8)
                        neighbour = [(t, y - rounded(ry * s), x + rounded(rx * c)),       # XY
                                     (t + rounded(rt * s), y, x + rounded(rx * c)),       # XT
                                     (t + rounded(rt * c), y - rounded(ry * s), x)][plane]  # YT
                        code |= int(clip[neighbour] >= clip[t, y, x]) << p
                    counts[block, plane, uniform.index(code) if code in uniform else 58] += 1
    return counts / counts.sum(axis=2, keepdims=True)


def test_u2_table_has_58_uniform_codes_and_one_bin_for_the_rest():
    table = uniform_mapping(8)
    assert table.shape == (256,) and bin_count(8) == BINS
    uniform = [code for code in range(256) if table[code] < 58]
    assert len(uniform) == 58 and sorted(table[uniform]) == list(range(58))
    assert all(transitions(code) <= 2 for code in uniform)
    assert table[0] == 0 and table[1] == 1 and table[255] == ALL_ONES
    assert table[0b00000101] == 58 and table[0b01010101] == 58     # 4 and 8 transitions
    assert not table.flags.writeable


def test_radius_one_is_the_axis_aligned_8_neighbourhood():
    xy = neighbour_offsets("xy", (1, 1, 1), 8)
    assert sorted((dy, dx) for _, dy, dx in xy) == sorted(
        (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
    assert all(dt == 0 for dt, _, _ in xy)
    assert all(dy == 0 for _, dy, _ in neighbour_offsets("xt", (1, 1, 1), 8))
    assert all(dx == 0 for _, _, dx in neighbour_offsets("yt", (1, 1, 1), 8))


def test_constant_clip_puts_all_mass_on_the_all_ones_pattern():
    features = per_plane(lbp_top(np.full((6, 20, 20), 90, np.uint8)), (5, 5))
    assert (features[:, :, ALL_ONES] == 1).all()
    assert features.sum() == 5 * 5 * 3


def test_moving_edge_changes_xt_but_not_xy():
    grid = (1, 1)
    static = per_plane(lbp_top(edge_clip(speed=0), grid), grid)
    moving = per_plane(lbp_top(edge_clip(speed=1), grid), grid)
    assert np.array_equal(static[:, 0], moving[:, 0])       # every frame looks the same
    assert not np.allclose(static[:, 1], moving[:, 1])      # but the edge travels along x in time


def test_length_and_normalisation():
    clip = np.random.default_rng(0).integers(0, 256, (10, 40, 36), dtype=np.uint8)
    assert lbp_top(clip).shape == (5 * 5 * 3 * BINS,)
    features = lbp_top(clip, grid=(2, 3))
    assert features.shape == (2 * 3 * 3 * BINS,)
    assert np.allclose(per_plane(features, (2, 3)).sum(axis=2), 1)


@pytest.mark.parametrize("radius", [(1, 1, 1), (2, 1, 2)])
def test_vectorised_histograms_equal_the_per_voxel_definition(radius):
    clip = np.random.default_rng(1).integers(0, 4, (7, 9, 10), dtype=np.uint8)   # few levels: many ties
    expected = reference_lbp_top(clip, (2, 2), radius)
    assert np.allclose(per_plane(lbp_top(clip, (2, 2), radius), (2, 2)), expected)


def test_float_clip_gives_the_uint8_result():
    clip = np.random.default_rng(2).integers(0, 256, (6, 16, 16), dtype=np.uint8)
    assert np.array_equal(lbp_top(clip), lbp_top(clip.astype(np.float32) / 255))


def test_clip_too_small_for_the_grid_is_refused():
    with pytest.raises(ValueError, match="too small"):
        lbp_top(np.zeros((2, 20, 20), np.uint8))         # no frame is 1 frame from both ends
    with pytest.raises(ValueError, match="too small"):
        lbp_top(np.zeros((5, 6, 20), np.uint8))          # 4 interior rows for 5 block rows


def test_hand_checked_single_voxel():
    # A 3x3x3 clip has one interior voxel, (1, 1, 1) = 50; frame 0 is black, frame 2 white.
    middle = np.array([[10, 20, 30], [40, 50, 60], [70, 80, 90]])
    clip = np.stack([np.zeros((3, 3)), middle, np.full((3, 3), 255)]).astype(np.uint8)
    # Neighbours from angle 0, counter-clockwise; bit p set when neighbour p >= 50:
    # XY: 60 30 20 10 40 70 80 90      -> 1,0,0,0,0,1,1,1 = 0b11100001 = 225
    # XT: 60 255 255 255 40 0 0 0      -> 1,1,1,1,0,0,0,0 = 0b00001111 = 15
    # YT: 255 255 20 0 0 0 80 255      -> 1,1,0,0,0,0,1,1 = 0b11000011 = 195
    # All three have two 0/1 transitions (uniform). Uniform codes in increasing order:
    # 0 1 2 3 4 6 7 8 12 14 15 ... so 15 is bin 10; likewise 195 is bin 38 and 225 bin 43.
    histograms = per_plane(lbp_top(clip, grid=(1, 1)), (1, 1))[0]
    assert [int(np.flatnonzero(h)[0]) for h in histograms] == [43, 10, 38]
    assert (histograms.sum(axis=1) == 1).all() and np.count_nonzero(histograms) == 3
