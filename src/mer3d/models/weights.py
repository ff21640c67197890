"""Weights as safetensors plus a JSON sidecar (architecture, settings, classes). Nothing a user
hands us is ever unpickled."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..atomic import atomic_path, atomic_write_text
from ..errors import UserError
from .registry import create_model

WEIGHTS_FORMAT = "mer3d-weights/1"


def sidecar_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_weights(model: nn.Module, path: str | Path, architecture: dict, classes: list[str],
                 extra: dict | None = None) -> Path:
    """Write ``path`` (.safetensors) and its sidecar. ``architecture`` holds ``name`` and the keyword
    arguments of ``create_model`` (num_classes and in_channels included)."""
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": WEIGHTS_FORMAT})
    sidecar = {"format": WEIGHTS_FORMAT, "architecture": architecture, "classes": classes, **(extra or {})}
    atomic_write_text(sidecar_path(path), json.dumps(sidecar, indent=2))
    return path


def read_sidecar(path: str | Path) -> dict:
    path = Path(path)
    meta_path = sidecar_path(path)
    if not path.is_file():
        raise UserError(f"{path}: weights file not found")
    if not meta_path.is_file():
        raise UserError(f"{meta_path}: sidecar JSON missing; not mer3d weights")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{meta_path}: not valid JSON; not mer3d weights") from None
    if not isinstance(meta, dict) or meta.get("format") != WEIGHTS_FORMAT:
        raise UserError(f"{meta_path}: not a mer3d weights sidecar (format {WEIGHTS_FORMAT} expected)")
    return meta


def load_weights(path: str | Path) -> tuple[nn.Module, dict]:
    """Build the model the sidecar describes and fill it from the safetensors file (eval mode)."""
    meta = read_sidecar(path)
    arch = dict(meta["architecture"])
    model = create_model(arch.pop("name"), **arch)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise UserError(f"{path}: tensors do not fit the architecture in {sidecar_path(Path(path)).name}") from None
    return model.eval(), meta

