"""The module the training steps run on the device: the model itself, or compiled (``train.compile``)."""
from __future__ import annotations

import functools

import torch
from torch import nn

from ..errors import UserError


def training_module(model: nn.Module, train_cfg: dict, device: torch.device) -> nn.Module:
    """``model``, or with ``train.compile`` a ``torch.compile`` wrapper sharing its parameters, for
    the training steps only: checkpoints, weights and evaluation use ``model`` itself, so saved keys
    never get the wrapper's ``_orig_mod.`` prefix. Only ``forward`` is compiled (a multitask model's
    ``forward_multitask`` runs as it is). On CUDA, cuDNN times its convolution algorithms once for
    the fixed input shape and keeps the fastest (``cudnn.benchmark``)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if not train_cfg["compile"]:
        return model
    check_compiler(device.type)
    return torch.compile(model)


@functools.cache
def check_compiler(device_type: str) -> None:
    """Compile a trivial function once per process, so that what torch.compile lacks here (a C++
    compiler for CPU code, Triton for CUDA, a supported Python) is one line now rather than a long
    traceback at the first training step."""
    try:
        torch.compile(lambda t: t * 2)(torch.ones(2, device=device_type))
    except Exception as error:   # whatever the backend raises, it means the same to the user
        reason = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise UserError(f"train.compile=true, but torch.compile does not work here ({reason.strip()}); "
                        f"set train.compile=false") from None
