import numpy as np
import pytest

from mer3d.data.augment import apply_augmentation, augmentation_plan, flip_clip, rotate_clip


def smooth_clip(frames=3, size=64, channels=1):
    """uint8 (T, H, W, C): gentle gradients and waves, so bilinear resampling is nearly exact."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    clip = np.empty((frames, size, size, channels), np.uint8)
    for t in range(frames):
        for c in range(channels):
            image = 128 + 60 * np.sin(x / 9 + t + c) * np.cos(y / 11) + 0.5 * (x - y)
            clip[t, :, :, c] = np.clip(image, 0, 255).astype(np.uint8)
    return clip


def random_clip(shape=(4, 9, 7, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_paper_plan_has_ten_versions_in_the_papers_order():
    plan = augmentation_plan()
    assert plan == [
        (False, 0.0), (False, 5.0), (False, -5.0), (False, 10.0), (False, -10.0),
        (True, 0.0), (True, 5.0), (True, -5.0), (True, 10.0), (True, -10.0),
    ]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"enabled": False}, [(False, 0.0)]),
        ({"angles": ()}, [(False, 0.0), (True, 0.0)]),
        ({"flip": False}, [(False, 0.0), (False, 5.0), (False, -5.0), (False, 10.0), (False, -10.0)]),
        ({"flip": False, "angles": [3]}, [(False, 0.0), (False, 3.0)]),
    ],
)
def test_plan_variants(kwargs, expected):
    assert augmentation_plan(**kwargs) == expected


def test_flip_mirrors_left_right_and_twice_is_identity():
    clip = random_clip()
    flipped = flip_clip(clip)
    assert np.array_equal(flipped[:, :, 0], clip[:, :, -1])
    assert not np.array_equal(flipped, clip)
    assert np.array_equal(flip_clip(flipped), clip)


@pytest.mark.parametrize("channels", [1, 3])
def test_rotating_back_restores_the_interior(channels):
    clip = smooth_clip(channels=channels)
    there_and_back = rotate_clip(rotate_clip(clip, 5), -5)
    interior = (slice(None), slice(16, 48), slice(16, 48))
    error = np.abs(there_and_back[interior].astype(int) - clip[interior].astype(int)).mean()
    assert there_and_back.shape == clip.shape and there_and_back.dtype == np.uint8
    assert error < 0.5
    # ...while one rotation changes it well beyond that, so the check above is not vacuous.
    assert np.abs(rotate_clip(clip, 5)[interior].astype(int) - clip[interior].astype(int)).mean() > 1.5


def test_positive_angle_turns_counter_clockwise():
    clip = np.zeros((1, 41, 41, 1), np.uint8)
    clip[0, 20, 30] = 255  # right of the centre (20, 20)
    turned = rotate_clip(clip, 90)[0, :, :, 0]
    assert np.unravel_index(turned.argmax(), turned.shape) == (10, 20)  # now above the centre
    slightly = rotate_clip(clip, 10)[0, :, :, 0]
    row, column = np.unravel_index(slightly.argmax(), slightly.shape)
    assert row < 20 and column > 20  # moved up, still on the right


def test_transforms_never_modify_their_input():
    clip = random_clip()
    before = clip.copy()
    flip_clip(clip)
    rotate_clip(clip, 10)
    apply_augmentation(clip, True, -5)
    assert np.array_equal(clip, before)


def test_apply_augmentation_flips_then_rotates():
    clip = smooth_clip()
    assert np.array_equal(apply_augmentation(clip, True, 10), rotate_clip(flip_clip(clip), 10))
    assert np.array_equal(apply_augmentation(clip, True, 0.0), flip_clip(clip))
    assert np.array_equal(apply_augmentation(clip, False, 0.0), clip)
