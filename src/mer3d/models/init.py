"""Initial weights as in Keras, the paper's framework, for every model in the registry."""
from __future__ import annotations

from torch import nn


def keras_init(module: nn.Module) -> None:
    """Keras's defaults: Glorot-uniform kernels and zero biases for convolutions (2D and 3D) and
    dense layers.

    PyTorch's own default (weight variance 1 / (3 fan_in)) shrinks the signal at every conv + ReLU;
    with it, the eight-convolution stack without BatchNorm stays at the class prior
    (tests/models/test_baselines.py), so models built by one rule keep a comparison fair. A Conv3d
    with a 1 x k x k kernel (how mer3d's 2D models convolve, see models/ststnet.py) gets the same
    fans, hence the same initial distribution, as Keras's Conv2D k x k. LSTMs keep PyTorch's
    initialisation.
    """
    if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
