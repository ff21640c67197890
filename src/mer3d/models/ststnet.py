"""STSTNet: Shallow Triple Stream Three-dimensional CNN (Liong, Gan, See, Khor and Huang 2019,
"Shallow Triple Stream Three-dimensional CNN (STSTNet) for Micro-expression Recognition",
14th IEEE International Conference on Automatic Face & Gesture Recognition, FG 2019;
arXiv:1902.03634), and the helpers mer3d's 2D optical-flow models share."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from ..errors import UserError
from .init import keras_init
from .layers import MaxPool3d
from .registry import register_model

# Filters of the three parallel streams (all 3x3 convolutions).
STREAM_FILTERS = (3, 5, 8)


def check_flow_frames(model: str, frames: int) -> None:
    """The 2D flow models see one image per clip; any other ``frames`` is a configuration error."""
    if frames != 1:
        raise UserError(f"{model} takes one optical-flow image per clip: frames must be 1, not {frames}")


def flow_image(x: Tensor, model: str) -> Tensor:
    """``(N, C, 1, H, W)`` as is, ``(N, C, H, W)`` as ``(N, C, 1, H, W)``; anything else
    (in particular T > 1) is a ValueError naming ``model``. Not checked while tracing (ONNX /
    TorchScript export), where a shape test would only warn and be frozen into the graph."""
    if x.dim() == 4:
        return x.unsqueeze(2)
    if not torch.jit.is_tracing() and (x.dim() != 5 or x.shape[2] != 1):
        raise ValueError(f"{model} takes one flow image per clip, (N, C, 1, H, W) or (N, C, H, W); "
                         f"got shape {tuple(x.shape)}")
    return x


def conv2d(in_channels: int, out_channels: int, kernel: int) -> nn.Conv3d:
    """A 2D convolution (stride 1, same padding for odd ``kernel``) as a Conv3d with a
    1 x k x k kernel: every weight stays 5-D, as the trainer's ``channels_last_3d`` conversion
    requires (a Conv2d's 4-D weight makes it fail)."""
    return nn.Conv3d(in_channels, out_channels, (1, kernel, kernel), padding=(0, kernel // 2, kernel // 2))


def same_max_pool(size: int, k: int) -> tuple[MaxPool3d, int]:
    """k x k max-pool with stride k and Keras/TensorFlow ``padding="same"`` on ``size`` x ``size``
    maps, and its output size ceil(size / k).

    TensorFlow pads ``total = out * k - size`` cells, ``total // 2`` before and the rest after,
    and padded cells never win the max. PyTorch pads symmetrically, so: ``padding = total // 2``
    (implicit -inf) and ``ceil_mode=True`` for the one cell TensorFlow adds after when ``total``
    is odd. tests/models/test_flow_models.py checks this against explicit padding for sizes 12-40.
    """
    out = -(-size // k)
    before = (out * k - size) // 2
    return MaxPool3d((1, k, k), stride=(1, k, k), padding=(0, before, before), ceil_mode=True), out


class STSTStream(nn.Sequential):
    """One stream: Conv 3x3 (same) over all input channels + ReLU, optional BatchNorm, max-pool
    3x3 stride 3 (same), optional dropout."""

    def __init__(self, in_channels: int, filters: int, size: int, dropout: float, batchnorm: bool):
        pool, self.out_size = same_max_pool(size, 3)
        layers: OrderedDict[str, nn.Module] = OrderedDict(conv=conv2d(in_channels, filters, 3),
                                                          relu=nn.ReLU(inplace=True))
        if batchnorm:
            layers["bn"] = nn.BatchNorm3d(filters)
        layers["pool"] = pool
        if dropout > 0:
            layers["dropout"] = nn.Dropout(dropout)
        super().__init__(layers)


@register_model("ststnet")
class STSTNet(nn.Module):
    """Shallow Triple Stream Three-dimensional CNN on the onset-to-apex flow image.

    Input ``(N, C, 1, H, W)`` or ``(N, C, H, W)``: one image per clip, C = 3 channels in mer3d's
    order (u, v, optical strain), H = W = ``size`` (the paper: 28). Three parallel streams, each a
    Conv 3x3 (same padding) over all C input channels with 3, 5 and 8 filters (times ``width``,
    rounded, at least 1) + ReLU and a 3x3 max-pool with stride 3 and same padding (28 -> 10); the
    streams are concatenated on channels (16), average-pooled 2x2 with stride 2 (10 -> 5) and
    flattened (16 x 5 x 5 = 400 at 28x28) into one Dense ``num_classes`` (logits; softmax is
    applied by the loss / at prediction time). 1,651 parameters for 3 classes at 28x28.
    Any ``size`` works; pools give ceil(size / 3), then ceil of half that.

    Differences from the paper:
    - mer3d's channel order is u, v, strain; the paper's abstract names optical strain,
      horizontal and vertical flow in that order, the authors' later README u, v, strain (which
      order their input images used is not verified here). A network trained from scratch does
      not care which, but the order is fixed: weights trained on one order are wrong for another.
    - Keras's "same" pooling is emulated in PyTorch (``same_max_pool``; the average pool uses
      ``ceil_mode`` and averages only real cells, like Keras "same"); at 28x28 neither pads more
      than one cell per side, and the 10x10 average pool pads nothing.
    - Weights start as in Keras (``keras_init``, Glorot-uniform, zero biases). The original was
      built in MATLAB (Deep Learning Toolbox), whose initialiser is not checked here.
    - 2D convolutions and pools are Conv3d / MaxPool3d / AvgPool3d with 1 x k x k kernels (see
      ``conv2d``): the same arithmetic, with 5-D weights for mer3d's channels_last_3d trainer.
    - Not from the paper, off by default: ``batchnorm`` adds BatchNorm after each stream's ReLU and
      ``block_dropout`` adds dropout after each stream's pool, where the authors' later PyTorch
      release (github.com/christy1206/STSTNet, main.py) has BatchNorm and dropout 0.5.
      Whether the FG paper's network has either is not verified here.

    ``frames`` must be 1 (a UserError otherwise); ``hidden`` and ``fc_dropout`` are accepted, as
    the registry passes every common argument, and ignored: the paper has no hidden dense layer.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, frames: int = 1, size: int = 28,
                 width: float = 1.0, hidden: int = 1024, block_dropout: float = 0.0,
                 fc_dropout: float = 0.5, batchnorm: bool = False):
        super().__init__()
        check_flow_frames("ststnet", frames)
        filters = [max(1, round(f * width)) for f in STREAM_FILTERS]
        self.streams = nn.ModuleList(STSTStream(in_channels, f, size, block_dropout, batchnorm) for f in filters)
        s = self.streams[0].out_size
        self.merge_pool = nn.AvgPool3d((1, 2, 2), stride=(1, 2, 2), ceil_mode=True, count_include_pad=False)
        s = -(-s // 2)
        self.feature_shape = (sum(filters), 1, s, s)
        self.classifier = nn.Sequential(OrderedDict(
            flatten=nn.Flatten(),
            dense=nn.Linear(sum(filters) * s * s, num_classes),
        ))
        self.apply(keras_init)

    def forward(self, x: Tensor) -> Tensor:
        x = flow_image(x, "ststnet")
        merged = torch.cat([stream(x) for stream in self.streams], dim=1)
        return self.classifier(self.merge_pool(merged))
