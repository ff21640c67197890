"""Datasets: loading annotated clips, checking them against the files, and reporting on them."""
from mer3d.data.records import ClipRecord, Dataset, Problem

__all__ = ["load_dataset", "inspect_dataset", "ClipRecord", "Dataset", "Problem"]


def __getattr__(name: str):
    # Lazy, so that the flow worker processes (which import mer3d.data.motion_cache) start without
    # pandas and torch.
    if name in ("load_dataset", "inspect_dataset"):
        from mer3d.data import datasets
        return getattr(datasets, name)
    raise AttributeError(f"module 'mer3d.data' has no attribute {name!r}")
