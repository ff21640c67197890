"""OFF-ApexNet: Optical Flow Features from Apex frame Network (Gan, Liong, Yau, Huang and Tan 2019,
"OFF-ApexNet on micro-expression recognition system", Signal Processing: Image Communication 74;
arXiv:1805.08699)."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from ..errors import UserError
from .init import keras_init
from .layers import MaxPool3d
from .registry import register_model
from .ststnet import check_flow_frames, conv2d, flow_image

# Filters of the two 5x5 convolutions in each stream.
STREAM_FILTERS = (6, 16)


class FlowStream(nn.Sequential):
    """One flow component's stream: per entry of ``filters`` a Conv 5x5 (same) + ReLU, optional
    BatchNorm, 2x2 max-pool (stride 2) and optional dropout. ``(N, 1, 1, s, s) -> (N, f, 1, s', s')``."""

    def __init__(self, filters: tuple[int, ...], size: int, dropout: float, batchnorm: bool):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels, s = 1, size
        for number, out in enumerate(filters, start=1):
            layers[f"conv{number}"] = conv2d(channels, out, 5)
            layers[f"relu{number}"] = nn.ReLU(inplace=True)
            if batchnorm:
                layers[f"bn{number}"] = nn.BatchNorm3d(out)
            layers[f"pool{number}"] = MaxPool3d((1, 2, 2))
            if dropout > 0:
                layers[f"dropout{number}"] = nn.Dropout(dropout)
            channels, s = out, s // 2
        super().__init__(layers)
        self.feature_size = channels * s * s


@register_model("off-apexnet")
class OFFApexNet(nn.Module):
    """Two-stream 2D CNN on the onset-to-apex optical flow: one stream on u, one on v.

    Input ``(N, C, 1, H, W)`` or ``(N, C, H, W)``, C = ``in_channels``: 2 (u, v) or 3 (mer3d's
    u, v, strain; the strain channel is ignored), H = W = ``size`` (the paper: 28). Each stream:
    Conv 5x5 with 6 filters (same padding) + ReLU -> max-pool 2x2 -> Conv 5x5 with 16 filters +
    ReLU -> max-pool 2x2, 28x28 -> 16 x 7 x 7 (filters times ``width``, rounded, at least 1). The
    two streams' flattened features are concatenated (1,568 at 28x28) -> Dense ``hidden`` (1024) +
    ReLU -> Dense ``hidden`` + ReLU (the paper's two fully connected layers) -> Dropout
    ``fc_dropout`` -> Dense ``num_classes`` (logits; softmax is applied by the loss / at
    prediction time). 2,664,475 parameters for 3 classes at 28x28. Any ``size`` >= 4 works (pools
    floor: size // 4 per side at the end).

    Differences from the paper, and what is not verified here:
    - Dropout: ``fc_dropout`` (default 0.5) before the output layer is mer3d's regularisation;
      whether the paper uses dropout, and where, is not verified here (third-party
      re-implementations differ). ``fc_dropout=0`` removes it.
    - Weights start as in Keras (``keras_init``: Glorot-uniform, zero biases); the paper's
      initialisation is not checked here.
    - 2D convolutions and pools are Conv3d / MaxPool3d with 1 x k x k kernels (see
      ``ststnet.conv2d``): the same arithmetic, with 5-D weights for mer3d's channels_last_3d
      trainer.
    - Not from the paper, off by default: ``batchnorm`` adds BatchNorm after each convolution's
      ReLU and ``block_dropout`` adds dropout after each max-pool.

    ``frames`` must be 1 and ``in_channels`` 2 or 3 (UserError otherwise); every other common
    argument is used.
    """

    def __init__(self, num_classes: int, in_channels: int = 2, frames: int = 1, size: int = 28,
                 width: float = 1.0, hidden: int = 1024, block_dropout: float = 0.0,
                 fc_dropout: float = 0.5, batchnorm: bool = False):
        super().__init__()
        check_flow_frames("off-apexnet", frames)
        if in_channels not in (2, 3):
            raise UserError(f"off-apexnet reads the u and v flow channels: in_channels must be 2 (u, v) "
                            f"or 3 (u, v, strain; strain ignored), not {in_channels}")
        if size < 4:
            raise UserError(f"off-apexnet needs flow images of at least 4x4 pixels, not {size}x{size}")
        self.in_channels = in_channels
        filters = tuple(max(1, round(f * width)) for f in STREAM_FILTERS)
        self.u_stream = FlowStream(filters, size, block_dropout, batchnorm)
        self.v_stream = FlowStream(filters, size, block_dropout, batchnorm)
        self.classifier = nn.Sequential(OrderedDict(
            dense1=nn.Linear(2 * self.u_stream.feature_size, hidden),
            relu1=nn.ReLU(inplace=True),
            dense2=nn.Linear(hidden, hidden),
            relu2=nn.ReLU(inplace=True),
            dropout=nn.Dropout(fc_dropout),
            output=nn.Linear(hidden, num_classes),
        ))
        self.apply(keras_init)

    def forward(self, x: Tensor) -> Tensor:
        x = flow_image(x, "off-apexnet")
        if not torch.jit.is_tracing() and x.shape[1] != self.in_channels:
            raise ValueError(f"off-apexnet was built for {self.in_channels} channels, got shape {tuple(x.shape)}")
        u = self.u_stream(x[:, 0:1]).flatten(1)
        v = self.v_stream(x[:, 1:2]).flatten(1)
        return self.classifier(torch.cat((u, v), dim=1))
