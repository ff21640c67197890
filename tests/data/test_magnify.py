import cv2
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from mer3d.data.magnify import Magnification, magnify_clip
from mer3d.errors import UserError

FPS = 30.0
FRAMES = 60  # 2 s: whole periods of 2.5 Hz and 7.5 Hz, so the ideal filter sees no leakage
BAND = Magnification(alpha=10, low_hz=2, high_hz=3)


def textured_image(size=128, sigma=4.0, seed=0):
    """Smooth random texture (blurred noise): wavelengths mostly >= 16 px, like skin and wrinkles."""
    noise = np.random.default_rng(seed).normal(0, 1, (size, size)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
    return 128 + 60 * blurred / blurred.std()


def shift(image, dx):
    matrix = np.float32([[1, 0, dx], [0, 1, 0]])
    size = image.shape[1::-1]
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def swaying_clip(hz, amplitude=0.25, size=128):
    """The texture moved left-right by amplitude * sin(2 pi hz t), sub-pixel, as uint8 (T, H, W, 1)."""
    image = textured_image(size)
    frames = [shift(image, amplitude * np.sin(2 * np.pi * hz * t / FPS)) for t in range(FRAMES)]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)[..., None]


def displacement(clip, a, b):
    """The horizontal shift that best maps frame a onto frame b (least squares, away from borders)."""
    source, target = clip[a, ..., 0].astype(np.float32), clip[b, ..., 0].astype(np.float32)

    def cost(dx):
        return float(((shift(source, dx) - target)[16:-16, 16:-16] ** 2).mean())

    return minimize_scalar(cost, bounds=(-6, 6), method="bounded", options={"xatol": 1e-3}).x


@pytest.mark.parametrize("hz, peak", [(2.5, 3), (7.5, 1)])
def test_motion_is_amplified_only_inside_the_band(hz, peak):
    # Frame 0 has no displacement; frames `peak` and `3 * peak` have +0.25 and -0.25 px.
    clip = swaying_clip(hz)
    out = magnify_clip(clip, FPS, BAND)
    for frame in (peak, 3 * peak):
        before, after = displacement(clip, 0, frame), displacement(out, 0, frame)
        assert abs(before) == pytest.approx(0.25, abs=0.03)
        factor = after / before
        if BAND.low_hz <= hz <= BAND.high_hz:
            assert factor >= 3  # measured about 8.2 (the 4-8 px level gets a reduced alpha)
        else:
            assert 0.67 < factor < 1.5  # measured 1.0


def test_static_clip_is_unchanged_even_with_the_band_touching_zero():
    image = np.clip(np.rint(textured_image(64)), 0, 255).astype(np.uint8)
    clip = np.repeat(image[None, :, :, None], 20, axis=0)
    out = magnify_clip(clip, FPS, Magnification(alpha=50, low_hz=0, high_hz=15))
    assert np.abs(out.astype(int) - clip).max() <= 1


@pytest.mark.parametrize("shape", [(12, 64, 48, 1), (12, 64, 48, 3), (7, 9, 13, 3), (5, 8, 8, 1), (4, 5, 6, 1)])
def test_shape_and_dtype_are_kept_and_the_input_is_not_touched(shape):
    clip = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    before = clip.copy()
    out = magnify_clip(clip, FPS, BAND)
    assert out.shape == clip.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(clip, before)
    np.testing.assert_array_equal(out, magnify_clip(clip, FPS, BAND))  # deterministic


def test_noise_changes_the_colour_clip():
    # Guards against a filter that silently does nothing: random frames carry every frequency.
    clip = np.random.default_rng(2).integers(60, 196, (12, 64, 48, 3), dtype=np.uint8)
    assert not np.array_equal(magnify_clip(clip, FPS, BAND), clip)


def test_single_frame_comes_back_as_an_equal_copy():
    clip = np.random.default_rng(3).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    out = magnify_clip(clip, FPS, BAND)
    np.testing.assert_array_equal(out, clip)
    assert not np.shares_memory(out, clip)


def test_band_above_nyquist_is_cut_or_refused():
    clip = swaying_clip(2.5, size=32)
    cut = magnify_clip(clip, FPS, Magnification(alpha=10, low_hz=2, high_hz=100))
    assert not np.array_equal(cut, clip)
    with pytest.raises(UserError, match="data.magnify"):
        magnify_clip(clip, FPS, Magnification(alpha=10, low_hz=15, high_hz=20))


def test_config_none_is_no_magnification():
    assert Magnification.from_config(None) is None


def test_config_builds_and_keys():
    magnification = Magnification.from_config({"alpha": 20, "low_hz": 0.5, "high_hz": 4, "levels": 3})
    assert magnification == Magnification(20.0, 0.5, 4.0, 3)
    assert magnification.key() == {"alpha": 20.0, "low_hz": 0.5, "high_hz": 4.0, "levels": 3}
    assert Magnification.from_config({"alpha": 20, "low_hz": 0.5, "high_hz": 4}).levels == 4


@pytest.mark.parametrize("value, field", [
    ({"low_hz": 0.5, "high_hz": 4}, "alpha"),
    ({"alpha": 20, "low_hz": 0.5, "high_hz": 4, "gain": 2}, "gain"),
    ({"alpha": "big", "low_hz": 0.5, "high_hz": 4}, "alpha"),
    ({"alpha": True, "low_hz": 0.5, "high_hz": 4}, "alpha"),
    ({"alpha": 20, "low_hz": float("nan"), "high_hz": 4}, "low_hz"),
    ({"alpha": 0, "low_hz": 0.5, "high_hz": 4}, "alpha"),
    ({"alpha": -3, "low_hz": 0.5, "high_hz": 4}, "alpha"),
    ({"alpha": 20, "low_hz": 4, "high_hz": 0.5}, "high_hz"),
    ({"alpha": 20, "low_hz": -1, "high_hz": 4}, "low_hz"),
    ({"alpha": 20, "low_hz": 0.5, "high_hz": 4, "levels": 0}, "levels"),
    ({"alpha": 20, "low_hz": 0.5, "high_hz": 4, "levels": 2.5}, "levels"),
    ([20, 0.5, 4], "data.magnify"),
])
def test_config_errors_name_the_field(value, field):
    with pytest.raises(UserError, match="data.magnify") as error:
        Magnification.from_config(value)
    message = str(error.value)
    assert field in message and "\n" not in message


def test_pixel_scale_flicker_is_not_amplified():
    # The finest pyramid level (2-4 px wavelengths) is left alone, as in the paper: there the
    # first-order approximation fails and amplification only brings out noise.
    y, x = np.mgrid[0:32, 0:32]
    checkerboard = np.where((x + y) % 2 == 0, 10.0, -10.0)
    frames = [128 + checkerboard * np.sin(2 * np.pi * 2.5 * t / FPS) for t in range(FRAMES)]
    clip = np.rint(frames).astype(np.uint8)[..., None]
    assert np.abs(magnify_clip(clip, FPS, BAND).astype(int) - clip).max() <= 1
