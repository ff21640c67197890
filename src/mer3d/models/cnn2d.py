"""2D-CNN baseline: temporal interpolation, then a per-frame 2D CNN (Mayya et al. 2016, "Combining
temporal interpolation and DCNN for faster recognition of micro-expressions in video sequences",
ICACCI; ref. [14] of Wu et al. 2022, 64.90 % on CASME II in its Table 3)."""
from __future__ import annotations

from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .init import keras_init
from .layers import MaxPool3d
from .registry import register_model
from .vgg3d import PAPER_BLOCKS

MODES = ("average", "apex")


class FrameCNN(nn.Sequential):
    """The paper's VGG layout (Conv 3x3 + ReLU per filter of ``PAPER_BLOCKS`` times ``width``, then
    optional BatchNorm, a 2x2 max-pool and optional dropout per block) as a 2D CNN applied to every
    frame with the same weights.

    The 2D convolutions are Conv3d with a 1x3x3 kernel and pools 1x2x2: exactly a per-frame 2D CNN,
    and every weight stays 5-D, as the trainer's ``channels_last_3d`` conversion requires.
    ``(N, C, T, H, W) -> (N, T, features)``; 128x128 frames at width 1 give 128 x 4 x 4 = 2048.
    """

    def __init__(self, in_channels: int, size: int, width: float, block_dropout: float, batchnorm: bool):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels, s, conv = in_channels, size, 0
        for block, filters in enumerate(PAPER_BLOCKS, start=1):
            for f in filters:
                conv += 1
                out = max(1, round(f * width))
                layers[f"conv{conv}"] = nn.Conv3d(channels, out, (1, 3, 3), padding=(0, 1, 1))
                layers[f"relu{conv}"] = nn.ReLU(inplace=True)
                channels = out
            if batchnorm:
                layers[f"bn{block}"] = nn.BatchNorm3d(channels)
            if s >= 2:
                layers[f"pool{block}"] = MaxPool3d((1, 2, 2))
                s //= 2
            if block_dropout > 0:
                layers[f"dropout{block}"] = nn.Dropout(block_dropout)
        super().__init__(layers)
        self.feature_size = channels * s * s

    def forward(self, x: Tensor) -> Tensor:
        maps = super().forward(x)                                  # (N, C', T, s, s)
        return maps.transpose(1, 2).flatten(2)                     # (N, T, C' * s * s)


def dense_head(features: int, hidden: int, dropout: float, outputs: int) -> nn.Sequential:
    """Dense ``hidden`` + ReLU -> Dropout -> Dense ``outputs`` (logits), as in VGG3D."""
    return nn.Sequential(OrderedDict(dense1=nn.Linear(features, hidden), relu=nn.ReLU(inplace=True),
                                     dropout=nn.Dropout(dropout), dense2=nn.Linear(hidden, outputs)))


@register_model("cnn2d")
class CNN2D(nn.Module):
    """Frame-level 2D CNN on a temporally interpolated clip.

    Input ``(N, C, T, H, W)``. The clip is linearly interpolated along T to ``tim_frames`` frames
    (default ``frames``), each frame goes through ``FrameCNN``, and the frame features are averaged
    (``mode="average"``) or only the middle frame is used (``mode="apex"``: evaluation windows are
    apex-centred, so there it is the apex; random training windows make it just the middle frame).
    Then Dense ``hidden`` + ReLU -> Dropout ``fc_dropout`` -> Dense ``num_classes``: ``(N, K)``.
    ``batchnorm`` and ``block_dropout`` act in the trunk's blocks as in VGG3D; weights start as in
    Keras (``keras_init``).

    Differences from Mayya et al.: their TIM is the graph-embedding temporal interpolation model
    (Zhou et al. 2011), here plain linear interpolation; they extracted features with a DCNN and
    classified them separately, here the VGG-style trunk and the dense head are trained end to end
    from scratch.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, frames: int = 16, size: int = 128,
                 width: float = 1.0, hidden: int = 1024, block_dropout: float = 0.25,
                 fc_dropout: float = 0.5, batchnorm: bool = True, tim_frames: int | None = None,
                 mode: str = "average"):
        super().__init__()
        if mode not in MODES:
            raise UserError(f"cnn2d mode '{mode}' unknown; choose one of: {', '.join(MODES)}")
        if tim_frames is not None and not (isinstance(tim_frames, int) and tim_frames >= 1):
            raise UserError(f"cnn2d tim_frames must be a positive integer, not {tim_frames!r}")
        self.tim_frames, self.mode = tim_frames or frames, mode
        self.trunk = FrameCNN(in_channels, size, width, block_dropout, batchnorm)
        self.classifier = dense_head(self.trunk.feature_size, hidden, fc_dropout, num_classes)
        self.apply(keras_init)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, size=(self.tim_frames, *x.shape[-2:]), mode="trilinear", align_corners=True)
        if self.mode == "apex":
            middle = self.tim_frames // 2
            x = x[:, :, middle:middle + 1]
        return self.classifier(self.trunk(x).mean(dim=1))
