"""Configuration: a base YAML of every setting, named presets over it, then a user file and
``key=value`` overrides. The result is a plain nested dict, saved into every run folder."""
from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from .data.casme3 import LABELS as CASME3_LABELS
from .data.flow import FLOW_METHODS, FLOW_REFERENCES
from .data.inputs import APEX_MODES
from .data.magnify import Magnification
from .data.representation import representation
from .data.megc2019 import NAME as COMPOSITE
from .data.megc2019 import check_parts
from .data.samm import LABELS as SAMM_LABELS
from .data.smic import MODALITIES as DATASET_MODALITIES
from .errors import UserError
from .training.protocols import PROTOCOLS

PRESET_PACKAGE = "mer3d.configs"
# Mappings whose keys are not known in advance: a model's own constructor arguments.
FREE_MAPPINGS = ("model.options",)
# Settings that are null by default and take a mapping when set.
OPTIONAL_MAPPINGS = ("data.magnify", "dataset.roots")
# ... of which these add up key by key (--set dataset.roots.samm=A --set dataset.roots.smic=B name both
# parts); the others are replaced whole, so no field of an earlier value is left over.
ADDITIVE_MAPPINGS = ("dataset.roots",)


def preset_names() -> list[str]:
    files = resources.files(PRESET_PACKAGE).iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".yaml") and f.name != "base.yaml")


def _read_yaml(text: str, origin: str) -> dict:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{origin}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{origin}: expected a mapping of settings at the top level")
    return data


def _preset(name: str) -> dict:
    if name not in preset_names() and name != "base":
        raise UserError(f"unknown preset '{name}'; known: {', '.join(preset_names())}")
    text = resources.files(PRESET_PACKAGE).joinpath(f"{name}.yaml").read_text()
    return _read_yaml(text, f"preset {name}")


def merge(base: dict, update: dict, origin: str, prefix: str = "") -> dict:
    """Recursively overlay ``update`` on ``base``; keys unknown to ``base`` are user errors."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        path = f"{prefix}{key}"
        if key not in out:
            raise UserError(f"{origin}: unknown setting '{path}'")
        if path in OPTIONAL_MAPPINGS:
            both = isinstance(out[key], dict) and isinstance(value, dict)
            out[key] = {**out[key], **value} if both and path in ADDITIVE_MAPPINGS else value
        elif isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise UserError(f"{origin}: setting '{path}' must be a mapping")
            out[key] = {**out[key], **value} if path in FREE_MAPPINGS else merge(out[key], value, origin, f"{path}.")
        else:
            out[key] = value
    return out


def _yaml11_float(value):
    """YAML 1.1 reads ``1e-4`` (no dot) as text; people mean the number."""
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value.strip()):
        return float(value)
    return value


def parse_override(item: str) -> dict:
    """``a.b=3`` -> ``{"a": {"b": 3}}`` with the value parsed as YAML (numbers, lists, null)."""
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    value = _read_yaml(f"v: {raw}", f"--set {item!r}")["v"] if raw.strip() else None
    value = _yaml11_float(value)
    nested: dict[str, Any] = value
    for part in reversed(key.strip().split(".")):
        nested = {part: nested}
    return nested


def load_config(preset: str | None = None, config_file: str | Path | None = None,
                overrides: Iterable[str] = ()) -> dict:
    """Resolve base <- preset(s) <- config file <- overrides into one validated dict. Presets
    combine with '+', applied left to right: ``paper-casme2+no-augment`` is the paper's setting
    with the augmentation ablation on top."""
    config = _preset("base")
    if preset:
        for name in preset.split("+"):
            config = merge(config, _preset(name.strip()), f"preset {name}")
        config["preset"] = preset
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise UserError(f"{path}: config file not found")
        config = merge(config, _read_yaml(path.read_text(), str(path)), str(path))
    for item in overrides:
        config = merge(config, parse_override(item), f"--set {item}")
    validate(config)
    return config


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)   # YAML's true is an int to Python


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def validate(config: dict) -> None:
    data, train, model, protocol = config["data"], config["train"], config["model"], config["protocol"]
    labels = tuple(dict.fromkeys(SAMM_LABELS + CASME3_LABELS))   # dataset.labels of samm and casme3
    _check(config["dataset"]["labels"] in labels, f"dataset.labels must be one of {', '.join(labels)}")
    _check(config["dataset"]["modality"] in DATASET_MODALITIES,
           f"dataset.modality must be one of {', '.join(DATASET_MODALITIES)}")
    _check(isinstance(data["frames"], int) and data["frames"] >= 2, "data.frames must be an integer >= 2")
    _check(isinstance(data["size"], int) and data["size"] >= 16, "data.size must be an integer >= 16")
    _check(data["channels"] in (1, 3), "data.channels must be 1 or 3")
    _check(isinstance(data["face_crop"], bool) or data["face_crop"] in ("auto", "on", "off"),
           "data.face_crop must be auto, on or off")   # YAML 1.1 reads a bare on/off as true/false
    _check(isinstance(data["face_align"], bool), "data.face_align must be true or false")
    chosen = representation(data["representation"])   # a UserError naming the registered ones
    _check(not (chosen.motion and data["channels"] != 1),
           f"data.representation={data['representation']} is computed from gray frames: data.channels must be 1")
    _check(data["flow"] in FLOW_METHODS, f"data.flow must be one of {', '.join(FLOW_METHODS)}")
    _check(data["flow_reference"] in FLOW_REFERENCES, f"data.flow_reference must be one of {', '.join(FLOW_REFERENCES)}")
    _check(data["flow_size"] is None or (_is_int(data["flow_size"]) and data["flow_size"] >= 16),
           "data.flow_size must be null or an integer >= 16")
    _check(data["apex"] in APEX_MODES, f"data.apex must be one of {', '.join(APEX_MODES)}")
    Magnification.from_config(data["magnify"])
    _check(data["workers"] is None or (_is_int(data["workers"]) and data["workers"] >= 1),
           "data.workers must be null (all cores) or an integer >= 1")
    _check(isinstance(data["eval_windows"], int) and data["eval_windows"] >= 1, "data.eval_windows must be >= 1")
    _check(isinstance(train["epochs"], int) and train["epochs"] >= 1, "train.epochs must be an integer >= 1")
    _check(isinstance(train["batch_size"], int) and train["batch_size"] >= 2,
           "train.batch_size must be an integer >= 2 (BatchNorm needs two clips)")
    _check(isinstance(train["lr"], (int, float)) and train["lr"] > 0, "train.lr must be a positive number")
    _check(train["optimizer"] in ("sgd", "adam"), "train.optimizer must be sgd or adam")
    _check(train["precision"] in ("fp32", "bf16"), "train.precision must be fp32 or bf16")
    _check(config["inference"]["precision"] in ("fp32", "bf16"), "inference.precision must be fp32 or bf16")
    _check(train["device"] in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda")
    _check(0.0 <= float(train["val_fraction"]) < 1.0, "train.val_fraction must be in [0, 1)")
    _check(float(model["width"]) > 0, "model.width must be positive")
    _check(data["fps"] is None or (isinstance(data["fps"], (int, float)) and not isinstance(data["fps"], bool)
                                   and data["fps"] > 0), "data.fps must be null (native rate) or a positive number")
    _check(protocol["name"] in PROTOCOLS, f"protocol.name must be one of {', '.join(PROTOCOLS)}")
    _validate_composite(config["dataset"], protocol)
    _check(isinstance(protocol["k"], int) and protocol["k"] >= 2, "protocol.k must be an integer >= 2")
    _check(isinstance(config["seed"], int), "seed must be an integer")
    _check(isinstance(train["final_model"], bool), "train.final_model must be true or false")
    _check(isinstance(train["match_iterations"], bool), "train.match_iterations must be true or false")


def _validate_composite(dataset: dict, protocol: dict) -> None:
    """Settings of the composite benchmark and the protocols over its parts."""
    composite = dataset["name"] == COMPOSITE
    for key in ("roots", "parts"):
        _check(composite or dataset[key] is None, f"dataset.{key} is for dataset.name={COMPOSITE}")
    _check(dataset["roots"] is None or isinstance(dataset["roots"], dict),
           "dataset.roots must be a mapping of parts to folders, e.g. {samm: /data/SAMM}")
    parts = check_parts(dataset["parts"]) if composite else ()
    if protocol["name"] not in ("lodo", "cross"):
        return
    _check(composite, f"protocol.name={protocol['name']} tests on whole datasets: it needs dataset.name={COMPOSITE}")
    if protocol["name"] == "cross":
        train, test = (check_parts(protocol[key] or None) if protocol[key] else () for key in ("train_parts", "test_parts"))
        _check(bool(train) and bool(test), "protocol.name=cross needs protocol.train_parts and protocol.test_parts")
        _check(not set(train) & set(test), "protocol.train_parts and protocol.test_parts must not share a part")
        _check(set(train + test) <= set(parts), f"protocol.train_parts/test_parts must be among dataset.parts {list(parts)}")
    else:
        _check(len(parts) >= 2, "protocol.name=lodo needs at least two parts in dataset.parts")


def dump_config(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False)
