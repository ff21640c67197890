"""The claim behind augmenting stored flow (mer3d.data.augment with ``vectors=True``): the flip or
rotation of a flow field is the flow of the flipped or rotated frames, checked against TV-L1.

Frames A and B: a smooth random texture, and the same texture moved by a translation of (1.0, 0.5)
px plus a smooth local bump of up to 2 px off the centre (a stand-in for a facial movement), so
the flow is neither zero nor uniform and the bump makes a strain pattern that is not symmetric.
"""
import cv2
import numpy as np
import pytest

from mer3d.data.augment import apply_augmentation, flip_clip, rotate_clip
from mer3d.data.flow import optical_flow, optical_strain

SIZE = 64
PAD = 16
# The central 32 x 32: rotation by up to 10 degrees fills the corners of a 64 px frame by repeating
# edge pixels, and flow methods extrapolate near borders anyway.
CENTRE = (slice(16, 48), slice(16, 48))
# The versions of the paper's plan checked here: flip only; rotate +10; flip then rotate -5.
VERSIONS = [(True, 0.0), (False, 10.0), (True, -5.0)]

# Mean absolute error of (u, v) over the centre (px), measured: 0.013 (flip), 0.035 (rotate +10),
# 0.026 (flip + rotate -5); TV-L1 of rotated frames differs slightly from the rotated TV-L1 flow
# because rotation resamples (blurs) the texture. Turning only the pixels of the field measured
# 0.18 px at +10 degrees, and not negating u on a flip about 1.6 px, both clearly above this.
FLOW_TOLERANCE = 0.08
# The centre's mean vectors differed by at most 0.020 px; turning only the pixels at +10 degrees
# left them 0.29 px apart.
MEAN_TOLERANCE = 0.05
# Strain is a derivative of the flow and so noisier: mean absolute difference measured at most
# 0.017, for strains averaging 0.077 over the centre.
STRAIN_TOLERANCE = 0.03


def texture(seed=0) -> np.ndarray:
    n = SIZE + 2 * PAD
    noise = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, (n, n)).astype(np.float32), (0, 0), 2.0)
    return 128 + 40 * (noise - noise.mean()) / noise.std()


@pytest.fixture(scope="module")
def frames():
    """Gray uint8 A, B (SIZE x SIZE) and TV-L1 flow F from A to B."""
    base = texture()
    n = base.shape[0]
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    c = (n - 1) / 2
    bump = np.exp(-((x - c - 6) ** 2 + (y - c + 4) ** 2) / (2 * 8 ** 2))
    dx, dy = 1.0 + 2.0 * bump, 0.5 - 1.2 * bump
    moved = cv2.remap(base, (x - dx).astype(np.float32), (y - dy).astype(np.float32), cv2.INTER_CUBIC,
                      borderMode=cv2.BORDER_REFLECT)
    crop = (slice(PAD, PAD + SIZE), slice(PAD, PAD + SIZE))
    a, b = (np.clip(np.rint(image[crop]), 0, 255).astype(np.uint8) for image in (base, moved))
    return a, b, optical_flow(a, b, "tvl1")


def augmented_image(image: np.ndarray, flipped: bool, angle: float) -> np.ndarray:
    return apply_augmentation(image[None, :, :, None], flipped, angle)[0, :, :, 0]


def augmented_field(flow: np.ndarray, flipped: bool, angle: float, vectors: bool = True) -> np.ndarray:
    return apply_augmentation(flow[None], flipped, angle, vectors=vectors)[0]


def flow_of_augmented_frames(frames, flipped, angle) -> np.ndarray:
    a, b, _ = frames
    return optical_flow(augmented_image(a, flipped, angle), augmented_image(b, flipped, angle), "tvl1")


def centre_error(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(x[CENTRE] - y[CENTRE]).mean())


def centre_mean(flow: np.ndarray) -> np.ndarray:
    return flow[CENTRE].reshape(-1, 2).mean(axis=0)


def test_the_flow_is_a_real_non_uniform_motion(frames):
    flow = frames[2]
    mean = centre_mean(flow)
    assert 1.2 < mean[0] < 2.0 and abs(mean[1]) < 0.5     # (1.0, 0.5) + the bump, measured (1.57, 0.16)
    assert flow[CENTRE].reshape(-1, 2).std(axis=0).max() > 0.3


@pytest.mark.parametrize("flipped, angle", VERSIONS)
def test_augmented_flow_is_the_flow_of_augmented_frames(frames, flipped, angle):
    flow = frames[2]
    expected = flow_of_augmented_frames(frames, flipped, angle)
    augmented = augmented_field(flow, flipped, angle)
    assert augmented.shape == flow.shape and augmented.dtype == np.float32
    assert centre_error(augmented, expected) < FLOW_TOLERANCE
    assert np.abs(centre_mean(augmented) - centre_mean(expected)).max() < MEAN_TOLERANCE


def test_turning_only_the_pixels_is_caught(frames):
    """The tolerance above is tight enough to catch a rotation that forgets the vectors."""
    expected = flow_of_augmented_frames(frames, False, 10.0)
    pixels_only = augmented_field(frames[2], False, 10.0, vectors=False)
    assert centre_error(pixels_only, expected) > 1.5 * FLOW_TOLERANCE
    assert np.abs(centre_mean(pixels_only) - centre_mean(expected)).max() > 2 * MEAN_TOLERANCE


@pytest.mark.parametrize("angle", [0.0, -5.0])
def test_flipping_without_negating_u_is_caught(frames, angle):
    flow = frames[2]
    expected = flow_of_augmented_frames(frames, True, angle)
    mirrored = np.ascontiguousarray(flow[None, :, ::-1])          # pixels mirrored, u kept
    if angle:
        mirrored = rotate_clip(mirrored, angle, vectors=True)
    assert centre_error(mirrored[0], expected) > 10 * FLOW_TOLERANCE
    # ...and the mean u has the wrong sign, where the proper flip gets it right.
    assert centre_mean(mirrored[0])[0] > 1 and centre_mean(expected)[0] < -1


@pytest.mark.parametrize("flipped, angle", VERSIONS)
def test_strain_of_augmented_flow_is_the_strain_of_augmented_frames(frames, flipped, angle):
    flow = frames[2]
    expected = optical_strain(flow_of_augmented_frames(frames, flipped, angle))
    assert centre_error(optical_strain(augmented_field(flow, flipped, angle)), expected) < STRAIN_TOLERANCE
    if flipped:
        # Not vacuous: the bump sits right of the centre and the flip moves it left, so the strain
        # map of the unaugmented flow is off by more than the tolerance (measured 0.052).
        assert centre_error(optical_strain(flow), expected) > STRAIN_TOLERANCE


def test_strain_ignores_the_flips_sign_change(frames):
    """Negating u and mirroring x leaves each strain component's square, so the strain of the
    flipped field is the mirrored strain map, exactly (up to float rounding)."""
    flow = frames[2]
    flipped = flip_clip(flow[None], vectors=True)[0]
    assert np.allclose(flipped[..., 0], -flow[:, ::-1, 0]) and np.allclose(flipped[..., 1], flow[:, ::-1, 1])
    assert np.allclose(optical_strain(flipped), optical_strain(flow)[:, ::-1], atol=1e-6)


def test_rotating_a_uniform_field_turns_its_vectors_counter_clockwise():
    """Analytic check of the vector rotation: (1, 0) (rightwards) turned 90 degrees counter-clockwise
    as displayed is (0, -1) (upwards, since v points down); 10 degrees gives (cos 10, -sin 10)."""
    field = np.zeros((1, 16, 16, 2), np.float32)
    field[..., 0] = 1
    assert np.allclose(rotate_clip(field, 90, vectors=True), [0, -1], atol=1e-5)
    angle = np.radians(10)
    assert np.allclose(rotate_clip(field, 10, vectors=True), [np.cos(angle), -np.sin(angle)], atol=1e-5)
    assert np.array_equal(field[..., 0], np.ones((1, 16, 16)))      # the input is untouched
