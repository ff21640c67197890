import json

import pytest
import torch

from mer3d.errors import UserError
from mer3d.models import create_model
from mer3d.models.weights import load_weights, save_weights

ARCH = {"name": "vgg3d", "num_classes": 3, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25, "hidden": 16}


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = create_model(**ARCH).eval()
    path = save_weights(model, tmp_path / "m.safetensors", ARCH, ["a", "b", "c"], extra={"fps": 200})
    loaded, meta = load_weights(path)
    x = torch.randn(2, 1, 8, 32, 32)
    assert torch.equal(model(x), loaded(x))
    assert meta["classes"] == ["a", "b", "c"] and meta["fps"] == 200


def test_foreign_or_broken_files_are_refused(tmp_path):
    model = create_model(**ARCH)
    path = save_weights(model, tmp_path / "m.safetensors", ARCH, ["a", "b", "c"])
    path.with_suffix(".json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(UserError, match="not a mer3d weights sidecar"):
        load_weights(path)
    with pytest.raises(UserError, match="weights file not found"):
        load_weights(tmp_path / "none.safetensors")
    other = save_weights(model, tmp_path / "o.safetensors", ARCH, ["a", "b", "c"])
    other.write_bytes(b"\x80\x04not safetensors")           # e.g. a pickle someone renamed
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_weights(other)


def test_weights_that_do_not_fit_the_sidecar(tmp_path):
    path = save_weights(create_model(**ARCH), tmp_path / "m.safetensors", ARCH, ["a", "b", "c"])
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["architecture"]["num_classes"] = 5
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="do not fit the architecture"):
        load_weights(path)
