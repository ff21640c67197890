"""End-to-end predict throughput for ``mer3d benchmark``: decoding, face detection, cropping,
windowing and the network, on a 30 fps 640x480 recording made from a shipped face photograph."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from ..models import create_model
from ..models.weights import save_weights
from .recognizer import Recognizer
from .sample_faces import centred_on_canvas, still_head_clip, write_video

SAMPLE = {"fps": 30, "seconds": 5, "height": 480, "width": 640, "face_width": 200}


def sample_recording(folder: Path) -> Path:
    """A still head with sensor noise (Grace Hopper, face 200 px wide) as an H.264 mp4."""
    frame = centred_on_canvas("grace_hopper", SAMPLE["face_width"], (SAMPLE["height"], SAMPLE["width"]))
    frames = still_head_clip(frame, SAMPLE["fps"] * SAMPLE["seconds"], seed=0)
    return write_video(folder / "sample.mp4", frames, fps=SAMPLE["fps"])


def predict_throughput(arch: dict, backends=("torch", "onnxruntime"), stride: int = 8, repeats: int = 3) -> dict:
    """Input frames per second of ``Recognizer.predict_video`` per backend (median of ``repeats``
    after one warm-up run), with the network of ``arch`` (random weights: speed only)."""
    torch.manual_seed(0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        classes = [f"class{k}" for k in range(arch["num_classes"])]
        weights = save_weights(create_model(**arch), folder / "model.safetensors", arch, classes,
                               extra={"data": {"representation": "gray"}, "fps": 200.0,
                                      "window_duration_s": arch["frames"] / 200.0,
                                      "typical_duration_s": 0.3})   # about CASME II's median onset-offset
        video = sample_recording(folder)
        frames = SAMPLE["fps"] * SAMPLE["seconds"]
        for backend in backends:
            recognizer = Recognizer.from_pretrained(weights, backend=backend)
            windows = len(recognizer.predict_video(video, stride=stride).windows)   # warm-up (and ONNX export)
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                recognizer.predict_video(video, stride=stride)
                times.append(time.perf_counter() - began)
            rate = frames / statistics.median(times)
            results[backend] = {"frames_per_s": rate, "realtime_factor": rate / SAMPLE["fps"], "windows": windows}
    return {"input": {**SAMPLE, "stride": stride}, "backends": results}


def format_throughput(report: dict) -> str:
    s = report["input"]
    lines = [f"end-to-end predict ({s['width']}x{s['height']} {s['fps']} fps H.264, {s['seconds']} s, stride "
             f"{s['stride']}: decode + face detection + crop + network), median input frames/s:"]
    for backend, r in report["backends"].items():
        verdict = "faster than real time" if r["realtime_factor"] >= 1 else "SLOWER than real time"
        lines.append(f"  {backend:<12} {r['frames_per_s']:7.1f} frames/s  x{r['realtime_factor']:.2f} real time "
                     f"({verdict}; {r['windows']} windows)")
    return "\n".join(lines)
