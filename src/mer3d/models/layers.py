"""Layers that behave like their torch.nn parents but keep bf16 autocast training fast and finite.

Both keep their parent's parameters and state-dict keys, so weights move freely between them and
plain ``nn`` layers; outside autocast they are their parents exactly (ONNX and TorchScript export
see plain layers).
"""
from __future__ import annotations

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
    """``nn.Dropout`` (inverted: kept values scaled by 1 / (1 - p)) with a cheaper keep mask.

    torch's CPU bernoulli_ draws one number per element on one core: 220 ms per step for the
    3D-VGG's first block at batch 16, 16 % of a bf16 training step. ``keep_mask`` draws one random
    byte per 4 elements for p = 0.25 (about 2.5x faster). The mask is Bernoulli(1 - p) as before,
    from another random stream."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        return x * keep_mask(x, self.p).to(x.dtype).mul_(1 / (1 - self.p))


def keep_mask(x: Tensor, p: float) -> Tensor:
    """A boolean mask shaped and laid out like ``x``, each element True with probability 1 - p,
    independently. Where p is a multiple of 1 / 2^b (b = 1, 2, 4 or 8: the paper's 0.25 and 0.5),
    a random byte holds 8 / b fields of b bits and an element is kept when its field is at least
    p * 2^b; otherwise fp32 uniforms are compared with p."""
    bits = next((b for b in (1, 2, 4, 8) if float(p * 2 ** b).is_integer()), None)
    if bits is None:
        return torch.rand_like(x, dtype=torch.float32) >= p
    fields = 8 // bits
    raw = torch.randint(0, 256, (-(-x.numel() // fields), 1), dtype=torch.uint8, device=x.device)
    shifts = torch.arange(0, 8, bits, dtype=torch.uint8, device=x.device)
    flat = (((raw >> shifts) & (2 ** bits - 1)) >= int(p * 2 ** bits)).view(-1)[:x.numel()]
    dense = torch.empty_like(x, dtype=torch.bool)    # x's memory format; the fields are i.i.d.
    return torch.as_strided(flat, dense.shape, dense.stride())


def max_pool_hw(x: Tensor, kernel: tuple[int, int, int]) -> Tensor | None:
    """``F.max_pool3d(x, (1, 2, 2))`` for inference on a channels-last map with even height and
    width, without the indices max_pool3d always writes on CPU: the maxima of adjacent values in
    a view of x's memory (about 0.8x max_pool3d's time on the 3D-VGG's first block). None where
    that does not apply."""
    n, c, t, h, w = x.shape
    if tuple(kernel) != (1, 2, 2) or h % 2 or w % 2 or not x.is_contiguous(memory_format=torch.channels_last_3d):
        return None
    pairs = x.permute(0, 2, 3, 4, 1).reshape(n * t * h // 2, 2, w // 2, 2, c)    # a view, no copy
    rows = torch.maximum(pairs[:, 0], pairs[:, 1])
    return torch.maximum(rows[:, :, 0], rows[:, :, 1]).reshape(n, t, h // 2, w // 2, c).permute(0, 4, 1, 2, 3)
