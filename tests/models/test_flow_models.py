"""The 2D optical-flow models: STSTNet and OFF-ApexNet (one onset-to-apex flow image per clip)."""
import math

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mer3d.errors import UserError
from mer3d.models import create_model, format_layer_table, layer_rows, model_names
from mer3d.models.export import export_model
from mer3d.models.init import keras_init
from mer3d.models.registry import COMMON_ARGUMENTS, model_options
from mer3d.models.weights import save_weights

FLOW_MODELS = ["ststnet", "off-apexnet"]
# Every common argument, as architecture(config, K) passes them, at the papers' 28x28.
COMMON = dict(frames=1, size=28, width=1.0, hidden=1024, block_dropout=0.0, fc_dropout=0.5, batchnorm=False)


def build(name, channels=3, classes=3, **overrides):
    torch.manual_seed(0)
    return create_model(name, num_classes=classes, in_channels=channels, **{**COMMON, **overrides})


def flows(n=2, channels=3, size=28, seed=1):
    return torch.randn(n, channels, 1, size, size, generator=torch.Generator().manual_seed(seed))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_registered_with_every_common_argument():
    assert set(FLOW_MODELS) <= set(model_names())
    for name in FLOW_MODELS:
        assert model_options(name) == []                     # nothing beyond COMMON_ARGUMENTS
    model = create_model("ststnet", num_classes=3, in_channels=3, **COMMON)
    assert sorted(["num_classes", "in_channels", *COMMON]) == sorted(COMMON_ARGUMENTS)
    assert model.eval()(flows()).shape == (2, 3)


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_output_shapes_with_and_without_the_frame_axis(name):
    model, x = build(name).eval(), flows(n=4)
    assert model(x).shape == (4, 3)
    assert torch.equal(model(x[:, :, 0]), model(x))        # (N, C, H, W) is (N, C, 1, H, W)


@pytest.mark.parametrize("name", FLOW_MODELS)
@pytest.mark.parametrize("size", [12, 13, 14, 28, 31])
def test_any_size_from_12(name, size):
    assert build(name, size=size).eval()(flows(size=size)).shape == (2, 3)


def test_ststnet_parameter_counts():
    # Streams (each a 3x3 conv over all 3 input channels, weights + biases):
    #   3 * (3*3*3) + 3 = 84,  5 * 27 + 5 = 140,  8 * 27 + 8 = 224;  84 + 140 + 224 = 448.
    # 28 -> max-pool 3/3 same -> 10 -> average pool 2/2 -> 5: 16 channels * 5 * 5 = 400 features.
    # Dense: 400 * 3 + 3 = 1,203 (3 classes), 400 * 5 + 5 = 2,005 (5 classes).
    assert n_params(build("ststnet", classes=3)) == 448 + 1203 == 1651
    assert n_params(build("ststnet", classes=5)) == 448 + 2005 == 2453
    # in_channels 2: 3*(2*9)+3 + 5*18+5 + 8*18+8 = 57 + 95 + 152 = 304
    assert n_params(build("ststnet", channels=2)) == 304 + 1203
    # width 2: 6, 10, 16 filters: 6*28 + 10*28 + 16*28 = 896; 32 * 25 = 800 features, 800*3+3 = 2,403
    assert n_params(build("ststnet", width=2.0)) == 896 + 2403


def test_off_apexnet_parameter_counts():
    # Per stream (1 input channel): conv1 5*5*1*6 + 6 = 156, conv2 5*5*6*16 + 16 = 2,416 -> 2,572;
    # two streams 5,144. 28 -> 14 -> 7: 16 * 7 * 7 = 784 per stream, 1,568 concatenated.
    # dense1 1,568*1,024 + 1,024 = 1,606,656; dense2 1,024*1,024 + 1,024 = 1,049,600;
    # output 1,024*3 + 3 = 3,075 (3 classes) or 1,024*5 + 5 = 5,125 (5 classes).
    assert n_params(build("off-apexnet", classes=3)) == 5144 + 1606656 + 1049600 + 3075 == 2664475
    assert n_params(build("off-apexnet", classes=5)) == 5144 + 1606656 + 1049600 + 5125 == 2666525
    assert n_params(build("off-apexnet", channels=2)) == 2664475        # strain never has weights
    # hidden 16: 1,568*16 + 16 = 25,104; 16*16 + 16 = 272; 16*3 + 3 = 51
    assert n_params(build("off-apexnet", hidden=16)) == 5144 + 25104 + 272 + 51


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_more_than_one_frame_is_refused(name):
    model = build(name)
    with pytest.raises(ValueError, match=f"{name} takes one flow image per clip"):
        model(torch.zeros(2, 3, 2, 28, 28))
    with pytest.raises(ValueError, match=name):
        model(torch.zeros(3, 28, 28))
    with pytest.raises(UserError, match=f"{name} takes one optical-flow image per clip: frames must be 1, not 16"):
        build(name, frames=16)


def test_off_apexnet_channels():
    model, x = build("off-apexnet").eval(), flows()
    changed = x.clone()
    changed[:, 2] = torch.randn(2, 1, 28, 28)               # optical strain
    assert torch.equal(model(x), model(changed))
    for channel in (0, 1):                                   # u and v each matter
        changed = x.clone()
        changed[:, channel] += 1
        assert not torch.allclose(model(x), model(changed))
    two = build("off-apexnet", channels=2).eval()
    assert torch.equal(two(x[:, :2]), model(x))              # same seed: same weights
    for channels in (1, 4):
        with pytest.raises(UserError, match=f"in_channels must be 2 .* not {channels}"):
            build("off-apexnet", channels=channels)
    with pytest.raises(ValueError, match="built for 3 channels"):
        model(x[:, :2])


def test_switches_beyond_the_papers():
    model = build("ststnet", batchnorm=True, block_dropout=0.5, hidden=7, fc_dropout=0.9)
    assert sum(isinstance(m, nn.BatchNorm3d) for m in model.modules()) == 3
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5] * 3   # hidden, fc_dropout ignored
    assert n_params(model) == 1651 + 2 * 16
    model = build("off-apexnet", batchnorm=True, block_dropout=0.25, fc_dropout=0.3)
    assert sum(isinstance(m, nn.BatchNorm3d) for m in model.modules()) == 4
    assert sorted(m.p for m in model.modules() if isinstance(m, nn.Dropout)) == [0.25] * 4 + [0.3]
    for name in FLOW_MODELS:
        assert build(name, batchnorm=True, block_dropout=0.5).eval()(flows()).shape == (2, 3)


@pytest.mark.parametrize("size", range(12, 41))
def test_ststnet_pools_as_keras_same_padding(size):
    """TensorFlow "same": out = ceil(s / k), total padding out * k - s, total // 2 of it before;
    padded cells never win a max and do not count in an average."""
    model = build("ststnet", size=size)
    x = torch.randn(2, 3, 1, size, size)                     # negative values too: padding must be -inf
    pool = model.streams[0].pool
    out = -(-size // 3)
    before = (out * 3 - size) // 2
    after = out * 3 - size - before
    expected = F.max_pool2d(F.pad(x[:, :, 0], (before, after, before, after), value=-math.inf), 3)
    assert torch.equal(pool(x)[:, :, 0], expected)
    y = torch.randn(2, 16, 1, out, out)
    pad = (0, out % 2, 0, out % 2)
    sums = F.avg_pool2d(F.pad(y[:, :, 0], pad), 2, divisor_override=1)
    counts = F.avg_pool2d(F.pad(torch.ones(1, 1, out, out), pad), 2, divisor_override=1)
    assert torch.allclose(model.merge_pool(y)[:, :, 0], sums / counts, atol=1e-6)
    assert model.feature_shape == (16, 1, -(-out // 2), -(-out // 2))


def fit_accuracy(model, x, y, max_steps=300):
    """Eval-mode training accuracy once it reaches 100 %, or after ``max_steps`` Adam steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(max_steps):
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        with torch.no_grad():
            accuracy = (model.eval()(x).argmax(1) == y).float().mean().item()
        if accuracy == 1.0:
            break
    return accuracy


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_fits_twelve_flow_images(name):
    y = torch.arange(12) % 3
    # Dropout off: this checks that gradients reach the whole network, not regularisation.
    assert fit_accuracy(build(name, fc_dropout=0.0), flows(n=12), y) == 1.0
    # The check can fail: twelve copies of one image get one prediction, 4 of 12 right.
    same = flows(n=1).expand(12, -1, -1, -1, -1)
    assert fit_accuracy(build(name, fc_dropout=0.0), same, y, max_steps=20) == pytest.approx(1 / 3)


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_layer_table(name):
    model = build(name)
    rows = layer_rows(model, (3, 1, 28, 28))
    assert sum(r.params for r in rows) == n_params(model)
    shapes = {r.name: r.output_shape for r in rows}
    if name == "ststnet":
        assert shapes["streams.2.pool"] == (8, 1, 10, 10)
        assert shapes["merge_pool"] == (16, 1, 5, 5) and shapes["classifier.flatten"] == (400,)
    else:
        assert shapes["u_stream.pool2"] == shapes["v_stream.pool2"] == (16, 1, 7, 7)
        assert shapes["classifier.dense1"] == (1024,) and shapes["classifier.output"] == (3,)
    assert f"trainable parameters: {n_params(model):,}" in format_layer_table(rows)


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_starts_as_in_keras_and_trains_channels_last(name):
    model = build(name)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    assert all(torch.count_nonzero(m.bias) == 0 for m in layers)
    for m in layers:    # Glorot-uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
        fan_in, fan_out = m.weight[0].numel(), m.weight.shape[0] * m.weight[0, 0].numel()
        assert m.weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out))
    # The trainer converts every model to channels_last_3d, which 4-D (Conv2d) weights refuse.
    x = flows()
    expected = model.eval()(x)
    model.to(memory_format=torch.channels_last_3d)
    assert torch.allclose(model(x.contiguous(memory_format=torch.channels_last_3d)), expected, atol=1e-5)


def test_keras_init_covers_conv2d():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 5)
    keras_init(conv)
    bound = math.sqrt(6 / (3 * 25 + 8 * 25))
    assert torch.count_nonzero(conv.bias) == 0
    assert 0.9 * bound <= conv.weight.abs().max() <= bound


@pytest.mark.filterwarnings("ignore::DeprecationWarning")      # torch.jit.load is deprecated in torch 2.13
@pytest.mark.filterwarnings("error::torch.jit.TracerWarning")   # shape checks stay out of traces
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name, size", [("ststnet", 28), ("ststnet", 31), ("off-apexnet", 28)])
def test_export(tmp_path, name, size, fmt):
    # The exporter reads the input shape (in_channels, frames, size) from the sidecar; 31x31
    # exercises both pools' asymmetric "same" padding.
    arch = {"name": name, "num_classes": 3, "in_channels": 3, **COMMON, "size": size}
    model = build(name, size=size).eval()
    weights = save_weights(model, tmp_path / "m.safetensors", arch, ["a", "b", "c"])
    out = export_model(weights, fmt, tmp_path / f"export.{fmt}")
    if fmt == "onnx":
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        run = lambda x: session.run(["logits"], {"clips": x.numpy()})[0]          # noqa: E731
    else:
        traced = torch.jit.load(str(out))
        run = lambda x: traced(x).detach().numpy()                                 # noqa: E731
    for batch in (1, 3):                                     # the batch axis is dynamic
        x = flows(n=batch, size=size)
        logits = run(x)
        assert logits.shape == (batch, 3)
        assert np.abs(logits - model(x).detach().numpy()).max() <= 1e-4
