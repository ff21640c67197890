"""Model registry; importing this package registers every architecture."""
from . import vgg3d  # noqa: F401  (registers "vgg3d")
from . import c3d_plain, cnn2d, geme, lrcn, off_apexnet, ststnet  # noqa: F401  (register the baselines)
from .registry import architecture, create_model, model_names, model_needs_gender, register_model
from .summary import format_layer_table, layer_rows

__all__ = ["architecture", "create_model", "model_names", "model_needs_gender", "register_model", "layer_rows", "format_layer_table"]
