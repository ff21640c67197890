"""The paper's 3D-CNN without its improvements: the "3D-CNN [17]" row of Wu et al. 2022, Table 3
(66.67 % on CASME II against 69.11 % with batch normalization and dropout)."""
from __future__ import annotations

from .registry import register_model
from .vgg3d import VGG3D


@register_model("c3d-plain")
def c3d_plain(num_classes: int, in_channels: int = 1, frames: int = 16, size: int = 128,
              width: float = 1.0, hidden: int = 1024, block_dropout: float = 0.0,
              fc_dropout: float = 0.0, batchnorm: bool = False) -> VGG3D:
    """VGG3D with no BatchNorm and no dropout, everything else identical (same convolutions, pools,
    dense layers and Keras initialisation, ``(N, C, T, H, W) -> (N, K)``), so a comparison with
    ``vgg3d`` isolates the paper's two additions.

    ``block_dropout``, ``fc_dropout`` and ``batchnorm`` are accepted like every model's, and
    ignored: this model has neither.

    It is a plain 3D CNN in the spirit of Ji et al. 2013 ("3D convolutional neural networks for
    human action recognition", IEEE TPAMI; ref. [17]), not their network: theirs has a hardwired
    first layer (gray, gradients, optical flow), two 3D convolutions (7x7x3, 7x6x3) and a 2D one.
    """
    return VGG3D(num_classes, in_channels, frames, size, width, hidden,
                 block_dropout=0.0, fc_dropout=0.0, batchnorm=False)
