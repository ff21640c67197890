"""LRCN baseline: per-frame 2D CNN features into an LSTM, after the S-LRCN of Li et al. 2022
("Micro-expression recognition algorithm based on separate long-term recurrent convolutional
network", Chinese Journal of Engineering; ref. [21] of Wu et al. 2022, 65.70 % on CASME II)."""
from __future__ import annotations

from torch import Tensor, nn

from .cnn2d import FrameCNN
from .init import keras_init
from .registry import register_model


class LastHidden(nn.LSTM):
    """A one-layer batch-first LSTM returning only its last hidden state, ``(N, T, F) -> (N, hidden)``
    (a single tensor, so layer tables can record it)."""

    def __init__(self, features: int, hidden: int):
        super().__init__(features, hidden, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        _, (h, _) = super().forward(x)
        return h[-1]


@register_model("lrcn")
class LRCN(nn.Module):
    """Recurrent convolutional micro-expression classifier.

    Input ``(N, C, T, H, W)``, any T. Every frame goes through ``FrameCNN`` (the trunk of ``cnn2d``,
    ``(N, T, 2048)`` for 128x128 frames at width 1), an LSTM with ``hidden`` units reads the frames
    in order, and its last hidden state -> Dropout ``fc_dropout`` -> Dense ``num_classes``: ``(N, K)``.
    ``frames`` is accepted like every model's and unused. Convolutions and dense layers start as in
    Keras (``keras_init``), the LSTM as in PyTorch.

    Differences from S-LRCN: there the spatial CNN (a pretrained face network, fine-tuned on frames)
    and the LSTM are trained separately ("separate"); here one network is trained end to end from
    scratch, with the flattened VGG-style feature maps as the LSTM's input.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, frames: int = 16, size: int = 128,
                 width: float = 1.0, hidden: int = 1024, block_dropout: float = 0.25,
                 fc_dropout: float = 0.5, batchnorm: bool = True):
        super().__init__()
        self.trunk = FrameCNN(in_channels, size, width, block_dropout, batchnorm)
        self.lstm = LastHidden(self.trunk.feature_size, hidden)
        self.dropout = nn.Dropout(fc_dropout)
        self.fc = nn.Linear(hidden, num_classes)
        self.apply(keras_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.lstm(self.trunk(x))))
