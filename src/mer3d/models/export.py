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

from ..atomic import atomic_path, atomic_write_text
from ..errors import UserError
from ..training.run_dir import FINAL_FOLD, RunDir
from .weights import load_weights, sidecar_path

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "clips", "logits"
# A final model trained on all subjects, saved at the top of the run folder.


def resolve_weights(path: str | Path) -> Path:
    """The weights a path names: a ``.safetensors`` file itself, or for a run folder its final model
    (``RUN/model.safetensors``), else its only fold's model."""
    path = Path(path)
    if path.is_file() and path.suffix == ".safetensors":
        return path
    if not path.is_dir():
        raise UserError(f"{path}: not a .safetensors weights file or a run folder")
    run = RunDir(path)
    if not run.config.is_file():
        raise UserError(f"{path}: not a mer3d run folder (no config.yaml)")
    if run.weights(FINAL_FOLD).is_file():
        return run.weights(FINAL_FOLD)
    return only_fold_weights(run)


def only_fold_weights(run: RunDir) -> Path:
    """The weights of a run's single fold; with several folds each is a different model, so the
    user has to pick one."""
    folds_dir = run.path / "folds"
    folds = sorted(p.name for p in folds_dir.iterdir() if p.is_dir()) if folds_dir.is_dir() else []
    saved = [run.weights(fold) for fold in folds if run.weights(fold).is_file()]
    if len(folds) == 1 and saved:
        return saved[0]
    if not saved:
        raise UserError(f"{run.path}: holds no trained weights yet ({run.weights(FINAL_FOLD).name} or folds/<fold>/model.safetensors)")
    raise UserError(f"{run.path}: {len(folds)} folds and no final {run.weights(FINAL_FOLD).name}; pass one fold's weights: "
                    + ", ".join(str(p) for p in saved))


def clip_shape(meta: dict, path: Path) -> tuple[int, int, int, int]:
    """(C, T, H, W) of one network input, from the sidecar's architecture."""
    arch = meta.get("architecture", {})
    try:
        return arch["in_channels"], arch["frames"], arch["size"], arch["size"]
    except KeyError as missing:
        raise UserError(f"{sidecar_path(path)}: architecture lacks {missing}") from None


def export_model(weights_path: str | Path, fmt: str, out: str | Path) -> Path:
    """Write ``weights_path`` (a ``.safetensors`` file or a run folder, see ``resolve_weights``) as
    ``fmt`` ("onnx" or "torchscript") to ``out``, with its sidecar; returns ``out``."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}'; choose one of: {', '.join(FORMATS)}")
    weights, out = resolve_weights(weights_path), Path(out)
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
