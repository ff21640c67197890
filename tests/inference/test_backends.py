import json

import numpy as np
import pytest
import torch
from torch import nn

from mer3d.errors import UserError
from mer3d.inference.backends import OnnxBackend, open_backend
from mer3d.models import create_model
from mer3d.models.export import export_model
from mer3d.models.weights import save_weights

ARCH = {"name": "vgg3d", "num_classes": 3, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25, "hidden": 16}


def save_tiny(path, seed=0):
    """Tiny weights whose probabilities depend on the input (the default init gives every clip the
    same logits, which would make parity trivial)."""
    torch.manual_seed(seed)
    model = create_model(**ARCH)
    for layer in model.modules():
        if isinstance(layer, (nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    model.classifier.dense2.weight.data *= 5
    return save_weights(model, path, ARCH, ["a", "b", "c"], extra={"data": {"frames": 8, "size": 32}})


@pytest.fixture
def weights(tmp_path):
    return save_tiny(tmp_path / "model.safetensors")


def probabilities(backend, x: np.ndarray) -> np.ndarray:
    return torch.from_numpy(backend.predict_logits(x)).softmax(1).numpy()


def test_onnxruntime_gives_the_probabilities_of_torch_fp32(weights, tmp_path):
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 32, 32), dtype=np.float32)
    reference = open_backend(weights, "torch", "fp32")
    exported = export_model(weights, "onnx", tmp_path / "exported.onnx")
    for backend in (open_backend(exported, "onnxruntime"), open_backend(weights, "onnxruntime")):
        assert backend.classes == ["a", "b", "c"] and backend.input_shape == (1, 8, 32, 32)
        assert backend.meta["data"] == {"frames": 8, "size": 32}
        assert np.abs(probabilities(backend, x) - probabilities(reference, x)).max() <= 1e-4
        assert backend.predict_logits(x[:1]).shape == (1, 3)
    # bf16 is the torch default; it rounds weights and activations, so only the top class is compared.
    bf16 = open_backend(weights, "torch")
    assert (probabilities(bf16, x).argmax(1) == probabilities(reference, x).argmax(1)).all()


def test_weights_are_exported_once_and_again_when_they_change(weights, tmp_path):
    first = OnnxBackend(weights)
    cached = list(tmp_path.glob(".model.*.onnx"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    OnnxBackend(weights)
    assert cached[0].stat().st_mtime_ns == stamp                  # reused, not re-exported
    save_tiny(weights, seed=1)                                    # retrained in place
    x = np.random.default_rng(0).normal(size=(1, 1, 8, 32, 32)).astype(np.float32)   # zeros give 0 logits (zero biases)
    assert not np.allclose(OnnxBackend(weights).predict_logits(x), first.predict_logits(x))
    assert len(list(tmp_path.glob(".model.*.onnx"))) == 2


def test_files_that_are_not_ours_are_user_errors(weights, tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(UserError, match="garbage.json: sidecar JSON missing"):
        open_backend(garbage, "onnxruntime")
    (tmp_path / "garbage.json").write_text(json.dumps({**json.loads(weights.with_suffix(".json").read_text()),
                                                      "export_format": "onnx"}))
    with pytest.raises(UserError, match="garbage.onnx: onnxruntime cannot load it"):
        open_backend(garbage, "onnxruntime")
    weights.with_suffix(".json").unlink()
    for backend in ("torch", "onnxruntime"):
        with pytest.raises(UserError, match="model.json: sidecar JSON missing"):
            open_backend(weights, backend)


def test_an_export_must_fit_its_sidecar(weights, tmp_path):
    exported = export_model(weights, "onnx", tmp_path / "exported.onnx")
    sidecar = exported.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "export_format": "torchscript"}))
    with pytest.raises(UserError, match="describes no ONNX export"):
        open_backend(exported, "onnxruntime")
    meta["architecture"]["frames"] = 16                           # a sidecar copied from another model
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="do not fit exported.json"):
        open_backend(exported, "onnxruntime")


def test_bad_choices_and_shapes(weights):
    with pytest.raises(UserError, match="unknown backend 'tensorrt'"):
        open_backend(weights, "tensorrt")
    with pytest.raises(UserError, match="unknown precision 'fp16'"):
        open_backend(weights, "torch", "fp16")
    with pytest.raises(ValueError, match=r"clips of shape \(N, 1, 8, 32, 32\) expected"):
        open_backend(weights, "torch").predict_logits(np.zeros((1, 1, 16, 32, 32), np.float32))
