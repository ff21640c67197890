"""Export trained weights to ONNX or TorchScript, for runtimes without mer3d.

An export is fp32 with a dynamic batch axis: input ``clips`` (N, C, T, H, W), output ``logits``
(N, K). Beside it lies the mer3d sidecar (``out.with_suffix('.json')``: the weights' sidecar plus
``export_format``), so an exported file still carries its classes and preprocessing settings.

ONNX uses the TorchScript-based exporter (``dynamo=False``): the torch.export-based default needs
the ``onnxscript`` package, which mer3d does not depend on.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from ..atomic import atomic_path, atomic_write_text, check_writable
from ..errors import UserError
from .weights import load_weights, sidecar_path

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "clips", "logits"


def clip_shape(meta: dict, path: Path) -> tuple[int, int, int, int]:
    """(C, T, H, W) of one network input, from the sidecar's architecture."""
    arch = meta.get("architecture", {})
    try:
        return arch["in_channels"], arch["frames"], arch["size"], arch["size"]
    except KeyError as missing:
        raise UserError(f"{sidecar_path(path)}: architecture lacks {missing}") from None


def export_model(weights: str | Path, fmt: str, out: str | Path, option: str = "--out") -> Path:
    """Write ``weights`` (a ``.safetensors`` file; for a run folder see
    ``training.run_dir.resolve_weights``) as ``fmt`` ("onnx" or "torchscript") to ``out``, with
    its sidecar; returns ``out``. ``option`` names ``out`` in the error for a place no file can be
    written, raised before anything is loaded."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}'; choose one of: {', '.join(FORMATS)}")
    weights, out = Path(weights), Path(out)
    if sidecar_path(out) == out:
        raise UserError(f"{option} {out}: the export's sidecar is {out.name}; give the export another extension "
                        f"(.onnx for onnx, .pt for torchscript)")
    check_writable(out, option)
    check_writable(sidecar_path(out), option)
    if sidecar_path(out).resolve() == sidecar_path(weights).resolve():
        raise UserError(f"{out}: its sidecar would overwrite {sidecar_path(weights)}; choose another file name")
    model, meta = load_weights(weights)
    example = torch.zeros(2, *clip_shape(meta, weights))
    with atomic_path(out) as tmp, warnings.catch_warnings():
        # torch marks both exporters deprecated; the user asked for these formats, so no noise.
        warnings.simplefilter("ignore", DeprecationWarning)
        (write_onnx if fmt == "onnx" else write_torchscript)(model, example, tmp)
    atomic_write_text(sidecar_path(out), json.dumps({**meta, "export_format": fmt}, indent=2))
    return out


def write_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=ONNX_OPSET,
                      input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                      dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}})
    onnx.checker.check_model(str(path), full_check=True)


def write_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    # Tracing records no batch size: VGG3D's forward has no shape-dependent Python branches.
    torch.jit.trace(model, example).save(str(path))
