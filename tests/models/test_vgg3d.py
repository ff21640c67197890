import pytest
import torch

from mer3d.errors import UserError
from mer3d.models import create_model, layer_rows, model_names


def rows_by_name(model, shape):
    return {r.name: r for r in layer_rows(model, shape)}


def test_paper_network_shapes_and_parameters():
    model = create_model("vgg3d", num_classes=5, in_channels=1)
    rows = rows_by_name(model, (1, 16, 128, 128))
    assert rows["features.block1.pool"].output_shape == (32, 16, 64, 64)   # pool (1,2,2) keeps time
    assert rows["features.block5.dropout"].output_shape == (128, 1, 4, 4)
    assert rows["classifier.flatten"].output_shape == (2048,)
    assert rows["classifier.dense1"].output_shape == (1024,)
    assert rows["classifier.dense2"].output_shape == (5,)
    convs = [r for r in rows.values() if r.kind in ("Conv3d", "Float32Conv3d")]
    assert [r.output_shape[0] for r in convs] == [32, 32, 64, 64, 128, 128, 128, 128]
    # 8 convs (27 * cin * cout + cout each) + dense 2048*1024+1024 + dense 1024*5+5 + BN gamma/beta.
    conv_params = sum(27 * i * o + o for i, o in [(1, 32), (32, 32), (32, 64), (64, 64), (64, 128),
                                                  (128, 128), (128, 128), (128, 128)])
    bn_params = 2 * (32 + 32 + 64 + 128 + 128)
    expected = conv_params + 2048 * 1024 + 1024 + 1024 * 5 + 5 + bn_params
    assert sum(r.params for r in rows.values()) == expected == 3_847_461
    assert sum(p.numel() for p in model.parameters()) == expected


def test_casme_has_four_outputs_and_colour_input():
    model = create_model("vgg3d", num_classes=4, in_channels=3)
    out = model.eval()(torch.zeros(2, 3, 16, 128, 128))
    assert out.shape == (2, 4)


def test_reduced_sizes_follow_the_same_rule():
    # 64x64 -> 128 x 1 x 2 x 2 = 512 features (2,275,365 parameters counting BN statistics, as Keras does)
    model = create_model("vgg3d", num_classes=5, size=64)
    rows = rows_by_name(model, (1, 16, 64, 64))
    assert rows["classifier.flatten"].output_shape == (512,)
    assert sum(r.params + r.buffers for r in rows.values()) == 2_275_365
    tiny = create_model("vgg3d", num_classes=3, frames=8, size=32, width=0.25, hidden=32)
    assert tiny.eval()(torch.zeros(2, 1, 8, 32, 32)).shape == (2, 3)


def test_no_batchnorm_or_dropout_when_switched_off():
    model = create_model("vgg3d", num_classes=5, batchnorm=False, block_dropout=0, fc_dropout=0)
    kinds = {type(m).__name__ for m in model.modules()}
    assert "BatchNorm3d" not in kinds
    assert sum(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules()) == 0


def test_unknown_model_is_a_user_error():
    assert "vgg3d" in model_names()
    with pytest.raises(UserError, match="unknown model 'nope'"):
        create_model("nope", num_classes=5)
