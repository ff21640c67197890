"""`mer3d predict` / `mer3d export` and the Recognizer API on short videos made from real face photos."""
import json

import numpy as np
import pytest
import torch

from mer3d import Recognizer
from mer3d.cli import main
from mer3d.models import create_model
from mer3d.models.weights import save_weights
from videos import centred_on_canvas, still_head_clip, write_frames, write_video

CLASSES = ["surprise", "repression", "happiness"]
ARCH = {"name": "vgg3d", "num_classes": 3, "in_channels": 1, "frames": 8, "size": 32, "width": 0.25, "hidden": 16}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(**ARCH)
    for m in model.modules():     # spread the logits so that probabilities differ between clips
        if isinstance(m, (torch.nn.Conv3d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight)
    path = tmp_path_factory.mktemp("w") / "model.safetensors"
    return save_weights(model, path, ARCH, CLASSES, extra={
        "data": {"representation": "diff"}, "fps": 200.0, "typical_duration_s": 0.3, "window_duration_s": 0.04})


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    frame = centred_on_canvas("grace_hopper", face_width=110, canvas_hw=(240, 320))
    return write_video(tmp_path_factory.mktemp("v") / "face.mp4", still_head_clip(frame, 30, seed=1), fps=30)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_schema(capsys, tmp_path, weights, face_video):
    out = tmp_path / "results.json"
    code, stdout, err = run_cli(capsys, "predict", face_video, "--weights", weights, "--duration", "0.5",
                                "--out", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert set(result) >= {"input", "fps", "classes", "windows", "no_face_spans"}
    assert result["fps"] == 30 and result["classes"] == CLASSES and result["no_face_spans"] == []
    windows = result["windows"]
    assert [w["start_frame"] for w in windows] == [0, 8]          # span 15 frames, stride 8, 30 frames
    for w in windows:
        assert set(w) >= {"start_s", "end_s", "start_frame", "end_frame", "face_box", "probabilities", "label"}
        assert w["end_frame"] - w["start_frame"] + 1 == 15
        assert w["start_s"] == pytest.approx(w["start_frame"] / 30) and w["end_s"] == pytest.approx(0.5 + w["start_s"])
        x, y, bw, bh = w["face_box"]
        assert 100 < x + bw / 2 < 220 and 60 < y + bh / 2 < 180      # the face is centred on the canvas
        assert sum(w["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        assert w["label"] == max(w["probabilities"], key=w["probabilities"].get)
    assert stdout.count(" s  frames ") == 2                       # each window printed as decided


def test_no_face_anywhere_is_a_one_line_error(capsys, tmp_path, weights):
    noise = [np.random.default_rng(i).integers(0, 255, (120, 160, 3), dtype=np.uint8) for i in range(20)]
    video = write_video(tmp_path / "noise.mp4", noise, fps=30)
    code, _, err = run_cli(capsys, "predict", video, "--weights", weights, "--duration", "0.3")
    assert code == 2 and "no face found anywhere" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("bad, message", [("missing.mp4", "missing.mp4"), ("notes.txt", "notes.txt")])
def test_bad_inputs(capsys, tmp_path, weights, bad, message):
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = run_cli(capsys, "predict", tmp_path / bad, "--weights", weights)
    assert code == 2 and message in err and "Traceback" not in err


def test_foreign_weights_are_refused(capsys, tmp_path, face_video):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"\x80\x04 pickle")
    code, _, err = run_cli(capsys, "predict", face_video, "--weights", fake)
    assert code == 2 and "sidecar" in err


def test_onnxruntime_matches_torch_and_export_cli(capsys, tmp_path, weights, face_video):
    torch_result = Recognizer.from_pretrained(weights, precision="fp32").predict_video(face_video, duration_s=0.5)
    onnx_path = tmp_path / "export" / "vgg3d.onnx"
    code, _, err = run_cli(capsys, "export", weights, "--format", "onnx", "--out", onnx_path)
    assert code == 0, err
    ort_result = Recognizer.from_pretrained(onnx_path, backend="onnxruntime").predict_video(face_video, duration_s=0.5)
    for a, b in zip(torch_result.windows, ort_result.windows):
        assert a.face_box == b.face_box
        assert max(abs(a.probabilities[c] - b.probabilities[c]) for c in CLASSES) <= 1e-4


def test_csv_output_and_render(capsys, tmp_path, weights, face_video):
    import av

    code, _, err = run_cli(capsys, "predict", face_video, "--weights", weights, "--duration", "0.5",
                           "--out", tmp_path / "r.csv", "--render", tmp_path / "annotated.mp4")
    assert code == 0, err
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0].startswith("start_s,end_s,start_frame,end_frame,face_box,label,p_surprise") and len(rows) == 3
    with av.open(str(tmp_path / "annotated.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 30


def test_frames_folder_and_predict_clip(tmp_path, weights):
    frame = centred_on_canvas("astronaut", face_width=100, canvas_hw=(240, 320))
    frames = still_head_clip(frame, 12, seed=2)
    write_frames(tmp_path / "clip", frames)
    recognizer = Recognizer.from_pretrained(weights)
    result = recognizer.predict_video(tmp_path / "clip", fps=200, stride=4, duration_s="window")
    assert [w.start_frame for w in result.windows] == [0, 4]           # 0.04 s at 200 fps = 8 frames
    assert result.window_span_s == pytest.approx(0.04) and result.window_frames == recognizer.frames == 8
    assert any("8 input frames (0.040 s at 200 fps)" in note for note in result.notes)
    default = recognizer.predict_video(tmp_path / "clip", fps=200, stride=4)   # the trained speed by default
    assert [(w.start_frame, w.end_frame) for w in default.windows] == [(w.start_frame, w.end_frame)
                                                                       for w in result.windows]
    whole = recognizer.predict_video(tmp_path / "clip", fps=200, duration_s="typical")   # 0.3 s > the 12 frames
    assert [(w.start_frame, w.end_frame) for w in whole.windows] == [(0, 11)]
    clip = recognizer.predict_clip(frames)
    assert clip.label in CLASSES and sum(clip.probabilities.values()) == pytest.approx(1, abs=1e-4)


def test_already_cropped_faces_with_face_crop_off(capsys, tmp_path, weights):
    from videos import tight_crop

    frames = still_head_clip(tight_crop("grace_hopper", widen=0.02), 10, seed=3)   # the face fills the frame
    write_frames(tmp_path / "Cropped", frames, pattern="reg_img{}.jpg")
    code, _, err = run_cli(capsys, "predict", tmp_path / "Cropped", "--weights", weights, "--fps", "200")
    assert code == 2 and "--face-crop off" in err
    code, _, err = run_cli(capsys, "predict", tmp_path / "Cropped", "--weights", weights, "--fps", "200",
                           "--face-crop", "off", "--out", tmp_path / "r.json")
    assert code == 0, err
    window = json.loads((tmp_path / "r.json").read_text())["windows"][0]
    assert window["face_box"] == [0, 0, frames[0].shape[1], frames[0].shape[0]] and window["label"] in CLASSES
