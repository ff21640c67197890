import numpy as np
import pytest
import torch

from mer3d.data.representation import differences, to_network_input
from mer3d.errors import UserError


def random_window(shape=(16, 12, 10, 1), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


FRAME_REPRESENTATIONS = ("gray", "diff")   # motion ones: tests/data/test_motion_representations.py


@pytest.mark.parametrize("representation", FRAME_REPRESENTATIONS)
@pytest.mark.parametrize("channels", [1, 3])
def test_output_is_standardised_float32_channels_first(representation, channels):
    window = random_window((16, 12, 10, channels))
    x = to_network_input(window, window[0], representation)
    assert x.dtype == torch.float32 and x.shape == (channels, 16, 12, 10)
    assert abs(float(x.mean())) < 1e-4
    assert abs(float(x.std(unbiased=False)) - 1) < 1e-4


def test_gray_is_an_increasing_map_of_intensities_and_ignores_the_reference():
    window = random_window()
    x = to_network_input(window, window[0], "gray")
    brighter = window[..., 0] > window[0, 0, 0, 0]
    assert torch.equal(x[0] > x[0, 0, 0, 0], torch.from_numpy(brighter))
    assert torch.equal(x, to_network_input(window, random_window(seed=1)[0], "gray"))


def test_diff_first_frame_is_zero_before_standardisation():
    window = random_window()
    raw = differences(window, window[0])
    assert np.all(raw[0] == 0)
    assert np.allclose(raw[3] * 255, window[3].astype(float) - window[0])


def test_diff_shows_only_what_moved():
    window = np.full((16, 12, 10, 1), 90, np.uint8)
    window[5:, 4, 4] = 120  # one pixel changes from frame 5 on
    x = to_network_input(window, window[0], "diff")[0]
    still = x[0, 0, 0]
    assert torch.all(x[0] == still)  # the onset frame equals the unchanged background
    assert torch.all(x[:, 4, 4][5:] > still)
    assert int((x != still).sum()) == 11


@pytest.mark.parametrize("representation", FRAME_REPRESENTATIONS)
def test_constant_clip_gives_zeros_not_nans(representation):
    window = np.full((16, 8, 8, 1), 77, np.uint8)
    x = to_network_input(window, window[0], representation)
    assert torch.all(x == 0)


def test_std_floor_keeps_sensor_noise_small():
    window = np.full((16, 8, 8, 1), 100, np.uint8)
    window[3, 2, 2] = 101  # a single gray level of noise in a still clip
    x = to_network_input(window, window[0], "diff")
    # Unfloored, that one pixel would be standardised to about 32.
    assert float(x.abs().max()) <= 1 + 1e-6


def test_unknown_representation_is_a_user_error():
    window = random_window()
    with pytest.raises(UserError, match="flow\\+strain"):   # the message lists the known ones
        to_network_input(window, window[0], "sparkles")
