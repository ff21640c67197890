"""mer3d: facial micro-expression recognition with 3D convolutional networks."""
__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so `import mer3d` (and the console command's start-up) stays light.
    if name == "Recognizer":
        from .inference.recognizer import Recognizer
        return Recognizer
    raise AttributeError(f"module 'mer3d' has no attribute {name!r}")
