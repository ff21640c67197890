"""Motion representations (flow, flow+strain, apex-flow): what the network sees of a flow window.

Motion is given a fixed scale, never standardised per clip: u, v in pixels of a REFERENCE_SIZE px
face, strain times STRAIN_SCALE (mer3d.data.representation's docstring).
"""
import numpy as np
import pytest
import torch

from mer3d.config import load_config
from mer3d.data import representation as representation_module
from mer3d.data.flow import optical_strain
from mer3d.data.representation import (REFERENCE_SIZE, STRAIN_SCALE, input_shape, register_representation,
                                       representation, to_network_input)

MOTION = ("flow", "flow+strain", "apex-flow")


def constant_window(u, v, size, frames=4) -> np.ndarray:
    """float16 (frames, size, size, 2), as the motion cache stores flows."""
    window = np.empty((frames, size, size, 2), np.float16)
    window[..., 0], window[..., 1] = u, v
    return window


def stretch_window(rate, size, frames=2) -> np.ndarray:
    """u = rate * (x - centre), v = 0: a horizontal stretch about the centre, in pixels of ``size``.
    The same physical motion at any size (a stretch rate is unitless)."""
    x = np.arange(size, dtype=np.float32) - (size - 1) / 2
    window = np.zeros((frames, size, size, 2), np.float32)
    window[..., 0] = rate * x
    return window


def network(window: np.ndarray, name: str) -> torch.Tensor:
    return to_network_input(window, window[0], name)


def block_mean(x: torch.Tensor) -> torch.Tensor:
    """(C, T, 2H, 2W) -> (C, T, H, W): the mean of each 2 x 2 block (the same face area at half size)."""
    c, t, h, w = x.shape
    return x.reshape(c, t, h // 2, 2, w // 2, 2).mean(dim=(3, 5))


# ---------------------------------------------------------------- fixed scale

@pytest.mark.parametrize("name", MOTION)
def test_the_same_movement_gives_the_same_values_at_any_size(name):
    # A movement of 1/32 of the face: 1 px at 32 px, 2 px at 64 px, 4 px at REFERENCE_SIZE (128).
    small = network(constant_window(1.0, -0.5, 32), name)
    large = network(constant_window(2.0, -1.0, 64), name)
    assert small.shape[2:] == (32, 32) and large.shape[2:] == (64, 64)
    for x in (small, large):
        assert torch.all(x[0] == 4.0) and torch.all(x[1] == -2.0)     # exact: powers of two in float16
        if x.shape[0] == 3:
            assert torch.all(x[2] == 0)       # a uniform shift has no strain


@pytest.mark.parametrize("name", ["flow+strain", "apex-flow"])
def test_a_stretch_gives_the_same_flow_and_strain_at_any_size(name):
    rate = 0.05
    small, large = network(stretch_window(rate, 32), name), network(stretch_window(rate, 64), name)
    # u is linear, so each 2 x 2 block of the 64 px field averages to the value at the block centre,
    # the same face point as the 32 px pixel: equal up to float32 rounding.
    assert torch.allclose(small[:2], block_mean(large[:2]), atol=1e-5)
    assert torch.allclose(small[2], torch.tensor(STRAIN_SCALE * rate), atol=1e-5)
    assert torch.allclose(large[2], torch.tensor(STRAIN_SCALE * rate), atol=1e-5)
    # Without the rescaling to REFERENCE_SIZE the u channels would differ by 2x.
    assert float(small[0].abs().max()) > 1


# ---------------------------------------------------------------- not standardised

@pytest.mark.parametrize("name", MOTION)
def test_still_flow_stays_exactly_zero(name):
    x = network(constant_window(0.0, 0.0, 32), name)
    assert torch.count_nonzero(x) == 0
    # A single tiny movement stays tiny: standardising would blow it up to unit variance.
    window = constant_window(0.0, 0.0, 32)
    window[2, 10, 10, 0] = 0.01
    assert float(network(window, name).abs().max()) < 0.1


@pytest.mark.parametrize("name", MOTION)
def test_doubling_the_flow_doubles_the_values(name):
    rng = np.random.default_rng(0)
    window = rng.normal(0, 0.5, (3, 16, 16, 2)).astype(np.float16)   # exactly doubled in float16
    once, twice = network(window, name), network(window * 2, name)
    assert torch.allclose(twice, 2 * once, rtol=1e-5, atol=1e-6)
    # The values are the flow at the fixed scale, offset and all (no mean is subtracted).
    assert torch.allclose(once[:2], torch.from_numpy(window.astype(np.float32) * (REFERENCE_SIZE / 16))
                          .permute(3, 0, 1, 2))


def test_flow_and_strain_adds_the_scaled_strain_as_third_channel():
    rng = np.random.default_rng(1)
    window = rng.normal(0, 1, (4, 16, 16, 2)).astype(np.float16)
    flow, with_strain = network(window, "flow"), network(window, "flow+strain")
    assert flow.shape == (2, 4, 16, 16) and with_strain.shape == (3, 4, 16, 16)
    assert torch.equal(with_strain[:2], flow)
    expected = STRAIN_SCALE * optical_strain(window.astype(np.float32))
    assert torch.allclose(with_strain[2], torch.from_numpy(expected), atol=1e-5)
    assert torch.all(with_strain[2] >= 0)


# ---------------------------------------------------------------- shapes

def data_section(*overrides) -> dict:
    return load_config(overrides=["data.frames=8", "data.size=32", *overrides])["data"]


@pytest.mark.parametrize("name, shape", [
    ("gray", (1, 8, 32, 32)),
    ("flow", (2, 8, 32, 32)),
    ("flow+strain", (3, 8, 32, 32)),
    ("apex-flow", (3, 1, 32, 32)),       # one onset-to-apex image per clip
])
def test_input_shape(name, shape):
    assert input_shape(data_section(f"data.representation={name}")) == shape


@pytest.mark.parametrize("name, frames, channels", [("flow", 8, 2), ("flow+strain", 8, 3), ("apex-flow", 1, 3)])
def test_network_input_is_float32_channels_first_and_matches_input_shape(name, frames, channels):
    window = np.random.default_rng(2).normal(0, 1, (frames, 32, 32, 2)).astype(np.float16)
    x = network(window, name)
    assert x.dtype == torch.float32 and x.is_contiguous()
    assert tuple(x.shape) == (channels, frames, 32, 32) == input_shape(data_section(f"data.representation={name}"))
    assert representation(name).motion and not representation("gray").motion


def test_a_reference_of_another_shape_is_refused():
    window = constant_window(1.0, 0.0, 16)
    with pytest.raises(ValueError, match="does not match"):
        to_network_input(window, window[0, :8], "flow")


# ---------------------------------------------------------------- registering a representation

def test_a_registered_representation_is_used_by_name():
    registry = representation_module._REPRESENTATIONS
    try:
        @register_representation("test-speed", stored="flow", channels=1)
        def speed(window, reference):
            return np.linalg.norm(window.astype(np.float32), axis=-1, keepdims=True)

        register_representation("test-apex-speed", stored="apex-flow", channels=1)(speed)
        window = constant_window(3.0, 4.0, 16)
        x = network(window, "test-speed")
        assert x.shape == (1, 4, 16, 16) and torch.all(x == 5.0)
        data = dict(data_section(), representation="test-speed")
        assert input_shape(data) == (1, 8, 32, 32)
        assert input_shape(dict(data, representation="test-apex-speed")) == (1, 1, 32, 32)
        assert representation("test-speed").motion
    finally:
        registry.pop("test-speed", None)
        registry.pop("test-apex-speed", None)
    assert "test-speed" not in registry and "test-apex-speed" not in registry


def test_registering_an_unknown_stored_kind_is_refused():
    with pytest.raises(ValueError, match="stored must be one of"):
        register_representation("test-bad", stored="landmarks")
    assert "test-bad" not in representation_module._REPRESENTATIONS


def test_flows_are_computed_at_128_px_or_more_unless_set():
    from mer3d.data.representation import flow_resolution

    assert flow_resolution({"size": 32, "flow_size": None}) == 128    # sub-pixel motion needs pixels
    assert flow_resolution({"size": 160, "flow_size": None}) == 160   # never below the working size
    assert flow_resolution({"size": 28, "flow_size": 64}) == 64       # as set
