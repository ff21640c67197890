"""mer3d: facial micro-expression recognition with 3D convolutional networks."""
__version__ = "0.1.0"
