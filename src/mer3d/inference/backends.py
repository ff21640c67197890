"""Where a trained network runs at prediction time: PyTorch or onnxruntime, behind one interface.

Both read the mer3d sidecar for the classes and the clip shape, take float32 clips (N, C, T, H, W)
and return logits (N, K). In fp32 the two give the same softmax probabilities within 1e-4.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from onnxruntime.capi.onnxruntime_pybind11_state import (Fail, InvalidArgument, InvalidGraph, InvalidProtobuf,
                                                         NoSuchFile, NotImplemented as OrtNotImplemented)

from ..data.representation import representation
from ..errors import UserError
from ..models.export import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME, clip_shape, export_model
from ..models.precision import DTYPES, inference_model, network_input
from ..models.weights import load_weights, read_sidecar, sidecar_path
from ..training.run_dir import resolve_weights

BACKENDS = ("torch", "onnxruntime")
ORT_LOAD_ERRORS = (Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, NoSuchFile, OrtNotImplemented)


class Backend(Protocol):
    classes: list[str]
    meta: dict                                  # the mer3d sidecar: architecture, classes, data settings
    input_shape: tuple[int, int, int, int]      # (C, T, H, W) of one clip

    def predict_logits(self, x: np.ndarray) -> np.ndarray:
        """float32 clips (N, C, T, H, W) -> logits (N, K) as float32."""


class SidecarInfo:
    """What every backend takes from the sidecar of the file it runs."""

    def __init__(self, meta: dict, path: Path):
        self.meta = meta
        self.classes = list(meta["classes"])
        self.input_shape = clip_shape(meta, path)
        check_input_channels(meta, path)

    def check_input(self, x: np.ndarray) -> None:
        # Both runtimes report a wrong shape deep inside a layer; name it here instead.
        if x.ndim != 5 or x.shape[1:] != self.input_shape:
            raise ValueError(f"clips of shape (N, {', '.join(map(str, self.input_shape))}) expected, got {x.shape}")


def check_input_channels(meta: dict, path: Path) -> None:
    """The sidecar's representation makes inputs of as many channels as the network takes."""
    data, takes = meta.get("data") or {}, clip_shape(meta, path)[0]
    name = data.get("representation", "gray")
    gives = representation(name).channels or data.get("channels", takes)
    if gives != takes:
        raise UserError(f"{path}: its settings give {name} input of {gives} channel(s), but the network takes "
                        f"{takes}; not a consistent mer3d model")


class TorchBackend(SidecarInfo):
    """The safetensors weights in PyTorch on the CPU, in bf16 (the default: a bf16 copy of the weights,
    see mer3d.models.precision) or fp32."""

    def __init__(self, weights_path: str | Path, precision: str = "bf16"):
        if precision not in DTYPES:
            raise UserError(f"unknown precision '{precision}'; choose one of: {', '.join(DTYPES)}")
        model, meta = load_weights(weights_path)
        super().__init__(meta, Path(weights_path))
        self.precision = precision
        self.model = inference_model(model, precision)

    def predict_logits(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x)
        with torch.inference_mode():
            logits = self.model(network_input(torch.as_tensor(x), torch.device("cpu"), self.precision))
        return logits.float().numpy()


class OnnxBackend(SidecarInfo):
    """An ONNX export (with its sidecar) in onnxruntime on the CPU, always fp32. Given ``.safetensors``
    weights instead, exports them once to a cached file (see ``cached_onnx``) and runs that."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.suffix == ".safetensors":
            path = cached_onnx(path)
        meta = read_sidecar(path)
        if meta.get("export_format") != "onnx":
            raise UserError(f"{sidecar_path(path)}: describes no ONNX export (export_format "
                            f"{meta.get('export_format')!r}); export the weights with format onnx")
        super().__init__(meta, path)
        self.session = ort_session(path)
        check_signature(self.session, path, self.input_shape, len(self.classes))
        check_no_nan(path)

    def predict_logits(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x)
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]


def open_backend(path: str | Path, backend: str = "torch", precision: str = "bf16") -> Backend:
    """The network at ``path`` in ``backend``. ``path``: ``.safetensors`` weights or a run folder (see
    ``resolve_weights``), or for onnxruntime also an ``.onnx`` export. ``precision`` applies to the
    torch backend; onnxruntime always runs the fp32 export."""
    path = Path(path)
    if backend == "torch":
        return TorchBackend(resolve_weights(path), precision)
    if backend == "onnxruntime":
        return OnnxBackend(path if path.suffix == ".onnx" else resolve_weights(path))
    raise UserError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")


def cached_onnx(weights: Path) -> Path:
    """An ONNX export of ``weights``, made on first use and reused while the weights, their sidecar
    and the opset stay the same (the file name holds their hash, so a retrained model is re-exported).
    It lies hidden beside the weights, or in the user's cache folder where that folder is read-only."""
    check_input_channels(read_sidecar(weights), weights)   # a foreign file fails here, before it is hashed
    folder = weights.parent if os.access(weights.parent, os.W_OK) else user_cache_dir() / "onnx"
    cached = folder / f".{weights.stem}.{content_key(weights)}.onnx"
    # The sidecar is written after the model, so its presence means a complete export.
    if sidecar_path(cached).is_file():
        return cached
    return export_model(weights, "onnx", cached, option="ONNX cache file")


def content_key(weights: Path) -> str:
    digest = hashlib.sha256(f"opset{ONNX_OPSET}".encode())
    for part in (weights, sidecar_path(weights)):
        digest.update(hashlib.sha256(part.read_bytes()).digest())
    return digest.hexdigest()[:16]


def user_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mer3d"


def ort_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()     # the same CPU budget as the torch backend
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except ORT_LOAD_ERRORS as exc:
        raise UserError(f"{path}: onnxruntime cannot load it ({type(exc).__name__})") from None


def check_signature(session: ort.InferenceSession, path: Path, input_shape: tuple, num_classes: int) -> None:
    """Refuse an ONNX file whose input or output does not fit its sidecar (e.g. a sidecar copied
    from another model), rather than fail on the first clip."""
    expected = [(INPUT_NAME, list(input_shape)), (OUTPUT_NAME, [num_classes])]
    actual = [(arg.name, arg.shape[1:]) for arg in session.get_inputs() + session.get_outputs()]
    if actual != expected:
        raise UserError(f"{path}: inputs/outputs {actual} do not fit {sidecar_path(path).name} (expected {expected})")


def check_no_nan(path: Path) -> None:
    """Refuse an ONNX file with NaN among its weights (e.g. exported from a diverged training),
    which would predict NaN for every clip. Infinities are left alone: an export may hold them as
    legitimate bounds."""
    for tensor in onnx.load(str(path)).graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype.kind == "f" and np.isnan(values).any():
            raise UserError(f"{path}: weight {tensor.name} holds NaN values; the export is damaged")
