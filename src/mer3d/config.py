"""Configuration: a base YAML of every setting, named presets over it, then a user file and
``key=value`` overrides. The result is a plain nested dict, saved into every run folder."""
from __future__ import annotations

import copy
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from .data.augment_torch import NOT_ON_DEVICE
from .data.casme3 import LABELS as CASME3_LABELS
from .data.flow import FLOW_METHODS, FLOW_REFERENCES
from .data.inputs import APEX_MODES
from .data.magnify import Magnification
from .data.representation import representation
from .data.megc2019 import NAME as COMPOSITE
from .data.datasets import DATASETS
from .data.megc2019 import PARTS, check_parts
from .data.samm import LABELS as SAMM_LABELS
from .data.smic import MODALITIES as DATASET_MODALITIES
from .errors import UserError
from .models.registry import CLASSICAL_MODELS, model_names
from .training.protocols import PROTOCOLS

PRESET_PACKAGE = "mer3d.configs"
DATASET_NAMES = tuple(DATASETS)
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


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file in UTF-8") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror or error})") from None


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
        config = merge(config, _read_yaml(_text(path), str(path)), str(path))
    for item in overrides:
        config = merge(config, parse_override(item), f"--set {item}")
    validate(config)
    return config


def load_saved_config(path: str | Path) -> dict:
    """A run's saved ``config.yaml``, checked exactly as a fresh configuration is: read as a config
    file over the base defaults (an unknown key is an error; a key added to mer3d since takes its
    default), then ``validate``d. Every mistake or damage is a one-line ``UserError`` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path.parent}: not a mer3d run folder (no {path.name})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: unreadable ({getattr(exc, 'strerror', None) or exc.__class__.__name__})") from None
    saved = _read_yaml(text, str(path))
    if not saved:
        raise UserError(f"{path}: empty; a run's config.yaml holds all its settings")
    preset = saved.pop("preset", None)   # set by load_config beside the settings, not one of them
    _check(preset is None or isinstance(preset, str), f"{path}: preset must be a preset name")
    config = merge(_preset("base"), saved, str(path))
    if preset is not None:
        config["preset"] = preset
    try:
        validate(config)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:   # a value of the wrong kind
        raise UserError(f"{path}: a setting has a value of the wrong kind ({exc.__class__.__name__}: {exc})") from None
    return config


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)   # YAML's true is an int to Python


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def _is_number(value) -> bool:
    """A finite number (YAML's true, .inf and .nan are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _validate_kinds(config: dict) -> None:
    """Settings whose value must be of one kind: names from a known set, paths, lists of names,
    integers that YAML's true would otherwise pass as 1."""
    dataset, protocol = config["dataset"], config["protocol"]
    names = [*DATASET_NAMES, COMPOSITE]
    _check(dataset["name"] in names, f"dataset.name must be one of {', '.join(names)}")
    for key in ("root", "annotations", "genders"):
        _check(dataset[key] is None or isinstance(dataset[key], str), f"dataset.{key} must be a path or null")
    _check(config["data"]["cache_dir"] is None or isinstance(config["data"]["cache_dir"], str),
           "data.cache_dir must be a path or null")
    _check(dataset["classes"] is None or (isinstance(dataset["classes"], list)
                                          and all(isinstance(c, str) for c in dataset["classes"])),
           "dataset.classes must be null or a list of class names (quote names that are numbers)")
    models = [*model_names(), *CLASSICAL_MODELS]
    _check(config["model"]["name"] in models, f"model.name must be one of {', '.join(models)}")
    _check(isinstance(protocol["test_subjects"], list), "protocol.test_subjects must be a list of subjects, e.g. ['01']")
    for key in ("train_parts", "test_parts"):
        value = protocol[key]
        _check(isinstance(value, (list, str)) and all(isinstance(v, str) for v in ([value] if isinstance(value, str) else value)),
               f"protocol.{key} must be a list of parts, e.g. [casme2]")
        if value:
            try:
                check_parts(value)
            except UserError:
                raise UserError(f"protocol.{key} must name some of {', '.join(PARTS)}, got {value}") from None


def validate(config: dict) -> None:
    _validate_kinds(config)
    data, train, model, protocol = config["data"], config["train"], config["model"], config["protocol"]
    labels = tuple(dict.fromkeys(SAMM_LABELS + CASME3_LABELS))   # dataset.labels of samm and casme3
    _check(config["dataset"]["labels"] in labels, f"dataset.labels must be one of {', '.join(labels)}")
    _check(config["dataset"]["modality"] in DATASET_MODALITIES,
           f"dataset.modality must be one of {', '.join(DATASET_MODALITIES)}")
    _check(isinstance(config["dataset"]["allow_outside_root"], bool), "dataset.allow_outside_root must be true or false")
    _check(_is_int(data["frames"]) and data["frames"] >= 2, "data.frames must be an integer >= 2")
    _check(_is_int(data["size"]) and data["size"] >= 16, "data.size must be an integer >= 16")
    _check(_is_int(data["channels"]) and data["channels"] in (1, 3), "data.channels must be 1 or 3")
    _check(isinstance(data["face_crop"], bool) or data["face_crop"] in ("auto", "on", "off"),
           "data.face_crop must be auto, on or off")   # YAML 1.1 reads a bare on/off as true/false
    _check(isinstance(data["face_align"], bool), "data.face_align must be true or false")
    _check(isinstance(data["representation"], str), "data.representation must be a name, e.g. gray")
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
    _check(_is_int(data["eval_windows"]) and data["eval_windows"] >= 1, "data.eval_windows must be >= 1")
    _check(_is_int(train["epochs"]) and train["epochs"] >= 1, "train.epochs must be an integer >= 1")
    _check(_is_int(train["batch_size"]) and train["batch_size"] >= 2,
           "train.batch_size must be an integer >= 2 (BatchNorm needs two clips)")
    _check(_is_number(train["lr"]) and train["lr"] > 0, "train.lr must be a positive number")
    _check(train["optimizer"] in ("sgd", "adam"), "train.optimizer must be sgd or adam")
    _check(train["precision"] in ("auto", "fp32", "bf16"), "train.precision must be auto, fp32 or bf16")
    _check(config["inference"]["precision"] in ("fp32", "bf16"), "inference.precision must be fp32 or bf16")
    _check(train["device"] in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda")
    _check(_is_number(train["val_fraction"]) and 0.0 <= train["val_fraction"] < 1.0, "train.val_fraction must be in [0, 1)")
    _check(_is_number(model["width"]) and model["width"] > 0, "model.width must be positive")
    _validate_training_numbers(config)
    _check(data["fps"] is None or (_is_number(data["fps"]) and data["fps"] > 0),
           "data.fps must be null (native rate) or a positive number")
    _check(protocol["name"] in PROTOCOLS, f"protocol.name must be one of {', '.join(PROTOCOLS)}")
    _validate_composite(config["dataset"], protocol)
    _check(_is_int(protocol["k"]) and protocol["k"] >= 2, "protocol.k must be an integer >= 2")
    _check(_is_int(config["seed"]), "seed must be an integer")
    _check(isinstance(train["final_model"], bool), "train.final_model must be true or false")
    _check(isinstance(train["tensorboard"], bool), "train.tensorboard must be true or false")
    _check(isinstance(train["match_iterations"], bool), "train.match_iterations must be true or false")
    _check(_is_int(train["workers"]) and train["workers"] >= 0,
           "train.workers must be an integer >= 0 (0: batches built in the training process)")
    _check(isinstance(train["compile"], bool), "train.compile must be true or false")
    _check(not (config["augment"]["on_device"] and data["representation"] in NOT_ON_DEVICE),
           f"augment.on_device=true cannot turn data.representation={data['representation']} as the CPU does "
           f"(turned windows would lose about a fifth of their spread); set augment.on_device=false")


def _validate_training_numbers(config: dict) -> None:
    """Settings that would otherwise fail only inside training (a saved config.yaml edited by hand)."""
    train, model, augment = config["train"], config["model"], config["augment"]
    _check(_is_int(train["checkpoint_every"]) and train["checkpoint_every"] >= 1,
           "train.checkpoint_every must be an integer >= 1")
    _check(train["threads"] is None or (_is_int(train["threads"]) and train["threads"] >= 1),
           "train.threads must be null (all cores) or an integer >= 1")
    for key in ("momentum", "weight_decay", "lr_decay"):
        _check(_is_number(train[key]) and train[key] >= 0, f"train.{key} must be a number >= 0")
    _check(_is_int(train["lr_halve_every"]) and train["lr_halve_every"] >= 0,
           "train.lr_halve_every must be an integer >= 0 (0: never halve)")
    _check(_is_int(model["hidden"]) and model["hidden"] >= 1, "model.hidden must be an integer >= 1")
    for key in ("block_dropout", "fc_dropout"):
        _check(_is_number(model[key]) and 0 <= model[key] < 1, f"model.{key} must be in [0, 1)")
    _check(isinstance(model["batchnorm"], bool), "model.batchnorm must be true or false")
    for key in ("enabled", "flip", "on_device"):
        _check(isinstance(augment[key], bool), f"augment.{key} must be true or false")
    _check(isinstance(augment["angles"], list) and all(map(_is_number, augment["angles"])),
           "augment.angles must be a list of degrees, e.g. [5, -5]")


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
