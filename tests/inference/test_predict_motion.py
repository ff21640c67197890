"""`mer3d predict` and the Recognizer with weights trained on motion inputs (optical flow of every
frame, and the onset-to-apex flow of STSTNet), on frames and videos made from real face photos."""
import json
import math

import cv2
import numpy as np
import pytest
import torch

from conftest import TINY
from mer3d import Recognizer
from mer3d.cli import main
from mer3d.config import load_config
from mer3d.data.demo import FPS as DEMO_FPS
from mer3d.training.trainer import train
from videos import centred_on_canvas, moving_clip, tight_crop, write_frames, write_video

COMMON = ["data.flow=dis", "data.workers=1", "train.epochs=1", "protocol.name=kfold", "protocol.k=2",
          "train.threads=1", "model.width=0.25"]
WINDOW_KEYS = {"start_s", "end_s", "start_frame", "end_frame", "face_box", "probabilities", "label"}


def trained_run(path, demo_root, cache, preset, *overrides):
    """A tiny run with its final model (RUN/model.safetensors), as `mer3d train` leaves it."""
    config = load_config(preset, overrides=[*COMMON, f"dataset.root={demo_root}", f"data.cache_dir={cache}",
                                            *overrides])
    train(config, path)
    return path


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory, demo_root):
    base = tmp_path_factory.mktemp("flow")
    return trained_run(base / "run", demo_root, base / "cache", "paper-casme2", *TINY, "data.representation=flow",
                       "data.flow_size=48")


@pytest.fixture(scope="module")
def apex_run(tmp_path_factory, demo_root):
    base = tmp_path_factory.mktemp("apex")
    return trained_run(base / "run", demo_root, base / "cache", "ststnet-casme2", "data.size=28", "data.flow_size=32")


@pytest.fixture(scope="module")
def moving_frames(tmp_path_factory):
    """72 frames at 200 fps (0.36 s, more than the demo's typical micro-expression) of a face
    drifting right, as a frames folder."""
    frame = centred_on_canvas("grace_hopper", face_width=110, canvas_hw=(240, 320))
    frames = moving_clip(frame, [(0.25 * i, 0.0) for i in range(72)])
    folder = tmp_path_factory.mktemp("frames") / "clip"
    write_frames(folder, frames)
    return folder, frames


def gray_clip(size, shifts):
    """Preprocessed uint8 frames (T, size, size, 1) of a face crop moved by ``shifts`` pixels."""
    frames = moving_clip(tight_crop("grace_hopper", widen=0.1), shifts)
    return np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (size, size), interpolation=cv2.INTER_AREA)
                     for f in frames])[..., None]


def frames_in(seconds, fps=DEMO_FPS):
    """Input frames a span of ``seconds`` covers, rounded half up."""
    return math.floor(seconds * fps + 0.5)


def check_windows(result, classes):
    assert result.windows
    for window in result.windows:
        probs = np.array([window.probabilities[c] for c in classes])
        assert np.isfinite(probs).all() and probs.sum() == pytest.approx(1, abs=1e-4)
        assert window.label == classes[int(probs.argmax())]


def test_flow_network_input_is_the_training_representation(flow_run):
    recognizer = Recognizer.from_pretrained(flow_run, precision="fp32")
    data = json.loads((flow_run / "model.json").read_text())["data"]
    assert data["representation"] == "flow" and data["flow"] == "dis" and data["flow_size"] == 48
    assert recognizer.backend.input_shape == (2, 8, 32, 32)
    assert recognizer.frames_size == 48 and recognizer.frames_channels == 1   # flow is computed on gray at 48 px
    clip = gray_clip(recognizer.frames_size, [(0.5 * t, 0.0) for t in range(8)])
    x = recognizer.network_input(clip, DEMO_FPS)
    assert tuple(x.shape) == recognizer.backend.input_shape and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert float(x[:, 0].abs().max()) == 0.0                     # the first frame is the reference
    u, v = x[0, -1].mean(), x[1, -1].mean()
    assert u > 0.5 and abs(v) < u / 4                             # the face moved right, by pixels of a 128 px face
    assert x[0, 1:].mean(dim=(1, 2)).diff().gt(0).all()           # further from the onset each frame


def test_flow_weights_predict_a_frames_folder_at_the_training_window_span(flow_run, moving_frames):
    folder, frames = moving_frames
    recognizer = Recognizer.from_pretrained(flow_run, precision="fp32")
    run_config = load_config("paper-casme2", overrides=TINY)
    result = recognizer.predict_video(folder, fps=DEMO_FPS, stride=8)
    # One training window: data.frames frames at the training data's rate.
    assert result.window_span_s == pytest.approx(run_config["data"]["frames"] / DEMO_FPS)
    assert result.window_frames == run_config["data"]["frames"] == recognizer.frames
    span = frames_in(result.window_span_s)
    assert [w.start_frame for w in result.windows] == list(range(0, len(frames) - span + 1, 8))
    for w in result.windows:
        assert w.end_frame - w.start_frame + 1 == span
        assert w.end_s - w.start_s == pytest.approx(result.window_span_s)
    check_windows(result, recognizer.classes)
    assert any(f"{span} input frames" in note for note in result.notes)
    # "typical" is the longer onset-offset time of the training clips.
    typical = recognizer.predict_video(folder, fps=DEMO_FPS, stride=8, duration_s="typical")
    assert typical.window_span_s > result.window_span_s
    assert typical.window_span_s == pytest.approx(frames_in(recognizer.typical_duration_s) / DEMO_FPS)
    check_windows(typical, recognizer.classes)


def test_flow_weights_predict_a_clip(flow_run, moving_frames):
    _, frames = moving_frames
    recognizer = Recognizer.from_pretrained(flow_run)
    clip = recognizer.predict_clip(frames[:20])
    probs = np.array(list(clip.probabilities.values()))
    assert np.isfinite(probs).all() and probs.sum() == pytest.approx(1, abs=1e-4)
    assert clip.label == max(clip.probabilities, key=clip.probabilities.get)


def test_predict_cli_with_flow_weights(capsys, tmp_path, flow_run, moving_frames):
    folder, _ = moving_frames
    out = tmp_path / "r.json"
    code = main(["predict", str(folder), "--weights", str(flow_run), "--fps", str(DEMO_FPS), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["window_span_s"] == pytest.approx(8 / DEMO_FPS) and result["window_frames"] == 8
    assert result["windows"] and result["no_face_spans"] == []
    classes = result["classes"]
    for w in result["windows"]:
        assert set(w) >= WINDOW_KEYS
        assert sum(w["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        assert w["label"] == max(w["probabilities"], key=w["probabilities"].get) and w["label"] in classes


def test_predict_cli_on_a_video_with_flow_weights(capsys, tmp_path, flow_run):
    frame = centred_on_canvas("astronaut", face_width=100, canvas_hw=(240, 320))
    video = write_video(tmp_path / "face.mp4", moving_clip(frame, [(0.3 * i, 0.1 * i) for i in range(24)]), fps=30)
    out = tmp_path / "r.json"
    code = main(["predict", str(video), "--weights", str(flow_run), "--duration", "0.3", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["fps"] == 30 and result["window_span_s"] == pytest.approx(9 / 30)
    assert [w["start_frame"] for w in result["windows"]] == [0, 8]
    for w in result["windows"]:
        assert set(w) >= WINDOW_KEYS and np.isfinite(list(w["probabilities"].values())).all()
        assert sum(w["probabilities"].values()) == pytest.approx(1, abs=1e-4)


def test_apex_flow_weights_use_the_typical_span(apex_run, moving_frames):
    folder, frames = moving_frames
    recognizer = Recognizer.from_pretrained(apex_run, precision="fp32")
    meta = recognizer.backend.meta
    assert meta["architecture"]["name"] == "ststnet" and recognizer.backend.input_shape == (3, 1, 28, 28)
    assert meta["typical_duration_s"] > meta["window_duration_s"]
    result = recognizer.predict_video(folder, fps=DEMO_FPS, stride=8)
    span = frames_in(meta["typical_duration_s"])
    assert span + 8 <= len(frames), "the test clip must hold more than one typical span"
    assert result.window_span_s == pytest.approx(span / DEMO_FPS)
    assert all(w.end_frame - w.start_frame + 1 == span for w in result.windows)
    check_windows(result, recognizer.classes)
    window = recognizer.predict_video(folder, fps=DEMO_FPS, stride=8, duration_s="window")
    assert window.window_span_s == pytest.approx(frames_in(meta["window_duration_s"]) / DEMO_FPS)


def test_apex_flow_network_input(apex_run):
    recognizer = Recognizer.from_pretrained(apex_run, precision="fp32")
    assert recognizer.frames_size == 32
    # The face moves right until frame 5, then back: the estimated apex is frame 5.
    shifts = [(0.6 * t, 0.0) for t in range(6)] + [(0.6 * (10 - t), 0.0) for t in range(6, 10)]
    x = recognizer.network_input(gray_clip(recognizer.frames_size, shifts), DEMO_FPS)
    assert tuple(x.shape) == recognizer.backend.input_shape and torch.isfinite(x).all()
    assert x[0].mean() > 1.0 and abs(x[1].mean()) < x[0].mean() / 4
    assert x[2].min() >= 0                                             # strain magnitude


def test_apex_flow_predict_clip_sees_the_motion(apex_run, moving_frames):
    _, frames = moving_frames
    recognizer = Recognizer.from_pretrained(apex_run, precision="fp32")
    still = recognizer.predict_clip([frames[0]] * 20)
    moving = recognizer.predict_clip(frames[:20])
    for clip in (still, moving):
        assert sum(clip.probabilities.values()) == pytest.approx(1, abs=1e-4)
    assert still.probabilities != moving.probabilities


def test_apex_flow_video_windows_see_the_motion(tmp_path, apex_run, moving_frames):
    """A window of the one-image model reads several frames, to find an apex and flow to it: a one-frame
    window would always give the flow of a frame to itself (zero), whatever the video shows."""
    folder, frames = moving_frames
    recognizer = Recognizer.from_pretrained(apex_run, precision="fp32")
    result = recognizer.predict_video(folder, fps=DEMO_FPS, stride=8)
    assert result.window_frames > 1 and recognizer.frames == 1
    write_frames(tmp_path / "still", [frames[0]] * len(frames))
    still = recognizer.predict_video(tmp_path / "still", fps=DEMO_FPS, stride=8)
    assert [(w.start_frame, w.end_frame) for w in still.windows] == [(w.start_frame, w.end_frame) for w in result.windows]
    zero = torch.softmax(torch.as_tensor(recognizer.backend.predict_logits(
        np.zeros((1, *recognizer.backend.input_shape), np.float32))), 1)[0].numpy()
    for moving, still_window in zip(result.windows, still.windows):
        assert moving.probabilities != still_window.probabilities
        assert not np.allclose([moving.probabilities[c] for c in recognizer.classes], zero, atol=1e-6)
