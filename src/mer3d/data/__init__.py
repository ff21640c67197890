"""Datasets: loading annotated clips, checking them against the files, and reporting on them."""
from mer3d.data.datasets import inspect_dataset, load_dataset
from mer3d.data.records import ClipRecord, Dataset, Problem

__all__ = ["load_dataset", "inspect_dataset", "ClipRecord", "Dataset", "Problem"]
