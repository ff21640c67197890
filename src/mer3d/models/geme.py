"""Dual-stream multitask baseline after GEME (Nie et al. 2021, "GEME: dual-stream multi-task
GEnder-based micro-expression recognition", Neurocomputing 427; ref. [22] of Wu et al. 2022,
67.48 % on CASME II)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..data.records import GENDERS
from ..errors import UserError
from .cnn2d import dense_head
from .init import keras_init
from .registry import register_model
from .vgg3d import VGG3D


def vgg3d_features(in_channels: int, frames: int, size: int, width: float, block_dropout: float,
                   batchnorm: bool) -> tuple[nn.Sequential, int]:
    """VGG3D's convolutional blocks and their flattened output size (its classifier, built with
    one unit, is dropped)."""
    net = VGG3D(1, in_channels, frames, size, width, hidden=1, block_dropout=block_dropout, batchnorm=batchnorm)
    return net.features, math.prod(net.feature_shape)


@register_model("geme")
class GEME(nn.Module):
    """Emotion stream and gender stream, fused for the emotion.

    Input ``(N, C, T, H, W)``. Two independent VGG3D feature stacks at ``width * stream_width``
    (paper input, width 1: 64 x 1 x 4 x 4 = 1024 features each). The emotion head (Dense ``hidden``
    + ReLU -> Dropout ``fc_dropout`` -> Dense ``num_classes``) reads both streams' features
    concatenated; the gender head (same form, 2 outputs) reads the gender stream only.
    ``forward`` returns the emotion logits ``(N, K)`` (evaluation and prediction);
    ``forward_multitask`` returns ``(emotion (N, K), gender (N, 2))``, which the trainer uses with
    each clip's gender (``needs_gender``; loss = emotion CE + gender CE). Gender is never an input:
    the gender stream learns it from the face, and test clips need no gender label.

    Differences from GEME: there the streams are 2D CNNs on dynamic images (one image summarising
    the clip) and the gender stream's features are shared into the micro-expression stream inside
    the network; here both streams are 3D CNNs on the clip itself, fused once by concatenation.
    """

    needs_gender = True

    def __init__(self, num_classes: int, in_channels: int = 1, frames: int = 16, size: int = 128,
                 width: float = 1.0, hidden: int = 1024, block_dropout: float = 0.25,
                 fc_dropout: float = 0.5, batchnorm: bool = True, stream_width: float = 0.5):
        super().__init__()
        if not (isinstance(stream_width, (int, float)) and stream_width > 0):
            raise UserError(f"geme stream_width must be a positive number, not {stream_width!r}")
        stream = (in_channels, frames, size, width * stream_width, block_dropout, batchnorm)
        self.emotion_stream, emotion_features = vgg3d_features(*stream)
        self.gender_stream, gender_features = vgg3d_features(*stream)
        self.emotion_head = dense_head(emotion_features + gender_features, hidden, fc_dropout, num_classes)
        self.gender_head = dense_head(gender_features, hidden, fc_dropout, len(GENDERS))
        self.apply(keras_init)

    def forward_multitask(self, x: Tensor) -> tuple[Tensor, Tensor]:
        emotion, gender = self.emotion_stream(x).flatten(1), self.gender_stream(x).flatten(1)
        return self.emotion_head(torch.cat((emotion, gender), dim=1)), self.gender_head(gender)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_multitask(x)[0]
