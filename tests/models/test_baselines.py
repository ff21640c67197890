import math

import pytest
import torch
from torch import nn

from mer3d.errors import UserError
from mer3d.models import create_model, model_names

BASELINES = ["cnn2d", "c3d-plain", "lrcn", "geme"]
# The keywords architecture(config, K) passes, at tiny sizes.
TINY = dict(frames=8, size=32, width=0.25, hidden=16, block_dropout=0.25, fc_dropout=0.5, batchnorm=True)


def tiny(name, channels=1, classes=3, **overrides):
    torch.manual_seed(0)
    return create_model(name, num_classes=classes, in_channels=channels, **{**TINY, **overrides})


def clips(channels=1, n=2):
    return torch.randn(n, channels, 8, 32, 32, generator=torch.Generator().manual_seed(1))


def conv_params(model):
    return sum(p.numel() for m in model.modules() if isinstance(m, nn.Conv3d) for p in m.parameters())


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", BASELINES)
def test_forward_shapes_and_parameters(name, channels):
    assert name in model_names()
    model = tiny(name, channels).eval()
    assert model(clips(channels)).shape == (2, 3)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_c3d_plain_is_vgg3d_without_batchnorm_and_dropout():
    plain, paper = tiny("c3d-plain"), tiny("vgg3d")
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in plain.modules())
    assert not any(isinstance(m, nn.Dropout) and m.p > 0 for m in plain.modules())
    assert conv_params(plain) == conv_params(paper) > 0


def test_cnn2d_modes():
    x = clips()
    average, apex = tiny("cnn2d", mode="average").eval(), tiny("cnn2d", mode="apex").eval()
    apex.load_state_dict(average.state_dict())
    assert not torch.allclose(average(x), apex(x))
    # average ignores frame order; apex reads only the middle frame (tim_frames == frames: no resampling)
    assert torch.allclose(average(x), average(x.flip(2)), atol=1e-5)
    changed = x.clone()
    changed[:, :, 0] += 1
    assert torch.equal(apex(x), apex(changed))
    assert tiny("cnn2d", tim_frames=5).eval()(x).shape == (2, 3)
    with pytest.raises(UserError, match="mode 'max'"):
        tiny("cnn2d", mode="max")


def test_lrcn_depends_on_frame_order():
    model, x = tiny("lrcn").eval(), clips()
    assert not torch.allclose(model(x), model(x.flip(2)))


@pytest.mark.parametrize("channels", [1, 3])
def test_geme_multitask_outputs(channels):
    model, x = tiny("geme", channels, classes=5).eval(), clips(channels)
    emotion, gender = model.forward_multitask(x)
    assert emotion.shape == (2, 5) and gender.shape == (2, 2)
    assert torch.equal(model(x), emotion)


def fit_fixed_batch(model, steps=20):
    """Train-mode cross-entropy after ``steps`` Adam steps on 9 fixed random clips, 3 classes,
    as a fraction of ln 3 (the loss of the best prediction that ignores the input)."""
    x, y = clips(n=9), torch.arange(9) % 3
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item() / math.log(3)


@pytest.mark.parametrize("name", BASELINES)
def test_learns_a_fixed_batch(name):
    # Dropout off: this checks that gradients reach the whole network, not regularisation.
    assert fit_fixed_batch(tiny(name, block_dropout=0, fc_dropout=0).train()) < 0.85


def test_plain_network_needs_keras_initialisation():
    # c3d-plain learns the batch (test_learns_a_fixed_batch); re-initialised with PyTorch's
    # defaults, the same network stays at the prior.
    default = tiny("c3d-plain")
    for module in default.modules():
        if isinstance(module, (nn.Conv3d, nn.Linear)):
            module.reset_parameters()
    assert fit_fixed_batch(default.train()) > 0.95


@pytest.mark.parametrize("name", ["vgg3d", *BASELINES])
def test_every_model_starts_as_in_keras(name):
    layers = [m for m in tiny(name).modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    assert all(torch.count_nonzero(m.bias) == 0 for m in layers)
    for m in layers:    # Glorot-uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
        fan_in, fan_out = m.weight[0].numel(), m.weight.shape[0] * m.weight[0, 0].numel()
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert 0.9 * bound <= m.weight.abs().max() <= bound
