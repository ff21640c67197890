"""The batched torch augmentation (augment.on_device) against the cv2 path it stands in for."""
import cv2
import numpy as np
import pytest
import torch

from mer3d.data.augment import apply_augmentation
from mer3d.data.augment_torch import augment_batch
from test_augment import random_clip, smooth_clip

VERSIONS = [(False, 5.0), (True, -10.0), (False, 10.0), (True, 5.0)]
# Max abs difference, on the 0-255 scale, measured over whole frames (the border too): 0.61 for
# smooth uint8 frames (cv2 rounds turned frames to whole gray levels), 4.8 for uint8 white noise
# (cv2 rounds the sampling position to 1/32 px, which matters where neighbours differ by 255).
SMOOTH_TOLERANCE = 0.7
NOISE_TOLERANCE = 5.5
# Turned flow (u, v), px, field of std 1.1 px and up to 4 px: max abs difference measured 0.018.
FLOW_TOLERANCE = 0.025


def as_batch(clips) -> torch.Tensor:
    """(T, H, W, C) clips -> float32 (B, C, T, H, W)."""
    return torch.stack([torch.from_numpy(clip.astype(np.float32).transpose(3, 0, 1, 2)) for clip in clips])


def on_device(clips, versions, vectors=False) -> np.ndarray:
    """The torch path on a batch of clips, back as float (B, T, H, W, C)."""
    flipped, angles = torch.tensor([f for f, _ in versions]), torch.tensor([a for _, a in versions])
    return augment_batch(as_batch(clips), flipped, angles, vectors).numpy().transpose(0, 2, 3, 4, 1)


def cv2_path(clips, versions, vectors=False) -> np.ndarray:
    return np.stack([apply_augmentation(clip, flipped, angle, vectors).astype(np.float32)
                     for clip, (flipped, angle) in zip(clips, versions)])


def flow_field(seed=0, size=48) -> np.ndarray:
    """float32 (2, size, size, 2): a smooth random flow of 1-4 px, and half of it."""
    noise = np.random.default_rng(seed).normal(0, 1, (size, size, 2)).astype(np.float32)
    field = cv2.GaussianBlur(noise, (0, 0), 3) * 10 + np.array([1.5, -0.7], np.float32)
    return np.stack([field, field / 2])


@pytest.mark.parametrize("clip, tolerance", [(smooth_clip(3, 48, 3), SMOOTH_TOLERANCE),
                                             (random_clip((3, 40, 36, 1)), NOISE_TOLERANCE)])
def test_frames_match_cv2_within_tolerance(clip, tolerance):
    """Each sample of the batch gets its own version (a 40 x 36 frame checks the aspect handling)."""
    clips = [clip] * len(VERSIONS)
    assert np.abs(on_device(clips, VERSIONS) - cv2_path(clips, VERSIONS)).max() < tolerance


def test_a_wrong_direction_or_order_is_caught():
    """The tolerance is tight enough to tell the opposite rotation, or rotate-then-flip, apart."""
    clip = smooth_clip(3, 48, 1)
    expected = cv2_path([clip], [(True, 10.0)])
    assert np.abs(on_device([clip], [(True, -10.0)]) - expected).max() > 10 * SMOOTH_TOLERANCE
    rotated_first = cv2_path([apply_augmentation(clip, False, 10.0)], [(True, 0.0)])
    assert np.abs(rotated_first - expected).max() > 10 * SMOOTH_TOLERANCE


def test_unturned_samples_are_exact():
    clips = [random_clip((2, 12, 10, 3), seed) for seed in range(3)]
    versions = [(False, 0.0), (True, 0.0), (False, 5.0)]
    out = on_device(clips, versions)
    assert np.array_equal(out[:2], cv2_path(clips[:2], versions[:2]))


def test_flow_vectors_match_cv2_within_tolerance():
    clips = [flow_field(seed) for seed in range(len(VERSIONS))]
    error = np.abs(on_device(clips, VERSIONS, vectors=True) - cv2_path(clips, VERSIONS, vectors=True)).max()
    assert error < FLOW_TOLERANCE
    # ...while moving the pixels without turning the vectors is off by far more.
    assert np.abs(on_device(clips, VERSIONS) - cv2_path(clips, VERSIONS, vectors=True)).max() > 10 * FLOW_TOLERANCE


def test_only_the_first_two_channels_are_vectors():
    """(u, v, strain): u and v turn, the strain only moves, as a scalar."""
    field = np.zeros((1, 16, 16, 3), np.float32)
    field[..., 0], field[..., 2] = 1, 0.5
    out = on_device([field], [(True, 90.0)], vectors=True)[0]
    # mirrored (-1, 0), then turned 90 degrees counter-clockwise as displayed: (0, 1), downwards
    assert np.allclose(out[..., :2], [0, 1], atol=1e-5) and np.allclose(out[..., 2], 0.5)


def test_the_input_is_not_modified():
    x = as_batch([random_clip((2, 12, 10, 2), 1)] * 2)
    before = x.clone()
    augment_batch(x, torch.tensor([True, True]), torch.tensor([0.0, 10.0]), vectors=True)
    assert torch.equal(x, before)
