"""Mistaken predict/export options and damaged weights on the prediction path: one UserError naming
the option or file, found before the weights are loaded or the video is read (the CLI: exit
status 2, one line, no traceback, nothing written), and never a NaN printed as a prediction."""
import json
import math
import os
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from mer3d import Recognizer
from mer3d.cli import main
from mer3d.errors import UserError
from mer3d.inference import backends
from mer3d.inference.backends import OnnxBackend, open_backend
from mer3d.models import create_model
from mer3d.models.export import export_model
from mer3d.models.weights import save_weights
from videos import write_frames

CLASSES = ["surprise", "repression", "happiness"]
ARCH = {"name": "vgg3d", "num_classes": 3, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25, "hidden": 16}
EXTRA = {"data": {"representation": "gray"}, "fps": 200.0, "window_duration_s": 0.04}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "model.safetensors"
    return save_weights(create_model(**ARCH), path, ARCH, CLASSES, extra=EXTRA)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """20 frames that are already face crops (predicted with --face-crop off: no detector runs)."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("f") / "frames"
    write_frames(folder, [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(20)])
    return folder


@pytest.fixture(scope="module")
def recognizer(weights):
    return Recognizer.from_pretrained(weights, precision="fp32")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *names):
    errors = [line for line in err.splitlines() if line.startswith("mer3d: error:")]
    assert code == 2 and "Traceback" not in err and len(errors) == 1, err
    assert all(name in errors[0] for name in names), (names, errors[0])


# ---------------------------------------------------------------- Recognizer.predict_video options

# (keyword arguments, what the message names): the input does not exist, so an option checked
# only after opening the input would report the missing file instead.
API_CASES = {
    "stride 0": ({"stride": 0}, "stride 0"),
    "stride -3": ({"stride": -3}, "stride -3"),
    "stride 2.5": ({"stride": 2.5}, "stride 2.5"),
    "stride text": ({"stride": "8"}, "stride '8'"),
    "stride True": ({"stride": True}, "stride True"),
    "duration inf": ({"duration_s": math.inf}, "duration inf"),
    "duration nan": ({"duration_s": math.nan}, "duration nan"),
    "duration 0": ({"duration_s": 0}, "duration 0"),
    "duration -1": ({"duration_s": -1}, "duration -1"),
    "duration 'inf'": ({"duration_s": "inf"}, "duration 'inf'"),
    "duration word": ({"duration_s": "long"}, "duration 'long'"),
    "duration list": ({"duration_s": [0.5]}, "duration [0.5]"),
    "fps inf": ({"fps": math.inf}, "fps inf"),
    "fps nan": ({"fps": math.nan}, "fps nan"),
    "fps 0": ({"fps": 0}, "fps 0"),
}


@pytest.mark.parametrize("options, named", API_CASES.values(), ids=API_CASES.keys())
def test_bad_predict_options_are_refused_before_the_input_is_read(recognizer, tmp_path, options, named):
    with pytest.raises(UserError) as caught:
        recognizer.predict_video(tmp_path / "missing.mp4", **options)
    assert named in str(caught.value) and "missing.mp4" not in str(caught.value)


def test_a_window_far_longer_than_the_video_is_refused(recognizer, frames):
    with pytest.raises(UserError, match="spans more than"):
        recognizer.predict_video(frames, duration_s=1e300, fps=30, face_crop=False)


# ---------------------------------------------------------------- the predict command's options

def not_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "results.json"


def missing_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "new" / "results.json"


def fifo(tmp_path):
    os.mkfifo(tmp_path / "results.json")    # a device or pipe would be replaced by the results
    return tmp_path / "results.json"


def existing_folder(tmp_path):
    (tmp_path / "results.json").mkdir()
    return tmp_path / "results.json"


# (the options after `predict FRAMES --weights W --fps 30 --face-crop off`, what the message names)
CLI_CASES = {
    "stride 0": (lambda t: ["--stride", "0"], ["--stride 0"]),
    "stride -3": (lambda t: ["--stride", "-3"], ["--stride -3"]),
    "duration inf": (lambda t: ["--duration", "inf"], ["--duration 'inf'"]),
    "duration nan": (lambda t: ["--duration", "nan"], ["--duration 'nan'"]),
    "duration 0": (lambda t: ["--duration", "0"], ["--duration '0'"]),
    "duration -1": (lambda t: ["--duration=-1"], ["--duration '-1'"]),
    "fps inf": (lambda t: ["--fps", "inf"], ["--fps inf"]),
    "out .txt": (lambda t: ["--out", t / "results.txt"], ["--out", "results.txt", ".json or .csv"]),
    "out in a file": (lambda t: ["--out", not_a_folder(t)], ["--out", "is not a folder"]),
    "out under a file": (lambda t: ["--out", missing_under_a_file(t)], ["--out", "is not a folder"]),
    "out a folder": (lambda t: ["--out", existing_folder(t)], ["--out", "is a folder"]),
    "out a fifo": (lambda t: ["--out", fifo(t)], ["--out", "results.json", "is not a regular file"]),
    "render .avi": (lambda t: ["--render", t / "annotated.avi"], ["--render", "annotated.avi", ".mp4"]),
    "render in a file": (lambda t: ["--render", not_a_folder(t).with_suffix(".mp4")], ["--render", "is not a folder"]),
    "render a folder": (lambda t: ["--render", existing_folder(t).rename(t / "v.mp4")], ["--render", "is a folder"]),
}


@pytest.mark.parametrize("options, names", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_bad_predict_options_exit_2_before_any_work(capsys, tmp_path, weights, frames, monkeypatch, options, names):
    def no_loading(*args, **kwargs):
        raise AssertionError("the weights were loaded before the options were checked")
    monkeypatch.setattr(Recognizer, "from_pretrained", no_loading)
    argv = options(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli(capsys, "predict", frames, "--weights", weights, "--fps", "30", "--face-crop", "off",
                             *argv)
    assert_one_line_error(code, err, *names)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and out == ""


def test_an_unwritable_folder_is_refused_up_front(capsys, tmp_path, weights, frames, monkeypatch):
    # Tests may run as root, for whom chmod does not make a folder read-only.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(tmp_path) else real_access(path, mode))
    code, _, err = run_cli(capsys, "predict", frames, "--weights", weights, "--out", tmp_path / "results.json")
    assert_one_line_error(code, err, "--out", "is not writable")
    code, _, err = run_cli(capsys, "export", weights, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert_one_line_error(code, err, "--out", "is not writable")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target, names", [
    (lambda w, clip: ["--out", w.with_suffix(".json")], ["--out", "would overwrite the weights' sidecar"]),
    (lambda w, clip: ["--render", clip], ["--render", "would overwrite the input"]),
], ids=["out onto the sidecar", "render onto the input"])
def test_predict_does_not_overwrite_its_own_inputs(capsys, tmp_path, weights, target, names):
    copy = shutil.copy(weights, tmp_path / "model.safetensors")
    shutil.copy(weights.with_suffix(".json"), tmp_path / "model.json")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not decoded: the check comes first")
    sidecar = (tmp_path / "model.json").read_bytes()
    code, _, err = run_cli(capsys, "predict", clip, "--weights", copy, *target(tmp_path / "model.safetensors", clip))
    assert_one_line_error(code, err, *names)
    assert (tmp_path / "model.json").read_bytes() == sidecar
    assert clip.read_bytes() == b"not decoded: the check comes first"


def test_render_of_a_camera_is_refused_before_opening_it(capsys, tmp_path, weights):
    code, _, err = run_cli(capsys, "predict", "0", "--weights", weights, "--render", tmp_path / "v.mp4")
    assert_one_line_error(code, err, "--render", "not a camera")


def test_save_checks_its_path_first(recognizer, frames, tmp_path):
    result = recognizer.predict_video(frames, fps=30, face_crop=False)
    (tmp_path / "d.json").mkdir()
    for bad, message in [(tmp_path / "r.txt", ".json or .csv"), (tmp_path / "d.json", "is a folder")]:
        with pytest.raises(UserError, match=message):
            result.save(bad)
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]
    assert result.save(tmp_path / "r.csv").is_file()


# ---------------------------------------------------------------- export --out

EXPORT_CASES = {
    "out a folder": (lambda t: t / "existing", ["--out", "is a folder"]),
    "out in a file": (lambda t: t / "file" / "m.onnx", ["--out", "is not a folder"]),
    "out .json": (lambda t: t / "m.json", ["--out", "m.json", "another extension"]),
    "sidecar a folder": (lambda t: t / "sidecar.onnx", ["--out", "sidecar.json", "is a folder"]),
}


@pytest.mark.parametrize("out, names", EXPORT_CASES.values(), ids=EXPORT_CASES.keys())
def test_bad_export_out_exits_2_before_exporting(capsys, tmp_path, weights, monkeypatch, out, names):
    (tmp_path / "existing").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "sidecar.json").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr("mer3d.models.export.load_weights", lambda *a: pytest.fail("loaded before the check"))
    code, out_text, err = run_cli(capsys, "export", weights, "--format", "onnx", "--out", out(tmp_path))
    assert_one_line_error(code, err, *names)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and out_text == ""


# ---------------------------------------------------------------- non-finite predictions

def test_a_nan_prediction_is_an_error_naming_input_and_window(capsys, tmp_path, weights, frames, monkeypatch):
    nan_logits = lambda self, x: np.full((len(x), 3), np.nan, dtype=np.float32)
    monkeypatch.setattr(backends.TorchBackend, "predict_logits", nan_logits)
    out = tmp_path / "results.json"
    code, stdout, err = run_cli(capsys, "predict", frames, "--weights", weights, "--fps", "30",
                                "--face-crop", "off", "--out", out)
    assert_one_line_error(code, err, str(frames), "window of frames 0-", "not a number")
    assert "nan" not in stdout and not out.exists()
    recognizer = Recognizer.from_pretrained(weights)
    with pytest.raises(UserError, match="the clip: the network's output is not a number"):
        recognizer.predict_clip([np.zeros((40, 40, 3), np.uint8)] * 8, face_crop=False)


def test_nan_weights_never_reach_prediction(capsys, tmp_path, frames):
    model = create_model(**ARCH)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(math.nan)
    nan = save_weights(model, tmp_path / "nan.safetensors", ARCH, CLASSES, extra=EXTRA)
    for backend in ("torch", "onnxruntime"):
        code, stdout, err = run_cli(capsys, "predict", frames, "--weights", nan, "--fps", "30", "--face-crop", "off",
                                    "--backend", backend)
        assert_one_line_error(code, err, "nan.safetensors", "NaN")
        assert stdout == ""


# ---------------------------------------------------------------- the ONNX backend's sidecar

@pytest.fixture(scope="module")
def onnx_export(weights, tmp_path_factory):
    return export_model(weights, "onnx", tmp_path_factory.mktemp("x") / "model.onnx")


ONNX_SIDECAR_CASES = {
    "fewer classes than outputs": (lambda m: {**m, "classes": CLASSES[:2]}, "2 class names for a network with 3"),
    "empty class list": (lambda m: {**m, "classes": []}, "non-empty list of class names"),
    "duplicate class": (lambda m: {**m, "classes": ["a", "a", "b"]}, "listed more than once"),
    "architecture a list": (lambda m: {**m, "architecture": [1, 2]}, "'architecture' must be an object"),
    "unknown model": (lambda m: {**m, "architecture": {**m["architecture"], "name": "x"}}, "no known model"),
    "data a string": (lambda m: {**m, "data": "gray"}, "'data' must be an object"),
}


@pytest.mark.parametrize("change, message", ONNX_SIDECAR_CASES.values(), ids=ONNX_SIDECAR_CASES.keys())
def test_the_onnx_backend_checks_the_sidecar_too(tmp_path, onnx_export, change, message):
    path = shutil.copy(onnx_export, tmp_path / "model.onnx")
    meta = json.loads(onnx_export.with_suffix(".json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(change(meta)))
    with pytest.raises(UserError) as caught:
        OnnxBackend(path)
    assert str(tmp_path / "model.json") in str(caught.value) and message in str(caught.value)


def test_an_onnx_export_with_nan_weights_is_refused(tmp_path, onnx_export):
    model = onnx.load(str(onnx_export))
    first = next(t for t in model.graph.initializer if numpy_helper.to_array(t).dtype == np.float32)
    first.CopyFrom(numpy_helper.from_array(np.full_like(numpy_helper.to_array(first), np.nan), first.name))
    onnx.save(model, str(tmp_path / "model.onnx"))
    shutil.copy(onnx_export.with_suffix(".json"), tmp_path / "model.json")
    with pytest.raises(UserError, match=f"{tmp_path / 'model.onnx'}: weight .* holds NaN"):
        open_backend(tmp_path / "model.onnx", "onnxruntime")
    assert OnnxBackend(onnx_export).classes == CLASSES       # the sound export still opens
