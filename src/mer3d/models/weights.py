"""Weights as safetensors plus a JSON sidecar (architecture, settings, classes). Nothing a user
hands us is ever unpickled."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..atomic import atomic_path, atomic_write_text
from ..errors import UserError
from .registry import COMMON_ARGUMENTS, create_model, model_names, model_options

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
    """The sidecar of ``path`` (weights or an export), checked: an object of the mer3d format whose
    architecture names a registered model with arguments it takes, whose classes are unique names,
    one per output, and whose data settings are an object. Anything else is a UserError naming it."""
    meta = _read_sidecar(Path(path))
    _check_classes(meta.get("classes"), meta["architecture"]["num_classes"], sidecar_path(Path(path)))
    return meta


def _read_sidecar(path: Path) -> dict:
    """``read_sidecar`` but for the classes, which ``load_weights`` checks once the tensors fit."""
    meta_path = sidecar_path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a weights file")
    if not path.is_file():
        raise UserError(f"{path}: weights file not found")
    if not meta_path.is_file():
        raise UserError(f"{meta_path}: sidecar JSON missing; not mer3d weights")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise UserError(f"{meta_path}: not valid JSON; not mer3d weights") from None
    except OSError as exc:
        raise UserError(f"{meta_path}: cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != WEIGHTS_FORMAT:
        raise UserError(f"{meta_path}: not a mer3d weights sidecar (format {WEIGHTS_FORMAT} expected)")
    _check_architecture(meta.get("architecture"), meta_path)
    _check_settings(meta, meta_path)
    return meta


# Sidecar architecture arguments with a fixed type: (check, what the message says is expected).
_POSITIVE_INT = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer")
_FRACTION = (lambda v: _is_number(v) and 0 <= v < 1, "a number from 0 to below 1")
_ARGUMENT_TYPES = {
    "num_classes": _POSITIVE_INT, "in_channels": _POSITIVE_INT, "frames": _POSITIVE_INT, "size": _POSITIVE_INT,
    "hidden": _POSITIVE_INT, "width": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "block_dropout": _FRACTION, "fc_dropout": _FRACTION,
    "batchnorm": (lambda v: isinstance(v, bool), "true or false"),
}
# Optional top-level numbers (seconds, frames per second): absent, null, or finite and positive.
_POSITIVE_SETTINGS = ("fps", "typical_duration_s", "window_duration_s")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_architecture(arch, meta_path: Path) -> None:
    if not isinstance(arch, dict):
        raise UserError(f"{meta_path}: 'architecture' must be an object with the model's name and arguments, "
                        f"not {type(arch).__name__}")
    name = arch.get("name")
    if not isinstance(name, str) or name not in model_names():
        raise UserError(f"{meta_path}: architecture names no known model ({name!r}; known: {', '.join(model_names())})")
    accepted = set(COMMON_ARGUMENTS) | set(model_options(name))
    unknown = sorted(str(key) for key in arch if key != "name" and key not in accepted)
    if unknown:
        raise UserError(f"{meta_path}: model {name} takes no argument {unknown[0]!r}")
    if "num_classes" not in arch:
        raise UserError(f"{meta_path}: architecture lacks 'num_classes'")
    for key, (valid, expected) in _ARGUMENT_TYPES.items():
        if key in arch and not valid(arch[key]):
            raise UserError(f"{meta_path}: architecture {key} must be {expected}, not {arch[key]!r}")


def _check_classes(classes, num_classes: int, meta_path: Path) -> None:
    if not isinstance(classes, list) or not classes:
        raise UserError(f"{meta_path}: 'classes' must be a non-empty list of class names")
    bad = [c for c in classes if not isinstance(c, str) or not c.strip()]
    if bad:
        raise UserError(f"{meta_path}: class names must be non-empty strings, not {bad[0]!r}")
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise UserError(f"{meta_path}: class {repeated[0]!r} is listed more than once")
    if len(classes) != num_classes:
        raise UserError(f"{meta_path}: {len(classes)} class names for a network with {num_classes} outputs "
                        f"(architecture num_classes)")


def _check_settings(meta: dict, meta_path: Path) -> None:
    data = meta.get("data", {})
    if not isinstance(data, dict):
        raise UserError(f"{meta_path}: 'data' must be an object of data settings, not {type(data).__name__}")
    if "representation" in data and not isinstance(data["representation"], str):
        raise UserError(f"{meta_path}: data.representation must be a name, not {data['representation']!r}")
    for key in _POSITIVE_SETTINGS:
        value = meta.get(key)
        if value is not None and not (_is_number(value) and value > 0):
            raise UserError(f"{meta_path}: {key} must be a positive number or null, not {value!r}")


def load_weights(path: str | Path) -> tuple[nn.Module, dict]:
    """Build the model the sidecar describes and fill it from the safetensors file (eval mode).
    Every tensor must be finite: NaN weights (a diverged training) would predict NaN for any input."""
    meta = _read_sidecar(Path(path))
    arch = dict(meta["architecture"])
    try:
        model = create_model(arch.pop("name"), **arch)
    except (TypeError, ValueError, UserError) as exc:
        raise UserError(f"{sidecar_path(Path(path))}: its architecture cannot be built ({exc})") from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable safetensors file ({exc})") from None
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{path}: tensor {key} holds NaN or infinite values; the weights are damaged")
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise UserError(f"{path}: tensors do not fit the architecture in {sidecar_path(Path(path)).name}") from None
    # The tensors fit num_classes, so the network has that many outputs: one class name for each.
    _check_classes(meta.get("classes"), arch["num_classes"], sidecar_path(Path(path)))
    return model.eval(), meta
