"""Layers that behave like their torch.nn parents but keep bf16 autocast training fast and finite.

Both keep their parent's parameters and state-dict keys, so weights move freely between them and
plain ``nn`` layers; outside autocast they are their parents exactly (ONNX and TorchScript export
see plain layers).
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor, nn


class MaxPool3d(nn.MaxPool3d):
    """``nn.MaxPool3d`` that pools in its input's dtype under autocast.

    CPU autocast runs max_pool3d in fp32, so a bf16 feature map is copied to fp32, pooled, and its
    gradient zero-filled and copied back at full size: on the 3D-VGG's first block (32 x 16 x 128 x
    128 per clip) those copies and fills took about a quarter of a bf16 training step. A maximum
    selects one of its inputs, so pooling in bf16 gives the values pooling in fp32 would.
    """

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


class Float32Conv3d(nn.Conv3d):
    """``nn.Conv3d`` that computes in fp32 even under autocast.

    For layers whose input is 2 frames deep: there, oneDNN's bf16 weight-gradient kernel (PyTorch
    2.13 on CPU, two or more threads) returns NaN in some calls, nondeterministically (about 1 call
    in 5 for 16 x 128 x 2 x 8 x 8 inputs; never with one thread, in fp32, or at depths 1, 3, 4, 8;
    tests/models/test_layers.py). That is the last block of the 3D-VGG at 16 frames, where the bf16
    demo run diverged; its share of the network's FLOPs is about 3 %, so fp32 there costs little.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not torch.is_autocast_enabled(x.device.type):
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


# Input depth at which bf16 weight gradients of a 3D convolution can turn NaN (Float32Conv3d).
BF16_UNSAFE_DEPTH = 2


def conv3d(in_channels: int, out_channels: int, depth: int, **options) -> nn.Conv3d:
    """A Conv3d for inputs ``depth`` frames deep: Float32Conv3d where bf16 gradients fail."""
    kind = Float32Conv3d if depth == BF16_UNSAFE_DEPTH else nn.Conv3d
    return kind(in_channels, out_channels, **options)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (inverted: kept values scaled by 1 / (1 - p)) with a cheaper mask.

    torch's CPU bernoulli_ draws one number per element on one core: 220 ms per step for the
    3D-VGG's first block at batch 16, 16 % of a bf16 training step. ``dropout_scale`` turns random
    32-bit words into the scaled mask by table lookup (16 ms there, against 51 ms for a boolean mask
    made by shifts and compares, converted and scaled). The mask is Bernoulli(1 - p) as before, from
    another random stream."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_scale(x, self.p)


def dropout_scale(x: Tensor, p: float) -> Tensor:
    """A tensor shaped and laid out like ``x``, in its dtype: independently per element 1 / (1 - p)
    with probability 1 - p, else 0.

    Where p is a multiple of 1 / 2^b (b = 1, 2, 4 or 8: the paper's 0.25 and 0.5), each random byte
    holds 8 / b fields of b bits, a field at least p * 2^b is kept, and a 256-row table maps a byte
    to its fields' values in one gather; otherwise fp32 uniforms are compared with p."""
    bits = next((b for b in (1, 2, 4, 8) if float(p * 2 ** b).is_integer()), None)
    if bits is None:
        return (torch.rand_like(x, dtype=torch.float32) >= p).to(x.dtype).mul_(1 / (1 - p))
    fields = 8 // bits
    table = _byte_table(bits, p, x.dtype, x.device)                 # (256, fields)
    count = -(-x.numel() // fields)                                  # bytes needed
    words = torch.empty(-(-count // 4), dtype=torch.int32, device=x.device).random_(-2 ** 31, 2 ** 31)
    values = table.index_select(0, words.view(torch.uint8)[:count].int()).view(-1)[:x.numel()]
    layout = torch.empty_like(x, device="meta")                      # x's memory format; fields are i.i.d.
    return torch.as_strided(values, layout.shape, layout.stride())


@functools.lru_cache(maxsize=32)
def _byte_table(bits: int, p: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    shifts = torch.arange(0, 8, bits, dtype=torch.int32)
    fields = (torch.arange(256, dtype=torch.int32).unsqueeze(1) >> shifts) & (2 ** bits - 1)
    return (fields >= int(p * 2 ** bits)).to(dtype).mul_(1 / (1 - p)).to(device)


class FusedConvReLU3d(nn.Module):
    """``relu(conv(x))`` of an eval-mode Conv3d, for an inference copy whose weights no longer change.

    On CPU, for bf16 channels-last inputs and weights, one oneDNN call applies the ReLU as the
    convolution writes its output (no second pass over it), with the weights reordered to oneDNN's
    blocked layout once per input size, not on every call. Same values as the
    convolution then ReLU (tests/models/test_layers.py); elsewhere it is exactly those two. On the
    3D-VGG in bf16: 4-5 % of inference time at batch 1 and 16, with ``max_pool_view``."""

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        self.conv = conv
        self._packed: dict[tuple, Tensor] = {}

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv
        if not self._onednn_applies(x):
            return torch.relu_(conv(x))
        key = (x.dtype, *x.shape)     # oneDNN picks the kernel, and the layout, by the input size
        weight = self._packed.get(key)
        if weight is None:
            weight = self._packed[key] = torch._C._nn.mkldnn_reorder_conv3d_weight(
                conv.weight.detach().contiguous().to_mkldnn(), list(conv.padding), list(conv.stride),
                list(conv.dilation), conv.groups, list(x.shape))
        return torch.ops.mkldnn._convolution_pointwise(x, weight, conv.bias, list(conv.padding), list(conv.stride),
                                                      list(conv.dilation), conv.groups, "relu", [], "")

    def _onednn_applies(self, x: Tensor) -> bool:
        conv = self.conv
        # bf16 only: in fp32 at batch 1 torch's own convolution takes another path, rounding differently
        return (x.device.type == "cpu" and x.dtype == conv.weight.dtype == torch.bfloat16
                and x.is_contiguous(memory_format=torch.channels_last_3d) and not torch.is_grad_enabled()
                and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
                and torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))


def max_pool_view(x: Tensor, kernel: tuple[int, int, int]) -> Tensor | None:
    """``F.max_pool3d(x, kernel)`` for inference, for kernels of 1s and 2s (stride = kernel) on a
    channels-last map whose pooled sizes are even, without the indices max_pool3d always writes on
    CPU: maxima of value pairs in views of x's memory, widths first (0.7x max_pool3d's time on the
    3D-VGG's first block, 0.7-1x on the others). None where that does not apply."""
    if (any(k not in (1, 2) for k in kernel) or any(k == 2 and size % 2 for k, size in zip(kernel, x.shape[2:]))
            or not x.is_contiguous(memory_format=torch.channels_last_3d)):
        return None
    y = x.permute(0, 2, 3, 4, 1)                       # (N, T, H, W, C): x's memory order, a view
    for dim in (3, 2, 1):                              # W, H, T
        if kernel[dim - 1] == 2:
            pairs = y.unflatten(dim, (y.shape[dim] // 2, 2))
            y = torch.maximum(pairs.select(dim + 1, 0), pairs.select(dim + 1, 1))
    return y.permute(0, 4, 1, 2, 3)
