"""Damaged or mismatched weights and sidecars: each is one UserError naming the file at fault,
raised while loading, never a traceback or a model that predicts with the wrong labels."""
import json
import math
import re

import pytest
import torch

from mer3d.errors import UserError
from mer3d.models import create_model
from mer3d.models.weights import load_weights, read_sidecar, save_weights
from mer3d.training.run_dir import resolve_weights

ARCH = {"name": "vgg3d", "num_classes": 3, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25, "hidden": 16}
CLASSES = ["a", "b", "c"]


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    return save_weights(create_model(**ARCH), tmp_path / "m.safetensors", ARCH, CLASSES, extra={"fps": 200.0})


def edit_sidecar(weights, change):
    meta = json.loads(weights.with_suffix(".json").read_text())
    meta = change(meta)
    weights.with_suffix(".json").write_text(json.dumps(meta))


def setting(key, value):
    return lambda meta: {**meta, key: value}


def arch_setting(key, value):
    return lambda meta: {**meta, "architecture": {**meta["architecture"], key: value}}


def arch_without(key):
    return lambda meta: {**meta, "architecture": {k: v for k, v in meta["architecture"].items() if k != key}}


# (sidecar change, what the message says) -- every message also names the sidecar, m.json.
SIDECAR_CASES = {
    "fewer classes than outputs": (setting("classes", ["a", "b"]), "2 class names for a network with 3 outputs"),
    "more classes than outputs": (setting("classes", ["a", "b", "c", "d"]), "4 class names for a network with 3"),
    "empty class list": (setting("classes", []), "non-empty list of class names"),
    "no class list": (lambda meta: {k: v for k, v in meta.items() if k != "classes"}, "non-empty list"),
    "classes a string": (setting("classes", "abc"), "non-empty list of class names"),
    "classes an object": (setting("classes", {"a": 0}), "non-empty list of class names"),
    "duplicate class": (setting("classes", ["a", "a", "b"]), "class 'a' is listed more than once"),
    "empty class name": (setting("classes", ["a", "", "c"]), "non-empty strings, not ''"),
    "number as class name": (setting("classes", ["a", 1, "c"]), "non-empty strings, not 1"),
    "architecture a list": (setting("architecture", ["vgg3d", 3]), "'architecture' must be an object"),
    "architecture a string": (setting("architecture", "vgg3d"), "'architecture' must be an object"),
    "no architecture": (lambda meta: {k: v for k, v in meta.items() if k != "architecture"},
                        "'architecture' must be an object"),
    "unknown model": (arch_setting("name", "resnet50"), "architecture names no known model ('resnet50'"),
    "model name a number": (arch_setting("name", 7), "architecture names no known model (7"),
    "argument the model lacks": (arch_setting("depth", 3), "model vgg3d takes no argument 'depth'"),
    "no num_classes": (arch_without("num_classes"), "architecture lacks 'num_classes'"),
    "num_classes text": (arch_setting("num_classes", "3"), "num_classes must be a positive integer, not '3'"),
    "num_classes true": (arch_setting("num_classes", True), "num_classes must be a positive integer"),
    "num_classes zero": (arch_setting("num_classes", 0), "num_classes must be a positive integer"),
    "negative size": (arch_setting("size", -32), "size must be a positive integer, not -32"),
    "fractional frames": (arch_setting("frames", 8.5), "frames must be a positive integer"),
    "width text": (arch_setting("width", "wide"), "width must be a positive number, not 'wide'"),
    "width NaN": (arch_setting("width", math.nan), "width must be a positive number"),
    "dropout above 1": (arch_setting("fc_dropout", 1.5), "fc_dropout must be a number from 0"),
    "batchnorm text": (arch_setting("batchnorm", "yes"), "batchnorm must be true or false"),
    "sidecar a list": (lambda meta: [meta], "not a mer3d weights sidecar"),
    "sidecar a number": (lambda meta: 3, "not a mer3d weights sidecar"),
    "sidecar a string": (lambda meta: "mer3d-weights/1", "not a mer3d weights sidecar"),
    "data a string": (setting("data", "gray"), "'data' must be an object of data settings, not str"),
    "data a list": (setting("data", [1, 2]), "'data' must be an object"),
    "representation a list": (setting("data", {"representation": ["gray"]}), "data.representation must be a name"),
    "fps text": (setting("fps", "fast"), "fps must be a positive number or null, not 'fast'"),
    "fps zero": (setting("fps", 0), "fps must be a positive number or null"),
    "window duration NaN": (setting("window_duration_s", math.nan), "window_duration_s must be a positive number"),
    "typical duration negative": (setting("typical_duration_s", -0.3), "typical_duration_s must be a positive"),
    "typical duration infinite": (setting("typical_duration_s", math.inf), "typical_duration_s must be a positive"),
}


@pytest.mark.parametrize("change, message", SIDECAR_CASES.values(), ids=SIDECAR_CASES.keys())
def test_a_bad_sidecar_is_one_error_naming_it(weights, change, message):
    edit_sidecar(weights, change)
    for read in (read_sidecar, load_weights):     # the ONNX backend reads only the sidecar
        with pytest.raises(UserError) as caught:
            read(weights)
        assert "m.json" in str(caught.value) and message in str(caught.value)
        assert "\n" not in str(caught.value)


def nan_weights(path):
    model = create_model(**ARCH)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(math.nan)
    save_weights(model, path, ARCH, CLASSES)


def one_infinite_tensor(path):
    model = create_model(**ARCH)
    with torch.no_grad():
        next(model.parameters())[0].fill_(math.inf)
    save_weights(model, path, ARCH, CLASSES)


def five_outputs_three_names(path):
    """The tester's case: a sidecar naming 3 classes beside a network with 5 outputs."""
    arch = {**ARCH, "num_classes": 5}
    save_weights(create_model(**arch), path, arch, CLASSES)


def replace_weights(data):
    def damage(path):
        save_weights(create_model(**ARCH), path, ARCH, CLASSES)
        path.write_bytes(data(path.read_bytes()))
    return damage


def replace_sidecar(data):
    def damage(path):
        save_weights(create_model(**ARCH), path, ARCH, CLASSES)
        path.with_suffix(".json").write_bytes(data)
    return damage


def folder_as_weights(path):
    path.mkdir()
    path.with_suffix(".json").write_text(json.dumps({"format": "mer3d-weights/1"}))


def folder_as_sidecar(path):
    save_weights(create_model(**ARCH), path, ARCH, CLASSES)
    path.with_suffix(".json").unlink()
    path.with_suffix(".json").mkdir()


def no_sidecar(path):
    save_weights(create_model(**ARCH), path, ARCH, CLASSES)
    path.with_suffix(".json").unlink()


# (how m.safetensors or its sidecar is damaged, the file the message names, what it says)
FILE_CASES = {
    "all NaN": (nan_weights, "m.safetensors", "holds NaN or infinite values"),
    "one infinite tensor": (one_infinite_tensor, "m.safetensors", "holds NaN or infinite values"),
    "5 outputs, 3 class names": (five_outputs_three_names, "m.json", "3 class names for a network with 5 outputs"),
    "text file": (replace_weights(lambda raw: b"just some notes\n"), "m.safetensors", "not a readable safetensors"),
    "empty file": (replace_weights(lambda raw: b""), "m.safetensors", "not a readable safetensors"),
    "truncated": (replace_weights(lambda raw: raw[: len(raw) // 2]), "m.safetensors", "not a readable safetensors"),
    "header only": (replace_weights(lambda raw: raw[:20]), "m.safetensors", "not a readable safetensors"),
    "a folder": (folder_as_weights, "m.safetensors", "is a folder, not a weights file"),
    "binary sidecar": (replace_sidecar(bytes(range(256))), "m.json", "not valid JSON"),
    "truncated sidecar": (replace_sidecar(b'{"format": "mer3d-weights/1", "archi'), "m.json", "not valid JSON"),
    "empty sidecar": (replace_sidecar(b""), "m.json", "not valid JSON"),
    "sidecar a folder": (folder_as_sidecar, "m.json", "sidecar JSON missing"),
    "no sidecar": (no_sidecar, "m.json", "sidecar JSON missing"),
}


@pytest.mark.parametrize("damage, named, message", FILE_CASES.values(), ids=FILE_CASES.keys())
def test_damaged_weights_are_one_error_naming_the_file(tmp_path, damage, named, message):
    path = tmp_path / "m.safetensors"
    damage(path)
    with pytest.raises(UserError) as caught:
        load_weights(path)
    assert str(tmp_path / named) in str(caught.value) and message in str(caught.value)


def test_sound_weights_still_load(weights):
    """The checks refuse only what is wrong: the fixture's weights (with an fps) load."""
    model, meta = load_weights(weights)
    assert meta["classes"] == CLASSES and model(torch.zeros(1, 1, 8, 32, 32)).shape == (1, 3)


@pytest.mark.parametrize("layout, message", [
    ({"config.yaml": "x: 1\n"}, "holds no trained weights yet"),
    ({}, "not a mer3d run folder (no config.yaml)"),
    ({"config.yaml": "x: 1\n", "folds/1/notes.txt": "", "folds/2/notes.txt": ""}, "holds no trained weights yet"),
], ids=["run without model", "folder without config", "folds without models"])
def test_run_folder_without_weights(tmp_path, layout, message):
    run = tmp_path / "run"
    run.mkdir()
    for name, text in layout.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    with pytest.raises(UserError) as caught:
        resolve_weights(run)
    assert str(run) in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("representation", ["flow", "flow+strain", "apex-flow"])
def test_settings_whose_input_the_network_cannot_take_are_refused(weights, backend, representation):
    from mer3d.inference.backends import open_backend
    edit_sidecar(weights, setting("data", {"representation": representation, "size": 32, "frames": 8, "channels": 1}))
    with pytest.raises(UserError, match=re.escape(f"{weights}: its settings give {representation} input of")):
        open_backend(weights, backend, "fp32")
