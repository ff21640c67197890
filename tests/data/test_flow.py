"""Optical flow, strain and apex estimation (mer3d.data.flow) against motions known by construction.

Every moving image here is made by resampling a smooth random texture with a displacement we
chose, so the true flow is known without asking the code under test.
"""
import cv2
import numpy as np
import pytest

from fixtures import bump_motion
from mer3d.data.flow import (FLOW_METHODS, clip_flow, estimate_apex, motion_energy, optical_flow,
                             optical_strain, resize_flow)

SIZE = 64
PAD = 16                                   # texture margin, so displaced content never leaves the picture
CENTRE = (slice(16, 48), slice(16, 48))    # away from the borders, where flow methods extrapolate


def texture(seed=0, face=False) -> np.ndarray:
    """float32 (SIZE + 2 PAD)^2: Gaussian-blurred noise (sigma 2 px), optionally on a bright ellipse."""
    n = SIZE + 2 * PAD
    noise = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, (n, n)).astype(np.float32), (0, 0), 2.0)
    noise = (noise - noise.mean()) / noise.std()
    if not face:
        return 128 + 40 * noise
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    c = (n - 1) / 2
    ellipse = 60 * ((((x - c) / 26) ** 2 + ((y - c) / 32) ** 2) < 1)
    return 90 + ellipse + 30 * noise


def displaced(base: np.ndarray, dx, dy) -> np.ndarray:
    """``base`` with the content at x moved to x + (dx, dy) (scalars or fields), cropped to SIZE, uint8."""
    n = base.shape[0]
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    map_x = (x - dx).astype(np.float32)
    map_y = (y - dy).astype(np.float32)
    moved = cv2.remap(base, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return np.clip(np.rint(moved[PAD:PAD + SIZE, PAD:PAD + SIZE]), 0, 255).astype(np.uint8)


def translated(base: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``base`` shifted by (dx, dy) with cv2.warpAffine (content moves right by dx, down by dy)."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(base, matrix, base.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return np.clip(np.rint(moved[PAD:PAD + SIZE, PAD:PAD + SIZE]), 0, 255).astype(np.uint8)


def fourier_shifted(seed: int, dx: float, dy: float) -> np.ndarray:
    """A periodic smooth texture (noise low-passed by a sigma 2 px Gaussian in the Fourier domain)
    shifted exactly by (dx, dy) with the shift theorem, cropped to SIZE, uint8. Unlike warpAffine,
    whose interpolation blurs each shifted frame differently, every frame is equally sharp, which
    matters when a shifted frame is itself the reference (measured: warpAffine frames bias TV-L1's
    frame-to-frame flow by up to 0.1 px, these by at most 0.044 px)."""
    n = SIZE + 2 * PAD
    ky, kx = np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :]
    spectrum = np.fft.fft2(np.random.default_rng(seed).normal(0, 1, (n, n)))
    spectrum *= np.exp(-2 * (np.pi * 2.0) ** 2 * (kx ** 2 + ky ** 2))
    unshifted = np.real(np.fft.ifft2(spectrum))
    image = np.real(np.fft.ifft2(spectrum * np.exp(-2j * np.pi * (kx * dx + ky * dy))))
    image = 128 + 40 * image / unshifted.std()
    return np.clip(np.rint(image[PAD:PAD + SIZE, PAD:PAD + SIZE]), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- sign and units

# Measured errors of the centre's mean (u, v) over these shifts: TV-L1 <= 0.017 px, DIS <= 0.07 px
# (its MEDIUM preset is coarser on sub-pixel motion), Farneback <= 0.05 px. The tolerances leave
# about 2x margin; a sign error or a swapped (u, v) would be off by >= 0.8 px.
TOLERANCE = {"tvl1": 0.05, "dis": 0.12, "farneback": 0.1}


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize("shift", [(1.3, -0.7), (-0.8, 1.1)])
def test_flow_is_in_pixels_u_right_v_down(method, shift):
    base = texture()
    reference, frame = translated(base, 0, 0), translated(base, *shift)
    flow = optical_flow(reference, frame, method)
    assert flow.shape == (SIZE, SIZE, 2) and flow.dtype == np.float32
    mean = flow[CENTRE].reshape(-1, 2).mean(axis=0)
    assert np.abs(mean - shift).max() < TOLERANCE[method], (method, shift, mean)


def test_unknown_flow_method_is_refused():
    frame = translated(texture(), 0, 0)
    with pytest.raises(ValueError, match="flow method"):
        optical_flow(frame, frame, "lucas-kanade")
    with pytest.raises(ValueError, match="flow reference"):
        clip_flow(np.stack([frame, frame]), "dis", "apex")


# ---------------------------------------------------------------- clip_flow references

def test_onset_flow_grows_linearly_while_previous_flow_stays_constant():
    speed = np.array([0.6, -0.4])          # px per frame, right and up
    clip = np.stack([fourier_shifted(1, *(t * speed)) for t in range(5)])
    onset, previous = clip_flow(clip, "tvl1", "onset"), clip_flow(clip, "tvl1", "previous")
    assert onset.shape == previous.shape == (5, SIZE, SIZE, 2) and onset.dtype == np.float32
    assert not onset[0].any() and not previous[0].any()          # frame 0: exactly zero flow
    onset_means = onset[(slice(None), *CENTRE)].reshape(5, -1, 2).mean(axis=1)
    previous_means = previous[(slice(None), *CENTRE)].reshape(5, -1, 2).mean(axis=1)
    # Measured: within 0.037 px (onset) and 0.023 px (previous) of the true shifts; 0.07 px allows
    # TV-L1's sub-pixel bias on other textures (<= 0.044 px seen), while the two references differ
    # by 0.72-2.2 px from frame 2 on.
    for t in range(1, 5):
        assert np.abs(onset_means[t] - t * speed).max() < 0.07, (t, onset_means[t])
        assert np.abs(previous_means[t] - speed).max() < 0.07, (t, previous_means[t])


# ---------------------------------------------------------------- resize_flow

def test_resizing_scales_the_vectors_with_the_grid():
    field = np.broadcast_to(np.float32([2, -1]), (3, SIZE, SIZE, 2)).copy()
    smaller = resize_flow(field, 32)
    assert smaller.shape == (3, 32, 32, 2)
    # A constant field stays constant under area averaging, up to float32 rounding.
    assert np.allclose(smaller, [1, -0.5], atol=1e-5)
    assert np.allclose(resize_flow(smaller, SIZE), [2, -1], atol=1e-5)


def test_resizing_a_real_flow_keeps_its_motion_in_pixels_of_the_new_size():
    base = texture(seed=2)
    flow = optical_flow(translated(base, 0, 0), translated(base, 1.2, 0.6), "dis")
    half = resize_flow(flow, 32)
    # The centre at 32 px is the same face area as the centre at 64 px; mean halves (float rounding only).
    assert np.allclose(half[8:24, 8:24].reshape(-1, 2).mean(0), flow[CENTRE].reshape(-1, 2).mean(0) / 2, atol=0.02)


def test_resizing_to_the_same_size_is_a_no_op():
    field = np.random.default_rng(0).normal(size=(SIZE, SIZE, 2)).astype(np.float32)
    assert np.array_equal(resize_flow(field, SIZE), field)


# ---------------------------------------------------------------- optical strain

def grid(n=20):
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    return x, y


def field(u, v):
    return np.stack(np.broadcast_arrays(u, v), axis=-1).astype(np.float32)


# np.gradient is exact on linear fields (border one-sided differences included), so the analytic
# values hold everywhere up to float32 rounding (1e-6).
def test_strain_of_a_stretch_is_its_rate():
    x, y = grid()
    assert np.allclose(optical_strain(field(0.07 * x, 0 * y)), 0.07, atol=1e-6)
    assert np.allclose(optical_strain(field(0 * x, -0.03 * y)), 0.03, atol=1e-6)


def test_rigid_motion_has_no_strain():
    x, y = grid()
    assert np.allclose(optical_strain(field(1.5 + 0 * x, -2.0 + 0 * y)), 0, atol=1e-6)   # translation
    assert np.allclose(optical_strain(field(-0.05 * y, 0.05 * x)), 0, atol=1e-6)         # small rotation


def test_strain_of_a_shear():
    x, y = grid()
    s = 0.08
    strain = optical_strain(field(s * y, 0 * x))
    assert np.allclose(strain, np.sqrt(2 * (s / 2) ** 2), atol=1e-6)


def test_strain_keeps_leading_dimensions():
    x, y = grid()
    flows = np.stack([field(0.01 * t * x, 0 * y) for t in range(3)])[None]   # (1, 3, 20, 20, 2)
    strain = optical_strain(flows)
    assert strain.shape == (1, 3, 20, 20) and strain.dtype == np.float32
    assert np.allclose(strain[0, :, 5, 5], [0, 0.01, 0.02], atol=1e-6)


# ---------------------------------------------------------------- apex estimation

def bump_clip(apex: int, frames: int = 10, amplitude: float = 1.5, drift=(0.0, 0.0)) -> np.ndarray:
    """A face-like texture whose region right of and below the centre moves out and back, peaking at
    ``apex``, plus a rigid drift of ``drift`` px per frame: gray uint8 (frames, SIZE, SIZE)."""
    base = texture(seed=3, face=True)
    local = bump_motion(base.shape[0], frames, apex, amplitude)
    return np.stack([displaced(base, drift[0] * t + local[t], drift[1] * t - local[t]) for t in range(frames)])


@pytest.mark.parametrize("apex", [3, 5, 7])
def test_apex_is_the_frame_that_moved_most(apex):
    # Measured: exact on these clips; the brief allows +-1 frame.
    assert abs(estimate_apex(bump_clip(apex)) - apex) <= 1


@pytest.mark.parametrize("apex", [3, 5])
@pytest.mark.parametrize("drift", [(0.3, 0.2), (0.4, -0.3)])
def test_slow_head_drift_does_not_pull_the_apex_to_the_end(apex, drift):
    clip = bump_clip(apex, drift=drift)
    # The check can fail: without removing the head's rigid movement from the flow, the drift
    # (3.2-4.5 px by the last frame) outweighs the local movement and the largest mean flow is at
    # the last frame.
    raw = [0.0] + [float(np.linalg.norm(optical_flow(clip[0], frame, "dis"), axis=-1).mean()) for frame in clip[1:]]
    assert int(np.argmax(raw)) == len(clip) - 1
    assert abs(estimate_apex(clip) - apex) <= 1
    energy = motion_energy(clip)
    assert energy.shape == (len(clip),) and energy[0] == 0


def test_a_single_frame_has_its_apex_at_0():
    clip = bump_clip(3)[:1]
    assert estimate_apex(clip) == 0
    assert motion_energy(clip).tolist() == [0.0]
