import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from mer3d.errors import UserError
from mer3d.models import create_model
from mer3d.models.export import export_model
from mer3d.training.run_dir import resolve_weights
from mer3d.models.weights import save_weights

ARCH = {"name": "vgg3d", "num_classes": 3, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25, "hidden": 16}
CLASSES = ["a", "b", "c"]


def tiny_model() -> nn.Module:
    """A tiny network whose probabilities depend on the input: with the default init the signal
    dies before the classifier and every clip gets the same logits, which would make parity trivial."""
    torch.manual_seed(0)
    model = create_model(**ARCH)
    for layer in model.modules():
        if isinstance(layer, (nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    model.classifier.dense2.weight.data *= 5
    return model.eval()


@pytest.fixture
def weights(tmp_path):
    return save_weights(tiny_model(), tmp_path / "m.safetensors", ARCH, CLASSES, extra={"fps": 200})


def run_export(fmt: str, path, x: torch.Tensor) -> np.ndarray:
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(["logits"], {"clips": x.numpy()})[0]
    return torch.jit.load(str(path))(x).detach().numpy()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")      # torch.jit.load is deprecated in torch 2.13
@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("torchscript", ".pt")])
def test_export_gives_the_probabilities_of_the_pytorch_model(weights, tmp_path, fmt, suffix):
    out = export_model(weights, fmt, tmp_path / f"export{suffix}")
    model = tiny_model()
    for batch in (1, 3):                                       # the batch axis is dynamic
        x = torch.randn(batch, 1, 8, 32, 32)
        expected = model(x).softmax(1).detach().numpy()
        probs = torch.from_numpy(run_export(fmt, out, x)).softmax(1).numpy()
        assert probs.shape == (batch, 3)
        assert np.abs(probs - expected).max() <= 1e-4
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar == {**json.loads(weights.with_suffix(".json").read_text()), "export_format": fmt}


def test_export_refuses_bad_requests(weights, tmp_path):
    with pytest.raises(UserError, match="unknown export format 'tflite'"):
        export_model(weights, "tflite", tmp_path / "m.tflite")
    with pytest.raises(UserError, match="would overwrite"):      # m.onnx's sidecar is m.json, the weights'
        export_model(weights, "onnx", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def make_run(root, folds=(), final=False):
    """A run folder with config.yaml, the given folds' weights and optionally a final model."""
    root.mkdir()
    (root / "config.yaml").write_text("seed: 0\n")
    for fold in folds:
        save_weights(tiny_model(), root / "folds" / fold / "model.safetensors", ARCH, CLASSES)
    if final:
        save_weights(tiny_model(), root / "model.safetensors", ARCH, CLASSES)
    return root


def test_resolve_weights_of_a_run_folder(tmp_path, weights):
    assert resolve_weights(weights) == weights
    one = make_run(tmp_path / "one", ["sub01"])
    assert resolve_weights(one) == one / "folds" / "sub01" / "model.safetensors"
    final = make_run(tmp_path / "final", ["sub01", "sub02"], final=True)
    assert resolve_weights(final) == final / "model.safetensors"
    two = make_run(tmp_path / "two", ["sub01", "sub02"])
    with pytest.raises(UserError, match="2 folds and no final model.safetensors") as error:
        resolve_weights(two)
    assert f"{two}/folds/sub01/model.safetensors, {two}/folds/sub02/model.safetensors" in str(error.value)


def test_resolve_weights_refuses_other_paths(tmp_path):
    with pytest.raises(UserError, match="holds no trained weights yet"):
        resolve_weights(make_run(tmp_path / "empty"))
    with pytest.raises(UserError, match="not a mer3d run folder"):
        resolve_weights(tmp_path)
    for path in (tmp_path / "missing.safetensors", tmp_path / "empty" / "config.yaml"):
        with pytest.raises(UserError, match="not a .safetensors weights file or a run folder"):
            resolve_weights(path)
