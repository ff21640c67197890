"""The paper's network: a 3D-VGG with batch normalization and dropout (Wu et al. 2022, sect. 2)."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from .init import keras_init
from .layers import Dropout, FusedConvReLU3d, MaxPool3d, conv3d, max_pool_view
from .registry import register_model

# Filters of Conv3D 1..8 and the paper's grouping into 3D-VGG blocks, each closed by a max-pool.
PAPER_BLOCKS = ((32,), (32,), (64, 64), (128, 128), (128, 128))


class VGG3DBlock(nn.Sequential):
    """Conv3D 3x3x3 (stride 1, same padding) + ReLU per entry of ``filters``, then BatchNorm,
    max-pool and dropout (the paper's 3D-VGG-Block with its BN and dropout additions), on inputs
    ``depth`` frames deep."""

    fused: list[FusedConvReLU3d] | None = None   # set on inference copies by VGG3D.prepare_for_inference

    def __init__(self, in_channels: int, filters: tuple[int, ...], pool: tuple[int, int, int],
                 dropout: float, batchnorm: bool, first_conv: int, depth: int):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for number, out_channels in enumerate(filters, start=first_conv):
            layers[f"conv{number}"] = conv3d(in_channels, out_channels, depth, kernel_size=3, padding=1)
            layers[f"relu{number}"] = nn.ReLU(inplace=True)
            in_channels = out_channels
        if batchnorm:
            layers["bn"] = nn.BatchNorm3d(in_channels)
        layers["pool"] = MaxPool3d(pool)
        if dropout > 0:
            layers["dropout"] = Dropout(dropout)
        super().__init__(layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.training or self.fused is None:
            return super().forward(x)
        # In eval, BatchNorm is a per-channel x * scale + shift: with no negative scale it is
        # monotone, so max-pooling commutes with it (exactly, even after rounding) and it runs on a
        # quarter (an eighth) of the values; dropout is the identity. The ReLUs run inside the
        # convolutions. On the paper's network in bf16: 1.19-1.24x the clips/s of the plain order.
        for conv in self.fused:
            x = conv(x)
        pooled = max_pool_view(x, self.pool.kernel_size)
        x = self.pool(x) if pooled is None else pooled
        return self.bn(x) if hasattr(self, "bn") else x

    def can_pool_first(self) -> bool:
        return not hasattr(self, "bn") or bool((self.bn.weight >= 0).all())


@register_model("vgg3d")
class VGG3D(nn.Module):
    """3D-VGG micro-expression classifier.

    Input ``(N, C, T, H, W)``; the paper: C = 1 (gray) or 3, T = 16, H = W = 128.
    Eight Conv3D layers with 32, 32, 64, 64, 128, 128, 128, 128 filters (times ``width``) in five
    blocks; max-pool (1, 2, 2) after block 1 (keeps early temporal detail), (2, 2, 2) after the
    others, so 16x128x128 becomes 128 x 1 x 4 x 4 = 2048 features. Then
    Flatten -> Dense ``hidden`` (1024) + ReLU -> Dropout 0.5 -> Dense ``num_classes`` (logits;
    softmax is applied by the loss / at prediction time).
    Pools never shrink a dimension below 1, so short windows (e.g. T = 8) still work.
    Weights start as in Keras (``keras_init``).
    """

    def __init__(self, num_classes: int, in_channels: int = 1, frames: int = 16, size: int = 128,
                 width: float = 1.0, hidden: int = 1024, block_dropout: float = 0.25,
                 fc_dropout: float = 0.5, batchnorm: bool = True):
        super().__init__()
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        channels, t, s, first_conv = in_channels, frames, size, 1
        for index, filters in enumerate(PAPER_BLOCKS):
            scaled = tuple(max(1, round(f * width)) for f in filters)
            pool = (1 if index == 0 or t < 2 else 2, 2 if s >= 2 else 1, 2 if s >= 2 else 1)
            blocks[f"block{index + 1}"] = VGG3DBlock(channels, scaled, pool, block_dropout, batchnorm, first_conv, t)
            channels, t, s, first_conv = scaled[-1], t // pool[0], s // pool[1], first_conv + len(filters)
        self.features = nn.Sequential(blocks)
        self.feature_shape = (channels, t, s, s)
        self.classifier = nn.Sequential(OrderedDict(
            flatten=nn.Flatten(),
            dense1=nn.Linear(channels * t * s * s, hidden),
            relu=nn.ReLU(inplace=True),
            dropout=Dropout(fc_dropout),
            dense2=nn.Linear(hidden, num_classes),
        ))
        self.apply(keras_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def prepare_for_inference(self) -> None:
        """On an eval-mode copy (mer3d.models.precision.inference_model calls it): in every block
        where that gives the same values, pool before BatchNorm, with each ReLU fused into its
        convolution (layers.FusedConvReLU3d)."""
        for block in self.features:
            convs = [layer for name, layer in block.named_children() if name.startswith("conv")]
            block.fused = [FusedConvReLU3d(conv) for conv in convs] if block.can_pool_first() else None
