"""Models by name, in the style of timm: ``create_model("vgg3d", num_classes=5)``."""
from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from ..errors import UserError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Class or factory decorator adding a model constructor to the registry under ``name``."""
    def add(factory):
        _MODELS[name] = factory
        return factory
    return add


# Models that are not networks (training.classical fits them): known to the settings, never built here.
CLASSICAL_MODELS = ("lbptop-svm",)


def model_names() -> list[str]:
    return sorted(_MODELS)


def model_needs_gender(name: str) -> bool:
    """Multitask models (``needs_gender = True``, e.g. GEME) train on each clip's gender too."""
    return getattr(_MODELS.get(name), "needs_gender", False)


# What every model's constructor takes; anything else is a model's own option (model.options).
COMMON_ARGUMENTS = ("num_classes", "in_channels", "frames", "size", "width", "hidden", "block_dropout",
                    "fc_dropout", "batchnorm")


def model_options(name: str) -> list[str]:
    """The constructor arguments of model ``name`` beyond ``COMMON_ARGUMENTS``."""
    return [p for p in inspect.signature(_MODELS[name]).parameters if p not in COMMON_ARGUMENTS]


def create_model(name: str, num_classes: int, in_channels: int = 1, **kwargs) -> nn.Module:
    """Build a registered model; every model takes ``num_classes`` and ``in_channels``."""
    if name not in _MODELS:
        raise UserError(f"unknown model '{name}'; known: {', '.join(model_names())}")
    options = model_options(name)
    for key in kwargs:
        if key not in COMMON_ARGUMENTS and key not in options:
            raise UserError(f"model {name} has no option '{key}' (its options: {', '.join(options) or 'none'})")
    return _MODELS[name](num_classes=num_classes, in_channels=in_channels, **kwargs)


def architecture(config: dict, num_classes: int, input_shape: tuple[int, int, int, int]) -> dict:
    """``create_model`` keyword arguments (name included) for a resolved config whose network input
    is ``input_shape`` (C, T, H, W), as the data representation gives it."""
    model = config["model"]
    channels, frames, size, _ = input_shape
    return {"name": model["name"], "num_classes": num_classes, "in_channels": channels,
            "frames": frames, "size": size, "width": model["width"],
            "hidden": model["hidden"], "block_dropout": model["block_dropout"],
            "fc_dropout": model["fc_dropout"], "batchnorm": model["batchnorm"], **model["options"]}
