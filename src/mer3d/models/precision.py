"""Precision of training and of inference.

Training: ``train.precision: auto`` (the default) is bf16 autocast where the device computes bf16
natively (CUDA with bf16, CPUs with AVX-512 BF16 or AMX), else fp32; the master weights, the
loss and the layers where bf16 fails (mer3d.models.layers) stay fp32.

Inference casts a copy of the weights to bf16 rather than using autocast: on these CPUs that is
1.2x faster than autocast and 1.6-1.9x faster than fp32 (``mer3d benchmark``), and on the demo set
it gave the same top class as fp32 for all 120 clips (probabilities within 0.01)."""
from __future__ import annotations

import copy

import torch
from torch import nn

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def inference_model(model: nn.Module, precision: str) -> nn.Module:
    """An eval-mode copy of ``model`` in ``precision`` (the original is untouched), with its layers
    reordered and fused for inference where the model knows how to do that exactly
    (``prepare_for_inference``)."""
    net = copy.deepcopy(model).eval().to(DTYPES[precision])
    if hasattr(net, "prepare_for_inference"):
        net.prepare_for_inference()
    return net


def training_precision(precision: str, device: torch.device) -> str:
    """``train.precision`` resolved: ``auto`` is bf16 where ``device`` computes it natively."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def network_input(x: torch.Tensor, device: torch.device, precision: str) -> torch.Tensor:
    # channels_last_3d: ~3x faster max-pooling and convolutions on CPU (shared/notes/cpu-performance.md)
    return x.to(device, DTYPES[precision], non_blocking=True).contiguous(memory_format=torch.channels_last_3d)
